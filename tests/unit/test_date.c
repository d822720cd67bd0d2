/* The protocol's dates: one check for every YYYY-MM-DD string, and which form fields hold one. */
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

Test(date, form_fields_named_as_dates_hold_dates)
{
	cr_expect(date_is_date_field("date_at_risk"));
	cr_expect(date_is_date_field("next_court_date"));
	cr_expect(date_is_date_field("date"));
	cr_expect_not(date_is_date_field("update"), "a word that ends in date is not a date");
	cr_expect_not(date_is_date_field("dates_known"));
	cr_expect_not(date_is_date_field("_date"), "nothing before the suffix");
	cr_expect_not(date_is_date_field("notes"));
}
