/*
 * text.c - byte-string helpers of the forkcache CLI: buffers, escaping,
 * UTF-8, base64, globs, number and size parsing, human units.
 *
 * DESIGN       Keys and values are arbitrary bytes. Text output must stay one
 *              item per line and must not let a value drive the terminal, so
 *              cli_escape() passes only printable ASCII and printable UTF-8
 *              and writes everything else as "\xHH"; cli_unescape() and the
 *              glob matcher accept the same escapes, so a key printed by
 *              `keys` can be given back to `get --escaped` or `--pattern`.
 * LIMITS       Glob matching is O(pattern * key) with no recursion.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void *
cli_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL) {
		fputs("forkcache: out of memory\n", stderr);
		exit(1);
	}
	return p;
}

void *
cli_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL) {
		fputs("forkcache: out of memory\n", stderr);
		exit(1);
	}
	return q;
}

void
cli_buf_put(cli_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 64;

		while (cap - b->len < n) {
			if (cap > SIZE_MAX / 2) {
				fputs("forkcache: out of memory\n", stderr);
				exit(1);
			}
			cap *= 2;
		}
		b->data = cli_xrealloc(b->data, cap);
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void
cli_buf_putc(cli_buf *b, int ch)
{
	uint8_t c = (uint8_t)ch;

	cli_buf_put(b, &c, 1);
}

void
cli_buf_free(cli_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int
cli_buf_read_all(cli_buf *b, FILE *f)
{
	char chunk[65536];
	size_t n;

	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		cli_buf_put(b, chunk, n);
	return ferror(f) ? -1 : 0;
}

/* Length of the valid UTF-8 sequence at @p s (1..4), or 0 if invalid. Sets
 * *cp to the code point. */
static size_t
utf8_seq(const uint8_t *s, size_t n, uint32_t *cp)
{
	uint32_t c;
	size_t len, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

bool
cli_utf8_valid(const void *s, size_t n)
{
	const uint8_t *p = s;
	size_t i = 0;
	uint32_t cp;

	while (i < n) {
		size_t len = utf8_seq(p + i, n - i, &cp);

		if (len == 0)
			return false;
		i += len;
	}
	return true;
}

void
cli_escape(FILE *out, const void *s, size_t n)
{
	const uint8_t *p = s;
	size_t i = 0;

	while (i < n) {
		uint8_t c = p[i];
		uint32_t cp;
		size_t len;

		if (c == '\\') {
			fputs("\\\\", out);
		} else if (c == '\n') {
			fputs("\\n", out);
		} else if (c == '\r') {
			fputs("\\r", out);
		} else if (c == '\t') {
			fputs("\\t", out);
		} else if (c >= 0x20 && c < 0x7f) {
			putc(c, out);
		} else if (c >= 0x80 &&
			   (len = utf8_seq(p + i, n - i, &cp)) > 1 &&
			   cp >= 0xa0) {
			fwrite(p + i, 1, len, out);
			i += len;
			continue;
		} else {
			fprintf(out, "\\x%02x", c);
		}
		i++;
	}
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode the escape at s (s[0] == '\\'): store the byte in *out and return
 * the characters consumed, or 0 if malformed. */
static size_t
unescape_one(const char *s, uint8_t *out)
{
	int h, l;

	switch (s[1]) {
	case '\\':
		*out = '\\';
		return 2;
	case 'n':
		*out = '\n';
		return 2;
	case 'r':
		*out = '\r';
		return 2;
	case 't':
		*out = '\t';
		return 2;
	case '0':
		*out = 0;
		return 2;
	case 'x':
		if ((h = hexval(s[2])) < 0 || (l = hexval(s[3])) < 0)
			return 0;
		*out = (uint8_t)(h << 4 | l);
		return 4;
	default:
		return 0;
	}
}

int
cli_unescape(const char *s, cli_buf *out)
{
	while (*s) {
		if (*s == '\\') {
			uint8_t c;
			size_t used = unescape_one(s, &c);

			if (used == 0)
				return -1;
			cli_buf_putc(out, c);
			s += used;
		} else {
			cli_buf_putc(out, *s++);
		}
	}
	return 0;
}

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void
cli_base64_encode(cli_buf *out, const void *s, size_t n)
{
	const uint8_t *p = s;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 |
			p[i + 2];
		char q[4] = {b64[v >> 18], b64[(v >> 12) & 63],
			     b64[(v >> 6) & 63], b64[v & 63]};

		cli_buf_put(out, q, 4);
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		char q[4] = {b64[v >> 18], b64[(v >> 12) & 63], '=', '='};

		cli_buf_put(out, q, 4);
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		char q[4] = {b64[v >> 18], b64[(v >> 12) & 63],
			     b64[(v >> 6) & 63], '='};

		cli_buf_put(out, q, 4);
	}
}

static int
b64val(int c)
{
	const char *p;

	if (c == 0 || (p = strchr(b64, c)) == NULL)
		return -1;
	return (int)(p - b64);
}

int
cli_base64_decode(cli_buf *out, const char *s, size_t n)
{
	size_t i;

	if (n % 4 != 0)
		return -1;
	for (i = 0; i < n; i += 4) {
		int a = b64val(s[i]), b = b64val(s[i + 1]);
		int c = s[i + 2] == '=' ? -2 : b64val(s[i + 2]);
		int d = s[i + 3] == '=' ? -2 : b64val(s[i + 3]);
		uint32_t v;

		if (a < 0 || b < 0 || c == -1 || d == -1)
			return -1;
		if ((c == -2 || d == -2) && i + 4 != n)
			return -1; /* padding only at the end */
		if (c == -2 && d != -2)
			return -1;
		v = (uint32_t)a << 18 | (uint32_t)b << 12;
		if (c == -2) {
			if (v & 0xffff)
				return -1;
			cli_buf_putc(out, (int)(v >> 16));
			continue;
		}
		v |= (uint32_t)c << 6;
		if (d == -2) {
			if (v & 0xff)
				return -1;
			cli_buf_putc(out, (int)(v >> 16));
			cli_buf_putc(out, (int)((v >> 8) & 0xff));
			continue;
		}
		v |= (uint32_t)d;
		cli_buf_putc(out, (int)(v >> 16));
		cli_buf_putc(out, (int)((v >> 8) & 0xff));
		cli_buf_putc(out, (int)(v & 0xff));
	}
	return 0;
}

/*
 * Match one pattern element at pat[*pi] against byte c; advance *pi past
 * the element. Elements: '?', "[set]", "\escape", a literal byte.
 */
static bool
glob_one(const char *pat, size_t *pi, uint8_t c)
{
	size_t i = *pi;
	uint8_t lit;
	size_t used;

	if (pat[i] == '?') {
		*pi = i + 1;
		return true;
	}
	if (pat[i] == '[') {
		size_t j = i + 1;
		bool neg = false, match = false, first = true;

		if (pat[j] == '!' || pat[j] == '^') {
			neg = true;
			j++;
		}
		for (;; first = false) {
			uint8_t lo, hi;

			if (pat[j] == '\0')
				goto literal; /* no ']': '[' is literal */
			if (pat[j] == ']' && !first)
				break;
			if (pat[j] == '\\') {
				if ((used = unescape_one(pat + j, &lo)) == 0) {
					if (pat[j + 1] == '\0')
						goto literal;
					lo = (uint8_t)pat[j + 1];
					used = 2;
				}
				j += used;
			} else {
				lo = (uint8_t)pat[j++];
			}
			hi = lo;
			if (pat[j] == '-' && pat[j + 1] != ']' &&
			    pat[j + 1] != '\0') {
				j++;
				if (pat[j] == '\\') {
					used = unescape_one(pat + j, &hi);
					if (used == 0) {
						if (pat[j + 1] == '\0')
							goto literal;
						hi = (uint8_t)pat[j + 1];
						used = 2;
					}
					j += used;
				} else {
					hi = (uint8_t)pat[j++];
				}
			}
			if (c >= lo && c <= hi)
				match = true;
		}
		*pi = j + 1;
		return match != neg;
	}
	if (pat[i] == '\\' && pat[i + 1] != '\0') {
		if ((used = unescape_one(pat + i, &lit)) == 0) {
			lit = (uint8_t)pat[i + 1]; /* "\*" -> '*' */
			used = 2;
		}
		*pi = i + used;
		return c == lit;
	}
literal:
	*pi = i + 1;
	return c == (uint8_t)pat[i];
}

bool
cli_glob_match(const char *pat, const void *key, size_t klen)
{
	const uint8_t *k = key;
	size_t p = 0, s = 0, star_p = 0, star_s = 0;
	bool star = false;

	while (s < klen) {
		size_t np = p;

		if (pat[p] == '*') {
			while (pat[p] == '*')
				p++;
			star = true;
			star_p = p;
			star_s = s;
			continue;
		}
		if (pat[p] != '\0' && glob_one(pat, &np, k[s])) {
			p = np;
			s++;
			continue;
		}
		if (!star)
			return false;
		/* Backtrack: let the last '*' swallow one more byte. */
		p = star_p;
		s = ++star_s;
	}
	while (pat[p] == '*')
		p++;
	return pat[p] == '\0';
}

int
cli_parse_seconds_ms(const char *s, uint64_t *out_ms)
{
	uint64_t whole = 0, frac = 0, scale = 1000;
	const char *p = s;

	if ((*p < '0' || *p > '9') && *p != '.')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (whole > 100000000ull)
			return -1;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		p++;
		if ((*p < '0' || *p > '9') && p - s == 1)
			return -1; /* "." alone */
		for (; *p >= '0' && *p <= '9'; p++) {
			if (scale > 1) {
				scale /= 10;
				frac += (uint64_t)(*p - '0') * scale;
			}
		}
	}
	if (*p != '\0')
		return -1;
	*out_ms = whole * 1000 + frac;
	return 0;
}

const char *
cli_human_bytes(uint64_t bytes, char *buf, size_t bufsz)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB",
					   "PiB", "EiB"};
	double v = (double)bytes;
	unsigned u = 0;

	if (bytes < 1024) {
		snprintf(buf, bufsz, "%llu B", (unsigned long long)bytes);
		return buf;
	}
	while (v >= 1024.0 && u < 6) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, bufsz, "%.1f %s", v, unit[u]);
	return buf;
}

const char *
cli_human_ms(uint64_t ms, char *buf, size_t bufsz)
{
	if (ms < 1000)
		snprintf(buf, bufsz, "%llu ms", (unsigned long long)ms);
	else if (ms < 60000)
		snprintf(buf, bufsz, "%.1f s", (double)ms / 1000.0);
	else if (ms < 3600000)
		snprintf(buf, bufsz, "%llu min %llu s",
			 (unsigned long long)(ms / 60000),
			 (unsigned long long)(ms / 1000 % 60));
	else if (ms < 86400000ull)
		snprintf(buf, bufsz, "%llu h %llu min",
			 (unsigned long long)(ms / 3600000),
			 (unsigned long long)(ms / 60000 % 60));
	else
		snprintf(buf, bufsz, "%llu d %llu h",
			 (unsigned long long)(ms / 86400000ull),
			 (unsigned long long)(ms / 3600000 % 24));
	return buf;
}
