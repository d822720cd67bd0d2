/*
 * Client records, their versions and consents on SQLite: the statements
 * store_clients.c's writes run (struct store_clients_writes) in the writer's
 * open transaction, and retention's erasures. An erasure nulls the record in
 * every version and every referral's copy; the writer then truncates the WAL
 * (secure_delete has already zeroed the pages).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_clients_backend.h"
#include "store_clients_private.h"

/* A consent, or another lawful basis, live for agency on day ?3 (a live consent of an erased
 * client covers nothing). */
#define COVERS                                                                                     \
	"c.withdrawn_at IS NULL AND (c.to_agency IS NULL OR c.to_agency = ?2)"                     \
	" AND (c.expires IS NULL OR c.expires >= ?3)"

static const char *const store_clients_wsql[CW_COUNT] = {
    [CW_ADD] = "INSERT INTO clients (id, owner, version, created_at, updated_at, name, dup_key)"
               " VALUES (?1, ?2, 1, ?3, ?3, ?4, ?5)", /* no RETURNING: it builds a table */
    [CW_VERSION] = "INSERT INTO client_versions (cid, version, record, created_at, holder)"
                   " VALUES (?1, ?2, ?3, ?4, ?5)",
    [CW_DUPS] = "SELECT id FROM clients WHERE owner = ?1 AND dup_key = ?2 AND cid <> ?3"
                " ORDER BY cid LIMIT 8", /* STORE_DUPS_MAX */
    [CW_UPDATE] = "UPDATE clients SET version = version + 1, updated_at = ?3, name = ?4,"
                  " dup_key = ?5 WHERE id = ?1 AND owner = ?2 AND erased_at IS NULL"
                  " RETURNING cid, version",
    [CW_FIND] = "SELECT cid, owner, erased_at FROM clients WHERE id = ?1",
    [CW_ERASE] = "UPDATE clients SET erased_at = ?3, erased_by = ?2, erase_reason = ?4,"
                 " name = NULL, dup_key = NULL"
                 " WHERE id = ?1 AND owner = ?2 AND erased_at IS NULL RETURNING cid",
    [CW_ERASE_VERSIONS] = "UPDATE client_versions SET record = NULL WHERE cid = ?1",
    /* The consent copy goes too: its purpose is the client's words. */
    [CW_ERASE_DATA] = "UPDATE referral_data SET client = NULL, consent = NULL"
                      " WHERE rid IN (SELECT rid FROM referrals WHERE client_id = ?1)",
    [CW_ERASE_NAMES] = "UPDATE referrals SET client_name = NULL WHERE client_id = ?1"
                       " RETURNING recipient",
    [CW_ERASE_CONSENTS] = "UPDATE consents SET purpose = NULL, reason = NULL,"
                          " withdraw_reason = NULL WHERE cid = ?1",
    [CW_CONSENT_ADD] = "INSERT INTO consents (id, cid, to_agency, basis, purpose, method, reason,"
                       " expires, recorded_agency, recorded_by, recorded_at)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [CW_WITHDRAW] = "UPDATE consents SET withdrawn_at = ?3, withdrawn_agency = ?2,"
                    " withdrawn_by = ?4, withdraw_reason = ?5 WHERE id = ?1"
                    " AND withdrawn_at IS NULL AND cid IN (SELECT cid FROM clients"
                    " WHERE owner = ?2) RETURNING cid",
    [CW_CONSENT_FIND] = "SELECT k.id, k.owner, c.withdrawn_at FROM consents c"
                        " JOIN clients k ON k.cid = c.cid WHERE c.id = ?1",
    [CW_SHARE_OK] = "SELECT 1 FROM consents c JOIN clients k ON k.cid = c.cid"
                    " WHERE k.id = ?1 AND k.erased_at IS NULL AND " COVERS " LIMIT 1",
    /* Retention: clients unchanged since ?1 none of whose referrals still holds details. */
    /* Those that grew old enough since ?3 (a range of clients_live)... */
    [CW_PURGE] =
        "UPDATE clients SET name = NULL, dup_key = NULL, erased_at = ?2,"
        " erased_by = 'retention', erase_reason = 'retention period'"
        " WHERE cid IN (SELECT cid FROM clients k WHERE k.updated_at >= ?3"
        " AND " CLIENTS_UNHELD " LIMIT " STORE_STR(STORE_CLIENTS_PURGE_MAX) ")"
                                                                            " RETURNING cid, id",
    /* ... and one whose last referral holding details was just purged. */
    [CW_PURGE_ONE] = "UPDATE clients SET name = NULL, dup_key = NULL, erased_at = ?2,"
                     " erased_by = 'retention', erase_reason = 'retention period'"
                     " WHERE cid IN (SELECT cid FROM clients k WHERE k.id = ?3"
                     " AND " CLIENTS_UNHELD ") RETURNING cid, id",
};

/* Prepare the client records' statements on both connections. */
int store_clients_open(struct store *st, char *err, size_t errlen)
{
	struct store_clients *c = calloc(1, sizeof(*c));

	if ((st->sq->clients = c) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < CW_COUNT; i++) {
		if (sqlite3_prepare_v3(st->sq->wdb, store_clients_wsql[i], -1,
		                       SQLITE_PREPARE_PERSISTENT, &c->w[i], NULL) != SQLITE_OK) {
			snprintf(err, errlen, "cannot prepare client statement %zu: %s", i,
			         sqlite3_errmsg(st->sq->wdb));
			return -1;
		}
	}
	for (size_t i = 0; i < CR_COUNT; i++) {
		if (sqlite3_prepare_v3(st->sq->rdb, store_clients_rsql[i], -1,
		                       SQLITE_PREPARE_PERSISTENT, &c->r[i], NULL) != SQLITE_OK) {
			snprintf(err, errlen, "cannot prepare client read %zu: %s", i,
			         sqlite3_errmsg(st->sq->rdb));
			return -1;
		}
	}
	return 0;
}

/* Finalize what store_clients_open prepared. */
void store_clients_close(struct store *st)
{
	if (st->sq->clients == NULL) {
		return;
	}
	for (size_t i = 0; i < CW_COUNT; i++) {
		sqlite3_finalize(st->sq->clients->w[i]);
	}
	for (size_t i = 0; i < CR_COUNT; i++) {
		sqlite3_finalize(st->sq->clients->r[i]);
	}
	free(st->sq->clients);
	st->sq->clients = NULL;
}

/* ---- the statements of struct store_clients_writes, storage thread ---- */

static enum store_status sq_insert(struct store *st, const struct store_client_write *w,
                                   int64_t *cid)
{
	sqlite3_stmt *s = st->sq->clients->w[CW_ADD];
	int rc = store_bind_text(s, 1, w->id) | store_bind_text(s, 2, w->agency) |
	         store_bind_text(s, 4, w->name) | store_bind_text(s, 5, w->dup_key);

	sqlite3_bind_int64(s, 3, w->at);
	return store_step_insert(s, rc, cid);
}

static enum store_status sq_version(struct store *st, int64_t cid, uint32_t version,
                                    const struct store_client_write *w)
{
	sqlite3_stmt *s = st->sq->clients->w[CW_VERSION];
	int rc;

	sqlite3_bind_int64(s, 1, cid);
	sqlite3_bind_int64(s, 2, version);
	sqlite3_bind_int64(s, 4, w->at);
	rc = sqlite3_bind_blob64(s, 3, w->record, w->record_len, SQLITE_STATIC) |
	     store_bind_text(s, 5, w->holder);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	store_stmt_end(s);
	return rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

static enum store_status sq_dups(struct store *st, const char *owner, const char *key, int64_t cid,
                                 struct store_client_out *out)
{
	sqlite3_stmt *s = st->sq->clients->w[CW_DUPS];
	int rc = store_bind_text(s, 1, owner) | store_bind_text(s, 2, key);

	sqlite3_bind_int64(s, 3, cid);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	for (; rc == SQLITE_ROW; rc = sqlite3_step(s)) {
		if (out->n_dups < STORE_DUPS_MAX) {
			snprintf(out->dups[out->n_dups++], STORE_ID_LEN + 1, "%s",
			         (const char *)sqlite3_column_text(s, 0));
		}
	}
	store_stmt_end(s);
	return rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

static enum store_status sq_owned(struct store *st, const struct store_client_write *w, bool *hit,
                                  int64_t *cid, uint32_t *version)
{
	sqlite3_stmt *s = st->sq->clients->w[w->kind == SC_ERASE ? CW_ERASE : CW_UPDATE];
	int rc = store_bind_text(s, 1, w->id) | store_bind_text(s, 2, w->agency);

	rc |= w->kind == SC_ERASE
	          ? store_bind_text(s, 4, w->reason)
	          : store_bind_text(s, 4, w->name) | store_bind_text(s, 5, w->dup_key);
	sqlite3_bind_int64(s, 3, w->at);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	if (rc == SQLITE_ROW) {
		*hit = true;
		*cid = sqlite3_column_int64(s, 0);
		if (w->kind != SC_ERASE) {
			*version = (uint32_t)sqlite3_column_int64(s, 1);
		}
		rc = sqlite3_step(s);
	}
	store_stmt_end(s);
	return rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

static enum store_status sq_find(struct store *st, const char *id, const char *agency, int64_t *cid,
                                 bool *mine, bool *erased)
{
	sqlite3_stmt *s = st->sq->clients->w[CW_FIND];
	enum store_status status = STORE_NOT_FOUND;
	int rc = store_bind_text(s, 1, id);

	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	if (rc == SQLITE_ROW) {
		status = STORE_OK;
		*cid = sqlite3_column_int64(s, 0);
		*mine = strcmp((const char *)sqlite3_column_text(s, 1), agency) == 0;
		*erased = sqlite3_column_type(s, 2) != SQLITE_NULL;
	} else if (rc != SQLITE_DONE) {
		status = STORE_UNAVAILABLE;
	}
	store_stmt_end(s);
	return status;
}

static enum store_status sq_erase_copies(struct store *st, const char *id,
                                         struct store_client_out *out)
{
	sqlite3_stmt *s = st->sq->clients->w[CW_ERASE_DATA];
	int rc = store_bind_text(s, 1, id);

	if (rc != SQLITE_OK || store_step_done(s) < 0) {
		store_stmt_end(s);
		return STORE_UNAVAILABLE;
	}
	store_stmt_end(s);
	s = st->sq->clients->w[CW_ERASE_NAMES];
	rc = store_bind_text(s, 1, id);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	for (; rc == SQLITE_ROW; rc = sqlite3_step(s)) {
		store_client_out_holder(out, (const char *)sqlite3_column_text(s, 0));
	}
	store_stmt_end(s);
	return rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

static enum store_status sq_erase_rows(struct store *st, int64_t cid)
{
	static const enum cwstmt steps[] = {CW_ERASE_VERSIONS, CW_ERASE_CONSENTS};

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		sqlite3_stmt *s = st->sq->clients->w[steps[i]];

		sqlite3_bind_int64(s, 1, cid);
		if (store_step_done(s) < 0) {
			return STORE_UNAVAILABLE;
		}
	}
	return STORE_OK;
}

static enum store_status sq_consent(struct store *st, const struct store_client_write *w,
                                    int64_t cid)
{
	sqlite3_stmt *s = st->sq->clients->w[CW_CONSENT_ADD];
	int rc = store_bind_text(s, 1, w->id) | store_bind_text(s, 3, w->to_agency) |
	         store_bind_text(s, 5, w->purpose) | store_bind_text(s, 7, w->reason) |
	         store_bind_text(s, 8, w->expires) | store_bind_text(s, 9, w->agency) |
	         store_bind_text(s, 10, w->holder);

	sqlite3_bind_int64(s, 2, cid);
	sqlite3_bind_int(s, 4, (int)w->basis);
	if (w->method != REFEX__CONSENT_METHOD__CONSENT_METHOD_UNSPECIFIED) {
		sqlite3_bind_int(s, 6, (int)w->method);
	}
	sqlite3_bind_int64(s, 11, w->at);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	store_stmt_end(s);
	return rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

static enum store_status sq_withdraw(struct store *st, const struct store_client_write *w,
                                     bool *hit)
{
	sqlite3_stmt *s = st->sq->clients->w[CW_WITHDRAW];
	int rc = store_bind_text(s, 1, w->id) | store_bind_text(s, 2, w->agency) |
	         store_bind_text(s, 4, w->holder) | store_bind_text(s, 5, w->reason);

	sqlite3_bind_int64(s, 3, w->at);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	if (rc == SQLITE_ROW) {
		*hit = true;
		rc = sqlite3_step(s);
	}
	store_stmt_end(s);
	return rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

static enum store_status sq_consent_owner(struct store *st, const char *id, const char *agency,
                                          bool *mine, char client[STORE_ID_LEN + 1])
{
	sqlite3_stmt *s = st->sq->clients->w[CW_CONSENT_FIND];
	int rc = store_bind_text(s, 1, id);

	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	if (rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(s, 1), agency) == 0) {
		*mine = true;
		snprintf(client, STORE_ID_LEN + 1, "%s", (const char *)sqlite3_column_text(s, 0));
	}
	store_stmt_end(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

static enum store_status sq_covered(struct store *st, const char *id, const char *agency,
                                    const char *today, bool *covered)
{
	sqlite3_stmt *s = st->sq->clients->w[CW_SHARE_OK];
	int rc = store_bind_text(s, 1, id) | store_bind_text(s, 2, agency) |
	         store_bind_text(s, 3, today);

	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	store_stmt_end(s);
	*covered = rc == SQLITE_ROW;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

static const struct store_clients_writes sq_writes = {
    .insert = sq_insert,
    .version = sq_version,
    .dups = sq_dups,
    .owned = sq_owned,
    .find = sq_find,
    .erase_rows = sq_erase_rows,
    .erase_copies = sq_erase_copies,
    .consent = sq_consent,
    .withdraw = sq_withdraw,
    .consent_owner = sq_consent_owner,
    .covered = sq_covered,
};

/* Run a client write inside the writer's open transaction. */
enum store_status store_clients_exec(struct store *st, struct store_client_op *op, bool *partial)
{
	return store_clients_run(st, &sq_writes, op, partial);
}

/* Check the stored client a referral just inserted (its row names it) may be shared, making a
 * new one first for an inline client; audit the share. */
enum store_status store_clients_on_insert(struct store *st, const struct store_new_referral *r,
                                          struct store_result *res)
{
	return store_clients_insert_run(st, &sq_writes, r, res);
}

/* Erase the clients statement s (bound but for ?2, now) picks and audit each; *n counts them. */
static enum store_status purge_picked(struct store *st, sqlite3_stmt *s, int64_t now, size_t *n)
{
	struct {
		sqlite3_int64 cid;
		char id[STORE_ID_LEN + 1];
	} got[STORE_CLIENTS_PURGE_MAX];
	enum store_status status = STORE_OK;
	int rc;

	*n = 0;
	sqlite3_bind_int64(s, 2, now);
	for (rc = sqlite3_step(s); rc == SQLITE_ROW && *n < STORE_CLIENTS_PURGE_MAX;
	     rc = sqlite3_step(s)) {
		got[*n].cid = sqlite3_column_int64(s, 0);
		snprintf(got[*n].id, sizeof(got[*n].id), "%s",
		         (const char *)sqlite3_column_text(s, 1));
		(*n)++;
	}
	store_stmt_end(s);
	if (rc != SQLITE_DONE) {
		return STORE_UNAVAILABLE;
	}
	for (size_t i = 0; status == STORE_OK && i < *n; i++) {
		if ((status = sq_erase_rows(st, got[i].cid)) == STORE_OK) {
			status =
			    store_audit_append(st, &(struct store_audit){.agency = "refexd",
			                                                 .holder = "retention",
			                                                 .action = "client-erase",
			                                                 .record = got[i].id,
			                                                 .at_ms = now * 1000});
		}
	}
	return status;
}

/* Erase, under the retention policy, clients last changed in [since, before) that no referral
 * holding details holds (at most 256); *n counts them. */
enum store_status store_clients_purge(struct store *st, int64_t before, int64_t since, int64_t now,
                                      size_t *n)
{
	sqlite3_stmt *s = st->sq->clients->w[CW_PURGE];

	sqlite3_bind_int64(s, 1, before);
	sqlite3_bind_int64(s, 3, since);
	return purge_picked(st, s, now, n);
}

/* Erase client id under the retention policy if it is unchanged since before and no referral
 * holding details holds it (a purge just made a tombstone of one); *n counts it. */
enum store_status store_clients_purge_one(struct store *st, const char *id, int64_t before,
                                          int64_t now, size_t *n)
{
	sqlite3_stmt *s = st->sq->clients->w[CW_PURGE_ONE];

	sqlite3_bind_int64(s, 1, before);
	if (store_bind_text(s, 3, id) != SQLITE_OK) {
		return STORE_UNAVAILABLE;
	}
	return purge_picked(st, s, now, n);
}
