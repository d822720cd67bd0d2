/* Submitting a referral: checks, the write, the reply once it has committed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handlers_client.h"
#include "handlers_private.h"

#include "client.pb-c.h"
#include "date.h"
#include "form.h"
#include "log.h"
#include "pbcheck.h"
#include "pbstrip.h"

#define CLIENT_NAME_MAX 256

/* Say whether given_on (NULL: today) is a real date, and not in the future: a day ahead of
 * the hub's UTC day is still today somewhere. */
static bool consent_given_on_is_valid(const char *given_on)
{
	char tomorrow[DATE_LEN + 1];

	store_day((int64_t)time(NULL) + 24 * 60 * 60, tomorrow);
	return given_on == NULL || (date_is_valid(given_on) && strcmp(given_on, tomorrow) <= 0);
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
	if ((f = request_live_form(rq, sub->form, "form")) == NULL) {
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
		snprintf(field, sizeof(field), "formData%s%s", res.path[0] ? "." : "", res.path);
		reply_error(rq,
		            res.problem == PBCHECK_TOO_COMPLEX
		                ? REFEX__STATUS_CODE__STATUS_TOO_LARGE
		                : invalid,
		            field, "%s: %s", field, res.message);
		return -1;
	}
	if (client_record_check(rq, sub->client, "client") < 0) {
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
	if (!consent_given_on_is_valid(sub->consent->given_on)) {
		reply_error(rq, invalid, "consent.given_on",
		            "the day consent was given must be a date written YYYY-MM-DD, not in "
		            "the future");
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
	char parent[STORE_ID_LEN + 1];
	char origin[IDENTITY_AGENCY_MAX + 1]; /* the parent's sender ("": no parent) */
};

/* The reply to a stored submission: its summary, with the possible duplicates of the client
 * it stored (dups holds their ids while the reply is made). */
static Refex__Referral *submit_summary(struct pending_submit *p, const struct store_result *res,
                                       char *dups[STORE_DUPS_MAX])
{
	for (size_t i = 0; i < res->n_dups && i < STORE_DUPS_MAX; i++) {
		dups[i] = (char *)res->dups[i];
	}
	p->sum.n_possible_duplicates = res->n_dups < STORE_DUPS_MAX ? res->n_dups : STORE_DUPS_MAX;
	p->sum.possible_duplicates = p->sum.n_possible_duplicates ? dups : NULL;
	return &p->sum;
}

static void submit_done(enum store_status status, const struct store_result *res, void *arg)
{
	struct pending_submit *p = arg;
	char *dups[STORE_DUPS_MAX];

	if (status == STORE_KEY_REUSED) {
		reply_key_reused(&p->rq);
	} else if (status == STORE_OK && res->repeat) {
		reply_first(&p->rq, res->referral_id, true);
	} else if (status == STORE_REFUSED) {
		/* The client's consent was withdrawn between the check and the write. */
		reply_error(&p->rq, REFEX__STATUS_CODE__STATUS_FORBIDDEN, "consent",
		            "no live consent or other lawful basis covers sharing this client with "
		            "%s any more; nothing was sent",
		            p->recipient_id);
	} else if (status != STORE_OK) {
		log_error("conn=%llu msg=\"referral not stored\" referral=%s store_status=%d",
		          (unsigned long long)session_id(p->rq.s), p->rq.referral, (int)status);
		reply_error(&p->rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "the referral could not be stored; try again (a retry with the same "
		            "idempotency key is safe)");
	} else {
		reply_referral(&p->rq, submit_summary(p, res, dups));
		notify_parties(p->rq.hub, res, p->sender, p->recipient_id, p->origin);
	}
	request_release(&p->rq);
}

static void submit_fill(struct pending_submit *p, const struct config *cfg,
                        const struct identity *who, const Refex__SubmitReferral *sub,
                        const struct form *f)
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
	p->sum.has_overdue = 1;
	if ((p->sum.due_at = config_acknowledge_within(cfg, f->name)) > 0) {
		p->sum.has_due_at = 1;
		p->sum.due_at += p->sum.created_at;
	}
}

/* Pack m without unknown fields (never stored) into *out; returns 0 or -1. */
static int pack_known(const ProtobufCMessage *m, uint8_t **out, size_t *out_len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n + 1);
	int rc;

	if (buf == NULL) {
		return -1;
	}
	n = protobuf_c_message_pack(m, buf);
	rc = pbstrip_repack(m->descriptor, buf, n, out, out_len);
	free(buf);
	return rc;
}

/* A submission reading its idempotency key and the stored client it names. */
struct submit_read {
	struct request rq;
	Refex__Request *msg; /* a copy: the handler's is freed once it returns */
	struct request_key key;
	struct submit_client_read client;
};

static enum store_status submit_read_work(struct store *st, void *arg)
{
	struct submit_read *sr = arg;
	const char *me = session_identity(sr->rq.s)->agency;
	const Refex__SubmitReferral *sub = sr->msg->submit;

	if (!request_key_find(st, &sr->key, me) && sub->client_id != NULL) {
		submit_client_read(st, &sr->client, sub->client_id, me, sub->to);
	}
	return STORE_OK; /* each read's status is kept with what it read */
}

static void submit_read_done(enum store_status status, void *arg)
{
	struct submit_read *sr = arg;
	struct store_idem idem = request_key_idem(&sr->key);

	(void)status; /* not run: the reads' statuses are still UNAVAILABLE */
	/* A session closed meanwhile gets nothing, and nothing is stored for it. */
	if (session_is_open(sr->rq.s) &&
	    !request_repeat_reply(&sr->rq, sr->key.status, sr->key.first, sr->key.summary)) {
		submit_referral(&sr->rq, sr->msg->submit, &idem, NULL, &sr->client);
	}
	submit_client_read_free(&sr->client);
	refex__request__free_unpacked(sr->msg, NULL);
	request_release(&sr->rq);
}

/* Check and store a referral; answer once it is durable. Its idempotency key and the stored
 * client it names are read first, off the loop where reads cross a network. */
void handle_submit(struct request *rq, Refex__Request *msg)
{
	struct store_idem idem;
	uint8_t digest[STORE_DIGEST_LEN];
	struct submit_client_read none;
	struct submit_read *sr;

	if (request_idem(rq, msg, &msg->submit->base, &idem, digest) < 0) {
		return;
	}
	if (idem.key == NULL && msg->submit->client_id == NULL) {
		submit_client_read_init(&none); /* nothing to read */
		submit_referral(rq, msg->submit, &idem, NULL, &none);
		return;
	}
	if ((sr = request_keep_for_read(rq, sizeof(*sr))) == NULL) {
		return;
	}
	if ((sr->msg = request_copy(msg)) == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL, "out of memory");
		request_release(&sr->rq);
		return;
	}
	request_key_keep(&sr->key, &idem, true);
	submit_client_read_init(&sr->client);
	store_read_async(rq->hub->store, submit_read_work, submit_read_done, sr);
}

/* Check sub and store it as a new referral (forwarded from parent, or NULL); answers rq. */
void submit_referral(struct request *rq, Refex__SubmitReferral *sub, const struct store_idem *idem,
                     const Refex__Referral *parent, struct submit_client_read *scr)
{
	const struct identity *who = session_identity(rq->s);
	struct store_new_referral nr = {0};
	struct pending_submit *p = NULL;
	struct submit_client_ref cref;
	const struct form *f;
	uint8_t *client = NULL, *consent = NULL, *form = NULL;
	size_t client_len, consent_len, form_len;

	if (submit_client_resolve(rq, sub, parent, scr, &cref) < 0 ||
	    submit_check(rq, sub, &f) < 0) {
		return;
	}
	/* The hub, not the client, says who recorded the consent and when: the caller, unless it
	 * is a copy of a stored client's consent row (submit_client_resolve), which says itself.
	 * Whatever the client put there is replaced, and freed here: the request's free below
	 * must not see our borrowed strings, nor lose the client's. */
	if (cref.version == 0) {
		free(sub->consent->recorded_by);
		free(sub->consent->recorded_agency);
		sub->consent->recorded_by = (char *)who->holder;
		sub->consent->recorded_agency = (char *)who->agency;
		sub->consent->has_recorded_at = 1;
		sub->consent->recorded_at = (int64_t)time(NULL);
	}
	p = (struct pending_submit *)request_keep(rq, sizeof(*p));
	if (p == NULL || pack_known(&sub->client->base, &client, &client_len) < 0 ||
	    pack_known(&sub->consent->base, &consent, &consent_len) < 0 ||
	    pbstrip_repack(f->desc, sub->form_data.data, sub->form_data.len, &form, &form_len) <
	        0) {
		goto unavailable;
	}
	submit_fill(p, rq->hub->cfg, who, sub, f);
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
	    .client_len = client_len,
	    .consent = consent,
	    .consent_len = consent_len,
	    .form_data = form,
	    .form_data_len = form_len,
	    .due_at = p->sum.has_due_at ? p->sum.due_at : 0,
	    .idem = *idem,
	    .parent_id = parent ? parent->id : NULL,
	    .client_version = cref.version,
	};
	snprintf(nr.client_id, sizeof(nr.client_id), "%s", cref.id);
	if (cref.version == 0 && cref.id[0] != '\0') {
		store_new_id(nr.consent_id);
	}
	if (parent != NULL) {
		snprintf(p->parent, sizeof(p->parent), "%s", parent->id);
		snprintf(p->origin, sizeof(p->origin), "%s", parent->sender);
		p->sum.parent_id = p->parent;
	}
	/* The store copies everything it needs before returning. */
	if (cref.version == 0) {
		sub->consent->recorded_by = sub->consent->recorded_agency = NULL;
	}
	if (store_insert(rq->hub->store, &nr, submit_done, p) < 0) {
		goto unavailable;
	}
	free(client);
	free(consent);
	free(form);
	return;
unavailable:
	if (cref.version == 0) {
		sub->consent->recorded_by = sub->consent->recorded_agency = NULL;
	}
	free(client);
	free(consent);
	free(form);
	reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
	            "the server cannot store referrals right now; please try again");
	if (p != NULL) {
		request_release(&p->rq);
	}
}
