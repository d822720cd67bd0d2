/*
 * Form versions kept: a referral made on version 1 of a form is still read, decoded with
 * version 1's schema and forwarded after version 2 is in force; an incompatible version is
 * refused at --check-forms and at reload, naming the field, the old forms staying in force; a
 * form whose file is removed is retired (no new referrals, its referrals readable); and all of
 * it survives a restart, the versions coming from the database.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "harness_forms.h"
#include "pbjson.h"
#include "schema.h"

static struct net *net;
static const char *north, *east;

#define TENANCY_HEAD                                                                               \
	"syntax = \"proto2\";\n"                                                                   \
	"package partnership;\n"                                                                   \
	"// Tenancy help\n"

#define TENANCY_V1                                                                                 \
	TENANCY_HEAD "message TenancyHelp {\n"                                                     \
	             "  // Rooms needed\n"                                                         \
	             "  required uint32 rooms = 1;\n"                                              \
	             "  optional string landlord_contacted = 2;\n"                                 \
	             "}\n"

/* Version 2 adds an optional field. */
#define TENANCY_V2                                                                                 \
	TENANCY_HEAD "// version: 2\n"                                                             \
	             "message TenancyHelp {\n"                                                     \
	             "  // Rooms needed\n"                                                         \
	             "  required uint32 rooms = 1;\n"                                              \
	             "  optional string landlord_contacted = 2;\n"                                 \
	             "  optional bool pets = 3;\n"                                                 \
	             "}\n"

/* A form on which a retired form's client is referred on (rooms pre-filled). */
#define REHOUSING                                                                                  \
	"syntax = \"proto2\";\n"                                                                   \
	"package partnership;\n"                                                                   \
	"// Rehousing\n"                                                                           \
	"message Rehousing {\n"                                                                    \
	"  required uint32 rooms = 1;\n"                                                           \
	"  optional string area = 2;\n"                                                            \
	"}\n"

#define AGENCIES(tenancy)                                                                          \
	"[agency north-advice]\n"                                                                  \
	"accepts = food_support, debt_advice, rehousing" tenancy "\n"                              \
	"[agency eastside-housing]\n"                                                              \
	"accepts = housing_support" tenancy "\n"

static void setup(void)
{
	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
	east = net_issue(net, "eastside-housing", "Sam Okafor");
	free(net_write_file(net, "forms/tenancy_help.proto", TENANCY_V1));
	free(net_write_file(net, "forms/rehousing.proto", REHOUSING));
	cr_assert_eq(net_write_config(net, AGENCIES(", tenancy_help")), 0);
	net_must_start(net);
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(form_versions, .init = setup, .fini = teardown, .timeout = 180);

/* Connect as prefix and say hello; NULL when that fails. */
static struct raw *greeted(const char *prefix)
{
	struct raw *c = raw_connect(net, prefix, NULL);

	if (c != NULL && raw_hello(c) < 0) {
		raw_free(c);
		c = NULL;
	}
	return c;
}

/* Submit {"rooms": 2, "landlordContacted": "yes"} on tenancy_help (version in force) from north
 * to east; copy the referral's id into id. */
static void submit_tenancy(struct raw *c, char id[REFEX_ID_LEN + 1])
{
	struct schema *s;
	uint8_t data[64];
	size_t len;
	char msg[256];

	cr_assert_eq(raw_fetch_schema(c, "tenancy_help", 0, &s), REFEX__STATUS_CODE__STATUS_OK);
	len = form_pack_json(s, "tenancy_help", "{\"rooms\": 2, \"landlordContacted\": \"yes\"}",
	                     data);
	cr_assert_eq(raw_submit_on(c, "tenancy_help", "eastside-housing", data, len, id, msg),
	             REFEX__STATUS_CODE__STATUS_OK, "%s", msg);
	schema_free(s);
}

/* Read referral id as c; return its form data as JSON, decoded with the schema of the version
 * it was made on (fetched from the hub), and that version in *version. */
static json_t *answers_of(struct raw *c, const char *id, uint32_t *version)
{
	Refex__ServerMessage *m;
	Refex__Referral *r = raw_get_referral(c, id, &m);
	const struct schema_form *sf;
	ProtobufCMessage *msg;
	struct schema *s;
	json_t *j;

	cr_assert_not_null(r, "referral %s is readable: %s", id, m->response->status->message);
	*version = r->form_version;
	cr_assert_eq(raw_fetch_schema(c, r->form, r->form_version, &s),
	             REFEX__STATUS_CODE__STATUS_OK, "the schema of %s version %u", r->form,
	             r->form_version);
	cr_assert_not_null(sf = schema_form_find(s, r->form));
	cr_expect_eq(sf->version, r->form_version);
	cr_assert_not_null(
	    msg = protobuf_c_message_unpack(sf->desc, NULL, r->form_data.len, r->form_data.data));
	j = pbjson_encode(msg);
	protobuf_c_message_free_unpacked(msg, NULL);
	schema_free(s);
	refex__server_message__free_unpacked(m, NULL);
	return j;
}

/* As c (east), refer the client of parent on to north on form, giving no answers; return the
 * status code, the new referral's id in id and the hub's message in msg. */
static int forward_to_north(struct raw *c, const char *parent, const char *form,
                            char id[REFEX_ID_LEN + 1], char msg[256])
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ForwardReferral fw = REFEX__FORWARD_REFERRAL__INIT;
	Refex__ServerMessage *m;
	int code;

	fw.referral_id = (char *)parent;
	fw.to = "north-advice";
	fw.form = (char *)form;
	req.has_id = 1;
	req.id = 51;
	req.body_case = REFEX__REQUEST__BODY_FORWARD;
	req.forward = &fw;
	cr_assert_not_null(m = raw_call(c, &req));
	code = (int)m->response->status->code;
	snprintf(msg, 256, "%s", m->response->status->message ? m->response->status->message : "");
	if (code == REFEX__STATUS_CODE__STATUS_OK) {
		snprintf(id, REFEX_ID_LEN + 1, "%s", m->response->referral->id);
	}
	refex__server_message__free_unpacked(m, NULL);
	return code;
}

/* As north, the client's owner, consent to sharing referral id's client with any partner. */
static void consent_any_partner(struct raw *c, const char *id)
{
	Refex__ServerMessage *m;
	Refex__Referral *r = raw_get_referral(c, id, &m);
	struct run_result rr;

	cr_assert_not_null(r);
	cr_assert_eq(run_refex(&rr, net, north, "consent", "add", r->client_id, "--any-partner",
	                       "--purpose", "support referrals", "--method", "written", NULL),
	             0, "consent add: %s", rr.err);
	run_result_free(&rr);
	refex__server_message__free_unpacked(m, NULL);
}

/* Run refexd --check-forms on the net's forms directory against its database. */
static void check_forms(struct run_result *r)
{
	char dir[NET_PATH_MAX + 8];
	char *const argv[] = {REFEXD_PATH, "--check-forms", dir, "--config", net->config, NULL};

	snprintf(dir, sizeof(dir), "%s/forms", net->dir);
	run(r, argv, NULL);
}

/* List the forms (with the retired ones); return how form name is listed: -1 not at all, 0 in
 * force, 1 retired. */
static int listed_as(struct raw *c, const char *name)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListForms lf = REFEX__LIST_FORMS__INIT;
	Refex__ServerMessage *m;
	int as = -1;

	lf.has_include_retired = lf.include_retired = 1;
	req.has_id = 1;
	req.id = 52;
	req.body_case = REFEX__REQUEST__BODY_LIST_FORMS;
	req.list_forms = &lf;
	cr_assert_not_null(m = raw_call(c, &req));
	cr_assert_not_null(m->response->forms);
	for (size_t i = 0; i < m->response->forms->n_forms; i++) {
		if (strcmp(m->response->forms->forms[i]->name, name) == 0) {
			as = m->response->forms->forms[i]->retired ? 1 : 0;
		}
	}
	refex__server_message__free_unpacked(m, NULL);
	return as;
}

static uint32_t version_in_force(struct raw *c)
{
	struct schema *s;
	uint32_t v;

	cr_assert_eq(raw_fetch_schema(c, "tenancy_help", 0, &s), REFEX__STATUS_CODE__STATUS_OK);
	v = schema_form_find(s, "tenancy_help")->version;
	schema_free(s);
	return v;
}

Test(form_versions, a_version_1_referral_is_read_decoded_and_forwarded_after_version_2)
{
	struct raw *n = greeted(north), *e = greeted(east);
	char first[REFEX_ID_LEN + 1], onward[REFEX_ID_LEN + 1], second[REFEX_ID_LEN + 1];
	char msg[256];
	uint32_t version;
	json_t *j;

	cr_assert(n && e);
	submit_tenancy(n, first);
	consent_any_partner(n, first);
	free(net_write_file(net, "forms/tenancy_help.proto", TENANCY_V2));
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	cr_assert(net_log_wait(net, "msg=reloaded"));
	cr_expect_eq(version_in_force(n), 2);

	/* The receiver reads the version 1 referral with version 1's schema. */
	j = answers_of(e, first, &version);
	cr_expect_eq(version, 1);
	cr_expect_eq(json_integer_value(json_object_get(j, "rooms")), 2);
	cr_expect_str_eq(json_string_value(json_object_get(j, "landlordContacted")), "yes");
	json_decref(j);

	/* Referred on, on version 2: pre-filled from the version 1 answers. */
	cr_assert_eq(forward_to_north(e, first, "tenancy_help", onward, msg),
	             REFEX__STATUS_CODE__STATUS_OK, "%s", msg);
	j = answers_of(n, onward, &version);
	cr_expect_eq(version, 2);
	cr_expect_eq(json_integer_value(json_object_get(j, "rooms")), 2);
	cr_expect_str_eq(json_string_value(json_object_get(j, "landlordContacted")), "yes");
	json_decref(j);

	/* A version 2 submission works; and after a restart all of it still does. */
	submit_tenancy(n, second);
	cr_assert_eq(net_stop(net), 0);
	raw_free(n);
	raw_free(e);
	net_must_start(net);
	e = greeted(east);
	j = answers_of(e, first, &version);
	cr_expect_eq(version, 1, "version 1 comes from the database: the directory has only 2");
	cr_expect_eq(json_integer_value(json_object_get(j, "rooms")), 2);
	json_decref(j);
	j = answers_of(e, second, &version);
	cr_expect_eq(version, 2);
	json_decref(j);
	raw_free(e);
	net_expect_clean_stop(net);
}

/* Put text in the forms directory as version 2, check it and reload: both must refuse it,
 * naming the field and saying why (expect); version 1 stays in force. */
static void expect_refused(struct raw *c, const char *text, const char *expect)
{
	struct run_result r;
	char logged[600];

	free(net_write_file(net, "forms/tenancy_help.proto", text));
	check_forms(&r);
	cr_expect_eq(r.status, 1, "--check-forms refuses it: %s", r.out);
	cr_expect(strstr(r.out, expect) != NULL, "--check-forms names the field: %s", r.out);
	run_result_free(&r);
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	snprintf(logged, sizeof(logged), "msg=reload-refused reason=\"%s", expect);
	cr_expect(net_log_wait(net, logged), "the reload is refused naming the field: %s", expect);
	cr_expect_eq(version_in_force(c), 1, "the old form stays in force");
}

Test(form_versions, an_incompatible_version_is_refused_at_the_check_and_at_reload)
{
	struct raw *c = greeted(north);
	struct run_result r;

	cr_assert_not_null(c);
	expect_refused(c,
	               TENANCY_HEAD "// version: 2\nmessage TenancyHelp {\n"
	                            "  required uint32 rooms = 4;\n"
	                            "  optional string landlord_contacted = 2;\n}\n",
	               "form tenancy_help version 2: field rooms: was number 1 in version 1, now "
	               "4: a field keeps its number; keep 1");
	expect_refused(c,
	               TENANCY_HEAD "// version: 2\nmessage TenancyHelp {\n"
	                            "  required string rooms = 1;\n"
	                            "  optional string landlord_contacted = 2;\n}\n",
	               "form tenancy_help version 2: field rooms: was uint32 in version 1, now "
	               "string: a field keeps its type; add a new field");
	/* Within one version nothing may change, not even a label. */
	free(net_write_file(net, "forms/tenancy_help.proto",
	                    TENANCY_HEAD "message TenancyHelp {\n  // Rooms wanted\n"
	                                 "  required uint32 rooms = 1;\n"
	                                 "  optional string landlord_contacted = 2;\n}\n"));
	check_forms(&r);
	cr_expect_eq(r.status, 1);
	cr_expect(strstr(r.out, "refused: form tenancy_help version 1: field rooms: its label "
	                        "changed, but version 1 was accepted before and a version never "
	                        "changes: number this one 2") != NULL,
	          "%s", r.out);
	run_result_free(&r);
	run(&r, (char *const[]){REFEXD_PATH, "--check-config", "--config", net->config, NULL},
	    NULL);
	cr_expect_eq(r.status, 1, "--check-config refuses it too");
	cr_expect(strstr(r.err, "field rooms: its label changed") != NULL, "%s", r.err);
	run_result_free(&r);

	/* What is compatible is reported as such, and --check-forms changes nothing. */
	free(net_write_file(net, "forms/tenancy_help.proto", TENANCY_V2));
	check_forms(&r);
	cr_expect_eq(r.status, 0, "%s", r.out);
	cr_expect(strstr(r.out, "new version: form tenancy_help version 2 (was 1)") != NULL, "%s",
	          r.out);
	cr_expect(strstr(r.out, "unchanged: form rehousing version 1") != NULL, "%s", r.out);
	run_result_free(&r);
	cr_expect_eq(version_in_force(c), 1);
	raw_free(c);
	net_expect_clean_stop(net);
}

Test(form_versions, a_retired_form_takes_no_referrals_and_its_referrals_stay_readable)
{
	struct raw *n = greeted(north), *e = greeted(east);
	char first[REFEX_ID_LEN + 1], onward[REFEX_ID_LEN + 1], msg[256], path[NET_PATH_MAX + 32];
	struct run_result r;
	struct schema *s;
	uint32_t version;
	uint8_t data[8] = {0x08, 0x02};
	json_t *j;

	cr_assert(n && e);
	submit_tenancy(n, first);
	consent_any_partner(n, first);
	snprintf(path, sizeof(path), "%s/forms/tenancy_help.proto", net->dir);
	cr_assert_eq(unlink(path), 0);
	check_forms(&r);
	cr_expect(strstr(r.out, "would be retired: form tenancy_help") != NULL, "%s", r.out);
	run_result_free(&r);
	cr_assert_eq(net_write_config(net, AGENCIES("")), 0);
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	cr_assert(net_log_wait(net, "msg=reloaded"));

	for (int round = 0; round < 2; round++) { /* before and after a restart */
		cr_expect_eq(listed_as(n, "tenancy_help"), 1, "listed as retired");
		cr_expect_eq(
		    raw_submit_on(n, "tenancy_help", "eastside-housing", data, 2, NULL, msg),
		    REFEX__STATUS_CODE__STATUS_INVALID);
		cr_expect(strstr(msg, "form tenancy_help is retired: it takes no new referrals") !=
		              NULL,
		          "%s", msg);
		cr_expect_eq(forward_to_north(e, first, "tenancy_help", onward, msg),
		             REFEX__STATUS_CODE__STATUS_INVALID, "no forward onto it either");
		cr_expect(strstr(msg, "retired") != NULL, "%s", msg);
		j = answers_of(e, first, &version);
		cr_expect_eq(json_integer_value(json_object_get(j, "rooms")), 2);
		json_decref(j);
		cr_expect_eq(raw_fetch_schema(n, "tenancy_help", 0, &s),
		             REFEX__STATUS_CODE__STATUS_OK, "its newest version is still sent");
		schema_free(s);
		cr_assert_eq(net_stop(net), 0);
		raw_free(n);
		raw_free(e);
		net_must_start(net);
		n = greeted(north);
		e = greeted(east);
	}
	/* Its client is referred on, on a live form, pre-filled from the retired form's answers. */
	cr_expect_eq(forward_to_north(e, first, "rehousing", onward, msg),
	             REFEX__STATUS_CODE__STATUS_OK, "%s", msg);
	raw_free(n);
	raw_free(e);
	net_expect_clean_stop(net);
}
