/* Forms as data: a running hub takes a new form from its forms directory on SIGHUP, and a
 * broken form file refuses the whole reload, the forms in force staying as they were. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness_forms.h"
#include "schema.h"

static struct net *net;
static const char *priya;

static void setup(void)
{
	net = net_new();
	priya = net_issue(net, "north-advice", "Priya Shah");
	net_must_start(net);
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(hub_forms, .init = setup, .fini = teardown, .timeout = 120);

#define AGENCIES_WITH_TENANCY_HELP                                                                 \
	"[agency north-advice]\n"                                                                  \
	"accepts = food_support, debt_advice\n"                                                    \
	"[agency eastside-housing]\n"                                                              \
	"accepts = housing_support, tenancy_help\n"

/* Ask for the forms; return the title of form name (strdup'ed), NULL if it is not listed, and
 * the number of forms listed in *n. Fails the test if the hub does not answer. */
static char *listed_title(struct raw *c, const char *name, size_t *n)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListForms lf = REFEX__LIST_FORMS__INIT;
	Refex__ServerMessage *m;
	char *title = NULL;

	req.has_id = 1;
	req.id = 31;
	req.body_case = REFEX__REQUEST__BODY_LIST_FORMS;
	req.list_forms = &lf;
	cr_assert_not_null(m = raw_call(c, &req));
	cr_assert_not_null(m->response->forms, "no form list");
	*n = m->response->forms->n_forms;
	for (size_t i = 0; i < *n; i++) {
		Refex__FormInfo *f = m->response->forms->forms[i];

		if (strcmp(f->name, name) == 0) {
			title = strdup(f->title);
		}
	}
	refex__server_message__free_unpacked(m, NULL);
	return title;
}

/* Say hello; return the forms digest the hub answers (strdup'ed). */
static char *hello_digest(struct raw *c)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__Hello hello = REFEX__HELLO__INIT;
	Refex__ServerMessage *m;
	char *digest;

	hello.has_protocol_version = 1;
	hello.protocol_version = REFEX__PROTOCOL__PROTOCOL_VERSION;
	req.has_id = 1;
	req.id = 33;
	req.body_case = REFEX__REQUEST__BODY_HELLO;
	req.hello = &hello;
	cr_assert_not_null(m = raw_call(c, &req));
	cr_assert_not_null(m->response->hello);
	cr_assert_not_null(m->response->hello->forms_digest, "no forms digest in the Hello reply");
	digest = strdup(m->response->hello->forms_digest);
	refex__server_message__free_unpacked(m, NULL);
	return digest;
}

Test(hub_forms, a_new_form_file_and_a_reload_make_a_form_partners_can_use)
{
	struct raw *c = raw_connect(net, priya, NULL);
	char *file, *title, *before = hello_digest(c), *after;
	const struct schema_form *sf;
	struct schema *s;
	uint8_t data[64];
	size_t n, len;

	cr_assert_null(listed_title(c, "tenancy_help", &n));
	cr_assert_eq(n, 3);
	cr_expect_eq(raw_fetch_schema(c, "tenancy_help", 0, &s),
	             REFEX__STATUS_CODE__STATUS_NOT_FOUND);
	file = net_write_file(net, "forms/tenancy_help.proto", TENANCY_HELP);
	cr_assert_eq(net_write_config(net, AGENCIES_WITH_TENANCY_HELP), 0);
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	cr_assert(net_log_wait(net, "msg=reloaded agencies=2 forms=4"));

	title = listed_title(c, "tenancy_help", &n);
	cr_expect_eq(n, 4, "the new form is listed beside the three");
	cr_expect(title && strcmp(title, "Tenancy help") == 0, "title %s", title);
	free(title);
	after = hello_digest(c);
	cr_expect_str_neq(after, before, "the forms digest changes with the forms");
	/* A client that never saw the form learns it from the hub: schema, labels, version. */
	cr_assert_eq(raw_fetch_schema(c, "tenancy_help", 0, &s), REFEX__STATUS_CODE__STATUS_OK);
	cr_assert_not_null(sf = schema_form_find(s, "tenancy_help"));
	cr_expect_eq(sf->version, 1);
	cr_expect_str_eq(sf->title, "Tenancy help");
	cr_expect_str_eq(schema_field(s, sf->desc, &sf->desc->fields[0])->label, "Rooms needed");
	cr_expect_null(schema_form_find(s, "housing_support"), "only the form's own file is sent");
	cr_expect_eq(raw_fetch_schema(c, "tenancy_help", 2, &(struct schema *){NULL}),
	             REFEX__STATUS_CODE__STATUS_NOT_FOUND, "there is no version 2");
	len = form_pack_json(s, "tenancy_help", "{\"rooms\": 2, \"landlordContacted\": \"yes\"}",
	                     data);
	cr_expect_eq(raw_submit_on(c, "tenancy_help", "eastside-housing", data, len, NULL, NULL),
	             REFEX__STATUS_CODE__STATUS_OK);
	cr_expect_eq(raw_count_sent(c, 42), 1, "the referral on the new form is stored");
	/* The hub checks the new form as strictly as the old ones: rooms is required. */
	cr_expect_eq(raw_submit_on(c, "tenancy_help", "eastside-housing", data, 0, NULL, NULL),
	             REFEX__STATUS_CODE__STATUS_INVALID);
	schema_free(s);
	free(file);
	free(before);
	free(after);
	raw_free(c);
	net_expect_clean_stop(net);
}

Test(hub_forms, a_broken_form_file_refuses_the_reload_and_the_old_forms_stay)
{
	struct raw *c = raw_connect(net, priya, NULL), *again;
	struct raw_submit s;
	Refex__ServerMessage *m;
	char *title;
	size_t n;

	cr_assert(c && raw_hello(c) == 0);
	free(net_write_file(net, "forms/tenancy_help.proto", TENANCY_HELP));
	free(net_write_file(net, "forms/choice.proto",
	                    "syntax = \"proto2\";\npackage q;\n"
	                    "message Choice { required int32 a = 1 [default = 2]; }\n"));
	cr_assert_eq(net_write_config(net, AGENCIES_WITH_TENANCY_HELP), 0);
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	cr_expect(net_log_wait(net, "msg=reload-refused reason=\"forms in "));
	cr_expect(
	    net_log_wait(net, "choice.proto: q.Choice.a: a default is supported on optional"));

	/* Nothing of the refused reload is in force: not the new form, not the new config. */
	title = listed_title(c, "tenancy_help", &n);
	cr_expect_null(title, "the new form is not in force");
	cr_expect_eq(n, 3);
	free(title);
	raw_submit_init(&s, 43, "Dana");
	cr_assert_not_null(m = raw_call(c, &s.req));
	cr_expect_eq(m->response->status->code, REFEX__STATUS_CODE__STATUS_OK,
	             "the old forms still take referrals: %s", m->response->status->message);
	refex__server_message__free_unpacked(m, NULL);

	/* What protoc itself says about a file it cannot parse reaches the log, on one line. */
	free(net_write_file(net, "forms/choice.proto", "syntax = \"proto2\";\nmessage {\n"));
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	cr_expect(net_log_wait(net, "protoc could not compile it: choice.proto:2:9: Expected"));
	again = raw_connect(net, priya, NULL);
	cr_expect(again && raw_hello(again) == 0 && raw_list_forms(again, 44) == 3,
	          "the hub carries on with its old forms");
	raw_free(again);
	raw_free(c);
	net_expect_clean_stop(net);
}
