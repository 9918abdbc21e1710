/*
 * main.c - forkcache-api's master: a prefork REST API server whose workers
 * share one HTTP response cache (forkcache).
 *
 * DESIGN       The master parses the options, creates the SQLite catalogue if
 *              it is missing, opens the response cache (respcache.c), binds
 *              the listen sockets, and forks --workers workers that serve on
 *              them (http.c). It prints the "listening" line once
 *              every worker has started its HTTP daemon (each writes one byte
 *              to a pipe), so a client that reads the line can connect.
 * SOCKETS      One listening socket per worker, all on one port with
 *              SO_REUSEPORT: the kernel spreads new connections evenly over
 *              the workers (by a hash of the addresses). With a single shared
 *              socket, epoll wakes every worker and the most idle one accepts
 *              a burst, so a few workers take most keep-alive connections
 *              (measured: 5403 of 6248 requests on one of two workers under
 *              wrk), which hides the cost of per-worker caches. The master
 *              keeps every socket open, so connections queued for a worker
 *              that dies wait for its replacement instead of being reset.
 * RESPAWN      A worker that dies (crash, SIGKILL, OOM) is reaped: its
 *              reader slots (and leases) in the segment are released with
 *              fc_reap(), and a new worker takes its counter slot. A worker
 *              that dies within API_RESPAWN_FAST_MS of its start is respawned
 *              after a pause, so a crash loop does not spin.
 * SHUTDOWN     SIGTERM or SIGINT: the master forwards SIGTERM to the workers;
 *              each stops accepting and lets its in-flight requests finish
 *              (http.c, at most 3 s); the master waits, SIGKILLs any worker
 *              still alive after API_STOP_MS, releases the segment (an shm
 *              segment is unlinked; a --cache-file stays for the next start)
 *              and exits 0, well within 5 s. The segment is consistent at
 *              every instant (forkcache's guarantee), even for a SIGKILLed
 *              worker.
 * SIGNALS      The master blocks SIGTERM, SIGINT and SIGCHLD and takes them
 *              with sigtimedwait(); the workers inherit the mask and their
 *              main thread does the same, so no handler runs inside the
 *              library or libmicrohttpd.
 * EXIT         0 after a clean shutdown, 1 start-up failure, 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api.h"

#define API_STOP_MS 4500 /* shutdown: then SIGKILL; < 5 s contract */
#define API_READY_MS 30000 /* start-up: workers must be ready by then */
#define API_RESPAWN_FAST_MS 1000 /* a worker dying this young ... */
#define API_RESPAWN_PAUSE_MS 500 /* ... is respawned after this pause */
#define API_BACKLOG 1024

struct api_config api_cfg = {
	.bind = "127.0.0.1",
	.port = 8080,
	.threads = 4,
	.mode = CACHE_SHARED,
	.db_path = "forkcache-api.db",
	.products = 100000,
	.ttl_s = 60,
	.stale_s = 30,
	.cache_bytes = 64u << 20,
	.conn_timeout_s = 10,
	.l2_ns = "forkcache-api",
};
struct api_shared *api_shm;
unsigned api_worker_index;

/* ---- struct buf ---- */

int
buf_reserve(struct buf *b, size_t n)
{
	if (b->cap - b->len >= n)
		return 0;
	size_t cap = b->cap ? b->cap : 256;

	while (cap - b->len < n) {
		if (cap > SIZE_MAX / 2)
			return -1;
		cap *= 2;
	}
	char *p = realloc(b->p, cap);

	if (p == NULL)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

int
buf_put(struct buf *b, const void *data, size_t n)
{
	if (buf_reserve(b, n) != 0)
		return -1;
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n + 1) != 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* ---- options ---- */

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: forkcache-api [options]\n"
		"  --port N            TCP port; 0 = pick a free one (printed)   [8080]\n"
		"  --bind ADDR         numeric IPv4 or IPv6 address          [127.0.0.1]\n"
		"  --workers N         worker processes (1..%d)     [number of cores]\n"
		"  --threads N         serving threads per worker (1..64)            [4]\n"
		"  --cache MODE        shared | per-worker | off                [shared]\n"
		"  --cache-size SIZE   cache memory in all, e.g. 64M, 1G           [64M]\n"
		"  --cache-file PATH   shared cache in this file: warm across restarts\n"
		"  --ttl SECONDS       freshness of a cached response (1..86400)    [60]\n"
		"  --stale SECONDS     serve stale this long past the TTL while one\n"
		"                      worker refreshes (0 = never)                 [30]\n"
		"  --db PATH           SQLite catalogue; created if missing\n"
		"                                                  [forkcache-api.db]\n"
		"  --products N        rows of a new catalogue (1..10000000)    [100000]\n"
		"  --backend-delay-ms N  extra latency of every database read        [0]\n"
		"  --conn-timeout S    close idle or trickling connections after S s [10]\n"
		"  --l2 ADDR           Redis as a second tier shared by machines:\n"
		"                      redis://HOST:PORT or unix:PATH (docs/redis.md);\n"
		"                      run forkcache-sync for the segment (--cache-file)\n"
		"  --l2-namespace NS   forkcache-sync namespace          [forkcache-api]\n"
		"Prints \"forkcache-api: listening on http://ADDR:PORT workers=N cache=MODE\"\n"
		"once it accepts connections; SIGTERM or SIGINT stops it.\n",
		API_WORKERS_MAX);
}

static int
parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int
parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		mul = 1ull << 10;
		end++;
		break;
	case 'm':
	case 'M':
		mul = 1ull << 20;
		end++;
		break;
	case 'g':
	case 'G':
		mul = 1ull << 30;
		end++;
		break;
	default:
		break;
	}
	if ((*end == 'i' || *end == 'I') && mul > 1)
		end++;
	if ((*end == 'b' || *end == 'B'))
		end++;
	if (*end || v > (1ull << 40) / mul)
		return -1;
	*out = v * mul;
	return *out >= (1u << 20) ? 0 : -1;
}

static int
parse_args(int argc, char **argv)
{
	enum { O_PORT = 256,
	       O_BIND,
	       O_WORKERS,
	       O_THREADS,
	       O_CACHE,
	       O_SIZE,
	       O_FILE,
	       O_TTL,
	       O_STALE,
	       O_DB,
	       O_PRODUCTS,
	       O_DELAY,
	       O_CTO,
	       O_HELP,
	       O_L2,
	       O_L2NS };
	static const struct option opts[] = {
		{"port", required_argument, NULL, O_PORT},
		{"bind", required_argument, NULL, O_BIND},
		{"workers", required_argument, NULL, O_WORKERS},
		{"threads", required_argument, NULL, O_THREADS},
		{"cache", required_argument, NULL, O_CACHE},
		{"cache-size", required_argument, NULL, O_SIZE},
		{"cache-file", required_argument, NULL, O_FILE},
		{"ttl", required_argument, NULL, O_TTL},
		{"stale", required_argument, NULL, O_STALE},
		{"db", required_argument, NULL, O_DB},
		{"products", required_argument, NULL, O_PRODUCTS},
		{"backend-delay-ms", required_argument, NULL, O_DELAY},
		{"conn-timeout", required_argument, NULL, O_CTO},
		{"help", no_argument, NULL, O_HELP},
		{"l2", required_argument, NULL, O_L2},
		{"l2-namespace", required_argument, NULL, O_L2NS},
		{NULL, 0, NULL, 0},
	};
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t v;
	int c;

	api_cfg.workers = cores < 1 ? 1 : cores > API_WORKERS_MAX ? API_WORKERS_MAX
								  : (unsigned)cores;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		const char *bad = NULL;

		switch (c) {
		case O_PORT:
			if (parse_u64(optarg, 0, 65535, &v))
				bad = "--port";
			api_cfg.port = (unsigned)v;
			break;
		case O_BIND:
			api_cfg.bind = optarg;
			break;
		case O_WORKERS:
			if (parse_u64(optarg, 1, API_WORKERS_MAX, &v))
				bad = "--workers";
			api_cfg.workers = (unsigned)v;
			break;
		case O_THREADS:
			if (parse_u64(optarg, 1, 64, &v))
				bad = "--threads";
			api_cfg.threads = (unsigned)v;
			break;
		case O_CACHE:
			if (strcmp(optarg, "shared") == 0)
				api_cfg.mode = CACHE_SHARED;
			else if (strcmp(optarg, "per-worker") == 0)
				api_cfg.mode = CACHE_PER_WORKER;
			else if (strcmp(optarg, "off") == 0)
				api_cfg.mode = CACHE_OFF;
			else
				bad = "--cache (shared, per-worker or off)";
			break;
		case O_SIZE:
			if (parse_size(optarg, &api_cfg.cache_bytes))
				bad = "--cache-size (at least 1M)";
			break;
		case O_FILE:
			api_cfg.cache_file = optarg;
			break;
		case O_TTL:
			if (parse_u64(optarg, 1, 86400, &api_cfg.ttl_s))
				bad = "--ttl";
			break;
		case O_STALE:
			if (parse_u64(optarg, 0, 86400, &api_cfg.stale_s))
				bad = "--stale";
			break;
		case O_DB:
			api_cfg.db_path = optarg;
			break;
		case O_PRODUCTS:
			if (parse_u64(optarg, 1, 10000000, &v))
				bad = "--products";
			api_cfg.products = (uint32_t)v;
			break;
		case O_DELAY:
			if (parse_u64(optarg, 0, 60000, &v))
				bad = "--backend-delay-ms";
			api_cfg.backend_delay_ms = (unsigned)v;
			break;
		case O_CTO:
			if (parse_u64(optarg, 1, 3600, &v))
				bad = "--conn-timeout";
			api_cfg.conn_timeout_s = (unsigned)v;
			break;
		case O_L2:
			api_cfg.l2_addr = optarg;
			break;
		case O_L2NS:
			api_cfg.l2_ns = optarg;
			break;
		case O_HELP:
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
		if (bad) {
			fprintf(stderr, "forkcache-api: bad value for %s: %s\n",
				bad, optarg);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "forkcache-api: unexpected argument: %s\n",
			argv[optind]);
		return -1;
	}
	if (api_cfg.l2_addr && (api_cfg.mode != CACHE_SHARED || l2_configure(api_cfg.l2_addr, api_cfg.l2_ns) != 0)) {
		fprintf(stderr, "forkcache-api: --l2 wants redis://HOST:PORT,"
				" HOST:PORT or unix:PATH, and --cache shared\n");
		return -1;
	}
	if (api_cfg.cache_file && api_cfg.mode != CACHE_SHARED) {
		fprintf(stderr, "forkcache-api: --cache-file needs --cache shared\n");
		return -1;
	}
	if (api_cfg.mode == CACHE_PER_WORKER &&
	    api_cfg.cache_bytes / api_cfg.workers < (1u << 20)) {
		fprintf(stderr, "forkcache-api: --cache-size must give each"
				" worker at least 1 MiB in per-worker mode\n");
		return -1;
	}
	return 0;
}

/* ---- listen socket ---- */

/*
 * One listening socket on --bind and @p port (0 = any free port), with
 * SO_REUSEPORT so that every worker gets its own socket on the same port.
 */
static int
listen_socket(unsigned port_in, char *addr_out, size_t addr_len,
	      unsigned *port_out)
{
	struct addrinfo hints = {0}, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char port[8], host[INET6_ADDRSTRLEN];
	int fd, one = 1, rc;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	snprintf(port, sizeof port, "%u", port_in);
	if ((rc = getaddrinfo(api_cfg.bind, port, &hints, &ai)) != 0) {
		fprintf(stderr, "forkcache-api: --bind %s: %s\n", api_cfg.bind,
			gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(fd, API_BACKLOG) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 ||
	    /* Several processes accept on it: never block in accept(). */
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
		fprintf(stderr, "forkcache-api: listen on %s:%s: %s\n",
			api_cfg.bind, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
		snprintf(addr_out, addr_len, "[%s]", host);
		*port_out = ntohs(s6->sin6_port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
		snprintf(addr_out, addr_len, "%s", host);
		*port_out = ntohs(s4->sin_port);
	}
	return fd;
}

/* ---- workers ---- */

static pid_t worker_pid[API_WORKERS_MAX];
static int listen_fds[API_WORKERS_MAX]; /* worker i serves listen_fds[i] */
static uint64_t worker_born_ms[API_WORKERS_MAX];

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static pid_t
spawn(unsigned idx, int ready_fd)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		api_worker_index = idx;
		atomic_store_explicit(&api_shm->w[idx].pid, (uint64_t)getpid(),
				      memory_order_relaxed);
		/* Only its own socket: the others' backlogs are theirs. */
		for (unsigned i = 0; i < api_cfg.workers; i++)
			if (i != idx)
				close(listen_fds[i]);
		_exit(http_worker_run(listen_fds[idx], ready_fd));
	}
	if (pid > 0) {
		worker_pid[idx] = pid;
		worker_born_ms[idx] = mono_ms();
	}
	return pid;
}

static int
worker_slot(pid_t pid)
{
	for (unsigned i = 0; i < api_cfg.workers; i++)
		if (worker_pid[i] == pid)
			return (int)i;
	return -1;
}

static unsigned
alive_workers(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < api_cfg.workers; i++)
		n += worker_pid[i] > 0;
	return n;
}

/*
 * Is a SIGTERM or SIGINT waiting for us? Ctrl-C signals the whole process
 * group: a worker may exit before the master takes its SIGINT, and must not
 * be respawned then.
 */
static int
stop_pending(void)
{
	sigset_t p;

	return sigpending(&p) == 0 &&
		(sigismember(&p, SIGTERM) == 1 || sigismember(&p, SIGINT) == 1);
}

/* Reap exited workers; with @p respawn, replace them. */
static void
reap_workers(int respawn)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		int i = worker_slot(pid);

		if (i < 0)
			continue;
		worker_pid[i] = 0;
		respcache_master_reap();
		if (!respawn || stop_pending())
			continue;
		if (WIFSIGNALED(st))
			fprintf(stderr, "forkcache-api: worker %d (pid %ld)"
					" killed by signal %d; respawning\n",
				i,
				(long)pid, WTERMSIG(st));
		else
			fprintf(stderr, "forkcache-api: worker %d (pid %ld)"
					" exited with %d; respawning\n",
				i, (long)pid,
				WEXITSTATUS(st));
		if (mono_ms() - worker_born_ms[i] < API_RESPAWN_FAST_MS) {
			struct timespec p = {0, API_RESPAWN_PAUSE_MS * 1000000L};

			nanosleep(&p, NULL);
		}
		if (spawn((unsigned)i, -1) > 0)
			atomic_fetch_add_explicit(&api_shm->respawns, 1,
						  memory_order_relaxed);
	}
}

static void
stop_workers(void)
{
	uint64_t until = mono_ms() + API_STOP_MS;

	for (unsigned i = 0; i < api_cfg.workers; i++)
		if (worker_pid[i] > 0)
			kill(worker_pid[i], SIGTERM);
	while (alive_workers() > 0) {
		pid_t pid = waitpid(-1, NULL, WNOHANG);

		if (pid > 0) {
			int i = worker_slot(pid);

			if (i >= 0)
				worker_pid[i] = 0;
			continue;
		}
		if (pid < 0 && errno == ECHILD)
			break;
		if (mono_ms() >= until) {
			for (unsigned i = 0; i < api_cfg.workers; i++)
				if (worker_pid[i] > 0)
					kill(worker_pid[i], SIGKILL);
			until = UINT64_MAX;
		}
		struct timespec ms5 = {0, 5 * 1000000L};

		nanosleep(&ms5, NULL);
	}
	respcache_master_reap();
}

int
main(int argc, char **argv)
{
	static const char *const mode[] = {"shared", "per-worker", "off"};
	sigset_t set;
	char addr[INET6_ADDRSTRLEN + 2], err[512];
	unsigned port = 0, ready = 0;
	int pfd[2], rc = 0;

	if (parse_args(argc, argv) != 0)
		return 2;
	/* Signals are taken synchronously, here and in every worker. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (db_prepare_file(api_cfg.db_path, api_cfg.products) != 0)
		return 1;
	api_shm = mmap(NULL, sizeof *api_shm, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (api_shm == MAP_FAILED) {
		perror("forkcache-api: mmap");
		return 1;
	}
	atomic_store(&api_shm->started_ms, api_now_ms());
	/* Socket 0 picks the port (--port 0); the others join it. */
	for (unsigned i = 0; i < api_cfg.workers; i++) {
		listen_fds[i] = listen_socket(i ? port : api_cfg.port, addr,
					      sizeof addr, &port);
		if (listen_fds[i] < 0)
			return 1;
	}
	if (respcache_master_open(err, sizeof err) != 0) {
		fprintf(stderr, "forkcache-api: cache: %s\n", err);
		return 1;
	}
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		perror("forkcache-api: pipe");
		return 1;
	}
	for (unsigned i = 0; i < api_cfg.workers; i++) {
		if (spawn(i, pfd[1]) < 0) {
			perror("forkcache-api: fork");
			rc = 1;
			break;
		}
	}
	close(pfd[1]);
	/* Each worker writes one byte once its daemon runs; EOF early means
	 * a worker died during start-up. */
	uint64_t until = mono_ms() + API_READY_MS;

	while (rc == 0 && ready < api_cfg.workers && mono_ms() < until) {
		char b[API_WORKERS_MAX];
		ssize_t n = read(pfd[0], b, sizeof b);

		if (n > 0)
			ready += (unsigned)n;
		else if (n == 0 || errno != EINTR)
			break;
	}
	close(pfd[0]);
	if (rc != 0 || ready < api_cfg.workers) {
		fprintf(stderr, "forkcache-api: workers failed to start\n");
		stop_workers();
		respcache_master_close();
		return 1;
	}
	printf("forkcache-api: listening on http://%s:%u workers=%u cache=%s\n",
	       addr, port, api_cfg.workers, mode[api_cfg.mode]);
	fflush(stdout);

	for (;;) {
		struct timespec tick = {1, 0};
		int sig = sigtimedwait(&set, NULL, &tick);

		if (sig == SIGTERM || sig == SIGINT)
			break;
		/* SIGCHLD, or a tick (a missed SIGCHLD is caught here). */
		reap_workers(1);
	}
	stop_workers();
	for (unsigned i = 0; i < api_cfg.workers; i++)
		close(listen_fds[i]);
	respcache_master_close();
	return 0;
}
