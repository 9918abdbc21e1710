/*
 * cli.h - helpers shared by the forkcache CLI's source files.
 *
 * DESIGN       The CLI (tools/cli_main.c and the files cli_args.h lists)
 *              uses the public API only. These
 *              helpers are plain byte-string utilities with no knowledge of
 *              the segment: escaping for text output (text.c), JSON writing
 *              and parsing (json.c), and the dump formats (dump.c).
 *              Every function takes explicit lengths: keys and values are
 *              arbitrary bytes, NUL included.
 * LIMITS       The JSON parser nests at most CLI_JSON_DEPTH levels and reads
 *              a whole document held in memory.
 */
#ifndef FC_CLI_H
#define FC_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sup_size.h"

/* Exit codes of every command (forkcache(1)). */
#define EX_OK 0
#define EX_FAIL 1
#define EX_USAGE 2
#define EX_CORRUPT 3

/* cli_common.c: the exit code for a library answer (FC_ECORRUPT and
 * FC_EINCOMPAT are EX_CORRUPT, other errors EX_FAIL). */
int exit_for(int err);

/* ---------------------------------------------------------------- text.c */

/** A growable byte buffer. Zero-initialize; cli_buf_free() releases. */
typedef struct cli_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
} cli_buf;

/** Append @p n bytes; aborts the process on out-of-memory. */
void cli_buf_put(cli_buf *b, const void *p, size_t n);
void cli_buf_putc(cli_buf *b, int ch);
void cli_buf_free(cli_buf *b);
/** Read all of @p f into @p b. @return 0, or -1 on a read error (errno). */
int cli_buf_read_all(cli_buf *b, FILE *f);

/** malloc/realloc that abort with a message on out-of-memory. */
void *cli_xmalloc(size_t n);
void *cli_xrealloc(void *p, size_t n);

/**
 * Write @p s escaped for text output: printable ASCII as is; backslash as
 * "\\"; newline, CR, tab as "\n" "\r" "\t"; valid UTF-8 of code points
 * U+00A0 and above as is; every other byte as "\xHH".
 */
void cli_escape(FILE *out, const void *s, size_t n);

/**
 * Undo cli_escape() on a NUL-terminated argument: "\\", "\n", "\r", "\t",
 * "\0" and "\xHH" are decoded, other bytes kept. @p out receives the bytes.
 * @return 0, or -1 on a malformed escape (unknown letter, short \x).
 */
int cli_unescape(const char *s, cli_buf *out);

/** True when @p s[0..n) is valid UTF-8 (no overlongs, no surrogates). */
bool cli_utf8_valid(const void *s, size_t n);

/** Standard base64 with padding. */
void cli_base64_encode(cli_buf *out, const void *s, size_t n);
/** @return 0, or -1 when @p s is not canonical padded base64. */
int cli_base64_decode(cli_buf *out, const char *s, size_t n);

/**
 * Match @p key against a glob: '*' any run of bytes, '?' one byte,
 * "[a-z]" / "[!abc]" / "[^abc]" byte sets, and backslash escapes as in
 * cli_unescape() ("\*" is a literal star). Bytes compare exactly.
 * Cost: O(plen * klen).
 */
bool cli_glob_match(const char *pat, const void *key, size_t klen);

/* Decimal uint64 and sizes ("64M", "64MiB", "1048576"): support/sup_size.h
 * (sup_parse_u64, sup_parse_size). */
/** Parse non-negative decimal seconds ("1", "0.25") into ms. */
int cli_parse_seconds_ms(const char *s, uint64_t *out_ms);

/** Format @p bytes in binary units ("64.0 MiB", "512 B") into @p buf. */
const char *cli_human_bytes(uint64_t bytes, char *buf, size_t bufsz);
/** Format a duration in ms ("1.5 s", "3 h 20 min") into @p buf. */
const char *cli_human_ms(uint64_t ms, char *buf, size_t bufsz);

/* ---------------------------------------------------------------- json.c */

/**
 * Write @p s as a JSON value: a JSON string when it is valid UTF-8, else
 * {"base64":"..."}. Control characters are escaped (\uXXXX).
 */
void cli_json_bytes(FILE *out, const void *s, size_t n);
/** Write a NUL-terminated string known to the caller, same rules. */
void cli_json_str(FILE *out, const char *s);

#define CLI_JSON_DEPTH 64

enum cli_json_type {
	CLI_JSON_NULL,
	CLI_JSON_BOOL,
	CLI_JSON_NUMBER,
	CLI_JSON_STRING,
	CLI_JSON_ARRAY,
	CLI_JSON_OBJECT
};

/** A parsed JSON value. Strings hold decoded bytes (may contain NUL). */
typedef struct cli_json {
	enum cli_json_type type;
	bool boolean;
	char *text; /* NUMBER: the literal; STRING: the bytes */
	size_t len; /* bytes in text */
	struct cli_json *items; /* ARRAY elements / OBJECT values */
	char **names; /* OBJECT member names (NUL-terminated) */
	size_t *name_lens;
	size_t count;
} cli_json;

/**
 * Parse one JSON document (RFC 8259) from @p s[0..n). Trailing whitespace
 * only. On error returns NULL and writes a message with the byte offset
 * into @p err.
 */
cli_json *cli_json_parse(const char *s, size_t n, char *err, size_t errsz);
void cli_json_free(cli_json *v);
/** Member @p name of an object, or NULL. */
const cli_json *cli_json_get(const cli_json *obj, const char *name);
/** An integer number in int64 range. @return 0, or -1. */
int cli_json_int(const cli_json *v, int64_t *out);
/** An integer number in uint64 range. @return 0, or -1. */
int cli_json_uint(const cli_json *v, uint64_t *out);

/* ---------------------------------------------------------------- dump.c */

/** Magic first line of a binary dump. */
#define CLI_DUMP_MAGIC "forkcache-dump binary 1\n"
#define CLI_DUMP_FORMAT "forkcache-dump" /* JSON "format" field */
#define CLI_DUMP_VERSION 1

/** One item of a dump, as written and as read back. */
typedef struct cli_dump_item {
	const void *key;
	size_t klen;
	const void *value;
	size_t vlen;
	uint64_t expire_ms; /* absolute; 0 = never */
	int64_t ttl_ms; /* remaining when dumped; -1 = never */
	uint64_t cas; /* informational */
} cli_dump_item;

typedef struct cli_dump_writer {
	FILE *out;
	bool binary;
	uint64_t count;
} cli_dump_writer;

void cli_dump_begin(cli_dump_writer *w, const char *segment,
		    uint64_t now_ms);
void cli_dump_item_write(cli_dump_writer *w, const cli_dump_item *it);
void cli_dump_end(cli_dump_writer *w);

/** A dump read back: every item decoded and checked before any is used. */
typedef struct cli_dump {
	cli_dump_item *items;
	size_t count;
	bool binary;
	cli_json *json; /* owns JSON item bytes */
	cli_buf bytes; /* owns decoded base64 bytes / binary input */
	uint8_t **owned; /* decoded base64 buffers */
	size_t nowned;
} cli_dump;

/**
 * Parse a dump in either format (autodetected from the first bytes: the
 * binary magic line, or '{' / '[' for JSON). Keys must be 1..FC_KEY_MAX
 * bytes. @p in is taken over (moved into @p d).
 * @return 0, or -1 with a message in @p err.
 */
int cli_dump_parse(cli_dump *d, cli_buf *in, char *err, size_t errsz);
void cli_dump_free(cli_dump *d);

/* ------------------------------------------------------ cmd_invalidate.c */

#define CLI_INVALIDATE_SYNOPSIS \
	"invalidate NAME KEY|--prefix P|--all --redis ADDR [--namespace NS]"
/**
 * `forkcache invalidate` (docs/redis.md): @p argv[0] is "invalidate".
 * Parses its own options. @return the exit code.
 */
int cli_cmd_invalidate(int argc, char **argv);

#endif /* FC_CLI_H */
