/*
 * json.c - JSON output and a small RFC 8259 parser for `restore`.
 *
 * DESIGN       Output: a byte string that is valid UTF-8 becomes a JSON
 *              string; any other becomes {"base64":"..."} (the marker
 *              object), so every key and value survives a round trip and
 *              the document stays valid JSON.
 *              Input: a recursive-descent parser into a tree. A dump is
 *              untrusted input: depth is bounded (CLI_JSON_DEPTH), every
 *              read is bounds-checked against the buffer length, and
 *              \u escapes (surrogate pairs included) decode to UTF-8.
 * LIMITS       The whole document is in memory, and its tree takes about
 *              a few times the document size.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void
json_string_raw(FILE *out, const uint8_t *p, size_t n)
{
	size_t i;

	putc('"', out);
	for (i = 0; i < n; i++) {
		uint8_t c = p[i];

		switch (c) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				fprintf(out, "\\u%04x", c);
			else
				putc(c, out);
		}
	}
	putc('"', out);
}

void
cli_json_bytes(FILE *out, const void *s, size_t n)
{
	cli_buf b = {0};

	if (cli_utf8_valid(s, n)) {
		json_string_raw(out, s, n);
		return;
	}
	cli_base64_encode(&b, s, n);
	fputs("{\"base64\":\"", out);
	fwrite(b.data, 1, b.len, out);
	fputs("\"}", out);
	cli_buf_free(&b);
}

void
cli_json_str(FILE *out, const char *s)
{
	cli_json_bytes(out, s, strlen(s));
}

/* ------------------------------------------------------------ parser -- */

struct parser {
	const char *s;
	size_t n, i;
	char *err;
	size_t errsz;
	bool failed;
};

static void
fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int len;

	if (p->failed)
		return;
	p->failed = true;
	len = snprintf(p->err, p->errsz, "JSON at byte %zu: ", p->i);
	if (len < 0 || (size_t)len >= p->errsz)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err + len, p->errsz - (size_t)len, fmt, ap);
	va_end(ap);
}

static void
skip_ws(struct parser *p)
{
	while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
		p->i++;
}

static int
peek(struct parser *p)
{
	return p->i < p->n ? (unsigned char)p->s[p->i] : -1;
}

static bool
literal(struct parser *p, const char *word)
{
	size_t len = strlen(word);

	if (p->n - p->i < len || memcmp(p->s + p->i, word, len) != 0) {
		fail(p, "invalid literal");
		return false;
	}
	p->i += len;
	return true;
}

static int
hex4(struct parser *p, uint32_t *out)
{
	uint32_t v = 0;
	size_t k;

	if (p->n - p->i < 4) {
		fail(p, "short \\u escape");
		return -1;
	}
	for (k = 0; k < 4; k++) {
		char c = p->s[p->i + k];
		int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else {
			fail(p, "bad \\u escape");
			return -1;
		}
		v = v << 4 | (uint32_t)d;
	}
	p->i += 4;
	*out = v;
	return 0;
}

static void
put_utf8(cli_buf *b, uint32_t cp)
{
	if (cp < 0x80) {
		cli_buf_putc(b, (int)cp);
	} else if (cp < 0x800) {
		cli_buf_putc(b, (int)(0xc0 | cp >> 6));
		cli_buf_putc(b, (int)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		cli_buf_putc(b, (int)(0xe0 | cp >> 12));
		cli_buf_putc(b, (int)(0x80 | ((cp >> 6) & 0x3f)));
		cli_buf_putc(b, (int)(0x80 | (cp & 0x3f)));
	} else {
		cli_buf_putc(b, (int)(0xf0 | cp >> 18));
		cli_buf_putc(b, (int)(0x80 | ((cp >> 12) & 0x3f)));
		cli_buf_putc(b, (int)(0x80 | ((cp >> 6) & 0x3f)));
		cli_buf_putc(b, (int)(0x80 | (cp & 0x3f)));
	}
}

/* Parse a string at p->i (on the opening quote) into @p b. */
static int
parse_string(struct parser *p, cli_buf *b)
{
	size_t start;

	p->i++; /* opening quote */
	for (;;) {
		start = p->i;
		while (p->i < p->n && p->s[p->i] != '"' && p->s[p->i] != '\\' &&
		       (unsigned char)p->s[p->i] >= 0x20)
			p->i++;
		cli_buf_put(b, p->s + start, p->i - start);
		if (p->i >= p->n) {
			fail(p, "unterminated string");
			return -1;
		}
		if (p->s[p->i] == '"') {
			p->i++;
			break;
		}
		if ((unsigned char)p->s[p->i] < 0x20) {
			fail(p, "control character in string");
			return -1;
		}
		/* backslash */
		p->i++;
		if (p->i >= p->n) {
			fail(p, "unterminated escape");
			return -1;
		}
		switch (p->s[p->i++]) {
		case '"':
			cli_buf_putc(b, '"');
			break;
		case '\\':
			cli_buf_putc(b, '\\');
			break;
		case '/':
			cli_buf_putc(b, '/');
			break;
		case 'b':
			cli_buf_putc(b, '\b');
			break;
		case 'f':
			cli_buf_putc(b, '\f');
			break;
		case 'n':
			cli_buf_putc(b, '\n');
			break;
		case 'r':
			cli_buf_putc(b, '\r');
			break;
		case 't':
			cli_buf_putc(b, '\t');
			break;
		case 'u': {
			uint32_t cp, lo;

			if (hex4(p, &cp) < 0)
				return -1;
			if (cp >= 0xdc00 && cp <= 0xdfff) {
				fail(p, "lone low surrogate");
				return -1;
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (p->n - p->i < 2 || p->s[p->i] != '\\' ||
				    p->s[p->i + 1] != 'u') {
					fail(p, "lone high surrogate");
					return -1;
				}
				p->i += 2;
				if (hex4(p, &lo) < 0)
					return -1;
				if (lo < 0xdc00 || lo > 0xdfff) {
					fail(p, "bad surrogate pair");
					return -1;
				}
				cp = 0x10000 + ((cp - 0xd800) << 10) +
					(lo - 0xdc00);
			}
			put_utf8(b, cp);
			break;
		}
		default:
			fail(p, "unknown escape");
			return -1;
		}
	}
	if (!cli_utf8_valid(b->data, b->len)) {
		fail(p, "string is not valid UTF-8");
		return -1;
	}
	return 0;
}

static int
parse_number(struct parser *p, cli_json *v)
{
	size_t start = p->i;

	if (peek(p) == '-')
		p->i++;
	if (peek(p) == '0') {
		p->i++;
	} else if (peek(p) >= '1' && peek(p) <= '9') {
		while (peek(p) >= '0' && peek(p) <= '9')
			p->i++;
	} else {
		fail(p, "invalid number");
		return -1;
	}
	if (peek(p) == '.') {
		p->i++;
		if (!(peek(p) >= '0' && peek(p) <= '9')) {
			fail(p, "invalid number");
			return -1;
		}
		while (peek(p) >= '0' && peek(p) <= '9')
			p->i++;
	}
	if (peek(p) == 'e' || peek(p) == 'E') {
		p->i++;
		if (peek(p) == '+' || peek(p) == '-')
			p->i++;
		if (!(peek(p) >= '0' && peek(p) <= '9')) {
			fail(p, "invalid number");
			return -1;
		}
		while (peek(p) >= '0' && peek(p) <= '9')
			p->i++;
	}
	v->type = CLI_JSON_NUMBER;
	v->len = p->i - start;
	v->text = cli_xmalloc(v->len + 1);
	memcpy(v->text, p->s + start, v->len);
	v->text[v->len] = '\0';
	return 0;
}

static void json_clear(cli_json *v);

static int
parse_value(struct parser *p, cli_json *v, unsigned depth)
{
	int c;

	memset(v, 0, sizeof *v);
	if (depth > CLI_JSON_DEPTH) {
		fail(p, "nested deeper than %d", CLI_JSON_DEPTH);
		return -1;
	}
	skip_ws(p);
	c = peek(p);
	switch (c) {
	case 'n':
		v->type = CLI_JSON_NULL;
		return literal(p, "null") ? 0 : -1;
	case 't':
		v->type = CLI_JSON_BOOL;
		v->boolean = true;
		return literal(p, "true") ? 0 : -1;
	case 'f':
		v->type = CLI_JSON_BOOL;
		return literal(p, "false") ? 0 : -1;
	case '"': {
		cli_buf b = {0};

		v->type = CLI_JSON_STRING;
		if (parse_string(p, &b) < 0) {
			cli_buf_free(&b);
			return -1;
		}
		cli_buf_putc(&b, 0); /* NUL-terminate for convenience */
		v->text = (char *)b.data;
		v->len = b.len - 1;
		return 0;
	}
	case '[':
	case '{': {
		bool obj = c == '{';
		size_t cap = 0;

		v->type = obj ? CLI_JSON_OBJECT : CLI_JSON_ARRAY;
		p->i++;
		skip_ws(p);
		if (peek(p) == (obj ? '}' : ']')) {
			p->i++;
			return 0;
		}
		for (;;) {
			if (v->count == cap) {
				cap = cap ? cap * 2 : 4;
				v->items = cli_xrealloc(v->items,
							cap * sizeof *v->items);
				if (obj) {
					v->names = cli_xrealloc(v->names,
								cap * sizeof *v->names);
					v->name_lens = cli_xrealloc(
						v->name_lens,
						cap * sizeof *v->name_lens);
				}
			}
			if (obj) {
				cli_buf b = {0};

				skip_ws(p);
				if (peek(p) != '"') {
					fail(p, "expected member name");
					return -1;
				}
				if (parse_string(p, &b) < 0) {
					cli_buf_free(&b);
					return -1;
				}
				cli_buf_putc(&b, 0);
				v->names[v->count] = (char *)b.data;
				v->name_lens[v->count] = b.len - 1;
				skip_ws(p);
				if (peek(p) != ':') {
					free(v->names[v->count]);
					fail(p, "expected ':'");
					return -1;
				}
				p->i++;
			}
			if (parse_value(p, &v->items[v->count],
					depth + 1) < 0) {
				json_clear(&v->items[v->count]);
				if (obj)
					free(v->names[v->count]);
				return -1;
			}
			v->count++;
			skip_ws(p);
			c = peek(p);
			if (c == ',') {
				p->i++;
				continue;
			}
			if (c == (obj ? '}' : ']')) {
				p->i++;
				return 0;
			}
			fail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
			return -1;
		}
	}
	default:
		if (c == '-' || (c >= '0' && c <= '9'))
			return parse_number(p, v);
		fail(p, c < 0 ? "unexpected end of input" : "unexpected character");
		return -1;
	}
}

static void
json_clear(cli_json *v)
{
	size_t k;

	for (k = 0; k < v->count; k++) {
		json_clear(&v->items[k]);
		if (v->names)
			free(v->names[k]);
	}
	free(v->items);
	free(v->names);
	free(v->name_lens);
	free(v->text);
	memset(v, 0, sizeof *v);
}

cli_json *
cli_json_parse(const char *s, size_t n, char *err, size_t errsz)
{
	struct parser p = {s, n, 0, err, errsz, false};
	cli_json *v = cli_xmalloc(sizeof *v);

	if (errsz)
		err[0] = '\0';
	if (parse_value(&p, v, 0) < 0) {
		json_clear(v);
		free(v);
		return NULL;
	}
	skip_ws(&p);
	if (p.i != p.n) {
		fail(&p, "trailing data after the document");
		json_clear(v);
		free(v);
		return NULL;
	}
	return v;
}

void
cli_json_free(cli_json *v)
{
	if (v == NULL)
		return;
	json_clear(v);
	free(v);
}

const cli_json *
cli_json_get(const cli_json *obj, const char *name)
{
	size_t k, len = strlen(name);

	if (obj == NULL || obj->type != CLI_JSON_OBJECT)
		return NULL;
	for (k = 0; k < obj->count; k++)
		if (obj->name_lens[k] == len &&
		    memcmp(obj->names[k], name, len) == 0)
			return &obj->items[k];
	return NULL;
}

int
cli_json_uint(const cli_json *v, uint64_t *out)
{
	if (v == NULL || v->type != CLI_JSON_NUMBER)
		return -1;
	return sup_parse_u64(v->text, out);
}

int
cli_json_int(const cli_json *v, int64_t *out)
{
	uint64_t u;

	if (v == NULL || v->type != CLI_JSON_NUMBER)
		return -1;
	if (v->text[0] == '-') {
		if (sup_parse_u64(v->text + 1, &u) < 0 ||
		    u > (uint64_t)INT64_MAX + 1)
			return -1;
		*out = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
		return 0;
	}
	if (sup_parse_u64(v->text, &u) < 0 || u > INT64_MAX)
		return -1;
	*out = (int64_t)u;
	return 0;
}
