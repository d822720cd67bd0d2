/* Handshakes by source address: IPv4 addresses and IPv6 /64s as keys, and a table that finds,
 * grows and forgets them. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

#include "addr_table.h"

/* The key of the numeric address text (IPv4 or IPv6). */
static struct addr_key key_of(const char *text)
{
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
	struct sockaddr_in a4 = {.sin_family = AF_INET};
	struct addr_key k;

	if (inet_pton(AF_INET, text, &a4.sin_addr) == 1) {
		addr_key_from(&k, (struct sockaddr *)&a4);
	} else {
		cr_assert_eq(inet_pton(AF_INET6, text, &a6.sin6_addr), 1, "%s", text);
		addr_key_from(&k, (struct sockaddr *)&a6);
	}
	return k;
}

static bool same_key(const char *a, const char *b)
{
	struct addr_key ka = key_of(a), kb = key_of(b);

	return memcmp(&ka, &kb, sizeof(ka)) == 0;
}

Test(addr_table, an_ipv6_64_is_one_address_and_a_mapped_ipv4_is_the_ipv4)
{
	cr_expect(same_key("192.0.2.1", "192.0.2.1"));
	cr_expect_not(same_key("192.0.2.1", "192.0.2.2"));
	cr_expect(same_key("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"),
	          "one /64 is one address");
	cr_expect_not(same_key("2001:db8:1:2::1", "2001:db8:1:3::1"));
	cr_expect(same_key("::ffff:192.0.2.1", "192.0.2.1"), "a dual-stack listener's IPv4 peer");
	cr_expect_not(same_key("::c000:201", "192.0.2.1"), "not IPv4-mapped");
}

Test(addr_table, describes_an_address_as_host_and_port)
{
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(7443)};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(7443)};
	char buf[64];

	inet_pton(AF_INET, "127.0.0.2", &a4.sin_addr);
	addr_describe((struct sockaddr *)&a4, sizeof(a4), buf, sizeof(buf));
	cr_expect_str_eq(buf, "127.0.0.2:7443");
	inet_pton(AF_INET6, "2001:db8::1", &a6.sin6_addr);
	addr_describe((struct sockaddr *)&a6, sizeof(a6), buf, sizeof(buf));
	cr_expect_str_eq(buf, "2001:db8::1:7443");
}

Test(addr_table, finds_grows_and_forgets_entries)
{
	enum { N = 5000 };
	struct addr_table *t = addr_table_new();
	struct addr_entry *e;
	char text[32];

	cr_assert_not_null(t);
	for (int i = 0; i < N; i++) {
		struct addr_key k;

		snprintf(text, sizeof(text), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		k = key_of(text);
		cr_assert_null(addr_table_find(t, &k));
		cr_assert_not_null(e = addr_table_get(t, &k));
		cr_expect_eq(addr_table_get(t, &k), e, "the same address, the same entry");
		cr_expect(TAILQ_EMPTY(&e->handshakes));
		e->n = (size_t)i;
	}
	cr_expect_eq(addr_table_count(t), N);
	for (int i = 0; i < N; i += 2) {
		struct addr_key k;

		snprintf(text, sizeof(text), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		k = key_of(text);
		cr_assert_not_null(e = addr_table_find(t, &k), "%s lost", text);
		cr_expect_eq(e->n, (size_t)i);
		addr_table_remove(t, e);
		cr_expect_null(addr_table_find(t, &k));
	}
	cr_expect_eq(addr_table_count(t), N / 2);
	addr_table_free(t); /* with entries left in it */
}
