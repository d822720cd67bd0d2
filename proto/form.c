/* The agreed forms registry, and the check that form data is complete. */
#include "form.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pballoc.h"

static const struct form_set none = {NULL, 0, NULL};
static const struct form_set *in_force = &none;

/* Make a set of the forms of s; the set owns s. */
struct form_set *form_set_new(struct schema *s)
{
	struct form_set *set = calloc(1, sizeof(*set));
	size_t i, n = schema_form_count(s);

	if (!set || !(set->forms = calloc(n ? n : 1, sizeof(*set->forms)))) {
		free(set);
		schema_free(s);
		return NULL;
	}
	set->schema = s;
	set->n = n;
	for (i = 0; i < n; i++) {
		const struct schema_form *sf = schema_form_at(s, i);

		set->forms[i] = (struct form){sf->name, sf->version, sf->title, sf->desc, s};
	}
	return set;
}

/* Free a set and its schema. */
void form_set_free(struct form_set *set)
{
	if (!set || !set->schema)
		return;
	schema_free(set->schema);
	free(set->forms);
	free(set);
}

/* Put set in force (NULL: none). */
void form_set_use(const struct form_set *set)
{
	in_force = set ? set : &none;
}

/* Return set's form called name, or NULL. */
const struct form *form_set_find(const struct form_set *set, const char *name)
{
	size_t i;

	if (!set)
		set = in_force;
	if (!name)
		return NULL;
	for (i = 0; i < set->n; i++)
		if (strcmp(set->forms[i].name, name) == 0)
			return &set->forms[i];
	return NULL;
}

/* Return the number of forms in set. */
size_t form_set_count(const struct form_set *set)
{
	return set ? set->n : 0;
}

/* Return the registered form called name, or NULL. */
const struct form *form_find(const char *name)
{
	return form_set_find(in_force, name);
}

/* Return the number of registered forms. */
size_t form_count(void)
{
	return in_force->n;
}

/* Return the i-th registered form in name order, or NULL past the end. */
const struct form *form_at(size_t i)
{
	return i < in_force->n ? &in_force->forms[i] : NULL;
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
		 * NUL; the receiver's tools may not, so the wire format and the text must match
		 * the form too, and then the values its rules allow. */
		problem = pbcheck_text(f->desc, data, len, res);
		if (problem == PBCHECK_OK)
			problem = pbcheck_values(msg, f->schema ? schema_rules : NULL, f->schema,
			                         (int64_t)time(NULL), res);
		protobuf_c_message_free_unpacked(msg, NULL);
		return problem == PBCHECK_OK ? 0 : -1;
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
