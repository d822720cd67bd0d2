/* The protocol's dates: one check for every YYYY-MM-DD string, and the UTC day of a time. */
#include <criterion/criterion.h>

#include "date.h"

Test(date, dates_are_real_calendar_days)
{
	cr_expect(date_is_valid("2024-02-29"), "a leap day");
	cr_expect_not(date_is_valid("2023-02-29"));
	cr_expect_not(date_is_valid("1900-02-29"), "not a leap year");
	cr_expect(date_is_valid("2000-02-29"));
	cr_expect_not(date_is_valid("2024-13-01"));
	cr_expect_not(date_is_valid("2024-04-31"));
	cr_expect_not(date_is_valid("2024-4-01"));
	cr_expect_not(date_is_valid("2024-04-01x"));
	cr_expect_not(date_is_valid("2024/04/01"));
	cr_expect_not(date_is_valid(""));
	cr_expect_not(date_is_valid(NULL));
}

Test(date, utc_day_of_a_time)
{
	char day[DATE_LEN + 1];

	date_utc_day(0, day);
	cr_expect_str_eq(day, "1970-01-01");
	date_utc_day(951782400, day); /* 2000-02-29T00:00:00Z */
	cr_expect_str_eq(day, "2000-02-29");
	date_utc_day(951868799, day);
	cr_expect_str_eq(day, "2000-02-29", "the last second of the day");
}
