/* Answers given once, reused: same name and same type only; the caller's answers win. */
#include <criterion/criterion.h>
#include <string.h>

#include "forms/debt_advice.pb-c.h"
#include "forms/food_support.pb-c.h"
#include "forms/housing_support.pb-c.h"
#include "prefill.h"

Test(prefill, copies_same_name_and_type_and_keeps_given_answers)
{
	Refex__Forms__FoodSupport food = REFEX__FORMS__FOOD_SUPPORT__INIT;
	Refex__Forms__HousingSupport housing = REFEX__FORMS__HOUSING_SUPPORT__INIT;
	struct prefill_source src[] = {{&food.base}, {&housing.base}};
	json_t *given = json_pack("{s:i}", "householdChildren", 4), *out;

	food.household_adults = 2;
	food.household_children = 3;
	housing.local_authority = "Leeds";
	out = prefill(&refex__forms__debt_advice__descriptor, given, src, 2);
	cr_assert_not_null(out);
	cr_expect_eq(json_integer_value(json_object_get(out, "householdAdults")), 2);
	cr_expect_eq(json_integer_value(json_object_get(out, "householdChildren")), 4,
	             "the caller's answer wins over a source");
	cr_expect_str_eq(json_string_value(json_object_get(out, "localAuthority")), "Leeds");
	cr_expect_null(json_object_get(out, "reason"), "a field the target lacks is not copied");
	json_decref(given);
	json_decref(out);
}

Test(prefill, nothing_in_common_fills_nothing)
{
	Refex__Forms__HousingSupport housing = REFEX__FORMS__HOUSING_SUPPORT__INIT;
	struct prefill_source src[] = {{&housing.base}};
	json_t *out;

	housing.has_bedrooms_needed = 1;
	housing.bedrooms_needed = 2;
	out = prefill(&refex__forms__food_support__descriptor, NULL, src, 1);
	cr_expect_eq(json_object_size(out), 0, "a food form shares no field with a housing form");
	json_decref(out);
}

Test(prefill, names_every_missing_required_field)
{
	json_t *answers = json_pack("{s:i}", "approximateTotalPounds", 100);
	char missing[256];

	cr_expect_eq(prefill_missing(&refex__forms__debt_advice__descriptor, answers, missing,
	                             sizeof(missing)),
	             1);
	cr_expect_str_eq(missing, "enforcementAction", "named as the caseworker writes it");
	json_decref(answers);
	answers = json_object();
	cr_expect_eq(prefill_missing(&refex__forms__food_support__descriptor, answers, missing,
	                             sizeof(missing)),
	             4);
	cr_expect_str_eq(missing, "householdAdults, householdChildren, vouchersRequested, reason");
	json_decref(answers);
}
