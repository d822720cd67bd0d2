/*
 * Write the seed corpora: fuzz_seeds DIR writes DIR/TARGET/NAME for every fuzz target (see
 * README.md). Seeds are a handful of valid and near-valid inputs each; the fuzzer finds the
 * rest. Run it again after a protocol or form change, and commit what changed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client.pb-c.h"
#include "forms/debt_advice.pb-c.h"
#include "forms/food_support.pb-c.h"
#include "forms/housing_support.pb-c.h"
#include "frame.h"
#include "refex.pb-c.h"

#define PLACEHOLDER "REFERRAL-ID-HERE" /* fuzz_request.c swaps in a real referral id */
#define CLIENT_ID   "CLIENT-ID-HERE00" /* ... and the id of that referral's stored client */

/* fuzz_request's first byte: the peer, and which side of the harness's referral it is on. */
enum {
	AS_NORTH_SENDER = 0,
	AS_EAST_SENDER = 1,
	AS_STRANGER = 2,
	AS_NORTH_RECEIVER = 4,
	PIPELINED = 8, /* every frame at once, not one at a time */
};

struct out {
	uint8_t b[8192];
	size_t n;
};

static const char *root;

static void put(struct out *o, const void *p, size_t n)
{
	if (o->n + n > sizeof(o->b)) {
		fprintf(stderr, "fuzz_seeds: seed too large\n");
		exit(1);
	}
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void save(const char *target, const char *name, const void *p, size_t n)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, target);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* Append msg packed, after its frame header. */
static void put_frame(struct out *o, const ProtobufCMessage *msg)
{
	uint8_t hdr[FRAME_HEADER_LEN], buf[4096];
	size_t n = protobuf_c_message_get_packed_size(msg);

	if (n > sizeof(buf)) {
		exit(1);
	}
	protobuf_c_message_pack(msg, buf);
	frame_put_header(hdr, (uint32_t)n);
	put(o, hdr, sizeof(hdr));
	put(o, buf, n);
}

static Refex__Request request(uint64_t id, Refex__Request__BodyCase body, void *msg)
{
	Refex__Request r = REFEX__REQUEST__INIT;

	r.has_id = 1;
	r.id = id;
	r.body_case = body;
	r.hello = msg; /* the oneof members share one pointer */
	return r;
}

static void put_hello(struct out *o)
{
	static Refex__Hello h = REFEX__HELLO__INIT;
	Refex__Request r = request(1, REFEX__REQUEST__BODY_HELLO, &h);

	h.has_protocol_version = 1;
	h.protocol_version = REFEX__PROTOCOL__PROTOCOL_VERSION;
	h.program = "fuzz-seed/1";
	put_frame(o, &r.base);
}

static void start(struct out *o, uint8_t as)
{
	o->n = 0;
	put(o, &as, 1);
	put_hello(o);
}

static size_t pack_housing(uint8_t *buf, bool complete)
{
	Refex__Forms__HousingSupport h = REFEX__FORMS__HOUSING_SUPPORT__INIT;
	Refex__Forms__HousingSupport__HouseholdMember m =
	    REFEX__FORMS__HOUSING_SUPPORT__HOUSEHOLD_MEMBER__INIT;
	Refex__Forms__HousingSupport__HouseholdMember *members[] = {&m};

	if (!complete) {
		/* current_situation alone: protobuf-c always packs a required field. */
		buf[0] = 1 << 3;
		buf[1] = REFEX__FORMS__HOUSING_SUPPORT__SITUATION__ROUGH_SLEEPING;
		return 2;
	}
	h.current_situation = REFEX__FORMS__HOUSING_SUPPORT__SITUATION__AT_RISK_OF_EVICTION;
	h.tenure = REFEX__FORMS__HOUSING_SUPPORT__TENURE__PRIVATE_RENTED;
	h.date_at_risk = "2026-12-20";
	m.relationship = "child";
	m.has_age = 1;
	m.age = 7;
	h.n_household_members = 1;
	h.household_members = members;
	h.has_notice_received = 1;
	h.notice_received = 1;
	h.notice_type = "section 21";
	return refex__forms__housing_support__pack(&h, buf);
}

static size_t pack_food(uint8_t *buf)
{
	Refex__Forms__FoodSupport f = REFEX__FORMS__FOOD_SUPPORT__INIT;

	f.household_adults = 1;
	f.household_children = 2;
	f.vouchers_requested = 1;
	f.reason = 1;
	return refex__forms__food_support__pack(&f, buf);
}

static size_t pack_debt(uint8_t *buf)
{
	Refex__Forms__DebtAdvice d = REFEX__FORMS__DEBT_ADVICE__INIT;
	Refex__Forms__DebtAdvice__PriorityDebt p = REFEX__FORMS__DEBT_ADVICE__PRIORITY_DEBT__INIT;
	Refex__Forms__DebtAdvice__PriorityDebt *debts[] = {&p};
	Refex__Forms__DebtAdvice__DebtType types[] = {1, 2};

	d.n_debt_types = 2;
	d.debt_types = types;
	d.approximate_total_pounds = 4200;
	d.n_priority_debts = 1;
	d.priority_debts = debts;
	p.type = 1;
	d.enforcement_action = 1;
	return refex__forms__debt_advice__pack(&d, buf);
}

/* A submission from this peer to `to` on form, with a client record and consent. */
static void put_submit(struct out *o, uint64_t id, const char *to, const char *form,
                       const uint8_t *data, size_t len, const char *key, bool with_client)
{
	Refex__SubmitReferral s = REFEX__SUBMIT_REFERRAL__INIT;
	Refex__ClientRecord c = REFEX__CLIENT_RECORD__INIT;
	Refex__Address a = REFEX__ADDRESS__INIT;
	Refex__Consent k = REFEX__CONSENT__INIT;
	char *needs[] = {"step-free access"};
	Refex__Request r = request(id, REFEX__REQUEST__BODY_SUBMIT, &s);

	c.given_name = "Amira";
	c.family_name = "Khan";
	c.date_of_birth = "1990-04-01";
	c.phone = "07700 900123";
	c.has_preferred_contact = 1;
	c.preferred_contact = REFEX__CONTACT_METHOD__CONTACT_PHONE;
	c.preferred_language = "en";
	c.n_access_needs = 1;
	c.access_needs = needs;
	c.has_safe_to_leave_message = 1;
	c.safe_to_leave_message = 1;
	a.town = "Leeds";
	a.postcode = "LS1 1AA";
	c.address = &a;
	k.to_agency = (char *)to;
	k.purpose = "referral for support";
	k.method = REFEX__CONSENT_METHOD__CONSENT_VERBAL;
	s.to = (char *)to;
	s.form = (char *)form;
	s.has_form_version = 1;
	s.form_version = 1;
	s.has_form_data = 1;
	s.form_data.data = (uint8_t *)data;
	s.form_data.len = len;
	s.client = with_client ? &c : NULL;
	s.consent = &k;
	r.idempotency_key = (char *)key;
	put_frame(o, &r.base);
}

static void put_update(struct out *o, uint64_t id, Refex__Action action, const char *reason)
{
	Refex__UpdateStatus u = REFEX__UPDATE_STATUS__INIT;
	Refex__Request r = request(id, REFEX__REQUEST__BODY_UPDATE, &u);

	u.id = PLACEHOLDER;
	u.has_action = 1;
	u.action = action;
	u.reason = (char *)reason;
	put_frame(o, &r.base);
}

static void put_simple(struct out *o, uint64_t id, Refex__Request__BodyCase body)
{
	Refex__ListForms lf = REFEX__LIST_FORMS__INIT;
	Refex__ListPartners lp = REFEX__LIST_PARTNERS__INIT;
	Refex__Request r =
	    request(id, body, body == REFEX__REQUEST__BODY_LIST_FORMS ? (void *)&lf : (void *)&lp);

	put_frame(o, &r.base);
}

static void put_list(struct out *o, uint64_t id, Refex__Request__BodyCase body, int state)
{
	Refex__ListReferrals l = REFEX__LIST_REFERRALS__INIT;
	Refex__Request r = request(id, body, &l);

	l.has_limit = 1;
	l.limit = 3;
	l.has_state = state != 0;
	l.state = state;
	put_frame(o, &r.base);
}

/* A client record for the client requests. */
static Refex__ClientRecord *client_record(void)
{
	static Refex__ClientRecord c = REFEX__CLIENT_RECORD__INIT;

	c.given_name = "Amira";
	c.family_name = "Khan";
	c.date_of_birth = "1990-04-01";
	c.phone = "07700 900123";
	return &c;
}

/* The stored-client requests: as the client's owner, then as an agency it was referred to. */
static void client_seeds(void)
{
	Refex__AddClient add = REFEX__ADD_CLIENT__INIT;
	Refex__UpdateClient up = REFEX__UPDATE_CLIENT__INIT;
	Refex__GetClient get = REFEX__GET_CLIENT__INIT;
	Refex__ListClients list = REFEX__LIST_CLIENTS__INIT;
	Refex__EraseClient erase = REFEX__ERASE_CLIENT__INIT;
	Refex__ConsentRecord consent = REFEX__CONSENT_RECORD__INIT;
	Refex__ListConsents consents = REFEX__LIST_CONSENTS__INIT;
	Refex__WithdrawConsent withdraw = REFEX__WITHDRAW_CONSENT__INIT;
	Refex__GetAudit audit = REFEX__GET_AUDIT__INIT;
	Refex__ListReferrals by_client = REFEX__LIST_REFERRALS__INIT;
	Refex__ForwardReferral fw = REFEX__FORWARD_REFERRAL__INIT;
	Refex__Request r;
	struct out o;
	uint8_t form[512];

	add.record = client_record();
	up.id = get.id = erase.id = consent.client_id = consents.client_id = CLIENT_ID;
	up.record = client_record();
	list.search = "khan";
	erase.reason = "asked to";
	consent.to_agency = "eastside-housing";
	consent.purpose = "housing support";
	consent.has_method = 1;
	consent.method = REFEX__CONSENT_METHOD__CONSENT_VERBAL;
	withdraw.id = "CONSENT-ID-HERE0";
	withdraw.reason = "changed their mind";
	audit.client_id = CLIENT_ID;
	by_client.client_id = CLIENT_ID;

	start(&o, AS_NORTH_SENDER);
	r = request(2, REFEX__REQUEST__BODY_ADD_CLIENT, &add);
	put_frame(&o, &r.base);
	r = request(3, REFEX__REQUEST__BODY_ADD_CLIENT, &add); /* a likely duplicate */
	put_frame(&o, &r.base);
	r = request(4, REFEX__REQUEST__BODY_LIST_CLIENTS, &list);
	put_frame(&o, &r.base);
	save("request", "client-add-twice-list", o.b, o.n);

	start(&o, AS_NORTH_SENDER);
	r = request(2, REFEX__REQUEST__BODY_GET_CLIENT, &get);
	put_frame(&o, &r.base);
	r = request(3, REFEX__REQUEST__BODY_UPDATE_CLIENT, &up);
	put_frame(&o, &r.base);
	r = request(4, REFEX__REQUEST__BODY_ADD_CONSENT, &consent);
	put_frame(&o, &r.base);
	r = request(5, REFEX__REQUEST__BODY_LIST_CONSENTS, &consents);
	put_frame(&o, &r.base);
	r = request(6, REFEX__REQUEST__BODY_WITHDRAW_CONSENT, &withdraw);
	put_frame(&o, &r.base);
	r = request(7, REFEX__REQUEST__BODY_AUDIT, &audit);
	put_frame(&o, &r.base);
	r = request(8, REFEX__REQUEST__BODY_LIST_SENT, &by_client);
	put_frame(&o, &r.base);
	r = request(9, REFEX__REQUEST__BODY_ERASE_CLIENT, &erase);
	put_frame(&o, &r.base);
	save("request", "client-owner", o.b, o.n);

	start(&o, AS_NORTH_RECEIVER);
	r = request(2, REFEX__REQUEST__BODY_GET_CLIENT, &get);
	put_frame(&o, &r.base);
	r = request(3, REFEX__REQUEST__BODY_LIST_CONSENTS, &consents);
	put_frame(&o, &r.base);
	r = request(4, REFEX__REQUEST__BODY_LIST_INBOX, &by_client);
	put_frame(&o, &r.base);
	r = request(5, REFEX__REQUEST__BODY_UPDATE_CLIENT, &up);
	put_frame(&o, &r.base);
	fw.referral_id = PLACEHOLDER;
	fw.to = "eastside-housing";
	fw.form = "debt_advice";
	fw.has_form_data = 1;
	fw.form_data.data = form;
	fw.form_data.len = pack_debt(form);
	r = request(6, REFEX__REQUEST__BODY_FORWARD, &fw);
	put_frame(&o, &r.base);
	save("request", "client-holder-forward", o.b, o.n);
}

static void request_seeds(void)
{
	static const uint8_t garbage[] = {0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t oversize[] = {0, 0x10, 0, 0};
	Refex__GetReferral g = REFEX__GET_REFERRAL__INIT;
	Refex__Watch w = REFEX__WATCH__INIT;
	Refex__Request get = request(5, REFEX__REQUEST__BODY_GET, &g);
	Refex__Request watch = request(6, REFEX__REQUEST__BODY_WATCH, &w);
	uint8_t form[512];
	size_t n;
	struct out o;

	start(&o, AS_NORTH_SENDER);
	put_simple(&o, 2, REFEX__REQUEST__BODY_LIST_FORMS);
	put_simple(&o, 3, REFEX__REQUEST__BODY_LIST_PARTNERS);
	save("request", "hello-list-forms-partners", o.b, o.n);

	start(&o, AS_NORTH_SENDER);
	n = pack_housing(form, true);
	put_submit(&o, 2, "eastside-housing", "housing_support", form, n, "key-1", true);
	save("request", "submit-housing", o.b, o.n);

	start(&o, AS_EAST_SENDER | PIPELINED);
	n = pack_food(form);
	put_submit(&o, 2, "north-advice", "food_support", form, n, "key-2", true);
	put_submit(&o, 3, "north-advice", "food_support", form, n, "key-2", true);
	n = pack_debt(form);
	put_submit(&o, 4, "north-advice", "debt_advice", form, n, "key-2", true);
	save("request", "submit-food-repeat-and-reuse-key", o.b, o.n);

	start(&o, AS_NORTH_SENDER);
	n = pack_housing(form, false);
	put_submit(&o, 2, "eastside-housing", "housing_support", form, n, NULL, true);
	n = pack_housing(form, true);
	put_submit(&o, 3, "eastside-housing", "housing_support", form, n, NULL, false);
	save("request", "submit-incomplete", o.b, o.n);

	start(&o, AS_NORTH_RECEIVER | PIPELINED);
	put_list(&o, 2, REFEX__REQUEST__BODY_LIST_INBOX, 0);
	put_list(&o, 3, REFEX__REQUEST__BODY_LIST_SENT, REFEX__STATE__STATE_SENT);
	save("request", "list-inbox-sent", o.b, o.n);

	start(&o, AS_NORTH_RECEIVER);
	g.id = PLACEHOLDER;
	put_frame(&o, &get.base);
	put_update(&o, 3, REFEX__ACTION__ACTION_ACCEPT, NULL);
	put_update(&o, 4, REFEX__ACTION__ACTION_COMPLETE, "housed");
	save("request", "get-accept-complete", o.b, o.n);

	start(&o, AS_NORTH_RECEIVER);
	put_update(&o, 2, REFEX__ACTION__ACTION_DECLINE, "no capacity");
	save("request", "decline", o.b, o.n);

	start(&o, AS_NORTH_SENDER);
	put_update(&o, 2, REFEX__ACTION__ACTION_WITHDRAW, "client moved away");
	save("request", "withdraw", o.b, o.n);

	start(&o, AS_NORTH_RECEIVER);
	w.has_since = 1;
	w.since = 1;
	put_frame(&o, &watch.base);
	save("request", "watch", o.b, o.n);

	o.n = 0;
	put(&o, (uint8_t[]){AS_NORTH_SENDER}, 1);
	put_simple(&o, 7, REFEX__REQUEST__BODY_LIST_FORMS);
	save("request", "before-hello", o.b, o.n);

	start(&o, AS_NORTH_SENDER);
	put(&o, garbage, sizeof(garbage));
	save("request", "garbage-frame", o.b, o.n);

	start(&o, AS_NORTH_SENDER);
	put(&o, oversize, sizeof(oversize));
	save("request", "oversize-frame", o.b, o.n);

	start(&o, AS_STRANGER);
	save("request", "stranger", o.b, o.n);
}

static void frame_seeds(void)
{
	static const uint8_t one[] = {3, 0, 0, 0, 1, 0x08};
	static const uint8_t two[] = {3, 0, 0, 0, 2, 0x08, 0x01, 0, 0, 0, 1, 0x10};
	static const uint8_t zero[] = {3, 0, 0, 0, 0};
	static const uint8_t huge[] = {3, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t partial[] = {2, 0, 0, 0x10, 0, 1, 2, 3};

	save("frame", "one", one, sizeof(one));
	save("frame", "two", two, sizeof(two));
	save("frame", "zero-length", zero, sizeof(zero));
	save("frame", "4-gib", huge, sizeof(huge));
	save("frame", "partial", partial, sizeof(partial));
}

static void form_seeds(void)
{
	uint8_t buf[512];

	save("form", "housing", buf, pack_housing(buf, true));
	save("form", "housing-no-tenure", buf, pack_housing(buf, false));
	save("form", "food", buf, pack_food(buf));
	save("form", "debt", buf, pack_debt(buf));
	save("form", "garbage", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12);
}

/* fuzz_pbjson's first byte: the message type (see descs[] there); top bit: protobuf input. */
static void pbjson_seed(const char *name, uint8_t type, const char *json)
{
	struct out o = {0};

	put(&o, &type, 1);
	put(&o, json, strlen(json));
	save("pbjson", name, o.b, o.n);
}

static void pbjson_seeds(void)
{
	uint8_t buf[600];
	size_t n;

	pbjson_seed("client", 0,
	            "{\"givenName\": \"Amira\", \"familyName\": \"Khan\", \"dateOfBirth\": "
	            "\"1990-04-01\", \"preferredContact\": \"CONTACT_PHONE\", "
	            "\"accessNeeds\": [\"step-free access\"], \"safeToLeaveMessage\": true, "
	            "\"address\": {\"town\": \"Leeds\"}}");
	pbjson_seed("consent", 1,
	            "{\"to_agency\": \"eastside-housing\", \"purpose\": \"housing support\", "
	            "\"method\": 1, \"recordedAt\": \"1700000000\"}");
	pbjson_seed("housing", 2,
	            "{\"currentSituation\": \"AT_RISK_OF_EVICTION\", \"tenure\": "
	            "\"PRIVATE_RENTED\", \"householdMembers\": [{\"relationship\": \"child\", "
	            "\"age\": 7}]}");
	pbjson_seed("housing-no-tenure", 2, "{\"currentSituation\": \"ROUGH_SLEEPING\"}");
	pbjson_seed("food-placeholder", 3,
	            "{\"householdAdults\": \"<required uint32>\", \"householdChildren\": 0}");
	pbjson_seed("request-bytes", 6,
	            "{\"id\": \"18446744073709551615\", \"submit\": {\"to\": \"x\", "
	            "\"formData\": \"CAEQAg==\"}}");
	buf[0] = 0x80 | 2; /* housing_support, as protobuf */
	n = pack_housing(buf + 1, true);
	save("pbjson", "housing-protobuf", buf, n + 1);
	buf[0] = 0x80 | 4; /* debt_advice, as protobuf */
	n = pack_debt(buf + 1);
	save("pbjson", "debt-protobuf", buf, n + 1);
}

static void config_seed(const char *name, const char *text)
{
	save("config", name, text, strlen(text));
}

static void config_seeds(void)
{
	const char *server = "[server]\nlisten = 127.0.0.1:7443\ncertificate = server.crt\n"
	                     "key = server.key\nca = ca/ca.crt\ndatabase = refex.db\n";
	char buf[2048];

	snprintf(buf, sizeof(buf),
	         "%scrl = ca/crl.pem\nlog_level = debug\nuser = refex\n"
	         "[limits]\nmax_frame = 65536\nidle_timeout = 60\nhandshake_timeout = 5\n"
	         "max_connections = 100\npage_size = 20\nmax_page_size = 100\n"
	         "output_buffer = 1048576\n"
	         "[metrics]\nlisten = 127.0.0.1:9187\n"
	         "[agency north-advice]\nname = North Advice\n"
	         "accepts = food_support, debt_advice\n"
	         "[agency eastside-housing]\naccepts = housing_support\n"
	         "[form housing_support]\nacknowledge_within = 14d\n",
	         server);
	config_seed("full", buf);
	snprintf(buf, sizeof(buf), "%s[agency a]\n", server);
	config_seed("minimal", buf);
	snprintf(buf, sizeof(buf), "%s[agency Bad_Id]\naccepts = pizza\n", server);
	config_seed("bad-agency", buf);
	snprintf(buf, sizeof(buf), "%s[limits]\npage_size = 600\n[agency a]\n[form x]\n", server);
	config_seed("bad-limits", buf);
	config_seed("ipv6", "[server]\nlisten = [::1]:7443\ncertificate = /c\nkey = /k\nca = /a\n"
	                    "database = /d\n; comment\n[agency b-2]\nname = B\n");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_seeds DIR   (writes DIR/TARGET/NAME)\n");
		return 2;
	}
	root = argv[1];
	request_seeds();
	client_seeds();
	frame_seeds();
	form_seeds();
	pbjson_seeds();
	config_seeds();
	return 0;
}
