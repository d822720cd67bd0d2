/* Reading and changing one referral: show (the recipient's first read is its receipt) and update.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handlers_client.h"
#include "handlers_private.h"

#include "lifecycle.h"
#include "log.h"

#define REASON_MAX 4096

/* A state change waiting for its commit. */
struct pending_change {
	struct request rq;
	enum lifecycle_event ev;
	char sender[IDENTITY_AGENCY_MAX + 1];
	char recipient[IDENTITY_AGENCY_MAX + 1];
	char origin[IDENTITY_AGENCY_MAX + 1]; /* the sender of its parent ("": none) */
	bool keyed;                           /* the request has an idempotency key: */
	char key[STORE_KEY_MAX + 1];
	uint8_t digest[STORE_DIGEST_LEN];
	enum store_status idem_status; /* its look-up's (STORE_NOT_FOUND: not used before) */
	char first[STORE_ID_LEN + 1];  /* the referral its first use wrote */
};

/* Check id is a referral id and name it in rq (for the log); otherwise answer rq, return -1. */
static int referral_id_check(struct request *rq, const char *id)
{
	if (is_blank(id)) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "id",
		            "a referral id is required");
		return -1;
	}
	/* Only a well-formed id is looked up or logged: anything else (a name typed by mistake,
	 * text meant to forge log lines) is simply not found. */
	if (strlen(id) != STORE_ID_LEN ||
	    strspn(id, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") != STORE_ID_LEN) {
		reply_error(
		    rq, REFEX__STATUS_CODE__STATUS_NOT_FOUND, "id",
		    "no referral has that id (ids are %d characters, e.g. from refex inbox)",
		    STORE_ID_LEN);
		return -1;
	}
	snprintf(rq->referral, sizeof(rq->referral), "%.*s", STORE_ID_LEN, id);
	return 0;
}

/* Say which party to ref (read with status st) rq's agency is; otherwise answer NOT_FOUND
 * (never a hint it exists) or UNAVAILABLE and return -1. */
static int referral_party(struct request *rq, enum store_status st, const Refex__Referral *ref,
                          enum party *who)
{
	const char *me = session_identity(rq->s)->agency;

	if (st == STORE_OK && strcmp(ref->recipient, me) == 0) {
		*who = PARTY_RECIPIENT;
		return 0;
	}
	if (st == STORE_OK && strcmp(ref->sender, me) == 0) {
		*who = PARTY_SENDER;
		return 0;
	}
	if (st == STORE_OK || st == STORE_NOT_FOUND) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_NOT_FOUND, "id", "referral %s not found",
		            rq->referral);
	} else {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "the referral cannot be read right now; please try again");
	}
	return -1;
}

/* Check id and keep rq in a zeroed allocation of size bytes (a struct starting with a struct
 * party_read) to read it; otherwise answer rq and return NULL. */
struct party_read *party_read_keep(struct request *rq, const char *id, size_t size)
{
	struct party_read *pr;

	if (referral_id_check(rq, id) < 0 || (pr = request_keep_for_read(rq, size)) == NULL) {
		return NULL;
	}
	request_key_keep(&pr->key, &(struct store_idem){0},
	                 false); /* none, unless party_read_key */
	return pr;
}

static enum store_status party_read_work(struct store *st, void *arg)
{
	struct party_read *pr = arg;
	enum store_status status;

	store_referral_free(pr->ref); /* a read run again after a reconnection */
	pr->ref = NULL;
	if (request_key_find(st, &pr->key, session_identity(pr->rq.s)->agency)) {
		return STORE_OK; /* answered from the key: the referral is not read */
	}
	status = store_get(st, pr->rq.referral, &pr->ref);
	if (status == STORE_OK && pr->more != NULL) {
		pr->more(st, pr);
	}

	/* A forwarded referral's state shows in the original sender's sent list. */
	if (status != STORE_OK || pr->ref->parent_id == NULL ||
	    store_sender_of(st, pr->ref->parent_id, pr->origin, sizeof(pr->origin)) != STORE_OK) {
		pr->origin[0] = '\0';
	}
	return status;
}

static void party_read_done(enum store_status status, void *arg)
{
	struct party_read *pr = arg;
	enum party who;

	/* A session closed meanwhile gets nothing, and its read is neither audited nor a receipt.
	 */
	if (session_is_open(pr->rq.s) &&
	    !(status == STORE_OK &&
	      request_repeat_reply(&pr->rq, pr->key.status, pr->key.first, pr->key.summary)) &&
	    referral_party(&pr->rq, status, pr->ref, &who) == 0) {
		pr->then(pr, pr->ref, who);
	}
	if (pr->fini != NULL) {
		pr->fini(pr);
	}
	store_referral_free(pr->ref);
	request_release(&pr->rq);
}

/* Look up idem (if it has a key) with pr's read: a repeat is answered (its summary if summary)
 * instead of running then. */
void party_read_key(struct party_read *pr, const struct store_idem *idem, bool summary)
{
	request_key_keep(&pr->key, idem, summary);
}

/* Read pr's referral (off the loop where reads cross a network) and, if the caller is a party
 * to it, run then; otherwise answer NOT_FOUND or UNAVAILABLE. */
void party_read_start(struct party_read *pr, party_read_then then)
{
	pr->then = then;
	store_read_async(pr->rq.hub->store, party_read_work, party_read_done, pr);
}

static void change_done(enum store_status status, const struct store_result *res, void *arg)
{
	struct pending_change *p = arg;
	struct request *rq = &p->rq;

	if (status == STORE_UNAVAILABLE && p->ev == LC_RECEIVE) {
		/* A read must work while the disk is full: show the referral as it stands, as when
		 * another read got there first; the next read records the receipt. */
		log_warnx("conn=%llu msg=\"receipt not stored\" referral=%s",
		          (unsigned long long)session_id(rq->s), rq->referral);
		status = STORE_CONFLICT;
	}
	if (status == STORE_OK) {
		/* Durable now, whatever happens to the reply: pages and watchers must know. */
		notify_parties(rq->hub, res, p->sender, p->recipient, p->origin);
	}
	if (status == STORE_KEY_REUSED) {
		reply_key_reused(rq);
	} else if (status == STORE_OK && res->repeat) {
		reply_first(rq, res->referral_id, false);
	} else if (status == STORE_CONFLICT && p->ev != LC_RECEIVE) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_CONFLICT, NULL,
		            "referral %s changed meanwhile; show it and try again", rq->referral);
	} else if (status != STORE_OK && status != STORE_CONFLICT) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "the change could not be stored; please try again");
	} else {
		reply_referral_read(rq, rq->referral, false, true,
		                    status == STORE_OK
		                        ? "the change was saved, but the referral cannot be "
		                          "read right now; show it to see it"
		                        : "the referral cannot be read right now; please try "
		                          "again");
	}
	request_release(rq);
}

/* Queue the change of ref by event ev, answering rq once it has committed. */
static void change_queue(struct request *rq, const Refex__Referral *ref, const char *origin,
                         enum lifecycle_event ev, Refex__State to, const char *reason,
                         const struct store_idem *idem)
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
	    .idem = *idem,
	};

	if (p != NULL) {
		p->ev = ev;
		snprintf(p->sender, sizeof(p->sender), "%s", ref->sender);
		snprintf(p->recipient, sizeof(p->recipient), "%s", ref->recipient);
		snprintf(p->origin, sizeof(p->origin), "%s", origin);
		if (store_change_state(rq->hub->store, &c, change_done, p) == 0) {
			return;
		}
		request_release(&p->rq);
	}
	reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
	            "the server cannot store changes right now; please try again");
}

/* Audit a full read of a referral (client, consent, form data) by rq's holder. */
static void audit_read(struct request *rq, const char *id)
{
	const struct identity *me = session_identity(rq->s);
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	if (store_audit_read(rq->hub->store,
	                     &(struct store_audit){.agency = me->agency,
	                                           .holder = me->holder,
	                                           .action = "read",
	                                           .record = id,
	                                           .at_ms = (int64_t)now.tv_sec * 1000 +
	                                                    now.tv_nsec / 1000000}) < 0) {
		/* The read is served all the same; the log says an entry is missing. */
		log_error("conn=%llu msg=\"audit entry not queued\" referral=%s",
		          (unsigned long long)session_id(rq->s), id);
	}
}

/* Show ref to a party; the recipient's first read marks it received. */
static void get_then(struct party_read *pr, Refex__Referral *ref, enum party who)
{
	Refex__State to;

	audit_read(&pr->rq, ref->id);
	/* The recipient's first fetch is the receipt the sender waits for. */
	if (lifecycle_apply(ref->state, LC_RECEIVE, who, &to) == LC_OK) {
		change_queue(&pr->rq, ref, pr->origin, LC_RECEIVE, to, NULL,
		             &(struct store_idem){0});
	} else {
		referral_client_annotate(&pr->rq, ref);
		reply_referral(&pr->rq, ref);
	}
}

/* Show a referral to a party; the recipient's first read marks it received. */
void handle_get(struct request *rq, Refex__Request *msg)
{
	struct party_read *pr = party_read_keep(rq, msg->get->id, sizeof(*pr));

	if (pr != NULL) {
		party_read_start(pr, get_then);
	}
}

/* An update waiting for the read of its referral. */
struct pending_update {
	struct party_read pr;
	enum lifecycle_event ev;
	char reason[REASON_MAX + 1]; /* "": none */
};

/* Apply pu's event to ref, or refuse it. */
static void update_then(struct party_read *pr, Refex__Referral *ref, enum party who)
{
	struct pending_update *pu = (struct pending_update *)pr;
	enum lifecycle_event ev = pu->ev;
	struct store_idem idem = request_key_idem(&pr->key);
	Refex__State to;

	switch (lifecycle_apply(ref->state, ev, who, &to)) {
	case LC_OK:
		change_queue(&pr->rq, ref, pr->origin, ev, to,
		             lifecycle_needs_reason(ev) ? pu->reason : NULL, &idem);
		break;
	case LC_FORBIDDEN:
		reply_error(&pr->rq, REFEX__STATUS_CODE__STATUS_FORBIDDEN, "action",
		            "only the %s can %s a referral",
		            ev == LC_WITHDRAW ? "sending agency" : "receiving agency",
		            lifecycle_event_name(ev));
		break;
	case LC_CONFLICT:
		reply_error(&pr->rq, REFEX__STATUS_CODE__STATUS_CONFLICT, "action",
		            "cannot %s referral %s: it is %s", lifecycle_event_name(ev), ref->id,
		            lifecycle_state_name(ref->state));
		break;
	}
}

/* Keep what update_then needs of u and idem beyond the request. */
static void update_keep(struct pending_update *pu, const Refex__UpdateStatus *u,
                        const struct store_idem *idem)
{
	snprintf(pu->reason, sizeof(pu->reason), "%s", u->reason != NULL ? u->reason : "");
	party_read_key(&pu->pr, idem, false);
}

/* Accept, decline, complete or withdraw a referral. */
void handle_update(struct request *rq, Refex__Request *msg)
{
	Refex__UpdateStatus *u = msg->update;
	enum lifecycle_event ev;
	const char *what;
	struct pending_update *pu;
	struct store_idem idem;
	uint8_t digest[STORE_DIGEST_LEN];

	if (!u->has_action || lifecycle_event_from_action(u->action, &ev) < 0) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "action",
		            "action must be accept, decline, complete or withdraw");
		return;
	}
	/* A completion's reason is its outcome: refex asks for it as --outcome. */
	what = ev == LC_COMPLETE ? "outcome" : "reason";
	if (lifecycle_needs_reason(ev) && is_blank(u->reason)) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, what,
		            "to %s a referral, give %s %s", lifecycle_event_name(ev),
		            ev == LC_COMPLETE ? "an" : "a", what);
		return;
	}
	if (u->reason != NULL && strlen(u->reason) > REASON_MAX) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_TOO_LARGE, what,
		            "the %s is longer than %d bytes", what, REASON_MAX);
		return;
	}
	/* The key is looked up with the referral's read, off the loop. */
	if (request_idem(rq, msg, &u->base, &idem, digest) < 0 ||
	    (pu = (struct pending_update *)party_read_keep(rq, u->id, sizeof(*pu))) == NULL) {
		return;
	}
	pu->ev = ev;
	update_keep(pu, u, &idem);
	party_read_start(&pu->pr, update_then);
}

#define AUDIT_MAX 10000 /* entries returned for one record */

/* An audit trail being read. */
struct pending_audit {
	struct request rq;
	const char *agency; /* the session's: it lives as long as rq holds it */
	Refex__AuditEntry **entries;
	size_t n;
};

static enum store_status audit_trail_read(struct store *st, void *arg)
{
	struct pending_audit *pa = arg;

	return store_audit_list(st, pa->rq.referral, AUDIT_MAX, &pa->entries, &pa->n);
}

/* Answer with the entries read (only the agency's own, if it is set). */
static void audit_done(enum store_status status, void *arg)
{
	struct pending_audit *pa = arg;
	Refex__Response r = REFEX__RESPONSE__INIT;
	Refex__AuditLog log = REFEX__AUDIT_LOG__INIT;
	Refex__AuditEntry **entries = pa->entries, *e;
	size_t kept = 0;

	if (status != STORE_OK) {
		reply_error(&pa->rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "the audit trail cannot be read right now; please try again");
		request_release(&pa->rq);
		return;
	}
	for (size_t i = 0; i < pa->n; i++) {
		if (pa->agency == NULL || strcmp(entries[i]->agency, pa->agency) == 0) {
			e = entries[kept]; /* swapped, not dropped: all n are freed below */
			entries[kept++] = entries[i];
			entries[i] = e;
		}
	}
	log.n_entries = kept;
	log.entries = entries;
	r.body_case = REFEX__RESPONSE__BODY_AUDIT;
	r.audit = &log;
	reply(&pa->rq, &r);
	store_audit_free(entries, pa->n);
	request_release(&pa->rq);
}

/* Answer with the audit trail of record rq->referral: every entry, or (agency not NULL) only
 * that agency's own. */
void reply_audit(struct request *rq, const char *agency)
{
	struct pending_audit *pa = request_keep_for_read(rq, sizeof(*pa));

	if (pa != NULL) {
		pa->agency = agency;
		store_read_async(rq->hub->store, audit_trail_read, audit_done, pa);
	}
}

/* Show a party the audit trail of ref. */
static void audit_then(struct party_read *pr, Refex__Referral *ref, enum party who)
{
	(void)ref;
	(void)who;
	reply_audit(&pr->rq, NULL);
}

/* Show a party the audit trail of one of its referrals. */
void handle_audit(struct request *rq, Refex__Request *msg)
{
	struct party_read *pr;

	if (msg->audit->client_id != NULL && msg->audit->referral_id == NULL) {
		handle_client_audit(rq, msg);
		return;
	}
	if ((pr = party_read_keep(rq, msg->audit->referral_id, sizeof(*pr))) != NULL) {
		party_read_start(pr, audit_then);
	}
}
