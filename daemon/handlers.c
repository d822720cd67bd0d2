/* Request handlers: one function per request type, registered in one table. */
#include "handlers.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.pb-c.h"
#include "form.h"
#include "lifecycle.h"
#include "log.h"

#define REFEXD_SERVER   "refexd/" REFEX_VERSION
#define REASON_MAX      4096
#define CLIENT_NAME_MAX 256

#ifndef REFEX_VERSION
#define REFEX_VERSION "0.1.0"
#endif

/* One request in flight: enough to answer it and log it, even after an asynchronous write. */
struct request {
	struct session *s;
	struct hub *hub;
	uint64_t id;
	const char *type;
	struct timespec start;
	char referral[STORE_ID_LEN + 1];
};

/* A state change waiting for its commit. */
struct pending_change {
	struct request rq;
	enum lifecycle_event ev;
	char notify[IDENTITY_AGENCY_MAX + 1]; /* the other party (an id: a reload may renumber) */
};

typedef void (*handler_fn)(struct request *rq, Refex__Request *msg);

static double request_ms(const struct request *rq)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - rq->start.tv_sec) * 1e3 +
	       (double)(now.tv_nsec - rq->start.tv_nsec) / 1e6;
}

static const char *status_name(Refex__StatusCode code)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(&refex__status_code__descriptor, (int)code);

	return v ? v->name + strlen("STATUS_") : "unknown";
}

static void request_log(const struct request *rq, Refex__StatusCode code)
{
	log_info("conn=%llu agency=%s req=%llu type=%s status=%s ms=%.3f referral=%s",
	         (unsigned long long)session_id(rq->s), session_identity(rq->s)->agency,
	         (unsigned long long)rq->id, rq->type, status_name(code), request_ms(rq),
	         rq->referral[0] ? rq->referral : "-");
}

/* Send resp (status OK unless it has one) for rq and log it. */
static void reply(struct request *rq, Refex__Response *resp)
{
	Refex__Status ok = REFEX__STATUS__INIT;

	resp->has_id = 1;
	resp->id = rq->id;
	if (resp->status == NULL) {
		ok.has_code = 1;
		ok.code = REFEX__STATUS_CODE__STATUS_OK;
		resp->status = &ok;
	}
	if (session_is_open(rq->s)) {
		session_send_response(rq->s, resp);
	}
	request_log(rq, resp->status->code);
}

static void reply_error(struct request *rq, Refex__StatusCode code, const char *field,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Refuse rq with a status code, the offending field (or NULL) and a message for people. */
static void reply_error(struct request *rq, Refex__StatusCode code, const char *field,
                        const char *fmt, ...)
{
	Refex__Response r = REFEX__RESPONSE__INIT;
	Refex__Status st = REFEX__STATUS__INIT;
	char message[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	st.has_code = 1;
	st.code = code;
	st.message = message;
	st.field = (char *)field;
	r.status = &st;
	reply(rq, &r);
}

static void reply_referral(struct request *rq, Refex__Referral *ref)
{
	Refex__Response r = REFEX__RESPONSE__INIT;

	r.body_case = REFEX__RESPONSE__BODY_REFERRAL;
	r.referral = ref;
	reply(rq, &r);
}

static struct request *request_keep(const struct request *rq, size_t size)
{
	struct request *kept = malloc(size);

	if (kept != NULL) {
		memset(kept, 0, size);
		*kept = *rq;
		session_ref(rq->s);
		session_request_begin(rq->s);
	}
	return kept;
}

static void request_release(struct request *rq)
{
	session_request_end(rq->s);
	session_unref(rq->s);
	free(rq);
}

static bool is_blank(const char *s)
{
	return s == NULL || s[strspn(s, " \t\r\n")] == '\0';
}

/* A referral's summary (no client, consent, form data or history), sharing ref's strings. */
static Refex__Referral referral_summary(const Refex__Referral *ref)
{
	Refex__Referral sum = *ref;

	sum.client = NULL;
	sum.consent = NULL;
	sum.has_form_data = 0;
	sum.form_data.len = 0;
	sum.form_data.data = NULL;
	sum.n_history = 0;
	sum.history = NULL;
	return sum;
}

/* Push a change to the agency's connections; looked up by id now, as a reload since the
 * request may have renumbered or removed it. */
static void notify(struct hub *hub, const char *agency, Refex__Referral *sum,
                   Refex__StatusChange *change)
{
	Refex__Event ev = REFEX__EVENT__INIT;

	ev.referral = sum;
	ev.change = change;
	session_notify_agency(hub, config_agency_index(hub->cfg, agency), &ev);
}

static void handle_hello(struct request *rq, Refex__Request *msg)
{
	const struct identity *who = session_identity(rq->s);
	const struct config *cfg = rq->hub->cfg;
	Refex__Response r = REFEX__RESPONSE__INIT;
	Refex__HelloReply hello = REFEX__HELLO_REPLY__INIT;
	Refex__Limits limits = REFEX__LIMITS__INIT;
	uint32_t version = msg->hello->protocol_version;

	if (!msg->hello->has_protocol_version) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "hello.protocol_version",
		            "protocol_version is required");
		return;
	}
	if (version != REFEX__PROTOCOL__PROTOCOL_VERSION) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNSUPPORTED, "hello.protocol_version",
		            "protocol version %u is not supported; this server speaks version %d",
		            version, REFEX__PROTOCOL__PROTOCOL_VERSION);
		return;
	}
	session_set_greeted(rq->s);
	hello.has_protocol_version = 1;
	hello.protocol_version = REFEX__PROTOCOL__PROTOCOL_VERSION;
	hello.agency = (char *)who->agency;
	hello.holder = (char *)who->holder;
	hello.agency_name = config_agency(cfg, who->agency)->name;
	hello.server = REFEXD_SERVER;
	limits.has_max_frame = limits.has_idle_timeout_s = limits.has_page_size_max = 1;
	limits.max_frame = cfg->limits.max_frame;
	limits.idle_timeout_s = cfg->limits.idle_timeout;
	limits.page_size_max = cfg->limits.max_page_size;
	hello.limits = &limits;
	r.body_case = REFEX__RESPONSE__BODY_HELLO;
	r.hello = &hello;
	reply(rq, &r);
}

/* Check a submission; on a problem, answer it and return -1. */
static int submit_check(struct request *rq, Refex__SubmitReferral *sub, const struct form **fp)
{
	const struct config *cfg = rq->hub->cfg;
	const char *me = session_identity(rq->s)->agency;
	const struct agency *to;
	const struct form *f;
	struct pbcheck_result res;
	char field[300];
	const Refex__StatusCode invalid = REFEX__STATUS_CODE__STATUS_INVALID;

	if (is_blank(sub->to)) {
		reply_error(rq, invalid, "to", "the recipient agency (to) is required");
		return -1;
	}
	if ((to = config_agency(cfg, sub->to)) == NULL) {
		reply_error(rq, invalid, "to", "\"%s\" is not a partner agency", sub->to);
		return -1;
	}
	if (strcmp(to->id, me) == 0) {
		reply_error(rq, invalid, "to", "an agency cannot refer to itself");
		return -1;
	}
	if (is_blank(sub->form) || (f = form_find(sub->form)) == NULL) {
		reply_error(rq, invalid, "form", "unknown form \"%s\"", sub->form ? sub->form : "");
		return -1;
	}
	if (!agency_accepts(to, f->name)) {
		reply_error(rq, invalid, "form", "%s does not accept %s referrals", to->id,
		            f->name);
		return -1;
	}
	if (sub->has_form_version && sub->form_version != f->version) {
		reply_error(rq, invalid, "form_version", "form %s is at version %u, not %u",
		            f->name, f->version, sub->form_version);
		return -1;
	}
	if (!sub->has_form_data) {
		reply_error(rq, invalid, "form_data", "the form data is required");
		return -1;
	}
	if (form_check(f, sub->form_data.data, sub->form_data.len, &res) < 0) {
		snprintf(field, sizeof(field), "form_data%s%s", res.path[0] ? "." : "", res.path);
		reply_error(rq, invalid, field, "%s: %s", field, res.message);
		return -1;
	}
	if (sub->client == NULL) {
		reply_error(rq, invalid, "client", "a client record is required");
		return -1;
	}
	if (is_blank(sub->client->given_name) || is_blank(sub->client->family_name)) {
		reply_error(rq, invalid,
		            is_blank(sub->client->given_name) ? "client.given_name"
		                                              : "client.family_name",
		            "the client's given and family names must not be empty");
		return -1;
	}
	if (sub->consent == NULL) {
		reply_error(rq, invalid, "consent",
		            "the client's consent to share their information with %s is required",
		            to->id);
		return -1;
	}
	if (strcmp(sub->consent->to_agency, to->id) != 0) {
		reply_error(rq, invalid, "consent.to_agency",
		            "the consent covers sharing with %s, not with %s",
		            sub->consent->to_agency, to->id);
		return -1;
	}
	if (is_blank(sub->consent->purpose)) {
		reply_error(rq, invalid, "consent.purpose", "the consent's purpose is required");
		return -1;
	}
	if (sub->consent->method == REFEX__CONSENT_METHOD__CONSENT_METHOD_UNSPECIFIED) {
		reply_error(rq, invalid, "consent.method", "how consent was given is required");
		return -1;
	}
	*fp = f;
	return 0;
}

/* A submission waiting for its commit. */
struct pending_submit {
	struct request rq;
	Refex__Referral sum;
	char sender[IDENTITY_AGENCY_MAX + 1];
	char holder[IDENTITY_HOLDER_MAX + 1];
	char recipient_id[IDENTITY_AGENCY_MAX + 1];
	char form[64];
	char client_name[CLIENT_NAME_MAX];
};

static void submit_done(enum store_status status, void *arg)
{
	struct pending_submit *p = arg;
	Refex__StatusChange change = REFEX__STATUS_CHANGE__INIT;

	if (status != STORE_OK) {
		log_error("conn=%llu msg=\"referral not stored\" referral=%s store_status=%d",
		          (unsigned long long)session_id(p->rq.s), p->rq.referral, (int)status);
		reply_error(&p->rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "the referral could not be stored; nothing was sent, please try again");
		request_release(&p->rq);
		return;
	}
	reply_referral(&p->rq, &p->sum);
	change.referral_id = p->sum.id;
	change.has_to = change.has_at = 1;
	change.to = REFEX__STATE__STATE_SENT;
	change.at = p->sum.created_at;
	change.agency = p->sum.sender;
	change.holder = p->sum.sender_holder;
	notify(p->rq.hub, p->recipient_id, &p->sum, &change);
	request_release(&p->rq);
}

static void submit_fill(struct pending_submit *p, const struct identity *who,
                        const Refex__SubmitReferral *sub, const struct form *f)
{
	Refex__Referral init = REFEX__REFERRAL__INIT;

	store_new_id(p->rq.referral);
	snprintf(p->sender, sizeof(p->sender), "%s", who->agency);
	snprintf(p->holder, sizeof(p->holder), "%s", who->holder);
	snprintf(p->recipient_id, sizeof(p->recipient_id), "%s", sub->to);
	snprintf(p->form, sizeof(p->form), "%s", f->name);
	snprintf(p->client_name, sizeof(p->client_name), "%s %s", sub->client->given_name,
	         sub->client->family_name);
	p->sum = init;
	p->sum.id = p->rq.referral;
	p->sum.sender = p->sender;
	p->sum.sender_holder = p->holder;
	p->sum.recipient = p->recipient_id;
	p->sum.form = p->form;
	p->sum.client_name = p->client_name;
	p->sum.has_form_version = p->sum.has_state = 1;
	p->sum.has_created_at = p->sum.has_updated_at = 1;
	p->sum.form_version = f->version;
	p->sum.state = REFEX__STATE__STATE_SENT;
	p->sum.created_at = p->sum.updated_at = (int64_t)time(NULL);
}

static void handle_submit(struct request *rq, Refex__Request *msg)
{
	Refex__SubmitReferral *sub = msg->submit;
	const struct identity *who = session_identity(rq->s);
	struct store_new_referral nr = {0};
	struct pending_submit *p;
	const struct form *f;
	uint8_t *client = NULL, *consent = NULL;

	if (submit_check(rq, sub, &f) < 0) {
		return;
	}
	/* The hub, not the client, says who recorded the consent and when. */
	/* Whatever the client put there is replaced, and freed here: the request's free below
	 * must not see our borrowed strings, nor lose the client's. */
	free(sub->consent->recorded_by);
	free(sub->consent->recorded_agency);
	sub->consent->recorded_by = (char *)who->holder;
	sub->consent->recorded_agency = (char *)who->agency;
	sub->consent->has_recorded_at = 1;
	sub->consent->recorded_at = (int64_t)time(NULL);
	p = (struct pending_submit *)request_keep(rq, sizeof(*p));
	client = malloc(refex__client_record__get_packed_size(sub->client) + 1);
	consent = malloc(refex__consent__get_packed_size(sub->consent) + 1);
	if (p == NULL || client == NULL || consent == NULL) {
		goto unavailable;
	}
	submit_fill(p, who, sub, f);
	nr = (struct store_new_referral){
	    .id = p->sum.id,
	    .sender = p->sender,
	    .sender_holder = p->holder,
	    .recipient = p->recipient_id,
	    .form = p->form,
	    .form_version = f->version,
	    .created_at = p->sum.created_at,
	    .client_name = p->client_name,
	    .client = client,
	    .client_len = refex__client_record__pack(sub->client, client),
	    .consent = consent,
	    .consent_len = refex__consent__pack(sub->consent, consent),
	    .form_data = sub->form_data.data,
	    .form_data_len = sub->form_data.len,
	};
	/* The store copies everything it needs before returning. */
	sub->consent->recorded_by = sub->consent->recorded_agency = NULL;
	if (store_insert(rq->hub->store, &nr, submit_done, p) < 0) {
		goto unavailable;
	}
	free(client);
	free(consent);
	return;
unavailable:
	sub->consent->recorded_by = sub->consent->recorded_agency = NULL;
	free(client);
	free(consent);
	reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
	            "the server cannot store referrals right now; please try again");
	if (p != NULL) {
		request_release(&p->rq);
	}
}

/* Read a referral the caller is a party to; answer NOT_FOUND otherwise (never a hint it exists). */
static Refex__Referral *referral_for_party(struct request *rq, const char *id, enum party *who)
{
	const char *me = session_identity(rq->s)->agency;
	Refex__Referral *ref = NULL;
	enum store_status st;
	if (is_blank(id)) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "id",
		            "a referral id is required");
		return NULL;
	}
	/* Only a well-formed id is looked up or logged: anything else (a name typed by mistake,
	 * text meant to forge log lines) is simply not found. */
	if (strlen(id) != STORE_ID_LEN ||
	    strspn(id, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") != STORE_ID_LEN) {
		reply_error(
		    rq, REFEX__STATUS_CODE__STATUS_NOT_FOUND, "id",
		    "no referral has that id (ids are %d characters, e.g. from refex inbox)",
		    STORE_ID_LEN);
		return NULL;
	}
	snprintf(rq->referral, sizeof(rq->referral), "%.*s", STORE_ID_LEN, id);
	st = store_get(rq->hub->store, id, &ref);
	if (st == STORE_OK && strcmp(ref->recipient, me) == 0) {
		*who = PARTY_RECIPIENT;
		return ref;
	}
	if (st == STORE_OK && strcmp(ref->sender, me) == 0) {
		*who = PARTY_SENDER;
		return ref;
	}
	store_referral_free(ref);
	if (st == STORE_OK || st == STORE_NOT_FOUND) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_NOT_FOUND, "id", "referral %s not found",
		            id);
	} else {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "the referral cannot be read right now; please try again");
	}
	return NULL;
}

static void change_done(enum store_status status, void *arg)
{
	struct pending_change *p = arg;
	struct request *rq = &p->rq;
	Refex__Referral *ref = NULL, sum;

	if (status == STORE_CONFLICT && p->ev != LC_RECEIVE) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_CONFLICT, NULL,
		            "referral %s changed meanwhile; show it and try again", rq->referral);
	} else if (status != STORE_OK && status != STORE_CONFLICT) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "the change could not be stored; please try again");
	} else if (store_get(rq->hub->store, rq->referral, &ref) != STORE_OK) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "the referral cannot be read right now; please try again");
	} else {
		reply_referral(rq, ref);
		if (status == STORE_OK && ref->n_history > 0) {
			sum = referral_summary(ref);
			notify(rq->hub, p->notify, &sum, ref->history[ref->n_history - 1]);
		}
	}
	store_referral_free(ref);
	request_release(rq);
}

/* Queue the change of ref by event ev, answering rq once it has committed. */
static void change_queue(struct request *rq, Refex__Referral *ref, enum lifecycle_event ev,
                         Refex__State to, enum party who, const char *reason)
{
	const struct identity *me = session_identity(rq->s);
	struct pending_change *p = (struct pending_change *)request_keep(rq, sizeof(*p));
	struct store_change c = {
	    .referral_id = ref->id,
	    .from = ref->state,
	    .to = to,
	    .agency = me->agency,
	    .holder = me->holder,
	    .at = (int64_t)time(NULL),
	    .reason = reason,
	};

	if (p != NULL) {
		p->ev = ev;
		snprintf(p->notify, sizeof(p->notify), "%s",
		         who == PARTY_SENDER ? ref->recipient : ref->sender);
		if (store_change_state(rq->hub->store, &c, change_done, p) == 0) {
			return;
		}
		request_release(&p->rq);
	}
	reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
	            "the server cannot store changes right now; please try again");
}

static void handle_get(struct request *rq, Refex__Request *msg)
{
	enum party who;
	Refex__State to;
	Refex__Referral *ref = referral_for_party(rq, msg->get->id, &who);

	if (ref == NULL) {
		return;
	}
	/* The recipient's first fetch is the receipt the sender waits for. */
	if (lifecycle_apply(ref->state, LC_RECEIVE, who, &to) == LC_OK) {
		change_queue(rq, ref, LC_RECEIVE, to, who, NULL);
	} else {
		reply_referral(rq, ref);
	}
	store_referral_free(ref);
}

static void handle_update(struct request *rq, Refex__Request *msg)
{
	Refex__UpdateStatus *u = msg->update;
	enum lifecycle_event ev;
	enum party who;
	Refex__State to;
	Refex__Referral *ref;

	if (!u->has_action || lifecycle_event_from_action(u->action, &ev) < 0) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "action",
		            "action must be accept, decline, complete or withdraw");
		return;
	}
	if (lifecycle_needs_reason(ev) && is_blank(u->reason)) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "reason",
		            "to %s a referral, give a %s", lifecycle_event_name(ev),
		            ev == LC_COMPLETE ? "outcome" : "reason");
		return;
	}
	if (u->reason != NULL && strlen(u->reason) > REASON_MAX) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_TOO_LARGE, "reason",
		            "the reason is longer than %d bytes", REASON_MAX);
		return;
	}
	if ((ref = referral_for_party(rq, u->id, &who)) == NULL) {
		return;
	}
	switch (lifecycle_apply(ref->state, ev, who, &to)) {
	case LC_OK:
		change_queue(rq, ref, ev, to, who, lifecycle_needs_reason(ev) ? u->reason : NULL);
		break;
	case LC_FORBIDDEN:
		reply_error(rq, REFEX__STATUS_CODE__STATUS_FORBIDDEN, "action",
		            "only the %s can %s a referral",
		            ev == LC_WITHDRAW ? "sending agency" : "receiving agency",
		            lifecycle_event_name(ev));
		break;
	case LC_CONFLICT:
		reply_error(rq, REFEX__STATUS_CODE__STATUS_CONFLICT, "action",
		            "cannot %s referral %s: it is %s", lifecycle_event_name(ev), ref->id,
		            lifecycle_state_name(ref->state));
		break;
	}
	store_referral_free(ref);
}

static void handle_list(struct request *rq, Refex__ListReferrals *l, enum store_box box)
{
	const struct limits *lim = &rq->hub->cfg->limits;
	Refex__Response r = REFEX__RESPONSE__INIT;
	Refex__ReferralPage page = REFEX__REFERRAL_PAGE__INIT;
	struct store_page sp = {0};
	struct store_query q = {
	    .box = box,
	    .agency = session_identity(rq->s)->agency,
	    .state = l->has_state ? l->state : REFEX__STATE__STATE_UNSPECIFIED,
	    .limit = l->has_limit && l->limit > 0 ? l->limit : lim->page_size,
	};
	char token[32], *end;

	if (q.limit > lim->max_page_size) {
		q.limit = lim->max_page_size;
	}
	if (!is_blank(l->page_token)) {
		q.before = strtoll(l->page_token, &end, 10);
		if (*end != '\0' || q.before <= 0) {
			reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "page_token",
			            "the page token is not one this server gave out");
			return;
		}
	}
	if (store_list(rq->hub->store, &q, &sp) != STORE_OK) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "referrals cannot be listed right now; please try again");
		return;
	}
	page.n_referrals = sp.n;
	page.referrals = sp.items;
	if (sp.next_before > 0) {
		snprintf(token, sizeof(token), "%lld", (long long)sp.next_before);
		page.next_page_token = token;
	}
	r.body_case = REFEX__RESPONSE__BODY_PAGE;
	r.page = &page;
	reply(rq, &r);
	store_page_free(&sp);
}

static void handle_list_inbox(struct request *rq, Refex__Request *msg)
{
	handle_list(rq, msg->list_inbox, STORE_INBOX);
}

static void handle_list_sent(struct request *rq, Refex__Request *msg)
{
	handle_list(rq, msg->list_sent, STORE_SENT);
}

static void handle_list_forms(struct request *rq, Refex__Request *msg)
{
	const struct config *cfg = rq->hub->cfg;
	size_t n = form_count();
	Refex__FormInfo *infos = calloc(n ? n : 1, sizeof(*infos));
	Refex__FormInfo **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	char **accepted = calloc(n * cfg->n_agencies + 1, sizeof(*accepted));
	Refex__FormList list = REFEX__FORM_LIST__INIT;
	Refex__Response r = REFEX__RESPONSE__INIT;
	size_t used = 0;

	(void)msg;
	if (infos == NULL || ptrs == NULL || accepted == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		const struct form *f = form_at(i);
		Refex__FormInfo init = REFEX__FORM_INFO__INIT;

		infos[i] = init;
		infos[i].name = (char *)f->name;
		infos[i].has_version = 1;
		infos[i].version = f->version;
		infos[i].title = (char *)f->title;
		infos[i].message_type = (char *)f->desc->name;
		infos[i].accepted_by = &accepted[used];
		for (size_t a = 0; a < cfg->n_agencies; a++) {
			if (agency_accepts(&cfg->agencies[a], f->name)) {
				accepted[used++] = cfg->agencies[a].id;
				infos[i].n_accepted_by++;
			}
		}
		ptrs[i] = &infos[i];
	}
	list.n_forms = n;
	list.forms = ptrs;
	r.body_case = REFEX__RESPONSE__BODY_FORMS;
	r.forms = &list;
	reply(rq, &r);
done:
	free(infos);
	free(ptrs);
	free(accepted);
}

static void handle_list_partners(struct request *rq, Refex__Request *msg)
{
	const struct config *cfg = rq->hub->cfg;
	size_t n = cfg->n_agencies;
	Refex__Partner *partners = calloc(n, sizeof(*partners));
	Refex__Partner **ptrs = calloc(n, sizeof(*ptrs));
	Refex__PartnerList list = REFEX__PARTNER_LIST__INIT;
	Refex__Response r = REFEX__RESPONSE__INIT;

	(void)msg;
	if (partners == NULL || ptrs == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		Refex__Partner init = REFEX__PARTNER__INIT;

		partners[i] = init;
		partners[i].id = cfg->agencies[i].id;
		partners[i].name = cfg->agencies[i].name;
		partners[i].n_forms = cfg->agencies[i].n_accepts;
		partners[i].forms = cfg->agencies[i].accepts;
		ptrs[i] = &partners[i];
	}
	list.n_partners = n;
	list.partners = ptrs;
	r.body_case = REFEX__RESPONSE__BODY_PARTNERS;
	r.partners = &list;
	reply(rq, &r);
done:
	free(partners);
	free(ptrs);
}

static const struct handler {
	Refex__Request__BodyCase body;
	const char *name;
	handler_fn fn;
} handlers[] = {
    {REFEX__REQUEST__BODY_HELLO, "hello", handle_hello},
    {REFEX__REQUEST__BODY_SUBMIT, "submit", handle_submit},
    {REFEX__REQUEST__BODY_LIST_INBOX, "list_inbox", handle_list_inbox},
    {REFEX__REQUEST__BODY_LIST_SENT, "list_sent", handle_list_sent},
    {REFEX__REQUEST__BODY_GET, "get", handle_get},
    {REFEX__REQUEST__BODY_UPDATE, "update", handle_update},
    {REFEX__REQUEST__BODY_LIST_FORMS, "list_forms", handle_list_forms},
    {REFEX__REQUEST__BODY_LIST_PARTNERS, "list_partners", handle_list_partners},
};

/* Handle one decoded request from s; takes ownership of req. */
void handlers_dispatch(struct session *s, Refex__Request *req)
{
	struct request rq = {.s = s, .hub = session_hub(s), .id = req->id, .type = "unknown"};
	const struct handler *h = NULL;

	clock_gettime(CLOCK_MONOTONIC, &rq.start);
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (handlers[i].body == req->body_case) {
			h = &handlers[i];
		}
	}
	if (h != NULL) {
		rq.type = h->name;
	}
	if (h == NULL) {
		reply_error(&rq, REFEX__STATUS_CODE__STATUS_UNSUPPORTED, NULL,
		            "unknown request type (this server speaks protocol version %d)",
		            REFEX__PROTOCOL__PROTOCOL_VERSION);
	} else if (!session_is_greeted(s) && h->fn != handle_hello) {
		reply_error(&rq, REFEX__STATUS_CODE__STATUS_INVALID, NULL,
		            "say Hello first: the first request on a connection must be Hello");
	} else {
		h->fn(&rq, req);
	}
	refex__request__free_unpacked(req, NULL);
}
