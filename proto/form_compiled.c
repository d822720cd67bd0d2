/* The three example forms compiled into refex (proto/forms/), until the hub sends schemas. */
#include "form.h"

#include "forms/debt_advice.pb-c.h"
#include "forms/food_support.pb-c.h"
#include "forms/housing_support.pb-c.h"

/* Kept sorted by name: form_at() promises name order. */
static struct form forms[] = {
    {"debt_advice", 1, "Debt advice", &refex__forms__debt_advice__descriptor, NULL},
    {"food_support", 1, "Food support", &refex__forms__food_support__descriptor, NULL},
    {"housing_support", 1, "Housing support", &refex__forms__housing_support__descriptor, NULL},
};

static const struct form_set compiled = {NULL, sizeof(forms) / sizeof(forms[0]), forms};

/* Return the forms compiled into the program. */
const struct form_set *form_set_compiled(void)
{
	return &compiled;
}
