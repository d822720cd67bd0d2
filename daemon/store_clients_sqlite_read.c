/*
 * Client records, their versions and consents on SQLite: the reads
 * (struct store_clients_reads and the backend's client reads), on the loop
 * thread's reader connection, each in one read transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_clients_backend.h"
#include "store_clients_private.h"

/* Indexed by enum crstmt; prepared on the reader connection at open. */
const char *const store_clients_rsql[CR_COUNT] = {
    [CR_GET] = "SELECT cid, owner, version, created_at, updated_at, name, erased_at, erased_by,"
               " erase_reason FROM clients WHERE id = ?1",
    [CR_SHARED] = "SELECT max(client_version) FROM referrals"
                  " WHERE client_id = ?1 AND recipient = ?2",
    [CR_RECORD] = "SELECT record FROM client_versions WHERE cid = ?1 AND version = ?2",
    /* The newest withdrawal covering agency, and how many live consents or bases do. */
    [CR_COVER] = "SELECT max(withdrawn_at), coalesce(sum(withdrawn_at IS NULL"
                 " AND (expires IS NULL OR expires >= ?3)), 0) FROM consents"
                 " WHERE cid = ?1 AND (to_agency IS NULL OR to_agency = ?2)",
    /* The agency's own clients, then those referred to it (named as the newest referral of
       each named them: the version it was shown), newest first. */
    [CR_LIST] = "SELECT id, owner, version, created_at, updated_at, name, erased_at, erased_by"
                " FROM clients WHERE owner = ?1"
                " AND (?2 IS NULL OR instr(lower(name), lower(?2)) > 0)"
                " UNION ALL SELECT c.id, c.owner, max(r.client_version), c.created_at,"
                " c.updated_at, r.client_name, c.erased_at, c.erased_by"
                " FROM referrals r JOIN clients c ON c.id = r.client_id"
                " WHERE r.recipient = ?1 AND r.client_id IS NOT NULL AND c.owner <> ?1"
                " AND (?2 IS NULL OR instr(lower(r.client_name), lower(?2)) > 0)"
                " GROUP BY c.id ORDER BY 4 DESC, 1 DESC LIMIT ?3",
    [CR_CONSENTS] = "SELECT id, to_agency, basis, purpose, method, reason, expires,"
                    " recorded_agency, recorded_by, recorded_at, withdrawn_at,"
                    " withdrawn_agency, withdrawn_by, withdraw_reason FROM consents"
                    " WHERE cid = ?1 AND (?3 OR to_agency IS NULL OR to_agency = ?2)"
                    " ORDER BY id",
    /* Only the clients that grew old enough since the last check: a range of clients_live. */
    [CR_PURGE_DUE] =
        "SELECT 1 FROM clients k WHERE k.updated_at >= ?2 AND " CLIENTS_UNHELD " LIMIT 1",
};

static enum store_status read_begin(struct store *st)
{
	return store_step_done(st->sq->r[R_BEGIN]) < 0 ? STORE_UNAVAILABLE : STORE_OK;
}

static void read_end(struct store *st)
{
	if (store_step_done(st->sq->r[R_COMMIT]) < 0 && !sqlite3_get_autocommit(st->sq->rdb)) {
		store_step_done(st->sq->r[R_ROLLBACK]);
	}
}

static int64_t sq_num(const struct store_row *row, int col)
{
	return sqlite3_column_int64((sqlite3_stmt *)row->res, col);
}

static char *sq_str(const struct store_row *row, int col, bool *oom)
{
	return store_col_str((sqlite3_stmt *)row->res, col, oom);
}

static bool sq_null(const struct store_row *row, int col)
{
	return sqlite3_column_type((sqlite3_stmt *)row->res, col) == SQLITE_NULL;
}

/* The row statement s is stepped on. */
#define SQ_ROW(s) (&(struct store_row){.res = (s), .num = sq_num, .str = sq_str, .null = sq_null})

/* The row of client id (CR_GET), left stepped on its row: STORE_OK, or NOT_FOUND (reset). */
static enum store_status client_row(struct store *st, const char *id)
{
	sqlite3_stmt *s = st->sq->clients->r[CR_GET];
	int rc = store_bind_text(s, 1, id);

	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	if (rc == SQLITE_ROW) {
		return STORE_OK;
	}
	store_stmt_end(s);
	return rc == SQLITE_DONE ? STORE_NOT_FOUND : STORE_UNAVAILABLE;
}

static enum store_status sq_state(struct store *st, const char *id, int64_t *cid,
                                  int64_t *erased_at, char *by, size_t len)
{
	sqlite3_stmt *s = st->sq->clients->r[CR_GET];
	enum store_status status = client_row(st, id);

	if (status != STORE_OK) {
		return status;
	}
	*cid = sqlite3_column_int64(s, 0);
	*erased_at = sqlite3_column_int64(s, 6);
	snprintf(by, len, "%s",
	         sqlite3_column_text(s, 7) ? (const char *)sqlite3_column_text(s, 7) : "");
	store_stmt_end(s);
	return STORE_OK;
}

static enum store_status sq_cover(struct store *st, int64_t cid, const char *agency,
                                  const char *today, int64_t *live, int64_t *withdrawn_at)
{
	sqlite3_stmt *s = st->sq->clients->r[CR_COVER];
	int rc;

	sqlite3_bind_int64(s, 1, cid);
	rc = store_bind_text(s, 2, agency) | store_bind_text(s, 3, today);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	if (rc == SQLITE_ROW) {
		*withdrawn_at = sqlite3_column_int64(s, 0);
		*live = sqlite3_column_int64(s, 1);
	}
	store_stmt_end(s);
	return rc == SQLITE_ROW ? STORE_OK : STORE_UNAVAILABLE;
}

static enum store_status sq_shared(struct store *st, const char *id, const char *agency,
                                   uint32_t *version)
{
	sqlite3_stmt *s = st->sq->clients->r[CR_SHARED];
	int rc = store_bind_text(s, 1, id) | store_bind_text(s, 2, agency);

	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	*version = rc == SQLITE_ROW ? (uint32_t)sqlite3_column_int64(s, 0) : 0;
	store_stmt_end(s);
	return rc == SQLITE_ROW ? STORE_OK : STORE_UNAVAILABLE;
}

static enum store_status sq_record(struct store *st, int64_t cid, uint32_t version,
                                   Refex__ClientRecord **out)
{
	sqlite3_stmt *s = st->sq->clients->r[CR_RECORD];
	enum store_status status = STORE_OK;
	int rc;

	sqlite3_bind_int64(s, 1, cid);
	sqlite3_bind_int64(s, 2, version);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_BLOB) {
		*out = refex__client_record__unpack(NULL, (size_t)sqlite3_column_bytes(s, 0),
		                                    sqlite3_column_blob(s, 0));
		status = *out ? STORE_OK : STORE_UNAVAILABLE;
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		status = STORE_UNAVAILABLE;
	}
	store_stmt_end(s);
	return status;
}

static const struct store_clients_reads sq_reads = {
    .state = sq_state,
    .shared = sq_shared,
    .cover = sq_cover,
    .record = sq_record,
};

/* Read client id as agency may see it. */
enum store_status store_sqlite_client_get(struct store *st, const char *id, const char *agency,
                                          Refex__StoredClient **out, bool *owner)
{
	sqlite3_stmt *s;
	Refex__StoredClient *c;
	enum store_status status;
	int64_t cid = 0;
	uint32_t version = 0;

	*out = NULL;
	*owner = false;
	if (st == NULL || id == NULL || agency == NULL || (status = read_begin(st)) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	s = st->sq->clients->r[CR_GET];
	if ((status = client_row(st, id)) == STORE_OK) {
		c = store_client_from_row(SQ_ROW(s), id, agency, owner, &cid, &version);
		store_stmt_end(s);
		status = c == NULL ? STORE_UNAVAILABLE
		                   : store_client_finish(st, &sq_reads, c, cid, version, agency,
		                                         *owner, out);
	}
	read_end(st);
	return status;
}

/* List agency's own clients and those referred to it, newest first. */
enum store_status store_sqlite_client_list(struct store *st, const char *agency, const char *search,
                                           size_t max, Refex__StoredClient ***out, size_t *n)
{
	sqlite3_stmt *s = st->sq->clients->r[CR_LIST];
	bool oom = false;
	int rc;

	*n = 0;
	if ((*out = calloc(max ? max : 1, sizeof(**out))) == NULL) {
		return STORE_UNAVAILABLE;
	}
	rc = store_bind_text(s, 1, agency) | store_bind_text(s, 2, search);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)max);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	for (; !oom && rc == SQLITE_ROW && *n < max; rc = sqlite3_step(s)) {
		if (((*out)[*n] = store_client_summary(SQ_ROW(s), &oom)) != NULL) {
			(*n)++;
		}
	}
	store_stmt_end(s);
	if (oom || (rc != SQLITE_DONE && rc != SQLITE_ROW)) {
		store_client_list_free(*out, *n);
		*out = NULL;
		*n = 0;
		return STORE_UNAVAILABLE;
	}
	return STORE_OK;
}

static enum store_status consents_read(struct store *st, sqlite3_int64 cid, const char *id,
                                       const char *agency, bool owner, Refex__ConsentRecord ***out,
                                       size_t *n)
{
	sqlite3_stmt *s = st->sq->clients->r[CR_CONSENTS];
	size_t cap = 0;
	bool oom = false;
	int rc;

	sqlite3_bind_int64(s, 1, cid);
	sqlite3_bind_int(s, 3, owner);
	rc = store_bind_text(s, 2, agency);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	for (; !oom && rc == SQLITE_ROW; rc = sqlite3_step(s)) {
		oom = store_consent_push(out, n, &cap,
		                         store_consent_from_row(SQ_ROW(s), id, &oom)) < 0;
	}
	store_stmt_end(s);
	return !oom && rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

/* List the consents of client id that agency may see. */
enum store_status store_sqlite_consent_list(struct store *st, const char *id, const char *agency,
                                            bool owner, Refex__ConsentRecord ***out, size_t *n)
{
	enum store_status status;
	sqlite3_int64 cid;

	*out = NULL;
	*n = 0;
	if (read_begin(st) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	if ((status = client_row(st, id)) == STORE_OK) {
		cid = sqlite3_column_int64(st->sq->clients->r[CR_GET], 0);
		store_stmt_end(st->sq->clients->r[CR_GET]);
		status = consents_read(st, cid, id, agency, owner, out, n);
	}
	read_end(st);
	if (status != STORE_OK) {
		store_consent_list_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return status;
}

/* Fill ref's stored-client state from the store, inside the caller's read transaction. */
enum store_status store_clients_referral_state(struct store *st, Refex__Referral *ref)
{
	return store_clients_state_run(st, &sq_reads, ref);
}

/* Say whether retention would erase some stored client unchanged since before. */
enum store_status store_clients_purge_due(struct store *st, int64_t before, int64_t since,
                                          bool *due)
{
	sqlite3_stmt *s = st->sq->clients->r[CR_PURGE_DUE];
	int rc;

	sqlite3_bind_int64(s, 1, before);
	sqlite3_bind_int64(s, 2, since);
	rc = sqlite3_step(s);
	store_stmt_end(s);
	*due = rc == SQLITE_ROW;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}
