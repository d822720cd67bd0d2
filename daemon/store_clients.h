/*
 * Client records kept by the hub, their versions, and the consents and other
 * lawful bases recorded for sharing them: the storage side (store_clients.c).
 *
 * Writes go through the storage thread like every other write (one job per
 * write, committed in the next group commit, audited in the same
 * transaction); reads run on the loop thread's reader connection. Whether the
 * caller may see a client is decided here, from the rows: its owner, or an
 * agency a referral of it was sent to.
 */
#ifndef REFEX_STORE_CLIENTS_H
#define REFEX_STORE_CLIENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.pb-c.h"
#include "store.h"

#define STORE_HOLDERS_MAX 64 /* agencies told (page cache) when a client is erased */
#define STORE_DUP_KEY_MAX 600

/* What a client write does. */
enum store_client_op_kind {
	SC_ADD,              /* a new client (id), version 1 */
	SC_UPDATE,           /* a new version of client id, by its owner */
	SC_ERASE,            /* erase client id and its copies in referrals, by its owner */
	SC_CONSENT_ADD,      /* a consent or other basis (id) for client client_id, by its owner */
	SC_CONSENT_WITHDRAW, /* withdraw consent id, by the client's owner */
};

/* One client write. The store copies everything before store_client_write returns. */
struct store_client_write {
	enum store_client_op_kind kind;
	const char *id;        /* the client's id (consents: the consent's id) */
	const char *client_id; /* SC_CONSENT_ADD: the client it is for */
	const char *agency;    /* who: the certificate's agency and holder */
	const char *holder;
	int64_t at;            /* unix seconds */
	const uint8_t *record; /* SC_ADD, SC_UPDATE: packed Refex__ClientRecord */
	size_t record_len;
	const char *name;    /* SC_ADD, SC_UPDATE: given and family name, for listings */
	const char *dup_key; /* SC_ADD, SC_UPDATE: store_client_dup_key() */
	const char *reason;  /* SC_ERASE, SC_CONSENT_WITHDRAW, SC_CONSENT_ADD (other basis) */
	/* SC_CONSENT_ADD */
	const char *to_agency; /* NULL: any partner */
	Refex__LawfulBasis basis;
	Refex__ConsentMethod method;
	const char *purpose;
	const char *expires; /* YYYY-MM-DD or NULL */
};

/* What a committed client write did. */
struct store_client_out {
	char id[STORE_ID_LEN + 1]; /* the client (consents: the client the consent is for) */
	uint32_t version;          /* SC_ADD, SC_UPDATE: the version written */
	char dups[STORE_DUPS_MAX][STORE_ID_LEN + 1]; /* SC_ADD, SC_UPDATE: possible duplicates */
	size_t n_dups;
	char holders[STORE_HOLDERS_MAX][64]; /* SC_ERASE: recipients of its referrals */
	size_t n_holders;
};

/* Called on the loop thread once a client write has committed (or failed): STORE_OK,
 * STORE_NOT_FOUND (no such client or consent of the caller's), STORE_CONFLICT (erased, or
 * already withdrawn), STORE_UNAVAILABLE. out is valid during the call. */
typedef void (*store_client_cb)(enum store_status status, const struct store_client_out *out,
                                void *arg);

/* Queue a client write for the next group commit. */
int store_client_write(struct store *st, const struct store_client_write *w, store_client_cb cb,
                       void *arg);

/* Write into buf the key under which two records of an agency are likely the same client:
 * given and family name (trimmed, ASCII case folded) and date of birth. */
void store_client_dup_key(const Refex__ClientRecord *c, char *buf, size_t len);

/* Read client id as agency may see it into *out (STORE_NOT_FOUND: none it may see); *owner
 * says whether agency owns it. Free with store_client_free. */
enum store_status store_client_get(struct store *st, const char *id, const char *agency,
                                   Refex__StoredClient **out, bool *owner);

/* Free a client from store_client_get. NULL is fine. */
void store_client_free(Refex__StoredClient *c);

/* List agency's own clients and those referred to it, newest first (at most max), those whose
 * name holds search (case-insensitive; NULL: all). Free with store_client_list_free. */
enum store_status store_client_list(struct store *st, const char *agency, const char *search,
                                    size_t max, Refex__StoredClient ***out, size_t *n);

/* Free what store_client_list returned. */
void store_client_list_free(Refex__StoredClient **list, size_t n);

/* List the consents of client id that agency may see (the owner: all; else those covering
 * agency), oldest first. Free with store_consent_list_free. */
enum store_status store_consent_list(struct store *st, const char *id, const char *agency,
                                     bool owner, Refex__ConsentRecord ***out, size_t *n);

/* Free what store_consent_list returned. */
void store_consent_list_free(Refex__ConsentRecord **list, size_t n);

/* Write day t (unix seconds, UTC) as YYYY-MM-DD into buf (11 bytes). */
void store_day(int64_t t, char *buf);

#endif
