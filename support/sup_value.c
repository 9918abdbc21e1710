/*
 * support/sup_value.c - see sup_value.h.
 */
#include <stdlib.h>
#include <string.h>

#include "sup_rng.h"
#include "sup_value.h"

#define VALUE_MAGIC 0x56544346u /* "FCTV" */

enum {
	V_MAGIC = 0,
	V_WRITER = 4,
	V_SEQ = 8,
	V_LEN = 16,
	V_KEY = 20,
	V_SUM = 28,
	V_PAYLOAD = 36
};

_Static_assert(V_PAYLOAD == SUP_VALUE_MIN, "header length");

uint64_t
sup_fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t
value_sum(const unsigned char *v, size_t len)
{
	uint64_t h = sup_fnv1a(SUP_FNV_OFFSET, v, V_SUM);

	return sup_fnv1a(h, v + V_PAYLOAD, len - V_PAYLOAD);
}

void
sup_value_make(void *buf, size_t len, const void *key, size_t klen,
	       uint32_t writer, uint64_t seq)
{
	unsigned char *v = buf;
	uint32_t magic = VALUE_MAGIC, len32 = (uint32_t)len;
	uint64_t kh = sup_fnv1a(SUP_FNV_OFFSET, key, klen), sum;
	uint64_t s = (kh ^ seq ^ ((uint64_t)writer << 40)) ^ 0x9e3779b97f4a7c15ull;
	size_t i;

	if (len < SUP_VALUE_MIN)
		abort();
	memcpy(v + V_MAGIC, &magic, 4);
	memcpy(v + V_WRITER, &writer, 4);
	memcpy(v + V_SEQ, &seq, 8);
	memcpy(v + V_LEN, &len32, 4);
	memcpy(v + V_KEY, &kh, 8);
	for (i = V_PAYLOAD; i + 8 <= len; i += 8) {
		uint64_t x = sup_splitmix64(&s);
		memcpy(v + i, &x, 8);
	}
	if (i < len) {
		uint64_t x = sup_splitmix64(&s);
		memcpy(v + i, &x, len - i);
	}
	sum = value_sum(v, len);
	memcpy(v + V_SUM, &sum, 8);
}

int
sup_value_check(const void *val, size_t vlen, const void *key, size_t klen,
		uint32_t *writer, uint64_t *seq)
{
	const unsigned char *v = val;
	uint32_t magic, len32;
	uint64_t kh, sum;

	if (vlen < SUP_VALUE_MIN)
		return 1;
	memcpy(&magic, v + V_MAGIC, 4);
	if (magic != VALUE_MAGIC)
		return 2;
	memcpy(&len32, v + V_LEN, 4);
	if (len32 != vlen)
		return 3;
	memcpy(&kh, v + V_KEY, 8);
	if (kh != sup_fnv1a(SUP_FNV_OFFSET, key, klen))
		return 4;
	memcpy(&sum, v + V_SUM, 8);
	if (sum != value_sum(v, vlen))
		return 5;
	if (writer != NULL)
		memcpy(writer, v + V_WRITER, 4);
	if (seq != NULL)
		memcpy(seq, v + V_SEQ, 8);
	return 0;
}
