/*
 * Form versions kept (daemon/form_versions.c, proto/schema_compat.c): what a new version of a
 * form may change, what one version may not, and what the store records at start and reload.
 */
#include <criterion/criterion.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "form_versions.h"
#include "forms_dir.h"

static char dir[] = "/tmp/refex-formver-XXXXXX";

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(form_versions, .init = setup, .fini = teardown);

#define HEAD "syntax = \"proto2\";\npackage p;\n"

/* Load text as the only file of the forms directory. */
static struct form_set *forms_of(const char *text)
{
	char path[300], err[FORMS_DIR_ERR];
	struct form_set *set;
	FILE *f;

	snprintf(path, sizeof(path), "%s/t.proto", dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	set = forms_dir_load(dir, err, sizeof(err));
	cr_assert_not_null(set, "%s", err);
	return set;
}

/* Keep every form of each text given (a version each), as the store would. */
static struct form_versions *kept_of(const char *const *texts, size_t n)
{
	struct store_form_version rows[8];
	struct form_set *sets[8];
	struct form_versions *k;
	char err[512];

	for (size_t i = 0; i < n; i++) {
		const struct schema_form *sf;

		sets[i] = forms_of(texts[i]);
		sf = schema_form_at(sets[i]->schema, 0);
		rows[i] =
		    (struct store_form_version){.form = (char *)sf->name, .version = sf->version};
		rows[i].schema = schema_form_export(sets[i]->schema, sf, &rows[i].schema_len);
	}
	k = form_versions_load(rows, n, err, sizeof(err));
	cr_assert_not_null(k, "%s", err);
	for (size_t i = 0; i < n; i++) {
		free(rows[i].schema);
		form_set_free(sets[i]);
	}
	return k;
}

/* Plan text against the kept versions texts; return the plan's only item. */
static struct form_plan_item plan_one(const char *const *kept, size_t n, const char *text)
{
	struct form_versions *k = kept_of(kept, n);
	struct form_set *set = forms_of(text);
	struct form_plan plan;
	struct form_plan_item it;

	cr_assert_eq(form_versions_plan(k, set, &plan), 0);
	cr_assert_eq(plan.n, 1);
	it = plan.items[0];
	form_plan_free(&plan);
	form_set_free(set);
	form_versions_free(k);
	return it;
}

#define V1                                                                                         \
	HEAD "// Tenancy help\nmessage TenancyHelp {\n"                                            \
	     "  // Rooms needed\n  required uint32 rooms = 1;\n"                                   \
	     "  optional string landlord = 2;\n"                                                   \
	     "  optional Kind kind = 3;\n"                                                         \
	     "  repeated string needs = 4;\n"                                                      \
	     "  optional Address address = 5;\n"                                                   \
	     "  enum Kind { KIND_UNSPECIFIED = 0; FLAT = 1; HOUSE = 2; }\n"                        \
	     "  message Address { optional string town = 1; }\n}\n"

/* Version 2 of V1 with body (the fields) in place of V1's. */
#define V2(body)                                                                                   \
	HEAD "// Tenancy help\n// version: 2\nmessage TenancyHelp {\n" body                        \
	     "  enum Kind { KIND_UNSPECIFIED = 0; FLAT = 1; HOUSE = 2; }\n"                        \
	     "  message Address { optional string town = 1; }\n}\n"

#define V1_FIELDS                                                                                  \
	"  // Rooms needed\n  required uint32 rooms = 1;\n"                                        \
	"  optional string landlord = 2;\n"                                                        \
	"  optional Kind kind = 3;\n"                                                              \
	"  repeated string needs = 4;\n"                                                           \
	"  optional Address address = 5;\n"

static const char *const v1[] = {V1};

static void expect_refused(struct form_plan_item it, const char *field, const char *reason)
{
	cr_expect_eq(it.change, FORM_REFUSED, "refused: %s", field);
	cr_expect_str_eq(it.field, field);
	cr_expect(strstr(it.reason, reason) != NULL, "reason: %s", it.reason);
}

Test(form_versions, a_new_form_and_the_same_version_again)
{
	cr_expect_eq(plan_one(NULL, 0, V1).change, FORM_NEW);
	cr_expect_eq(plan_one(v1, 1, V1).change, FORM_UNCHANGED);
}

Test(form_versions, a_new_version_may_add_drop_fields_and_relax_rules)
{
	struct form_plan_item it =
	    plan_one(v1, 1,
	             V2("  optional uint32 rooms = 1;\n  optional Kind kind = 3;\n"
	                "  repeated string needs = 4;\n  optional Address address = 5;\n"
	                "  optional bool pets = 6;\n"));

	cr_expect_eq(it.change, FORM_NEW_VERSION, "%s %s", it.field, it.reason);
	cr_expect_eq(it.version, 2);
	cr_expect_eq(it.kept, 1);
}

Test(form_versions, a_field_keeps_its_number_and_a_number_its_field)
{
	expect_refused(plan_one(v1, 1, V2("  required uint32 rooms = 9;\n")), "rooms",
	               "was number 1 in version 1, now 9: a field keeps its number; keep 1");
	expect_refused(plan_one(v1, 1, V2("  required uint32 beds = 1;\n")), "beds",
	               "number 1 was field rooms in version 1: a number is never given to another "
	               "field; give beds a new number (6 is free)");
}

Test(form_versions, a_number_used_by_any_earlier_version_stays_taken)
{
	static const char *const kept[] = {
	    V1, V2("  required uint32 rooms = 1;\n")}; /* version 2 dropped landlord (2) */
	struct form_plan_item it =
	    plan_one(kept, 2,
	             HEAD "// Tenancy help\n// version: 3\nmessage TenancyHelp {\n"
	                  "  required uint32 rooms = 1;\n  optional string agent = 2;\n}\n");

	expect_refused(it, "agent", "number 2 was field landlord in version 1");
}

Test(form_versions, a_field_keeps_its_type_and_cardinality)
{
	expect_refused(plan_one(v1, 1, V2("  required string rooms = 1;\n")), "rooms",
	               "was uint32 in version 1, now string: a field keeps its type");
	expect_refused(
	    plan_one(v1, 1, V2("  required uint32 rooms = 1;\n  optional string kind = 3;\n")),
	    "kind", "was enum p.TenancyHelp.Kind in version 1, now string");
	expect_refused(
	    plan_one(v1, 1, V2("  required uint32 rooms = 1;\n  optional string needs = 4;\n")),
	    "needs", "was repeated in version 1: a field stays repeated or single");
	expect_refused(
	    plan_one(v1, 1, V2("  required uint32 rooms = 1;\n  required string landlord = 2;\n")),
	    "landlord", "was optional in version 1: referrals made on it may lack it");
}

/* A form with rules (refex/rules.proto), version 1 or 2 with the options given. */
#define RULED(version, rooms, note)                                                                \
	"syntax = \"proto2\";\npackage p;\nimport \"refex/rules.proto\";\n"                        \
	"// Tenancy help\n// version: " version "\nmessage TenancyHelp {\n"                        \
	"  required uint32 rooms = 1" rooms ";\n  optional string note = 2" note ";\n}\n"

Test(form_versions, a_new_version_may_relax_a_rule_never_tighten_one)
{
	static const char *const kept[] = {RULED("1",
	                                         " [(refex.rules.rule).number = {min: 1, max: 10}]",
	                                         " [(refex.rules.rule).text = {max_length: 100}]")};
	struct form_plan_item it =
	    plan_one(kept, 1, RULED("2", " [(refex.rules.rule).number = {max: 20}]", ""));

	cr_expect_eq(it.change, FORM_NEW_VERSION, "relaxed: %s %s", it.field, it.reason);
	expect_refused(plan_one(kept, 1,
	                        RULED("2", " [(refex.rules.rule).number = {min: 2, max: 10}]",
	                              " [(refex.rules.rule).text = {max_length: 100}]")),
	               "rooms",
	               "its rules ask more than in version 1 (its number has a higher minimum)");
	expect_refused(plan_one(kept, 1,
	                        RULED("2", " [(refex.rules.rule).number = {min: 1, max: 10}]",
	                              " [(refex.rules.rule).text = {max_length: 50}]")),
	               "note", "(its text has a shorter maximum length)");
	expect_refused(
	    plan_one(kept, 1,
	             RULED("2", " [(refex.rules.rule).number = {min: 1, max: 10}]",
	                   " [(refex.rules.rule).text = {max_length: 100, non_blank: true}]")),
	    "note", "(it may no longer be blank): referrals made on it");
	expect_refused(plan_one(kept, 1,
	                        RULED("2", " [(refex.rules.rule).number = {min: 1, max: 10}]",
	                              " [(refex.rules.rule).date = {}]")),
	               "note", "(it must now be a date)");
}

Test(form_versions, nested_fields_are_named_by_their_path)
{
	expect_refused(plan_one(v1, 1,
	                        HEAD
	                        "// Tenancy help\n// version: 2\nmessage TenancyHelp {\n" V1_FIELDS
	                        "  enum Kind { KIND_UNSPECIFIED = 0; FLAT = 1; HOUSE = 2; }\n"
	                        "  message Address { optional string town = 2; }\n}\n"),
	               "address.town", "was number 1 in version 1, now 2");
}

Test(form_versions, an_enum_value_may_be_added_never_dropped_or_renamed)
{
	struct form_plan_item added =
	    plan_one(v1, 1,
	             HEAD "// Tenancy help\n// version: 2\nmessage TenancyHelp {\n" V1_FIELDS
	                  "  enum Kind { KIND_UNSPECIFIED = 0; FLAT = 1; HOUSE = 2; ROOM = 3; }\n"
	                  "  message Address { optional string town = 1; }\n}\n");

	cr_expect_eq(added.change, FORM_NEW_VERSION, "%s", added.reason);
	expect_refused(plan_one(v1, 1,
	                        HEAD
	                        "// Tenancy help\n// version: 2\nmessage TenancyHelp {\n" V1_FIELDS
	                        "  enum Kind { KIND_UNSPECIFIED = 0; FLAT = 1; }\n"
	                        "  message Address { optional string town = 1; }\n}\n"),
	               "kind", "enum value HOUSE (2) of p.TenancyHelp.Kind was dropped");
	expect_refused(
	    plan_one(v1, 1,
	             HEAD "// Tenancy help\n// version: 2\nmessage TenancyHelp {\n" V1_FIELDS
	                  "  enum Kind { KIND_UNSPECIFIED = 0; FLAT = 1; BUNGALOW = 2; }\n"
	                  "  message Address { optional string town = 1; }\n}\n"),
	    "kind", "enum value 2 of p.TenancyHelp.Kind was HOUSE in version 1, now BUNGALOW");
}

Test(form_versions, one_version_never_changes_and_versions_only_go_up)
{
	static const char *const kept[] = {V1, V2(V1_FIELDS)};

	expect_refused(plan_one(v1, 1,
	                        HEAD "// Tenancy help\nmessage TenancyHelp {\n"
	                             "  // Rooms wanted\n  required uint32 rooms = 1;\n}\n"),
	               "rooms",
	               "its label changed, but version 1 was accepted before and a version "
	               "never changes: number this one 2");
	expect_refused(plan_one(v1, 1,
	                        HEAD "// Tenancy housing help\nmessage TenancyHelp {\n" V1_FIELDS
	                             "  enum Kind { KIND_UNSPECIFIED = 0; FLAT = 1; HOUSE = 2; }\n"
	                             "  message Address { optional string town = 1; }\n}\n"),
	               "", "its title changed");
	expect_refused(plan_one(kept, 2, V1), "",
	               "version 1 is below version 2, which was accepted before: versions only go "
	               "up; number this one 3");
}

Test(form_versions, a_form_gone_from_the_directory_is_retired)
{
	struct form_versions *k = kept_of(v1, 1);
	struct form_set *set = forms_of(HEAD "message Other { optional string a = 1; }\n");
	struct form_plan plan;
	char *text;
	size_t len;
	FILE *out = open_memstream(&text, &len);

	cr_assert_eq(form_versions_plan(k, set, &plan), 0);
	form_plan_print(&plan, out);
	fclose(out);
	cr_expect(strstr(text, "new form: other version 1\n") != NULL, "%s", text);
	cr_expect(strstr(text, "would be retired: form tenancy_help (no longer in the directory") !=
	              NULL,
	          "%s", text);
	free(text);
	form_plan_free(&plan);
	form_set_free(set);
	form_versions_free(k);
}

/* ---- what the store records ---- */

static struct store *st;
static struct event_base *base;

static struct form_versions *sync_text(const char *text, char *err, size_t errlen)
{
	struct form_set *set = forms_of(text);
	struct form_versions *k = form_versions_sync(st, set, err, errlen);

	form_set_free(set);
	return k;
}

static size_t rows_stored(void)
{
	struct store_form_version *rows;
	size_t n;

	cr_assert_eq(store_form_versions(st, &rows, &n), STORE_OK);
	store_form_versions_free(rows, n);
	return n;
}

Test(form_versions, the_store_records_versions_and_retirement_all_or_nothing)
{
	char path[300], err[1024];
	struct form_versions *k;

	snprintf(path, sizeof(path), "%s/refex.db", dir);
	cr_assert_not_null(base = event_base_new());
	cr_assert_not_null(st = store_open(path, base, err, sizeof(err)), "%s", err);

	cr_assert_not_null(k = sync_text(V1, err, sizeof(err)), "%s", err);
	form_versions_free(k);
	cr_expect_eq(rows_stored(), 1);
	cr_assert_not_null(k = sync_text(V1, err, sizeof(err)), "%s", err);
	form_versions_free(k);
	cr_expect_eq(rows_stored(), 1, "the same version again records nothing");
	cr_expect_null(sync_text(V2("  required uint32 rooms = 9;\n"), err, sizeof(err)));
	cr_expect_str_eq(err,
	                 "form tenancy_help version 2: field rooms: was number 1 in version 1, "
	                 "now 9: a field keeps its number; keep 1, or make a new field with "
	                 "a new name and a new number");
	cr_expect_eq(rows_stored(), 1, "a refused change records nothing");
	cr_assert_not_null(k = sync_text(V2(V1_FIELDS), err, sizeof(err)), "%s", err);
	cr_expect_not_null(form_versions_find(k, "tenancy_help", 1), "version 1 stays usable");
	cr_expect_eq(form_versions_newest(k, "tenancy_help")->version, 2);
	form_versions_free(k);

	/* Retired when its file goes, back in force when it returns; the versions stay. */
	cr_assert_not_null(
	    k = sync_text(HEAD "message Other { optional string a = 1; }\n", err, sizeof(err)),
	    "%s", err);
	cr_expect(form_versions_is_retired(k, "tenancy_help"));
	cr_expect(!form_versions_is_retired(k, "other"));
	form_versions_free(k);
	store_close(st);
	cr_assert_not_null(st = store_open(path, base, err, sizeof(err)), "%s", err);
	cr_assert_not_null(k = sync_text(V2(V1_FIELDS), err, sizeof(err)), "%s", err);
	cr_expect(!form_versions_is_retired(k, "tenancy_help"));
	cr_expect(form_versions_is_retired(k, "other"));
	cr_expect_eq(rows_stored(), 3);
	form_versions_free(k);
	store_close(st);
	event_base_free(base);
}
