/* The agreed forms: a registry of each form's name, version and descriptor. */
#ifndef REFEX_FORM_H
#define REFEX_FORM_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "pbcheck.h"
#include "schema.h"

struct form {
	const char *name;  /* stable name, e.g. "housing_support" */
	uint32_t version;  /* bumped when the form changes incompatibly */
	const char *title; /* for people, e.g. "Housing support" */
	const ProtobufCMessageDescriptor *desc;
	const struct schema *schema; /* its fields' rules (schema_rules); NULL: compiled, none */
};

/*
 * A form set: the forms of one loaded schema (proto/schema.h), or the forms compiled into a
 * program (form_set_compiled), as the registry shows them. The registry holds no forms until
 * a set is put in force: refexd puts the set it loaded from its forms directory in force at
 * start and on each reload; refex puts the compiled-in forms (proto/forms/) in force until the
 * hub sends schemas. Ownership across a reload: the hub (daemon/hub.h) owns the set in force
 * and frees the old one when it swaps a new one in, between two loop callbacks, exactly as it
 * does its configuration. So a form (and its descriptor) may be used within one callback
 * only: what must outlive it (a referral being written) keeps the form's name and version,
 * and looks the form up again when it needs it.
 */
struct form_set {
	struct schema *schema; /* owns every name, title and descriptor below; NULL: compiled */
	size_t n;
	struct form *forms; /* in name order */
};

/* Return the forms compiled into the program (proto/form_compiled.c); never freed. */
const struct form_set *form_set_compiled(void);

/* Make a set of the forms of s, taking ownership of s (freed on failure); NULL: out of memory. */
struct form_set *form_set_new(struct schema *s);

/* Free a set and its schema (NULL is fine); it must not be in force. */
void form_set_free(struct form_set *set);

/* Put set in force for form_find/form_count/form_at (NULL: no forms). */
void form_set_use(const struct form_set *set);

/* Return set's form called name (set NULL: the registry in force's), or NULL. */
const struct form *form_set_find(const struct form_set *set, const char *name);

/* Return the number of forms in set. */
size_t form_set_count(const struct form_set *set);

/* Return the registered form called name, or NULL. */
const struct form *form_find(const char *name);

/* Return the number of registered forms. */
size_t form_count(void);

/* Return the i-th registered form (i < form_count()), in name order. */
const struct form *form_at(size_t i);

/*
 * Check that data decodes as form f with every required field present, every enum one of
 * its values, every string UTF-8 without NUL and every value within its field's rules
 * (rules.h; dates judged by the hub's UTC day).
 * Returns 0 when it does; otherwise -1 with res naming the problem; the
 * path in res is relative to the form, in JSON names (e.g. "dateAtRisk").
 */
int form_check(const struct form *f, const uint8_t *data, size_t len, struct pbcheck_result *res);

#endif
