/*
 * stress_worker.c - the children: reader and writer threads (each
 * operation logged in the key log around its fc_* call), the iterator,
 * and a child process's main (threads, chaos of its own: --no-fds,
 * --zombie-leader, --fork-churn).
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
#include "fault.h"

static void
op_begin(struct worker *w, enum opkind kind, uint32_t key, uint64_t *t0)
{
	atomic_store(&w->ts->ts_seq, ++w->seq);
	atomic_store(&w->ts->ts_what, (uint64_t)kind << 32 | key);
	*t0 = sup_mono_ns();
	atomic_store(&w->ts->ts_start_ns, *t0);
}

/* Returns the end time. Counts the op as a stall if it overran the bound
 * and the master has not counted it already (ts_claim). */
static uint64_t
op_end(struct worker *w, uint64_t t0, int is_write)
{
	uint64_t t1 = sup_mono_ns(), lat = t1 - t0;

	atomic_store(&w->ts->ts_start_ns, 0);
	if (lat > atomic_load_explicit(&w->ts->ts_max_ns, memory_order_relaxed))
		atomic_store(&w->ts->ts_max_ns, lat);
	if (is_write && lat > atomic_load_explicit(&w->ts->ts_max_wns, memory_order_relaxed))
		atomic_store(&w->ts->ts_max_wns, lat);
	if (is_write) {
		uint64_t g = atomic_load(&side->sd_max_wns);
		while (lat > g && !atomic_compare_exchange_weak(&side->sd_max_wns, &g, lat))
			;
	}
	if (lat > (uint64_t)cfg.op_bound_ms * 1000000ull) {
		uint64_t cl = atomic_load(&w->ts->ts_claim);
		if (cl != w->seq && atomic_compare_exchange_strong(&w->ts->ts_claim, &cl, w->seq)) {
			uint64_t what = atomic_load(&w->ts->ts_what);
			violation(
				&side->sd_stalls, V_STALL,
				"slot=%u %s key=%u took %.1f ms (bound %u ms)",
				w->slot, op_names[what >> 32], (unsigned)what,
				(double)lat / 1e6, cfg.op_bound_ms);
		}
	}
	return t1;
}

static void
count(_Atomic uint64_t *ctr)
{
	atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed);
}

static void
unexpected(struct worker *w, const char *call, uint32_t key, int rc)
{
	violation(&side->sd_errors, V_ERROR,
		  "slot=%u %s key=%u returned %s: %s", w->slot, call, key,
		  fc_errname(rc), fc_strerror(rc));
}

/* One read of key @p k with every check. Returns 1 hit, 0 miss, -1 other. */
static int
do_read(struct worker *w, uint32_t k, int gets, uint64_t *cas_out,
	uint64_t *ver_out)
{
	char key[FC_KEY_MAX];
	size_t klen = make_key(k, key), vlen = w->cap;
	uint64_t a = atomic_load(&keys[k].kr_acked);
	uint64_t now_ms = fc_now_ms(), t0, cas = 0;
	int rc;

	op_begin(w, gets ? OP_GETS : OP_GET, k, &t0);
	if (gets)
		rc = fc_gets(w->c, key, klen, w->buf, &vlen, &cas);
	else
		rc = fc_get(w->c, key, klen, w->buf, &vlen);
	op_end(w, t0, 0);
	count(&w->ts->ts_reads);
	switch (rc) {
	case FC_OK: {
		count(&w->ts->ts_ops);
		count(&w->ts->ts_hits);
		uint64_t u = check_hit(w, k, w->buf, vlen, a, now_ms,
				       gets ? "gets" : "get");
		if (cas_out)
			*cas_out = cas;
		if (ver_out)
			*ver_out = u;
		return 1;
	}
	case FC_ENOTFOUND:
		count(&w->ts->ts_ops);
		count(&w->ts->ts_misses);
		check_miss(k, a, gets ? "gets" : "get");
		return 0;
	case FC_ETRUNC:
		count(&w->ts->ts_ops);
		violation(
			&side->sd_torn, V_TORN,
			"get key=%u: value of %zu bytes, longer than any written (%u)",
			k, vlen, cfg.vmax);
		return -1;
	case FC_EBUSY:
		count(&w->ts->ts_busy);
		return -1;
	default:
		unexpected(w, gets ? "fc_gets" : "fc_get", k, rc);
		return -1;
	}
}

/* Walk every item with the iterator, checking each value in place. */
static void
do_iter(struct worker *w)
{
	fc_iter *it;
	fc_item item;
	uint64_t t0, n = 0;
	int rc;

	op_begin(w, OP_ITER, 0, &t0);
	if ((rc = fc_iter_open(w->c, &it)) != FC_OK) {
		op_end(w, t0, 0);
		unexpected(w, "fc_iter_open", 0, rc);
		return;
	}
	while ((rc = fc_iter_next(it, &item)) == FC_OK) {
		uint32_t k = parse_key(item.key, item.klen);
		struct vhdr h;
		const char *why;

		n++;
		if (k == UINT32_MAX) {
			violation(&side->sd_torn, V_TORN,
				  "iter: item with a foreign key (klen=%zu)",
				  item.klen);
			continue;
		}
		if ((why = check_value(item.value, item.vlen, k, &h)) != NULL)
			violation(
				&side->sd_torn, V_TORN,
				"iter key=%u: %s (vlen=%zu key=%u len=%u version=%" PRIu64
				")",
				k, why, item.vlen, h.v_key, h.v_len,
				h.v_version);
		else if (h.v_version > atomic_load(&keys[k].kr_vnext))
			violation(&side->sd_torn, V_TORN,
				  "iter key=%u: version %" PRIu64
				  " was never written",
				  k, h.v_version);
	}
	fc_iter_close(it);
	op_end(w, t0, 0);
	if (rc == FC_ENOTFOUND) {
		count(&w->ts->ts_ops);
		atomic_fetch_add_explicit(&side->sd_iter_items, n,
					  memory_order_relaxed);
	} else if (rc == FC_EBUSY) {
		count(&w->ts->ts_busy);
	} else {
		unexpected(w, "fc_iter_next", 0, rc);
	}
}

static void
reader_op(struct worker *w)
{
	if (cfg.iter_every && ++w->reads_since_iter >= cfg.iter_every) {
		w->reads_since_iter = 0;
		do_iter(w);
		return;
	}
	uint32_t k = pick_key(&w->rng);
	do_read(w, k, (int)(sup_splitmix64(&w->rng) & 1), NULL, NULL);
}

static void
log_fuzz(struct keyrec *kr, unsigned bits)
{
	atomic_store(&kr->kr_fuzz, atomic_load(&kr->kr_fuzz) | bits);
}

/*
 * One write by writer @p w to one of its keys. See KEY LOG for the order of
 * the log stores; every path ends with kr_pend = 0.
 */
static void
write_op(struct worker *w)
{
	uint32_t k = pick_owned(&w->rng, w->wid);
	struct keyrec *kr = &keys[k];
	char key[FC_KEY_MAX];
	size_t klen = make_key(k, key);
	uint64_t leftover = atomic_load(&kr->kr_pend);

	if (leftover) /* a dead predecessor's op: outcome unknown */
		log_fuzz(kr, FZ_UNSURE | (EFF(leftover) != EFF_DUR ? FZ_MISS_OK : 0));
	uint64_t a = atomic_load(&kr->kr_acked);
	int sure = atomic_load(&kr->kr_fuzz) == 0;
	int present =
		a && EFF(a) != EFF_DEL; /* believed; VOL may have expired */
	unsigned r = (unsigned)sup_below(&w->rng, 100);
	enum opkind op = OP_SET;
	uint64_t cas = 0;

	if (r < cfg.delete_pct)
		op = OP_DELETE;
	else if (r < cfg.delete_pct + cfg.cas_pct)
		op = OP_CAS;
	else if (r < cfg.delete_pct + cfg.cas_pct + 5 && sure &&
		 (!a || EFF(a) == EFF_DEL))
		op = OP_ADD;
	else if (r < cfg.delete_pct + cfg.cas_pct + 10 && sure && present &&
		 EFF(a) == EFF_DUR)
		op = OP_REPLACE;
	if (op == OP_CAS) {
		/* gets first: a checked read of our own key */
		int hit = do_read(w, k, 1, &cas, NULL);
		if (hit != 1)
			op = OP_SET;
	}

	/* the new value */
	int vol = op != OP_DELETE && sup_below(&w->rng, 100) < cfg.ttl_pct;
	uint64_t ttl = vol ? sup_range(&w->rng, cfg.ttl_min, cfg.ttl_max)
			   : (sup_below(&w->rng, 2) ? DURABLE_TTL_MS : 0);
	uint32_t len = (uint32_t)sup_range(&w->rng, cfg.vmin, cfg.vmax);
	uint64_t v = atomic_load(&kr->kr_vnext) + 1;
	unsigned eff = op == OP_DELETE ? EFF_DEL : vol ? EFF_VOL
						       : EFF_DUR;

	atomic_store(&kr->kr_vnext, v); /* (1) */
	atomic_store(&kr->kr_pend, PACK(v, eff)); /* (2) */
	int inj = cfg.inject && ++w->nwrites % INJECT_EVERY == 0 ? cfg.inject
								 : INJ_NONE;
	uint64_t t0, t1;
	int rc;
	op_begin(w, op, k, &t0);
	if (inj == INJ_STALL) {
		struct timespec ts = {(time_t)(cfg.op_bound_ms + 300) / 1000,
				      (long)((cfg.op_bound_ms + 300) % 1000) *
					      1000000L};
		nanosleep(&ts, NULL);
	}
	if (inj == INJ_BACKWARDS && a && EFF(a) != EFF_DEL && VER(a) > 1 &&
	    op == OP_SET)
		/* an older version than the one readers may have seen */
		make_value(w->vbuf, k, w->wid, VER(a) - 1, len,
			   ttl ? fc_now_ms() + ttl : 0);
	else if (op != OP_DELETE)
		make_value(w->vbuf, k, w->wid, v, len,
			   ttl ? fc_now_ms() + ttl : 0);
	if (inj == INJ_TORN && op != OP_DELETE)
		w->vbuf[len - 1] ^= 0x5A; /* after the checksum */

	if (inj == INJ_LOST)
		rc = FC_OK; /* claim a write that never happened */
	else
		switch (op) {
		case OP_DELETE:
			rc = fc_delete(w->c, key, klen);
			break;
		case OP_CAS:
			rc = fc_cas(w->c, key, klen, w->vbuf, len, ttl, cas);
			break;
		case OP_ADD:
			rc = fc_add(w->c, key, klen, w->vbuf, len, ttl);
			break;
		case OP_REPLACE:
			rc = fc_replace(w->c, key, klen, w->vbuf, len, ttl);
			break;
		default:
			rc = fc_set(w->c, key, klen, w->vbuf, len, ttl);
			break;
		}
	t1 = op_end(w, t0, rc == FC_OK);

	int definite = 0; /* outcome known: log eff as acked */
	unsigned ack_eff = eff;
	if (rc == FC_OK) {
		definite = 1;
		count(&w->ts->ts_writes);
		uint64_t pos = atomic_fetch_add_explicit(&side->sd_ring_pos, 1,
							 memory_order_relaxed);
		atomic_store_explicit(&side->sd_ring[pos & (RING_SIZE - 1)], t1,
				      memory_order_relaxed);
	} else if (rc == FC_ENOTFOUND && op != OP_ADD) {
		/* delete, replace or cas found no item: it is absent now */
		definite = 1;
		ack_eff = EFF_DEL;
		if (sure && a && EFF(a) == EFF_DUR)
			lost_miss(
				"fc_%s key=%u: FC_ENOTFOUND, but version %" PRIu64
				" was acknowledged",
				op_names[op], k, VER(a));
	} else if (rc == FC_EEXIST && op == OP_ADD) {
		violation(
			&side->sd_lost_hard, V_LOST,
			"fc_add key=%u: FC_EEXIST, but the key was deleted at version %" PRIu64,
			k, a ? VER(a) : 0);
		log_fuzz(kr, FZ_UNSURE);
	} else if (rc == FC_ECAS) {
		/* nobody else writes this key: the item changed under us */
		unexpected(w, "fc_cas", k, rc);
		log_fuzz(kr, FZ_UNSURE | FZ_MISS_OK);
	} else if (rc == FC_EBUSY) {
		count(&w->ts->ts_busy);
	} else {
		unexpected(w, "write", k, rc);
		log_fuzz(kr, FZ_UNSURE | FZ_MISS_OK);
	}
	if (rc != FC_EBUSY)
		count(&w->ts->ts_ops);
	if (definite) {
		atomic_store(&kr->kr_acked, PACK(v, ack_eff)); /* (4) */
		atomic_store(&kr->kr_fuzz, 0); /* (5) */
	}
	atomic_store(&kr->kr_pend, 0); /* (6) */

	/* Read our own write back at once. Nobody else writes this key, so
	 * do_read's checks against the log (just updated) demand exactly
	 * version v: older is lost, newer was never written, a miss of a
	 * durable set is lost (unless evicted), a hit after a delete is lost. */
	if (rc == FC_OK && sup_below(&w->rng, 100) < cfg.raw_pct)
		do_read(w, k, 0, NULL, NULL);
}

static void
writer_op(struct worker *w)
{
	if (sup_below(&w->rng, 100) < cfg.write_pct)
		write_op(w);
	else
		reader_op(w);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	fc_options o;
	int rc;

	if (cfg.handle_per_thread) {
		fc_options_init(&o);
		o.flags = cfg.file ? FC_FILE : 0;
		if ((rc = fc_open(cfg.segname, &o, &w->c)) != FC_OK) {
			unexpected(w, "fc_open", 0, rc);
			return NULL;
		}
	}
	atomic_store(&w->ts->ts_pid, (uint64_t)getpid());
	while (!atomic_load_explicit(&side->sd_stop, memory_order_relaxed)) {
		if (w->role == ROLE_WRITER)
			writer_op(w);
		else
			reader_op(w);
	}
	if (cfg.handle_per_thread)
		fc_close(w->c);
	return NULL;
}

/* --no-fds: take one slot and the library's descriptors now, then use up
 * every descriptor the soft limit allows, so that every reaper in this
 * process runs at EMFILE (liveness must not need to open anything). */
static void
use_up_descriptors(void)
{
	char buf[64];
	size_t len = sizeof buf;
	int rc = fc_get(cache, "fcs:warm", 8, buf, &len);

	if (rc != FC_OK && rc != FC_ENOTFOUND) {
		say("stress: --no-fds: first read: %s", fc_errname(rc));
		_exit(4);
	}
	while (open("/dev/null", O_RDONLY | O_CLOEXEC) >= 0)
		;
}

/* glibc loads libgcc_s (for unwinding) at the first pthread_exit(): make
 * that happen while descriptors are still available. */
static void *
exit_at_once(void *arg)
{
	pthread_exit(arg);
}

static _Atomic int churn_stop;

static void *
churn_reader(void *arg)
{
	char buf[64];
	size_t len = sizeof buf;
	int rc = fc_get(cache, "fcs:churn", 9, buf, &len);

	(void)arg;
	if (rc != FC_OK && rc != FC_ENOTFOUND && rc != FC_EBUSY)
		violation(&side->sd_errors, V_ERROR, "churn thread: fc_get: %s", fc_errname(rc));
	return NULL;
}

static void *
churn_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&churn_stop)) {
		pthread_t t;
		if (pthread_create(&t, NULL, churn_reader, NULL) == 0)
			pthread_join(t, NULL);
	}
	return NULL;
}

/* --fork-churn: threads that read once and exit come and go while this
 * thread forks every MS ms; each grandchild reads, closes its inherited
 * handle and exits. One still running after 2 s hung (a fork while
 * another thread held a process-local lock): a STALL violation. */
static void
fork_churn(void)
{
	pthread_t th;

	if (pthread_create(&th, NULL, churn_main, NULL) != 0) {
		say("stress: fork churn: pthread_create failed");
		_exit(4);
	}
	while (!atomic_load_explicit(&side->sd_stop, memory_order_relaxed)) {
		usleep(cfg.fork_churn_ms * 1000u);
		pid_t pid = fork();
		if (pid == 0) {
			char buf[64];
			size_t len = sizeof buf;
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			int rc = fc_get(cache, "fcs:churn", 9, buf, &len);
			fc_close(cache);
			_exit(rc == FC_OK || rc == FC_ENOTFOUND || rc == FC_EBUSY ? 0 : 1);
		}
		if (pid < 0)
			continue;
		int st = 0, done = 0;
		for (int i = 0; i < 2000 && !done; i++) {
			if (waitpid(pid, &st, WNOHANG) == pid)
				done = 1;
			else
				usleep(1000);
		}
		if (!done) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			violation(&side->sd_stalls, V_STALL,
				  "forked child hung for 2 s (fork under thread churn)");
		} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			violation(&side->sd_errors, V_ERROR, "forked child failed (status %d)", st);
		}
	}
	atomic_store(&churn_stop, 1);
	pthread_join(th, NULL);
}

/* The child process: arm, start the threads, run until stopped. */
void
child_main(struct child *ch, unsigned idx)
{
	struct worker *ws;
	unsigned n = ch->nthreads;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != master_pid)
		_exit(0);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	if (ch->arm[0] && fc__fault_arm_spec(ch->arm) != 0) {
		say("stress: child %u: cannot arm fault '%s'", idx, ch->arm);
		_exit(3);
	}
	ws = calloc(n, sizeof *ws);
	if (!ws)
		_exit(4);
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &ws[i];
		w->c = cache;
		w->slot = ch->first_slot + i;
		w->ts = &side->sd_slot[w->slot];
		w->role = i < ch->nreaders ? ROLE_READER : ROLE_WRITER;
		w->wid = w->role == ROLE_WRITER
			? ch->first_wid + (i - ch->nreaders)
			: 0;
		w->rng = sup_mix64(cfg.seed ^ ((uint64_t)w->slot << 20) ^
				   ((uint64_t)ch->spawns << 40));
		w->seq = atomic_load(&w->ts->ts_seq);
		w->cap = cfg.vmax + 64;
		w->buf = malloc(w->cap);
		w->vbuf = malloc(w->cap);
		w->last = calloc(cfg.nkeys, sizeof *w->last);
		w->reads_since_iter = sup_below(&w->rng, cfg.iter_every + 1);
		if (!w->buf || !w->vbuf || !w->last)
			_exit(4);
	}
	if (cfg.zombie_leader) {
		pthread_t t;
		if (pthread_create(&t, NULL, exit_at_once, NULL) == 0)
			pthread_join(t, NULL);
	}
	if (cfg.no_fds)
		use_up_descriptors();
	if (cfg.zombie_leader || cfg.fork_churn_ms) {
		/* Workers in threads; the main thread leaves (a zombie group
		 * leader: liveness must not depend on /proc) or forks while
		 * threads come and go. */
		for (unsigned i = 0; i < n; i++)
			if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0) {
				say("stress: child %u: pthread_create failed", idx);
				_exit(4);
			}
		if (cfg.zombie_leader)
			pthread_exit(NULL); /* the last worker to stop ends the process */
		fork_churn();
		for (unsigned i = 0; i < n; i++)
			pthread_join(ws[i].th, NULL);
	} else if (n == 1) {
		worker_main(&ws[0]);
	} else {
		for (unsigned i = 0; i < n; i++)
			if (pthread_create(&ws[i].th, NULL, worker_main,
					   &ws[i]) != 0) {
				say("stress: child %u: pthread_create failed",
				    idx);
				_exit(4);
			}
		for (unsigned i = 0; i < n; i++)
			pthread_join(ws[i].th, NULL);
	}
	if (!cfg.handle_per_thread)
		fc_close(cache);
	for (unsigned i = 0; i < n; i++) {
		free(ws[i].buf);
		free(ws[i].vbuf);
		free(ws[i].last);
	}
	free(ws);
	_exit(0);
}
