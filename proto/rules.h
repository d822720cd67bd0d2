/*
 * The rules partners agree on for a form's fields (proto/refex/rules.proto): what one field
 * rule says, read from the option protoc writes, checked against the field it is put on, and
 * judged against one value. pbcheck_values walks a decoded message and applies them.
 */
#ifndef REFEX_RULES_H
#define REFEX_RULES_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "date.h"

#define RULES_FIELD_NUMBER 50714 /* (refex.rules.rule) in google.protobuf.FieldOptions */
#define RULES_MAX_BYTES    256   /* one field's rule, encoded: far more than any needs */
#define RULES_FILE         "refex/rules.proto"

enum rules_kind {
	RULES_DATE = 1 << 0,
	RULES_TEXT = 1 << 1,
	RULES_NUMBER = 1 << 2,
	RULES_ENUM = 1 << 3,
	RULES_CHOOSE = 1 << 4,
};

/* One field's rules; kinds says which are given (a rule given with no settings still must
 * fit its field). */
struct rules {
	unsigned kinds;
	bool not_past, not_future; /* date */
	uint32_t max_length;       /* text, in characters; 0: no limit */
	bool non_blank;            /* text */
	bool has_min, has_max;     /* number */
	int64_t min, max;          /* number */
	bool zero_is_no_answer;    /* enum */
	uint32_t at_least;         /* choose */
};

/* The days a date rule is judged by: the hub's UTC day, one day either way. */
struct rules_today {
	char earliest[DATE_LEN + 1]; /* yesterday: not_past allows it */
	char latest[DATE_LEN + 1];   /* tomorrow: not_future allows it */
};

/* Return the rules of field f of message desc, or NULL for none. */
typedef const struct rules *(*rules_lookup_fn)(const void *ctx,
                                               const ProtobufCMessageDescriptor *desc,
                                               const ProtobufCFieldDescriptor *f);

/* Read a FieldRules message (the option's bytes); -1 with why filled if it is not one. */
int rules_parse(const uint8_t *data, size_t len, struct rules *out, char *why, size_t cap);

/* Say whether r fits field f (a date on a string, ...); -1 with why filled if not. */
int rules_fit(const struct rules *r, const ProtobufCFieldDescriptor *f, char *why, size_t cap);

/* Fill the days "today" means for time now (seconds since the epoch). */
void rules_today_at(struct rules_today *t, int64_t now);

/* Judge one value v of field f (an element, for a repeated field) by r; -1 with why filled
 * (words for a caseworker) if it breaks one. */
int rules_judge(const struct rules *r, const ProtobufCFieldDescriptor *f, const void *v,
                const struct rules_today *today, char *why, size_t cap);

/* Judge the number of values n of repeated field f by r; -1 with why filled if too few. */
int rules_judge_count(const struct rules *r, size_t n, char *why, size_t cap);

/* Describe r in words for someone filling a form in, into buf of cap bytes ("" for none;
 * an enum's zero_is_no_answer is shown by leaving the zero value out of the choices). */
void rules_describe(const struct rules *r, char *buf, size_t cap);

/* Return the rules the hub applies to field f of a client record (client.proto), or NULL. */
const struct rules *rules_client_record(const void *ctx, const ProtobufCMessageDescriptor *desc,
                                        const ProtobufCFieldDescriptor *f);

#endif
