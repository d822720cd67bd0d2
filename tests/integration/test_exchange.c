/* The referral loop as caseworkers live it: submit, inbox, show, accept, complete, and the
 * ways it can be refused; driven through the real refex client against a real refexd. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "forms/housing_support.pb-c.h"
#include "harness.h"

static struct net *net;
static const char *north; /* north-advice: refers clients on */
static const char *east;  /* eastside-housing: receives housing referrals */

static void setup(void)
{
	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
	east = net_issue(net, "eastside-housing", "Sam Jones");
	net_must_start(net);
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(exchange, .init = setup, .fini = teardown, .timeout = 120);

/* Run refex show ID --json as who and return the parsed referral. */
static json_t *show_json(const char *who, const char *id)
{
	struct run_result r;
	json_t *j;

	run_refex(&r, net, who, "show", id, "--json", NULL);
	cr_assert_eq(r.status, 0, "refex show exited %d: %s", r.status, r.err);
	j = run_json(&r);
	cr_assert_not_null(j, "refex show --json printed no JSON object:\n%s", r.out);
	run_result_free(&r);
	return j;
}

/* Run refex inbox|sent --json as who and return the referrals array (owned by *page). */
static json_t *list_json(const char *who, const char *box, json_t **page)
{
	struct run_result r;
	json_t *list;

	run_refex(&r, net, who, box, "--json", NULL);
	cr_assert_eq(r.status, 0, "refex %s exited %d: %s", box, r.status, r.err);
	*page = run_json(&r);
	cr_assert(json_is_object(*page), "refex %s --json printed no JSON object:\n%s", box, r.out);
	run_result_free(&r);
	if ((list = json_object_get(*page, "referrals")) == NULL) {
		/* An empty page may leave the field out. */
		json_object_set_new(*page, "referrals", json_array());
		list = json_object_get(*page, "referrals");
	}
	return list;
}

static const char *str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "";
}

/* The state of referral id as who sees it in a listing ("" when it is not listed). */
static const char *listed_state(json_t *list, const char *id)
{
	size_t i;
	json_t *ref;

	json_array_foreach(list, i, ref)
	{
		if (strcmp(str(ref, "id"), id) == 0) {
			return str(ref, "state");
		}
	}
	return "";
}

/* Say whether any history entry of a shown referral carries reason. */
static bool history_has_reason(const json_t *ref, const char *reason)
{
	size_t i;
	json_t *change;

	json_array_foreach(json_object_get(ref, "history"), i, change)
	{
		if (strcmp(str(change, "reason"), reason) == 0) {
			return true;
		}
	}
	return false;
}

static void expect_state(const char *who, const char *id, const char *state)
{
	json_t *ref = show_json(who, id);

	cr_expect_str_eq(str(ref, "state"), state, "referral %s", id);
	json_decref(ref);
}

/* Run an update command and expect exit status want. */
static void update(const char *who, int want, const char *cmd, const char *id, const char *flag,
                   const char *text)
{
	struct run_result r;

	run_refex(&r, net, who, cmd, id, flag, text, NULL);
	cr_assert_eq(r.status, want, "refex %s %s exited %d, not %d:\n%s%s", cmd, id, r.status,
	             want, r.out, r.err);
	run_result_free(&r);
}

Test(exchange, the_whole_loop_from_submission_to_completion)
{
	char id[REFEX_ID_LEN + 1];
	struct run_result r;
	json_t *page, *list, *ref, *client, *form;

	submit_housing(net, north, FIXTURE("housing.json"), id);

	/* Eastside sees it in its inbox, as sent. */
	run_refex(&r, net, east, "inbox", NULL);
	cr_assert_eq(r.status, 0, "refex inbox exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.out, id) != NULL, "the inbox table does not list %s:\n%s", id, r.out);
	cr_expect(strstr(r.out, "sent") != NULL, "the inbox table does not say sent:\n%s", r.out);
	run_result_free(&r);
	list = list_json(east, "inbox", &page);
	cr_assert_str_eq(listed_state(list, id), "STATE_SENT");
	json_decref(page);

	/* Reading it shows the client and the form, and tells the sender it was received. */
	ref = show_json(east, id);
	client = json_object_get(ref, "client");
	form = json_object_get(ref, "formData");
	cr_expect_str_eq(str(client, "givenName"), "Amira");
	cr_expect(json_is_object(form), "formData is not decoded into the form's JSON object");
	cr_expect_str_eq(str(form, "tenure"), "PRIVATE_RENTED");
	cr_expect_str_eq(str(ref, "state"), "STATE_RECEIVED");
	json_decref(ref);
	list = list_json(north, "sent", &page);
	cr_expect_str_eq(listed_state(list, id), "STATE_RECEIVED");
	json_decref(page);

	/* Eastside accepts; north-advice sees it accepted. */
	run_refex(&r, net, east, "accept", id, NULL);
	cr_assert_eq(r.status, 0, "refex accept exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.out, "accepted") != NULL, "refex accept said:\n%s", r.out);
	run_result_free(&r);
	list = list_json(north, "sent", &page);
	cr_expect_str_eq(listed_state(list, id), "STATE_ACCEPTED");
	json_decref(page);

	/* A blank outcome is refused in the words of the command that asked for it. */
	cr_expect_eq(run_refex(&r, net, east, "complete", id, "--outcome", " ", NULL), 1, "%s",
	             r.err);
	cr_expect(strstr(r.err, "give an outcome (field: outcome)") != NULL, "refex said: %s",
	          r.err);
	run_result_free(&r);

	/* Eastside completes it; north-advice sees the outcome: the loop is closed. */
	update(east, 0, "complete", id, "--outcome", "housed");
	ref = show_json(north, id);
	cr_expect_str_eq(str(ref, "state"), "STATE_COMPLETED");
	cr_expect(history_has_reason(ref, "housed"), "the outcome is not in the history");
	json_decref(ref);
	net_expect_clean_stop(net);
}

/* Have actor end a new referral with cmd --reason reason; expect viewer to see state and why. */
static void expect_ended_with_reason(const char *actor, const char *cmd, const char *reason,
                                     const char *viewer, const char *state)
{
	char id[REFEX_ID_LEN + 1];
	json_t *ref;

	submit_housing(net, north, FIXTURE("housing.json"), id);
	update(actor, 0, cmd, id, "--reason", reason);
	ref = show_json(viewer, id);
	cr_expect_str_eq(str(ref, "state"), state);
	cr_expect(history_has_reason(ref, reason), "the reason is not in the history");
	json_decref(ref);
}

Test(exchange, the_sender_can_withdraw)
{
	expect_ended_with_reason(north, "withdraw", "client moved away", east, "STATE_WITHDRAWN");
}

Test(exchange, the_receiver_can_decline_with_a_reason)
{
	expect_ended_with_reason(east, "decline", "out of our area", north, "STATE_DECLINED");
}

Test(exchange, the_sender_cannot_accept_its_own_referral)
{
	char id[REFEX_ID_LEN + 1];
	struct run_result r;

	submit_housing(net, north, FIXTURE("housing.json"), id);
	run_refex(&r, net, north, "accept", id, NULL);
	cr_expect_eq(r.status, 1, "refex accept by the sender exited %d", r.status);
	cr_expect(strstr(r.err, "refex:") != NULL, "no explanation on stderr:\n%s", r.err);
	run_result_free(&r);
	expect_state(north, id, "STATE_SENT");
}

Test(exchange, a_completed_referral_cannot_be_accepted_again)
{
	char id[REFEX_ID_LEN + 1];
	struct run_result r;

	submit_housing(net, north, FIXTURE("housing.json"), id);
	update(east, 0, "accept", id, NULL, NULL);
	update(east, 0, "complete", id, "--outcome", "housed");
	run_refex(&r, net, east, "accept", id, NULL);
	cr_expect_eq(r.status, 1, "refex accept after completion exited %d", r.status);
	cr_expect(strstr(r.err, "completed") != NULL,
	          "the refusal does not say it is completed:\n%s", r.err);
	run_result_free(&r);
	expect_state(north, id, "STATE_COMPLETED");
}

Test(exchange, decline_without_a_reason_is_a_usage_error)
{
	char id[REFEX_ID_LEN + 1];

	submit_housing(net, north, FIXTURE("housing.json"), id);
	update(east, 2, "decline", id, NULL, NULL);
	expect_state(north, id, "STATE_SENT");
}

Test(exchange, form_data_missing_a_required_field_is_refused_naming_it)
{
	struct run_result r;

	run_refex(&r, net, north, "submit", "--to", "eastside-housing", "--form", "housing_support",
	          "--client", FIXTURE("client.json"), "--data", FIXTURE("housing-no-tenure.json"),
	          "--consent", FIXTURE("consent.json"), NULL);
	cr_expect_neq(r.status, 0, "refex submit without tenure exited 0");
	cr_expect(strstr(r.err, "tenure") != NULL, "the refusal does not name tenure:\n%s", r.err);
	cr_expect_eq(r.out[0], '\0', "refex submit printed an id for a refused referral: %s",
	             r.out);
	run_result_free(&r);
	expect_box_empty(net, east, "inbox");
	expect_box_empty(net, north, "sent");
}

/* A SubmitReferral sent past the client's own checks, with form data lacking tenure. */
Test(exchange, the_hub_itself_refuses_form_data_missing_a_required_field)
{
	/* HousingSupport with current_situation (field 1) = AT_RISK_OF_EVICTION and no tenure:
	 * protobuf-c always packs required fields, so these bytes are written by hand. */
	static const uint8_t no_tenure[] = {
	    0x08, REFEX__FORMS__HOUSING_SUPPORT__SITUATION__AT_RISK_OF_EVICTION};
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__SubmitReferral sub = REFEX__SUBMIT_REFERRAL__INIT;
	Refex__ClientRecord client = REFEX__CLIENT_RECORD__INIT;
	Refex__Consent consent = REFEX__CONSENT__INIT;
	Refex__ServerMessage *m;
	Refex__Status *st;
	struct raw *c = raw_connect(net, north, NULL);

	cr_assert_not_null(c, "raw TLS connection failed");
	cr_assert_eq(raw_hello(c), 0, "Hello was refused");
	client.given_name = "Amira";
	client.family_name = "Khan";
	consent.to_agency = "eastside-housing";
	consent.purpose = "housing support referral";
	consent.method = REFEX__CONSENT_METHOD__CONSENT_VERBAL;
	sub.to = "eastside-housing";
	sub.form = "housing_support";
	sub.has_form_data = 1;
	sub.form_data.data = (uint8_t *)no_tenure;
	sub.form_data.len = sizeof(no_tenure);
	sub.client = &client;
	sub.consent = &consent;
	req.has_id = 1;
	req.id = 42;
	req.body_case = REFEX__REQUEST__BODY_SUBMIT;
	req.submit = &sub;

	m = raw_call(c, &req);
	cr_assert_not_null(m, "no response to the submission");
	cr_assert_eq(m->response->id, 42);
	st = m->response->status;
	cr_assert_not_null(st);
	cr_expect_eq(st->code, REFEX__STATUS_CODE__STATUS_INVALID, "status %d, not INVALID",
	             st->code);
	cr_expect_str_eq(st->field ? st->field : "", "formData.tenure");
	cr_expect_null(m->response->referral, "a referral came back for refused form data");
	refex__server_message__free_unpacked(m, NULL);
	raw_free(c);
	expect_box_empty(net, east, "inbox");
	expect_box_empty(net, north, "sent");
}

Test(exchange, an_unknown_recipient_is_refused)
{
	char *consent = net_write_file(net, "consent-nowhere.json",
	                               "{\"toAgency\":\"nowhere-agency\",\"purpose\":\"referral\","
	                               "\"method\":\"CONSENT_VERBAL\"}");
	struct run_result r;

	cr_assert_not_null(consent);
	run_refex(&r, net, north, "submit", "--to", "nowhere-agency", "--form", "housing_support",
	          "--client", FIXTURE("client.json"), "--data", FIXTURE("housing.json"),
	          "--consent", consent, NULL);
	cr_expect_eq(r.status, 1, "refex submit to an unknown agency exited %d: %s", r.status,
	             r.err);
	cr_expect(strstr(r.err, "refex:") != NULL, "no explanation on stderr:\n%s", r.err);
	run_result_free(&r);
	free(consent);
	expect_box_empty(net, north, "sent");
}

Test(exchange, a_recipient_that_does_not_take_the_form_is_refused)
{
	struct run_result r;

	run_refex(&r, net, north, "submit", "--to", "eastside-housing", "--form", "food_support",
	          "--client", FIXTURE("client.json"), "--data", FIXTURE("food.json"), "--consent",
	          FIXTURE("consent.json"), NULL);
	cr_expect_eq(r.status, 1, "refex submit of a form eastside does not take exited %d: %s",
	             r.status, r.err);
	cr_expect(strstr(r.err, "refex:") != NULL, "no explanation on stderr:\n%s", r.err);
	run_result_free(&r);
	expect_box_empty(net, east, "inbox");
}

Test(exchange, referrals_survive_a_restart)
{
	char id[REFEX_ID_LEN + 1];
	json_t *ref;
	int rc;

	submit_housing(net, north, FIXTURE("housing.json"), id);
	rc = net_stop(net);
	cr_assert_eq(rc, 0, "refexd exited %d on SIGTERM:\n%s", rc, net_read_log(net));
	cr_assert_eq(net_start(net), 0, "refexd did not start again:\n%s", net_read_log(net));
	ref = show_json(east, id);
	cr_expect_str_eq(str(ref, "id"), id);
	cr_expect_str_eq(str(json_object_get(ref, "client"), "familyName"), "Khan");
	json_decref(ref);
}

Test(exchange, forms_and_partners_list_the_partnership)
{
	struct run_result r;

	run_refex(&r, net, north, "forms", NULL);
	cr_assert_eq(r.status, 0, "refex forms exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.out, "housing_support") != NULL, "refex forms:\n%s", r.out);
	cr_expect(strstr(r.out, "food_support") != NULL, "refex forms:\n%s", r.out);
	cr_expect(strstr(r.out, "debt_advice") != NULL, "refex forms:\n%s", r.out);
	run_result_free(&r);

	run_refex(&r, net, north, "partners", NULL);
	cr_assert_eq(r.status, 0, "refex partners exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.out, "north-advice") != NULL, "refex partners:\n%s", r.out);
	cr_expect(strstr(r.out, "eastside-housing") != NULL, "refex partners:\n%s", r.out);
	cr_expect(strstr(r.out, "third-party") != NULL, "refex partners:\n%s", r.out);
	cr_expect(strstr(r.out, "Eastside Housing Trust") != NULL, "refex partners:\n%s", r.out);
	run_result_free(&r);
}

/* Count the times id appears in text. */
static int times_in(const char *text, const char *id)
{
	int n = 0;

	for (const char *s = text; (s = strstr(s, id)) != NULL; s += strlen(id)) {
		n++;
	}
	return n;
}

/* Run the command a "More: refex ..." line of out names, as it is printed (words split on
 * blanks: the net's paths have none), with no user config. */
static void run_more(const char *out, struct run_result *r)
{
	char env_config[NET_PATH_MAX + 16], *env[] = {env_config, NULL};
	char *line, *argv[32], *save = NULL;
	const char *more = strstr(out, "More: refex ");
	size_t argc = 0;

	cr_assert_not_null(more, "no paging hint in:\n%s", out);
	line = strndup(more + strlen("More: "), strcspn(more + strlen("More: "), "\n"));
	cr_assert_not_null(line);
	for (char *w = strtok_r(line, " ", &save); w && argc + 1 < 32;
	     w = strtok_r(NULL, " ", &save)) {
		argv[argc] = argc == 0 ? REFEX_PATH : w;
		argc++;
	}
	argv[argc] = NULL;
	snprintf(env_config, sizeof(env_config), "REFEX_CONFIG=%s", net->empty);
	run(r, argv, env);
	free(line);
}

Test(exchange, the_paging_hint_is_the_whole_command_with_its_filters)
{
	char sent[3][REFEX_ID_LEN + 1], accepted[REFEX_ID_LEN + 1];
	struct run_result r, next;

	for (int i = 0; i < 3; i++) {
		submit_housing(net, north, FIXTURE("housing.json"), sent[i]);
	}
	submit_housing(net, north, FIXTURE("housing.json"), accepted);
	update(east, 0, "accept", accepted, NULL, NULL);

	run_refex(&r, net, east, "inbox", "--state", "sent", "--limit", "2", NULL);
	cr_assert_eq(r.status, 0, "refex inbox exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.out, " --state sent") && strstr(r.out, " --limit 2"),
	          "the hint drops the filters:\n%s", r.out);
	run_more(r.out, &next);
	cr_assert_eq(next.status, 0, "the printed command exited %d: %s", next.status, next.err);
	for (int i = 0; i < 3; i++) {
		cr_expect_eq(times_in(r.out, sent[i]) + times_in(next.out, sent[i]), 1,
		             "referral %d is not listed once over the two pages:\n%s\n%s", i, r.out,
		             next.out);
	}
	cr_expect_eq(times_in(next.out, accepted), 0,
	             "the next page lists an accepted referral:\n%s", next.out);
	cr_expect(strstr(next.out, "More:") == NULL, "a third page:\n%s", next.out);
	run_result_free(&next);
	run_result_free(&r);
}

/* Run refex ARGS --json as who; expect exit 0 and return the JSON object it printed. */
#define REFERRAL_JSON(who, ...)                                                                    \
	({                                                                                         \
		struct run_result r_;                                                              \
		json_t *j_;                                                                        \
		run_refex(&r_, net, who, __VA_ARGS__, "--json", NULL);                             \
		cr_assert_eq(r_.status, 0, "exited %d: %s", r_.status, r_.err);                    \
		j_ = run_json(&r_);                                                                \
		cr_assert(json_is_object(j_), "not a JSON object:\n%s", r_.out);                   \
		run_result_free(&r_);                                                              \
		j_;                                                                                \
	})

/* Expect j to be referral id (NULL: any id) in state; frees j unless keep. */
static void expect_referral(json_t *j, const char *id, const char *state, bool keep)
{
	char *text = json_dumps(j, JSON_COMPACT);

	cr_expect_str_eq(str(j, "state"), state, "%s", text);
	cr_expect_eq(strlen(str(j, "id")), REFEX_ID_LEN, "%s", text);
	if (id != NULL) {
		cr_expect_str_eq(str(j, "id"), id, "%s", text);
	}
	free(text);
	if (!keep) {
		json_decref(j);
	}
}

Test(exchange, every_change_answers_with_the_referral_as_json)
{
	char a[REFEX_ID_LEN + 1], b[REFEX_ID_LEN + 1], c[REFEX_ID_LEN + 1];
	json_t *j;

	j = REFERRAL_JSON(north, "submit", "--to", "eastside-housing", "--form", "housing_support",
	                  "--client", FIXTURE("client.json"), "--consent", FIXTURE("consent.json"),
	                  "--data", FIXTURE("housing.json"));
	expect_referral(j, NULL, "STATE_SENT", true);
	snprintf(a, sizeof(a), "%s", str(j, "id"));
	cr_expect_str_eq(str(j, "recipient"), "eastside-housing");
	cr_expect(json_is_array(json_object_get(j, "possibleDuplicates")), "no possibleDuplicates");
	json_decref(j);
	expect_referral(REFERRAL_JSON(east, "accept", a), a, "STATE_ACCEPTED", false);
	expect_referral(REFERRAL_JSON(east, "complete", a, "--outcome", "housed"), a,
	                "STATE_COMPLETED", false);
	submit_housing(net, north, FIXTURE("housing.json"), b);
	expect_referral(REFERRAL_JSON(east, "decline", b, "--reason", "out of our area"), b,
	                "STATE_DECLINED", false);
	submit_housing(net, north, FIXTURE("housing.json"), c);
	expect_referral(REFERRAL_JSON(north, "withdraw", c, "--reason", "client moved away"), c,
	                "STATE_WITHDRAWN", false);
	expect_state(north, a, "STATE_COMPLETED");
}
