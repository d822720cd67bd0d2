/*
 * Client records on any backend: what store_clients.c (writes) and
 * store_clients_read.c (reads) decide once for every backend (who may change
 * or see a client, which status a refusal gets, what is audited) and the
 * statements each backend provides for it (SQLite: store_clients_sqlite.c;
 * PostgreSQL: store_pg_clients.c). The statements know SQL and nothing of the
 * rules; the rules know no SQL.
 */
#ifndef REFEX_STORE_CLIENTS_BACKEND_H
#define REFEX_STORE_CLIENTS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store_clients.h"
#include "store_private.h"

/* One row of a result, whichever database it came from: columns by number. */
struct store_row {
	const void *res; /* the statement (SQLite) or the result (PostgreSQL) */
	int i;           /* the row (PostgreSQL) */
	int64_t (*num)(const struct store_row *row, int col);          /* NULL reads as 0 */
	char *(*str)(const struct store_row *row, int col, bool *oom); /* a copy; NULL stays NULL */
	bool (*null)(const struct store_row *row, int col);
};

/* A backend's client statements inside the writer's open transaction (storage thread). Each
 * returns STORE_OK or STORE_UNAVAILABLE unless it says otherwise, and a failed one has written
 * nothing. */
struct store_clients_writes {
	/* Insert client w->id owned by w->agency at version 1 (no version row): its row id to
	 * *cid; STORE_DUPLICATE if the id is taken. */
	enum store_status (*insert)(struct store *st, const struct store_client_write *w,
	                            int64_t *cid);
	/* Insert version of client row cid: w's record, time and holder. */
	enum store_status (*version)(struct store *st, int64_t cid, uint32_t version,
	                             const struct store_client_write *w);
	/* Collect owner's other clients than row cid under key into out->dups. */
	enum store_status (*dups)(struct store *st, const char *owner, const char *key, int64_t cid,
	                          struct store_client_out *out);
	/* Update client w->id if w->agency owns it and it is not erased (SC_UPDATE: a new version,
	 * into *version; SC_ERASE: erased, its name gone); *hit, and its row id in *cid, if it
	 * did. */
	enum store_status (*owned)(struct store *st, const struct store_client_write *w, bool *hit,
	                           int64_t *cid, uint32_t *version);
	/* Look client id up: STORE_NOT_FOUND, or STORE_OK with its row id, whether agency owns it
	 * and whether it is erased. */
	enum store_status (*find)(struct store *st, const char *id, const char *agency,
	                          int64_t *cid, bool *mine, bool *erased);
	/* Null the record in every version of client row cid and the client's words in its
	 * consents. */
	enum store_status (*erase_rows)(struct store *st, int64_t cid);
	/* Null the referrals' copies of client id; add their recipients to out
	 * (store_client_out_holder). */
	enum store_status (*erase_copies)(struct store *st, const char *id,
	                                  struct store_client_out *out);
	/* Insert consent w->id for client row cid from w's consent fields. */
	enum store_status (*consent)(struct store *st, const struct store_client_write *w,
	                             int64_t cid);
	/* Withdraw consent w->id if live and of a client w->agency owns; *hit if it did. */
	enum store_status (*withdraw)(struct store *st, const struct store_client_write *w,
	                              bool *hit);
	/* Whether consent id is of a client agency owns (*mine), and which (into client). */
	enum store_status (*consent_owner)(struct store *st, const char *id, const char *agency,
	                                   bool *mine, char client[STORE_ID_LEN + 1]);
	/* Whether a live consent or other basis covers sharing live client id with agency on day
	 * today (YYYY-MM-DD). */
	enum store_status (*covered)(struct store *st, const char *id, const char *agency,
	                             const char *today, bool *covered);
};

/* A backend's client statements on the reader (loop thread), inside a read transaction. */
struct store_clients_reads {
	/* Client id's row id, erasure time (0: live) and eraser (into by): STORE_NOT_FOUND if
	 * none. */
	enum store_status (*state)(struct store *st, const char *id, int64_t *cid,
	                           int64_t *erased_at, char *by, size_t len);
	/* The newest version of client id a referral showed agency (0: none). */
	enum store_status (*shared)(struct store *st, const char *id, const char *agency,
	                            uint32_t *version);
	/* What covers sharing client row cid with agency on day today: *live consents or bases,
	 * and the newest withdrawal among those that did (0: none). */
	enum store_status (*cover)(struct store *st, int64_t cid, const char *agency,
	                           const char *today, int64_t *live, int64_t *withdrawn_at);
	/* Version version of client row cid's record into *out (NULL: erased). */
	enum store_status (*record)(struct store *st, int64_t cid, uint32_t version,
	                            Refex__ClientRecord **out);
};

/* Run a client write with backend statements sql, inside the writer's open transaction. */
enum store_status store_clients_run(struct store *st, const struct store_clients_writes *sql,
                                    struct store_client_op *op, bool *partial);

/* Check the stored client a referral just inserted may be shared, making a new one first for an
 * inline client (its possible duplicates go to res); audit the share. */
enum store_status store_clients_insert_run(struct store *st, const struct store_clients_writes *sql,
                                           const struct store_new_referral *r,
                                           struct store_result *res);

/* Add agency to + recipient of an erased client's referral to out's holders, once. */
void store_client_out_holder(struct store_client_out *out, const char *to);

/* Build a client from row (id, owner, version, created_at, updated_at, name, erased_at,
 * erased_by, erase_reason) as agency sees it before store_client_finish: *owner, *cid (column
 * 0 of a get row is its row id; of a list row, its id) and *version. NULL if out of memory. */
Refex__StoredClient *store_client_from_row(const struct store_row *row, const char *id,
                                           const char *agency, bool *owner, int64_t *cid,
                                           uint32_t *version);

/* Finish client c (from store_client_from_row, freed on failure) as agency sees it: the
 * version shared with it unless owner, its record, its name. */
enum store_status store_client_finish(struct store *st, const struct store_clients_reads *rd,
                                      Refex__StoredClient *c, int64_t cid, uint32_t version,
                                      const char *agency, bool owner, Refex__StoredClient **out);

/* Build a listed client from row: id, owner, version, created_at, updated_at, name, erased_at,
 * erased_by. */
Refex__StoredClient *store_client_summary(const struct store_row *row, bool *oom);

/* Build a consent of client client_id from row (id, to_agency, basis, purpose, method, reason,
 * expires, recorded_agency, recorded_by, recorded_at, withdrawn_at, withdrawn_agency,
 * withdrawn_by, withdraw_reason). */
Refex__ConsentRecord *store_consent_from_row(const struct store_row *row, const char *client_id,
                                             bool *oom);

/* Append a consent to *list (n of them, room for *cap); -1 if out of memory. */
int store_consent_push(Refex__ConsentRecord ***list, size_t *n, size_t *cap,
                       Refex__ConsentRecord *k);

/* Fill ref's stored-client state (erased; consent withdrawn for its recipient) from its
 * client_id, inside the caller's read transaction. */
enum store_status store_clients_state_run(struct store *st, const struct store_clients_reads *rd,
                                          Refex__Referral *ref);

#endif
