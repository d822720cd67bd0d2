/* The rules of a form's fields (proto/rules.c), judged through pbcheck_values as the hub judges
 * form data and client records: each rule passes what it allows and refuses the rest, naming
 * the field and saying why in words for a caseworker. */
#include <criterion/criterion.h>
#include <string.h>

#include "client.pb-c.h"
#include "forms/food_support.pb-c.h"
#include "forms/housing_support.pb-c.h"
#include "pbcheck.h"
#include "rules.h"

#define NOW 1765000000 /* 2025-12-06T05:46:40Z: dates are judged against this day */

/* The rules under test: one field of one message. */
static struct {
	const ProtobufCMessageDescriptor *desc;
	uint32_t id;
	struct rules rules;
} given;

static const struct rules *lookup(const void *ctx, const ProtobufCMessageDescriptor *desc,
                                  const ProtobufCFieldDescriptor *f)
{
	(void)ctx;
	return desc == given.desc && f->id == given.id ? &given.rules : NULL;
}

static void rule(const ProtobufCMessageDescriptor *desc, uint32_t id, struct rules r)
{
	given.desc = desc;
	given.id = id;
	given.rules = r;
}

/* Expect msg to pass the rules in force. */
static void passes(const ProtobufCMessage *msg)
{
	struct pbcheck_result res;

	cr_assert_eq(pbcheck_values(msg, lookup, NULL, NOW, &res), PBCHECK_OK, "%s: %s", res.path,
	             res.message);
}

/* Expect msg to break the rule in force at path, saying want. */
static void breaks(const ProtobufCMessage *msg, const char *path, const char *want)
{
	struct pbcheck_result res;

	cr_assert_eq(pbcheck_values(msg, lookup, NULL, NOW, &res), PBCHECK_BROKEN_RULE);
	cr_assert_str_eq(res.path, path, "%s", res.message);
	cr_assert_str_eq(res.message, want);
}

static Refex__ClientRecord client(void)
{
	Refex__ClientRecord c = REFEX__CLIENT_RECORD__INIT;

	c.given_name = "Amira";
	c.family_name = "Khan";
	return c;
}

Test(rules, date_is_a_real_day_not_past_not_future_with_a_day_of_slack)
{
	Refex__ClientRecord c = client();

	rule(&refex__client_record__descriptor, 5, (struct rules){.kinds = RULES_DATE});
	passes(&c.base); /* absent: nothing to judge */
	c.date_of_birth = "2024-02-29";
	passes(&c.base);
	c.date_of_birth = "2023-02-29";
	breaks(&c.base, "dateOfBirth", "not a date written YYYY-MM-DD");
	c.date_of_birth = "";
	breaks(&c.base, "dateOfBirth", "not a date written YYYY-MM-DD");

	rule(&refex__client_record__descriptor, 5,
	     (struct rules){.kinds = RULES_DATE, .not_future = true});
	c.date_of_birth = "2025-12-07"; /* tomorrow at the hub: today east of it */
	passes(&c.base);
	c.date_of_birth = "2025-12-08";
	breaks(&c.base, "dateOfBirth",
	       "2025-12-08 is in the future; this form asks for a date up to today");

	rule(&refex__client_record__descriptor, 5,
	     (struct rules){.kinds = RULES_DATE, .not_past = true});
	c.date_of_birth = "2025-12-05"; /* yesterday at the hub: today west of it */
	passes(&c.base);
	c.date_of_birth = "2099-01-01";
	passes(&c.base);
	c.date_of_birth = "2020-01-01";
	breaks(&c.base, "dateOfBirth",
	       "2020-01-01 is in the past; this form asks for a date from today on");
}

Test(rules, text_is_not_blank_and_its_length_counts_characters)
{
	Refex__ClientRecord c = client();

	rule(&refex__client_record__descriptor, 3,
	     (struct rules){.kinds = RULES_TEXT, .non_blank = true, .max_length = 4});
	passes(&c.base); /* optional and absent: fine */
	c.preferred_name = "Zoë";
	passes(&c.base);
	c.preferred_name = "Zoëë"; /* 4 characters, 6 bytes */
	passes(&c.base);
	c.preferred_name = "Zoëëë";
	breaks(&c.base, "preferredName", "too long: 5 characters; this form allows at most 4");
	c.preferred_name = " \t ";
	breaks(&c.base, "preferredName", "left blank; this form asks for an answer here");
	c.preferred_name = "";
	breaks(&c.base, "preferredName", "left blank; this form asks for an answer here");

	/* A required string built in memory without a value is blank too. */
	rule(&refex__client_record__descriptor, 1,
	     (struct rules){.kinds = RULES_TEXT, .non_blank = true});
	c.given_name = NULL;
	breaks(&c.base, "givenName", "left blank; this form asks for an answer here");
}

Test(rules, each_element_of_a_repeated_field_is_judged)
{
	Refex__ClientRecord c = client();
	char *needs[] = {"step-free access", "  "};

	rule(&refex__client_record__descriptor, 12,
	     (struct rules){.kinds = RULES_TEXT, .non_blank = true});
	c.n_access_needs = 1;
	c.access_needs = needs;
	passes(&c.base);
	c.n_access_needs = 2;
	breaks(&c.base, "accessNeeds[1]", "left blank; this form asks for an answer here");
}

Test(rules, numbers_stay_in_range_at_any_depth)
{
	Refex__Forms__HousingSupport h = REFEX__FORMS__HOUSING_SUPPORT__INIT;
	Refex__Forms__HousingSupport__HouseholdMember m0 =
	    REFEX__FORMS__HOUSING_SUPPORT__HOUSEHOLD_MEMBER__INIT;
	Refex__Forms__HousingSupport__HouseholdMember m1 =
	    REFEX__FORMS__HOUSING_SUPPORT__HOUSEHOLD_MEMBER__INIT;
	Refex__Forms__HousingSupport__HouseholdMember *members[] = {&m0, &m1};

	h.current_situation = REFEX__FORMS__HOUSING_SUPPORT__SITUATION__SOFA_SURFING;
	h.tenure = REFEX__FORMS__HOUSING_SUPPORT__TENURE__LODGER;
	rule(&refex__forms__housing_support__descriptor, 9,
	     (struct rules){
	         .kinds = RULES_NUMBER, .has_min = true, .min = 1, .has_max = true, .max = 20});
	passes(&h.base); /* bedrooms_needed absent */
	h.has_bedrooms_needed = 1;
	h.bedrooms_needed = 0;
	breaks(&h.base, "bedroomsNeeded", "0 is less than this form allows (at least 1)");
	h.bedrooms_needed = 20;
	passes(&h.base);
	h.bedrooms_needed = 4000000000u;
	breaks(&h.base, "bedroomsNeeded", "4000000000 is more than this form allows (at most 20)");
	h.has_bedrooms_needed = 0;

	rule(&refex__forms__housing_support__household_member__descriptor, 2,
	     (struct rules){.kinds = RULES_NUMBER, .has_max = true, .max = 120});
	m0.relationship = "partner";
	m1.relationship = "child";
	m1.has_age = 1;
	m1.age = 7;
	h.n_household_members = 2;
	h.household_members = members;
	passes(&h.base);
	m1.age = 700;
	breaks(&h.base, "householdMembers[1].age",
	       "700 is more than this form allows (at most 120)");
}

/* Signed and 64-bit values, judged one at a time. */
Test(rules, signed_and_wide_numbers)
{
	struct rules r = {
	    .kinds = RULES_NUMBER, .has_min = true, .min = -5, .has_max = true, .max = 5};
	ProtobufCFieldDescriptor i64 = {.type = PROTOBUF_C_TYPE_SINT64};
	ProtobufCFieldDescriptor i32 = {.type = PROTOBUF_C_TYPE_INT32};
	ProtobufCFieldDescriptor u64 = {.type = PROTOBUF_C_TYPE_UINT64};
	struct rules_today today;
	int64_t v64 = -6;
	int32_t v32 = -5;
	uint64_t big = UINT64_MAX;
	char why[200];

	rules_today_at(&today, NOW);
	cr_assert_eq(rules_judge(&r, &i64, &v64, &today, why, sizeof(why)), -1);
	cr_assert_str_eq(why, "-6 is less than this form allows (at least -5)");
	cr_assert_eq(rules_judge(&r, &i32, &v32, &today, why, sizeof(why)), 0);
	v32 = 6;
	cr_assert_eq(rules_judge(&r, &i32, &v32, &today, why, sizeof(why)), -1);
	cr_assert_eq(rules_judge(&r, &u64, &big, &today, why, sizeof(why)), -1);
	cr_assert_str_eq(why, "18446744073709551615 is more than this form allows (at most 5)");
	r.max = -1; /* every unsigned value is above it */
	big = 0;
	cr_assert_eq(rules_judge(&r, &u64, &big, &today, why, sizeof(why)), -1);
}

Test(rules, enum_zero_is_no_answer_when_required_or_repeated)
{
	Refex__Forms__HousingSupport h = REFEX__FORMS__HOUSING_SUPPORT__INIT;
	Refex__Forms__FoodSupport f = REFEX__FORMS__FOOD_SUPPORT__INIT;
	Refex__ClientRecord c = client();
	Refex__Forms__FoodSupport__DietaryNeed needs[] = {
	    REFEX__FORMS__FOOD_SUPPORT__DIETARY_NEED__HALAL,
	    REFEX__FORMS__FOOD_SUPPORT__DIETARY_NEED__DIET_UNSPECIFIED};
	const struct rules zero = {.kinds = RULES_ENUM, .zero_is_no_answer = true};

	h.current_situation = REFEX__FORMS__HOUSING_SUPPORT__SITUATION__SOFA_SURFING;
	rule(&refex__forms__housing_support__descriptor, 2, zero);
	breaks(&h.base, "tenure",
	       "TENURE_UNSPECIFIED is no answer; this form asks you to choose one of the others");
	h.tenure = REFEX__FORMS__HOUSING_SUPPORT__TENURE__LODGER;
	passes(&h.base);

	rule(&refex__forms__food_support__descriptor, 5, zero);
	f.reason = REFEX__FORMS__FOOD_SUPPORT__REASON__LOW_INCOME;
	f.n_dietary_needs = 1;
	f.dietary_needs = needs;
	passes(&f.base);
	f.n_dietary_needs = 2;
	breaks(&f.base, "dietaryNeeds[1]",
	       "DIET_UNSPECIFIED is no answer; this form asks you to choose one of the others");

	/* On an optional field, zero means "not answered": allowed. */
	rule(&refex__client_record__descriptor, 9, zero);
	c.has_preferred_contact = 1;
	c.preferred_contact = REFEX__CONTACT_METHOD__CONTACT_UNSPECIFIED;
	passes(&c.base);
}

Test(rules, choose_at_least_n)
{
	Refex__Forms__FoodSupport f = REFEX__FORMS__FOOD_SUPPORT__INIT;
	Refex__Forms__FoodSupport__DietaryNeed needs[] = {
	    REFEX__FORMS__FOOD_SUPPORT__DIETARY_NEED__HALAL,
	    REFEX__FORMS__FOOD_SUPPORT__DIETARY_NEED__VEGAN};

	rule(&refex__forms__food_support__descriptor, 5,
	     (struct rules){.kinds = RULES_CHOOSE, .at_least = 2});
	breaks(&f.base, "dietaryNeeds", "none chosen; this form asks you to choose at least 2");
	f.n_dietary_needs = 1;
	f.dietary_needs = needs;
	breaks(&f.base, "dietaryNeeds", "1 chosen; this form asks you to choose at least 2");
	f.n_dietary_needs = 2;
	passes(&f.base);
}

/* The client record's own rules (proto/rules_client.c), as the hub applies them. */
Test(rules, client_record_rules)
{
	Refex__ClientRecord c = client();
	Refex__Address a = REFEX__ADDRESS__INIT;
	struct pbcheck_result res;
	char long_name[256];

	cr_assert_eq(pbcheck_values(&c.base, rules_client_record, NULL, NOW, &res), PBCHECK_OK);
	c.family_name = " ";
	cr_assert_eq(pbcheck_values(&c.base, rules_client_record, NULL, NOW, &res),
	             PBCHECK_BROKEN_RULE);
	cr_assert_str_eq(res.path, "familyName");
	c.family_name = "Khan";
	c.date_of_birth = "2099-04-01";
	cr_assert_eq(pbcheck_values(&c.base, rules_client_record, NULL, NOW, &res),
	             PBCHECK_BROKEN_RULE);
	cr_assert_str_eq(res.path, "dateOfBirth");
	cr_assert_str_eq(res.message,
	                 "2099-04-01 is in the future; this form asks for a date up to today");
	c.date_of_birth = "1990-04-01";
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	a.town = long_name;
	c.address = &a;
	cr_assert_eq(pbcheck_values(&c.base, rules_client_record, NULL, NOW, &res),
	             PBCHECK_BROKEN_RULE);
	cr_assert_str_eq(res.path, "address.town");
	a.town = "Leeds";
	cr_assert_eq(pbcheck_values(&c.base, rules_client_record, NULL, NOW, &res), PBCHECK_OK);
}
