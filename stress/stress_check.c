/*
 * stress_check.c - the checks: keys and self-checking values (struct
 * vhdr), key choice, a hit or miss checked against the key log, and after
 * the run fc_verify, class accounting and every key read back.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "forkcache.h"
#include "stress.h"
#include "sup_clock.h"
#include "sup_rng.h"
#include "sup_zipf.h"

/* Key of id: "fcs:<id>." padded with letters to a length that depends on
 * the id, in [kmin, kmax] (longer only if the id needs it). */
size_t
make_key(uint32_t id, char *out)
{
	char dig[16];
	size_t nd = 0, n = 0;
	uint32_t x = id;

	do {
		dig[nd++] = (char)('0' + x % 10);
		x /= 10;
	} while (x);
	memcpy(out, "fcs:", 4);
	n = 4;
	while (nd)
		out[n++] = dig[--nd];
	out[n++] = '.';
	size_t want =
		cfg.kmin + (size_t)(sup_mix64(id) % (cfg.kmax - cfg.kmin + 1));
	for (size_t i = 0; n < want; i++)
		out[n++] = (char)('a' + (id * 7u + i) % 26u);
	return n;
}

/* Parse a key made by make_key(); UINT32_MAX if it is not one. */
uint32_t
parse_key(const void *k, size_t klen)
{
	const char *s = k;
	char tmp[FC_KEY_MAX + 1];
	uint64_t id = 0;
	size_t i = 4;

	if (klen < 6 || klen > FC_KEY_MAX || memcmp(s, "fcs:", 4) != 0)
		return UINT32_MAX;
	while (i < klen && s[i] >= '0' && s[i] <= '9' && i < 15)
		id = id * 10 + (uint64_t)(s[i++] - '0');
	if (i == 4 || i >= klen || s[i] != '.' || id >= cfg.nkeys)
		return UINT32_MAX;
	if (make_key((uint32_t)id, tmp) != klen || memcmp(tmp, s, klen) != 0)
		return UINT32_MAX;
	return (uint32_t)id;
}

static uint64_t
vsum(const unsigned char *p, size_t n)
{
	uint64_t h =
		0x243F6A8885A308D3ull ^ ((uint64_t)n * 0x9E3779B97F4A7C15ull);
	uint64_t w;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xFF51AFD7ED558CCDull;
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, p, n);
	h = (h ^ w ^ ((uint64_t)n << 56)) * 0xC4CEB9FE1A85EC53ull;
	return sup_mix64(h);
}

void
make_value(unsigned char *buf, uint32_t key, uint32_t wid, uint64_t ver,
	   uint32_t len, uint64_t expire_ms)
{
	struct vhdr h = {.v_magic = VAL_MAGIC,
			 .v_key = key,
			 .v_writer = wid,
			 .v_len = len,
			 .v_version = ver,
			 .v_expire_ms = expire_ms};
	uint64_t s = ((uint64_t)key << 32) ^ ver ^ 0xA5A5A5A5ull;
	size_t i = VAL_HDR;

	memcpy(buf, &h, sizeof h);
	for (; i + 8 <= len; i += 8) {
		uint64_t r = sup_splitmix64(&s);
		memcpy(buf + i, &r, 8);
	}
	if (i < len) {
		uint64_t r = sup_splitmix64(&s);
		memcpy(buf + i, &r, len - i);
	}
	h.v_sum = vsum(buf + 8, len - 8);
	memcpy(buf, &h.v_sum, 8);
}

/* NULL if @p buf is a well-formed value of key @p key; else the reason. */
const char *
check_value(const unsigned char *buf, size_t n, uint32_t key, struct vhdr *out)
{
	struct vhdr h;

	memset(out, 0, sizeof *out);
	if (n < VAL_HDR)
		return "value shorter than its header";
	memcpy(&h, buf, sizeof h);
	*out = h;
	if (h.v_magic != VAL_MAGIC)
		return "bad magic";
	if (h.v_len != n)
		return "length differs from the value's own";
	if (vsum(buf + 8, n - 8) != h.v_sum)
		return "checksum mismatch";
	if (h.v_key != key)
		return "value of another key";
	if (h.v_writer != key % cfg.wids)
		return "written by a writer that does not own the key";
	if (h.v_version == 0)
		return "version 0";
	return NULL;
}

uint32_t
pick_key(uint64_t *rng)
{
	if (!cfg.zipf)
		return (uint32_t)sup_below(rng, cfg.nkeys);
	return sup_zipf_rank(zipf_cdf, cfg.nkeys, sup_unit(rng));
}

/* A key owned by writer id @p wid, drawn from the same distribution. */
uint32_t
pick_owned(uint64_t *rng, unsigned wid)
{
	uint32_t k = pick_key(rng);

	k = k - k % cfg.wids + wid;
	if (k >= cfg.nkeys)
		k -= cfg.wids;
	return k;
}

/*
 * Check a hit of key @p k: the value, then its version against the log
 * word @p a loaded before the read, kr_vnext and this worker's last.
 * Returns the version, or 0 if the value is torn.
 */
uint64_t
check_hit(struct worker *w, uint32_t k, const unsigned char *val, size_t n,
	  uint64_t a, uint64_t now_ms_before, const char *how)
{
	struct vhdr h;
	const char *why = check_value(val, n, k, &h);

	if (why) {
		violation(
			&side->sd_torn, V_TORN,
			"%s key=%u: %s (vlen=%zu magic=%08x key=%u writer=%u len=%u "
			"version=%" PRIu64 ")",
			how, k, why, n, h.v_magic, h.v_key, h.v_writer, h.v_len,
			h.v_version);
		return 0;
	}
	uint64_t u = h.v_version;
	uint64_t vn = atomic_load(&keys[k].kr_vnext);
	if (u > vn) {
		violation(&side->sd_torn, V_TORN,
			  "%s key=%u: version %" PRIu64
			  " was never written (latest %" PRIu64 ")",
			  how, k, u, vn);
		return 0;
	}
	if (a && (EFF(a) == EFF_DEL ? u <= VER(a) : u < VER(a)))
		violation(&side->sd_lost_hard, V_LOST,
			  "%s key=%u: read version %" PRIu64
			  " after %s of version %" PRIu64 " was acknowledged",
			  how, k, u, EFF(a) == EFF_DEL ? "a delete" : "a set",
			  VER(a));
	if (w && u < w->last[k])
		violation(&side->sd_backwards, V_BACK,
			  "%s key=%u: read version %" PRIu64
			  " after version %" PRIu64,
			  how, k, u, w->last[k]);
	if (w && u > w->last[k])
		w->last[k] = u;
	/*
	 * An item past its TTL must read as a miss. Our v_expire_ms is taken
	 * just before the set; the library reads its clock once it holds the
	 * lock, so its expiry is later by at most that write's latency. Once
	 * the write is over (kr_pend no longer names it) its latency is in
	 * sd_max_wns (op_end runs before step 6). 100 ms covers the coarse
	 * clock.
	 */
	if (h.v_expire_ms && now_ms_before > h.v_expire_ms + 100 &&
	    VER(atomic_load(&keys[k].kr_pend)) != u) {
		uint64_t slack_ms =
			atomic_load(&side->sd_max_wns) / 1000000 + 100;
		if (now_ms_before > h.v_expire_ms + slack_ms)
			violation(&side->sd_stale, V_STALE,
				  "%s key=%u: version %" PRIu64 " read %" PRIu64
				  " ms after it expired (slack %" PRIu64 " ms)",
				  how, k, u, now_ms_before - h.v_expire_ms,
				  slack_ms);
	}
	return u;
}

/*
 * A miss of key @p k; @p a is kr_acked loaded before the read. It is lost
 * (tentatively: eviction may explain it) if the log says the key holds a
 * durable item and nothing since explains the miss. Loads in the order
 * pend, fuzz, acked: see KEY LOG.
 */
void
check_miss(uint32_t k, uint64_t a, const char *how)
{
	if (!a || EFF(a) != EFF_DUR)
		return;
	struct keyrec *kr = &keys[k];
	uint64_t p = atomic_load(&kr->kr_pend);
	uint64_t f = atomic_load(&kr->kr_fuzz);
	uint64_t a2 = atomic_load(&kr->kr_acked);
	if (a2 != a || (p && EFF(p) != EFF_DUR) || (f & FZ_MISS_OK))
		return;
	lost_miss("%s key=%u: miss, but version %" PRIu64 " was acknowledged",
		  how, k, VER(a));
}

static void
verify_cb(void *arg, const char *region, uint64_t off, const char *problem)
{
	struct vprint *vp = arg;

	if (vp->n++ < 20)
		say("stress: VERIFY %s @%" PRIu64 ": %s", region, off, problem);
}

/* Read every key once and check it against the log; misses of acked
 * durable writes go to lost_miss() (they count only without eviction). */
void
final_check(uint64_t *checked)
{
	unsigned char *buf = malloc(cfg.vmax + 64);
	uint64_t now_ms = fc_now_ms();
	char key[FC_KEY_MAX];

	*checked = 0;
	if (!buf)
		return;
	for (uint32_t k = 0; k < cfg.nkeys; k++) {
		struct keyrec *kr = &keys[k];
		uint64_t a = atomic_load(&kr->kr_acked),
			 p = atomic_load(&kr->kr_pend);
		uint64_t f = atomic_load(&kr->kr_fuzz);
		size_t klen = make_key(k, key), vlen = cfg.vmax + 64;
		int rc = fc_get(cache, key, klen, buf, &vlen);

		(*checked)++;
		if (rc == FC_OK) {
			check_hit(NULL, k, buf, vlen, a, now_ms, "final");
		} else if (rc == FC_ENOTFOUND) {
			if (a && EFF(a) == EFF_DUR &&
			    !(p && EFF(p) != EFF_DUR) && !(f & FZ_MISS_OK)) {
				lost_miss(
					"final key=%u: miss, but version %" PRIu64
					" was acknowledged",
					k, VER(a));
			}
		} else {
			violation(&side->sd_errors, V_ERROR,
				  "final fc_get key=%u: %s", k, fc_errname(rc));
		}
	}
	free(buf);
}

/*
 * Allocator accounting from fc_class_stat: every chunk of every page a
 * class owns is live, free or in limbo. Exact only for a class with no
 * limbo: a page being drained (slab.c A5) still counts in the class's
 * pages, but its chunks leave the free list, and it holds only limbo
 * chunks until it is freed. With limbo, only "too many" is certain.
 * Returns the chunks unaccounted.
 */
uint64_t
class_leaks(const fc_stats *st)
{
	uint64_t leaks = 0, live = 0;

	for (unsigned i = 0; i < st->classes; i++) {
		fc_class_stats cs;
		if (fc_class_stat(cache, i, &cs) != FC_OK)
			continue;
		uint64_t all = cs.pages * cs.chunks_per_page;
		uint64_t acc =
			cs.chunks_used + cs.chunks_limbo + cs.chunks_free;
		live += cs.chunks_used;
		if (cs.chunks_limbo == 0 ? all != acc : acc > all) {
			uint64_t d = all > acc ? all - acc : acc - all;
			leaks += d;
			say("stress: LEAK class %u (%u B): %" PRIu64
			    " pages x %u chunks = %" PRIu64
			    ", but live %" PRIu64 " + free %" PRIu64
			    " + limbo %" PRIu64 " = %" PRIu64,
			    i, cs.chunk_bytes, cs.pages, cs.chunks_per_page,
			    all, cs.chunks_used, cs.chunks_free,
			    cs.chunks_limbo, acc);
		}
	}
	if (live != st->items) {
		say("stress: LEAK items=%" PRIu64 " but classes hold %" PRIu64
		    " live chunks",
		    st->items, live);
		leaks += live > st->items ? live - st->items : st->items - live;
	}
	return leaks;
}

/*
 * After the run: reap, no reader slot may be left, fc_verify with the
 * lock, class accounting, every key read back against the log, lost
 * writes (misses count only if nothing was evicted). Closes the cache
 * (and unlinks it unless --keep).
 */
void
post_run_checks(FILE *out, struct outcome *r)
{
	fc_stats before, st;
	fc_stat(cache, &before);
	int reaped = fc_reap(cache);
	if (reaped < 0)
		violation(&side->sd_errors, V_ERROR, "fc_reap: %s",
			  fc_errname(reaped));
	fc_stat(cache, &st);
	uint64_t slot_leaks = st.readers_live + st.readers_dead;
	if (slot_leaks)
		say("stress: LEAK reader slots after reaping: live=%" PRIu64
		    " dead=%" PRIu64 " (reaped %d, dead before %" PRIu64 ")",
		    st.readers_live, st.readers_dead, reaped,
		    before.readers_dead);

	struct vprint vp = {0};
	int64_t vr = fc_verify(cache, FC_VERIFY_LOCK, verify_cb, &vp);
	uint64_t verify_problems = vr < 0 ? 1 : (uint64_t)vr;
	if (vr < 0)
		say("stress: VERIFY fc_verify failed: %s", fc_errname((int)vr));
	fc_stat(cache, &st);
	uint64_t leaks = slot_leaks + class_leaks(&st);

	uint64_t checked = 0;
	final_check(&checked);
	uint64_t evictions = st.evictions;
	uint64_t lost_hard = atomic_load(&side->sd_lost_hard);
	uint64_t lost_miss = atomic_load(&side->sd_lost_miss);
	int lost_skipped = evictions > 0;
	uint64_t lost = lost_hard + (lost_skipped ? 0 : lost_miss);
	if (!lost_skipped)
		for (uint64_t i = 0; i < lost_miss && i < MISS_EXAMPLES; i++)
			say("stress: LOST %s", side->sd_miss_ex[i]);
	if (lost_skipped)
		fprintf(out,
			"stress: note: %" PRIu64
			" evictions, so a missing item may have been "
			"evicted: the check for missing acknowledged writes was skipped (%" PRIu64
			" misses ignored); versions going back are still checked\n",
			evictions, lost_miss);

	fc_close(cache);
	if (!cfg.keep)
		fc_unlink(cfg.segname, cfg.file ? FC_FILE : 0);

	r->st = st;
	r->reaped = reaped;
	r->checked = checked;
	r->verify_problems = verify_problems;
	r->leaks = leaks;
	r->lost = lost;
	r->lost_miss = lost_miss;
	r->lost_skipped = lost_skipped;
}
