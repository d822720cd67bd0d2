/* Compatibility between versions of an agreed form: what a new version may change. */
#include "schema_compat.h"

#include "pbjson.h"
#include "rules.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef ProtobufCMessageDescriptor msgdesc;
typedef ProtobufCFieldDescriptor fielddesc;

/* One comparison: the earlier version (of os) against the later (of ns). */
struct compat {
	const struct schema *os, *ns;
	uint32_t ov;
	struct schema_compat_problem *p;
};

static void problem(struct schema_compat_problem *p, const char *path, const char *name,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Fill p: the field path.name (path "" at the top) and the reason. */
static void problem(struct schema_compat_problem *p, const char *path, const char *name,
                    const char *fmt, ...)
{
	va_list ap;

	snprintf(p->field, sizeof(p->field), "%s%s%s", path, path[0] && name[0] ? "." : "", name);
	va_start(ap, fmt);
	vsnprintf(p->reason, sizeof(p->reason), fmt, ap);
	va_end(ap);
}

/* The type of f in words: "string", "enum refex.forms.Tenure", "message q.Address". */
static void type_words(const fielddesc *f, char *out, size_t len)
{
	if (f->type == PROTOBUF_C_TYPE_ENUM) {
		snprintf(out, len, "enum %s",
		         ((const ProtobufCEnumDescriptor *)f->descriptor)->name);
	} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		snprintf(out, len, "message %s", ((const msgdesc *)f->descriptor)->name);
	} else {
		snprintf(out, len, "%s", pbjson_type_name(f->type));
	}
}

static bool same_type(const fielddesc *a, const fielddesc *b)
{
	char ta[160], tb[160];

	type_words(a, ta, sizeof(ta));
	type_words(b, tb, sizeof(tb));
	return strcmp(ta, tb) == 0;
}

/* The smallest field number above every one old and new use. */
static unsigned next_free(const msgdesc *o, const msgdesc *n)
{
	unsigned top = 0;

	for (unsigned i = 0; i < o->n_fields; i++)
		top = o->fields[i].id > top ? o->fields[i].id : top;
	for (unsigned i = 0; i < n->n_fields; i++)
		top = n->fields[i].id > top ? n->fields[i].id : top;
	return top + 1;
}

/* Check that enum n keeps every value of o under its name. */
static int check_enum(const ProtobufCEnumDescriptor *o, const ProtobufCEnumDescriptor *n,
                      const char *path, const char *name, uint32_t ov,
                      struct schema_compat_problem *p)
{
	for (unsigned i = 0; i < o->n_values; i++) {
		const ProtobufCEnumValue *was = &o->values[i];
		const ProtobufCEnumValue *now = protobuf_c_enum_descriptor_get_value(n, was->value);

		if (now == NULL) {
			problem(
			    p, path, name,
			    "enum value %s (%d) of %s was dropped: referrals made on version %u "
			    "may hold it; keep the value (say in its comment that it is no longer "
			    "to be chosen), or make a new form",
			    was->name, was->value, o->name, ov);
			return -1;
		}
		if (strcmp(now->name, was->name) != 0) {
			problem(
			    p, path, name,
			    "enum value %d of %s was %s in version %u, now %s: a value keeps its "
			    "name; add %s as a new value with a new number",
			    was->value, o->name, was->name, ov, now->name, now->name);
			return -1;
		}
	}
	return 0;
}

static int check_message(const struct compat *c, const msgdesc *o, const msgdesc *n,
                         const char *path);

/* How now's rules ask more of a value than was's did, in words; NULL when they do not. Only
 * the settings that constrain count: a rule given with no settings asks nothing more. */
static const char *tighter(const struct rules *was, const struct rules *now)
{
	static const struct rules none;

	if (!now)
		return NULL;
	if (!was)
		was = &none;
	if ((now->kinds & RULES_DATE) && !(was->kinds & RULES_DATE))
		return "it must now be a date";
	if ((now->kinds & RULES_DATE) &&
	    ((now->not_past && !was->not_past) || (now->not_future && !was->not_future)))
		return "its date may no longer be in the past or the future";
	if (now->non_blank && !was->non_blank)
		return "it may no longer be blank";
	if (now->max_length && (!was->max_length || now->max_length < was->max_length))
		return "its text has a shorter maximum length";
	if (now->has_min && (!was->has_min || now->min > was->min))
		return "its number has a higher minimum";
	if (now->has_max && (!was->has_max || now->max < was->max))
		return "its number has a lower maximum";
	if (now->zero_is_no_answer && !was->zero_is_no_answer)
		return "its zero value is no longer an answer";
	if (now->at_least > was->at_least)
		return "more of it must be chosen";
	return NULL;
}

/* Check that the rules of field f (was in o, now in n) ask no more than they did. */
static int check_rules(const struct compat *c, const msgdesc *o, const fielddesc *was,
                       const msgdesc *n, const fielddesc *now, const char *path)
{
	const struct schema_field *wi = schema_field(c->os, o, was),
	                          *ni = schema_field(c->ns, n, now);
	const char *how = tighter(wi ? wi->rules : NULL, ni ? ni->rules : NULL);

	if (!how)
		return 0;
	problem(c->p, path, was->name,
	        "its rules ask more than in version %u (%s): referrals made on it, referred on "
	        "with their answers, may not meet them; a new version may only relax a rule: put "
	        "the stricter rule on a new field (a new name and number), or make a new form",
	        c->ov, how);
	return -1;
}

/* Check one field of version ov (was) against what n makes of its number and name. */
static int check_field(const struct compat *c, const fielddesc *was, const msgdesc *o,
                       const msgdesc *n, const char *path)
{
	struct schema_compat_problem *p = c->p;
	uint32_t ov = c->ov;
	const fielddesc *by_num = protobuf_c_message_descriptor_get_field(n, was->id);
	const fielddesc *by_name = protobuf_c_message_descriptor_get_field_by_name(n, was->name);
	char tw[160], tn[160], sub[256];

	if (by_num != NULL && strcmp(by_num->name, was->name) != 0) {
		problem(p, path, by_num->name,
		        "number %u was field %s in version %u: a number is never given to another "
		        "field; give %s a new number (%u is free)",
		        was->id, was->name, ov, by_num->name, next_free(o, n));
		return -1;
	}
	if (by_name != NULL && by_name->id != was->id) {
		problem(
		    p, path, was->name,
		    "was number %u in version %u, now %u: a field keeps its number; keep %u, or "
		    "make a new field with a new name and a new number",
		    was->id, ov, by_name->id, was->id);
		return -1;
	}
	if (by_num == NULL) {
		return 0; /* dropped: its number stays taken (checked against every version) */
	}
	type_words(was, tw, sizeof(tw));
	type_words(by_num, tn, sizeof(tn));
	if (!same_type(was, by_num)) {
		problem(p, path, was->name,
		        "was %s in version %u, now %s: a field keeps its type; add a new field "
		        "(a new name and number) of the new type, or make a new form",
		        tw, ov, tn);
		return -1;
	}
	if ((was->label == PROTOBUF_C_LABEL_REPEATED) !=
	    (by_num->label == PROTOBUF_C_LABEL_REPEATED)) {
		problem(p, path, was->name,
		        "was %s in version %u: a field stays repeated or single; add a new field "
		        "(a new name and number) instead",
		        was->label == PROTOBUF_C_LABEL_REPEATED ? "repeated" : "single", ov);
		return -1;
	}
	if (was->label == PROTOBUF_C_LABEL_OPTIONAL && by_num->label == PROTOBUF_C_LABEL_REQUIRED) {
		problem(p, path, was->name,
		        "was optional in version %u: referrals made on it may lack it, so it "
		        "cannot become required; add a new required field (a new name and number) "
		        "instead",
		        ov);
		return -1;
	}
	if (check_rules(c, o, was, n, by_num, path) < 0) {
		return -1;
	}
	snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", was->name);
	if (was->type == PROTOBUF_C_TYPE_MESSAGE) {
		return check_message(c, was->descriptor, by_num->descriptor, sub);
	}
	if (was->type == PROTOBUF_C_TYPE_ENUM) {
		return check_enum(was->descriptor, by_num->descriptor, path, was->name, ov, p);
	}
	return 0;
}

static int check_message(const struct compat *c, const msgdesc *o, const msgdesc *n,
                         const char *path)
{
	for (unsigned i = 0; i < o->n_fields; i++) {
		if (check_field(c, &o->fields[i], o, n, path) < 0) {
			return -1;
		}
	}
	return 0;
}

/* Check that a later version keeps what an earlier one promised. */
int schema_compat_check(const struct schema *os, const struct schema_form *of,
                        const struct schema *ns, const struct schema_form *nf,
                        struct schema_compat_problem *p)
{
	struct compat c = {os, ns, of->version, p};

	memset(p, 0, sizeof(*p));
	return check_message(&c, of->desc, nf->desc, "");
}

/* ---- the same version, changed ---- */

static bool same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Say what of two fields of the same number differs, or NULL. */
static const char *field_change(const struct schema *os, const msgdesc *o, const fielddesc *a,
                                const struct schema *ns, const msgdesc *n, const fielddesc *b)
{
	const struct schema_field *la = schema_field(os, o, a), *lb = schema_field(ns, n, b);

	if (strcmp(a->name, b->name) != 0)
		return "name";
	if (!same_type(a, b))
		return "type";
	if (a->label != b->label)
		return "cardinality (required, optional or repeated)";
	if (la == NULL || lb == NULL || !same_text(la->label, lb->label))
		return "label";
	if (!same_text(la->help, lb->help))
		return "help";
	return NULL;
}

static bool enum_differs(const ProtobufCEnumDescriptor *a, const ProtobufCEnumDescriptor *b)
{
	if (a->n_values != b->n_values)
		return true;
	for (unsigned i = 0; i < a->n_values; i++)
		if (a->values[i].value != b->values[i].value ||
		    strcmp(a->values[i].name, b->values[i].name) != 0)
			return true;
	return false;
}

/* Find the first field of o or n that differs; 1 with p filled, else 0. */
static int diff_message(const struct schema *os, const msgdesc *o, const struct schema *ns,
                        const msgdesc *n, const char *path, struct schema_compat_problem *p)
{
	char sub[256];

	for (unsigned i = 0; i < n->n_fields; i++) {
		if (protobuf_c_message_descriptor_get_field(o, n->fields[i].id) == NULL) {
			problem(p, path, n->fields[i].name, "it was added");
			return 1;
		}
	}
	for (unsigned i = 0; i < o->n_fields; i++) {
		const fielddesc *a = &o->fields[i];
		const fielddesc *b = protobuf_c_message_descriptor_get_field(n, a->id);
		const char *what = b ? field_change(os, o, a, ns, n, b) : NULL;

		if (b == NULL) {
			problem(p, path, a->name, "it was removed");
			return 1;
		}
		if (what != NULL) {
			problem(p, path, a->name, "its %s changed", what);
			return 1;
		}
		snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", a->name);
		if (a->type == PROTOBUF_C_TYPE_MESSAGE &&
		    diff_message(os, a->descriptor, ns, b->descriptor, sub, p)) {
			return 1;
		}
		if (a->type == PROTOBUF_C_TYPE_ENUM && enum_differs(a->descriptor, b->descriptor)) {
			problem(p, path, a->name, "the values of its enum changed");
			return 1;
		}
	}
	return 0;
}

/* Name what differs between two schemas given the same version. */
void schema_compat_diff(const struct schema *os, const struct schema_form *of,
                        const struct schema *ns, const struct schema_form *nf,
                        struct schema_compat_problem *p)
{
	memset(p, 0, sizeof(*p));
	if (diff_message(os, of->desc, ns, nf->desc, "", p)) {
		return;
	}
	if (!same_text(of->title, nf->title)) {
		problem(p, "", "", "its title changed");
	} else if (!same_text(of->help, nf->help)) {
		problem(p, "", "", "its help text changed");
	} else {
		problem(p, "", "",
		        "its rules, or another message or comment of its file or of a file it "
		        "imports, changed");
	}
}
