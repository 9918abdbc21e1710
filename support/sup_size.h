/*
 * support/sup_size.h - numbers on command lines: "64M", "1GiB", "4096".
 *
 * DESIGN       One grammar for every tool: decimal digits only (no sign, no
 *              space, no hex), then an optional binary suffix K, M, G or T
 *              (either case; 2^10 .. 2^40), optionally followed by "iB", or
 *              a bare "B". Overflow of 64 bits is an error, never a wrap.
 */
#ifndef FC_SUPPORT_SIZE_H
#define FC_SUPPORT_SIZE_H

#include <stdint.h>

/* Parse @p s as a size; 0 and *out set, or -1 (bad text or overflow). */
int sup_parse_size(const char *s, uint64_t *out);

/* As sup_parse_size, and -1 also if the value exceeds @p max. */
int sup_parse_size_max(const char *s, uint64_t max, uint64_t *out);

/* Parse a plain unsigned decimal (no suffix); 0 and *out set, or -1. */
int sup_parse_u64(const char *s, uint64_t *out);

#endif /* FC_SUPPORT_SIZE_H */
