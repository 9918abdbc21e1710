/*
 * fuzz_dump.c - libFuzzer target for the dump reader of `forkcache restore`
 * (tools/dump.c, tools/json.c): a dump file is untrusted input too.
 *
 * DESIGN       Parse the input as a dump (either format, autodetected). A
 *              parsed dump must hold only items the library would take
 *              (key 1..FC_KEY_MAX bytes) whose bytes lie inside buffers the
 *              parser owns; touching every byte lets ASan check that.
 *              Then write the items back in both formats and parse each
 *              again: the round trip must give the same items.
 * LIMITS       Inputs above 1 MiB are skipped (the parser is linear).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

static void
touch_bytes(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t sum = 0;
	size_t k;

	for (k = 0; k < n; k++)
		sum += b[k];
	sink += sum;
}

static void
round_trip(const cli_dump *d, bool binary)
{
	cli_dump_writer w = {NULL, binary, 0};
	cli_buf in = {0};
	cli_dump back;
	char *mem = NULL, err[256];
	size_t len = 0, k;

	w.out = open_memstream(&mem, &len);
	if (w.out == NULL)
		abort();
	cli_dump_begin(&w, "/fuzz", 1);
	for (k = 0; k < d->count; k++) {
		cli_dump_item it = d->items[k];

		/* Items read with only one TTL field carry sentinels; the
		 * writer always writes both, so normalize first. */
		if (it.expire_ms == UINT64_MAX)
			it.expire_ms = 0;
		if (it.ttl_ms == INT64_MIN)
			it.ttl_ms = -1;
		cli_dump_item_write(&w, &it);
	}
	cli_dump_end(&w);
	fclose(w.out);
	cli_buf_put(&in, mem, len);
	free(mem);
	if (cli_dump_parse(&back, &in, err, sizeof err) < 0) {
		fprintf(stderr, "round trip (%s) failed: %s\n",
			binary ? "binary" : "json", err);
		abort();
	}
	if (back.count != d->count)
		abort();
	for (k = 0; k < d->count; k++) {
		const cli_dump_item *a = &d->items[k], *b = &back.items[k];

		if (a->klen != b->klen || a->vlen != b->vlen ||
		    memcmp(a->key, b->key, a->klen) != 0 ||
		    (a->vlen && memcmp(a->value, b->value, a->vlen) != 0))
			abort();
	}
	cli_dump_free(&back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cli_buf in = {0};
	cli_dump d;
	char err[256];
	size_t k;

	if (size > (1u << 20))
		return 0;
	cli_buf_put(&in, data, size);
	if (cli_dump_parse(&d, &in, err, sizeof err) == 0) {
		for (k = 0; k < d.count; k++) {
			if (d.items[k].klen < 1 || d.items[k].klen > FC_KEY_MAX)
				abort();
			touch_bytes(d.items[k].key, d.items[k].klen);
			touch_bytes(d.items[k].value, d.items[k].vlen);
		}
		round_trip(&d, false);
		round_trip(&d, true);
	} else if (strlen(err) == 0) {
		abort(); /* every failure explains itself */
	}
	cli_dump_free(&d);
	return 0;
}
