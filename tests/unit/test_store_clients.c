/* The pure rules of client records: the duplicate key, dates, days. */
#include <criterion/criterion.h>
#include <string.h>

#include "client.pb-c.h"
#include "store_clients.h"

static void key_of(const char *given, const char *family, const char *dob, char *buf, size_t len)
{
	Refex__ClientRecord c = REFEX__CLIENT_RECORD__INIT;

	c.given_name = (char *)given;
	c.family_name = (char *)family;
	c.date_of_birth = (char *)dob;
	store_client_dup_key(&c, buf, len);
}

Test(store_clients, the_duplicate_key_ignores_case_and_surrounding_space)
{
	char a[STORE_DUP_KEY_MAX], b[STORE_DUP_KEY_MAX];

	key_of("Amira", "Khan", "1990-04-01", a, sizeof(a));
	key_of("  aMIRA", "KHAN\t", "1990-04-01", b, sizeof(b));
	cr_expect_str_eq(a, b);
	cr_expect_str_eq(a, "amira|khan|1990-04-01");
	key_of("Amira", "Khan", "1990-04-02", b, sizeof(b));
	cr_expect_str_neq(a, b, "another date of birth");
	key_of("Amira", "Khan", NULL, b, sizeof(b));
	cr_expect_str_eq(b, "amira|khan|", "no date of birth matches only no date of birth");
	/* Names that would run together are kept apart by the separator. */
	key_of("Ami", "raKhan", "1990-04-01", b, sizeof(b));
	cr_expect_str_neq(a, b);
}

Test(store_clients, the_duplicate_key_is_cut_to_its_buffer)
{
	char small[8];

	key_of("Alexandra", "Khan", NULL, small, sizeof(small));
	cr_expect_eq(strlen(small), sizeof(small) - 1);
}

Test(store_clients, dates_are_real_calendar_days)
{
	cr_expect(store_date_is_valid("2024-02-29"), "a leap day");
	cr_expect_not(store_date_is_valid("2023-02-29"));
	cr_expect_not(store_date_is_valid("1900-02-29"), "not a leap year");
	cr_expect(store_date_is_valid("2000-02-29"));
	cr_expect_not(store_date_is_valid("2024-13-01"));
	cr_expect_not(store_date_is_valid("2024-04-31"));
	cr_expect_not(store_date_is_valid("2024-4-01"));
	cr_expect_not(store_date_is_valid("2024-04-01x"));
	cr_expect_not(store_date_is_valid("2024/04/01"));
	cr_expect_not(store_date_is_valid(""));
	cr_expect_not(store_date_is_valid(NULL));
}

Test(store_clients, days_are_utc_dates)
{
	char day[11];

	store_day(0, day);
	cr_expect_str_eq(day, "1970-01-01");
	store_day(1709251199, day); /* 2024-02-29 23:59:59 UTC */
	cr_expect_str_eq(day, "2024-02-29");
	store_day(1709251200, day);
	cr_expect_str_eq(day, "2024-03-01");
}
