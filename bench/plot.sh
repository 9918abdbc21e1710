#!/bin/bash
# plot.sh - charts of the benchmarks' results (gnuplot, PNG).
#   bench/plot.sh peers RESULTS [OUTDIR]
#     RESULTS: the text output of build/bench/forkcache-peers; OUTDIR
#     (default .) gets
#       peers-throughput.png  ops/s vs processes, one line per system, for
#                             get uniform, get Zipf, 90/10 and 50/50 (256 B)
#       peers-latency.png     p50 / p99 / p99.9 per system: get at 1 process,
#                             and get while another process sets (256 B)
#     VSIZE=16|256|4096|65536 picks another value size.
#   bench/plot.sh mem [RESULTS] [OUTDIR]
#     RESULTS: the text output of build/bench/forkcache-mem (default: run
#     it now); OUTDIR (default .) gets
#       mem-payload.png   payload at full per size distribution, with the
#                         targets
#       mem-hitratio.png  hit ratio of forkcache, exact LRU and S3-FIFO
#                         (reference models, same item capacity) per Zipf
#                         alpha and cache size
# Needs gnuplot (Debian: gnuplot-nox).
set -euo pipefail
usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 2; }
# field VALUE of KEY in a `bench: key=value ...` line
awk_field='function f(k,  i, a) { for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) return a[2] } return "" }'

peers() {
	local in=${1:-} out=${2:-.} vsize=${VSIZE:-256}
	[ -n "$in" ] && [ -r "$in" ] || usage
	mkdir -p "$out"
	local tmp
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN
	local commit cpus systems
	commit=$(awk '/^# forkcache-peers/ { for (i = 1; i <= NF; i++) if ($i ~ /^commit=/) print substr($i, 8) }' "$in")
	cpus=$(awk '/^# machine:/ { print $3 }' "$in")
	systems="forkcache rwlock_table lmdb memcached redis"
	# throughput: one file per (workload, system): procs ops_per_s
	for wl in get:uniform get:zipf get90_set10:zipf get50_set50:zipf; do
		for s in $systems; do
			awk -v op="${wl%%:*}" -v dist="${wl##*:}" -v s="$s" -v vs="$vsize" "$awk_field"'
			    /^bench: / && f("system") == s && f("op") == op && f("dist") == dist &&
			    f("vsize") == vs && f("ops_per_s") != "skipped" { print f("procs"), f("ops_per_s") }' \
			    "$in" > "$tmp/tp.${wl%%:*}.${wl##*:}.$s"
		done
	done
	# latency: one row per system: p50 p99 p999
	for op in get get_under_set; do
		for s in $systems; do
			awk -v op="$op" -v s="$s" -v vs="$vsize" "$awk_field"'
			    /^bench: / && f("system") == s && f("op") == op && f("dist") == "uniform" &&
			    f("vsize") == vs && f("procs") == 1 && f("ops_per_s") != "skipped" {
				print s, f("p50_ns"), f("p99_ns"), f("p999_ns") }' "$in"
		done > "$tmp/lat.$op"
	done
	[ -s "$tmp/lat.get" ] || { echo "plot.sh: no get lines with vsize=$vsize in $in" >&2; exit 1; }
	local panels="" wl s
	for wl in "get.uniform:get, uniform, all hits" "get.zipf:get, Zipf 0.99, 10% misses" \
		  "get90_set10.zipf:90% get / 10% set, Zipf" "get50_set50.zipf:50% get / 50% set, Zipf"; do
		local plots=""
		for s in $systems; do
			[ -s "$tmp/tp.${wl%%:*}.$s" ] &&
				plots="${plots:+$plots, }\"$tmp/tp.${wl%%:*}.$s\" using 1:2 with linespoints lw 2 title \"$s\""
		done
		panels="$panels
set title \"${wl#*:}\"
plot $plots"
	done
	gnuplot <<GP
set terminal pngcairo size 1200,900 noenhanced
set output "$out/peers-throughput.png"
set multiplot layout 2,2 title "forkcache-peers $commit: throughput (all processes) vs processes, ${vsize} B values, ${cpus:-?} CPUs"
set logscale y
set format y "%.0s%c"
set ylabel "ops/s"
set xlabel "processes"
set xtics (1, 2, 4)
set xrange [0.8:4.4]
set grid
set key bottom right font ",9"
$panels
unset multiplot
GP
	gnuplot <<GP
set terminal pngcairo size 1200,500 noenhanced
set output "$out/peers-latency.png"
set multiplot layout 1,2 title "forkcache-peers $commit: get latency percentiles, 1 reader, ${vsize} B values (log scale)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set ylabel "ns"
set grid ytics
set key top left font ",9"
set title "get, uniform"
plot "$tmp/lat.get" using 2:xtic(1) title "p50", "" using 3 title "p99", "" using 4 title "p99.9"
set title "get while another process sets at full speed"
plot "$tmp/lat.get_under_set" using 2:xtic(1) title "p50", "" using 3 title "p99", "" using 4 title "p99.9"
unset multiplot
GP
	echo "plot.sh: wrote $out/peers-throughput.png $out/peers-latency.png"
}

mem() {
	local in=${1:-} out=${2:-.} here
	here=$(cd "$(dirname "$0")" && pwd)
	local tmp
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN
	if [ -z "$in" ]; then
		"$here/../build/bench/forkcache-mem" > "$tmp/results.txt"
		in=$tmp/results.txt
	fi
	[ -r "$in" ] || usage
	mkdir -p "$out"
	local commit
	commit=$(awk "$awk_field"' /^test=header/ { print f("commit") }' "$in")
	awk "$awk_field"' /^test=payload/ { printf "\"%s %sx\" %s %s\n", f("dist"), f("fill_x"), f("payload"), f("target") }' \
		"$in" > "$tmp/payload.dat"
	awk "$awk_field"' /^test=hitratio/ { printf "\"a=%s %s%%\" %s %s %s\n", f("alpha"), f("cache_pct"), f("hit_fc"), f("hit_lru"), f("hit_s3fifo") }' \
		"$in" > "$tmp/hit.dat"
	[ -s "$tmp/payload.dat" ] || { echo "plot.sh: no test=payload lines in $in" >&2; exit 1; }
	[ -s "$tmp/hit.dat" ] || { echo "plot.sh: no test=hitratio lines in $in" >&2; exit 1; }
	gnuplot <<GP
set terminal pngcairo size 900,500 noenhanced
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set yrange [0:1]
set grid ytics
set key top right
set output "$out/mem-payload.png"
set title "forkcache-mem $commit: payload at full (key+value bytes / segment bytes)"
plot "$tmp/payload.dat" using 2:xtic(1) title "forkcache", "" using 3 title "target"
set output "$out/mem-hitratio.png"
set title "forkcache-mem $commit: hit ratio on Zipf traces, same item capacity"
plot "$tmp/hit.dat" using 2:xtic(1) title "forkcache", "" using 3 title "exact LRU (model)", \
     "" using 4 title "S3-FIFO (model)"
GP
	echo "plot.sh: wrote $out/mem-payload.png $out/mem-hitratio.png"
}

case ${1:-} in
peers) shift; peers "$@" ;;
mem) shift; mem "$@" ;;
*) usage ;;
esac
