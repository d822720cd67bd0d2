/* The agreed forms registry, and the check that form data is complete. */
#include "form.h"

#include <stdio.h>
#include <string.h>

#include "forms/debt_advice.pb-c.h"
#include "forms/food_support.pb-c.h"
#include "forms/housing_support.pb-c.h"
#include "pballoc.h"

/* Kept sorted by name: form_at() promises name order. */
static const struct form forms[] = {
    {"debt_advice", 1, "Debt advice", &refex__forms__debt_advice__descriptor},
    {"food_support", 1, "Food support", &refex__forms__food_support__descriptor},
    {"housing_support", 1, "Housing support", &refex__forms__housing_support__descriptor},
};

#define N_FORMS (sizeof(forms) / sizeof(forms[0]))

/* Return the registered form called name, or NULL. */
const struct form *form_find(const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	for (i = 0; i < N_FORMS; i++)
		if (strcmp(forms[i].name, name) == 0)
			return &forms[i];
	return NULL;
}

/* Return the number of registered forms. */
size_t form_count(void)
{
	return N_FORMS;
}

/* Return the i-th registered form in name order, or NULL past the end. */
const struct form *form_at(size_t i)
{
	return i < N_FORMS ? &forms[i] : NULL;
}

/* Check that data decodes as form f with every required field present and every value one
 * the form defines. */
int form_check(const struct form *f, const uint8_t *data, size_t len, struct pbcheck_result *res)
{
	struct pbcheck_result local;
	enum pbcheck_problem problem;
	struct pballoc budget;
	ProtobufCMessage *msg;

	if (!res)
		res = &local;
	memset(res, 0, sizeof(*res));
	if (!f) {
		res->problem = PBCHECK_MALFORMED;
		snprintf(res->message, sizeof(res->message), "unknown form");
		return -1;
	}
	/* protobuf-c is the judge of validity; pbcheck only explains a refusal. The data came
	 * from a peer: a budget stops a small form from costing a lot to decode. */
	pballoc_init(&budget, len);
	msg = protobuf_c_message_unpack(f->desc, &budget.allocator, len, data);
	if (msg) {
		/* protobuf-c 1.4 takes enum numbers the form does not define, a bool in any wire
		 * type (found by tests/fuzz/fuzz_form) and strings that are not UTF-8 or hold a
		 * NUL; the receiver's tools may not, so the values, the wire format and the text
		 * must match the form too. */
		problem = pbcheck_values(msg, res);
		protobuf_c_message_free_unpacked(msg, NULL);
		if (problem != PBCHECK_OK)
			return -1;
		return pbcheck_text(f->desc, data, len, res) == PBCHECK_OK ? 0 : -1;
	}
	if (budget.exhausted) {
		res->problem = PBCHECK_TOO_COMPLEX;
		snprintf(res->message, sizeof(res->message),
		         "form data too complex: decoding it would take more than %zu bytes",
		         budget.budget);
		return -1;
	}
	if (pbcheck_explain(f->desc, data, len, res) == PBCHECK_OK) {
		res->problem = PBCHECK_MALFORMED;
		snprintf(res->message, sizeof(res->message), "form data does not decode as %s",
		         f->name);
	}
	return -1;
}
