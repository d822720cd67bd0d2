/*
 * Consents and other lawful bases for sharing a stored client: recording,
 * listing and withdrawing them, the check a submission must pass, what a
 * referral's reader is told about its client, and a client's audit trail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handlers_client.h"

#include "date.h"
#include "log.h"
#include "pbenum.h"

#define TEXT_MAX 4096 /* purpose and reasons */

/* A consent write waiting for its commit, then for the read of its client's consents. */
struct pending_consent {
	struct request rq;
	char agency[IDENTITY_AGENCY_MAX + 1];
	char consent_id[STORE_ID_LEN + 1];
	char client_id[STORE_ID_LEN + 1];
	Refex__ConsentRecord **list;
	size_t n;
};

/* Write a lawful basis's name in words ("legal obligation") into buf (PBENUM_NAME_MAX). */
static const char *basis_name(Refex__LawfulBasis b, char *buf)
{
	const char *name =
	    b ? pbenum_name(&refex__lawful_basis__descriptor, (int)b, ' ', buf, PBENUM_NAME_MAX)
	      : NULL;

	return name ? name : "consent";
}

static enum store_status consent_reread(struct store *st, void *arg)
{
	struct pending_consent *p = arg;

	return store_consent_list(st, p->client_id, p->agency, true, &p->list, &p->n);
}

/* Answer with the consent written, as read back from the store. */
static void consent_reread_done(enum store_status status, void *arg)
{
	struct pending_consent *p = arg;
	Refex__Response r = REFEX__RESPONSE__INIT;
	size_t i;

	if (status != STORE_OK) {
		p->n = 0;
	}
	for (i = 0; i < p->n && strcmp(p->list[i]->id, p->consent_id) != 0; i++) {
	}
	if (i == p->n) {
		reply_error(&p->rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "the change was saved (consent %s), but it cannot be read right now",
		            p->consent_id);
	} else {
		r.body_case = REFEX__RESPONSE__BODY_CONSENT;
		r.consent = p->list[i];
		reply(&p->rq, &r);
	}
	store_consent_list_free(p->list, p->n);
	request_release(&p->rq);
}

static void consent_written(enum store_status status, const struct store_client_out *out, void *arg)
{
	struct pending_consent *p = arg;

	if (status == STORE_OK) {
		snprintf(p->client_id, sizeof(p->client_id), "%s", out->id);
		store_read_async(p->rq.hub->store, consent_reread, consent_reread_done, p);
		return;
	}
	if (status == STORE_NOT_FOUND) {
		reply_error(&p->rq, REFEX__STATUS_CODE__STATUS_NOT_FOUND, "id", "%s not found",
		            p->consent_id);
	} else if (status == STORE_CONFLICT) {
		reply_error(&p->rq, REFEX__STATUS_CODE__STATUS_CONFLICT, "id",
		            "consent %s was already withdrawn (or its client erased)",
		            p->consent_id);
	} else {
		reply_error(&p->rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "the change could not be stored; please try again");
	}
	request_release(&p->rq);
}

static void consent_queue(struct request *rq, struct store_client_write *w, const char *id)
{
	const struct identity *me = session_identity(rq->s);
	struct pending_consent *p = (struct pending_consent *)request_keep(rq, sizeof(*p));

	w->id = id;
	w->agency = me->agency;
	w->holder = me->holder;
	w->at = (int64_t)time(NULL);
	if (p != NULL) {
		snprintf(p->agency, sizeof(p->agency), "%s", me->agency);
		snprintf(p->consent_id, sizeof(p->consent_id), "%s", id);
		if (store_client_write(rq->hub->store, w, consent_written, p) == 0) {
			return;
		}
		request_release(&p->rq);
	}
	reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
	            "the server cannot store changes right now; please try again");
}

/* Check the whom, what and how of a consent or basis; answer a problem and return -1. */
static int consent_check(struct request *rq, const Refex__ConsentRecord *k, const char *owner)
{
	const Refex__StatusCode invalid = REFEX__STATUS_CODE__STATUS_INVALID;
	bool consent = !k->has_basis || k->basis == REFEX__LAWFUL_BASIS__BASIS_CONSENT;
	char today[11], basis[PBENUM_NAME_MAX];

	if ((k->to_agency != NULL) == (k->has_any_partner && k->any_partner)) {
		reply_error(rq, invalid, "to_agency",
		            "say whom it covers: one agency or any partner");
		return -1;
	}
	if (k->to_agency != NULL && (config_agency(rq->hub->cfg, k->to_agency) == NULL ||
	                             strcmp(k->to_agency, owner) == 0)) {
		reply_error(rq, invalid, "to_agency", "\"%s\" is not another partner agency",
		            k->to_agency);
		return -1;
	}
	if (k->has_basis && (k->basis < REFEX__LAWFUL_BASIS__BASIS_CONSENT ||
	                     k->basis > REFEX__LAWFUL_BASIS__BASIS_VITAL_INTERESTS)) {
		reply_error(rq, invalid, "basis", "unknown lawful basis");
		return -1;
	}
	if (consent && is_blank(k->purpose)) {
		reply_error(rq, invalid, "purpose", "say what the client agreed to share it for");
		return -1;
	}
	if (consent &&
	    (!k->has_method || k->method == REFEX__CONSENT_METHOD__CONSENT_METHOD_UNSPECIFIED ||
	     k->method == REFEX__CONSENT_METHOD__CONSENT_OTHER_BASIS)) {
		reply_error(rq, invalid, "method",
		            "say how consent was given: verbal, written or "
		            "digital");
		return -1;
	}
	if (!consent && k->has_method) {
		reply_error(rq, invalid, "method", "%s is not consent: give a reason, not a method",
		            basis_name(k->basis, basis));
		return -1;
	}
	if (!consent && is_blank(k->reason)) {
		reply_error(rq, invalid, "reason",
		            "sharing without consent (%s) needs a reason on record",
		            basis_name(k->basis, basis));
		return -1;
	}
	if ((k->purpose && strlen(k->purpose) > TEXT_MAX) ||
	    (k->reason && strlen(k->reason) > TEXT_MAX)) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_TOO_LARGE, NULL,
		            "the purpose and reason are at most %d bytes each", TEXT_MAX);
		return -1;
	}
	store_day((int64_t)time(NULL), today);
	if (k->expires != NULL && (!date_is_valid(k->expires) || strcmp(k->expires, today) < 0)) {
		reply_error(rq, invalid, "expires",
		            "expires must be a date written YYYY-MM-DD, today or later");
		return -1;
	}
	return 0;
}

/* Record the consent cr's request gives for the client read, if it is the caller's. */
static void add_consent_then(struct client_read *cr)
{
	Refex__ConsentRecord *k = cr->msg->add_consent;
	Refex__StoredClient *c = cr->c;
	char id[STORE_ID_LEN + 1];

	if (!cr->owner) {
		reply_error(&cr->rq, REFEX__STATUS_CODE__STATUS_FORBIDDEN, "client_id",
		            "only the agency that recorded client %s can record consent for it",
		            c->id);
	} else if (c->has_erased_at) {
		reply_error(&cr->rq, REFEX__STATUS_CODE__STATUS_CONFLICT, "client_id",
		            "client %s was erased", c->id);
	} else if (consent_check(&cr->rq, k, c->owner) == 0) {
		store_new_id(id);
		consent_queue(
		    &cr->rq,
		    &(struct store_client_write){
		        .kind = SC_CONSENT_ADD,
		        .client_id = c->id,
		        .to_agency = k->to_agency,
		        .basis = k->has_basis ? k->basis : REFEX__LAWFUL_BASIS__BASIS_CONSENT,
		        .method = k->has_method ? k->method
		                                : REFEX__CONSENT_METHOD__CONSENT_METHOD_UNSPECIFIED,
		        .purpose = k->purpose,
		        .reason = k->reason,
		        .expires = k->expires,
		    },
		    id);
	}
}

/* Record a consent or other lawful basis for one of the caller's clients. */
void handle_add_consent(struct request *rq, Refex__Request *msg)
{
	client_read_for_party(rq, msg->add_consent->client_id, false, msg, add_consent_then);
}

/* Answer with the consents read. */
static void list_consents_then(struct client_read *cr)
{
	Refex__Response r = REFEX__RESPONSE__INIT;
	Refex__ConsentList list = REFEX__CONSENT_LIST__INIT;

	if (cr->consents_status != STORE_OK) {
		reply_error(&cr->rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "the consents cannot be read right now; please try again");
		return;
	}
	client_audit_read(&cr->rq, cr->c->id, "consent-read");
	list.n_consents = cr->n;
	list.consents = cr->items;
	r.body_case = REFEX__RESPONSE__BODY_CONSENTS;
	r.consents = &list;
	reply(&cr->rq, &r);
}

/* List the consents of a client the caller may see (another agency: those covering it). */
void handle_list_consents(struct request *rq, Refex__Request *msg)
{
	client_read_for_party(rq, msg->list_consents->client_id, true, NULL, list_consents_then);
}

/* Withdraw a consent or basis of one of the caller's clients, at once. */
void handle_withdraw_consent(struct request *rq, Refex__Request *msg)
{
	Refex__WithdrawConsent *w = msg->withdraw_consent;

	if (!client_id_is_valid(w->id)) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_NOT_FOUND, "id",
		            "no consent has that id (see refex consent list)");
		return;
	}
	if (w->reason != NULL && strlen(w->reason) > TEXT_MAX) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_TOO_LARGE, "reason",
		            "the reason is longer than %d bytes", TEXT_MAX);
		return;
	}
	snprintf(rq->referral, sizeof(rq->referral), "%s", w->id);
	consent_queue(
	    rq,
	    &(struct store_client_write){.kind = SC_CONSENT_WITHDRAW,
	                                 .reason = is_blank(w->reason) ? NULL : w->reason},
	    w->id);
}

/* The live consent (else basis) among list that covers sharing today, or NULL. */
static const Refex__ConsentRecord *live_cover(Refex__ConsentRecord **list, size_t n)
{
	const Refex__ConsentRecord *best = NULL;
	char today[11];

	store_day((int64_t)time(NULL), today);
	for (size_t i = 0; i < n; i++) {
		const Refex__ConsentRecord *k = list[i];

		if (k->has_withdrawn_at || (k->expires && strcmp(k->expires, today) < 0)) {
			continue;
		}
		if (best == NULL || k->basis == REFEX__LAWFUL_BASIS__BASIS_CONSENT) {
			best = k;
		}
	}
	return best;
}

/* The referral's copy of what covered sharing: a Consent (the hub's words for another basis). */
static Refex__Consent *consent_copy(const Refex__ConsentRecord *k, const char *to)
{
	Refex__Consent *c = malloc(sizeof(*c));
	bool consent = k->basis == REFEX__LAWFUL_BASIS__BASIS_CONSENT;
	char basis[PBENUM_NAME_MAX];
	int rc;

	if (c == NULL) {
		return NULL;
	}
	refex__consent__init(c);
	c->method = consent ? k->method : REFEX__CONSENT_METHOD__CONSENT_OTHER_BASIS;
	c->to_agency = strdup(to);
	rc = consent ? ((c->purpose = strdup(k->purpose ? k->purpose : "")) ? 0 : -1)
	             : asprintf(&c->purpose, "%s: %s", basis_name(k->basis, basis), k->reason);
	if (rc < 0) {
		c->purpose = NULL;
	}
	/* Who recorded it is the consent row's, not the sharer's (a forwarder records none). */
	c->recorded_agency = strdup(k->recorded_agency ? k->recorded_agency : "");
	c->recorded_by = strdup(k->recorded_by ? k->recorded_by : "");
	c->has_recorded_at = k->has_recorded_at;
	c->recorded_at = k->recorded_at;
	if (c->to_agency == NULL || c->purpose == NULL || c->recorded_agency == NULL ||
	    c->recorded_by == NULL) {
		protobuf_c_message_free_unpacked(&c->base, NULL);
		return NULL;
	}
	return c;
}

/* Check that a live consent or other basis covers sharing client id with sub->to. */
int submit_consent_resolve(struct request *rq, Refex__SubmitReferral *sub,
                           const struct submit_client_read *scr, const char *id, const char *owner)
{
	const char *me = session_identity(rq->s)->agency;
	Refex__ConsentRecord **list = scr->items;
	const Refex__ConsentRecord *k;
	bool ok = false, withdrawn = false;
	size_t n = scr->n;

	if (is_blank(sub->to) || config_agency(rq->hub->cfg, sub->to) == NULL ||
	    strcmp(sub->to, me) == 0) {
		return 0; /* the submission's own check names the problem with `to` */
	}
	/* The consents covering sub->to (the callers have checked the client is not erased). */
	if (scr->consents_status != STORE_OK) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "the client's consents cannot be read right now; please try again");
		return -1;
	}
	k = live_cover(list, n);
	ok = k != NULL && (sub->consent = consent_copy(k, sub->to)) != NULL;
	for (size_t i = 0; i < n && k == NULL; i++) {
		withdrawn = withdrawn || list[i]->has_withdrawn_at;
	}
	if (k != NULL && !ok) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL, "out of memory");
		return -1;
	}
	if (!ok && owner != NULL) {
		/* A holder that is not the owner cannot record consent: say who can. */
		reply_error(rq, REFEX__STATUS_CODE__STATUS_FORBIDDEN, "consent",
		            "no live consent or other lawful basis covers sharing client %s with "
		            "%s%s: only its owner, %s, can record one (refex consent add %s %s%s)",
		            id, sub->to, withdrawn ? " (the client withdrew theirs)" : "", owner,
		            id, strcmp(sub->to, owner) == 0 ? "--any-partner" : "--to ",
		            strcmp(sub->to, owner) == 0 ? "" : sub->to);
		return -1;
	}
	if (!ok) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_FORBIDDEN, "consent",
		            withdrawn
		                ? "the client withdrew consent to share their record with %s; "
		                  "it cannot be shared unless they agree again (or another "
		                  "lawful basis is recorded)"
		                : "no live consent or other lawful basis covers sharing this "
		                  "client with %s: record one with refex consent add",
		            sub->to);
		return -1;
	}
	return 0;
}

/* Audit the read of a referral's stored client before it is shown (store_get has filled its
 * stored-client fields). */
void referral_client_annotate(struct request *rq, Refex__Referral *ref)
{
	if (ref->client_id != NULL && ref->client != NULL) {
		client_audit_read(rq, ref->client_id, "client-read");
	}
}

/* Show the caller its part of the audit trail of the client read. */
static void client_audit_then(struct client_read *cr)
{
	reply_audit(&cr->rq, cr->owner ? NULL : session_identity(cr->rq.s)->agency);
}

/* Show the caller its part of a client's audit trail: all of it to the owner; to an agency
 * the client was referred to, its own entries (others' would say whom else it was shared
 * with). */
void handle_client_audit(struct request *rq, Refex__Request *msg)
{
	client_read_for_party(rq, msg->audit->client_id, false, NULL, client_audit_then);
}
