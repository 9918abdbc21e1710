/*
 * support/sup_value.h - self-checking values: a value that says whose it is, so
 * a reader can tell a whole value of the right key from a torn, stale-layout
 * or foreign one without knowing what was written.
 *
 * DESIGN       Layout (byte offsets; fields copied with memcpy, so any
 *              alignment): magic u32 "FCTV", writer u32, seq u64, total
 *              length u32, FNV-1a hash of the key u64, checksum u64 (FNV-1a
 *              over every other byte), then a payload drawn from splitmix64
 *              seeded by key hash, seq and writer. Any change of one byte,
 *              of the length, or a value of another key fails the check.
 *              Used by the tests' concurrency and crash checks, the lease
 *              stress and anything else that must prove "one value from one
 *              write, never a mix".
 */
#ifndef FC_SUPPORT_VALUE_H
#define FC_SUPPORT_VALUE_H

#include <stddef.h>
#include <stdint.h>

/* The shortest self-checking value (header only, no payload). */
#define SUP_VALUE_MIN 36u

/* Fill @p buf (@p len >= SUP_VALUE_MIN bytes) with the value of @p key
 * written by @p writer as its @p seq-th write. */
void sup_value_make(void *buf, size_t len, const void *key, size_t klen,
		    uint32_t writer, uint64_t seq);

/* 0 if @p val is a whole value of @p key (then *writer and *seq, when not
 * NULL, receive its writer and seq); else why not: 1 too short, 2 bad
 * magic, 3 length differs, 4 another key's, 5 checksum. */
int sup_value_check(const void *val, size_t vlen, const void *key,
		    size_t klen, uint32_t *writer, uint64_t *seq);

/* FNV-1a of @p n bytes continuing from @p h (start: SUP_FNV_OFFSET). */
#define SUP_FNV_OFFSET 0xcbf29ce484222325ull
uint64_t sup_fnv1a(uint64_t h, const void *p, size_t n);

#endif /* FC_SUPPORT_VALUE_H */
