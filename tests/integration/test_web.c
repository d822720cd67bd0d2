/* The HTTPS door ([web] listen): the wire protocol's operations as JSON over HTTPS, with the same
 * partner certificates, the same handlers and errors, refusing cross-site requests. */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "harness_web.h"

#define WEB_CONFIG NET_DEFAULT_AGENCIES "\n[web]\nlisten = 127.0.0.1:0\n"
#define CSP                                                                                        \
	"default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "              \
	"form-action 'self'; frame-ancestors 'none'"

static struct net *net;
static const char *north, *east, *third;

static void start(const char *limits)
{
	char config[2048];

	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
	east = net_issue(net, "eastside-housing", "Sam Jones");
	third = net_issue(net, "third-party", "Ola Berg");
	snprintf(config, sizeof(config), "%s%s", WEB_CONFIG, limits);
	cr_assert_eq(net_write_config(net, config), 0);
	net_must_start(net);
}

static void setup(void)
{
	start("");
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(web, .init = setup, .fini = teardown, .timeout = 180);

/* POST body to op as prefix, expect HTTP status want, and return the JSON answer (owned). */
static json_t *expect_op(const char *prefix, const char *op, const char *body, int want)
{
	struct web_reply w;
	json_t *json;

	web_op(&w, net, prefix, op, body);
	cr_assert_eq(w.status, want, "%s answered %d, expected %d:\n%s%s\n%s", op, w.status, want,
	             w.headers, w.body, w.err);
	cr_assert_not_null(w.json, "%s answered no JSON: %s", op, w.body);
	json = json_incref(w.json);
	web_reply_free(&w);
	return json;
}

/* Submit a referral from north-advice over HTTPS; return its id (owned). */
static char *submit(const char *given_name)
{
	char *body = web_submit_body(given_name), *id;
	json_t *ref = expect_op(north, "submit", body, 200);

	cr_assert(json_is_string(json_object_get(ref, "id")), "submit answered no referral id");
	id = strdup(json_string_value(json_object_get(ref, "id")));
	json_decref(ref);
	free(body);
	return id;
}

/* Expect w to be a refusal with HTTP status, wire code and (when not NULL) field. */
static void expect_refusal(const struct web_reply *w, int status, const char *code,
                           const char *field)
{
	cr_assert_eq(w->status, status, "answered %d, expected %d: %s", w->status, status, w->body);
	cr_assert_str_eq(json_string_value(json_object_get(w->json, "code")), code, "%s", w->body);
	cr_assert(json_is_string(json_object_get(w->json, "message")), "no message: %s", w->body);
	if (field != NULL) {
		cr_assert_str_eq(json_string_value(json_object_get(w->json, "field")), field, "%s",
		                 w->body);
	}
}

static const char *state_of(json_t *ref)
{
	return json_string_value(json_object_get(ref, "state"));
}

Test(web, a_referral_goes_round_the_loop_over_https)
{
	char *id = submit("Amira"), body[256];
	json_t *page, *ref;

	page = expect_op(east, "list_inbox", "{}", 200);
	cr_assert_str_eq(json_string_value(json_object_get(
	                     json_array_get(json_object_get(page, "referrals"), 0), "id")),
	                 id, "the receiver's inbox lists the referral");
	json_decref(page);
	snprintf(body, sizeof(body), "{\"id\": \"%s\"}", id);
	ref = expect_op(east, "get", body, 200);
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(ref, "client"), "givenName")),
	    "Amira");
	json_decref(ref);
	snprintf(body, sizeof(body), "{\"id\": \"%s\", \"action\": \"ACTION_ACCEPT\"}", id);
	ref = expect_op(east, "update", body, 200);
	cr_assert_str_eq(state_of(ref), "STATE_ACCEPTED");
	json_decref(ref);
	page = expect_op(north, "list_sent", "{}", 200);
	cr_assert_str_eq(state_of(json_array_get(json_object_get(page, "referrals"), 0)),
	                 "STATE_ACCEPTED", "the sender sees it accepted");
	json_decref(page);
	snprintf(body, sizeof(body), "{\"referralId\": \"%s\"}", id);
	page = expect_op(north, "audit", body, 200);
	cr_assert_gt(json_array_size(json_object_get(page, "entries")), 0, "audit has entries");
	json_decref(page);
	snprintf(body, sizeof(body), "{\"referralId\": \"%s\", \"to\": \"third-party\"}", id);
	json_decref(expect_op(east, "forward", body, 400)); /* served: refused as on the wire */
	free(id);
}

/* A submission from north-advice whose formData is answers as a JSON object (owned text). */
static char *submit_answers_body(const char *answers)
{
	char *text = web_submit_body("Amira"), *out;
	json_t *body = json_loads(text, 0, NULL);

	cr_assert_not_null(body);
	cr_assert_eq(json_object_set_new(body, "formData", json_loads(answers, 0, NULL)), 0);
	out = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	free(text);
	return out;
}

Test(web, form_answers_go_in_and_come_back_as_json)
{
	char *body = submit_answers_body(
	    "{\"currentSituation\": \"ROUGH_SLEEPING\", \"tenure\": \"LODGER\", "
	    "\"householdMembers\": [{\"relationship\": \"<img src=x onerror=alert(1)>\"}]}");
	json_t *ref = expect_op(north, "submit", body, 200), *answers, *got;
	char get[128];

	free(body);
	snprintf(get, sizeof(get), "{\"id\": \"%s\"}",
	         json_string_value(json_object_get(ref, "id")));
	json_decref(ref);
	got = expect_op(east, "get", get, 200);
	answers = json_object_get(got, "formAnswers");
	cr_assert(json_is_object(answers), "no formAnswers: %s", json_dumps(got, 0));
	cr_expect_str_eq(json_string_value(json_object_get(answers, "currentSituation")),
	                 "ROUGH_SLEEPING");
	cr_expect_str_eq(json_string_value(json_object_get(answers, "tenure")), "LODGER");
	cr_expect_str_eq(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(answers, "householdMembers"), 0), "relationship")),
	    "<img src=x onerror=alert(1)>");
	cr_expect(json_is_string(json_object_get(got, "formData")), "the base64 stays beside it");
	json_decref(got);
}

Test(web, form_answers_as_json_are_checked_against_the_form)
{
	struct web_reply w;
	char *body = submit_answers_body("{\"currentSituation\": \"ROUGH_SLEEPING\", "
	                                 "\"tenure\": \"CASTLE\"}");

	web_op(&w, net, north, "submit", body);
	expect_refusal(&w, 400, "STATUS_INVALID", "formData.tenure");
	web_reply_free(&w);
	free(body);
	body = submit_answers_body("{\"tenure\": \"LODGER\"}"); /* a required answer missing */
	web_op(&w, net, north, "submit", body);
	expect_refusal(&w, 400, "STATUS_INVALID", "formData.currentSituation");
	web_reply_free(&w);
	free(body);
	web_op(&w, net, east, "list_inbox", "{}"); /* nothing was sent */
	cr_expect_eq(json_array_size(json_object_get(w.json, "referrals")), 0, "%s", w.body);
	web_reply_free(&w);
}

Test(web, the_directory_operations_answer)
{
	json_t *j = expect_op(north, "hello", "{\"protocolVersion\": 1}", 200);

	cr_assert_str_eq(json_string_value(json_object_get(j, "agency")), "north-advice");
	cr_assert_str_eq(json_string_value(json_object_get(j, "holder")), "Priya Shah");
	json_decref(j);
	j = expect_op(north, "list_forms", "{}", 200);
	cr_assert_gt(json_array_size(json_object_get(j, "forms")), 0);
	json_decref(j);
	j = expect_op(north, "list_partners", "", 200);
	cr_assert_eq(json_array_size(json_object_get(j, "partners")), 3);
	json_decref(j);
}

Test(web, client_records_and_consent_over_https)
{
	char body[512], *cid, *kid;
	json_t *j;

	j = expect_op(north, "add_client",
	              "{\"record\": {\"givenName\": \"Amira\", \"familyName\": \"Khan\"}}", 200);
	cid = strdup(json_string_value(json_object_get(j, "id")));
	json_decref(j);
	snprintf(body, sizeof(body), "{\"id\": \"%s\"}", cid);
	json_decref(expect_op(north, "get_client", body, 200));
	snprintf(body, sizeof(body),
	         "{\"id\": \"%s\", \"record\": {\"givenName\": \"Amira\", \"familyName\": "
	         "\"Khan-Lee\"}}",
	         cid);
	json_decref(expect_op(north, "update_client", body, 200));
	j = expect_op(north, "list_clients", "{\"search\": \"khan\"}", 200);
	cr_assert_eq(json_array_size(json_object_get(j, "clients")), 1);
	json_decref(j);
	snprintf(body, sizeof(body),
	         "{\"clientId\": \"%s\", \"toAgency\": \"eastside-housing\", \"purpose\": "
	         "\"housing\", \"method\": \"CONSENT_VERBAL\"}",
	         cid);
	j = expect_op(north, "add_consent", body, 200);
	kid = strdup(json_string_value(json_object_get(j, "id")));
	json_decref(j);
	snprintf(body, sizeof(body), "{\"clientId\": \"%s\"}", cid);
	j = expect_op(north, "list_consents", body, 200);
	cr_assert_eq(json_array_size(json_object_get(j, "consents")), 1);
	json_decref(j);
	snprintf(body, sizeof(body), "{\"id\": \"%s\", \"reason\": \"asked to stop\"}", kid);
	json_decref(expect_op(north, "withdraw_consent", body, 200));
	snprintf(body, sizeof(body), "{\"id\": \"%s\", \"reason\": \"client asked\"}", cid);
	json_decref(expect_op(north, "erase_client", body, 200));
	snprintf(body, sizeof(body), "{\"id\": \"%s\"}", cid);
	json_decref(expect_op(east, "get_client", body, 404)); /* never its to see */
	free(cid);
	free(kid);
}

Test(web, each_wire_status_has_its_http_status)
{
	char *id = submit("Amira"), body[256];
	struct web_reply w;

	web_op(&w, net, north, "submit", "{\"to\": \"eastside-housing\", \"form\": 7}");
	expect_refusal(&w, 400, "STATUS_INVALID", "form");
	web_reply_free(&w);
	web_op(&w, net, north, "get", "{\"id\": \"0000000000000000\"}");
	expect_refusal(&w, 404, "STATUS_NOT_FOUND", NULL);
	web_reply_free(&w);
	snprintf(body, sizeof(body), "{\"id\": \"%s\", \"action\": \"ACTION_ACCEPT\"}", id);
	web_op(&w, net, north, "update", body); /* only the receiver accepts */
	expect_refusal(&w, 403, "STATUS_FORBIDDEN", NULL);
	web_reply_free(&w);
	snprintf(body, sizeof(body),
	         "{\"id\": \"%s\", \"action\": \"ACTION_DECLINE\", "
	         "\"reason\": \"full\"}",
	         id);
	json_decref(expect_op(east, "update", body, 200));
	snprintf(body, sizeof(body), "{\"id\": \"%s\", \"action\": \"ACTION_ACCEPT\"}", id);
	web_op(&w, net, east, "update", body); /* declined is final */
	expect_refusal(&w, 409, "STATUS_CONFLICT", NULL);
	web_reply_free(&w);
	web_op(&w, net, north, "no_such_thing", "{}");
	expect_refusal(&w, 404, "STATUS_NOT_FOUND", NULL);
	web_reply_free(&w);
	web_op(&w, net, north, "watch", "{}"); /* a stream: not an operation here */
	cr_expect_eq(w.status, 404);
	web_reply_free(&w);
	web_call(&w, net, north, "GET", "/api/v1/list_inbox", NULL, NULL);
	cr_expect_eq(w.status, 405);
	cr_expect_str_eq(web_header(&w, "Allow"), "POST");
	web_reply_free(&w);
	web_op(&w, net, north, "list_inbox", "[1, 2]");
	expect_refusal(&w, 400, "STATUS_INVALID", NULL);
	web_reply_free(&w);
	free(id);
}

Test(web, a_body_over_max_frame_is_413)
{
	size_t n = 2 * 1024 * 1024;
	char *big = malloc(n + 64), *path, at[NET_PATH_MAX + 2];
	struct web_reply w;

	cr_assert_not_null(big);
	strcpy(big, "{\"search\": \"");
	memset(big + strlen(big), 'a', n);
	strcpy(big + 12 + n, "\"}");
	cr_assert_not_null(path = net_write_file(net, "big.json", big));
	snprintf(at, sizeof(at), "@%s", path);
	web_op(&w, net, north, "list_clients", at);
	cr_expect_eq(w.status, 413, "a 2 MiB body answered %d: %s", w.status, w.err);
	web_reply_free(&w);
	free(path);
	free(big);
	json_decref(expect_op(north, "list_clients", "{}", 200)); /* and the hub carries on */
}

Test(web, an_idempotency_key_returns_the_first_answer_and_pages_use_the_tokens)
{
	const char *key[] = {"Idempotency-Key: web-key-1", NULL};
	char *body = web_submit_body("Amira"), *body2 = web_submit_body("Bilal"), page_body[256];
	struct web_reply a, b, c;
	json_t *page;

	web_call(&a, net, north, "POST", "/api/v1/submit", body, key);
	web_call(&b, net, north, "POST", "/api/v1/submit", body, key);
	cr_assert_eq(a.status, 200, "%s", a.body);
	cr_assert_eq(b.status, 200, "%s", b.body);
	cr_expect_str_eq(json_string_value(json_object_get(a.json, "id")),
	                 json_string_value(json_object_get(b.json, "id")),
	                 "a retry with the same key gets the same referral");
	web_call(&c, net, north, "POST", "/api/v1/submit", body2, key);
	expect_refusal(&c, 409, "STATUS_CONFLICT", "idempotencyKey");
	web_reply_free(&a);
	web_reply_free(&b);
	web_reply_free(&c);
	free(submit("Chen"));
	page = expect_op(north, "list_sent", "{\"limit\": 1}", 200);
	cr_assert_eq(json_array_size(json_object_get(page, "referrals")), 1);
	cr_assert(json_is_string(json_object_get(page, "nextPageToken")));
	snprintf(page_body, sizeof(page_body), "{\"limit\": 1, \"pageToken\": \"%s\"}",
	         json_string_value(json_object_get(page, "nextPageToken")));
	json_decref(page);
	page = expect_op(north, "list_sent", page_body, 200);
	cr_expect_eq(json_array_size(json_object_get(page, "referrals")), 1, "the second page");
	json_decref(page);
	free(body);
	free(body2);
}

Test(web, every_answer_carries_the_security_headers)
{
	const char *paths[] = {"/api/v1/list_forms", "/api/v1/nothing", "/elsewhere"};
	struct web_reply w;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		web_call(&w, net, north, "POST", paths[i], "{}", NULL);
		cr_assert_neq(w.status, 0);
		cr_expect_str_eq(web_header(&w, "Content-Security-Policy"), CSP, "%s", paths[i]);
		cr_expect_str_eq(web_header(&w, "X-Content-Type-Options"), "nosniff");
		cr_expect_str_eq(web_header(&w, "Cache-Control"), "no-store");
		web_reply_free(&w);
	}
}

Test(web, cross_site_requests_are_refused)
{
	char *body = web_submit_body("Amira");
	const char *origin[] = {"Origin: https://evil.example", NULL};
	const char *fetch[] = {"Sec-Fetch-Site: cross-site", NULL};
	const char *form[] = {"Content-Type: text/plain", NULL};
	const char *same[] = {"Sec-Fetch-Site: same-origin", NULL};
	struct web_reply w;

	web_call(&w, net, north, "POST", "/api/v1/submit", body, origin);
	expect_refusal(&w, 403, "STATUS_FORBIDDEN", NULL);
	web_reply_free(&w);
	web_call(&w, net, north, "POST", "/api/v1/submit", body, fetch);
	expect_refusal(&w, 403, "STATUS_FORBIDDEN", NULL);
	web_reply_free(&w);
	web_call(&w, net, north, "POST", "/api/v1/submit", body, form);
	cr_expect_eq(w.status, 415, "a body a form could send is refused: %d", w.status);
	web_reply_free(&w);
	expect_box_empty(net, north, "sent");
	web_call(&w, net, north, "POST", "/api/v1/list_sent", "{}", same);
	cr_expect_eq(w.status, 200, "the hub's own pages are served: %s", w.body);
	web_reply_free(&w);
	free(body);
}

Test(web, no_certificate_gets_nothing)
{
	struct web_reply w;

	web_op(&w, net, NULL, "list_forms", "{}");
	cr_expect_eq(w.status, 0, "answered %d without a certificate: %s", w.status, w.body);
	web_reply_free(&w);
}

static void revoke_holder(const char *holder)
{
	char *serial = net_serial_of(net, holder);
	struct run_result r;

	cr_assert_eq(run_refex_ca(&r, "revoke", "--dir", net->ca_dir, "--serial", serial,
	                          "--reason", "keyCompromise", NULL),
	             0, "%s", r.err);
	run_result_free(&r);
	free(serial);
}

Test(web, a_revoked_holder_is_refused_and_its_open_connection_closed_on_reload)
{
	const char *req = "POST /api/v1/list_forms HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	                  "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
	struct raw *open = raw_connect_web(net, north);
	struct web_reply w;

	cr_assert_not_null(open);
	cr_assert_eq(raw_send_bytes(open, req, strlen(req)), 0);
	cr_assert(net_log_wait(net, "msg=connected agency=north-advice"));
	revoke_holder("Priya Shah");
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	cr_assert(net_log_wait(net, "msg=reloaded"));
	cr_expect(raw_wait_closed(open, HARNESS_READ_TIMEOUT_MS),
	          "the revoked holder's open HTTPS connection is closed on reload");
	raw_free(open);
	web_op(&w, net, north, "list_forms", "{}");
	cr_expect_eq(w.status, 0, "a revoked certificate got an answer: %s", w.body);
	web_reply_free(&w);
	json_decref(expect_op(east, "list_forms", "{}", 200)); /* a colleague carries on */
}

Test(web, the_hub_serves_its_pages_without_inline_script)
{
	const char *files[][2] = {
	    {"/", "text/html"}, {"/app.js", "text/javascript"}, {"/app.css", "text/css"}};
	struct web_reply w;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		web_call(&w, net, east, "GET", files[i][0], NULL, NULL);
		cr_assert_eq(w.status, 200, "%s: %d %s", files[i][0], w.status, w.body);
		cr_expect(
		    strncmp(web_header(&w, "Content-Type"), files[i][1], strlen(files[i][1])) == 0,
		    "%s is %s", files[i][0], web_header(&w, "Content-Type"));
		cr_expect_str_eq(web_header(&w, "Content-Security-Policy"), CSP);
		cr_expect(
		    strstr(w.body, "innerHTML") == NULL && strstr(w.body, "outerHTML") == NULL &&
		        strstr(w.body, "insertAdjacentHTML") == NULL &&
		        strstr(w.body, "document.write") == NULL &&
		        strstr(w.body, "<script>") == NULL && strstr(w.body, " style=") == NULL &&
		        strstr(w.body, " onclick=") == NULL && strstr(w.body, "https://") == NULL,
		    "%s has inline script or style, HTML insertion or something from elsewhere",
		    files[i][0]);
		web_reply_free(&w);
	}
	web_call(&w, net, east, "GET", "/nothing-here", NULL, NULL);
	cr_expect_eq(w.status, 404);
	web_reply_free(&w);
	web_call(&w, net, NULL, "GET", "/", NULL, NULL);
	cr_expect_eq(w.status, 0, "a browser without a certificate got the page");
	web_reply_free(&w);
}

/* The staff find every page from one navigation, each a route the script draws. */
Test(web, the_pages_link_every_page_from_one_navigation)
{
	const char *pages[] = {"inbox", "sent", "new", "clients", "audit", "report"};
	struct web_reply html, js;
	char want[64];

	web_call(&html, net, east, "GET", "/", NULL, NULL);
	web_call(&js, net, east, "GET", "/app.js", NULL, NULL);
	cr_assert_eq(html.status, 200);
	cr_assert_eq(js.status, 200);
	cr_expect_not_null(strstr(html.body, "<nav aria-label=\"Pages\">"), "%s", html.body);
	cr_expect_not_null(strstr(html.body, "role=\"status\""), "%s", html.body);
	cr_expect_not_null(strstr(html.body, "role=\"alert\""), "%s", html.body);
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		snprintf(want, sizeof(want), "href=\"#%s\" data-page=\"%s\"", pages[i], pages[i]);
		cr_expect_not_null(strstr(html.body, want), "no link %s in %s", want, html.body);
		snprintf(want, sizeof(want), "'%s': ['%s',", pages[i], pages[i]);
		cr_expect_not_null(strstr(js.body, want), "the script draws no page %s", pages[i]);
	}
	web_reply_free(&html);
	web_reply_free(&js);
}

/* A page renders a form from what GET /api/v1/forms/NAME says: labels, help, kinds, choices,
 * rules, nested fields, at the version asked for. */
Test(web, a_form_is_described_for_a_page_to_render)
{
	struct web_reply w;
	json_t *fields, *f;

	web_call(&w, net, north, "GET", "/api/v1/forms/housing_support", NULL, NULL);
	cr_assert_eq(w.status, 200, "%s", w.body);
	cr_assert_not_null(w.json, "%s", w.body);
	cr_expect_str_eq(json_string_value(json_object_get(w.json, "title")), "Housing support");
	cr_expect_eq(json_integer_value(json_object_get(w.json, "version")), 1);
	fields = json_object_get(w.json, "fields");
	cr_assert(json_array_size(fields) == 11, "%s", w.body);
	f = json_array_get(fields, 0);
	cr_expect_str_eq(json_string_value(json_object_get(f, "jsonName")), "currentSituation");
	cr_expect_str_eq(json_string_value(json_object_get(f, "type")), "enum");
	cr_expect(json_is_true(json_object_get(f, "required")));
	cr_expect(json_is_true(json_object_get(json_object_get(json_object_get(f, "rules"), "enum"),
	                                       "zeroIsNoAnswer")));
	cr_expect_str_eq(json_string_value(json_object_get(
	                     json_array_get(json_object_get(f, "choices"), 1), "name")),
	                 "ROUGH_SLEEPING");
	f = json_array_get(fields, 2);
	cr_expect_str_eq(json_string_value(json_object_get(f, "label")), "Date at risk");
	cr_expect_str_eq(json_string_value(json_object_get(f, "help")),
	                 "YYYY-MM-DD the client may lose their home");
	cr_expect(json_is_true(
	    json_object_get(json_object_get(json_object_get(f, "rules"), "date"), "notPast")));
	f = json_array_get(fields, 3);
	cr_expect(json_is_true(json_object_get(f, "repeated")));
	cr_expect_str_eq(json_string_value(json_object_get(
	                     json_array_get(json_object_get(f, "fields"), 0), "jsonName")),
	                 "relationship");
	web_reply_free(&w);

	web_call(&w, net, north, "GET", "/api/v1/forms/housing_support?version=1", NULL, NULL);
	cr_expect_eq(w.status, 200, "%s", w.body);
	web_reply_free(&w);
	web_call(&w, net, north, "GET", "/api/v1/forms/housing_support?version=7", NULL, NULL);
	expect_refusal(&w, 404, "STATUS_NOT_FOUND", "form");
	web_reply_free(&w);
	web_call(&w, net, north, "GET", "/api/v1/forms/pizza", NULL, NULL);
	expect_refusal(&w, 404, "STATUS_NOT_FOUND", "form");
	web_reply_free(&w);
	web_call(&w, net, north, "GET", "/api/v1/forms/housing_support?version=x", NULL, NULL);
	expect_refusal(&w, 400, "STATUS_INVALID", "version");
	web_reply_free(&w);
	web_call(&w, net, NULL, "GET", "/api/v1/forms/housing_support", NULL, NULL);
	cr_expect_eq(w.status, 0, "no certificate, no form");
	web_reply_free(&w);
}

/* Open GET /api/v1/target (extra: header lines, each ending in CRLF) as prefix on a raw
 * connection and read into buf until the stream's opening watch event. */
static struct raw *open_events(const char *prefix, const char *target, const char *extra, char *buf,
                               size_t cap)
{
	struct raw *c = raw_connect_web(net, prefix);
	char req[512];

	cr_assert_not_null(c);
	snprintf(
	    req, sizeof(req),
	    "GET /api/v1/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n%s\r\n",
	    target, extra);
	cr_assert_eq(raw_send_bytes(c, req, strlen(req)), 0);
	buf[0] = '\0';
	cr_assert(raw_read_until(c, buf, cap, "event: watch\ndata: {", HARNESS_READ_TIMEOUT_MS),
	          "no event stream: %s", buf);
	cr_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0, "%s", buf);
	cr_assert(strcasestr(buf, "\r\nContent-Type: text/event-stream") != NULL, "%s", buf);
	return c;
}

/* Count the times needle occurs in text. */
static int count_of(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle)) {
		n++;
	}
	return n;
}

Test(web, the_event_stream_brings_live_events_and_resumes_after_the_last_id)
{
	static char buf[65536];
	struct raw *c = open_events(east, "events", "", buf, sizeof(buf));
	char *id = submit("Amira");

	cr_assert(raw_read_until(c, buf, sizeof(buf), "id: 1\ndata: {", HARNESS_READ_TIMEOUT_MS),
	          "the live event did not arrive: %s", buf);
	cr_assert(raw_read_until(c, buf, sizeof(buf), "\"kind\":\"EVENT_SUBMITTED\"",
	                         HARNESS_READ_TIMEOUT_MS),
	          "%s", buf);
	cr_expect(strstr(buf, id) != NULL, "the event is not the referral's: %s", buf);
	raw_free(c);
	free(id);
	free(submit("Bilal")); /* east's events 2 and 3, missed */
	free(submit("Chen"));
	/* A browser reconnecting sends the last id it saw; it wins over the address's since. */
	c = open_events(east, "events?since=0", "Last-Event-ID: 1\r\n", buf, sizeof(buf));
	cr_assert(raw_read_until(c, buf, sizeof(buf), "id: 3\n", HARNESS_READ_TIMEOUT_MS), "%s",
	          buf);
	free(submit("Dara"));
	cr_assert(raw_read_until(c, buf, sizeof(buf), "id: 4\n", HARNESS_READ_TIMEOUT_MS), "%s",
	          buf);
	cr_expect(strstr(buf, "id: 1\n") == NULL, "an event seen before came again: %s", buf);
	cr_expect(count_of(buf, "id: 2\n") == 1 && count_of(buf, "id: 3\n") == 1, "%s", buf);
	raw_free(c);
	c = open_events(east, "events?since=3", "", buf, sizeof(buf));
	cr_assert(raw_read_until(c, buf, sizeof(buf), "id: 4\n", HARNESS_READ_TIMEOUT_MS), "%s",
	          buf);
	cr_expect(strstr(buf, "id: 3\n") == NULL, "since=3 replayed event 3: %s", buf);
	raw_free(c);
}

Test(web, the_event_stream_refuses_what_it_cannot_serve)
{
	const char *cross[] = {"Sec-Fetch-Site: cross-site", NULL};
	struct web_reply w;

	web_call(&w, net, east, "GET", "/api/v1/events?since=ten", NULL, NULL);
	expect_refusal(&w, 400, "STATUS_INVALID", "since");
	web_reply_free(&w);
	web_call(&w, net, east, "GET", "/api/v1/events?since=99", NULL, NULL);
	expect_refusal(&w, 400, "STATUS_INVALID", "since"); /* there is no event 99 yet */
	web_reply_free(&w);
	web_call(&w, net, east, "POST", "/api/v1/events", "{}", NULL);
	expect_refusal(&w, 405, "STATUS_UNSUPPORTED", NULL);
	web_reply_free(&w);
	web_call(&w, net, east, "GET", "/api/v1/events", NULL, cross);
	expect_refusal(&w, 403, "STATUS_FORBIDDEN", NULL);
	web_reply_free(&w);
	web_call(&w, net, NULL, "GET", "/api/v1/events", NULL, NULL);
	cr_expect_eq(w.status, 0, "answered %d without a certificate: %s", w.status, w.body);
	web_reply_free(&w);
}

Test(web, a_revoked_holders_event_stream_is_closed_on_reload)
{
	static char buf[65536];
	struct raw *c = open_events(north, "events", "", buf, sizeof(buf));

	revoke_holder("Priya Shah");
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	cr_assert(net_log_wait(net, "msg=reloaded"));
	cr_expect(raw_wait_closed(c, HARNESS_READ_TIMEOUT_MS),
	          "the revoked holder's event stream is closed on reload");
	raw_free(c);
}

/* A hub whose limits are short, for clients too slow to finish a request. */
static void setup_short(void)
{
	start("\n[limits]\nhandshake_timeout = 2\nidle_timeout = 2\n");
}

TestSuite(web_limits, .init = setup_short, .fini = teardown, .timeout = 180);

Test(web_limits, a_request_trickled_byte_by_byte_is_cut_off)
{
	const char *head = "POST /api/v1/list_forms HTTP/1.1\r\nHost: 127.0.0.1\r\n";
	struct raw *slow = raw_connect_web(net, north);

	cr_assert_not_null(slow);
	/* Each byte would restart a per-byte timeout; the deadline counts from the start. */
	for (size_t i = 0; i < strlen(head) && !raw_wait_closed(slow, 250); i++) {
		raw_send_bytes(slow, head + i, 1);
	}
	cr_expect(raw_wait_closed(slow, HARNESS_READ_TIMEOUT_MS),
	          "a request that never finishes is closed");
	raw_free(slow);
	json_decref(expect_op(north, "list_forms", "{}", 200));
}

Test(web_limits, a_quiet_event_stream_outlives_the_idle_timeout)
{
	static char buf[65536];
	struct raw *c = open_events(east, "events", "", buf, sizeof(buf));
	char *id;

	/* A comment every half idle time (1 s here): three of them outlast the idle timeout. */
	for (int i = 0; i < 3; i++) {
		cr_assert(raw_read_until(c, buf + strlen(buf), sizeof(buf) - strlen(buf), ":\n\n",
		                         HARNESS_READ_TIMEOUT_MS),
		          "the stream was closed while quiet: %s", buf);
	}
	id = submit("Amira");
	cr_expect(raw_read_until(c, buf, sizeof(buf), id, HARNESS_READ_TIMEOUT_MS),
	          "no event after a quiet spell: %s", buf);
	free(id);
	raw_free(c);
}

/* Call method path as the OpenAPI document names them, with an empty body for a POST. */
static int call_documented(struct web_reply *w, const char *method, const char *path)
{
	char url[256], upper[16];
	size_t i;

	for (i = 0; method[i] != '\0' && i + 1 < sizeof(upper); i++) {
		upper[i] = (char)(method[i] - ('a' - 'A'));
	}
	upper[i] = '\0';
	snprintf(url, sizeof(url), "/api/v1%s", path);
	return web_call(w, net, north, upper, url, strcmp(method, "post") == 0 ? "{}" : NULL, NULL);
}

Test(web, the_hub_serves_its_openapi_document_and_answers_what_it_lists)
{
	json_error_t jerr;
	json_t *doc = json_load_file(REFEX_OPENAPI, 0, &jerr), *paths, *item, *op;
	const ProtobufCMessageDescriptor *d = &refex__request__descriptor;
	const char *path, *method;
	struct web_reply w;
	char code[8], name[64];

	cr_assert_not_null(doc, "docs/openapi.json: %s", jerr.text);
	web_call(&w, net, north, "GET", "/api/v1/openapi.json", NULL, NULL);
	cr_assert_eq(w.status, 200);
	cr_expect(json_equal(w.json, doc), "the hub serves docs/openapi.json as it is");
	web_reply_free(&w);
	paths = json_object_get(doc, "paths");
	json_object_foreach(paths, path, item)
	{
		json_object_foreach(item, method, op)
		{
			/* A stream answers for ever: ask one for an event that is not there. */
			call_documented(&w, method,
			                strcmp(path, "/events") == 0 ? "/events?since=99" : path);
			snprintf(code, sizeof(code), "%d", w.status);
			cr_expect_not_null(
			    json_object_get(json_object_get(op, "responses"), code),
			    "%s %s answered %d, which the document does not list: %s", method, path,
			    w.status, w.body);
			web_reply_free(&w);
		}
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		if ((d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    strcmp(d->fields[i].name, "watch") != 0) {
			snprintf(name, sizeof(name), "/%s", d->fields[i].name);
			cr_expect_not_null(json_object_get(paths, name),
			                   "the operation %s is missing from docs/openapi.json",
			                   d->fields[i].name);
		}
	}
	json_decref(doc);
}

Test(web, once_the_hubs_crl_expires_the_https_door_lets_nobody_in)
{
	const long left = 8; /* seconds: enough for the reload to take it on a slow machine */
	struct web_reply w;
	time_t expired;

	net_write_crl_expiring(net, left);
	expired = time(NULL) + left + 1;
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	cr_assert(net_log_wait(net, "msg=reloaded"), "the hub takes the CRL while it is current");
	json_decref(expect_op(north, "list_forms", "{}", 200));
	/* Waiting for the CRL's next update to pass on the clock, not for a server. */
	while (time(NULL) <= expired) {
		poll(NULL, 0, 100);
	}
	web_op(&w, net, north, "list_forms", "{}");
	cr_expect_eq(w.status, 0, "answered %d with the hub's CRL expired: %s", w.status, w.body);
	web_reply_free(&w);
}

Test(web, a_reload_applies_a_new_max_frame_to_the_https_door)
{
	char *body = malloc(8192);
	struct web_reply w;

	cr_assert_not_null(body);
	memset(body, ' ', 8191);
	body[0] = '{';
	body[8189] = '}';
	body[8190] = '\0';
	json_decref(expect_op(north, "list_forms", body, 200)); /* 8 KiB of JSON, most of it air */
	cr_assert_eq(net_write_config(net, WEB_CONFIG "\n[limits]\nmax_frame = 4096\n"), 0);
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	cr_assert(net_log_wait(net, "msg=reloaded"));
	web_op(&w, net, north, "list_forms", body);
	cr_expect_eq(w.status, 413, "a body over the reloaded max_frame answered %d", w.status);
	web_reply_free(&w);
	free(body);
}

TestSuite(web_budgets, .fini = teardown, .timeout = 180);

/* Open n plain TCP connections that say nothing from src, to the HTTPS door when web, else to
 * the wire door, into fds. */
static void connect_silent(int *fds, int n, const char *src, bool web)
{
	for (int i = 0; i < n; i++) {
		fds[i] = web ? net_tcp_connect_web(net, src) : net_tcp_connect(net, src);
		cr_assert_geq(fds[i], 0, "connect from %s", src);
	}
	/* Served on a connection accepted after them, so refexd has taken them in. */
	json_decref(expect_op(north, "list_forms", "{}", 200));
}

/* Expect the first shed of fds[0..n) to be closed by the hub (within a few seconds) and the rest
 * kept; close them all. */
static void expect_shed(int *fds, int n, int shed, const char *what)
{
	for (int i = 0; i < n; i++) {
		bool closed = net_tcp_closed(fds[i], i < shed ? HARNESS_READ_TIMEOUT_MS : 0);

		cr_expect_eq(closed, i < shed, "%s: silent connection %d of %d was %s", what, i + 1,
		             n, closed ? "shed" : "kept");
		close(fds[i]);
	}
}

Test(web_budgets, one_address_cannot_use_the_https_door_to_get_round_the_handshake_cap)
{
	int wire[4], web[4], more[2];

	start("\n[limits]\nmax_handshakes = 50\nmax_handshakes_per_address = 4\n"
	      "handshake_timeout = 30\nidle_timeout = 60\n");
	/* Four silent wire connections from one address fill its budget; four at the HTTPS door
	 * from the same address shed them, oldest first, as four more at the wire door would. */
	connect_silent(wire, 4, "127.0.0.2", false);
	connect_silent(web, 4, "127.0.0.2", true);
	expect_shed(wire, 4, 4, "wire, then HTTPS");
	/* And the wire door's newcomers shed the HTTPS door's oldest. */
	connect_silent(more, 2, "127.0.0.2", false);
	expect_shed(web, 4, 2, "HTTPS, then wire");
	expect_shed(more, 2, 0, "the newest");
	cr_expect(net_log_wait(net, "msg=\"handshake shed\" peer=127.0.0.2:"));
}

Test(web_budgets, silent_https_connections_do_not_lock_partners_out_of_the_door)
{
	int fds[6];

	start("\n[limits]\nmax_handshakes = 6\nmax_handshakes_per_address = 6\n"
	      "handshake_timeout = 30\nidle_timeout = 60\n");
	/* Six that never start TLS fill the hub's handshakes; a partner's request still gets in
	 * (connect_silent makes one), shedding the oldest of them. */
	connect_silent(fds, 6, "127.0.0.3", true);
	expect_shed(fds, 6, 1, "a partner after six silent connections");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

Test(web, requests_on_a_connection_kept_alive_are_answered_without_delay)
{
	enum { N = 30 };
	static const char req[] = "GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	struct raw *c = raw_connect_web(net, north);
	double ms[N];
	char buf[4096];

	cr_assert_not_null(c);
	/* An answer goes out as two TLS records (head, body); with Nagle's algorithm on, the
	 * second waits for the client's delayed ACK of the first: 40 ms a request. */
	for (int i = 0; i < N; i++) {
		struct timespec t0, t1;

		buf[0] = '\0';
		clock_gettime(CLOCK_MONOTONIC, &t0);
		cr_assert_eq(raw_send_bytes(c, req, strlen(req)), 0);
		cr_assert(raw_read_until(c, buf, sizeof(buf), "under /api/v1/\"}",
		                         HARNESS_READ_TIMEOUT_MS),
		          "request %d: %s", i + 1, buf);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms[i] =
		    (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	}
	qsort(ms, N, sizeof(ms[0]), cmp_double);
	cr_expect_lt(ms[N / 2], 20.0, "the median request took %.1f ms", ms[N / 2]);
	raw_free(c);
}

Test(web, headers_over_16_kib_are_refused_and_the_connection_closed)
{
	enum { BIG = 20000 };
	struct raw *c = raw_connect_web(net, north);
	char *req = malloc(BIG + 200), buf[4096] = "";
	int n;

	cr_assert_not_null(c);
	cr_assert_not_null(req);
	n = snprintf(req, 200, "GET /app.css HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ");
	memset(req + n, 'a', BIG);
	memcpy(req + n + BIG, "\r\n\r\n", 5);
	raw_send_bytes(c, req, strlen(req)); /* the hub may close before it has read it all */
	raw_read_until(c, buf, sizeof(buf), "\r\n\r\n", HARNESS_READ_TIMEOUT_MS);
	cr_expect(strncmp(buf, "HTTP/1.1 200", 12) != 0, "served: %.200s", buf);
	cr_expect(raw_wait_closed(c, HARNESS_READ_TIMEOUT_MS), "the connection stays open");
	free(req);
	raw_free(c);
	json_decref(expect_op(north, "list_forms", "{}", 200));
}
