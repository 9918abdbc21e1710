/*
 * fc_mix.c - the mixed workload shared by the multi-process and threaded
 * concurrency tests (fc_test.h, fc_mix_run).
 */
#include "fc_test.h"

#include <stdlib.h>
#include <string.h>

static void
report(fc_mix_args *a, const char *what, const char *key, size_t kl, int rc)
{
	/* print only the first few problems of a worker */
	if (a->bad_values + a->errors <= 5)
		fprintf(stderr, "mix worker %u (pid %d): %s key %.*s: %s\n",
			a->writer, (int)getpid(), what, (int)kl, key,
			fc_errname(rc));
}

static void
check_read(fc_mix_args *a, const char *key, size_t kl, const void *buf,
	   size_t len, const char *what)
{
	int bad = fc_test_value_check(buf, len, key, kl, NULL, NULL);

	if (bad != 0) {
		a->bad_values++;
		if (a->bad_values + a->errors <= 5)
			fprintf(stderr,
				"mix worker %u: %s key %.*s: torn or foreign "
				"value (reason %d, %zu bytes)\n",
				a->writer, what, (int)kl, key, bad, len);
	}
}

int
fc_mix_run(fc_mix_args *a)
{
	fc_cache *c = a->c;
	unsigned char *val = malloc(a->vmax), *buf = malloc(a->vmax);
	char key[32];
	fc_test_rng r;
	int rc;

	if (val == NULL || buf == NULL)
		return -1;
	if (a->open_own) {
		rc = fc_open(a->name, NULL, &c);
		if (rc != FC_OK) {
			report(a, "fc_open", a->name, strlen(a->name), rc);
			a->errors++;
			free(val);
			free(buf);
			return -1;
		}
	}
	fc_test_rng_init(&r, a->seed ^ ((uint64_t)a->writer << 32));
	for (unsigned i = 0; i < a->iters; i++) {
		unsigned op = (unsigned)(fc_test_rand(&r) % 100);

		if (a->flush_every &&
		    i % a->flush_every == a->flush_every - 1) {
			rc = fc_flush(c);
			if (rc != FC_OK && rc != FC_EBUSY) {
				a->errors++;
				report(a, "flush", "", 0, rc);
			}
		}
		size_t kl = fc_test_key(
			key, sizeof key,
			"mk:", (unsigned)(fc_test_rand(&r) % a->nkeys));
		size_t vl = (size_t)fc_test_rand_range(
			&r, FC_TEST_VALUE_MIN,
			fc_test_rand(&r) % 8 == 0 ? a->vmax : a->vmax / 8 + 40);
		size_t len = a->vmax;
		uint64_t cas = 0;

		if (vl > a->vmax)
			vl = a->vmax;
		if (op < 50) {
			a->gets++;
			rc = fc_get(c, key, kl, buf, &len);
			if (rc == FC_OK) {
				a->hits++;
				check_read(a, key, kl, buf, len, "get");
			} else if (rc == FC_EBUSY && a->allow_ebusy) {
				a->ebusy++;
			} else if (rc != FC_ENOTFOUND) {
				a->errors++;
				report(a, "get", key, kl, rc);
			}
		} else if (op < 80) {
			fc_test_value_make(val, vl, key, kl, a->writer, i);
			rc = fc_set(c, key, kl, val, vl, 0);
			if (rc == FC_OK) {
				a->sets++;
			} else if (rc == FC_EBUSY && a->allow_set_ebusy) {
				a->set_busy++;
			} else {
				a->errors++;
				report(a, "set", key, kl, rc);
			}
		} else if (op < 86) {
			rc = fc_delete(c, key, kl);
			if (rc == FC_OK)
				a->deletes++;
			else if (rc != FC_ENOTFOUND) {
				a->errors++;
				report(a, "delete", key, kl, rc);
			}
		} else if (op < 90) {
			fc_test_value_make(val, vl, key, kl, a->writer, i);
			rc = op % 2 ? fc_add(c, key, kl, val, vl, 0)
				    : fc_replace(c, key, kl, val, vl, 0);
			if (rc != FC_OK && rc != FC_EEXIST &&
			    rc != FC_ENOTFOUND) {
				a->errors++;
				report(a, "add/replace", key, kl, rc);
			}
		} else if (op < 99) {
			a->gets++;
			rc = fc_gets(c, key, kl, buf, &len, &cas);
			if (rc == FC_OK) {
				a->hits++;
				check_read(a, key, kl, buf, len, "gets");
				fc_test_value_make(val, vl, key, kl, a->writer,
						   i);
				rc = fc_cas(c, key, kl, val, vl, 0, cas);
				if (rc == FC_OK)
					a->cas_ok++;
				else if (rc != FC_ECAS && rc != FC_ENOTFOUND) {
					a->errors++;
					report(a, "cas", key, kl, rc);
				}
			} else if (rc == FC_EBUSY && a->allow_ebusy) {
				a->ebusy++;
			} else if (rc != FC_ENOTFOUND) {
				a->errors++;
				report(a, "gets", key, kl, rc);
			}
		} else {
			fc_iter *it = NULL;
			fc_item item;
			unsigned n = 0;

			rc = fc_iter_open(c, &it);
			if (rc != FC_OK) {
				a->errors++;
				report(a, "iter_open", key, kl, rc);
				continue;
			}
			while (n < 32 &&
			       (rc = fc_iter_next(it, &item)) == FC_OK) {
				if (item.klen > 0 && item.klen < sizeof key) {
					check_read(a, (const char *)item.key,
						   item.klen, item.value,
						   item.vlen, "iter");
				} else {
					a->bad_values++;
				}
				n++;
			}
			if (rc == FC_EBUSY && a->allow_ebusy) {
				a->ebusy++;
			} else if (rc != FC_OK && rc != FC_ENOTFOUND) {
				a->errors++;
				report(a, "iter_next", key, kl, rc);
			}
			a->iter_items += n;
			fc_iter_close(it);
		}
	}
	if (a->open_own) {
		rc = fc_close(c);
		if (rc != FC_OK) {
			a->errors++;
			report(a, "fc_close", a->name, strlen(a->name), rc);
		}
	}
	free(val);
	free(buf);
	return a->bad_values == 0 && a->errors == 0 ? 0 : 1;
}

int
fc_mix_count(fc_cache *c, const char *key, unsigned n)
{
	size_t kl = strlen(key);

	for (unsigned i = 0; i < n; i++) {
		int rc;

		if (i % 2 == 0) {
			rc = fc_incr(c, key, kl, 1, NULL);
			if (rc != FC_OK) {
				fprintf(stderr, "count: incr %s = %s\n", key,
					fc_errname(rc));
				return -1;
			}
			continue;
		}
		for (unsigned tries = 0;; tries++) {
			char buf[32], out[32];
			size_t len = sizeof buf - 1;
			uint64_t cas = 0, v;
			int ol;

			rc = fc_gets(c, key, kl, buf, &len, &cas);
			if (rc != FC_OK) {
				fprintf(stderr, "count: gets %s = %s\n", key,
					fc_errname(rc));
				return -1;
			}
			buf[len] = '\0';
			v = strtoull(buf, NULL, 10);
			ol = snprintf(out, sizeof out, "%llu",
				      (unsigned long long)v + 1);
			rc = fc_cas(c, key, kl, out, (size_t)ol, 0, cas);
			if (rc == FC_OK)
				break;
			if (rc != FC_ECAS || tries > 1000000) {
				fprintf(stderr, "count: cas %s = %s\n", key,
					fc_errname(rc));
				return -1;
			}
		}
	}
	return 0;
}
