/*
 * dump.c - the two dump formats of `forkcache dump` and `restore`.
 *
 * DESIGN       JSON (default): one object,
 *                {"format":"forkcache-dump","version":1,"segment":"/x",
 *                 "dumped_ms":N,"items":[ITEM,...],"count":N}
 *              with one ITEM per line:
 *                {"key":K,"value":V,"ttl_ms":T,"expire_ms":E,"cas":C}
 *              K and V are JSON strings, or {"base64":"..."} when the bytes
 *              are not UTF-8. ttl_ms is the TTL left when dumped (-1 =
 *              never), expire_ms the absolute CLOCK_REALTIME expiry (0 =
 *              never). `restore` also takes a bare array of ITEMs, and an
 *              ITEM with only one of ttl_ms / expire_ms.
 *
 *              Binary (--binary): the magic line CLI_DUMP_MAGIC, then per
 *              item, little-endian:
 *                u32 klen (1..250)  u32 vlen  u64 expire_ms  i64 ttl_ms
 *                u64 cas  key[klen]  value[vlen]
 *              and an end record: u32 0, u64 item count. Nothing may follow.
 *              The end record tells a complete dump from a cut one.
 *
 *              Reading parses and checks every item before `restore`
 *              stores any, so a malformed dump changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "cli.h"

#define BIN_REC_HDR 32u /* klen, vlen, expire_ms, ttl_ms, cas */

static void
put_le(FILE *out, uint64_t v, unsigned bytes)
{
	unsigned k;

	for (k = 0; k < bytes; k++)
		putc((int)((v >> (8 * k)) & 0xff), out);
}

static uint64_t
get_le(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;
	unsigned k;

	for (k = bytes; k-- > 0;)
		v = v << 8 | p[k];
	return v;
}

void
cli_dump_begin(cli_dump_writer *w, const char *segment, uint64_t now_ms)
{
	w->count = 0;
	if (w->binary) {
		fputs(CLI_DUMP_MAGIC, w->out);
		return;
	}
	fprintf(w->out, "{\"format\":\"%s\",\"version\":%d,\"segment\":",
		CLI_DUMP_FORMAT, CLI_DUMP_VERSION);
	cli_json_str(w->out, segment);
	fprintf(w->out, ",\"dumped_ms\":%llu,\n\"items\":[",
		(unsigned long long)now_ms);
}

void
cli_dump_item_write(cli_dump_writer *w, const cli_dump_item *it)
{
	if (w->binary) {
		put_le(w->out, it->klen, 4);
		put_le(w->out, it->vlen, 4);
		put_le(w->out, it->expire_ms, 8);
		put_le(w->out, (uint64_t)it->ttl_ms, 8);
		put_le(w->out, it->cas, 8);
		fwrite(it->key, 1, it->klen, w->out);
		fwrite(it->value, 1, it->vlen, w->out);
	} else {
		fputs(w->count ? ",\n{\"key\":" : "\n{\"key\":", w->out);
		cli_json_bytes(w->out, it->key, it->klen);
		fputs(",\"value\":", w->out);
		cli_json_bytes(w->out, it->value, it->vlen);
		fprintf(w->out, ",\"ttl_ms\":%lld,\"expire_ms\":%llu,"
				"\"cas\":%llu}",
			(long long)it->ttl_ms,
			(unsigned long long)it->expire_ms,
			(unsigned long long)it->cas);
	}
	w->count++;
}

void
cli_dump_end(cli_dump_writer *w)
{
	if (w->binary) {
		put_le(w->out, 0, 4);
		put_le(w->out, w->count, 8);
		return;
	}
	fprintf(w->out, "\n],\n\"count\":%llu}\n",
		(unsigned long long)w->count);
}

/* --------------------------------------------------------------- read -- */

static void
add_item(cli_dump *d, size_t *cap, const cli_dump_item *it)
{
	if (d->count == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		d->items = cli_xrealloc(d->items, *cap * sizeof *d->items);
	}
	d->items[d->count++] = *it;
}

static int
parse_binary(cli_dump *d, char *err, size_t errsz)
{
	const uint8_t *p = d->bytes.data;
	size_t n = d->bytes.len, i = strlen(CLI_DUMP_MAGIC), cap = 0;

	for (;;) {
		cli_dump_item it;
		uint64_t klen, vlen;

		if (n - i < 4)
			goto cut;
		klen = get_le(p + i, 4);
		if (klen == 0) {
			uint64_t count;

			if (n - i < 12)
				goto cut;
			count = get_le(p + i + 4, 8);
			if (count != d->count) {
				snprintf(err, errsz, "binary dump: end record "
						     "says %llu items, found %zu",
					 (unsigned long long)count, d->count);
				return -1;
			}
			if (n - i != 12) {
				snprintf(err, errsz, "binary dump: %zu bytes "
						     "after the end record",
					 n - i - 12);
				return -1;
			}
			return 0;
		}
		if (n - i < BIN_REC_HDR)
			goto cut;
		vlen = get_le(p + i + 4, 4);
		if (klen > FC_KEY_MAX) {
			snprintf(err, errsz, "binary dump: item %zu at byte "
					     "%zu: key length %llu exceeds %d",
				 d->count, i,
				 (unsigned long long)klen, FC_KEY_MAX);
			return -1;
		}
		it.klen = (size_t)klen;
		it.vlen = (size_t)vlen;
		it.expire_ms = get_le(p + i + 8, 8);
		it.ttl_ms = (int64_t)get_le(p + i + 16, 8);
		it.cas = get_le(p + i + 24, 8);
		if (it.ttl_ms < -1) {
			snprintf(err, errsz, "binary dump: item %zu at byte "
					     "%zu: ttl_ms %lld below -1",
				 d->count, i,
				 (long long)it.ttl_ms);
			return -1;
		}
		i += BIN_REC_HDR;
		if (n - i < it.klen || n - i - it.klen < it.vlen)
			goto cut;
		it.key = p + i;
		it.value = p + i + it.klen;
		i += it.klen + it.vlen;
		add_item(d, &cap, &it);
	}
cut:
	snprintf(err, errsz, "binary dump: cut short at byte %zu after %zu "
			     "items (no end record)",
		 i, d->count);
	return -1;
}

/* A key or value: a JSON string or {"base64":"..."}. */
static int
json_bytes(cli_dump *d, const cli_json *v, const void **out, size_t *len)
{
	const cli_json *b64;
	cli_buf b = {0};

	if (v == NULL)
		return -1;
	if (v->type == CLI_JSON_STRING) {
		*out = v->text;
		*len = v->len;
		return 0;
	}
	if (v->type != CLI_JSON_OBJECT || v->count != 1 ||
	    (b64 = cli_json_get(v, "base64")) == NULL ||
	    b64->type != CLI_JSON_STRING)
		return -1;
	if (cli_base64_decode(&b, b64->text, b64->len) < 0) {
		cli_buf_free(&b);
		return -1;
	}
	d->owned = cli_xrealloc(d->owned, (d->nowned + 1) * sizeof *d->owned);
	if (b.data == NULL)
		b.data = cli_xmalloc(1);
	d->owned[d->nowned++] = b.data;
	*out = b.data;
	*len = b.len;
	return 0;
}

static int
parse_json(cli_dump *d, char *err, size_t errsz)
{
	const cli_json *items = d->json, *f;
	size_t k, cap = 0;

	if (d->json->type == CLI_JSON_OBJECT) {
		uint64_t version;

		f = cli_json_get(d->json, "format");
		if (f == NULL || f->type != CLI_JSON_STRING ||
		    strcmp(f->text, CLI_DUMP_FORMAT) != 0) {
			snprintf(err, errsz, "JSON dump: \"format\" is not "
					     "\"%s\"",
				 CLI_DUMP_FORMAT);
			return -1;
		}
		f = cli_json_get(d->json, "version");
		if (cli_json_uint(f, &version) < 0 ||
		    version != CLI_DUMP_VERSION) {
			snprintf(err, errsz, "JSON dump: unsupported "
					     "\"version\" (this forkcache reads %d)",
				 CLI_DUMP_VERSION);
			return -1;
		}
		items = cli_json_get(d->json, "items");
	}
	if (items == NULL || items->type != CLI_JSON_ARRAY) {
		snprintf(err, errsz, "JSON dump: no \"items\" array");
		return -1;
	}
	for (k = 0; k < items->count; k++) {
		const cli_json *o = &items->items[k];
		cli_dump_item it = {0};
		bool has_ttl, has_exp;

		if (o->type != CLI_JSON_OBJECT) {
			snprintf(err, errsz, "JSON dump: item %zu is not an "
					     "object",
				 k);
			return -1;
		}
		if (json_bytes(d, cli_json_get(o, "key"), &it.key,
			       &it.klen) < 0 ||
		    it.klen < 1 || it.klen > FC_KEY_MAX) {
			snprintf(err, errsz, "JSON dump: item %zu: \"key\" "
					     "must be a string or {\"base64\":...} of "
					     "1..%d bytes",
				 k, FC_KEY_MAX);
			return -1;
		}
		if (json_bytes(d, cli_json_get(o, "value"), &it.value,
			       &it.vlen) < 0) {
			snprintf(err, errsz, "JSON dump: item %zu: \"value\" "
					     "must be a string or {\"base64\":...}",
				 k);
			return -1;
		}
		f = cli_json_get(o, "ttl_ms");
		has_ttl = f != NULL && f->type != CLI_JSON_NULL;
		if (has_ttl && (cli_json_int(f, &it.ttl_ms) < 0 || it.ttl_ms < -1)) {
			snprintf(err, errsz, "JSON dump: item %zu: \"ttl_ms\" "
					     "must be an integer >= -1",
				 k);
			return -1;
		}
		f = cli_json_get(o, "expire_ms");
		has_exp = f != NULL && f->type != CLI_JSON_NULL;
		if (has_exp && cli_json_uint(f, &it.expire_ms) < 0) {
			snprintf(err, errsz, "JSON dump: item %zu: "
					     "\"expire_ms\" must be an unsigned integer",
				 k);
			return -1;
		}
		/* Only one given: derive the other (see restore). */
		if (!has_ttl)
			it.ttl_ms = has_exp && it.expire_ms ? INT64_MIN : -1;
		if (!has_exp)
			it.expire_ms = UINT64_MAX; /* "use ttl_ms" */
		f = cli_json_get(o, "cas");
		if (f != NULL)
			(void)cli_json_uint(f, &it.cas);
		add_item(d, &cap, &it);
	}
	return 0;
}

int
cli_dump_parse(cli_dump *d, cli_buf *in, char *err, size_t errsz)
{
	size_t i = 0, magic = strlen(CLI_DUMP_MAGIC);

	memset(d, 0, sizeof *d);
	d->bytes = *in;
	memset(in, 0, sizeof *in);
	if (d->bytes.len >= magic &&
	    memcmp(d->bytes.data, CLI_DUMP_MAGIC, magic) == 0) {
		d->binary = true;
		return parse_binary(d, err, errsz);
	}
	while (i < d->bytes.len && (d->bytes.data[i] == ' ' || d->bytes.data[i] == '\n' || d->bytes.data[i] == '\r' || d->bytes.data[i] == '\t'))
		i++;
	if (i == d->bytes.len ||
	    (d->bytes.data[i] != '{' && d->bytes.data[i] != '[')) {
		snprintf(err, errsz, "not a forkcache dump (neither the binary "
				     "magic line nor JSON)");
		return -1;
	}
	d->json = cli_json_parse((const char *)d->bytes.data, d->bytes.len,
				 err, errsz);
	if (d->json == NULL)
		return -1;
	return parse_json(d, err, errsz);
}

void
cli_dump_free(cli_dump *d)
{
	size_t k;

	for (k = 0; k < d->nowned; k++)
		free(d->owned[k]);
	free(d->owned);
	free(d->items);
	cli_json_free(d->json);
	cli_buf_free(&d->bytes);
	memset(d, 0, sizeof *d);
}
