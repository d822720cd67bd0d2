/* What the request handlers share: the request in flight, replies, the handler functions. */
#ifndef REFEX_HANDLERS_PRIVATE_H
#define REFEX_HANDLERS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hub.h"
#include "lifecycle.h"
#include "refex.pb-c.h"
#include "session.h"
#include "store.h"

/* One request in flight: enough to answer it and log it, even after an asynchronous write. */
struct request {
	struct session *s;
	struct hub *hub;
	uint64_t id;
	const char *type;
	struct timespec start;
	char referral[STORE_ID_LEN + 1];
};

/* Send resp (status OK unless it has one) for rq and log it. */
void reply(struct request *rq, Refex__Response *resp);

/* Refuse rq with a status code, the offending field (or NULL) and a message for people. */
void reply_error(struct request *rq, Refex__StatusCode code, const char *field, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));

/* Answer rq with status OK and tail, the packed bytes of a Response holding only its body. */
void reply_tail(struct request *rq, const uint8_t *tail, size_t tail_len);

/* Answer rq with a referral. */
void reply_referral(struct request *rq, Refex__Referral *ref);

/* Answer with the audit trail of record rq->referral: every entry, or (agency not NULL) only
 * that agency's own. */
void reply_audit(struct request *rq, const char *agency);

/* Copy rq into a zeroed allocation of size bytes (a struct starting with a struct request)
 * that outlives the handler: it holds the session until request_release. */
struct request *request_keep(const struct request *rq, size_t size);

/* Keep rq in a zeroed allocation of size bytes (a struct starting with a struct request) for a
 * read through store_read_async, whose done runs once the read is done, replies (a session
 * closed meanwhile gets nothing) and calls request_release; out of memory: answer rq
 * UNAVAILABLE and return NULL. */
void *request_keep_for_read(struct request *rq, size_t size);

/* Release what request_keep took. */
void request_release(struct request *rq);

/* A referral's summary (no client, consent, form data or history), sharing ref's strings. */
Refex__Referral referral_summary(const Refex__Referral *ref);

/* Say whether s is NULL, empty or only white space. */
bool is_blank(const char *s);

/* Check msg's idempotency key and fill idem (digest: STORE_DIGEST_LEN bytes) from body; on a
 * problem, answer it and return -1. No key: idem->key is NULL. */
int request_idem(struct request *rq, const Refex__Request *msg, const ProtobufCMessage *body,
                 struct store_idem *idem, uint8_t *digest);

/* Refuse rq: its idempotency key was used for another request. */
void reply_key_reused(struct request *rq);

/* Answer rq with referral id as it is read now (its summary if asked; annotate: audit the read
 * of its stored client), or UNAVAILABLE with the message unavailable (a string literal). */
void reply_referral_read(struct request *rq, const char *id, bool summary, bool annotate,
                         const char *unavailable);

/* Answer a repeated request with the referral its first attempt wrote (its summary if asked). */
void reply_first(struct request *rq, const char *first, bool summary);

/* Answer rq if the look-up of its idempotency key (status st, first: the referral its first
 * attempt wrote) found it used before, and return true; STORE_NOT_FOUND: false, carry on. */
bool request_repeat_reply(struct request *rq, enum store_status st, const char *first,
                          bool summary);

/* A request's idempotency key kept for a read through store_read_async, and its look-up. */
struct request_key {
	bool keyed;   /* the request has one: */
	bool summary; /* a repeat is answered with its summary */
	char key[STORE_KEY_MAX + 1];
	uint8_t digest[STORE_DIGEST_LEN];
	enum store_status status;     /* its look-up's (STORE_NOT_FOUND: not used before) */
	char first[STORE_ID_LEN + 1]; /* the referral its first use wrote */
};

/* Keep idem in k (no key: k is not keyed), a repeat to be answered with its summary if summary;
 * until it is looked up, k's status is UNAVAILABLE. */
void request_key_keep(struct request_key *k, const struct store_idem *idem, bool summary);

/* Look k up as agency's (on the thread that runs a read's work) and say whether it was used
 * before or could not be looked up: then the request is answered from the key alone. */
bool request_key_find(struct store *st, struct request_key *k, const char *agency);

/* The store_idem of k for a write (no key: its key is NULL). */
struct store_idem request_key_idem(struct request_key *k);

/* Copy msg for a request kept beyond its handler (free with refex__request__free_unpacked);
 * NULL: out of memory. */
Refex__Request *request_copy(const Refex__Request *msg);

/* Tell both parties' page cache and watchers that a write changed their referrals, and the
 * page cache of origin (NULL: none), the sender of the referral this one was forwarded from. */
void notify_parties(struct hub *hub, const struct store_result *res, const char *sender,
                    const char *recipient, const char *origin);

/* Check sub and store it as a new referral (forwarded from parent, or NULL); answers rq.
 * sub's consent is completed in place (who recorded it, when); a stored client (sub->client_id,
 * or parent's), as scr read it off the loop (handlers_client.h), fills sub's client and
 * consent (free them if sub is not the request's). */
struct submit_client_read;
void submit_referral(struct request *rq, Refex__SubmitReferral *sub, const struct store_idem *idem,
                     const Refex__Referral *parent, struct submit_client_read *scr);

struct party_read;

/* What a handler does with the referral its caller is a party to, on the loop once it is read
 * (pr is released after it returns). */
typedef void (*party_read_then)(struct party_read *pr, Refex__Referral *ref, enum party who);

/* A referral being read for one of its parties (the start of a larger struct). */
struct party_read {
	struct request rq;
	party_read_then then;
	void (*fini)(struct party_read *pr); /* NULL, or run after then (or instead of it) */
	/* NULL, or what else to read with the referral, on the thread that read it */
	void (*more)(struct store *st, struct party_read *pr);
	Refex__Referral *ref;
	char origin[IDENTITY_AGENCY_MAX + 1]; /* the sender of its parent ("": none) */
	struct request_key key;               /* the request's idempotency key, if any */
};

/* Check referral id and keep rq in a zeroed allocation of size bytes (a struct starting with a
 * struct party_read) to read it; otherwise answer rq and return NULL. */
struct party_read *party_read_keep(struct request *rq, const char *id, size_t size);

/* Look up idem (if it has a key) with pr's read: a repeat is answered (its summary if summary)
 * instead of running then. */
void party_read_key(struct party_read *pr, const struct store_idem *idem, bool summary);

/* Read pr's referral (off the loop where reads cross a network; with its parent's sender, in
 * pr->origin) and run then if the caller is a party to it; otherwise answer NOT_FOUND or
 * UNAVAILABLE. */
void party_read_start(struct party_read *pr, party_read_then then);

/* Return the form in force called name; otherwise answer rq INVALID on field (an unknown form,
 * or a retired one: it takes no new referrals) and return NULL. */
const struct form *request_live_form(struct request *rq, const char *name, const char *field);

void handle_submit(struct request *rq, Refex__Request *msg);
void handle_forward(struct request *rq, Refex__Request *msg);
void handle_get(struct request *rq, Refex__Request *msg);
void handle_update(struct request *rq, Refex__Request *msg);
void handle_list_inbox(struct request *rq, Refex__Request *msg);
void handle_list_sent(struct request *rq, Refex__Request *msg);
void handle_list_forms(struct request *rq, Refex__Request *msg);
void handle_get_form_schema(struct request *rq, Refex__Request *msg);
void handle_list_partners(struct request *rq, Refex__Request *msg);
void handle_watch(struct request *rq, Refex__Request *msg);
void handle_audit(struct request *rq, Refex__Request *msg);
void handle_report(struct request *rq, Refex__Request *msg);

#endif
