/*
 * http.c - one worker of forkcache-api: libmicrohttpd on the listen socket
 * the master bound, the routes, and HTTP caching semantics.
 *
 * DESIGN       Each worker runs one MHD daemon with a pool of --threads
 *              threads (epoll) on its own inherited, non-blocking listen
 *              socket (SO_REUSEPORT: main.c). A request
 *              is routed, its parameters validated and normalized into a
 *              cache key (respcache.c), and the response built with:
 *                Cache-Control: public, max-age=<ttl>   (errors: no-store)
 *                ETag: "<16 hex>"   strong: XXH3-64 of the exact body bytes
 *                Age: <s since computed>   X-Cache: HIT | MISS | STALE
 *                Vary: Accept
 *              If-None-Match (weak comparison, as RFC 9110 13.1.2 says, or
 *              "*") gets 304 with no body, the same validators, and the
 *              Content-Length the 200 would have (RFC 9110 8.6). HEAD is
 *              GET without the body (MHD omits it and keeps Content-Length).
 * ROBUSTNESS   MHD parses the request: malformed ones get its 400, a header
 *              block larger than the per-connection memory (32 KiB) gets
 *              431/413, and a connection idle or trickling for
 *              --conn-timeout seconds is closed (slowloris). A PUT body
 *              larger than API_BODY_MAX gets 413 as soon as Content-Length
 *              says so, or once the body passes the limit (chunked); the
 *              excess is read and dropped, never stored.
 * SHUTDOWN     The main thread of the worker waits for SIGTERM/SIGINT (the
 *              serving threads block them). Then it stops accepting
 *              (MHD_quiesce_daemon), waits up to API_DRAIN_MS for requests
 *              in flight to complete, and stops the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api.h"

#define API_DRAIN_MS 3000 /* in-flight requests may finish, ms */
#define API_CONN_MEMORY (32 * 1024) /* per connection: request line + headers */
#define API_CONN_LIMIT 4096 /* connections per worker */
#define API_TICK_MS 500 /* main thread: publish stats, check parent */

static _Atomic int inflight; /* requests between first call and completion */

/* A cached route's parameters: what its computation needs. */
struct route_arg {
	int64_t id;
	const char *category; /* cat, or NULL */
	uint32_t page;
	const char *q; /* qbuf */
	char cat[API_CATEGORY_MAX + 1];
	char qbuf[API_QUERY_MAX + 1];
};

/* Per request: the PUT body being received, and a stale entry's refresh
 * to run once the response is sent (with what computes it). */
struct req {
	struct buf body;
	int too_big;
	struct route_arg ra;
	respcache_compute_fn fn;
	struct respcache_refresh refresh;
};

/* ---- small helpers ---- */

static int
json_escape(struct buf *out, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		int rc;

		if (ch == '"' || ch == '\\')
			rc = buf_printf(out, "\\%c", ch);
		else if (ch < 0x20)
			rc = buf_printf(out, "\\u%04x", ch);
		else
			rc = buf_put(out, s, 1);
		if (rc != 0)
			return -1;
	}
	return 0;
}

static enum MHD_Result
send_buf(struct MHD_Connection *conn, unsigned status, const char *body,
	 size_t len, const char *cache_control)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache_control);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW,
					"GET, HEAD, PUT");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A JSON error: {"error": "<msg>"}; never cached. */
static enum MHD_Result
send_error(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	struct buf b = {0};
	enum MHD_Result ret;

	if (buf_printf(&b, "{\"error\": \"") != 0 || json_escape(&b, msg) ||
	    buf_printf(&b, "\", \"status\": %u}\n", status) != 0) {
		buf_free(&b);
		return MHD_NO;
	}
	ret = send_buf(conn, status, b.p, b.len, "no-store");
	buf_free(&b);
	return ret;
}

/* Valid UTF-8 without control characters; the text goes into JSON. */
static int
text_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2
			: (c >> 4) == 14                  ? 3
			: (c >> 3) == 30                  ? 4
							  : 0;

		if (len == 0 || i + len > n || (len == 1 && (c < 0x20 || c == 0x7f)))
			return 0;
		for (size_t j = 1; j < len; j++)
			if (((unsigned char)s[i + j] >> 6) != 2)
				return 0;
		i += len;
	}
	return 1;
}

/* Canonical percent-encoding: unreserved bytes as is, the rest %XX. */
static int
put_encoded(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char e[3] = {'%', hex[c >> 4], hex[c & 15]};
		int un = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '-' || c == '.' ||
			c == '_' || c == '~';

		if (buf_put(b, un ? (const char *)&s[i] : e, un ? 1 : 3) != 0)
			return -1;
	}
	return 0;
}

/* A query argument: 1 found (NUL-free), 0 absent, -1 contains NUL. */
static int
arg(struct MHD_Connection *conn, const char *name, const char **v, size_t *n)
{
	if (MHD_lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, name,
					  strlen(name), v, n) != MHD_YES ||
	    *v == NULL)
		return 0;
	return memchr(*v, '\0', *n) ? -1 : 1;
}

/* Decimal 1..max with nothing else; 0 if not. */
static uint64_t
parse_pos(const char *s, size_t n, uint64_t max)
{
	uint64_t v = 0;

	if (n == 0 || n > 18)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	return v <= max ? v : 0;
}

/*
 * If-None-Match against our strong tag @p tag ("\"<hex>\""): a list of
 * entity tags, or "*". Weak comparison: a W/ prefix is ignored.
 */
static int
none_match(const char *hdr, const char *tag)
{
	size_t tl = strlen(tag);

	for (const char *p = hdr; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		const char *end = p;

		if (*p == '"') {
			end = strchr(p + 1, '"');
			if (end == NULL)
				return 0;
			end++;
		}
		if ((size_t)(end - p) == tl && memcmp(p, tag, tl) == 0)
			return 1;
		if (end == p) /* garbage: skip one character */
			end++;
		p = end;
	}
	return 0;
}

/* ---- routes ---- */

static int
compute_product(void *a, struct buf *out)
{
	return db_get_product(((struct route_arg *)a)->id, out);
}

static int
compute_list(void *a, struct buf *out)
{
	struct route_arg *ra = a;

	return db_list_products(ra->category, ra->page, out);
}

static int
compute_search(void *a, struct buf *out)
{
	return db_search(((struct route_arg *)a)->q, out);
}

/* Does the Accept header allow our one representation (JSON)? */
static int
accept_json(struct MHD_Connection *conn)
{
	const char *a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_ACCEPT);

	return a == NULL || *a == '\0' || strstr(a, "application/json") ||
		strstr(a, "*/*") || strstr(a, "application/*");
}

/* The body reader of a 304: never called (MHD sends no body). */
static ssize_t
no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	(void)pos;
	(void)buf;
	(void)max;
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

static enum MHD_Result
send_cached(struct MHD_Connection *conn, const struct cached_response *cr)
{
	static const char *const xc[] = {"HIT", "MISS", "STALE"};
	struct MHD_Response *r;
	char etag[24], cc[48], age[24];
	const char *inm;
	enum MHD_Result ret;
	unsigned status = 200;

	if (cr->status != 200) {
		return send_error(conn, (unsigned)cr->status,
				  cr->len ? cr->body : "error");
	}
	snprintf(etag, sizeof etag, "\"%016" PRIx64 "\"", cr->etag);
	snprintf(cc, sizeof cc, "public, max-age=%" PRIu64, api_cfg.ttl_s);
	snprintf(age, sizeof age, "%" PRIu64, cr->age_s);
	inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					  MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (inm && none_match(inm, etag)) {
		/* No body. MHD (0.9.75) writes Content-Length on a 304 from
		 * the response's size, so give it the 200's size: RFC 9110
		 * 8.6 allows exactly that value (a 0 would be false). MHD
		 * never reads a 304's body: the reader only fails. */
		status = MHD_HTTP_NOT_MODIFIED;
		r = MHD_create_response_from_callback(cr->len, 1024,
						      no_body, NULL, NULL);
	} else {
		r = MHD_create_response_from_buffer(cr->len, (void *)cr->body,
						    MHD_RESPMEM_MUST_COPY);
		if (r)
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
						"application/json");
	}
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cc);
	MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
	MHD_add_response_header(r, MHD_HTTP_HEADER_AGE, age);
	MHD_add_response_header(r, "X-Cache", xc[cr->xcache]);
	MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Parse "/products/<id>": 1 with @p id, 0 not this route, -1 bad id. */
static int
product_path(const char *url, int64_t *id)
{
	const char *p;
	uint64_t v;

	if (strncmp(url, "/products/", 10) != 0)
		return 0;
	p = url + 10;
	if (*p == '\0' || strchr(p, '/'))
		return -1;
	v = parse_pos(p, strlen(p), INT64_MAX);
	if (v == 0) {
		/* "0" and digits beyond int64 are well-formed but unknown. */
		if (strspn(p, "0123456789") == strlen(p))
			return 2;
		return -1;
	}
	*id = (int64_t)v;
	return 1;
}

static enum MHD_Result
handle_get(struct MHD_Connection *conn, const char *url, struct req *rq)
{
	struct route_arg *ra = &rq->ra;
	struct respcache_key rk = {0};
	struct cached_response cr;
	struct buf canon = {0};
	char *cat = ra->cat, *qbuf = ra->qbuf;
	char gen0[16 + API_CATEGORY_MAX], pagebuf[24];
	respcache_compute_fn fn;
	enum MHD_Result ret;
	const char *v;
	size_t n;
	int rc;

	if ((rc = product_path(url, &ra->id)) != 0) {
		if (rc < 0)
			return send_error(conn, 400,
					  "product id must be a positive integer");
		if (rc == 2)
			return send_error(conn, 404, "no such product");
		snprintf(gen0, sizeof gen0, "p:%" PRId64, ra->id);
		rk.gens[0] = gen0;
		rk.route = ROUTE_PRODUCT;
		rc = buf_printf(&canon, "GET /products/%" PRId64, ra->id);
		fn = compute_product;
	} else if (strcmp(url, "/products") == 0) {
		rc = arg(conn, "category", &v, &n);
		if (rc < 0 || (rc > 0 && (n == 0 || n > API_CATEGORY_MAX || !text_ok(v, n))))
			return send_error(conn, 400,
					  "category must be 1..64 characters of text");
		if (rc > 0) {
			memcpy(cat, v, n);
			cat[n] = '\0';
			ra->category = cat;
		}
		ra->page = 1;
		if ((rc = arg(conn, "page", &v, &n)) != 0) {
			ra->page = rc > 0 ? (uint32_t)parse_pos(v, n,
								API_PAGE_MAX)
					  : 0;
			if (ra->page == 0)
				return send_error(conn, 400,
						  "page must be an integer in 1..10000");
		}
		snprintf(gen0, sizeof gen0, "c:%s", ra->category ? cat : "*");
		rk.gens[0] = gen0;
		rk.route = ROUTE_LIST;
		rc = buf_printf(&canon, "GET /products?");
		if (rc == 0 && ra->category)
			rc = buf_printf(&canon, "category=") ||
				put_encoded(&canon, cat, strlen(cat)) ||
				buf_printf(&canon, "&");
		snprintf(pagebuf, sizeof pagebuf, "page=%" PRIu32, ra->page);
		if (rc == 0)
			rc = buf_printf(&canon, "%s", pagebuf);
		fn = compute_list;
	} else if (strcmp(url, "/search") == 0) {
		rc = arg(conn, "q", &v, &n);
		if (rc <= 0 || n == 0 || n > API_QUERY_MAX || !text_ok(v, n))
			return send_error(conn, 400,
					  "q must be 1..100 characters of text");
		memcpy(qbuf, v, n);
		qbuf[n] = '\0';
		ra->q = qbuf;
		rk.gens[0] = "s";
		rk.route = ROUTE_SEARCH;
		rc = buf_printf(&canon, "GET /search?q=") ||
			put_encoded(&canon, qbuf, n);
		fn = compute_search;
	} else {
		return send_error(conn, 404, "no such resource");
	}
	if (!accept_json(conn)) {
		buf_free(&canon);
		return send_error(conn, 406, "only application/json is served");
	}
	/* The variant the Vary'd header (Accept) selects: there is one. */
	if (rc != 0 || buf_printf(&canon, " v=json") != 0 ||
	    buf_put(&canon, "", 1) != 0) {
		buf_free(&canon);
		return send_error(conn, 500, "out of memory");
	}
	rk.canon = canon.p;
	rq->fn = fn;
	if (respcache_fetch(&rk, fn, ra, &cr, &rq->refresh) != 0) {
		buf_free(&canon);
		return send_error(conn, 500, "out of memory");
	}
	buf_free(&canon);
	ret = send_cached(conn, &cr);
	return ret;
}

static enum MHD_Result
handle_put(struct MHD_Connection *conn, const char *url, struct req *rq)
{
	char old_cat[API_CATEGORY_MAX + 1], new_cat[API_CATEGORY_MAX + 1];
	struct buf out = {0};
	enum MHD_Result ret;
	int64_t id;
	uint64_t q0 = api_tls_queries;
	int rc = product_path(url, &id), status;

	if (rc == 0)
		return send_error(conn, 405, "PUT is only for /products/{id}");
	if (rc < 0)
		return send_error(conn, 400, "product id must be a positive integer");
	if (rc == 2)
		return send_error(conn, 404, "no such product");
	if (rq->too_big)
		return send_error(conn, 413, "body larger than 64 KiB");
	if (rq->body.len == 0)
		return send_error(conn, 400, "a JSON body is required");
	status = db_update_product(id, rq->body.p, rq->body.len, &out,
				   old_cat, sizeof old_cat, new_cat,
				   sizeof new_cat);
	api_count_cause(CAUSE_WRITE, ROUTE_PUT, api_tls_queries - q0);
	if (status == 200) {
		respcache_invalidate_product(id, old_cat, new_cat);
		ret = send_buf(conn, 200, out.p, out.len, "no-store");
	} else {
		if (buf_put(&out, "", 1) != 0)
			ret = MHD_NO;
		else
			ret = send_error(conn, (unsigned)status, out.p);
	}
	buf_free(&out);
	return ret;
}

static enum MHD_Result
handle_stats(struct MHD_Connection *conn)
{
	struct buf b = {0};
	uint64_t t[7] = {0};
	enum MHD_Result ret;
	static const char *const mode[] = {"shared", "per-worker", "off"};

	for (unsigned i = 0; i < api_cfg.workers; i++) {
		struct api_worker_stats *w = &api_shm->w[i];

		t[0] += atomic_load_explicit(&w->requests, memory_order_relaxed);
		t[1] += atomic_load_explicit(&w->hits, memory_order_relaxed);
		t[2] += atomic_load_explicit(&w->misses, memory_order_relaxed);
		t[3] += atomic_load_explicit(&w->stale, memory_order_relaxed);
		t[4] += atomic_load_explicit(&w->backend_queries,
					     memory_order_relaxed);
		t[5] += atomic_load_explicit(&w->lease_waits,
					     memory_order_relaxed);
		t[6] += atomic_load_explicit(&w->lease_timeouts,
					     memory_order_relaxed);
	}
	int rc = buf_printf(&b, "{\"mode\": \"%s\", \"workers\": %u,"
				" \"requests\": %" PRIu64 ", \"hits\": %" PRIu64 ","
				" \"misses\": %" PRIu64 ", \"stale\": %" PRIu64 ","
				" \"hit_ratio\": %.4f, \"backend_queries\": %" PRIu64 ","
				" \"lease_waits\": %" PRIu64 ", \"lease_timeouts\": %" PRIu64 ","
				" \"respawns\": %" PRIu64 ", \"ttl\": %" PRIu64 ", ",
			    mode[api_cfg.mode], api_cfg.workers, t[0], t[1], t[2], t[3],
			    t[1] + t[2] + t[3] ? (double)(t[1] + t[3]) /
					    (double)(t[1] + t[2] + t[3])
					       : 0.0,
			    t[4], t[5], t[6],
			    atomic_load_explicit(&api_shm->respawns, memory_order_relaxed),
			    api_cfg.ttl_s);

	if (rc == 0)
		rc = respcache_stats_json(&b);
	if (rc == 0)
		rc = buf_printf(&b, ", \"worker_pids\": [");
	for (unsigned i = 0; rc == 0 && i < api_cfg.workers; i++)
		rc = buf_printf(&b, "%s%" PRIu64, i ? ", " : "",
				atomic_load_explicit(&api_shm->w[i].pid,
						     memory_order_relaxed));
	if (rc == 0)
		rc = buf_printf(&b, "], \"worker_requests\": [");
	for (unsigned i = 0; rc == 0 && i < api_cfg.workers; i++)
		rc = buf_printf(&b, "%s%" PRIu64, i ? ", " : "",
				atomic_load_explicit(&api_shm->w[i].requests,
						     memory_order_relaxed));
	if (rc == 0)
		rc = buf_printf(&b, "]}\n");
	ret = rc == 0 ? send_buf(conn, 200, b.p, b.len, "no-store") : MHD_NO;
	buf_free(&b);
	return ret;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *conn, const char *url,
	const char *method, const char *version, const char *upload,
	size_t *upload_size, void **con_cls)
{
	struct req *rq = *con_cls;
	int is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
		strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	int is_put = strcmp(method, MHD_HTTP_METHOD_PUT) == 0;

	if (rq == NULL) {
		/* First call: headers only. */
		if ((rq = calloc(1, sizeof *rq)) == NULL)
			return MHD_NO;
		*con_cls = rq;
		atomic_fetch_add_explicit(&inflight, 1, memory_order_relaxed);
		api_count(&api_my_stats()->requests);
		if (is_put) {
			const char *cl = MHD_lookup_connection_value(conn,
								     MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

			if (cl && strtoull(cl, NULL, 10) > API_BODY_MAX)
				rq->too_big = 1;
		}
		return MHD_YES;
	}
	if (*upload_size) {
		if (!is_put || rq->too_big ||
		    rq->body.len + *upload_size > API_BODY_MAX)
			rq->too_big = 1; /* read and drop the rest */
		else if (buf_put(&rq->body, upload, *upload_size) != 0)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	if (is_get && strcmp(url, "/healthz") == 0)
		return send_buf(conn, 200, "{\"status\": \"ok\"}\n", 17,
				"no-store");
	if (is_get && strcmp(url, "/_cache/stats") == 0)
		return handle_stats(conn);
	if (is_get)
		return rq->body.len || rq->too_big
			? send_error(conn, 400, "GET takes no body")
			: handle_get(conn, url, rq);
	if (is_put)
		return handle_put(conn, url, rq);
	return send_error(conn, 405, "method not allowed");
}

static void
completed(void *cls, struct MHD_Connection *conn, void **con_cls,
	  enum MHD_RequestTerminationCode toe)
{
	struct req *rq = *con_cls;

	if (rq == NULL)
		return;
	/* The response is sent: now refresh the stale entry it was
	 * answered with (respcache.c, FC_STALE), on this thread. At
	 * shutdown or after a failed request, hand the lease on. */
	respcache_refresh(&rq->refresh, rq->fn, &rq->ra,
			  toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	buf_free(&rq->body);
	free(rq);
	*con_cls = NULL;
	atomic_fetch_sub_explicit(&inflight, 1, memory_order_relaxed);
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int
http_worker_run(int listen_fd, int ready_fd)
{
	struct MHD_Daemon *d;
	sigset_t set;
	pid_t parent = getppid();
	char err[256];

	/* A worker outlives no master. */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		return 0;
	signal(SIGPIPE, SIG_IGN);
	if (respcache_worker_open(err, sizeof err) != 0) {
		fprintf(stderr, "forkcache-api: worker %u: %s\n",
			api_worker_index, err);
		return 1;
	}
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
				     MHD_USE_ITC,
			     0, NULL, NULL, handler, NULL,
			     MHD_OPTION_LISTEN_SOCKET, listen_fd,
			     MHD_OPTION_THREAD_POOL_SIZE,
			     (unsigned)api_cfg.threads,
			     MHD_OPTION_CONNECTION_TIMEOUT,
			     (unsigned)api_cfg.conn_timeout_s,
			     MHD_OPTION_CONNECTION_LIMIT,
			     (unsigned)API_CONN_LIMIT,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT,
			     (size_t)API_CONN_MEMORY,
			     MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
			     MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "forkcache-api: worker %u: cannot start the"
				" HTTP daemon\n",
			api_worker_index);
		return 1;
	}
	if (ready_fd >= 0) {
		(void)!write(ready_fd, "r", 1);
		close(ready_fd);
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	for (;;) {
		struct timespec tick = {0, API_TICK_MS * 1000000L};
		int sig = sigtimedwait(&set, NULL, &tick);

		if (sig == SIGTERM || sig == SIGINT || getppid() != parent)
			break;
		respcache_publish_items();
	}
	/* Stop accepting; let the requests in flight complete. */
	int lfd = MHD_quiesce_daemon(d);
	uint64_t until = mono_ms() + API_DRAIN_MS;

	if (lfd >= 0)
		close(lfd); /* the master still holds it */
	while (atomic_load_explicit(&inflight, memory_order_relaxed) > 0 &&
	       mono_ms() < until) {
		struct timespec ms10 = {0, 10 * 1000000L};

		nanosleep(&ms10, NULL);
	}
	MHD_stop_daemon(d);
	respcache_worker_close();
	return 0;
}
