/*
 * Client records: add, update, show, list and erase, and what a submission
 * needs of a stored client. The owner (the agency that recorded the client)
 * and the agencies it was referred to see it; anyone else is told NOT_FOUND.
 * Every read and change is audited against the client's id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handlers_client.h"

#include "log.h"
#include "page_cache.h"
#include "pbcheck.h"
#include "rules.h"

#define CLIENT_LIST_MAX         500 /* clients in one listing */
#define CLIENT_ACCESS_NEEDS_MAX 64  /* far more than any client has; bounds what is stored */
#define REASON_MAX              4096

/* A client write waiting for its commit, then for the read of the client it wrote. */
struct pending_client {
	struct request rq;
	char agency[IDENTITY_AGENCY_MAX + 1];
	char id[STORE_ID_LEN + 1];
	char dups[STORE_DUPS_MAX][STORE_ID_LEN + 1]; /* the possible duplicates the write found */
	size_t n_dups;
	Refex__StoredClient *c;
};

/* Say whether id looks like a hub id: anything else is simply not found (nor logged). */
bool client_id_is_valid(const char *id)
{
	return id != NULL && strlen(id) == STORE_ID_LEN &&
	       strspn(id, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") == STORE_ID_LEN;
}

/* Audit a read of client id by rq's holder (what = client-read, consent-read). */
void client_audit_read(struct request *rq, const char *id, const char *what)
{
	const struct identity *me = session_identity(rq->s);
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	if (store_audit_read(rq->hub->store,
	                     &(struct store_audit){.agency = me->agency,
	                                           .holder = me->holder,
	                                           .action = what,
	                                           .record = id,
	                                           .at_ms = (int64_t)now.tv_sec * 1000 +
	                                                    now.tv_nsec / 1000000}) < 0) {
		log_error("conn=%llu msg=\"audit entry not queued\" client=%s",
		          (unsigned long long)session_id(rq->s), id);
	}
}

/* Check id is a client id; otherwise answer rq NOT_FOUND and return -1. */
static int client_id_check(struct request *rq, const char *id)
{
	if (!client_id_is_valid(id)) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_NOT_FOUND, "id",
		            "no client has that id (ids are %d characters, e.g. from refex client "
		            "list)",
		            STORE_ID_LEN);
		return -1;
	}
	return 0;
}

/* Answer rq for client id, read with status st (not STORE_OK): NOT_FOUND or UNAVAILABLE. */
static void client_read_refused(struct request *rq, enum store_status st, const char *id)
{
	if (st == STORE_NOT_FOUND) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_NOT_FOUND, "id", "client %s not found",
		            id);
	} else {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "the client cannot be read right now; please try again");
	}
}

/* Make scr ready to be read: nothing is read yet. */
void submit_client_read_init(struct submit_client_read *scr)
{
	*scr = (struct submit_client_read){.status = STORE_UNAVAILABLE,
	                                   .consents_status = STORE_UNAVAILABLE};
}

/* Read stored client id as me may see it and, unless it is erased or to is blank, its consents
 * covering to. */
void submit_client_read(struct store *st, struct submit_client_read *scr, const char *id,
                        const char *me, const char *to)
{
	submit_client_read_free(scr); /* a read run again after a reconnection */
	if (!client_id_is_valid(id)) {
		scr->status = STORE_NOT_FOUND; /* answered as such on the loop */
		return;
	}
	scr->status = store_client_get(st, id, me, &scr->c, &scr->owner);
	if (scr->status == STORE_OK && !scr->c->has_erased_at && !is_blank(to)) {
		scr->consents_status = store_consent_list(st, id, to, false, &scr->items, &scr->n);
	}
}

/* Free what submit_client_read read. */
void submit_client_read_free(struct submit_client_read *scr)
{
	if (scr->consents_status == STORE_OK) {
		store_consent_list_free(scr->items, scr->n);
	}
	store_client_free(scr->c);
	submit_client_read_init(scr);
}

/* The client scr read for id if the caller may see it; otherwise answer NOT_FOUND (never a
 * hint) or UNAVAILABLE and return NULL. */
static Refex__StoredClient *client_read_result(struct request *rq, const char *id,
                                               const struct submit_client_read *scr)
{
	if (client_id_check(rq, id) < 0) {
		return NULL;
	}
	if (scr->status != STORE_OK) {
		client_read_refused(rq, scr->status, id);
		return NULL;
	}
	return scr->c;
}

/* Free what cr's read read, and make it ready to be read again. */
static void client_read_clear(struct client_read *cr)
{
	if (cr->consents_status == STORE_OK) {
		store_consent_list_free(cr->items, cr->n);
	}
	store_client_free(cr->c);
	cr->c = NULL;
	cr->items = NULL;
	cr->n = 0;
	cr->consents_status = STORE_UNAVAILABLE;
}

static enum store_status client_read_work(struct store *st, void *arg)
{
	struct client_read *cr = arg;
	const char *me = session_identity(cr->rq.s)->agency;
	enum store_status status;

	client_read_clear(cr); /* a read run again after a reconnection */
	status = store_client_get(st, cr->id, me, &cr->c, &cr->owner);

	if (status == STORE_OK && cr->consents) {
		cr->consents_status =
		    store_consent_list(st, cr->id, me, cr->owner, &cr->items, &cr->n);
	}
	return status;
}

static void client_read_done(enum store_status status, void *arg)
{
	struct client_read *cr = arg;

	/* A session closed meanwhile gets nothing, and its read is not audited. */
	if (session_is_open(cr->rq.s)) {
		if (status == STORE_OK) {
			snprintf(cr->rq.referral, sizeof(cr->rq.referral), "%s", cr->c->id);
			cr->then(cr);
		} else {
			client_read_refused(&cr->rq, status, cr->id);
		}
	}
	client_read_clear(cr);
	if (cr->msg != NULL) {
		refex__request__free_unpacked(cr->msg, NULL);
	}
	request_release(&cr->rq);
}

/* Read client id (and its consents the caller may see, if consents) off the loop where reads
 * cross a network, and run then if the caller may see it; otherwise answer NOT_FOUND or
 * UNAVAILABLE. */
void client_read_for_party(struct request *rq, const char *id, bool consents,
                           const Refex__Request *msg, client_read_then then)
{
	struct client_read *cr;

	if (client_id_check(rq, id) < 0 || (cr = request_keep_for_read(rq, sizeof(*cr))) == NULL) {
		return;
	}
	if (msg != NULL && (cr->msg = request_copy(msg)) == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL, "out of memory");
		request_release(&cr->rq);
		return;
	}
	snprintf(cr->id, sizeof(cr->id), "%s", id);
	cr->consents = consents;
	cr->consents_status = STORE_UNAVAILABLE;
	cr->then = then;
	store_read_async(rq->hub->store, client_read_work, client_read_done, cr);
}

/* Check a client record (a stored client's, or one sent inline with a submission) against its
 * rules (proto/rules_client.c); on a problem answer it (fields under prefix) and return -1. */
int client_record_check(struct request *rq, const Refex__ClientRecord *c, const char *prefix)
{
	struct pbcheck_result res;
	char field[sizeof(res.path) + 64];

	if (c == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, prefix,
		            "a client record is required");
		return -1;
	}
	if (c->n_access_needs > CLIENT_ACCESS_NEEDS_MAX) {
		snprintf(field, sizeof(field), "%s.accessNeeds", prefix);
		reply_error(rq, REFEX__STATUS_CODE__STATUS_TOO_LARGE, field,
		            "at most %d access needs, not %zu", CLIENT_ACCESS_NEEDS_MAX,
		            c->n_access_needs);
		return -1;
	}
	if (pbcheck_values(&c->base, rules_client_record, NULL, (int64_t)time(NULL), &res) !=
	    PBCHECK_OK) {
		snprintf(field, sizeof(field), "%s.%s", prefix, res.path);
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, field, "%s: %s", field,
		            res.message);
		return -1;
	}
	return 0;
}

/* Answer rq with client c (borrowed). */
static void reply_client(struct request *rq, Refex__StoredClient *c)
{
	Refex__Response r = REFEX__RESPONSE__INIT;

	r.body_case = REFEX__RESPONSE__BODY_CLIENT;
	r.client = c;
	reply(rq, &r);
}

static void reply_write_failed(struct request *rq, enum store_status status, const char *id)
{
	if (status == STORE_NOT_FOUND) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_NOT_FOUND, "id", "client %s not found",
		            id);
	} else if (status == STORE_CONFLICT) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_CONFLICT, "id",
		            "client %s was erased; it cannot change", id);
	} else {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "the change could not be stored; please try again");
	}
}

static enum store_status client_reread(struct store *st, void *arg)
{
	struct pending_client *p = arg;
	bool owner;

	return store_client_get(st, p->id, p->agency, &p->c, &owner);
}

/* Answer with the client as read after its write, with the possible duplicates it found. */
static void client_reread_done(enum store_status status, void *arg)
{
	struct pending_client *p = arg;
	char *dups[STORE_DUPS_MAX];

	if (status != STORE_OK) {
		reply_error(&p->rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "the change was saved (client %s), but it cannot be read right now",
		            p->id);
	} else {
		for (size_t i = 0; i < p->n_dups; i++) {
			dups[i] = p->dups[i];
		}
		p->c->n_possible_duplicates = p->n_dups;
		p->c->possible_duplicates = p->n_dups ? dups : NULL;
		reply_client(&p->rq, p->c);
		p->c->n_possible_duplicates = 0;
		p->c->possible_duplicates = NULL;
	}
	store_client_free(p->c);
	request_release(&p->rq);
}

static void client_written(enum store_status status, const struct store_client_out *out, void *arg)
{
	struct pending_client *p = arg;

	if (status != STORE_OK) {
		reply_write_failed(&p->rq, status, out->id);
		request_release(&p->rq);
		return;
	}
	/* Listings hold client names: those of every holder are stale now. */
	page_cache_bump(p->rq.hub->pages, p->agency);
	for (size_t i = 0; i < out->n_holders; i++) {
		page_cache_bump(p->rq.hub->pages, out->holders[i]);
	}
	if (out->n_holders == STORE_HOLDERS_MAX) { /* perhaps more than were named */
		page_cache_bump_all(p->rq.hub->pages);
	}
	snprintf(p->id, sizeof(p->id), "%s", out->id);
	p->n_dups = out->n_dups < STORE_DUPS_MAX ? out->n_dups : STORE_DUPS_MAX;
	memcpy(p->dups, out->dups, sizeof(p->dups));
	store_read_async(p->rq.hub->store, client_reread, client_reread_done, p);
}

/* Queue w, answering rq with the client once it has committed. */
static void client_queue(struct request *rq, struct store_client_write *w)
{
	const struct identity *me = session_identity(rq->s);
	struct pending_client *p = (struct pending_client *)request_keep(rq, sizeof(*p));

	w->agency = me->agency;
	w->holder = me->holder;
	w->at = (int64_t)time(NULL);
	if (p != NULL) {
		snprintf(p->agency, sizeof(p->agency), "%s", me->agency);
		if (store_client_write(rq->hub->store, w, client_written, p) == 0) {
			return;
		}
		request_release(&p->rq);
	}
	reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
	            "the server cannot store changes right now; please try again");
}

/* Queue an add (id NULL: a new id) or update of record. */
static void record_queue(struct request *rq, enum store_client_op_kind kind, const char *id,
                         const Refex__ClientRecord *record)
{
	struct store_client_write w = {.kind = kind};
	char new_id[STORE_ID_LEN + 1], key[STORE_DUP_KEY_MAX], name[512];
	uint8_t *packed = malloc(refex__client_record__get_packed_size(record) + 1);

	if (packed == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL, "out of memory");
		return;
	}
	if (id == NULL) {
		store_new_id(new_id);
		id = new_id;
	}
	snprintf(rq->referral, sizeof(rq->referral), "%s", id);
	store_client_dup_key(record, key, sizeof(key));
	snprintf(name, sizeof(name), "%s %s", record->given_name, record->family_name);
	w.id = id;
	w.record = packed;
	w.record_len = refex__client_record__pack(record, packed);
	w.name = name;
	w.dup_key = key;
	client_queue(rq, &w);
	free(packed);
}

/* Store a new client record for the caller's agency. */
void handle_add_client(struct request *rq, Refex__Request *msg)
{
	if (client_record_check(rq, msg->add_client->record, "record") == 0) {
		record_queue(rq, SC_ADD, NULL, msg->add_client->record);
	}
}

/* Store the new version cr's request gives of the client read, if it is the caller's. */
static void update_client_then(struct client_read *cr)
{
	Refex__UpdateClient *u = cr->msg->update_client;

	if (!cr->owner) {
		reply_error(&cr->rq, REFEX__STATUS_CODE__STATUS_FORBIDDEN, "id",
		            "only the agency that recorded client %s can change it", u->id);
	} else if (client_record_check(&cr->rq, u->record, "record") == 0) {
		record_queue(&cr->rq, SC_UPDATE, u->id, u->record);
	}
}

/* Store a new version of one of the caller's clients. */
void handle_update_client(struct request *rq, Refex__Request *msg)
{
	client_read_for_party(rq, msg->update_client->id, false, msg, update_client_then);
}

/* Show the client read to the caller. */
static void get_client_then(struct client_read *cr)
{
	client_audit_read(&cr->rq, cr->c->id, "client-read");
	reply_client(&cr->rq, cr->c);
}

/* Show a client to its owner or an agency it was referred to. */
void handle_get_client(struct request *rq, Refex__Request *msg)
{
	client_read_for_party(rq, msg->get_client->id, false, NULL, get_client_then);
}

/* A client listing being read. */
struct pending_clients {
	struct request rq;
	char search[257]; /* "": all */
	Refex__StoredClient **items;
	size_t n;
};

static enum store_status clients_read(struct store *st, void *arg)
{
	struct pending_clients *pc = arg;

	return store_client_list(st, session_identity(pc->rq.s)->agency,
	                         pc->search[0] ? pc->search : NULL, CLIENT_LIST_MAX, &pc->items,
	                         &pc->n);
}

static void clients_done(enum store_status status, void *arg)
{
	struct pending_clients *pc = arg;
	Refex__Response r = REFEX__RESPONSE__INIT;
	Refex__ClientList list = REFEX__CLIENT_LIST__INIT;

	if (status != STORE_OK) {
		reply_error(&pc->rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "the clients cannot be read right now; please try again");
	} else {
		list.n_clients = pc->n;
		list.clients = pc->items;
		r.body_case = REFEX__RESPONSE__BODY_CLIENTS;
		r.clients = &list;
		reply(&pc->rq, &r);
		store_client_list_free(pc->items, pc->n);
	}
	request_release(&pc->rq);
}

/* List the caller's clients and those referred to it. */
void handle_list_clients(struct request *rq, Refex__Request *msg)
{
	const char *search = msg->list_clients->search;
	struct pending_clients *pc;

	if (search != NULL && (search[0] == '\0' || strlen(search) > 256)) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "search",
		            "a search is 1-256 bytes of a name");
		return;
	}
	if ((pc = request_keep_for_read(rq, sizeof(*pc))) != NULL) {
		snprintf(pc->search, sizeof(pc->search), "%s", search ? search : "");
		store_read_async(rq->hub->store, clients_read, clients_done, pc);
	}
}

/* Erase the client read, if it is the caller's and not erased yet. */
static void erase_client_then(struct client_read *cr)
{
	Refex__StoredClient *c = cr->c;

	if (!cr->owner) {
		reply_error(&cr->rq, REFEX__STATUS_CODE__STATUS_FORBIDDEN, "id",
		            "only the agency that recorded client %s can erase it", c->id);
	} else if (c->has_erased_at) {
		reply_error(&cr->rq, REFEX__STATUS_CODE__STATUS_CONFLICT, "id",
		            "client %s was already erased", c->id);
	} else {
		client_queue(&cr->rq,
		             &(struct store_client_write){.kind = SC_ERASE,
		                                          .id = c->id,
		                                          .reason = cr->msg->erase_client->reason});
	}
}

/* Erase one of the caller's clients and its copies in every referral. */
void handle_erase_client(struct request *rq, Refex__Request *msg)
{
	Refex__EraseClient *e = msg->erase_client;

	if (is_blank(e->reason) || strlen(e->reason) > REASON_MAX) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "reason",
		            "say why the record is erased (up to %d bytes)", REASON_MAX);
		return;
	}
	client_read_for_party(rq, e->id, false, msg, erase_client_then);
}

/* Resolve the client of a referral forwarded from parent: its stored client, the version parent
 * shared, still owned by the agency that recorded it, and only if a live consent or other basis
 * its owner recorded covers sub->to. A parent without a stored client (made before clients were
 * stored) passes its inline client on under the forwarder's consent, as a copy of no stored
 * client. */
static int forward_client_resolve(struct request *rq, Refex__SubmitReferral *sub,
                                  const Refex__Referral *parent, struct submit_client_read *scr,
                                  struct submit_client_ref *ref)
{
	Refex__StoredClient *c;

	ref->id[0] = '\0';
	ref->version = 0;
	if (parent->client_id == NULL) {
		return 0;
	}
	if (sub->consent != NULL) {
		reply_error(
		    rq, REFEX__STATUS_CODE__STATUS_INVALID, "consent",
		    "referral %s shares stored client %s: the consents its owner recorded "
		    "decide whom it may go to (refex consent list %s); forward it without a "
		    "consent of your own",
		    parent->id, parent->client_id, parent->client_id);
		return -1;
	}
	if ((c = client_read_result(rq, parent->client_id, scr)) == NULL) {
		return -1;
	}
	if (c->has_erased_at) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_CONFLICT, "referral_id",
		            "client %s was erased", c->id);
		return -1;
	}
	if (submit_consent_resolve(rq, sub, scr, c->id, scr->owner ? NULL : c->owner) < 0) {
		return -1;
	}
	snprintf(ref->id, sizeof(ref->id), "%s", c->id);
	ref->version = parent->client_version;
	return 0;
}

/* Fill sub's client (and consent) from stored client sub->client_id for sharing with sub->to,
 * and ref with its id and version; for an inline client, ref gets a new id (version 0). On a
 * refusal, answer it and return -1. */
int submit_client_resolve(struct request *rq, Refex__SubmitReferral *sub,
                          const Refex__Referral *parent, struct submit_client_read *scr,
                          struct submit_client_ref *ref)
{
	Refex__StoredClient *c;

	if (parent != NULL) {
		return forward_client_resolve(rq, sub, parent, scr, ref);
	}
	if (sub->client_id == NULL) {
		if (sub->consent != NULL &&
		    sub->consent->method == REFEX__CONSENT_METHOD__CONSENT_OTHER_BASIS) {
			reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "consent.method",
			            "record another lawful basis with refex consent add --basis");
			return -1;
		}
		store_new_id(ref->id);
		ref->version = 0;
		return 0;
	}
	if (sub->client != NULL || sub->consent != NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "client_id",
		            "give either a stored client (client_id) or a client record with its "
		            "consent, not both");
		return -1;
	}
	if ((c = client_read_result(rq, sub->client_id, scr)) == NULL) {
		return -1;
	}
	if (!scr->owner) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_FORBIDDEN, "client_id",
		            "only the agency that recorded client %s can refer it this way; "
		            "forward the referral instead",
		            c->id);
	} else if (c->has_erased_at || c->record == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_CONFLICT, "client_id",
		            "client %s was erased", c->id);
	} else if (submit_consent_resolve(rq, sub, scr, c->id, NULL) == 0) {
		snprintf(ref->id, sizeof(ref->id), "%s", c->id);
		ref->version = c->version;
		sub->client = c->record; /* freed with the request from now on */
		c->record = NULL;
		return 0;
	}
	return -1;
}
