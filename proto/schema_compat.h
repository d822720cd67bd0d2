/*
 * What one version of an agreed form may change from another (proto/schema.h loads both).
 *
 * A later version may add fields, drop fields, and relax a rule (required -> optional, a rule's
 * setting dropped or loosened). It may not give a number an earlier version used to a field of
 * another name, give a field of an earlier version another number, change a field's type (an
 * enum or message type by its full name) or cardinality (repeated or single), make an optional
 * field required or a field's rules (rules.h) stricter, or drop or rename an enum value:
 * referrals made on the earlier version must decode, show and pre-fill under the later one's
 * names and rules. Nested messages are compared field by field, by path.
 */
#ifndef REFEX_SCHEMA_COMPAT_H
#define REFEX_SCHEMA_COMPAT_H

#include <stdint.h>

#include "schema.h"

/* Why a version is refused. */
struct schema_compat_problem {
	char field[256];  /* the field's path in the form, as the .proto names it ("address.town");
	                     "" for the form as a whole */
	char reason[512]; /* what changed, and how to do it instead */
};

/*
 * Check that nf (a form of ns), a later version, keeps what of (of os: version of->version of
 * the same form) promised. 0 when it does; -1 with p naming the first field that breaks a rule.
 */
int schema_compat_check(const struct schema *os, const struct schema_form *of,
                        const struct schema *ns, const struct schema_form *nf,
                        struct schema_compat_problem *p);

/*
 * Name what differs between of (of os) and nf (of ns), two schemas given the same version:
 * the first field whose name, number, type, cardinality, label, help or enum values differ,
 * else the form's title or help; else p->field is "" and the reason says the rest of the
 * schema (rules, the file it shares with other forms, what it imports) changed.
 */
void schema_compat_diff(const struct schema *os, const struct schema_form *of,
                        const struct schema *ns, const struct schema_form *nf,
                        struct schema_compat_problem *p);

#endif
