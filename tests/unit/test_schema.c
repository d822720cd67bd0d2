/*
 * Forms loaded at run time (proto/schema.c) behave exactly like the compiled ones: the same
 * layout, the same bytes packed and unpacked, the same JSON, the same checks on bad data; and
 * what the hub does not support, or a hostile descriptor set, is refused with a clear message.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "form.h"
#include "forms/debt_advice.pb-c.h"
#include "forms/food_support.pb-c.h"
#include "forms/housing_support.pb-c.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "pbcheck.h"
#include "pbjson.h"
#include "rules.h"
#include "schema.h"
#include "schema_types.pb-c.h"

struct blob {
	uint8_t *b;
	size_t n;
};

static struct blob read_file(const char *path)
{
	struct blob bl = {0};
	FILE *f = fopen(path, "rb");
	long n;

	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	bl.n = (size_t)n;
	bl.b = malloc(bl.n + 1);
	cr_assert_eq(fread(bl.b, 1, bl.n, f), bl.n);
	fclose(f);
	return bl;
}

/* Run protoc in dir on files (a shell word list, relative to dir): the descriptor set. */
static struct blob protoc(const char *dir, const char *files)
{
	char tmp[] = "/tmp/refex-schema-XXXXXX", out[64], cmd[2048];
	struct blob bl;

	cr_assert_not_null(mkdtemp(tmp));
	snprintf(out, sizeof(out), "%s/set.pb", tmp);
	snprintf(cmd, sizeof(cmd),
	         "cd '%s' && '%s' --include_source_info --proto_path=. --proto_path='%s' "
	         "--descriptor_set_out='%s' %s",
	         dir, REFEX_PROTOC, REFEX_PROTO_DIR, out, files);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	bl = read_file(out);
	unlink(out);
	rmdir(tmp);
	return bl;
}

static struct blob shipped_set(void)
{
	return protoc(REFEX_PROTO_DIR, "forms/*.proto");
}

static struct blob types_set(void)
{
	return protoc(REFEX_TEST_DIR, "schema_types.proto");
}

/* Compile one .proto file's text. */
static struct blob compile_text(const char *text)
{
	char dir[] = "/tmp/refex-schema-src-XXXXXX", path[64];
	struct blob bl;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.proto", dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	bl = protoc(dir, "t.proto");
	unlink(path);
	rmdir(dir);
	return bl;
}

static struct schema *load(struct blob bl, struct schema_error *err)
{
	struct schema *s = schema_load(bl.b, bl.n, err);

	free(bl.b);
	return s;
}

static struct schema *shipped(void)
{
	struct schema_error err;
	struct schema *s = load(shipped_set(), &err);

	cr_assert_not_null(s, "%s", err.message);
	return s;
}

/* ---- the layout protobuf-c sees ---- */

static size_t value_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4;
	}
}

static void same_enum(const ProtobufCEnumDescriptor *c, const ProtobufCEnumDescriptor *r)
{
	unsigned i;

	cr_assert_eq(r->magic, PROTOBUF_C__ENUM_DESCRIPTOR_MAGIC);
	cr_assert_str_eq(r->name, c->name);
	cr_assert_str_eq(r->short_name, c->short_name);
	cr_assert_str_eq(r->package_name, c->package_name);
	cr_assert_eq(r->n_values, c->n_values, "%s", c->name);
	cr_assert_eq(r->n_value_names, c->n_value_names);
	cr_assert_eq(r->n_value_ranges, c->n_value_ranges, "%s", c->name);
	for (i = 0; i < c->n_values; i++) {
		cr_assert_str_eq(r->values[i].name, c->values[i].name);
		cr_assert_eq(r->values[i].value, c->values[i].value);
		cr_assert_str_eq(r->values_by_name[i].name, c->values_by_name[i].name);
		cr_assert_eq(r->values_by_name[i].index, c->values_by_name[i].index);
	}
	for (i = 0; i <= c->n_value_ranges; i++) {
		cr_assert_eq(r->value_ranges[i].start_value, c->value_ranges[i].start_value);
		cr_assert_eq(r->value_ranges[i].orig_index, c->value_ranges[i].orig_index);
	}
}

static void same_message(const ProtobufCMessageDescriptor *c, const ProtobufCMessageDescriptor *r,
                         int depth);

static void same_field(const ProtobufCFieldDescriptor *c, const ProtobufCFieldDescriptor *r,
                       int depth)
{
	cr_assert_str_eq(r->name, c->name);
	cr_assert_eq(r->id, c->id, "%s", c->name);
	cr_assert_eq(r->label, c->label, "%s", c->name);
	cr_assert_eq(r->type, c->type, "%s", c->name);
	cr_assert_eq(r->offset, c->offset, "%s: offset %u, compiled %u", c->name, r->offset,
	             c->offset);
	cr_assert_eq(r->quantifier_offset, c->quantifier_offset, "%s", c->name);
	cr_assert_eq(r->flags, c->flags, "%s", c->name);
	cr_assert_eq(!r->default_value, !c->default_value, "%s", c->name);
	if (c->default_value && c->type == PROTOBUF_C_TYPE_STRING)
		cr_assert_str_eq(r->default_value, c->default_value);
	else if (c->default_value)
		cr_assert_eq(memcmp(r->default_value, c->default_value, value_size(c->type)), 0,
		             "%s", c->name);
	if (c->type == PROTOBUF_C_TYPE_MESSAGE)
		same_message(c->descriptor, r->descriptor, depth + 1);
	else if (c->type == PROTOBUF_C_TYPE_ENUM)
		same_enum(c->descriptor, r->descriptor);
}

/* Expect run-time descriptor r to be laid out and indexed as compiled descriptor c. */
static void same_message(const ProtobufCMessageDescriptor *c, const ProtobufCMessageDescriptor *r,
                         int depth)
{
	unsigned i;

	cr_assert_lt(depth, 8);
	cr_assert_eq(r->magic, PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC);
	cr_assert_str_eq(r->name, c->name);
	cr_assert_str_eq(r->short_name, c->short_name);
	cr_assert_str_eq(r->package_name, c->package_name);
	cr_assert_eq(r->sizeof_message, c->sizeof_message, "%s: %zu, compiled %zu", c->name,
	             r->sizeof_message, c->sizeof_message);
	cr_assert_eq(r->n_fields, c->n_fields);
	cr_assert_eq(r->n_field_ranges, c->n_field_ranges, "%s", c->name);
	cr_assert_null(r->message_init);
	for (i = 0; i < c->n_fields; i++) {
		same_field(&c->fields[i], &r->fields[i], depth);
		cr_assert_eq(r->fields_sorted_by_name[i], c->fields_sorted_by_name[i]);
	}
	for (i = 0; i <= c->n_field_ranges; i++) {
		cr_assert_eq(r->field_ranges[i].start_value, c->field_ranges[i].start_value);
		cr_assert_eq(r->field_ranges[i].orig_index, c->field_ranges[i].orig_index);
	}
}

static const ProtobufCMessageDescriptor *const compiled[] = {
    &refex__forms__debt_advice__descriptor,
    &refex__forms__food_support__descriptor,
    &refex__forms__housing_support__descriptor,
};

/* The forms compiled in (proto/forms/): what these tests check against. */
static void use_compiled_forms(void)
{
	form_set_use(form_set_compiled());
}

TestSuite(schema, .init = use_compiled_forms);

Test(schema, shipped_forms_are_laid_out_as_compiled)
{
	struct schema *s = shipped();
	size_t i;

	cr_assert_eq(schema_form_count(s), 3);
	for (i = 0; i < 3; i++)
		same_message(compiled[i], schema_form_at(s, i)->desc, 0);
	schema_free(s);
}

Test(schema, every_type_label_and_default_is_laid_out_as_compiled)
{
	struct schema_error err;
	struct schema *s = load(types_set(), &err);
	const struct schema_form *f;

	cr_assert_not_null(s, "%s", err.message);
	cr_assert_not_null(f = schema_form_find(s, "all_types"));
	same_message(&refex__test__all_types__descriptor, f->desc, 0);
	schema_free(s);
}

/* Forms keep the names, titles and versions the compiled registry gives them. */
Test(schema, names_titles_and_versions_match_the_registry)
{
	struct schema *s = shipped();
	size_t i;

	cr_assert_eq(schema_form_count(s), form_count());
	for (i = 0; i < form_count(); i++) {
		const struct schema_form *r = schema_form_at(s, i);

		cr_assert_str_eq(r->name, form_at(i)->name);
		cr_assert_str_eq(r->title, form_at(i)->title);
		cr_assert_eq(r->version, form_at(i)->version);
		cr_assert_eq(schema_form_find(s, r->name), r);
	}
	cr_assert_str_eq(schema_form_find(s, "housing_support")->file,
	                 "forms/housing_support.proto");
	cr_assert_null(schema_form_find(s, "HousingSupport"));
	cr_assert_null(schema_form_find(s, NULL));
	cr_assert_null(schema_form_at(s, 3));
	schema_free(s);
}

/* What a client gets for a form is that form's file alone, which loads to the same form with
 * the same labels, and does not change when only the layout of the .proto file does. */
Test(schema, a_form_exported_loads_the_same_and_ignores_layout)
{
	static const char form[] =
	    "syntax = \"proto2\";\npackage p;\n// Tenancy\n// version: 2\n"
	    "message Tenancy {\n  // Rooms needed\n  required uint32 rooms = 1;\n"
	    "  optional string note = 2;  // anything else\n}\n";
	static const char spaced[] = "\n\nsyntax = \"proto2\";\n\npackage p;\n\n// Tenancy\n"
	                             "// version: 2\nmessage Tenancy\n{\n\n  // Rooms needed\n"
	                             "  required   uint32 rooms = 1;\n\n"
	                             "  optional string note = 2;   // anything else\n}\n";
	struct schema_error err;
	struct schema *s = shipped(), *t = load(compile_text(form), &err), *u, *again;
	const struct schema_form *f = schema_form_find(s, "housing_support"), *g;
	uint8_t *bytes, *tb, *ub;
	size_t len, tlen, ulen, i;

	cr_assert_not_null(bytes = schema_form_export(s, f, &len));
	cr_assert_not_null(again = schema_load(bytes, len, &err), "%s", err.message);
	cr_assert_eq(schema_form_count(again), 1, "only the form's file");
	g = schema_form_find(again, "housing_support");
	same_message(f->desc, g->desc, 0);
	cr_assert_str_eq(g->title, f->title);
	cr_assert_eq(g->version, f->version);
	for (i = 0; i < f->desc->n_fields; i++) {
		const struct schema_field *a = schema_field(s, f->desc, &f->desc->fields[i]),
		                          *b = schema_field(again, g->desc, &g->desc->fields[i]);

		cr_assert_str_eq(a->label, b->label);
		cr_assert((a->help == NULL) == (b->help == NULL));
		cr_assert(!a->help || strcmp(a->help, b->help) == 0);
	}
	cr_assert_null(schema_form_export(s, schema_form_find(again, "housing_support"), &len),
	               "a form of another schema");
	cr_assert_not_null(t, "%s", err.message);
	cr_assert_not_null(u = load(compile_text(spaced), &err), "%s", err.message);
	tb = schema_form_export(t, schema_form_at(t, 0), &tlen);
	ub = schema_form_export(u, schema_form_at(u, 0), &ulen);
	cr_assert(tb && ub && tlen == ulen && memcmp(tb, ub, tlen) == 0,
	          "the layout of the file changes what a client gets");
	free(tb);
	free(ub);
	free(bytes);
	schema_free(again);
	schema_free(u);
	schema_free(t);
	schema_free(s);
}

Test(schema, labels_and_help_come_from_comments)
{
	struct schema_error err;
	struct schema *s = load(types_set(), &err), *h = shipped();
	const struct schema_form *f = schema_form_find(s, "all_types");
	const ProtobufCMessageDescriptor *d = f->desc,
	                                 *hd = schema_form_find(h, "housing_support")->desc;
	const struct schema_field *info;

	cr_assert_str_eq(f->title, "All types");
	cr_assert_str_eq(f->help, "Help for the whole form,\non two lines.");
	cr_assert_eq(f->version, 3);
	info = schema_field(s, d, protobuf_c_message_descriptor_get_field_by_name(d, "s"));
	cr_assert_str_eq(info->label, "A string");
	cr_assert_str_eq(info->help, "with a default.");
	/* No leading comment: the name in words, and the trailing comment as help. */
	info = schema_field(s, d, protobuf_c_message_descriptor_get_field_by_name(d, "old_one"));
	cr_assert_str_eq(info->label, "Old one");
	cr_assert_str_eq(info->help, "kept for old referrals");
	info = schema_field(s, d, protobuf_c_message_descriptor_get_field_by_name(d, "rinner_one"));
	cr_assert_str_eq(info->label, "Rinner one");
	cr_assert_null(info->help);
	info = schema_field(h, hd,
	                    protobuf_c_message_descriptor_get_field_by_name(hd, "date_at_risk"));
	cr_assert_str_eq(info->label, "Date at risk");
	cr_assert_str_eq(info->help, "YYYY-MM-DD the client may lose their home");
	/* Nested messages have labels too; a descriptor from elsewhere has none. */
	d = protobuf_c_message_descriptor_get_field_by_name(hd, "household_members")->descriptor;
	info = schema_field(h, d, &d->fields[0]);
	cr_assert_str_eq(info->label, "Relationship");
	cr_assert_null(schema_field(s, hd, &hd->fields[0]));
	cr_assert_null(schema_field(h, &refex__forms__housing_support__descriptor,
	                            &refex__forms__housing_support__descriptor.fields[0]));
	schema_free(s);
	schema_free(h);
}

/* ---- the same bytes, the same JSON ---- */

static void fill(ProtobufCMessage *m, int depth);

static void fill_value(const ProtobufCFieldDescriptor *f, void *dst, unsigned k, int depth)
{
	const ProtobufCEnumDescriptor *ed;
	ProtobufCBinaryData *bd;
	ProtobufCMessage *sub;
	char buf[32];

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		*(int64_t *)dst = -(int64_t)(f->id * 1000003u + k) * 4099;
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		*(uint64_t *)dst = (uint64_t)(f->id + k) << 40;
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		*(double *)dst = f->id + k + 0.25;
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		*(float *)dst = (float)f->id - 0.5f * (float)k;
		break;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)dst = (f->id + k) % 2;
		break;
	case PROTOBUF_C_TYPE_ENUM:
		ed = f->descriptor;
		*(int *)dst = ed->values[(f->id + k) % ed->n_values].value;
		break;
	case PROTOBUF_C_TYPE_STRING:
		snprintf(buf, sizeof(buf), "s%u-%u", f->id, k);
		*(char **)dst = strdup(buf);
		break;
	case PROTOBUF_C_TYPE_BYTES:
		bd = dst;
		bd->len = 3;
		bd->data = malloc(3);
		memcpy(bd->data, (uint8_t[]){0, (uint8_t)f->id, (uint8_t)k}, 3);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		sub =
		    calloc(1, ((const ProtobufCMessageDescriptor *)f->descriptor)->sizeof_message);
		sub->descriptor = f->descriptor;
		fill(sub, depth + 1);
		*(ProtobufCMessage **)dst = sub;
		break;
	default: /* 32-bit numbers */
		*(int32_t *)dst = (int32_t)(f->id * 7 + k) * ((f->id % 2) ? -1 : 1);
	}
}

/* Set every field of m through its descriptor alone: offsets, has_ flags, n_ counts. */
static void fill(ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	unsigned i, k;

	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char *p = (char *)m + f->offset;

		if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth > 3)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			*(size_t *)((char *)m + f->quantifier_offset) = 2;
			*(void **)p = calloc(2, value_size(f->type));
			for (k = 0; k < 2; k++)
				fill_value(f, *(char **)p + k * value_size(f->type), k, depth);
			continue;
		}
		if (f->quantifier_offset)
			*(protobuf_c_boolean *)((char *)m + f->quantifier_offset) = 1;
		fill_value(f, p, 0, depth);
	}
}

static struct blob pack(const ProtobufCMessage *m)
{
	struct blob bl;

	bl.n = protobuf_c_message_get_packed_size(m);
	bl.b = malloc(bl.n ? bl.n : 1);
	cr_assert_eq(protobuf_c_message_pack(m, bl.b), bl.n);
	return bl;
}

static struct blob fill_and_pack(const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = calloc(1, d->sizeof_message);
	struct blob bl;

	m->descriptor = d;
	fill(m, 0);
	bl = pack(m);
	protobuf_c_message_free_unpacked(m, NULL);
	return bl;
}

static char *json_of(const ProtobufCMessage *m)
{
	json_t *j = pbjson_encode(m);
	char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);

	json_decref(j);
	return s;
}

/* Filled through each descriptor, packed, unpacked through the other, rendered as JSON,
 * decoded back from that JSON: the same bytes and the same text all the way. */
static void same_behaviour(const ProtobufCMessageDescriptor *c, const ProtobufCMessageDescriptor *r)
{
	struct blob bc = fill_and_pack(c), br = fill_and_pack(r), again;
	ProtobufCMessage *uc, *ur, *jr;
	struct pbjson_error err;
	char *tc, *tr;
	json_t *j;

	cr_assert_eq(br.n, bc.n, "%s", c->name);
	cr_assert_eq(memcmp(br.b, bc.b, bc.n), 0, "%s", c->name);
	cr_assert_not_null(uc = protobuf_c_message_unpack(c, NULL, bc.n, bc.b));
	cr_assert_not_null(ur = protobuf_c_message_unpack(r, NULL, bc.n, bc.b));
	tc = json_of(uc);
	tr = json_of(ur);
	cr_assert_str_eq(tr, tc);
	again = pack(ur);
	cr_assert_eq(again.n, bc.n);
	cr_assert_eq(memcmp(again.b, bc.b, bc.n), 0);
	/* JSON -> message through the run-time descriptor (no message_init) -> the same bytes. */
	j = json_loads(tc, 0, NULL);
	cr_assert_not_null(jr = pbjson_decode(r, j, &err), "%s: %s", err.path, err.message);
	free(again.b);
	again = pack(jr);
	cr_assert_eq(again.n, bc.n);
	cr_assert_eq(memcmp(again.b, bc.b, bc.n), 0);
	json_decref(j);
	protobuf_c_message_free_unpacked(jr, NULL);
	protobuf_c_message_free_unpacked(uc, NULL);
	protobuf_c_message_free_unpacked(ur, NULL);
	free(tc);
	free(tr);
	free(again.b);
	free(bc.b);
	free(br.b);
}

Test(schema, shipped_forms_pack_unpack_and_json_as_compiled)
{
	struct schema *s = shipped();
	size_t i;

	for (i = 0; i < 3; i++)
		same_behaviour(compiled[i], schema_form_at(s, i)->desc);
	schema_free(s);
}

Test(schema, every_type_packs_unpacks_and_jsons_as_compiled)
{
	struct schema_error err;
	struct schema *s = load(types_set(), &err);

	cr_assert_not_null(s, "%s", err.message);
	same_behaviour(&refex__test__all_types__descriptor, schema_form_at(s, 0)->desc);
	schema_free(s);
}

/* A message protobuf-c unpacks through a run-time descriptor reads as the compiled struct. */
Test(schema, unpacked_through_run_time_reads_as_the_compiled_struct)
{
	Refex__Forms__HousingSupport h = REFEX__FORMS__HOUSING_SUPPORT__INIT, *got;
	Refex__Forms__HousingSupport__HouseholdMember m =
	    REFEX__FORMS__HOUSING_SUPPORT__HOUSEHOLD_MEMBER__INIT;
	Refex__Forms__HousingSupport__HouseholdMember *members[] = {&m};
	struct schema *s = shipped();
	uint8_t buf[256];
	size_t len;

	h.current_situation = REFEX__FORMS__HOUSING_SUPPORT__SITUATION__AT_RISK_OF_EVICTION;
	h.tenure = REFEX__FORMS__HOUSING_SUPPORT__TENURE__PRIVATE_RENTED;
	h.date_at_risk = "2027-01-31";
	h.has_bedrooms_needed = 1;
	h.bedrooms_needed = 3;
	m.relationship = "child";
	m.has_age = 1;
	m.age = 4;
	h.n_household_members = 1;
	h.household_members = members;
	len = refex__forms__housing_support__pack(&h, buf);
	got = (Refex__Forms__HousingSupport *)protobuf_c_message_unpack(
	    schema_form_find(s, "housing_support")->desc, NULL, len, buf);
	cr_assert_not_null(got);
	cr_assert_eq(got->tenure, REFEX__FORMS__HOUSING_SUPPORT__TENURE__PRIVATE_RENTED);
	cr_assert_str_eq(got->date_at_risk, "2027-01-31");
	cr_assert(got->has_bedrooms_needed && got->bedrooms_needed == 3);
	cr_assert(!got->has_pets && !got->notice_type);
	cr_assert_eq(got->n_household_members, 1);
	cr_assert_str_eq(got->household_members[0]->relationship, "child");
	cr_assert(got->household_members[0]->has_age && got->household_members[0]->age == 4);
	protobuf_c_message_free_unpacked(&got->base, NULL);
	schema_free(s);
}

/* form_check through either descriptor gives the same verdict, path and message (rules
 * aside: the compiled forms carry none, so these cases break none). */
static void same_check(const struct schema *s, const char *name, const uint8_t *data, size_t len,
                       enum pbcheck_problem want, const char *path)
{
	const struct form *c = form_find(name);
	struct form r = *c;
	struct pbcheck_result rc, rr;

	r.desc = schema_form_find(s, name)->desc;
	cr_assert_eq(form_check(c, data, len, &rc), want == PBCHECK_OK ? 0 : -1);
	cr_assert_eq(form_check(&r, data, len, &rr), want == PBCHECK_OK ? 0 : -1);
	cr_assert_eq(rc.problem, want, "%s: %s", rc.path, rc.message);
	cr_assert_eq(rr.problem, rc.problem);
	cr_assert_str_eq(rr.path, path);
	cr_assert_str_eq(rr.path, rc.path);
	cr_assert_str_eq(rr.message, rc.message);
}

Test(schema, bad_form_data_is_refused_as_compiled)
{
	struct schema *s = shipped();
	/* situation 99 (no such value), tenure 4 */
	static const uint8_t bad_enum[] = {0x08, 99, 0x10, 4};
	/* situation 1, no tenure */
	static const uint8_t missing[] = {0x08, 1};
	/* a household member without its relationship */
	static const uint8_t nested[] = {0x08, 1, 0x10, 4, 0x22, 2, 0x10, 3};
	/* notice_received as a 64-bit value */
	static const uint8_t wire[] = {0x08, 1, 0x10, 4, 0x29, 1, 0, 0, 0, 0, 0, 0, 0};
	/* debt_advice: a priority debt of type 99 */
	static const uint8_t debt[] = {0x10, 5, 0x30, 0, 0x1a, 2, 0x08, 99};
	static const uint8_t good[] = {0x08, 1, 0x10, 4};

	same_check(s, "housing_support", good, sizeof(good), PBCHECK_OK, "");
	same_check(s, "housing_support", bad_enum, sizeof(bad_enum), PBCHECK_BAD_ENUM,
	           "currentSituation");
	same_check(s, "housing_support", missing, sizeof(missing), PBCHECK_MISSING_REQUIRED,
	           "tenure");
	same_check(s, "housing_support", nested, sizeof(nested), PBCHECK_MISSING_REQUIRED,
	           "householdMembers[0].relationship");
	same_check(s, "housing_support", wire, sizeof(wire), PBCHECK_WRONG_TYPE, "noticeReceived");
	same_check(s, "debt_advice", debt, sizeof(debt), PBCHECK_BAD_ENUM, "priorityDebts[0].type");
	same_check(s, "food_support", NULL, 0, PBCHECK_MISSING_REQUIRED, "householdAdults");
	schema_free(s);
}

/* ---- what is refused ---- */

#define HEAD "syntax = \"proto2\";\npackage t;\n"

static void refused(const char *text, const char *want)
{
	struct schema_error err;
	struct schema *s = load(compile_text(text), &err);

	cr_assert_null(s, "loaded: %s", text);
	cr_assert(strstr(err.message, want), "\"%s\" does not say \"%s\"", err.message, want);
}

Test(schema, unsupported_constructs_are_refused_naming_the_field)
{
	refused("syntax = \"proto3\";\nmessage A { int32 x = 1; }\n", "t.proto: syntax \"proto3\"");
	refused(HEAD "message A { oneof o { int32 x = 1; string y = 2; } }\n",
	        "t.A: oneofs are not supported");
	refused(HEAD "message A { map<string, int32> m = 1; }\n", "t.A.m: maps are not supported");
	refused(HEAD "message A { optional group G = 1 { optional int32 x = 2; } }\n",
	        "t.A.g: groups are not supported");
	refused(HEAD "message A { extensions 100 to 200; }\n", "t.A: extensions are not supported");
	refused(HEAD "message A { extensions 100 to 200; }\nextend A { optional int32 x = 100; }\n",
	        "extensions are not supported");
	refused(HEAD "message A { optional A again = 1; }\n", "t.A contains itself");
	refused(HEAD "message A { optional B b = 1; }\nmessage B { repeated A a = 1; }\n",
	        "contains itself");
	refused(HEAD "message A { message B { message C { message D { message E {} } } } }\n",
	        "t.A.B.C.D.E: messages nested deeper than 4");
	refused(HEAD "message A { optional B b = 1; }\nmessage B { optional C c = 1; }\n"
	             "message C { optional D d = 1; }\nmessage D { optional E e = 1; }\n"
	             "message E { optional int32 x = 1; }\n",
	        "t.A: messages nested deeper than 4");
	refused(HEAD "message A { enum E { option allow_alias = true; X = 0; Y = 0; } }\n",
	        "share the number 0: aliases are not supported");
	refused(HEAD "message A { required int32 x = 1 [default = 3]; }\n",
	        "t.A.x: a default is supported on optional");
	refused(HEAD "message A { optional bytes x = 1 [default = \"ab\"]; }\n",
	        "t.A.x: a default is supported on optional");
	refused(HEAD "message A { optional int32 x = 1 [json_name = \"why\"]; }\n",
	        "t.A.x: json_name is not supported");
	refused(HEAD "message A { optional int32 foo_bar = 1; optional int32 fooBar = 2; }\n",
	        "t.A: two fields are both fooBar in JSON");
	refused(HEAD "message A { optional int32 x = 1; }\nservice S { rpc R(A) returns (A); }\n",
	        "services are not forms");
	refused(HEAD "// Title\n// version: zero\nmessage A { optional int32 x = 1; }\n",
	        "t.A: \"version: zero\" is not a version number");
	refused(HEAD "// version: 1\n// version: 2\nmessage A { optional int32 x = 1; }\n",
	        "t.A: two version lines");
	refused(HEAD "message A { optional int32 x = 1; }\nmessage a { optional int32 y = 1; }\n",
	        "form a is defined twice");
	refused(HEAD "enum Lonely { NOTHING = 0; }\n", "no forms");
	refused(HEAD "message A { enum E { Z = 0; BIG = 2147483647; } }\n",
	        "t.A.E: value BIG is 2147483647: enum numbers are from -1000000000 to 1000000000");
}

Test(schema, too_many_fields_are_refused)
{
	char *text = malloc(16384);
	size_t n = (size_t)sprintf(text, HEAD "message Big {\n"), i;

	for (i = 1; i <= SCHEMA_MAX_FIELDS + 1; i++)
		n += (size_t)sprintf(text + n, "  optional int32 f%zu = %zu;\n", i, i);
	strcpy(text + n, "}\n");
	refused(text, "t.Big: 201 fields, at most 200");
	free(text);
}

/* 4 levels of 20 fields each using the next level: 20 + 400 + 8000 + ... fields unfolded. */
Test(schema, forms_that_unfold_too_big_are_refused)
{
	static const char *const level[] = {"A", "B", "C", "D"};
	char *text = malloc(32768);
	size_t n = (size_t)sprintf(text, HEAD), i, j;

	for (i = 0; i < 4; i++) {
		n += (size_t)sprintf(text + n, "message %s {\n", level[i]);
		for (j = 1; j <= 20; j++)
			n += (size_t)sprintf(text + n, "  optional %s f%zu = %zu;\n",
			                     i < 3 ? level[i + 1] : "int32", j, j);
		n += (size_t)sprintf(text + n, "}\n");
	}
	refused(text, "t.B: 8420 fields counting those of nested messages, at most 1000");
	free(text);
}

Test(schema, a_blank_form_with_no_comments_gets_names_in_words)
{
	struct schema_error err;
	struct schema *s = load(compile_text(HEAD "message TenancySupport {\n"
	                                          "  // How many rooms?\n"
	                                          "  required uint32 rooms = 1;\n}\n"),
	                        &err);
	const struct schema_form *f;

	cr_assert_not_null(s, "%s", err.message);
	f = schema_form_find(s, "tenancy_support");
	cr_assert_not_null(f);
	cr_assert_str_eq(f->title, "Tenancy support");
	cr_assert_null(f->help);
	cr_assert_eq(f->version, 1);
	cr_assert_str_eq(schema_field(s, f->desc, &f->desc->fields[0])->label, "How many rooms?");
	schema_free(s);
}

/* ---- rules (proto/refex/rules.proto) ---- */

/* The rules of form name's field called field (in message desc, or the form's when NULL). */
static const struct rules *rules_of(const struct schema *s, const char *name,
                                    const ProtobufCMessageDescriptor *desc, const char *field)
{
	const ProtobufCMessageDescriptor *d = desc ? desc : schema_form_find(s, name)->desc;
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(d, field);

	cr_assert_not_null(f, "%s", field);
	return schema_field(s, d, f)->rules;
}

Test(schema, rules_come_from_field_options)
{
	struct schema *s = shipped();
	const ProtobufCMessageDescriptor *h = schema_form_find(s, "housing_support")->desc;
	const ProtobufCMessageDescriptor *member =
	    protobuf_c_message_descriptor_get_field_by_name(h, "household_members")->descriptor;
	const struct rules *r;

	r = rules_of(s, "housing_support", NULL, "date_at_risk");
	cr_assert_not_null(r);
	cr_assert_eq(r->kinds, RULES_DATE);
	cr_assert(r->not_past && !r->not_future);
	r = rules_of(s, "housing_support", NULL, "tenure");
	cr_assert(r && r->kinds == RULES_ENUM && r->zero_is_no_answer);
	r = rules_of(s, "housing_support", member, "relationship");
	cr_assert(r && r->kinds == RULES_TEXT && r->non_blank && r->max_length == 40);
	r = rules_of(s, "food_support", NULL, "vouchers_requested");
	cr_assert(r && r->kinds == RULES_NUMBER && r->has_min && r->min == 1 && r->max == 10);
	cr_assert_null(rules_of(s, "housing_support", NULL, "pets"));
	cr_assert_null(rules_of(s, "housing_support", member, "dependent"));
	schema_free(s);
}

/* The hub's forms judge their rules in form_check; the compiled forms carry none. */
Test(schema, form_check_applies_the_shipped_forms_rules)
{
	struct schema *s = shipped();
	struct form_set *set = form_set_new(s);
	const struct form *f = form_set_find(set, "housing_support");
	/* situation 1, tenure 4, date_at_risk "2020-01-01" */
	static const uint8_t past[] = {0x08, 1,   0x10, 4,   0x1a, 10,  '2', '0',
	                               '2',  '0', '-',  '0', '1',  '-', '0', '1'};
	/* situation 1, tenure 4, date_at_risk "whenever" */
	static const uint8_t whenever[] = {0x08, 1,   0x10, 4,   0x1a, 8,   'w',
	                                   'h',  'e', 'n',  'e', 'v',  'e', 'r'};
	/* situation 1, tenure 4, date_at_risk "2099-12-31" */
	static const uint8_t future[] = {0x08, 1,   0x10, 4,   0x1a, 10,  '2', '0',
	                                 '9',  '9', '-',  '1', '2',  '-', '3', '1'};
	/* situation 0 (SITUATION_UNSPECIFIED), tenure 4 */
	static const uint8_t unspecified[] = {0x08, 0, 0x10, 4};
	struct pbcheck_result res;

	cr_assert_not_null(f);
	cr_assert_eq(form_check(f, past, sizeof(past), &res), -1);
	cr_assert_eq(res.problem, PBCHECK_BROKEN_RULE);
	cr_assert_str_eq(res.path, "dateAtRisk");
	cr_assert_str_eq(res.message,
	                 "2020-01-01 is in the past; this form asks for a date from today on");
	cr_assert_eq(form_check(f, whenever, sizeof(whenever), &res), -1);
	cr_assert_str_eq(res.message, "not a date written YYYY-MM-DD");
	cr_assert_eq(form_check(f, unspecified, sizeof(unspecified), &res), -1);
	cr_assert_str_eq(res.path, "currentSituation");
	cr_assert_eq(form_check(f, future, sizeof(future), &res), 0, "%s", res.message);
	cr_assert_eq(form_check(form_set_find(form_set_compiled(), "housing_support"), past,
	                        sizeof(past), &res),
	             0, "the compiled forms carry no rules");
	form_set_free(set);
}

#define RULES_HEAD HEAD "import \"refex/rules.proto\";\n"

Test(schema, several_rules_on_one_field_merge)
{
	struct schema_error err;
	struct schema *s = load(
	    compile_text(RULES_HEAD
	                 "message A {\n"
	                 "  optional string d = 1 [(refex.rules.rule).date = {not_future: true},\n"
	                 "                         (refex.rules.rule).text = {non_blank: true}];\n"
	                 "  repeated int64 n = 2 [(refex.rules.rule).number = {min: -5, max: 5},\n"
	                 "                        (refex.rules.rule).choose = {at_least: 2}];\n"
	                 "}\n"),
	    &err);
	const struct rules *r;

	cr_assert_not_null(s, "%s", err.message);
	r = rules_of(s, "a", NULL, "d");
	cr_assert_eq(r->kinds, RULES_DATE | RULES_TEXT);
	cr_assert(r->not_future && r->non_blank && !r->not_past);
	r = rules_of(s, "a", NULL, "n");
	cr_assert_eq(r->kinds, RULES_NUMBER | RULES_CHOOSE);
	cr_assert(r->has_min && r->min == -5 && r->has_max && r->max == 5 && r->at_least == 2);
	schema_free(s);
}

/* Every rule on every kind of field it fits loads (the fuzz_schema seed all-rules). */
Test(schema, every_rule_loads)
{
	struct schema_error err;
	struct schema *s = load(protoc(REFEX_TEST_DIR, "schema_rules.proto"), &err);
	const struct rules *r;

	cr_assert_not_null(s, "%s", err.message);
	r = rules_of(s, "all_rules", NULL, "answers");
	cr_assert(r && r->kinds == (RULES_ENUM | RULES_CHOOSE) && r->at_least == 1);
	r = rules_of(s, "all_rules", NULL, "big");
	cr_assert(r && r->has_max && r->max == 9000000000 && !r->has_min);
	r = rules_of(s, "all_rules", NULL, "balance");
	cr_assert(r && r->min == -1000000);
	cr_assert_null(rules_of(s, "all_rules", NULL, "plain"));
	schema_free(s);
}

Test(schema, rules_that_do_not_fit_their_field_are_refused_naming_it)
{
	refused(RULES_HEAD "message A { optional int32 x = 1 [(refex.rules.rule).date = {}]; }\n",
	        "t.proto: t.A.x: a date rule needs a string field");
	refused(RULES_HEAD "message A { enum E { Z = 0; } optional E x = 1 "
	                   "[(refex.rules.rule).text = {non_blank: true}]; }\n",
	        "t.A.x: a text rule needs a string field");
	refused(RULES_HEAD "message A { optional string x = 1 "
	                   "[(refex.rules.rule).number = {max: 3}]; }\n",
	        "t.A.x: a number rule needs an integer field");
	refused(RULES_HEAD "message A { optional double x = 1 "
	                   "[(refex.rules.rule).number = {max: 3}]; }\n",
	        "t.A.x: a number rule needs an integer field");
	refused(RULES_HEAD "message A { optional uint32 x = 1 "
	                   "[(refex.rules.rule).number = {min: 5, max: 3}]; }\n",
	        "t.A.x: number min 5 is more than max 3");
	refused(RULES_HEAD "message A { optional string x = 1 "
	                   "[(refex.rules.rule).enum = {zero_is_no_answer: true}]; }\n",
	        "t.A.x: an enum rule needs an enum field");
	refused(RULES_HEAD "message A { enum E { ONE = 1; } required E x = 1 "
	                   "[(refex.rules.rule).enum = {zero_is_no_answer: true}]; }\n",
	        "t.A.x: zero_is_no_answer: E has no value 0");
	refused(RULES_HEAD "message A { optional string x = 1 "
	                   "[(refex.rules.rule).choose = {at_least: 1}]; }\n",
	        "t.A.x: a choose rule needs a repeated field");
	refused(RULES_HEAD "message A { optional string x = 1 "
	                   "[(refex.rules.rule).text = {max_length: 0}]; }\n",
	        "t.A.x: text max_length must be 1 or more");
	refused(RULES_HEAD "message A { message B { optional bool y = 1 "
	                   "[(refex.rules.rule).text = {}]; } optional B b = 1; }\n",
	        "t.A.B.y: a text rule needs a string field");
}

Test(schema, only_the_rules_may_be_imported)
{
	refused(HEAD "import \"google/protobuf/descriptor.proto\";\n"
	             "message A { optional int32 x = 1; }\n",
	        "t.proto: imports \"google/protobuf/descriptor.proto\": a form may import only "
	        "\"refex/rules.proto\"");
}

/* A set with refex/rules.proto in it (protoc --include_imports) does not make it a form. */
Test(schema, the_rules_file_is_not_a_form)
{
	char tmp[] = "/tmp/refex-schema-XXXXXX", out[64], cmd[2048];
	struct schema_error err;
	struct schema *s;
	struct blob bl;

	cr_assert_not_null(mkdtemp(tmp));
	snprintf(out, sizeof(out), "%s/set.pb", tmp);
	snprintf(cmd, sizeof(cmd),
	         "cd '%s' && '%s' --proto_path=. --include_imports --descriptor_set_out='%s' "
	         "refex/rules.proto",
	         REFEX_PROTO_DIR, REFEX_PROTOC, out);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	bl = read_file(out);
	unlink(out);
	rmdir(tmp);
	s = load(bl, &err);
	cr_assert_null(s, "the rules alone are no forms");
	/* descriptor.proto comes along and is refused: it is no form either. */
	cr_assert(strstr(err.message, "google/protobuf/descriptor.proto") ||
	              strstr(err.message, "no forms"),
	          "%s", err.message);
}

/* ---- hostile descriptor sets ---- */

static Google__Protobuf__FileDescriptorSet *decoded_shipped(void)
{
	struct blob bl = shipped_set();
	Google__Protobuf__FileDescriptorSet *set =
	    google__protobuf__file_descriptor_set__unpack(NULL, bl.n, bl.b);

	free(bl.b);
	cr_assert_not_null(set);
	return set;
}

/* Pack set (changed by the caller), load it, and expect a refusal saying want. */
static void refused_set(Google__Protobuf__FileDescriptorSet *set, const char *want)
{
	struct schema_error err;
	struct blob bl;
	struct schema *s;

	bl.n = google__protobuf__file_descriptor_set__get_packed_size(set);
	bl.b = malloc(bl.n);
	google__protobuf__file_descriptor_set__pack(set, bl.b);
	s = load(bl, &err);
	cr_assert_null(s);
	cr_assert(strstr(err.message, want), "\"%s\" does not say \"%s\"", err.message, want);
}

static Google__Protobuf__DescriptorProto *housing_proto(Google__Protobuf__FileDescriptorSet *set)
{
	size_t i;

	for (i = 0; i < set->n_file; i++)
		if (strcmp(set->file[i]->message_type[0]->name, "HousingSupport") == 0)
			return set->file[i]->message_type[0];
	cr_assert_fail("no HousingSupport");
	return NULL;
}

Test(schema, forged_descriptor_sets_are_refused)
{
	Google__Protobuf__FileDescriptorSet *set = decoded_shipped();
	Google__Protobuf__DescriptorProto *h = housing_proto(set);
	Google__Protobuf__FieldDescriptorProto *f = h->field[2];
	char *saved_name = f->name, *saved_type = h->field[0]->type_name;
	int32_t saved_number = f->number;

	f->name = "date at risk";
	refused_set(set, "the field name is not an identifier");
	f->name = saved_name;
	f->number = 0;
	refused_set(set, "HousingSupport.date_at_risk: bad field number");
	f->number = h->field[1]->number;
	refused_set(set, "share the number 2");
	f->number = saved_number;
	h->field[0]->type_name = ".refex.forms.Nowhere";
	refused_set(set, "current_situation: unknown enum type .refex.forms.Nowhere");
	h->field[0]->type_name = ".refex.forms.HousingSupport.HouseholdMember";
	refused_set(set, "unknown enum type");
	h->field[0]->type_name = saved_type;
	f->type = 99;
	refused_set(set, "date_at_risk: unknown field type 99");
	f->type = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_STRING;
	f->label = 7;
	refused_set(set, "date_at_risk: unknown label 7");
	f->label = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_OPTIONAL;
	f->default_value = "\x1b[2J";
	refused_set(set, "control characters");
	f->default_value = NULL;
	saved_type = h->field[0]->type_name;
	h->field[0]->type_name = ".refex.\x1b[2J";
	refused_set(set, "current_situation: unknown enum type (not printable)");
	h->field[0]->type_name = saved_type;
	saved_name = h->name;
	h->name = "Housing\x1b[2J";
	refused_set(set, "message name \"(not printable)\" in refex.forms is not an identifier");
	h->name = "Housing;Support";
	refused_set(set, "message name \"Housing;Support\"");
	h->name = saved_name;
	google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
}

/* A forged set asking for a packed message or string field (protoc refuses it; protobuf-c
 * would abort packing one) is refused. */
Test(schema, packed_is_refused_on_fields_that_cannot_be_packed)
{
	Google__Protobuf__FileDescriptorSet *set = decoded_shipped();
	Google__Protobuf__DescriptorProto *h = housing_proto(set);
	Google__Protobuf__FieldOptions packed = GOOGLE__PROTOBUF__FIELD_OPTIONS__INIT;
	Google__Protobuf__FieldDescriptorProto *members = NULL;

	for (size_t i = 0; i < h->n_field; i++)
		if (strcmp(h->field[i]->name, "household_members") == 0)
			members = h->field[i];
	cr_assert_not_null(members);
	cr_assert_eq(members->label,
	             GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED);
	packed.has_packed = 1;
	packed.packed = 1;
	members->options = &packed;
	refused_set(set, "household_members: only numbers and enums can be packed");
	members->options = NULL;
	google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
}

/* Put rule bytes (the payload of a (refex.rules.rule) option) on housing's date_at_risk. */
static void forge_rule(Google__Protobuf__FileDescriptorSet *set, Google__Protobuf__FieldOptions *o,
                       ProtobufCMessageUnknownField *u, const uint8_t *data, size_t len)
{
	static uint8_t wire[1024];
	Google__Protobuf__DescriptorProto *h = housing_proto(set);

	cr_assert_lt(len, 128);
	wire[0] = (uint8_t)len;
	memcpy(wire + 1, data, len);
	*u = (ProtobufCMessageUnknownField){RULES_FIELD_NUMBER,
	                                    PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED, len + 1, wire};
	o->base.n_unknown_fields = 1;
	o->base.unknown_fields = u;
	h->field[2]->options = o;
}

Test(schema, forged_rules_are_refused)
{
	Google__Protobuf__FileDescriptorSet *set = decoded_shipped();
	Google__Protobuf__FieldDescriptorProto *f = housing_proto(set)->field[2];
	Google__Protobuf__FieldOptions *saved = f->options,
	                               o = GOOGLE__PROTOBUF__FIELD_OPTIONS__INIT;
	ProtobufCMessageUnknownField u;
	/* FieldRules { date { 9: 1 } }: a setting a newer rules.proto might add */
	static const uint8_t newer[] = {0x0a, 2, 0x48, 1};
	/* FieldRules { 7: 1 }: a kind of rule this hub does not know */
	static const uint8_t kind[] = {0x38, 1};
	/* not protobuf */
	static const uint8_t junk[] = {0xff, 0xff};
	static const uint8_t big[120] = {0};

	cr_assert_str_eq(f->name, "date_at_risk");
	forge_rule(set, &o, &u, newer, sizeof(newer));
	refused_set(set, "HousingSupport.date_at_risk: its rule holds a setting this hub does not "
	                 "know");
	forge_rule(set, &o, &u, kind, sizeof(kind));
	refused_set(set, "does not know");
	forge_rule(set, &o, &u, junk, sizeof(junk));
	refused_set(set, "date_at_risk: its rule is not a refex.rules.FieldRules");
	forge_rule(set, &o, &u, big, sizeof(big));
	u.len = 1; /* a length prefix saying 120 bytes, with none after it */
	refused_set(set, "options: truncated");
	forge_rule(set, &o, &u, big, sizeof(big));
	u.wire_type = PROTOBUF_C_WIRE_TYPE_VARINT; /* the varint 120 */
	u.len = 1;
	refused_set(set, "date_at_risk: its rule is not a refex.rules.FieldRules");
	f->options = saved;
	google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
}

/* Comments are shown to people: no terminal escapes; source paths that point nowhere are
 * ignored, not followed. */
Test(schema, forged_comments_and_source_paths)
{
	Google__Protobuf__FileDescriptorSet *set = decoded_shipped();
	Google__Protobuf__SourceCodeInfo__Location *loc = NULL;
	Google__Protobuf__FileDescriptorProto *file = NULL;
	struct schema_error err;
	struct schema *s;
	struct blob bl;
	size_t i;
	int32_t bad[] = {4, 0, 3, 1000, 2, 0}, worse[] = {4, -1}, far[] = {4, 0, 2, 99999};
	int32_t *saved_path;
	size_t saved_n;
	char *saved_comment;

	for (i = 0; i < set->n_file; i++)
		if (set->file[i]->source_code_info &&
		    set->file[i]->source_code_info->n_location > 1)
			file = set->file[i];
	cr_assert_not_null(file);
	loc = file->source_code_info->location[1];
	saved_path = loc->path;
	saved_n = loc->n_path;
	saved_comment = loc->leading_comments;
	loc->leading_comments = "Label\x1b]0;owned\x07";
	loc->n_path = 2;
	loc->path = (int32_t[]){4, 0};
	refused_set(set, "control characters");
	loc->leading_comments = "Label\xc2\x9b"
	                        "2J";
	refused_set(set, "control characters");
	loc->leading_comments = "Title";
	loc->n_path = 6;
	loc->path = bad;
	bl.n = google__protobuf__file_descriptor_set__get_packed_size(set);
	bl.b = malloc(bl.n);
	google__protobuf__file_descriptor_set__pack(set, bl.b);
	cr_assert_not_null(s = load(bl, &err), "%s", err.message);
	schema_free(s);
	loc->n_path = 2;
	loc->path = worse;
	bl.b = malloc(bl.n + 64);
	bl.n = google__protobuf__file_descriptor_set__pack(set, bl.b);
	cr_assert_not_null(s = load(bl, &err), "%s", err.message);
	schema_free(s);
	loc->n_path = 4;
	loc->path = far;
	bl.b = malloc(bl.n + 64);
	bl.n = google__protobuf__file_descriptor_set__pack(set, bl.b);
	cr_assert_not_null(s = load(bl, &err), "%s", err.message);
	schema_free(s);
	/* the arrays are the test's, not protobuf-c's */
	loc->path = saved_path;
	loc->n_path = saved_n;
	loc->leading_comments = saved_comment;
	google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
}

Test(schema, truncated_sets_are_refused_or_loaded_never_crash)
{
	struct blob bl = shipped_set();
	struct schema_error err;
	struct schema *s;
	size_t n, loaded = 0;

	for (n = 0; n < bl.n; n++) {
		s = schema_load(bl.b, n, &err);
		if (s) {
			loaded++;
			schema_free(s);
		} else {
			cr_assert_neq(err.message[0], '\0');
		}
	}
	cr_assert_lt(loaded, bl.n / 2, "most prefixes of a set are not whole sets");
	s = schema_load(bl.b, bl.n, &err);
	cr_assert_not_null(s, "%s", err.message);
	schema_free(s);
	cr_assert_null(schema_load(NULL, 0, &err));
	cr_assert_str_eq(err.message, "no forms: the files define no message");
	cr_assert_null(schema_load(NULL, 5, &err));
	cr_assert_null(
	    schema_load((const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11, &err));
	cr_assert(strstr(err.message, "not a descriptor set"), "%s", err.message);
	free(bl.b);
}

Test(schema, huge_and_deep_sets_are_refused_before_decoding)
{
	size_t n = SCHEMA_MAX_BYTES + 1, depth, i, at;
	uint8_t *big = calloc(1, n);
	struct schema_error err;

	cr_assert_null(schema_load(big, n, &err));
	cr_assert(strstr(err.message, "descriptor set too large"), "%s", err.message);
	/* file { message_type { nested_type { nested_type ... } } }: 2000 levels, each a
	 * length-prefixed field, built inside out. */
	depth = 2000;
	at = n;
	for (i = 0; i < depth; i++) {
		size_t len = n - at;
		uint8_t hdr[8];
		size_t h = 0;
		uint8_t tag = i == depth - 1 ? 0x0a : i == depth - 2 ? 0x22 : 0x1a;

		hdr[h++] = tag;
		do {
			hdr[h++] = (uint8_t)((len & 0x7f) | (len > 0x7f ? 0x80 : 0));
			len >>= 7;
		} while (len);
		at -= h;
		memcpy(big + at, hdr, h);
	}
	cr_assert_null(schema_load(big + at, n - at, &err));
	cr_assert(strstr(err.message, "nested deeper than"), "%s", err.message);
	free(big);
}
