/*
 * forkcache-sync.c - the per-machine daemon that keeps a forkcache segment
 * (the near cache) consistent with the other machines through Redis.
 *
 *   forkcache-sync NAME --redis ADDR [--namespace NS] [options]
 *
 * DESIGN       One single-threaded process per machine and segment. It
 *              subscribes to the namespace's channel (forkcache-redis.h,
 *              WIRE FORMAT) and applies each message to the local segment:
 *              fc_delete of a key, fc_redis_delete_prefix, or fc_flush. One
 *              poll() loop watches the subscription socket and a signalfd
 *              (SIGTERM/SIGINT stop, SIGUSR1 prints stats); replies are
 *              parsed as they are read, so memory stays bounded by one read
 *              buffer however fast messages come (hiredis reads 16 KiB at
 *              a time).
 * SAFETY RULE  (docs/redis.md, "The reconnect rule") Pub/sub is fire and
 *              forget: a message sent while we are not connected is lost.
 *              R1 Every message carries the namespace's sequence number,
 *                 incremented in Redis with INCR by the same script that
 *                 publishes it. A gap while connected (7 after 5) flushes.
 *              R2 On (re)connect: SUBSCRIBE first, then read Redis's run_id
 *                 and the sequence key on a second connection. Unless the
 *                 run_id is the one we saw last and the sequence is the
 *                 last we applied (nothing can have been published in
 *                 between), flush. Only then print "forkcache-sync:
 *                 subscribed". A fresh daemon has no last state: it
 *                 flushes as soon as it has the segment (the time a dead
 *                 daemon left unguarded ends there, not after a slow
 *                 connect) and again on its first connect.
 *              R3 "Alive" means a byte arrived on the subscription. We PING
 *                 it every bound/4; silence for bound - bound/4 ms counts
 *                 as disconnected since the last byte (a paused Redis or a
 *                 cut network looks exactly like this).
 *              R4 While disconnected, the segment is flushed once the
 *                 silence reaches bound - bound/4, and again every
 *                 bound - bound/4 ms until reconnected: no value older
 *                 than the bound is served, even one filled from the
 *                 database after the cut.
 *              Flushing earlier than needed is always safe for a cache;
 *              the margin of bound/4 covers timer and scheduling slack.
 * CRASHES      Killed, the daemon guards nothing until restarted; the
 *              restarted daemon flushes (R2). Its supervisor (the
 *              application's master, or systemd Restart=always) must
 *              restart it well within the bound: see docs/redis.md.
 * LIMITS       One namespace per daemon. Keys and prefixes 1..FC_KEY_MAX.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "forkcache.h"
#include "redis_internal.h"

#define EX_OK 0
#define EX_FAIL 1
#define EX_USAGE 2

#define DEFAULT_BOUND_MS 2000u /* staleness bound while disconnected */
#define MIN_BOUND_MS 40u /* heartbeat of 10 ms: not below */
#define RETRY_MIN_MS 20u /* first reconnect delay */
#define RETRY_MAX_MS 500u /* reconnect delay cap */
#define STEP_MIN_MS 10u /* shortest timeout of a handshake step */
#define STEP_MAX_MS 2000u /* longest: a slow Redis is a failed try */
#define POLL_MAX_MS 50u /* loop wakes at least this often */
#define SEGMENT_WAIT_MS 200u /* retry period while NAME does not exist */
#define SEGMENT_CHECK_MS 1000u /* how often NAME is checked for a new object */
#define LOG_MALFORMED_FIRST 10u /* malformed messages logged one by one */
#define LOG_MALFORMED_EVERY 1000u /* ... then one line per this many */
#define RUN_ID_LEN 40u /* Redis run_id: 40 hex characters */

enum log_level { L_ERROR,
		 L_WARN,
		 L_INFO,
		 L_DEBUG };

struct stats {
	uint64_t messages; /* channel messages received */
	uint64_t keys; /* key invalidations applied */
	uint64_t prefixes; /* prefix invalidations applied */
	uint64_t alls; /* namespace flushes received */
	uint64_t deleted; /* items removed by keys and prefixes */
	uint64_t malformed; /* messages ignored */
	uint64_t stale_seq; /* messages at or below the last sequence */
	uint64_t gaps; /* sequence gaps seen while connected (R1) */
	uint64_t connects; /* successful subscriptions */
	uint64_t disconnects; /* connections lost or declared silent */
	uint64_t flushes; /* safety flushes, all reasons */
	uint64_t flush_start; /* ... at startup, before connecting (R2) */
	uint64_t flush_connect; /* ... R2: could not prove nothing missed */
	uint64_t flush_gap; /* ... R1 */
	uint64_t flush_disconnected; /* ... R4 */
	uint64_t apply_errors; /* fc_* calls that failed */
	uint64_t reattaches; /* NAME replaced by a new segment: reopened */
};

struct sync {
	/* configuration */
	const char *name; /* as given */
	char segname[300]; /* as opened */
	unsigned seg_flags; /* FC_FILE or 0 */
	char ns[FC_REDIS_NS_MAX + 1];
	struct fc__redis_addr addr;
	const char *user, *password;
	uint32_t db;
	uint64_t bound_ms, hb_ms, limit_ms;
	enum log_level level;
	bool json;
	bool unsafe_no_flush; /* test-only negative control */
	char chan[FC__REDIS_NAME_MAX], seqkey[FC__REDIS_NAME_MAX];

	/* state */
	fc_cache *c;
	dev_t seg_dev; /* identity of the object NAME named when */
	ino_t seg_ino; /* ... we opened it (see check_segment) */
	uint64_t seg_checked_ms;
	redisContext *sub; /* NULL = disconnected */
	bool have_last; /* run_id/last_seq describe what we applied */
	char run_id[RUN_ID_LEN + 1];
	uint64_t last_seq;
	uint64_t last_alive_ms; /* monotonic time of the last byte received */
	uint64_t last_ping_ms;
	uint64_t unsafe_since_ms; /* disconnected: R4 clock (see check_r4) */
	uint64_t next_try_ms, retry_ms;
	uint64_t disconnected_ms_total;
	struct stats st;
	int sigfd;
	bool stop;
};

/* ------------------------------------------------------------ helpers -- */

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static enum log_level g_level = L_INFO;

static void
logf_(enum log_level lv, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warn", "info",
					    "debug"};
	va_list ap;

	if (lv > g_level)
		return;
	fprintf(stderr, "forkcache-sync: %s: ", names[lv]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Escape up to 64 bytes of untrusted @p s into @p out for a log line. */
static const char *
escaped(const char *s, size_t n, char *out, size_t outsz)
{
	size_t o = 0;

	for (size_t i = 0; i < n && i < 64 && o + 5 < outsz; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, outsz - o, "\\x%02x",
					      ch);
	}
	if (n > 64 && o + 4 < outsz) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* Flush the segment for a safety rule; counts and logs it. */
static void
safety_flush(struct sync *s, const char *why, uint64_t *counter)
{
	int rc;

	s->st.flushes++;
	(*counter)++;
	if (s->unsafe_no_flush) {
		logf_(L_WARN, "would flush %s (%s) but --unsafe-no-flush",
		      s->name, why);
		return;
	}
	rc = fc_flush(s->c);
	if (rc != FC_OK) {
		s->st.apply_errors++;
		logf_(L_ERROR, "flush %s (%s): %s: %s", s->name, why,
		      fc_errname(rc), fc_strerror(rc));
		return;
	}
	logf_(L_INFO, "flushed %s: %s", s->name, why);
}

/* ------------------------------------------------------------- stats -- */

static long
rss_anon_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "RssAnon: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void
print_stats(struct sync *s)
{
	uint64_t now = now_ms();
	uint64_t disc = s->disconnected_ms_total +
		(s->sub == NULL && s->st.connects > 0 ? now - s->unsafe_since_ms : 0);
	const struct stats *t = &s->st;

	/* an X-macro list: clang-format re-flows it on every run */
	/* clang-format off */
#define FIELDS(X)                                                        \
	X("messages", t->messages) X("keys", t->keys)                    \
	X("prefixes", t->prefixes) X("alls", t->alls)                    \
	X("deleted", t->deleted) X("malformed", t->malformed)            \
	X("stale_seq", t->stale_seq) X("gaps", t->gaps)                  \
	X("connects", t->connects) X("disconnects", t->disconnects)      \
	X("flushes", t->flushes) X("flush_start", t->flush_start)        \
	X("flush_connect", t->flush_connect)                             \
	X("flush_gap", t->flush_gap)                                     \
	X("flush_disconnected", t->flush_disconnected)                   \
	X("apply_errors", t->apply_errors)                               \
	X("reattaches", t->reattaches)                                   \
	X("last_seq", s->last_seq) X("bound_ms", s->bound_ms)            \
	X("disconnected_ms", disc)
	/* clang-format on */
	if (s->json) {
		printf("{\"name\":");
		fputc('"', stdout);
		for (const char *p = s->name; *p; p++)
			if (*p == '"' || *p == '\\')
				printf("\\%c", *p);
			else if ((unsigned char)*p < 0x20)
				printf("\\u%04x", (unsigned char)*p);
			else
				fputc(*p, stdout);
		printf("\",\"connected\":%s", s->sub ? "true" : "false");
#define J(n, v) printf(",\"%s\":%" PRIu64, n, (uint64_t)(v));
		FIELDS(J)
#undef J
		printf(",\"rss_anon_kb\":%ld}\n", rss_anon_kb());
	} else {
		printf("STAT connected %d\n", s->sub ? 1 : 0);
#define T(n, v) printf("STAT %s %" PRIu64 "\n", n, (uint64_t)(v));
		FIELDS(T)
#undef T
		printf("STAT rss_anon_kb %ld\nEND\n", rss_anon_kb());
	}
#undef FIELDS
	fflush(stdout);
}

/* ---------------------------------------------------------- messages -- */

static void
apply(struct sync *s, const char *p, size_t n)
{
	struct fc__redis_msg m;
	const char *why;
	char esc[300];
	int rc = FC_OK;

	s->st.messages++;
	if (fc__redis_msg_parse(p, n, &m, &why) < 0) {
		uint64_t k = ++s->st.malformed;

		if (k <= LOG_MALFORMED_FIRST || k % LOG_MALFORMED_EVERY == 0)
			logf_(L_WARN, "malformed message ignored (%s; %" PRIu64 " so far): \"%s\"", why, k,
			      escaped(p, n, esc, sizeof esc));
		return;
	}
	if (m.seq <= s->last_seq) {
		/* Published before our subscription's sequence read, or a
		 * duplicate: deleting again is harmless (R2). */
		s->st.stale_seq++;
	} else if (m.seq != s->last_seq + 1) {
		char why2[96];

		s->st.gaps++;
		snprintf(why2, sizeof why2, "sequence gap: %" PRIu64 " after %" PRIu64, m.seq, s->last_seq);
		safety_flush(s, why2, &s->st.flush_gap);
	}
	switch (m.op) {
	case FC__REDIS_KEY:
		s->st.keys++;
		rc = fc_delete(s->c, m.arg, m.alen);
		if (rc == FC_OK)
			s->st.deleted++;
		else if (rc == FC_ENOTFOUND)
			rc = FC_OK;
		break;
	case FC__REDIS_PREFIX: {
		int64_t d = fc_redis_delete_prefix(s->c, m.arg, m.alen);

		s->st.prefixes++;
		if (d >= 0)
			s->st.deleted += (uint64_t)d;
		else
			rc = (int)d;
		break;
	}
	case FC__REDIS_ALL:
		s->st.alls++;
		rc = fc_flush(s->c);
		break;
	}
	if (rc != FC_OK) {
		/* The invalidation could not be applied as asked: a flush
		 * is the one answer that is still correct. */
		s->st.apply_errors++;
		logf_(L_ERROR, "apply seq %" PRIu64 ": %s: %s; flushing",
		      m.seq, fc_errname(rc), fc_strerror(rc));
		rc = fc_flush(s->c);
		if (rc != FC_OK)
			logf_(L_ERROR, "flush: %s: %s", fc_errname(rc),
			      fc_strerror(rc));
	}
	if (m.seq > s->last_seq)
		s->last_seq = m.seq;
	logf_(L_DEBUG, "applied seq %" PRIu64 " op %d", m.seq, (int)m.op);
}

/* One reply from the subscription: a message, a pong, a confirmation. */
static void
on_reply(struct sync *s, redisReply *r)
{
	char esc[300];

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_STRING) {
		logf_(L_WARN, "unexpected reply type %d ignored", r->type);
		return;
	}
	const redisReply *kind = r->element[0];

	if (kind->len == 7 && memcmp(kind->str, "message", 7) == 0 &&
	    r->elements == 3 && r->element[2]->type == REDIS_REPLY_STRING) {
		if (r->element[1]->type != REDIS_REPLY_STRING ||
		    strlen(s->chan) != r->element[1]->len ||
		    memcmp(r->element[1]->str, s->chan,
			   r->element[1]->len) != 0) {
			logf_(L_WARN, "message on another channel ignored");
			return;
		}
		apply(s, r->element[2]->str, r->element[2]->len);
	} else if (kind->len == 4 && memcmp(kind->str, "pong", 4) == 0) {
		logf_(L_DEBUG, "pong");
	} else {
		logf_(L_DEBUG, "reply \"%s\" ignored",
		      escaped(kind->str, kind->len, esc, sizeof esc));
	}
}

/* --------------------------------------------------------- connection -- */

static void
disconnect(struct sync *s, const char *reason)
{
	char why[256];

	if (s->sub == NULL)
		return;
	/* @p reason may be the context's errstr: copy before the free. */
	snprintf(why, sizeof why, "%s", reason);
	redisFree(s->sub);
	s->sub = NULL;
	s->st.disconnects++;
	/* R3/R4: anything published after the last byte we got may be
	 * lost, so the unsafe period starts there, not now. */
	s->unsafe_since_ms = s->last_alive_ms;
	s->retry_ms = RETRY_MIN_MS;
	s->next_try_ms = now_ms();
	logf_(L_WARN, "disconnected from Redis: %s", why);
}

/* R4: flush when the unsafe period reaches the limit, then every limit. */
static void
check_r4(struct sync *s)
{
	uint64_t now = now_ms();

	if (s->sub != NULL || now - s->unsafe_since_ms < s->limit_ms)
		return;
	safety_flush(s, "disconnected for longer than the bound",
		     &s->st.flush_disconnected);
	if (s->st.connects > 0)
		s->disconnected_ms_total += now - s->unsafe_since_ms;
	s->unsafe_since_ms = now;
}

/* Timeout for the next handshake step: never past the next R4 flush. */
static uint32_t
step_timeout(struct sync *s)
{
	uint64_t now = now_ms(), due = s->unsafe_since_ms + s->limit_ms;
	uint64_t t = due > now ? due - now : 0;

	if (t < STEP_MIN_MS)
		t = STEP_MIN_MS;
	if (t > STEP_MAX_MS)
		t = STEP_MAX_MS;
	return (uint32_t)t;
}

static void
set_timeout(redisContext *ctx, uint32_t ms)
{
	struct timeval tv = {.tv_sec = ms / 1000,
			     .tv_usec = (suseconds_t)(ms % 1000) * 1000};

	redisSetTimeout(ctx, tv);
}

/* Command on the side connection; NULL (logged) on failure. */
static redisReply *
side_command(struct sync *s, redisContext *ctx, int argc, const char **argv)
{
	redisReply *r;

	check_r4(s);
	set_timeout(ctx, step_timeout(s));
	r = redisCommandArgv(ctx, argc, argv, NULL);
	if (r == NULL) {
		logf_(L_INFO, "%s: %s", argv[0], ctx->errstr);
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		logf_(L_WARN, "%s: %s", argv[0], r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/*
 * R2: subscribe, then read run_id and the sequence on a side connection,
 * flush unless nothing can have been missed. @return 0 connected, -1 not.
 */
static int
handshake(struct sync *s)
{
	char err[256], run_id[RUN_ID_LEN + 1] = "", why[160];
	redisContext *sub = NULL, *side = NULL;
	redisReply *r = NULL;
	uint64_t seq = 0;
	const char *p;

	check_r4(s);
	sub = fc__redis_connect(&s->addr, s->user, s->password, 0,
				step_timeout(s), err, sizeof err);
	if (sub == NULL) {
		logf_(L_INFO, "subscription connection: %s", err);
		goto fail;
	}
	{
		const char *argv[2] = {"SUBSCRIBE", s->chan};

		check_r4(s);
		set_timeout(sub, step_timeout(s));
		r = redisCommandArgv(sub, 2, argv, NULL);
	}
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(r->element[0]->str, "subscribe") != 0) {
		logf_(L_WARN, "SUBSCRIBE %s: %s", s->chan,
		      r == NULL ? sub->errstr : r->type == REDIS_REPLY_ERROR ? r->str
									     : "unexpected reply");
		goto fail;
	}
	freeReplyObject(r);
	r = NULL;
	/* From here on every message published reaches `sub`. */
	check_r4(s);
	side = fc__redis_connect(&s->addr, s->user, s->password, s->db,
				 step_timeout(s), err, sizeof err);
	if (side == NULL) {
		logf_(L_INFO, "side connection: %s", err);
		goto fail;
	}
	{
		const char *argv[2] = {"INFO", "server"};

		if ((r = side_command(s, side, 2, argv)) == NULL)
			goto fail;
	}
	if (r->type != REDIS_REPLY_STRING ||
	    (p = strstr(r->str, "run_id:")) == NULL ||
	    strspn(p + 7, "0123456789abcdef") != RUN_ID_LEN) {
		logf_(L_WARN, "INFO server: no run_id");
		goto fail;
	}
	memcpy(run_id, p + 7, RUN_ID_LEN);
	freeReplyObject(r);
	{
		const char *argv[2] = {"GET", s->seqkey};

		if ((r = side_command(s, side, 2, argv)) == NULL)
			goto fail;
	}
	if (r->type == REDIS_REPLY_STRING) {
		char *end;

		errno = 0;
		seq = strtoull(r->str, &end, 10);
		if (errno || *end != '\0' || end == r->str) {
			logf_(L_WARN, "%s holds \"%s\", not a counter",
			      s->seqkey, r->str);
			seq = 0; /* unknown: the flush below covers it */
			s->have_last = false;
		}
	} else if (r->type != REDIS_REPLY_NIL) {
		logf_(L_WARN, "GET %s: unexpected reply", s->seqkey);
		goto fail;
	}
	freeReplyObject(r);
	r = NULL;
	redisFree(side);
	side = NULL;

	if (!s->have_last)
		snprintf(why, sizeof why, "first subscription: cannot know "
					  "what was missed before");
	else if (strcmp(run_id, s->run_id) != 0)
		snprintf(why, sizeof why, "Redis restarted or replaced "
					  "(run_id changed)");
	else if (seq != s->last_seq)
		snprintf(why, sizeof why, "sequence moved from %" PRIu64 " to %" PRIu64 " while disconnected", s->last_seq,
			 seq);
	else
		why[0] = '\0';
	if (why[0] != '\0')
		safety_flush(s, why, &s->st.flush_connect);
	else
		logf_(L_INFO, "reconnected at sequence %" PRIu64 ": nothing missed, no flush", seq);
	memcpy(s->run_id, run_id, sizeof run_id);
	s->last_seq = seq;
	s->have_last = true;
	if (s->st.connects > 0)
		s->disconnected_ms_total += now_ms() - s->unsafe_since_ms;
	s->sub = sub;
	set_timeout(sub, (uint32_t)s->hb_ms); /* bounds a blocked PING send */
	s->last_alive_ms = s->last_ping_ms = now_ms();
	s->st.connects++;
	printf("forkcache-sync: subscribed\n");
	fflush(stdout);
	logf_(L_INFO, "subscribed to %s at sequence %" PRIu64, s->chan, seq);
	return 0;
fail:
	if (r != NULL)
		freeReplyObject(r);
	if (side != NULL)
		redisFree(side);
	if (sub != NULL)
		redisFree(sub);
	return -1;
}

/* Read what the socket has, handle every complete reply. */
static void
on_readable(struct sync *s)
{
	void *reply;

	if (redisBufferRead(s->sub) != REDIS_OK) {
		disconnect(s, s->sub->errstr);
		return;
	}
	s->last_alive_ms = now_ms();
	for (;;) {
		if (redisReaderGetReply(s->sub->reader, &reply) != REDIS_OK) {
			disconnect(s, "protocol error");
			return;
		}
		if (reply == NULL)
			return;
		on_reply(s, reply);
		freeReplyObject(reply);
	}
}

static void
send_ping(struct sync *s)
{
	int done = 0;

	if (redisAppendCommand(s->sub, "PING") != REDIS_OK) {
		disconnect(s, "out of memory");
		return;
	}
	while (!done)
		if (redisBufferWrite(s->sub, &done) != REDIS_OK) {
			disconnect(s, s->sub->errstr);
			return;
		}
	s->last_ping_ms = now_ms();
}

static void
on_signal(struct sync *s)
{
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGUSR1)
			print_stats(s);
		else
			s->stop = true;
	}
}

/* ------------------------------------------------------------- setup -- */

/* The object NAME names now: /dev/shm/NAME for shm, the file for FC_FILE. */
static int
segment_identity(const struct sync *s, struct stat *st)
{
	char path[320];

	if (s->seg_flags & FC_FILE)
		snprintf(path, sizeof path, "%s", s->segname);
	else
		snprintf(path, sizeof path, "/dev/shm%s", s->segname);
	return stat(path, st);
}

static int
open_segment(struct sync *s)
{
	fc_options o;
	bool told = false;
	int rc;

	fc_options_init(&o);
	o.flags = s->seg_flags;
	for (;;) {
		struct stat before, after;
		int sb = segment_identity(s, &before);

		rc = fc_open(s->segname, &o, &s->c);
		if (rc == FC_OK) {
			/* Same object named before and after the open: that
			 * is the one we mapped. Else it was replaced under
			 * us: open again. */
			if (sb == 0 && segment_identity(s, &after) == 0 &&
			    before.st_dev == after.st_dev &&
			    before.st_ino == after.st_ino) {
				s->seg_dev = after.st_dev;
				s->seg_ino = after.st_ino;
				return EX_OK;
			}
			fc_close(s->c);
			s->c = NULL;
			continue;
		}
		if (rc != FC_ENOTFOUND) {
			logf_(L_ERROR, "%s: %s: %s", s->name, fc_errname(rc),
			      fc_strerror(rc));
			return EX_FAIL;
		}
		if (!told)
			logf_(L_INFO, "%s does not exist yet; waiting",
			      s->name);
		told = true;
		struct pollfd pfd = {.fd = s->sigfd, .events = POLLIN};

		if (poll(&pfd, 1, SEGMENT_WAIT_MS) > 0) {
			on_signal(s);
			if (s->stop)
				return EX_FAIL;
		}
	}
}

/*
 * An application that restarts may unlink its segment and create a new one
 * under the same name; a daemon still attached to the old one would guard
 * nothing. Every SEGMENT_CHECK_MS, compare the object NAME names with the
 * one we mapped; if it changed, attach to the new one and flush it (it may
 * have been filled while nobody applied invalidations to it).
 */
static int
check_segment(struct sync *s)
{
	struct stat st;
	uint64_t now = now_ms();

	if (now - s->seg_checked_ms < SEGMENT_CHECK_MS)
		return EX_OK;
	s->seg_checked_ms = now;
	if (segment_identity(s, &st) == 0 && st.st_dev == s->seg_dev &&
	    st.st_ino == s->seg_ino)
		return EX_OK;
	logf_(L_WARN, "%s was removed or replaced; attaching to the new one",
	      s->name);
	fc_close(s->c);
	s->c = NULL;
	if (open_segment(s) != EX_OK)
		return EX_FAIL;
	s->st.reattaches++;
	safety_flush(s, "a new segment under NAME", &s->st.flush_start);
	return EX_OK;
}

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: forkcache-sync NAME --redis ADDR [--namespace NS]\n"
		"         [--password PW] [--user USER] [--db N]\n"
		"         [--stale-bound MS] [--log-level LEVEL] [--json]"
		" [--file]\n"
		"\n"
		"Keep the forkcache segment NAME consistent with the other\n"
		"machines: apply the invalidations published on Redis for\n"
		"namespace NS (forkcache invalidate, fc_invalidate_publish).\n"
		"Runs in the foreground until SIGTERM. Prints\n"
		"\"forkcache-sync: subscribed\" each time the subscription is\n"
		"live and the segment is safe. SIGUSR1 prints statistics.\n"
		"\n"
		"  --redis ADDR        unix:PATH or HOST:PORT (required)\n"
		"  --namespace NS      default: NAME without its leading '/'\n"
		"  --password PW       AUTH password (or the environment\n"
		"                      variable FORKCACHE_REDIS_PASSWORD)\n"
		"  --user USER         ACL user for AUTH\n"
		"  --db N              database of the sequence key (default 0)\n"
		"  --stale-bound MS    while disconnected, flush the segment so\n"
		"                      that nothing older than MS is served\n"
		"                      (default %u, min %u)\n"
		"  --log-level LEVEL   error, warn, info (default), debug\n"
		"  --json              SIGUSR1 prints one JSON line (default:\n"
		"                      STAT lines)\n"
		"  --file              NAME is a file path (FC_FILE)\n"
		"\n"
		"Exit codes: 0 stopped by SIGTERM/SIGINT, 1 failure, 2 usage.\n"
		"Manual: docs/redis.md.\n",
		DEFAULT_BOUND_MS, MIN_BOUND_MS);
}

static int
parse_u64_arg(const char *s, uint64_t max, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);

	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
parse_args(struct sync *s, int argc, char **argv)
{
	enum { O_REDIS = 256,
	       O_NS,
	       O_PW,
	       O_USER,
	       O_DB,
	       O_BOUND,
	       O_LOG,
	       O_JSON,
	       O_FILE,
	       O_HELP,
	       O_UNSAFE };
	static const struct option longopts[] = {
		{"redis", required_argument, NULL, O_REDIS},
		{"namespace", required_argument, NULL, O_NS},
		{"password", required_argument, NULL, O_PW},
		{"user", required_argument, NULL, O_USER},
		{"db", required_argument, NULL, O_DB},
		{"stale-bound", required_argument, NULL, O_BOUND},
		{"log-level", required_argument, NULL, O_LOG},
		{"json", no_argument, NULL, O_JSON},
		{"file", no_argument, NULL, O_FILE},
		{"help", no_argument, NULL, O_HELP},
		/* Test-only negative control: no safety flushes at all. */
		{"unsafe-no-flush", no_argument, NULL, O_UNSAFE},
		{NULL, 0, NULL, 0}};
	const char *redis = NULL, *ns = NULL;
	uint64_t v;
	int o;

	s->bound_ms = DEFAULT_BOUND_MS;
	s->password = getenv("FORKCACHE_REDIS_PASSWORD");
	opterr = 0;
	while ((o = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (o) {
		case O_REDIS:
			redis = optarg;
			break;
		case O_NS:
			ns = optarg;
			break;
		case O_PW:
			s->password = optarg;
			break;
		case O_USER:
			s->user = optarg;
			break;
		case O_DB:
			if (parse_u64_arg(optarg, INT32_MAX, &v) < 0) {
				fprintf(stderr, "forkcache-sync: --db wants a"
						" number, not '%s'\n",
					optarg);
				return EX_USAGE;
			}
			s->db = (uint32_t)v;
			break;
		case O_BOUND:
			if (parse_u64_arg(optarg, 86400000u, &v) < 0 ||
			    v < MIN_BOUND_MS) {
				fprintf(stderr, "forkcache-sync: --stale-bound"
						" wants milliseconds %u..86400000, not"
						" '%s'\n",
					MIN_BOUND_MS, optarg);
				return EX_USAGE;
			}
			s->bound_ms = v;
			break;
		case O_LOG:
			if (strcmp(optarg, "error") == 0)
				s->level = L_ERROR;
			else if (strcmp(optarg, "warn") == 0)
				s->level = L_WARN;
			else if (strcmp(optarg, "info") == 0)
				s->level = L_INFO;
			else if (strcmp(optarg, "debug") == 0)
				s->level = L_DEBUG;
			else {
				fprintf(stderr, "forkcache-sync: --log-level "
						"wants error, warn, info or debug, not"
						" '%s'\n",
					optarg);
				return EX_USAGE;
			}
			break;
		case O_JSON:
			s->json = true;
			break;
		case O_FILE:
			s->seg_flags = FC_FILE;
			break;
		case O_UNSAFE:
			s->unsafe_no_flush = true;
			break;
		case O_HELP:
		case 'h':
			usage(stdout);
			exit(EX_OK);
		default:
			fprintf(stderr, "forkcache-sync: unknown option or "
					"missing value: '%s'\n",
				argv[optind - 1]);
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "forkcache-sync: %s\n", optind >= argc ? "missing NAME" : "more than one NAME");
		usage(stderr);
		return EX_USAGE;
	}
	s->name = argv[optind];
	if (s->name[0] == '\0' || strlen(s->name) + 2 > sizeof s->segname) {
		fprintf(stderr, "forkcache-sync: bad segment NAME\n");
		return EX_USAGE;
	}
	if (s->seg_flags == 0 && strchr(s->name + 1, '/') != NULL)
		s->seg_flags = FC_FILE; /* as the forkcache CLI */
	if (s->seg_flags == 0 && s->name[0] != '/')
		snprintf(s->segname, sizeof s->segname, "/%s", s->name);
	else
		snprintf(s->segname, sizeof s->segname, "%s", s->name);
	if (redis == NULL) {
		fprintf(stderr, "forkcache-sync: --redis ADDR is required\n");
		usage(stderr);
		return EX_USAGE;
	}
	if (fc__redis_addr_parse(redis, &s->addr) < 0) {
		fprintf(stderr, "forkcache-sync: --redis wants unix:PATH or "
				"HOST:PORT, not '%s'\n",
			redis);
		return EX_USAGE;
	}
	if (ns == NULL)
		ns = s->seg_flags ? s->name
				  : s->name + (s->name[0] == '/');
	if (!fc__redis_ns_valid(ns)) {
		fprintf(stderr, "forkcache-sync: namespace must be 1..%d "
				"bytes\n",
			FC_REDIS_NS_MAX);
		return EX_USAGE;
	}
	snprintf(s->ns, sizeof s->ns, "%s", ns);
	fc__redis_channel(s->ns, s->chan, sizeof s->chan);
	fc__redis_seq_key(s->ns, s->seqkey, sizeof s->seqkey);
	s->hb_ms = s->bound_ms / 4;
	s->limit_ms = s->bound_ms - s->hb_ms;
	return EX_OK;
}

int
main(int argc, char **argv)
{
	struct sync s;
	sigset_t set;
	char abuf[300];
	int code;

	memset(&s, 0, sizeof s);
	s.level = L_INFO;
	if ((code = parse_args(&s, argc, argv)) != EX_OK)
		return code;
	g_level = s.level;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
	    (s.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		logf_(L_ERROR, "signalfd: %s", strerror(errno));
		return EX_FAIL;
	}
	if ((code = open_segment(&s)) != EX_OK)
		return s.stop ? EX_OK : code;
	logf_(L_INFO, "segment %s, namespace %s, Redis %s, bound %" PRIu64 " ms", s.name, s.ns, fc__redis_addr_str(&s.addr, abuf, sizeof abuf),
	      s.bound_ms);
	safety_flush(&s, "starting: nothing guarded the segment before",
		     &s.st.flush_start);
	/* Nothing is known about what was missed before we started. The
	 * first connect flushes (R2); if it fails, R4's clock is set as
	 * though the limit had already passed, so a Redis that is down at
	 * startup gets the segment flushed at once. */
	s.unsafe_since_ms = now_ms();
	s.retry_ms = RETRY_MIN_MS;
	if (handshake(&s) < 0) {
		s.unsafe_since_ms = now_ms() - s.limit_ms;
		s.next_try_ms = now_ms() + s.retry_ms;
	}

	while (!s.stop) {
		if (check_segment(&s) != EX_OK)
			break;
		uint64_t now = now_ms(), wait = POLL_MAX_MS;
		struct pollfd pfd[2] = {
			{.fd = s.sigfd, .events = POLLIN},
			{.fd = s.sub ? s.sub->fd : -1, .events = POLLIN},
		};

		if (s.sub == NULL) {
			check_r4(&s);
			if (now >= s.next_try_ms && handshake(&s) < 0) {
				s.next_try_ms = now_ms() + s.retry_ms;
				s.retry_ms = s.retry_ms * 2 > RETRY_MAX_MS
					? RETRY_MAX_MS
					: s.retry_ms * 2;
			}
			check_r4(&s);
			now = now_ms();
			if (s.sub == NULL) {
				uint64_t due = s.unsafe_since_ms + s.limit_ms;

				if (s.next_try_ms > now &&
				    s.next_try_ms - now < wait)
					wait = s.next_try_ms - now;
				if (due > now && due - now < wait)
					wait = due - now;
				if (s.next_try_ms <= now || due <= now)
					wait = 0;
			}
		} else {
			if (now - s.last_alive_ms >= s.limit_ms) {
				disconnect(&s, "silent for longer than the "
					       "bound allows (paused Redis or a "
					       "cut network)");
				continue;
			}
			if (now - s.last_ping_ms >= s.hb_ms)
				send_ping(&s);
			if (s.sub == NULL)
				continue;
			uint64_t t = s.last_ping_ms + s.hb_ms - now;
			uint64_t silent = s.last_alive_ms + s.limit_ms - now;

			if (t < wait)
				wait = t;
			if (silent < wait)
				wait = silent;
		}
		pfd[1].fd = s.sub ? s.sub->fd : -1;
		if (poll(pfd, 2, (int)wait) < 0 && errno != EINTR) {
			logf_(L_ERROR, "poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents & POLLIN)
			on_signal(&s);
		if (s.sub != NULL && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
			on_readable(&s);
	}
	logf_(L_INFO, "stopping");
	if (s.sub != NULL)
		redisFree(s.sub);
	fc_close(s.c);
	close(s.sigfd);
	return EX_OK;
}
