/*
 * The bad-input catalogue: hand-written frames, each with its documented answer (the same
 * table is in docs/SECURITY.md, "Bad input catalogue"). Every row runs on its own greeted
 * connection while a bystander keeps being answered within a second, and refexd stays up.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.pb-c.h"
#include "forms/housing_support.pb-c.h"
#include "harness.h"

#define MAX_FRAME (4u * 1024 * 1024) /* [limits] max_frame here: room for a million elements */
#define MILLION   1000000
#define MARKER    "UNKNOWN-FIELD-MARKER" /* hidden in unknown fields; must never be stored */

static struct net *net;
static const char *north, *east;

static void setup(void)
{
	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
	east = net_issue(net, "eastside-housing", "Sam Jones");
	/* MAX_FRAME; the INI file wants the number. */
	cr_assert_eq(
	    net_write_config(net, NET_DEFAULT_AGENCIES "\n[limits]\nmax_frame = 4194304\n"), 0);
	net_must_start(net);
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(bad_input, .init = setup, .fini = teardown, .timeout = 120);

/* What happens to the connection after the answer. */
enum after { KEPT_OPEN, CLOSED };

#define ANY_ERROR (-1) /* any status but OK, or no answer and the connection closed */

/* One catalogue row: the bytes on the wire and the documented answer. */
struct row {
	const char *what;
	size_t (*build)(uint8_t **out); /* whole frame(s), header included; malloc'd */
	int code;                       /* Refex__StatusCode, or ANY_ERROR */
	const char *field;              /* Status.field expected, or NULL */
	enum after after;
};

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A frame header announcing len, with room for len payload bytes after it. */
static uint8_t *frame_alloc(uint32_t len, size_t payload_room)
{
	uint8_t *f = malloc(4 + payload_room + 1);

	cr_assert_not_null(f);
	f[0] = (uint8_t)(len >> 24);
	f[1] = (uint8_t)(len >> 16);
	f[2] = (uint8_t)(len >> 8);
	f[3] = (uint8_t)len;
	return f;
}

/* req packed as one frame. */
static size_t frame_of(const Refex__Request *req, uint8_t **out)
{
	size_t n = refex__request__get_packed_size(req);

	*out = frame_alloc((uint32_t)n, n);
	refex__request__pack(req, *out + 4);
	return n + 4;
}

static size_t header_only(uint32_t len, uint8_t **out)
{
	*out = frame_alloc(len, 0);
	return 4;
}

static size_t zero_length(uint8_t **out)
{
	return header_only(0, out);
}

static size_t over_max(uint8_t **out)
{
	return header_only(MAX_FRAME + 1, out);
}

static size_t all_ones(uint8_t **out)
{
	return header_only(UINT32_MAX, out);
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v > 0x7f) {
		v >>= 7;
		n++;
	}
	return n;
}

/* An unknown length-delimited field tag holding data; free uf->data. protobuf-c keeps an
 * unknown field's bytes after the tag, so for this wire type they start with the length. */
static void unknown_len_field(ProtobufCMessageUnknownField *uf, uint32_t tag, const void *data,
                              size_t len)
{
	uint64_t v = len;
	size_t n = 0;

	uf->tag = tag;
	uf->wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
	uf->data = malloc(len + 10);
	cr_assert_not_null(uf->data);
	do {
		uf->data[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v > 0);
	memcpy(uf->data + n, data, len);
	uf->len = n + len;
}

/* A ListPartners request (id 2) carrying one unknown length-delimited field 15 of data. */
static size_t partners_with_unknown(const uint8_t *data, size_t len, uint8_t **out)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListPartners lp = REFEX__LIST_PARTNERS__INIT;
	ProtobufCMessageUnknownField uf;
	size_t n;

	unknown_len_field(&uf, 15, data, len);

	req.has_id = 1;
	req.id = 2;
	req.body_case = REFEX__REQUEST__BODY_LIST_PARTNERS;
	req.list_partners = &lp;
	req.base.n_unknown_fields = 1;
	req.base.unknown_fields = &uf;
	n = frame_of(&req, out);
	free(uf.data);
	return n;
}

/* Exactly max_frame bytes: a ListPartners padded with an unknown field. */
static size_t at_max(uint8_t **out)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListPartners lp = REFEX__LIST_PARTNERS__INIT;
	size_t base, pad = 0, n;
	uint8_t *data;

	req.has_id = 1;
	req.id = 2;
	req.body_case = REFEX__REQUEST__BODY_LIST_PARTNERS;
	req.list_partners = &lp;
	base = refex__request__get_packed_size(&req);
	for (size_t vl = 1; vl <= 5; vl++) { /* tag byte + length varint + data = the rest */
		pad = MAX_FRAME - base - 1 - vl;
		if (varint_len(pad) == vl) {
			break;
		}
	}
	data = calloc(1, pad);
	cr_assert_not_null(data);
	n = partners_with_unknown(data, pad, out);
	free(data);
	cr_assert_eq(n, 4 + MAX_FRAME, "built %zu bytes", n);
	return n;
}

/* 100,000 nested length-delimited fields inside an unknown field: deeper than any schema. */
static size_t deep_unknown(uint8_t **out)
{
	enum { LEVELS = 100000 };
	size_t cap = LEVELS * 6, start = cap, inner = 0, n;
	uint8_t *buf = malloc(cap);

	cr_assert_not_null(buf);
	for (int i = 0; i < LEVELS; i++) { /* from the inside out: field 1, length, inner */
		uint8_t v[10];
		size_t vl = 0;
		uint64_t len = inner;

		do {
			v[vl++] = (uint8_t)((len & 0x7f) | (len > 0x7f ? 0x80 : 0));
			len >>= 7;
		} while (len > 0);
		start -= vl + 1;
		buf[start] = 0x0a;
		memcpy(buf + start + 1, v, vl);
		inner += vl + 1;
	}
	n = partners_with_unknown(buf + start, inner, out);
	free(buf);
	return n;
}

/* A housing submission (id 3) from north-advice; edit tweaks it before it is packed. */
static size_t submit_frame(void (*edit)(struct raw_submit *s), uint8_t **out)
{
	struct raw_submit s;

	raw_submit_init(&s, 3, "Pat");
	edit(&s);
	return frame_of(&s.req, out);
}

static char *empties[MILLION];

static void million_access_needs_edit(struct raw_submit *s)
{
	for (size_t i = 0; i < MILLION; i++) {
		empties[i] = "";
	}
	s->client.n_access_needs = MILLION;
	s->client.access_needs = empties;
}

static size_t million_access_needs(uint8_t **out)
{
	return submit_frame(million_access_needs_edit, out);
}

static uint8_t million_members[2 * MILLION + 16];

static void million_household_edit(struct raw_submit *s)
{
	size_t n = 0;

	memcpy(million_members, s->data, s->sub.form_data.len);
	n = s->sub.form_data.len;
	for (size_t i = 0; i < MILLION; i++) { /* household_members (4): an empty message */
		million_members[n++] = 0x22;
		million_members[n++] = 0;
	}
	s->sub.form_data.data = million_members;
	s->sub.form_data.len = n;
}

static size_t million_household(uint8_t **out)
{
	return submit_frame(million_household_edit, out);
}

static void bad_utf8_edit(struct raw_submit *s)
{
	s->client.given_name = "Pa\xfft";
}

static size_t bad_utf8(uint8_t **out)
{
	return submit_frame(bad_utf8_edit, out);
}

static void surrogate_edit(struct raw_submit *s)
{
	s->client.family_name = "L\xed\xa0\x80"; /* U+D800: a UTF-16 surrogate, not a character */
}

static size_t surrogate(uint8_t **out)
{
	return submit_frame(surrogate_edit, out);
}

/* A name with a NUL byte in the middle (protobuf-c's C string would end there). */
static size_t embedded_nul(uint8_t **out)
{
	size_t n = submit_frame(bad_utf8_edit, out);
	uint8_t *p = memmem(*out, n, "Pa\xfft", 4);

	cr_assert_not_null(p);
	p[2] = 0;
	return n;
}

static uint8_t form_buf[256];

static void form_bad_utf8_edit(struct raw_submit *s)
{
	Refex__Forms__HousingSupport form = REFEX__FORMS__HOUSING_SUPPORT__INIT;

	form.current_situation = REFEX__FORMS__HOUSING_SUPPORT__SITUATION__SOFA_SURFING;
	form.tenure = REFEX__FORMS__HOUSING_SUPPORT__TENURE__NO_FIXED_ABODE;
	form.local_authority = "Leeds\xc0\x80"; /* an overlong NUL */
	s->sub.form_data.data = form_buf;
	s->sub.form_data.len = refex__forms__housing_support__pack(&form, form_buf);
}

static size_t form_bad_utf8(uint8_t **out)
{
	return submit_frame(form_bad_utf8_edit, out);
}

/* The client record as field 5 of the submission, hand-written without family_name. */
static ProtobufCMessageUnknownField no_family = {.tag = 5,
                                                 .wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED,
                                                 .len = 6,
                                                 .data = (uint8_t *)"\x05\x0a\x03Pat"};

static void missing_required_edit(struct raw_submit *s)
{
	s->sub.client = NULL;
	s->sub.base.n_unknown_fields = 1;
	s->sub.base.unknown_fields = &no_family;
}

static size_t missing_required(uint8_t **out)
{
	return submit_frame(missing_required_edit, out);
}

/* Request.id (a varint) sent as a length-delimited field. */
static size_t wrong_wire_type(uint8_t **out)
{
	static const uint8_t req[] = {0x0a, 0x01, 0x07, 0x4a, 0x00};

	*out = frame_alloc(sizeof(req), sizeof(req));
	memcpy(*out + 4, req, sizeof(req));
	return 4 + sizeof(req);
}

/* Values protobuf-c decodes but the schema does not define: a strict decoder at the receiver
 * would refuse the message, so the hub must. */
static void consent_method_99_edit(struct raw_submit *s)
{
	s->consent.method = 99;
}

static size_t consent_method_99(uint8_t **out)
{
	return submit_frame(consent_method_99_edit, out);
}

static void preferred_contact_99_edit(struct raw_submit *s)
{
	s->client.has_preferred_contact = 1;
	s->client.preferred_contact = 99;
}

static void form_tenure_99_edit(struct raw_submit *s)
{
	Refex__Forms__HousingSupport form = REFEX__FORMS__HOUSING_SUPPORT__INIT;

	form.current_situation = REFEX__FORMS__HOUSING_SUPPORT__SITUATION__SOFA_SURFING;
	form.tenure = 99; /* required */
	s->sub.form_data.data = form_buf;
	s->sub.form_data.len = refex__forms__housing_support__pack(&form, form_buf);
}

static void form_date_edit(struct raw_submit *s)
{
	Refex__Forms__HousingSupport form = REFEX__FORMS__HOUSING_SUPPORT__INIT;

	form.current_situation = REFEX__FORMS__HOUSING_SUPPORT__SITUATION__SOFA_SURFING;
	form.tenure = REFEX__FORMS__HOUSING_SUPPORT__TENURE__NO_FIXED_ABODE;
	form.date_at_risk = "2026-02-30";
	s->sub.form_data.data = form_buf;
	s->sub.form_data.len = refex__forms__housing_support__pack(&form, form_buf);
}

static void given_on_not_a_date_edit(struct raw_submit *s)
{
	s->consent.given_on = "not-a-date";
}

static void given_on_feb_30_edit(struct raw_submit *s)
{
	s->consent.given_on = "2026-02-30";
}

static void given_on_future_edit(struct raw_submit *s)
{
	s->consent.given_on = "2099-01-01";
}

static size_t given_on_future(uint8_t **out)
{
	return submit_frame(given_on_future_edit, out);
}

/* ListReferrals.state 99, as a list of the inbox (id 3). */
static void list_state_99_request(Refex__Request *req, Refex__ListReferrals *list)
{
	refex__request__init(req);
	refex__list_referrals__init(list);
	list->has_state = 1;
	list->state = 99;
	req->has_id = 1;
	req->id = 3;
	req->body_case = REFEX__REQUEST__BODY_LIST_INBOX;
	req->list_inbox = list;
}

static size_t list_state_99(uint8_t **out)
{
	Refex__ListReferrals list;
	Refex__Request req;

	list_state_99_request(&req, &list);
	return frame_of(&req, out);
}

/* A request whose body is a field this hub does not know (a newer protocol's request). */
static size_t unknown_request(uint8_t **out)
{
	static const uint8_t req[] = {0x08, 0x04, 0xc2, 0x3e, 0x00}; /* id 4, field 1000: {} */

	*out = frame_alloc(sizeof(req), sizeof(req));
	memcpy(*out + 4, req, sizeof(req));
	return 4 + sizeof(req);
}

/* The catalogue. Keep docs/SECURITY.md ("Bad input catalogue") in step with it. */
static const struct row catalogue[] = {
    {"zero length", zero_length, REFEX__STATUS_CODE__STATUS_INVALID, NULL, CLOSED},
    {"exactly max_frame bytes", at_max, REFEX__STATUS_CODE__STATUS_OK, NULL, KEPT_OPEN},
    {"max_frame + 1 announced", over_max, REFEX__STATUS_CODE__STATUS_TOO_LARGE, NULL, CLOSED},
    {"2^32-1 announced", all_ones, REFEX__STATUS_CODE__STATUS_TOO_LARGE, NULL, CLOSED},
    {"100,000 levels of nesting in an unknown field", deep_unknown, REFEX__STATUS_CODE__STATUS_OK,
     NULL, KEPT_OPEN},
    {"a million empty client.access_needs", million_access_needs,
     REFEX__STATUS_CODE__STATUS_TOO_LARGE, NULL, CLOSED},
    {"a million empty form household_members", million_household,
     REFEX__STATUS_CODE__STATUS_TOO_LARGE, "formData", KEPT_OPEN},
    {"invalid UTF-8 in a string", bad_utf8, REFEX__STATUS_CODE__STATUS_INVALID, "client.givenName",
     KEPT_OPEN},
    {"a UTF-16 surrogate in a string", surrogate, REFEX__STATUS_CODE__STATUS_INVALID,
     "client.familyName", KEPT_OPEN},
    {"an embedded NUL in a string", embedded_nul, REFEX__STATUS_CODE__STATUS_INVALID,
     "client.givenName", KEPT_OPEN},
    {"an overlong NUL in a form's string", form_bad_utf8, REFEX__STATUS_CODE__STATUS_INVALID,
     "formData.localAuthority", KEPT_OPEN},
    {"a missing required field", missing_required, REFEX__STATUS_CODE__STATUS_INVALID,
     "client.familyName", KEPT_OPEN},
    {"an enum number the schema lacks (consent method 99)", consent_method_99,
     REFEX__STATUS_CODE__STATUS_INVALID, "consent.method", KEPT_OPEN},
    {"an enum number the schema lacks (list state 99)", list_state_99,
     REFEX__STATUS_CODE__STATUS_INVALID, "state", KEPT_OPEN},
    {"a consent given in the future", given_on_future, REFEX__STATUS_CODE__STATUS_INVALID,
     "consent.givenOn", KEPT_OPEN},
    {"a known field with the wrong wire type", wrong_wire_type, REFEX__STATUS_CODE__STATUS_INVALID,
     NULL, CLOSED},
    {"an unknown request type", unknown_request, REFEX__STATUS_CODE__STATUS_UNSUPPORTED, NULL,
     KEPT_OPEN},
};

/* A connected raw client that has said Hello. */
static struct raw *greeted(void)
{
	struct raw *c = raw_connect(net, north, NULL);

	cr_assert_not_null(c, "raw TLS connection failed");
	cr_assert_eq(raw_hello(c), 0, "Hello was refused");
	return c;
}

/* Expect the bystander to be answered, within a second. */
static void bystander_answered(struct raw *b, const char *after)
{
	static uint64_t id = 1000;
	double t0 = now_s();

	cr_expect_eq(raw_list_forms(b, id++), 3, "the bystander was not served after: %s", after);
	cr_expect_lt(now_s() - t0, 1.0, "the bystander waited %.2f s after: %s", now_s() - t0,
	             after);
}

/* Check the answer to row's bytes on a fresh connection. */
static void run_row(const struct row *row)
{
	struct raw *c = greeted();
	Refex__ServerMessage *m;
	uint8_t *bytes;
	size_t len = row->build(&bytes);
	int got;

	cr_expect_eq(raw_send_bytes(c, bytes, len), 0, "%s: could not send", row->what);
	free(bytes);
	m = raw_read_message(c, HARNESS_READ_TIMEOUT_MS);
	got = m && m->response && m->response->status ? (int)m->response->status->code : -1;
	if (row->code == ANY_ERROR) {
		cr_expect(m == NULL ? raw_wait_closed(c, HARNESS_READ_TIMEOUT_MS)
		                    : got != REFEX__STATUS_CODE__STATUS_OK,
		          "%s: answered %d, not an error", row->what, got);
	} else {
		cr_expect_eq(got, row->code, "%s: answered %d, not %d (%s)", row->what, got,
		             row->code,
		             m && m->response && m->response->status && m->response->status->message
		                 ? m->response->status->message
		                 : "no answer");
	}
	if (row->field != NULL) {
		const char *f =
		    m && m->response && m->response->status && m->response->status->field
		        ? m->response->status->field
		        : "(none)";

		cr_expect_str_eq(f, row->field, "%s: the answer names field %s", row->what, f);
	}
	refex__server_message__free_unpacked(m, NULL);
	if (row->after == CLOSED) {
		cr_expect(raw_wait_closed(c, HARNESS_READ_TIMEOUT_MS), "%s: left open", row->what);
	} else if (row->code != ANY_ERROR || m != NULL) {
		cr_expect_eq(raw_list_forms(c, 77), 3, "%s: the connection no longer answers",
		             row->what);
	}
	raw_free(c);
}

Test(bad_input, every_frame_in_the_catalogue_gets_its_documented_answer)
{
	struct raw *bystander = greeted();

	for (size_t i = 0; i < sizeof(catalogue) / sizeof(catalogue[0]); i++) {
		run_row(&catalogue[i]);
		bystander_answered(bystander, catalogue[i].what);
		cr_assert_eq(kill(net->pid, 0), 0, "refexd is gone after: %s", catalogue[i].what);
	}
	raw_free(bystander);
	net_expect_clean_stop(net);
}

/* Field 99, length-delimited, holding MARKER (the length byte first, as protobuf-c keeps it). */
static ProtobufCMessageUnknownField marker_field = {.tag = 99,
                                                    .wire_type =
                                                        PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED,
                                                    .len = sizeof(MARKER),
                                                    .data = (uint8_t *)"\x14" MARKER};

Test(bad_input, unknown_fields_are_never_stored_nor_shown)
{
	Refex__Forms__HousingSupport form = REFEX__FORMS__HOUSING_SUPPORT__INIT;
	Refex__Forms__HousingSupport__HouseholdMember member =
	    REFEX__FORMS__HOUSING_SUPPORT__HOUSEHOLD_MEMBER__INIT;
	Refex__Forms__HousingSupport__HouseholdMember *members[] = {&member};
	Refex__Address address = REFEX__ADDRESS__INIT;
	struct raw *c = greeted();
	struct raw_submit s;
	struct run_result r;
	Refex__ServerMessage *m;
	char id[REFEX_ID_LEN + 1] = "";

	/* The marker in an unknown field at every level a referral stores: the client record and
	 * a message inside it, the consent, the form and a message inside it. */
	raw_submit_init(&s, 5, "Pat");
	address.town = "Leeds";
	address.base.n_unknown_fields = 1;
	address.base.unknown_fields = &marker_field;
	s.client.address = &address;
	s.client.base.n_unknown_fields = 1;
	s.client.base.unknown_fields = &marker_field;
	s.consent.base.n_unknown_fields = 1;
	s.consent.base.unknown_fields = &marker_field;
	form.current_situation = REFEX__FORMS__HOUSING_SUPPORT__SITUATION__SOFA_SURFING;
	form.tenure = REFEX__FORMS__HOUSING_SUPPORT__TENURE__NO_FIXED_ABODE;
	member.relationship = "child";
	member.base.n_unknown_fields = 1;
	member.base.unknown_fields = &marker_field;
	form.n_household_members = 1;
	form.household_members = members;
	form.base.n_unknown_fields = 1;
	form.base.unknown_fields = &marker_field;
	s.sub.form_data.data = form_buf;
	s.sub.form_data.len = refex__forms__housing_support__pack(&form, form_buf);
	m = raw_call(c, &s.req);
	cr_assert_not_null(m, "no answer to the submission");
	cr_assert_eq(m->response->status->code, REFEX__STATUS_CODE__STATUS_OK, "%s",
	             m->response->status->message);
	snprintf(id, sizeof(id), "%s", m->response->referral->id);
	refex__server_message__free_unpacked(m, NULL);
	raw_free(c);

	run_refex(&r, net, east, "show", id, "--json", NULL);
	cr_assert_eq(r.status, 0, "refex show exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.out, "Leeds") && strstr(r.out, "child"), "the known fields went:\n%s",
	          r.out);
	cr_expect(strstr(r.out, MARKER) == NULL, "show shows an unknown field:\n%s", r.out);
	run_result_free(&r);
	net_expect_clean_stop(net); /* checkpointed and closed: every byte stored is in the files */
	cr_expect(!net_file_holds(net, "refex.db", MARKER), "an unknown field is in the database");
	cr_expect(!net_file_holds(net, "refex.db-wal", MARKER), "an unknown field is in the WAL");
}

/* The status of m's response, or -1 when there is none. */
static int status_of(const Refex__ServerMessage *m)
{
	return m && m->response && m->response->status ? (int)m->response->status->code : -1;
}

/* Send req on c and expect INVALID naming field. */
static void refused_naming(struct raw *c, const Refex__Request *req, const char *what,
                           const char *field)
{
	Refex__ServerMessage *m = raw_call(c, req);

	cr_expect_eq(status_of(m), REFEX__STATUS_CODE__STATUS_INVALID, "%s: answered %d", what,
	             status_of(m));
	if (status_of(m) >= 0) {
		cr_expect_str_eq(m->response->status->field ? m->response->status->field : "(none)",
		                 field, "%s: %s", what, m->response->status->message);
	}
	refex__server_message__free_unpacked(m, NULL);
}

static const struct {
	const char *what;
	void (*edit)(struct raw_submit *s);
	const char *field;
} bad_submissions[] = {
    {"consent method 99", consent_method_99_edit, "consent.method"},
    {"client preferred contact 99", preferred_contact_99_edit, "client.preferredContact"},
    {"a form's required enum of 99", form_tenure_99_edit, "formData.tenure"},
    {"a form date 2026-02-30", form_date_edit, "formData.dateAtRisk"},
    {"consent given on not-a-date", given_on_not_a_date_edit, "consent.givenOn"},
    {"consent given on 2026-02-30", given_on_feb_30_edit, "consent.givenOn"},
    {"consent given on 2099-01-01", given_on_future_edit, "consent.givenOn"},
};

Test(bad_input, values_outside_the_schema_are_refused_naming_the_field_and_nothing_is_stored)
{
	Refex__ClientRecord record = REFEX__CLIENT_RECORD__INIT;
	Refex__ConsentRecord consent = REFEX__CONSENT_RECORD__INIT;
	Refex__ListReferrals list;
	Refex__Request req = REFEX__REQUEST__INIT;
	struct raw *c = greeted();
	char id[REFEX_ID_LEN + 1] = "", today[11];
	struct raw_submit s;
	struct run_result r;
	time_t now = time(NULL);
	Refex__ServerMessage *m;

	for (size_t i = 0; i < sizeof(bad_submissions) / sizeof(bad_submissions[0]); i++) {
		raw_submit_init(&s, 10 + i, "Pat");
		bad_submissions[i].edit(&s);
		refused_naming(c, &s.req, bad_submissions[i].what, bad_submissions[i].field);
	}
	list_state_99_request(&req, &list);
	refused_naming(c, &req, "list state 99", "state");
	cr_expect_eq(raw_count_sent(c, 50), 0, "a refused submission was stored");

	/* A client record and a consent recorded on their own are checked the same way. */
	record.given_name = "Pat";
	record.family_name = "Lee";
	record.has_preferred_contact = 1;
	record.preferred_contact = 99;
	cr_expect_eq(raw_add_client(c, &record, id), REFEX__STATUS_CODE__STATUS_INVALID,
	             "a preferred contact of 99 was stored");
	record.preferred_contact = REFEX__CONTACT_METHOD__CONTACT_EMAIL;
	cr_assert_eq(raw_add_client(c, &record, id), REFEX__STATUS_CODE__STATUS_OK);
	consent.client_id = id;
	consent.to_agency = "eastside-housing";
	consent.purpose = "housing support";
	consent.has_method = 1;
	consent.method = 99;
	refex__request__init(&req);
	req.has_id = 1;
	req.id = 70;
	req.body_case = REFEX__REQUEST__BODY_ADD_CONSENT;
	req.add_consent = &consent;
	refused_naming(c, &req, "a consent record's method 99", "method");
	run_refex(&r, net, north, "consent", "list", id, NULL);
	cr_expect_eq(r.status, 0, "%s", r.err);
	cr_expect(strstr(r.out, "eastside-housing") == NULL, "a refused consent was stored:\n%s",
	          r.out);
	run_result_free(&r);

	/* Today is today in every time zone: a consent given today (here) is taken. */
	strftime(today, sizeof(today), "%Y-%m-%d", localtime(&now));
	raw_submit_init(&s, 80, "Pat");
	s.consent.given_on = today;
	m = raw_call(c, &s.req);
	cr_expect_eq(status_of(m), REFEX__STATUS_CODE__STATUS_OK, "a consent given today (%s): %s",
	             today, m && m->response ? m->response->status->message : "no answer");
	refex__server_message__free_unpacked(m, NULL);
	cr_expect_eq(raw_count_sent(c, 50), 1);
	raw_free(c);
}
