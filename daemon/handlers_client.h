/* What the client record and consent handlers share with the rest of the handlers. */
#ifndef REFEX_HANDLERS_CLIENT_H
#define REFEX_HANDLERS_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "client.pb-c.h"
#include "handlers_private.h"
#include "store_clients.h"

/* The stored client a submission shares: an existing one (version > 0) or a new one made from
 * the submission's client record (version 0). */
struct submit_client_ref {
	char id[STORE_ID_LEN + 1];
	uint32_t version;
};

/* Say whether id looks like a hub id: anything else is simply not found (nor logged). */
bool client_id_is_valid(const char *id);

/* Audit a read of client id by rq's holder (what: client-read, consent-read). */
void client_audit_read(struct request *rq, const char *id, const char *what);

/* The stored client a submission or a forward names, read with the rest of what it reads (off
 * the loop where reads cross a network), for submit_referral. */
struct submit_client_read {
	enum store_status status; /* the client's read (UNAVAILABLE until it is read) */
	Refex__StoredClient *c;
	bool owner; /* the caller's own client */
	enum store_status consents_status;
	Refex__ConsentRecord **items; /* the consents covering the recipient */
	size_t n;
};

/* Make scr ready to be read: nothing is read yet. */
void submit_client_read_init(struct submit_client_read *scr);

/* Read stored client id as agency me may see it into scr and, unless it is erased or to is
 * blank, its consents covering agency to (on the thread that runs a read's work). */
void submit_client_read(struct store *st, struct submit_client_read *scr, const char *id,
                        const char *me, const char *to);

/* Free what submit_client_read read. */
void submit_client_read_free(struct submit_client_read *scr);

struct client_read;

/* What a handler does with a client its caller may see, on the loop once it is read; cr is
 * released after it returns. */
typedef void (*client_read_then)(struct client_read *cr);

/* A stored client being read for an agency that may see it. */
struct client_read {
	struct request rq;
	char id[STORE_ID_LEN + 1];
	client_read_then then;
	Refex__StoredClient *c;
	bool owner; /* the caller's own client */
	bool consents;
	Refex__Request *msg; /* NULL, or a copy of the request for then (freed with cr) */
	enum store_status consents_status;
	Refex__ConsentRecord **items; /* the consents the caller may see, if asked */
	size_t n;
};

/* Read client id (and the consents the caller may see, if consents) off the loop where reads
 * cross a network; then runs if the caller may see it (with a copy of msg in cr->msg, unless
 * msg is NULL), otherwise rq gets NOT_FOUND (never a hint it exists) or UNAVAILABLE. */
void client_read_for_party(struct request *rq, const char *id, bool consents,
                           const Refex__Request *msg, client_read_then then);

/* Check a client record (stored, or inline in a submission); on a problem answer it (fields
 * under prefix) and return -1. */
int client_record_check(struct request *rq, const Refex__ClientRecord *c, const char *prefix);

/* Fill sub's client and consent from stored client sub->client_id as scr read it, checking the
 * caller owns it and may share it with sub->to; for an inline client, ref gets a new client id.
 * Forwarded from parent (else NULL): parent's stored client at the version it shared, if a
 * consent covers sub->to (sub->consent is then a new copy the caller frees); none for a parent
 * without one. On a refusal, answer it and return -1. */
int submit_client_resolve(struct request *rq, Refex__SubmitReferral *sub,
                          const Refex__Referral *parent, struct submit_client_read *scr,
                          struct submit_client_ref *ref);

/* Check that a live consent or other basis among those scr read covers sharing client id with
 * sub->to and put a copy of it in sub->consent; otherwise answer FORBIDDEN (field "consent",
 * naming owner, the agency that can record one, unless NULL: the caller) and return -1. */
int submit_consent_resolve(struct request *rq, Refex__SubmitReferral *sub,
                           const struct submit_client_read *scr, const char *id, const char *owner);

/* Before a referral is shown (store_get filled its stored-client fields): a read of a referral
 * with a stored client is audited as a read of that client too. */
void referral_client_annotate(struct request *rq, Refex__Referral *ref);

void handle_add_client(struct request *rq, Refex__Request *msg);
void handle_update_client(struct request *rq, Refex__Request *msg);
void handle_get_client(struct request *rq, Refex__Request *msg);
void handle_list_clients(struct request *rq, Refex__Request *msg);
void handle_erase_client(struct request *rq, Refex__Request *msg);
void handle_add_consent(struct request *rq, Refex__Request *msg);
void handle_list_consents(struct request *rq, Refex__Request *msg);
void handle_withdraw_consent(struct request *rq, Refex__Request *msg);

/* Show the caller its part of a client's audit trail (GetAudit with client_id). */
void handle_client_audit(struct request *rq, Refex__Request *msg);

#endif
