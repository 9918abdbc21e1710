/*
 * test_parse.c - white-box tests of libforkcache-redis's parsers
 * (redis_internal.h): Redis addresses and invalidation messages. The
 * messages come from the network, so every malformed form must be refused
 * with a reason, never misread.
 */
#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "redis_internal.h"

static void
addresses_parse_to_unix_or_tcp(void **state)
{
	struct fc__redis_addr a;
	char buf[300];

	(void)state;
	assert_int_equal(fc__redis_addr_parse("unix:/run/r.sock", &a), 0);
	assert_true(a.is_unix);
	assert_string_equal(a.path, "/run/r.sock");
	assert_int_equal(fc__redis_addr_parse("unix:///run/r.sock", &a), 0);
	assert_string_equal(a.path, "/run/r.sock");
	assert_int_equal(fc__redis_addr_parse("127.0.0.1:6379", &a), 0);
	assert_false(a.is_unix);
	assert_string_equal(a.host, "127.0.0.1");
	assert_int_equal(a.port, 6379);
	assert_int_equal(fc__redis_addr_parse("redis://cache.lan:7000/", &a),
			 0);
	assert_string_equal(a.host, "cache.lan");
	assert_int_equal(a.port, 7000);
	assert_int_equal(fc__redis_addr_parse("[::1]:6380", &a), 0);
	assert_string_equal(a.host, "::1");
	assert_int_equal(a.port, 6380);
	assert_string_equal(fc__redis_addr_str(&a, buf, sizeof buf),
			    "[::1]:6380");
}

static void
bad_addresses_are_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"unix:",
		"localhost",
		"localhost:",
		":6379",
		"h:0",
		"h:65536",
		"h:63x",
		"h:-1",
		"[::1]6379",
		"[::1",
		"h:6379/0",
		"redis://",
		"h: 1",
	};
	struct fc__redis_addr a;
	char longpath[200];

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (fc__redis_addr_parse(bad[i], &a) == 0)
			fail_msg("accepted bad address '%s'", bad[i]);
	memset(longpath, 'p', sizeof longpath - 1);
	longpath[sizeof longpath - 1] = '\0';
	memcpy(longpath, "unix:/", 6);
	assert_int_equal(fc__redis_addr_parse(longpath, &a), -1);
	assert_int_equal(fc__redis_addr_parse(NULL, &a), -1);
}

static void
messages_parse_with_binary_keys(void **state)
{
	struct fc__redis_msg m;
	const char *why = NULL;
	static const char key[] = "7 key a\0b c";

	(void)state;
	assert_int_equal(fc__redis_msg_parse(key, sizeof key - 1, &m, &why),
			 0);
	assert_int_equal(m.seq, 7);
	assert_int_equal(m.op, FC__REDIS_KEY);
	assert_int_equal(m.alen, 5);
	assert_memory_equal(m.arg, "a\0b c", 5);
	assert_int_equal(fc__redis_msg_parse("9223372036854775807 prefix p",
					     28, &m, &why),
			 0);
	assert_int_equal(m.seq, INT64_MAX);
	assert_int_equal(m.op, FC__REDIS_PREFIX);
	assert_int_equal(fc__redis_msg_parse("12 all", 6, &m, &why), 0);
	assert_int_equal(m.op, FC__REDIS_ALL);
	assert_null(m.arg);
}

static void
malformed_messages_are_refused_with_a_reason(void **state)
{
	static const struct {
		const char *s;
		size_t n;
	} bad[] = {
		{"", 0},
		{"7", 1},
		{"7 ", 2},
		{" 7 key k", 8},
		{"0 key k", 7},
		{"07 key k", 8},
		{"-7 key k", 8},
		{"9223372036854775808 key k", 25},
		{"99999999999999999999 key k", 26},
		{"7x key k", 8},
		{"7 key", 5},
		{"7 key ", 6},
		{"7 prefix ", 9},
		{"7 all ", 6},
		{"7 all x", 7},
		{"7 KEY k", 7},
		{"7 keys k", 8},
		{"7\0key k", 7},
	};
	char big[6 + FC_KEY_MAX + 1];
	struct fc__redis_msg m;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *why = NULL;

		if (fc__redis_msg_parse(bad[i].s, bad[i].n, &m, &why) == 0)
			fail_msg("accepted malformed message #%zu", i);
		assert_non_null(why);
	}
	memcpy(big, "7 key ", 6);
	memset(big + 6, 'k', FC_KEY_MAX + 1);
	const char *why = NULL;

	assert_int_equal(fc__redis_msg_parse(big, sizeof big, &m, &why), -1);
	assert_int_equal(fc__redis_msg_parse(big, sizeof big - 1, &m, &why),
			 0); /* exactly FC_KEY_MAX: fine */
}

static void
namespaces_are_1_to_200_bytes(void **state)
{
	char ns[FC_REDIS_NS_MAX + 2];

	(void)state;
	assert_false(fc__redis_ns_valid(NULL));
	assert_false(fc__redis_ns_valid(""));
	memset(ns, 'n', sizeof ns - 1);
	ns[sizeof ns - 1] = '\0';
	assert_false(fc__redis_ns_valid(ns));
	ns[FC_REDIS_NS_MAX] = '\0';
	assert_true(fc__redis_ns_valid(ns));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(addresses_parse_to_unix_or_tcp),
		cmocka_unit_test(bad_addresses_are_refused),
		cmocka_unit_test(messages_parse_with_binary_keys),
		cmocka_unit_test(malformed_messages_are_refused_with_a_reason),
		cmocka_unit_test(namespaces_are_1_to_200_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
