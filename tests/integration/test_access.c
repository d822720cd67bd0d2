/*
 * The access-control matrix: every request type, asked by the sending agency, the receiving
 * agency and an agency that is not a party, about a referral in every state, each cell with
 * the answer it expects. An outsider must not learn that a referral exists: its answers for a
 * real id are word for word its answers for an id never issued, and the referral never shows in
 * its inbox, sent list or events. A revoked holder and an agency removed from the partnership
 * do not get in at all, so they are one row each. One refexd serves the whole table.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define ID_BUF 64 /* a referral id with room to spare */

/* The partnership: the three default agencies and one that the test removes. */
#define REMOVED_AGENCY "west-care"
#define MATRIX_AGENCIES                                                                            \
	NET_DEFAULT_AGENCIES "\n"                                                                  \
	                     "[agency " REMOVED_AGENCY "]\n"                                       \
	                     "name = West Care\n"                                                  \
	                     "accepts = debt_advice\n"

enum role { SENDER, RECIPIENT, OUTSIDER, N_ROLES };

static const char *const role_agency[N_ROLES] = {"north-advice", "eastside-housing", "third-party"};
static const char *const role_name[N_ROLES] = {"sender", "recipient", "outsider"};

enum op {
	OP_HELLO,
	OP_SUBMIT,
	OP_GET,
	OP_ACCEPT,
	OP_DECLINE,
	OP_COMPLETE,
	OP_WITHDRAW,
	OP_INBOX,
	OP_SENT,
	OP_FORMS,
	OP_PARTNERS,
	OP_WATCH,
	OP_AUDIT,
	OP_FORWARD,
};

static const char *const op_name[] = {
    [OP_HELLO] = "hello",       [OP_SUBMIT] = "submit",          [OP_GET] = "get",
    [OP_ACCEPT] = "accept",     [OP_DECLINE] = "decline",        [OP_COMPLETE] = "complete",
    [OP_WITHDRAW] = "withdraw", [OP_INBOX] = "list_inbox",       [OP_SENT] = "list_sent",
    [OP_FORMS] = "list_forms",  [OP_PARTNERS] = "list_partners", [OP_WATCH] = "watch",
    [OP_AUDIT] = "audit",       [OP_FORWARD] = "forward",
};

#define N_STATES 6 /* the columns: Refex__State 1 (sent) to 6 (withdrawn) */

static const char *const state_name[N_STATES + 1] = {
    "-", "sent", "received", "accepted", "declined", "completed", "withdrawn"};

/* What an answer shows. */
enum show {
	SHOW_NOTHING, /* a refusal: the status only, no body */
	SHOW_OTHER,   /* an answer about no referral in particular (hello, forms, ...) */
	SHOW_FULL,    /* the whole referral (client record, consent, form data, history) in state */
	SHOW_LISTED,  /* OK, and the referral is listed (summary only) or has events, in state */
	SHOW_UNLISTED, /* OK, and the referral is nowhere in what comes back */
	SHOW_HIDDEN,   /* NOT_FOUND, word for word what a never-issued id gets */
};

struct expect {
	Refex__StatusCode code;
	enum show show;
	Refex__State state; /* for SHOW_FULL and SHOW_LISTED */
};

#define S(x)  REFEX__STATUS_CODE__STATUS_##x
#define ST(x) REFEX__STATE__STATE_##x
#define FULL(st)                                                                                   \
	{                                                                                          \
		S(OK), SHOW_FULL, ST(st)                                                           \
	}
#define LISTED(st)                                                                                 \
	{                                                                                          \
		S(OK), SHOW_LISTED, ST(st)                                                         \
	}
#define UNLISTED                                                                                   \
	{                                                                                          \
		S(OK), SHOW_UNLISTED, 0                                                            \
	}
#define HIDDEN                                                                                     \
	{                                                                                          \
		S(NOT_FOUND), SHOW_HIDDEN, 0                                                       \
	}
#define FORBID                                                                                     \
	{                                                                                          \
		S(FORBIDDEN), SHOW_NOTHING, 0                                                      \
	}
#define CONFL                                                                                      \
	{                                                                                          \
		S(CONFLICT), SHOW_NOTHING, 0                                                       \
	}
#define INVAL                                                                                      \
	{                                                                                          \
		S(INVALID), SHOW_NOTHING, 0                                                        \
	}
#define OK_OTHER                                                                                   \
	{                                                                                          \
		S(OK), SHOW_OTHER, 0                                                               \
	}
#define ALL6(x)                                                                                    \
	{                                                                                          \
		x, x, x, x, x, x                                                                   \
	}
#define SAME_STATES                                                                                \
	{                                                                                          \
		LISTED(SENT), LISTED(RECEIVED), LISTED(ACCEPTED), LISTED(DECLINED),                \
		    LISTED(COMPLETED), LISTED(WITHDRAWN)                                           \
	}

/* One row: a request by a role, and the answer in each state of the referral it is about. */
struct row {
	enum op op;
	enum role role;
	struct expect cell[N_STATES]; /* sent, received, accepted, declined, completed, withdrawn */
};

/* clang-format off */
static const struct row matrix[] = {
    /* Requests about no referral: the same answer whatever state the referral is in. */
    {OP_HELLO,    SENDER,    ALL6(OK_OTHER)},
    {OP_HELLO,    RECIPIENT, ALL6(OK_OTHER)},
    {OP_HELLO,    OUTSIDER,  ALL6(OK_OTHER)},
    {OP_SUBMIT,   SENDER,    ALL6(OK_OTHER)},
    {OP_SUBMIT,   RECIPIENT, ALL6(INVAL)},     /* to eastside-housing: not to itself */
    {OP_SUBMIT,   OUTSIDER,  ALL6(OK_OTHER)},
    {OP_FORMS,    SENDER,    ALL6(OK_OTHER)},
    {OP_FORMS,    RECIPIENT, ALL6(OK_OTHER)},
    {OP_FORMS,    OUTSIDER,  ALL6(OK_OTHER)},
    {OP_PARTNERS, SENDER,    ALL6(OK_OTHER)},
    {OP_PARTNERS, RECIPIENT, ALL6(OK_OTHER)},
    {OP_PARTNERS, OUTSIDER,  ALL6(OK_OTHER)},
    /*                        sent            received        accepted         declined        completed        withdrawn */
    {OP_GET,      SENDER,    {FULL(SENT),     FULL(RECEIVED), FULL(ACCEPTED),  FULL(DECLINED), FULL(COMPLETED), FULL(WITHDRAWN)}},
    {OP_GET,      RECIPIENT, {FULL(RECEIVED), FULL(RECEIVED), FULL(ACCEPTED),  FULL(DECLINED), FULL(COMPLETED), FULL(WITHDRAWN)}},
    {OP_GET,      OUTSIDER,  ALL6(HIDDEN)},
    {OP_ACCEPT,   SENDER,    ALL6(FORBID)},
    {OP_ACCEPT,   RECIPIENT, {FULL(ACCEPTED), FULL(ACCEPTED), CONFL,           CONFL,          CONFL,           CONFL}},
    {OP_ACCEPT,   OUTSIDER,  ALL6(HIDDEN)},
    {OP_DECLINE,  SENDER,    ALL6(FORBID)},
    {OP_DECLINE,  RECIPIENT, {FULL(DECLINED), FULL(DECLINED), CONFL,           CONFL,          CONFL,           CONFL}},
    {OP_DECLINE,  OUTSIDER,  ALL6(HIDDEN)},
    {OP_COMPLETE, SENDER,    ALL6(FORBID)},
    {OP_COMPLETE, RECIPIENT, {CONFL,          CONFL,          FULL(COMPLETED), CONFL,          CONFL,           CONFL}},
    {OP_COMPLETE, OUTSIDER,  ALL6(HIDDEN)},
    {OP_WITHDRAW, SENDER,    {FULL(WITHDRAWN), FULL(WITHDRAWN), FULL(WITHDRAWN), CONFL,        CONFL,           CONFL}},
    {OP_WITHDRAW, RECIPIENT, ALL6(FORBID)},
    {OP_WITHDRAW, OUTSIDER,  ALL6(HIDDEN)},
    {OP_INBOX,    SENDER,    ALL6(UNLISTED)},
    {OP_INBOX,    RECIPIENT, SAME_STATES},
    {OP_INBOX,    OUTSIDER,  ALL6(UNLISTED)},
    {OP_SENT,     SENDER,    SAME_STATES},
    {OP_SENT,     RECIPIENT, ALL6(UNLISTED)},
    {OP_SENT,     OUTSIDER,  ALL6(UNLISTED)},
    {OP_WATCH,    SENDER,    SAME_STATES},     /* replayed from 0: its newest event shows the state */
    {OP_WATCH,    RECIPIENT, SAME_STATES},
    {OP_WATCH,    OUTSIDER,  ALL6(UNLISTED)},  /* no event about it, replayed or live */
    {OP_AUDIT,    SENDER,    ALL6(OK_OTHER)},  /* its entries, about it alone */
    {OP_AUDIT,    RECIPIENT, ALL6(OK_OTHER)},
    {OP_AUDIT,    OUTSIDER,  ALL6(HIDDEN)},
    {OP_FORWARD,  SENDER,    ALL6(FORBID)},    /* only the agency it was sent to refers on */
    {OP_FORWARD,  RECIPIENT, {OK_OTHER,       OK_OTHER,       OK_OTHER,        OK_OTHER,       OK_OTHER,        CONFL}},
    {OP_FORWARD,  OUTSIDER,  ALL6(HIDDEN)},
};
/* clang-format on */

static struct net *net;
static const char *cert[N_ROLES];
static struct raw *conn[N_ROLES];
static uint64_t next_req = 100;

/* The referral each state's read-only cells ask about, built once and never changed. */
static char shared[N_STATES + 1][ID_BUF];

static void setup(void)
{
	net = net_new();
	for (int r = 0; r < N_ROLES; r++) {
		cert[r] = net_issue(net, role_agency[r], "Matrix Holder");
	}
	cr_assert_eq(net_write_config(net, MATRIX_AGENCIES), 0);
	net_must_start(net);
}

static void teardown(void)
{
	for (int r = 0; r < N_ROLES; r++) {
		raw_free(conn[r]);
		conn[r] = NULL;
	}
	net_teardown(net);
	net = NULL;
}

TestSuite(access, .init = setup, .fini = teardown, .timeout = 120);

static struct raw *greeted(const char *prefix)
{
	struct raw *c = raw_connect(net, prefix, NULL);

	cr_assert_not_null(c, "TLS connection with %s failed", prefix);
	cr_assert_eq(raw_hello(c), 0, "Hello as %s was refused", prefix);
	return c;
}

static Refex__ServerMessage *call(struct raw *c, Refex__Request *req, const char *what)
{
	Refex__ServerMessage *m;

	req->has_id = 1;
	req->id = next_req++;
	m = raw_call(c, req);
	cr_assert_not_null(m, "%s: no answer", what);
	cr_assert_not_null(m->response->status, "%s: an answer without a status", what);
	return m;
}

static Refex__ServerMessage *ask_get(struct raw *c, const char *id, const char *what)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__GetReferral g = REFEX__GET_REFERRAL__INIT;

	g.id = (char *)id;
	req.body_case = REFEX__REQUEST__BODY_GET;
	req.get = &g;
	return call(c, &req, what);
}

static Refex__ServerMessage *ask_update(struct raw *c, const char *id, Refex__Action action,
                                        const char *key, const char *what)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__UpdateStatus u = REFEX__UPDATE_STATUS__INIT;

	u.id = (char *)id;
	u.has_action = 1;
	u.action = action;
	u.reason = action == REFEX__ACTION__ACTION_ACCEPT ? NULL : "matrix reason";
	req.body_case = REFEX__REQUEST__BODY_UPDATE;
	req.update = &u;
	req.idempotency_key = (char *)key;
	return call(c, &req, what);
}

static Refex__ServerMessage *ask_submit(struct raw *c, const char *what)
{
	struct raw_submit s;

	raw_submit_init(&s, 0, "Matrix");
	return call(c, &s.req, what);
}

static Refex__ServerMessage *ask_list(struct raw *c, enum op op, const char *token,
                                      const char *what)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListReferrals l = REFEX__LIST_REFERRALS__INIT;

	l.page_token = (char *)token;
	req.body_case =
	    op == OP_INBOX ? REFEX__REQUEST__BODY_LIST_INBOX : REFEX__REQUEST__BODY_LIST_SENT;
	if (op == OP_INBOX) {
		req.list_inbox = &l;
	} else {
		req.list_sent = &l;
	}
	return call(c, &req, what);
}

static Refex__ServerMessage *ask_plain(struct raw *c, enum op op, const char *what)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__Hello h = REFEX__HELLO__INIT;
	Refex__ListForms lf = REFEX__LIST_FORMS__INIT;
	Refex__ListPartners lp = REFEX__LIST_PARTNERS__INIT;

	if (op == OP_HELLO) {
		h.has_protocol_version = 1;
		h.protocol_version = REFEX__PROTOCOL__PROTOCOL_VERSION;
		h.program = "test_access";
		req.body_case = REFEX__REQUEST__BODY_HELLO;
		req.hello = &h;
	} else if (op == OP_FORMS) {
		req.body_case = REFEX__REQUEST__BODY_LIST_FORMS;
		req.list_forms = &lf;
	} else {
		req.body_case = REFEX__REQUEST__BODY_LIST_PARTNERS;
		req.list_partners = &lp;
	}
	return call(c, &req, what);
}

static const Refex__Action op_action[] = {
    [OP_ACCEPT] = REFEX__ACTION__ACTION_ACCEPT,
    [OP_DECLINE] = REFEX__ACTION__ACTION_DECLINE,
    [OP_COMPLETE] = REFEX__ACTION__ACTION_COMPLETE,
    [OP_WITHDRAW] = REFEX__ACTION__ACTION_WITHDRAW,
};

static bool op_is_update(enum op op)
{
	return op == OP_ACCEPT || op == OP_DECLINE || op == OP_COMPLETE || op == OP_WITHDRAW;
}

/* Ask role about referral id with a get or an update. */
static Refex__ServerMessage *ask_audit(struct raw *c, const char *id, const char *what)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__GetAudit g = REFEX__GET_AUDIT__INIT;

	g.referral_id = (char *)id;
	req.body_case = REFEX__REQUEST__BODY_AUDIT;
	req.audit = &g;
	return call(c, &req, what);
}

/* Refer the client of id on to the west agency, on a debt advice form complete enough. */
static Refex__ServerMessage *ask_forward(struct raw *c, const char *id, const char *what)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ForwardReferral f = REFEX__FORWARD_REFERRAL__INIT;
	/* approximate_total_pounds = 1, enforcement_action = false */
	static uint8_t answers[] = {0x10, 0x01, 0x30, 0x00};

	/* No consent of the forwarder's: the sender's any-partner consent (build) covers it. */
	f.referral_id = (char *)id;
	f.to = REMOVED_AGENCY;
	f.form = "debt_advice";
	f.has_form_data = 1;
	f.form_data.data = answers;
	f.form_data.len = sizeof(answers);
	req.body_case = REFEX__REQUEST__BODY_FORWARD;
	req.forward = &f;
	return call(c, &req, what);
}

static Refex__ServerMessage *ask_about(enum op op, enum role role, const char *id, const char *what)
{
	if (op == OP_GET) {
		return ask_get(conn[role], id, what);
	}
	if (op == OP_AUDIT) {
		return ask_audit(conn[role], id, what);
	}
	if (op == OP_FORWARD) {
		return ask_forward(conn[role], id, what);
	}
	return ask_update(conn[role], id, op_action[op], NULL, what);
}

static void expect_ok(Refex__ServerMessage *m, const char *what)
{
	cr_assert_eq(m->response->status->code, S(OK), "%s: %s", what,
	             m->response->status->message ? m->response->status->message : "");
	refex__server_message__free_unpacked(m, NULL);
}

/* Let the client of the sender's referral id go on to any partner: a forward needs a consent
 * the client's owner recorded (the forwarder cannot record one). */
static void share_with_any_partner(const char *id)
{
	Refex__ServerMessage *m = ask_get(conn[SENDER], id, "the referral's stored client");
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ConsentRecord k = REFEX__CONSENT_RECORD__INIT;
	char client[ID_BUF];

	cr_assert(m->response->referral != NULL && m->response->referral->client_id != NULL,
	          "a submitted client is stored");
	snprintf(client, sizeof(client), "%s", m->response->referral->client_id);
	refex__server_message__free_unpacked(m, NULL);
	k.client_id = client;
	k.has_any_partner = k.any_partner = 1;
	k.purpose = "support referrals";
	k.has_method = 1;
	k.method = REFEX__CONSENT_METHOD__CONSENT_WRITTEN;
	req.body_case = REFEX__REQUEST__BODY_ADD_CONSENT;
	req.add_consent = &k;
	expect_ok(call(conn[SENDER], &req, "consent to any partner"), "consent to any partner");
}

/* Make a new referral from the sender to the recipient and move it to state. */
static void build(Refex__State state, char id[ID_BUF])
{
	Refex__ServerMessage *m = ask_submit(conn[SENDER], "building a referral");

	cr_assert_eq(m->response->status->code, S(OK), "submit: %s", m->response->status->message);
	cr_assert_not_null(m->response->referral);
	snprintf(id, ID_BUF, "%s", m->response->referral->id);
	refex__server_message__free_unpacked(m, NULL);
	share_with_any_partner(id);
	switch (state) {
	case ST(RECEIVED):
		expect_ok(ask_get(conn[RECIPIENT], id, "receive"), "receive");
		break;
	case ST(ACCEPTED):
	case ST(COMPLETED):
		expect_ok(
		    ask_update(conn[RECIPIENT], id, REFEX__ACTION__ACTION_ACCEPT, NULL, "accept"),
		    "accept");
		if (state == ST(COMPLETED)) {
			expect_ok(ask_update(conn[RECIPIENT], id, REFEX__ACTION__ACTION_COMPLETE,
			                     NULL, "complete"),
			          "complete");
		}
		break;
	case ST(DECLINED):
		expect_ok(
		    ask_update(conn[RECIPIENT], id, REFEX__ACTION__ACTION_DECLINE, NULL, "decline"),
		    "decline");
		break;
	case ST(WITHDRAWN):
		expect_ok(
		    ask_update(conn[SENDER], id, REFEX__ACTION__ACTION_WITHDRAW, NULL, "withdraw"),
		    "withdraw");
		break;
	default:
		break;
	}
}

/* A well-formed id that was never issued: id with its last (random) character changed. */
static void ghost_of(const char *id, char ghost[ID_BUF])
{
	size_t n = strlen(id);

	snprintf(ghost, ID_BUF, "%s", id);
	ghost[n - 1] = ghost[n - 1] == '0' ? '1' : '0';
}

/* Expect the answer real about id to be word for word the answer g about ghost. */
static void expect_same(const Refex__Response *real, const char *id, const Refex__Response *g,
                        const char *ghost, const char *what)
{
	const Refex__Status *rs = real->status, *gs = g->status;
	char a[600], b[600];

	text_without_id(rs->message, id, a, sizeof(a));
	text_without_id(gs->message, ghost, b, sizeof(b));
	cr_expect_eq(rs->code, gs->code, "%s: status %d, for an unknown id %d", what, rs->code,
	             gs->code);
	cr_expect_str_eq(a, b, "%s: the message differs from an unknown id's", what);
	cr_expect_str_eq(rs->field ? rs->field : "", gs->field ? gs->field : "",
	                 "%s: the field differs from an unknown id's", what);
	cr_expect_eq(real->body_case, g->body_case, "%s: the body differs", what);
}

/* Expect the answer about id to be the very answer about an id that was never issued. */
static void expect_same_as_ghost(enum op op, enum role role, const Refex__Response *real,
                                 const char *id, const char *what)
{
	char ghost[ID_BUF];
	Refex__ServerMessage *g;

	ghost_of(id, ghost);
	g = ask_about(op, role, ghost, what);
	expect_same(real, id, g->response, ghost, what);
	refex__server_message__free_unpacked(g, NULL);
}

/* Check a referral as get and update show it: everything the parties shared. */
static void expect_full(const Refex__Referral *ref, const char *id, Refex__State state,
                        const char *what)
{
	cr_assert_not_null(ref, "%s: no referral in the answer", what);
	cr_expect_str_eq(ref->id, id, "%s", what);
	cr_expect_eq(ref->state, state, "%s: state %s, expected %s", what,
	             state_name[ref->state <= N_STATES ? ref->state : 0], state_name[state]);
	cr_expect_str_eq(ref->sender, role_agency[SENDER], "%s", what);
	cr_expect_str_eq(ref->recipient, role_agency[RECIPIENT], "%s", what);
	cr_expect(ref->client != NULL && strcmp(ref->client->given_name, "Matrix") == 0,
	          "%s: the client record is shown to a party", what);
	cr_expect(ref->consent != NULL && ref->has_form_data && ref->n_history >= 1,
	          "%s: consent, form data and history are shown to a party", what);
}

static void expect_other(enum op op, enum role role, const Refex__Response *r, const char *id,
                         const char *what)
{
	switch (op) {
	case OP_HELLO:
		cr_expect(r->body_case == REFEX__RESPONSE__BODY_HELLO &&
		              strcmp(r->hello->agency, role_agency[role]) == 0,
		          "%s: Hello names the agency in the certificate", what);
		break;
	case OP_SUBMIT:
		cr_expect(r->body_case == REFEX__RESPONSE__BODY_REFERRAL &&
		              r->referral->state == ST(SENT) &&
		              strcmp(r->referral->sender, role_agency[role]) == 0,
		          "%s: a new referral, sent by the submitter", what);
		break;
	case OP_FORMS:
		cr_expect(r->body_case == REFEX__RESPONSE__BODY_FORMS && r->forms->n_forms == 3,
		          "%s: the three agreed forms", what);
		break;
	case OP_AUDIT:
		cr_assert(r->body_case == REFEX__RESPONSE__BODY_AUDIT && r->audit->n_entries > 0,
		          "%s: the referral's audit entries", what);
		for (size_t i = 0; i < r->audit->n_entries; i++) {
			cr_expect_str_eq(r->audit->entries[i]->record, id, "%s: only its entries",
			                 what);
		}
		break;
	case OP_FORWARD:
		cr_expect(
		    r->body_case == REFEX__RESPONSE__BODY_REFERRAL &&
		        strcmp(r->referral->sender, role_agency[role]) == 0 &&
		        r->referral->parent_id != NULL && strcmp(r->referral->parent_id, id) == 0,
		    "%s: a new referral from the forwarder, its parent the one in hand", what);
		break;
	default:
		cr_expect(r->body_case == REFEX__RESPONSE__BODY_PARTNERS &&
		              r->partners->n_partners == 4,
		          "%s: the four partners", what);
		break;
	}
}

/* Check one answer to a get, update, hello, submit, forms or partners against its cell. */
static void check_answer(const struct row *row, const struct expect *e, const char *id,
                         const char *what)
{
	Refex__ServerMessage *m;
	Refex__Response *r;

	if (row->op == OP_GET || row->op == OP_AUDIT || row->op == OP_FORWARD ||
	    op_is_update(row->op)) {
		m = ask_about(row->op, row->role, id, what);
	} else if (row->op == OP_SUBMIT) {
		m = ask_submit(conn[row->role], what);
	} else {
		m = ask_plain(conn[row->role], row->op, what);
	}
	r = m->response;
	cr_expect_eq(r->status->code, e->code, "%s: status %d (%s), expected %d", what,
	             r->status->code, r->status->message ? r->status->message : "", e->code);
	if (e->show == SHOW_FULL) {
		expect_full(r->referral, id, e->state, what);
	} else if (e->show == SHOW_OTHER) {
		expect_other(row->op, row->role, r, id, what);
	} else if (e->show == SHOW_HIDDEN) {
		expect_same_as_ghost(row->op, row->role, r, id, what);
	} else {
		cr_expect_eq(r->body_case, REFEX__RESPONSE__BODY__NOT_SET,
		             "%s: a refusal carries no body", what);
	}
	refex__server_message__free_unpacked(m, NULL);
}

/* Page through role's inbox or sent list; return id's state there (0: not listed). Every entry
 * must belong to role, and carry only a summary. */
static Refex__State listed_state(enum op op, enum role role, const char *id, const char *what)
{
	const char *me = role_agency[role];
	char token[64] = "";
	Refex__State found = 0;

	do {
		Refex__ServerMessage *m = ask_list(conn[role], op, token[0] ? token : NULL, what);
		Refex__ReferralPage *p = m->response->page;

		cr_assert_eq(m->response->status->code, S(OK), "%s: %s", what,
		             m->response->status->message);
		cr_assert_not_null(p, "%s: no page", what);
		for (size_t i = 0; i < p->n_referrals; i++) {
			const Refex__Referral *ref = p->referrals[i];

			cr_expect_str_eq(op == OP_INBOX ? ref->recipient : ref->sender, me,
			                 "%s: lists referral %s of another agency", what, ref->id);
			cr_expect(ref->client == NULL && ref->consent == NULL &&
			              !ref->has_form_data && ref->n_history == 0,
			          "%s: a listing carries only the summary", what);
			if (strcmp(ref->id, id) == 0) {
				found = ref->state;
			}
		}
		snprintf(token, sizeof(token), "%s", p->next_page_token ? p->next_page_token : "");
		refex__server_message__free_unpacked(m, NULL);
	} while (token[0] != '\0');
	return found;
}

/* Say whether an event concerns agency, and fill id with the referral it is about. */
static bool event_concerns(const Refex__Event *ev, const char *agency, const char **id)
{
	const Refex__Referral *ref = ev->referral;

	*id = ref != NULL ? ref->id : ev->change != NULL ? ev->change->referral_id : "";
	return ref != NULL &&
	       (strcmp(ref->sender, agency) == 0 || strcmp(ref->recipient, agency) == 0);
}

/* Watch role's events from the first on a new connection; return id's state in the newest
 * event about it (0: none). Every event must concern role. */
static Refex__State watched_state(enum role role, const char *id, const char *what)
{
	struct raw *c = greeted(cert[role]);
	long long last = raw_watch(c, 0);
	Refex__State found = 0;
	uint64_t seq = 0;

	cr_assert_geq(last, 0, "%s: the watch was refused", what);
	while (seq < (uint64_t)last) {
		Refex__ServerMessage *m = raw_read_message(c, HARNESS_READ_TIMEOUT_MS);
		const char *about;

		cr_assert_not_null(m, "%s: the replay stopped at %llu of %lld", what,
		                   (unsigned long long)seq, last);
		if (m->body_case == REFEX__SERVER_MESSAGE__BODY_EVENT) {
			seq = m->event->seq;
			cr_expect(event_concerns(m->event, role_agency[role], &about),
			          "%s: event %llu about referral %s of other agencies", what,
			          (unsigned long long)seq, about);
			if (strcmp(about, id) == 0) {
				found = m->event->referral->state;
			}
		}
		refex__server_message__free_unpacked(m, NULL);
	}
	raw_free(c);
	return found;
}

/* Check a listing or watch cell: is the shared referral there, and in which state. */
static void check_visibility(const struct row *row, const struct expect *e, const char *id,
                             const char *what)
{
	Refex__State seen = row->op == OP_WATCH ? watched_state(row->role, id, what)
	                                        : listed_state(row->op, row->role, id, what);

	if (e->show == SHOW_LISTED) {
		cr_expect_eq(seen, e->state, "%s: shows it as %s, expected %s", what,
		             state_name[seen <= N_STATES ? seen : 0], state_name[e->state]);
	} else {
		cr_expect_eq(seen, 0, "%s: an outsider sees the referral (as %s)", what,
		             state_name[seen <= N_STATES ? seen : 0]);
	}
}

/* Say whether the cell changes the referral it asks about (then it gets a fresh one). */
static bool cell_changes(enum op op, const struct expect *e, Refex__State state)
{
	return (op == OP_GET || op_is_update(op)) && e->code == S(OK) && e->state != state;
}

/* Run every cell of the matrix; return how many ran. */
static int run_matrix(void)
{
	int cells = 0;

	for (size_t i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++) {
		const struct row *row = &matrix[i];

		for (int s = 1; s <= N_STATES; s++) {
			const struct expect *e = &row->cell[s - 1];
			char fresh[ID_BUF], what[160];
			const char *id = shared[s];

			snprintf(what, sizeof(what), "%s by the %s on a %s referral",
			         op_name[row->op], role_name[row->role], state_name[s]);
			if (cell_changes(row->op, e, (Refex__State)s)) {
				build((Refex__State)s, fresh);
				id = fresh;
			}
			if (row->op == OP_INBOX || row->op == OP_SENT || row->op == OP_WATCH) {
				check_visibility(row, e, id, what);
			} else {
				check_answer(row, e, id, what);
			}
			cells++;
		}
	}
	return cells;
}

/* Read what the outsider's live watch was sent, up to the answer to one more request; expect
 * nothing about other agencies' referrals. Returns how many events came. */
static int outsider_live_events(struct raw *c)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListForms lf = REFEX__LIST_FORMS__INIT;
	Refex__ServerMessage *m;
	int events = 0;

	req.has_id = 1;
	req.id = next_req++;
	req.body_case = REFEX__REQUEST__BODY_LIST_FORMS;
	req.list_forms = &lf;
	cr_assert_eq(raw_send_request(c, &req), 0);
	while ((m = raw_read_message(c, HARNESS_READ_TIMEOUT_MS)) != NULL) {
		const char *about;
		bool done = m->body_case == REFEX__SERVER_MESSAGE__BODY_RESPONSE &&
		            m->response->id == req.id;

		if (m->body_case == REFEX__SERVER_MESSAGE__BODY_EVENT) {
			events++;
			cr_expect(event_concerns(m->event, role_agency[OUTSIDER], &about),
			          "the outsider's live watch was told about referral %s", about);
		}
		refex__server_message__free_unpacked(m, NULL);
		if (done) {
			return events;
		}
	}
	cr_assert_fail("the outsider's watch connection stopped answering");
	return events;
}

Test(access, every_request_by_every_party_in_every_state)
{
	Refex__ServerMessage *m;
	struct raw *live;
	char ghost[ID_BUF];
	int cells;

	for (int r = 0; r < N_ROLES; r++) {
		conn[r] = greeted(cert[r]);
	}
	live = greeted(cert[OUTSIDER]);
	cr_assert_geq(raw_watch(live, -1), 0, "the outsider's live watch was refused");
	for (int s = 1; s <= N_STATES; s++) {
		build((Refex__State)s, shared[s]);
		ghost_of(shared[s], ghost);
		m = ask_get(conn[SENDER], ghost, "ghost");
		cr_assert_eq(m->response->status->code, S(NOT_FOUND), "the made-up id %s exists",
		             ghost);
		refex__server_message__free_unpacked(m, NULL);
	}
	cells = run_matrix();
	for (int s = 1; s <= N_STATES; s++) {
		m = ask_get(conn[SENDER], shared[s], "shared");
		expect_full(m->response->referral, shared[s], (Refex__State)s,
		            "no refused cell changed the referral");
		refex__server_message__free_unpacked(m, NULL);
	}
	cr_expect_gt(outsider_live_events(live), 0,
	             "the outsider's live watch saw its own submissions");
	raw_free(live);
	cr_log_info("access matrix: %d cells", cells);
	cr_expect_eq(cells, (int)(sizeof(matrix) / sizeof(matrix[0])) * N_STATES);
}

Test(access, an_outsider_repeating_a_partys_idempotency_key_learns_nothing)
{
	Refex__ServerMessage *m, *g;
	char id[ID_BUF], ghost[ID_BUF];
	struct raw_submit s;

	for (int r = 0; r < N_ROLES; r++) {
		conn[r] = greeted(cert[r]);
	}
	/* The same submission under the same key: the outsider's is its own new referral. */
	raw_submit_init(&s, 0, "Matrix");
	s.req.idempotency_key = "matrix-submit-1";
	m = call(conn[SENDER], &s.req, "submit with a key");
	cr_assert_eq(m->response->status->code, S(OK));
	snprintf(id, sizeof(id), "%s", m->response->referral->id);
	refex__server_message__free_unpacked(m, NULL);
	m = call(conn[OUTSIDER], &s.req, "the outsider's submit with the sender's key");
	cr_expect_eq(m->response->status->code, S(OK), "%s", m->response->status->message);
	cr_expect(m->response->referral != NULL && strcmp(m->response->referral->id, id) != 0 &&
	              strcmp(m->response->referral->sender, role_agency[OUTSIDER]) == 0,
	          "keys are per agency: the outsider gets a referral of its own, not the sender's");
	refex__server_message__free_unpacked(m, NULL);

	/* The sender's withdrawal repeated word for word, key and all, by the outsider. */
	expect_ok(ask_update(conn[SENDER], id, REFEX__ACTION__ACTION_WITHDRAW, "matrix-withdraw-1",
	                     "withdraw with a key"),
	          "withdraw with a key");
	ghost_of(id, ghost);
	m = ask_update(conn[OUTSIDER], id, REFEX__ACTION__ACTION_WITHDRAW, "matrix-withdraw-1",
	               "the outsider repeating the sender's withdrawal");
	g = ask_update(conn[OUTSIDER], ghost, REFEX__ACTION__ACTION_WITHDRAW, "matrix-withdraw-2",
	               "the outsider withdrawing an unknown id");
	cr_expect_eq(m->response->status->code, S(NOT_FOUND));
	expect_same(m->response, id, g->response, ghost,
	            "the outsider repeating the sender's withdrawal");
	refex__server_message__free_unpacked(m, NULL);
	refex__server_message__free_unpacked(g, NULL);
}

/* Say whether a new connection with prefix is refused in the TLS handshake: no answer at all. */
static bool refused_in_handshake(const char *prefix)
{
	struct raw *c = raw_connect(net, prefix, NULL);
	bool refused =
	    c == NULL || (raw_hello(c) != 0 && raw_wait_closed(c, HARNESS_READ_TIMEOUT_MS));

	raw_free(c);
	return refused;
}

/*
 * The rows that are not × every state, because the connection is refused outright:
 *   revoked holder, connected before the reload   -> connection closed on SIGHUP
 *   revoked holder, connecting after              -> TLS handshake refused (no answer at all)
 *   removed agency, connected before the reload   -> connection closed on SIGHUP
 *   removed agency, connecting after              -> FORBIDDEN "agency ... is not a partner
 *                                                    in this network" (id 0), then closed
 * The revoked holder belongs to the sending agency and the removed agency is a party to a
 * referral, so each had something to see.
 */
Test(access, a_revoked_holder_and_a_removed_agency_do_not_get_in)
{
	const char *revoked = net_issue(net, role_agency[SENDER], "Rex Revoked");
	const char *removed = net_issue(net, REMOVED_AGENCY, "Wes West");
	struct raw *rev_open = greeted(revoked), *rem_open = greeted(removed), *again;
	char *serial = net_serial_of(net, "Rex Revoked");
	Refex__ServerMessage *m;
	struct run_result r;
	struct raw_submit s;
	char theirs[ID_BUF];

	conn[RECIPIENT] = greeted(cert[RECIPIENT]);
	raw_submit_init(&s, 0, "Matrix");
	m = call(rem_open, &s.req, "the soon removed agency's submit");
	cr_assert_eq(m->response->status->code, S(OK), "%s", m->response->status->message);
	snprintf(theirs, sizeof(theirs), "%s", m->response->referral->id);
	refex__server_message__free_unpacked(m, NULL);

	cr_assert_eq(run_refex_ca(&r, "revoke", "--dir", net->ca_dir, "--serial", serial,
	                          "--reason", "affiliationChanged", NULL),
	             0, "%s", r.err);
	run_result_free(&r);
	cr_assert_eq(net_write_config(net, NET_DEFAULT_AGENCIES), 0);
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	cr_assert(net_log_wait(net, "msg=reloaded agencies=3"), "the reload was not applied");

	cr_expect(raw_wait_closed(rev_open, HARNESS_READ_TIMEOUT_MS),
	          "revoked holder, connected before: closed on reload");
	cr_expect(refused_in_handshake(revoked), "revoked holder, connecting after: refused");
	cr_expect(raw_wait_closed(rem_open, HARNESS_READ_TIMEOUT_MS),
	          "removed agency, connected before: closed on reload");

	cr_assert_not_null(again = raw_connect(net, removed, NULL));
	m = raw_read_message(again, HARNESS_READ_TIMEOUT_MS);
	cr_expect(m != NULL && m->body_case == REFEX__SERVER_MESSAGE__BODY_RESPONSE &&
	              m->response->status->code == S(FORBIDDEN) &&
	              strcmp(m->response->status->message,
	                     "agency \"" REMOVED_AGENCY "\" is not a partner in this network") == 0,
	          "removed agency, connecting after: FORBIDDEN, naming the agency");
	if (m != NULL) {
		refex__server_message__free_unpacked(m, NULL);
	}
	cr_expect(raw_hello(again) != 0 && raw_wait_closed(again, HARNESS_READ_TIMEOUT_MS),
	          "removed agency: nothing is answered, the connection is closed");
	raw_free(again);

	m = ask_get(conn[RECIPIENT], theirs, "the remaining party's referral");
	cr_expect_eq(m->response->status->code, S(OK),
	             "the recipient still sees the referral the removed agency sent");
	refex__server_message__free_unpacked(m, NULL);
	cr_expect(net_log_wait(net, "reason=\"the certificate has been revoked\""));
	cr_expect(
	    net_log_wait(net, "reason=\"agency not in the partnership\" agency=" REMOVED_AGENCY));
	raw_free(rev_open);
	raw_free(rem_open);
	free(serial);
}
