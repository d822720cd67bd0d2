/* The agreed forms: a registry of each compiled form's name, version and descriptor. */
#ifndef REFEX_FORM_H
#define REFEX_FORM_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "pbcheck.h"

struct form {
	const char *name;  /* stable name, e.g. "housing_support" */
	uint32_t version;  /* bumped when the form changes incompatibly */
	const char *title; /* for people, e.g. "Housing support" */
	const ProtobufCMessageDescriptor *desc;
};

/* Return the registered form called name, or NULL. */
const struct form *form_find(const char *name);

/* Return the number of registered forms. */
size_t form_count(void);

/* Return the i-th registered form (i < form_count()), in name order. */
const struct form *form_at(size_t i);

/*
 * Check that data decodes as form f with every required field present, every enum one of
 * its values, every date field (date.h) a real date and every string UTF-8 without NUL.
 * Returns 0 when it does; otherwise -1 with res naming the problem; the
 * path in res is relative to the form, in JSON names (e.g. "dateAtRisk").
 */
int form_check(const struct form *f, const uint8_t *data, size_t len, struct pbcheck_result *res);

#endif
