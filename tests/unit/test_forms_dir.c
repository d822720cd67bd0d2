/* The forms directory (daemon/forms_dir.c): what refexd --check-forms tells a partnership
 * admin about a directory of .proto files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "forms_dir.h"
#include "google/protobuf/descriptor.pb-c.h"

static char dir[] = "/tmp/refex-forms-XXXXXX";

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
}

static void put(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static void teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(forms_dir, .init = setup, .fini = teardown);

/* Run the check on d; return its exit code, and what it printed in *text (free it). */
static int check(const char *d, char **text)
{
	size_t len;
	FILE *out = open_memstream(text, &len);
	int rc = forms_dir_check(d, out);

	fclose(out);
	return rc;
}

#define OK_FORM                                                                                    \
	"syntax = \"proto2\";\npackage p;\n// Tenancy help\n// version: 2\n"                       \
	"message TenancyHelp {\n  // Rooms\n  required uint32 rooms = 1;\n}\n"

Test(forms_dir, the_shipped_forms_are_listed)
{
	char *text;

	cr_assert_eq(check(REFEX_FORMS_DIR, &text), 0, "%s", text);
	cr_assert(strstr(text, "form housing_support version 1 \"Housing support\" "
	                       "(housing_support.proto, 11 fields)"),
	          "%s", text);
	cr_assert(strstr(text, "form debt_advice version 1"), "%s", text);
	cr_assert(strstr(text, "refexd: forms ok (3 files)"), "%s", text);
	free(text);
}

Test(forms_dir, every_refused_file_is_named_with_its_reason)
{
	char *text;

	put("good.proto", OK_FORM);
	put("choice.proto", "syntax = \"proto2\";\npackage q;\n"
	                    "message Choice { oneof o { int32 a = 1; string b = 2; } }\n");
	put("broken.proto", "syntax = \"proto2\";\nmessage {\n");
	put("notes.txt", "not a form");
	cr_assert_eq(check(dir, &text), 1);
	cr_assert(strstr(text, "form tenancy_help version 2 \"Tenancy help\" (good.proto, 1 "
	                       "fields)"),
	          "%s", text);
	cr_assert(strstr(text, "refused: choice.proto: q.Choice: oneofs are not "
	                       "supported"),
	          "%s", text);
	cr_assert(strstr(text, "refused: broken.proto: protoc could not compile it"), "%s", text);
	cr_assert(strstr(text, "refexd: forms refused (2 of 3 files)"), "%s", text);
	cr_assert_null(strstr(text, "notes"));
	free(text);
}

/* protoc finds refex/rules.proto (and descriptor.proto) for a form with rules; the set it
 * writes holds the form file alone; a rule that does not fit is named. */
Test(forms_dir, forms_import_the_rules_and_only_the_forms_are_compiled)
{
	char *files[] = {"rules.proto"}, err[FORMS_DIR_ERR], *text;
	Google__Protobuf__FileDescriptorSet *set;
	uint8_t *data;
	size_t len;

	put("rules.proto", "syntax = \"proto2\";\npackage p;\nimport \"refex/rules.proto\";\n"
	                   "message Visit {\n  required string day = 1 "
	                   "[(refex.rules.rule).date = {not_past: true}];\n}\n");
	cr_assert_not_null(data = forms_dir_compile(dir, files, 1, &len, err, sizeof(err)), "%s",
	                   err);
	cr_assert_not_null(set = google__protobuf__file_descriptor_set__unpack(NULL, len, data));
	cr_assert_eq(set->n_file, 1, "the set holds the form file only, not its imports");
	cr_assert_str_eq(set->file[0]->name, "rules.proto");
	google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
	free(data);
	cr_assert_eq(check(dir, &text), 0, "%s", text);
	free(text);

	put("rules.proto", "syntax = \"proto2\";\npackage p;\nimport \"refex/rules.proto\";\n"
	                   "message Visit {\n  required uint32 day = 1 "
	                   "[(refex.rules.rule).date = {not_past: true}];\n}\n");
	cr_assert_eq(check(dir, &text), 1);
	cr_assert(strstr(text, "refused: rules.proto: p.Visit.day: a date rule needs a string "
	                       "field"),
	          "%s", text);
	free(text);
}

Test(forms_dir, the_same_form_in_two_files_is_refused)
{
	char *text;

	put("a.proto", OK_FORM);
	put("b.proto", "syntax = \"proto2\";\npackage other;\nmessage TenancyHelp {}\n");
	cr_assert_eq(check(dir, &text), 1);
	cr_assert(strstr(text, "refused: b.proto: form tenancy_help is defined twice "
	                       "(also in a.proto)"),
	          "%s", text);
	free(text);
}

Test(forms_dir, an_empty_or_missing_directory_is_refused)
{
	char *text, missing[300];

	cr_assert_eq(check(dir, &text), 1);
	cr_assert(strstr(text, "holds no .proto files"), "%s", text);
	free(text);
	snprintf(missing, sizeof(missing), "%s/nowhere", dir);
	cr_assert_eq(check(missing, &text), 1);
	cr_assert(strstr(text, "refused: cannot read") && strstr(text, "No such file"), "%s", text);
	free(text);
}

Test(forms_dir, a_proto_that_is_no_regular_file_is_refused_at_once)
{
	char path[300], *text;

	put("a.proto", OK_FORM);
	snprintf(path, sizeof(path), "%s/stuck.proto", dir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	/* protoc would wait on the FIFO for ever, and a reloading hub with it. */
	cr_assert_eq(check(dir, &text), 1);
	cr_assert(strstr(text, "stuck.proto is not a regular file"), "%s", text);
	free(text);
}

Test(forms_dir, a_protoc_that_hangs_is_stopped_at_its_deadline)
{
	char bin[64], path[128], search[4096], *text;
	const char *old = getenv("PATH");

	snprintf(bin, sizeof(bin), "%s/bin", dir);
	cr_assert_eq(mkdir(bin, 0700), 0);
	put("bin/protoc", "#!/bin/sh\nexec sleep 60\n");
	snprintf(path, sizeof(path), "%s/protoc", bin);
	cr_assert_eq(chmod(path, 0700), 0);
	snprintf(search, sizeof(search), "%s:%s", bin, old ? old : "/usr/bin:/bin");
	cr_assert_eq(setenv("PATH", search, 1), 0);
	forms_dir_protoc_timeout_ms = 300;
	put("a.proto", OK_FORM);
	cr_assert_eq(check(dir, &text), 1);
	cr_assert(strstr(text, "protoc did not finish within 300 ms"), "%s", text);
	free(text);
}
