/*
 * cmd_invalidate.c - `forkcache invalidate`: delete locally and publish the
 * invalidation to every machine of the namespace through Redis.
 *
 *   forkcache invalidate NAME KEY --redis ADDR [--namespace NS]
 *   forkcache invalidate NAME --prefix P --redis ADDR [--namespace NS]
 *   forkcache invalidate NAME --all --redis ADDR [--namespace NS]
 *
 * DESIGN       A thin wrapper over libforkcache-redis
 *              (fc_invalidate_publish and its prefix/all variants); the
 *              forkcache-sync daemon of each machine applies the message
 *              (docs/redis.md). It parses its own options, so the rest of
 *              the CLI needs only the hook in main() and does not link
 *              option tables with it.
 * EXIT CODES   0 published, 1 failed (segment missing, Redis unreachable),
 *              2 usage, 3 corrupt or incompatible segment.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "forkcache-redis.h"
#include "cli.h"
#include "redis_internal.h"

static const char invalidate_usage[] =
	"usage: forkcache invalidate NAME KEY --redis ADDR [--namespace NS]\n"
	"       forkcache invalidate NAME --prefix P --redis ADDR "
	"[--namespace NS]\n"
	"       forkcache invalidate NAME --all --redis ADDR [--namespace NS]\n"
	"         [--password PW] [--user USER] [--db N] [--timeout MS]\n"
	"         [--escaped] [--file] [--no-local]\n"
	"\n"
	"Delete KEY (or every key starting with P, or every key) from the\n"
	"segment NAME, and publish the invalidation on Redis so that the\n"
	"forkcache-sync daemon of every machine in namespace NS does the same.\n"
	"\n"
	"  --redis ADDR     unix:PATH or HOST:PORT (required)\n"
	"  --namespace NS   default: NAME without its leading '/'\n"
	"  --prefix P       every key that starts with P (1..250 bytes)\n"
	"  --all            every key of the namespace\n"
	"  --password PW    AUTH password (or FORKCACHE_REDIS_PASSWORD)\n"
	"  --user USER      ACL user for AUTH\n"
	"  --db N           database of the sequence key (default 0)\n"
	"  --timeout MS     connect and command timeout (default 1000)\n"
	"  --escaped        KEY and P use the escapes of text output (\\xHH)\n"
	"  --file           NAME is a file path (FC_FILE)\n"
	"  --no-local       publish only; do not open NAME\n"
	"\n"
	"Example: forkcache invalidate /myapp user:42 --redis unix:/run/redis/"
	"redis.sock\n"
	"Exit codes: 0 published, 1 failed, 2 usage, 3 corrupt segment.\n";

static int
inv_usage(const char *msg, const char *arg)
{
	fputs("forkcache: invalidate: ", stderr);
	fprintf(stderr, msg, arg);
	fputs("\nTry 'forkcache invalidate --help'.\n", stderr);
	return EX_USAGE;
}

/* KEY or P: raw bytes, or with --escaped the text-output escapes. */
static int
bytes_arg(const char *s, bool esc, const char *what, cli_buf *out)
{
	if (esc) {
		if (cli_unescape(s, out) < 0)
			return inv_usage("malformed escape in '%s'", s);
	} else {
		cli_buf_put(out, s, strlen(s));
	}
	if (out->len < 1 || out->len > FC_KEY_MAX)
		return inv_usage("%s must be 1..250 bytes", what);
	return EX_OK;
}

int
cli_cmd_invalidate(int argc, char **argv)
{
	enum { O_REDIS = 256,
	       O_NS,
	       O_PREFIX,
	       O_ALL,
	       O_PW,
	       O_USER,
	       O_DB,
	       O_TIMEOUT,
	       O_ESCAPED,
	       O_FILE,
	       O_NOLOCAL,
	       O_HELP };
	static const struct option longopts[] = {
		{"redis", required_argument, NULL, O_REDIS},
		{"namespace", required_argument, NULL, O_NS},
		{"prefix", required_argument, NULL, O_PREFIX},
		{"all", no_argument, NULL, O_ALL},
		{"password", required_argument, NULL, O_PW},
		{"user", required_argument, NULL, O_USER},
		{"db", required_argument, NULL, O_DB},
		{"timeout", required_argument, NULL, O_TIMEOUT},
		{"escaped", no_argument, NULL, O_ESCAPED},
		{"file", no_argument, NULL, O_FILE},
		{"no-local", no_argument, NULL, O_NOLOCAL},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0}};
	const char *redis = NULL, *ns = NULL, *prefix = NULL, *name, *key;
	bool all = false, esc = false, no_local = false;
	unsigned flags = 0;
	char segname[300], nsbuf[FC_REDIS_NS_MAX + 1];
	fc_redis_options ro;
	cli_buf bytes = {0};
	fc_redis *r = NULL;
	fc_cache *c = NULL;
	uint64_t v;
	int o, rc, code;

	fc_redis_options_init(&ro);
	ro.password = getenv("FORKCACHE_REDIS_PASSWORD");
	opterr = 0;
	optind = 1;
	while ((o = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (o) {
		case O_REDIS:
			redis = optarg;
			break;
		case O_NS:
			ns = optarg;
			break;
		case O_PREFIX:
			prefix = optarg;
			break;
		case O_ALL:
			all = true;
			break;
		case O_PW:
			ro.password = optarg;
			break;
		case O_USER:
			ro.user = optarg;
			break;
		case O_ESCAPED:
			esc = true;
			break;
		case O_FILE:
			flags = FC_FILE;
			break;
		case O_NOLOCAL:
			no_local = true;
			break;
		case O_DB:
			if (sup_parse_u64(optarg, &v) < 0 || v > INT32_MAX)
				return inv_usage("--db wants a number, not "
						 "'%s'",
						 optarg);
			ro.db = (uint32_t)v;
			break;
		case O_TIMEOUT:
			if (sup_parse_u64(optarg, &v) < 0 || v < 1 ||
			    v > 3600000)
				return inv_usage("--timeout wants milliseconds"
						 " 1..3600000, not '%s'",
						 optarg);
			ro.timeout_ms = (uint32_t)v;
			break;
		case O_HELP:
		case 'h':
			fputs(invalidate_usage, stdout);
			return EX_OK;
		default:
			return inv_usage("unknown option or missing value: "
					 "'%s'",
					 argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return inv_usage("%s", "missing NAME");
	name = argv[optind++];
	key = optind < argc ? argv[optind++] : NULL;
	if (optind < argc)
		return inv_usage("unexpected argument '%s'", argv[optind]);
	if ((key != NULL) + (prefix != NULL) + all != 1)
		return inv_usage("%s", "give exactly one of KEY, --prefix P "
				       "and --all");
	if (redis == NULL)
		return inv_usage("%s", "--redis ADDR is required");
	if (name[0] == '\0' || strlen(name) + 2 > sizeof segname)
		return inv_usage("bad segment NAME '%s'", name);
	if (flags == 0 && strchr(name + 1, '/') != NULL)
		flags = FC_FILE;
	if (flags == 0 && name[0] != '/')
		snprintf(segname, sizeof segname, "/%s", name);
	else
		snprintf(segname, sizeof segname, "%s", name);
	if (ns == NULL)
		ns = flags ? name : name + (name[0] == '/');
	if (!fc__redis_ns_valid(ns))
		return inv_usage("namespace must be 1..200 bytes, not '%s'",
				 ns);
	snprintf(nsbuf, sizeof nsbuf, "%s", ns);
	if ((key || prefix) &&
	    (code = bytes_arg(key ? key : prefix, esc, key ? "KEY" : "prefix", &bytes)) != EX_OK)
		goto out;
	{
		struct fc__redis_addr a;

		if (fc__redis_addr_parse(redis, &a) < 0) {
			code = inv_usage("--redis wants unix:PATH or HOST:PORT"
					 ", not '%s'",
					 redis);
			goto out;
		}
	}

	if (!no_local) {
		fc_options fo;

		fc_options_init(&fo);
		fo.flags = flags;
		if ((rc = fc_open(segname, &fo, &c)) != FC_OK) {
			fprintf(stderr, "forkcache: %s: %s: %s%s\n", segname,
				fc_errname(rc), rc == FC_ENOTFOUND ? "no such segment" : fc_strerror(rc),
				rc == FC_ENOTFOUND ? " (--no-local publishes"
						     " without one)"
						   : "");
			code = exit_for(rc);
			goto out;
		}
	}
	rc = fc_redis_open(redis, &ro, &r);
	if (rc == FC_OK) {
		if (key)
			rc = fc_invalidate_publish(c, r, nsbuf, bytes.data,
						   bytes.len);
		else if (prefix)
			rc = fc_invalidate_prefix_publish(c, r, nsbuf,
							  bytes.data,
							  bytes.len);
		else
			rc = fc_invalidate_all_publish(c, r, nsbuf);
	}
	if (rc != FC_OK) {
		int e = errno;

		fprintf(stderr, "forkcache: invalidate %s: %s: %s", nsbuf,
			fc_errname(rc), fc_strerror(rc));
		if (rc == FC_ESYS)
			fprintf(stderr, " (%s%s%s)", strerror(e),
				r && *fc_redis_error(r) ? ": " : "",
				r ? fc_redis_error(r) : "");
		fputc('\n', stderr);
	}
	code = exit_for(rc);
out:
	fc_redis_close(r);
	if (c != NULL)
		fc_close(c);
	cli_buf_free(&bytes);
	return code;
}
