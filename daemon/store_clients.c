/*
 * Client records, their versions and consents: the write side. Each write is
 * one job of the storage thread (store_queue.c runs it in the batch's
 * transaction and hands it back), audited in that same transaction. An
 * erasure nulls the record in every version and every referral's copy; the
 * writer then truncates the WAL (secure_delete has already zeroed the pages).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* One queued client write: the request's copy lives in data, right after the struct. */
struct store_client_op {
	struct store_client_write w;
	struct store_client_out out;
	store_client_cb cb;
	void *arg;
	bool erased; /* committed an erasure: the WAL must be truncated */
	char data[];
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

/* ---- pure helpers ---- */

/* Append s to buf (at *used), trimmed and with ASCII letters folded to lower case. */
static void fold_append(char *buf, size_t len, size_t *used, const char *s)
{
	const char *end;

	if (s == NULL) {
		return;
	}
	while (isspace((unsigned char)*s)) {
		s++;
	}
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1])) {
		end--;
	}
	for (; s < end && *used + 1 < len; s++) {
		buf[(*used)++] = (char)tolower((unsigned char)*s);
	}
	buf[*used] = '\0';
}

/* Write the key under which two records of an agency are likely the same client. */
void store_client_dup_key(const Refex__ClientRecord *c, char *buf, size_t len)
{
	size_t used = 0;

	if (len == 0) {
		return;
	}
	buf[0] = '\0';
	fold_append(buf, len, &used, c->given_name);
	fold_append(buf, len, &used, "|");
	fold_append(buf, len, &used, c->family_name);
	fold_append(buf, len, &used, "|");
	fold_append(buf, len, &used, c->date_of_birth);
}

/* Write day t (unix seconds, UTC) as YYYY-MM-DD into buf (11 bytes). */
void store_day(int64_t t, char *buf)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, 11, "%Y-%m-%d", &tm) != 10) {
		snprintf(buf, 11, "1970-01-01");
	}
}

/* ---- storage thread ---- */

static enum store_status audit(struct store *st, const struct store_client_write *w,
                               const char *action, const char *client_id)
{
	return store_audit_append(st, &(struct store_audit){.agency = w->agency,
	                                                    .holder = w->holder,
	                                                    .action = action,
	                                                    .record = client_id,
	                                                    .at_ms = w->at * 1000});
}

/* Tell why a write of agency's client id finds no row of the caller's: NOT_FOUND unless the
 * client is the caller's, CONFLICT if it was erased; else (live, the caller's) STORE_OK with its
 * row id in *cid, for a write that looks the client up first. */
static enum store_status client_missed(struct store *st, const char *id, const char *agency,
                                       sqlite3_int64 *cid)
{
	sqlite3_stmt *s = st->sq->clients->w[CW_FIND];
	enum store_status status = STORE_NOT_FOUND;
	int rc = store_bind_text(s, 1, id);

	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	if (rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(s, 1), agency) == 0) {
		*cid = sqlite3_column_int64(s, 0);
		status = sqlite3_column_type(s, 2) == SQLITE_NULL ? STORE_OK : STORE_CONFLICT;
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		status = STORE_UNAVAILABLE;
	}
	store_stmt_end(s);
	return status;
}

/* Run s, an UPDATE of w's client that only its owner may make (bound but for ?3, w->at),
 * RETURNING its row id and, when version is not NULL, its version: STORE_OK with them, or
 * what client_missed says when it changed nothing. */
static enum store_status owned_update(struct store *st, sqlite3_stmt *s, int rc,
                                      const struct store_client_write *w, sqlite3_int64 *cid,
                                      uint32_t *version)
{
	enum store_status status;
	bool hit = false;

	sqlite3_bind_int64(s, 3, w->at);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	if (rc == SQLITE_ROW) {
		hit = true;
		*cid = sqlite3_column_int64(s, 0);
		if (version != NULL) {
			*version = (uint32_t)sqlite3_column_int64(s, 1);
		}
		rc = sqlite3_step(s);
	}
	store_stmt_end(s);
	if (rc != SQLITE_DONE) {
		return STORE_UNAVAILABLE;
	}
	if (hit) {
		return STORE_OK;
	}
	/* The update's own WHERE rules out a live client of the caller's: never report it done. */
	status = client_missed(st, w->id, w->agency, cid);
	return status == STORE_OK ? STORE_NOT_FOUND : status;
}

static enum store_status version_add(struct store *st, sqlite3_int64 cid, uint32_t version,
                                     const uint8_t *record, size_t len, int64_t at,
                                     const char *holder)
{
	sqlite3_stmt *s = st->sq->clients->w[CW_VERSION];
	int rc;

	sqlite3_bind_int64(s, 1, cid);
	sqlite3_bind_int64(s, 2, version);
	sqlite3_bind_int64(s, 4, at);
	rc = sqlite3_bind_blob64(s, 3, record, len, SQLITE_STATIC) | store_bind_text(s, 5, holder);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	store_stmt_end(s);
	return rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

/* Collect the owner's other clients under the same duplicate key into out. */
static enum store_status dups_find(struct store *st, const char *owner, const char *key,
                                   sqlite3_int64 cid, struct store_client_out *out)
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

/* Insert client id (version 1) owned by agency; its row id goes to *cid. */
static enum store_status client_insert(struct store *st, const struct store_client_write *w,
                                       sqlite3_int64 *cid, bool *wrote)
{
	sqlite3_stmt *s = st->sq->clients->w[CW_ADD];
	int rc = store_bind_text(s, 1, w->id) | store_bind_text(s, 2, w->agency) |
	         store_bind_text(s, 4, w->name) | store_bind_text(s, 5, w->dup_key);

	sqlite3_bind_int64(s, 3, w->at);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	store_stmt_end(s);
	if (rc == SQLITE_CONSTRAINT_UNIQUE) {
		return STORE_DUPLICATE;
	}
	if (rc != SQLITE_DONE) {
		return STORE_UNAVAILABLE;
	}
	*cid = sqlite3_last_insert_rowid(st->sq->wdb);
	*wrote = true;
	return version_add(st, *cid, 1, w->record, w->record_len, w->at, w->holder);
}

static enum store_status op_add(struct store *st, struct store_client_op *op, bool *wrote)
{
	const struct store_client_write *w = &op->w;
	sqlite3_int64 cid = 0;
	enum store_status status = client_insert(st, w, &cid, wrote);

	snprintf(op->out.id, sizeof(op->out.id), "%s", w->id);
	op->out.version = 1;
	if (status == STORE_OK && w->dup_key != NULL) {
		status = dups_find(st, w->agency, w->dup_key, cid, &op->out);
	}
	return status == STORE_OK ? audit(st, w, "client-add", w->id) : status;
}

static enum store_status op_update(struct store *st, struct store_client_op *op, bool *wrote)
{
	const struct store_client_write *w = &op->w;
	sqlite3_stmt *s = st->sq->clients->w[CW_UPDATE];
	sqlite3_int64 cid = 0;
	enum store_status status;
	int rc = store_bind_text(s, 1, w->id) | store_bind_text(s, 2, w->agency) |
	         store_bind_text(s, 4, w->name) | store_bind_text(s, 5, w->dup_key);

	/* The id goes back whatever happens: a refusal names the client too. */
	snprintf(op->out.id, sizeof(op->out.id), "%s", w->id);
	if ((status = owned_update(st, s, rc, w, &cid, &op->out.version)) != STORE_OK) {
		return status;
	}
	*wrote = true;
	status = version_add(st, cid, op->out.version, w->record, w->record_len, w->at, w->holder);
	if (status == STORE_OK && w->dup_key != NULL) {
		status = dups_find(st, w->agency, w->dup_key, cid, &op->out);
	}
	return status == STORE_OK ? audit(st, w, "client-update", w->id) : status;
}

/* Null the referrals' copies of client id and collect their recipients into out. */
static enum store_status erase_copies(struct store *st, const char *id,
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
		const char *to = (const char *)sqlite3_column_text(s, 0);
		size_t i = 0;

		while (i < out->n_holders && strcmp(out->holders[i], to) != 0) {
			i++;
		}
		if (i == out->n_holders && out->n_holders < STORE_HOLDERS_MAX) {
			snprintf(out->holders[out->n_holders++], sizeof(out->holders[0]), "%s", to);
		}
	}
	store_stmt_end(s);
	return rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

/* Null the record in every version of client row cid and the client's words in its consents. */
static enum store_status erase_rows(struct store *st, sqlite3_int64 cid)
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

static enum store_status op_erase(struct store *st, struct store_client_op *op, bool *wrote)
{
	const struct store_client_write *w = &op->w;
	sqlite3_stmt *s = st->sq->clients->w[CW_ERASE];
	sqlite3_int64 cid = 0;
	enum store_status status;
	int rc = store_bind_text(s, 1, w->id) | store_bind_text(s, 2, w->agency) |
	         store_bind_text(s, 4, w->reason);

	snprintf(op->out.id, sizeof(op->out.id), "%s", w->id);
	if ((status = owned_update(st, s, rc, w, &cid, NULL)) != STORE_OK) {
		return status;
	}
	*wrote = true;
	if ((status = erase_rows(st, cid)) == STORE_OK) {
		status = erase_copies(st, w->id, &op->out);
	}
	if (status == STORE_OK) {
		status = audit(st, w, "client-erase", w->id);
	}
	op->erased = status == STORE_OK;
	return status;
}

/* Insert a consent row (id) for client row cid from w's consent fields. */
static enum store_status consent_insert(struct store *st, const struct store_client_write *w,
                                        sqlite3_int64 cid)
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

static enum store_status op_consent_add(struct store *st, struct store_client_op *op, bool *wrote)
{
	const struct store_client_write *w = &op->w;
	sqlite3_int64 cid = 0;
	enum store_status status = client_missed(st, w->client_id, w->agency, &cid);

	snprintf(op->out.id, sizeof(op->out.id), "%s", w->client_id);
	if (status != STORE_OK || (status = consent_insert(st, w, cid)) != STORE_OK) {
		return status;
	}
	*wrote = true;
	return audit(st, w, "consent-add", w->client_id);
}

static enum store_status op_consent_withdraw(struct store *st, struct store_client_op *op,
                                             bool *wrote)
{
	const struct store_client_write *w = &op->w;
	sqlite3_stmt *s = st->sq->clients->w[CW_WITHDRAW];
	enum store_status status = STORE_NOT_FOUND;
	bool hit = false, mine = false;
	int rc = store_bind_text(s, 1, w->id) | store_bind_text(s, 2, w->agency) |
	         store_bind_text(s, 4, w->holder) | store_bind_text(s, 5, w->reason);

	sqlite3_bind_int64(s, 3, w->at);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	if (rc == SQLITE_ROW) {
		hit = true;
		rc = sqlite3_step(s);
	}
	store_stmt_end(s);
	if (rc != SQLITE_DONE) {
		return STORE_UNAVAILABLE;
	}
	/* Which client (for the audit), or why nothing matched: not the caller's, or withdrawn. */
	s = st->sq->clients->w[CW_CONSENT_FIND];
	rc = store_bind_text(s, 1, w->id);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	if (rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(s, 1), w->agency) == 0) {
		mine = true;
		snprintf(op->out.id, sizeof(op->out.id), "%s",
		         (const char *)sqlite3_column_text(s, 0));
	}
	store_stmt_end(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		*wrote = hit;
		return STORE_UNAVAILABLE;
	}
	if (!hit) {
		return mine ? STORE_CONFLICT : status;
	}
	*wrote = true;
	return audit(st, w, "consent-withdraw", op->out.id);
}

/* Run a client write inside the writer's open transaction. */
enum store_status store_clients_exec(struct store *st, struct store_client_op *op, bool *partial)
{
	enum store_status status = STORE_UNAVAILABLE;
	bool wrote = false;

	memset(&op->out, 0, sizeof(op->out));
	op->erased = false;
	switch (op->w.kind) {
	case SC_ADD:
		status = op_add(st, op, &wrote);
		break;
	case SC_UPDATE:
		status = op_update(st, op, &wrote);
		break;
	case SC_ERASE:
		status = op_erase(st, op, &wrote);
		break;
	case SC_CONSENT_ADD:
		status = op_consent_add(st, op, &wrote);
		break;
	case SC_CONSENT_WITHDRAW:
		status = op_consent_withdraw(st, op, &wrote);
		break;
	}
	/* The op functions say whether they wrote anything; the writer wants to know whether a
	 * failure left something to undo. */
	*partial = wrote && status != STORE_OK;
	return status;
}

/* Say whether a committed client write erased personal data. */
bool store_clients_erased(const struct store_client_op *op)
{
	return op->erased;
}

/* Collect the possible duplicates of the client w just inserted (row cid) into res. */
static enum store_status dups_copy(struct store *st, const struct store_client_write *w,
                                   sqlite3_int64 cid, struct store_result *res)
{
	struct store_client_out out;
	enum store_status status;

	out.n_dups = 0;
	if ((status = dups_find(st, w->agency, w->dup_key, cid, &out)) == STORE_OK) {
		memcpy(res->dups, out.dups, out.n_dups * sizeof(out.dups[0]));
		res->n_dups = out.n_dups;
	}
	return status;
}

/* Make the client a referral carries (packed in r->client) a stored client of the sender,
 * with the referral's consent as its first consent row; its possible duplicates go to res. */
static enum store_status on_insert_new(struct store *st, const struct store_new_referral *r,
                                       struct store_result *res)
{
	Refex__ClientRecord *c = refex__client_record__unpack(NULL, r->client_len, r->client);
	Refex__Consent *k = NULL;
	char key[STORE_DUP_KEY_MAX];
	struct store_client_write w = {
	    .id = r->client_id,
	    .agency = r->sender,
	    .holder = r->sender_holder,
	    .at = r->created_at,
	    .record = r->client,
	    .record_len = r->client_len,
	    .name = r->client_name,
	    .dup_key = key,
	};
	sqlite3_int64 cid = 0;
	bool wrote = false;
	enum store_status status = STORE_UNAVAILABLE;

	if (c == NULL) {
		goto done;
	}
	store_client_dup_key(c, key, sizeof(key));
	if ((status = client_insert(st, &w, &cid, &wrote)) != STORE_OK ||
	    (status = dups_copy(st, &w, cid, res)) != STORE_OK ||
	    (status = audit(st, &w, "client-add", w.id)) != STORE_OK) {
		goto done;
	}
	if (r->consent != NULL && r->consent_id[0] != '\0' &&
	    (k = refex__consent__unpack(NULL, r->consent_len, r->consent)) == NULL) {
		status = STORE_UNAVAILABLE; /* never share a client without its consent row */
	} else if (k != NULL) {
		w.id = r->consent_id;
		w.to_agency = r->recipient;
		w.basis = REFEX__LAWFUL_BASIS__BASIS_CONSENT;
		w.method = k->method;
		w.purpose = k->purpose;
		if ((status = consent_insert(st, &w, cid)) == STORE_OK) {
			status = audit(st, &w, "consent-add", r->client_id);
		}
	}
done:
	if (c != NULL) {
		refex__client_record__free_unpacked(c, NULL);
	}
	if (k != NULL) {
		refex__consent__free_unpacked(k, NULL);
	}
	return status;
}

/* Say whether a live consent or other basis covers sharing client id with agency today. */
static enum store_status share_check(struct store *st, const char *id, const char *agency,
                                     int64_t now)
{
	sqlite3_stmt *s = st->sq->clients->w[CW_SHARE_OK];
	char today[11];
	int rc;

	store_day(now, today);
	rc = store_bind_text(s, 1, id) | store_bind_text(s, 2, agency) |
	     store_bind_text(s, 3, today);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	store_stmt_end(s);
	if (rc == SQLITE_ROW) {
		return STORE_OK;
	}
	return rc == SQLITE_DONE ? STORE_REFUSED : STORE_UNAVAILABLE;
}

/* Check the stored client a referral just inserted (its row names it) may be shared, making a
 * new one first for an inline client; audit the share. */
enum store_status store_clients_on_insert(struct store *st, const struct store_new_referral *r,
                                          struct store_result *res)
{
	/* Checked again here: a withdrawal committed since the handler looked must win. */
	enum store_status status = r->client_version
	                               ? share_check(st, r->client_id, r->recipient, r->created_at)
	                               : on_insert_new(st, r, res);

	if (status != STORE_OK) {
		return status;
	}
	return store_audit_append(st, &(struct store_audit){.agency = r->sender,
	                                                    .holder = r->sender_holder,
	                                                    .action = "client-share",
	                                                    .record = r->client_id,
	                                                    .at_ms = r->created_at * 1000});
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
		if ((status = erase_rows(st, got[i].cid)) == STORE_OK) {
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

/* ---- loop thread: queueing ---- */

static void op_done(enum store_status status, struct store_client_op *op)
{
	if (op->cb != NULL) {
		op->cb(status, &op->out, op->arg);
	}
	free(op);
}

/* Queue a client write for the next group commit. */
int store_client_write(struct store *st, const struct store_client_write *w, store_client_cb cb,
                       void *arg)
{
	struct store_client_op *op;
	struct store_client_write c;

	if (st == NULL || w == NULL || w->id == NULL || w->agency == NULL || w->holder == NULL ||
	    ((w->kind == SC_ADD || w->kind == SC_UPDATE) && w->record == NULL) ||
	    (w->kind == SC_CONSENT_ADD && w->client_id == NULL)) {
		return -1;
	}
	c = *w;
	const struct store_copy f[] = {
	    STORE_COPY_STR(&c.id),
	    STORE_COPY_STR(&c.client_id),
	    STORE_COPY_STR(&c.agency),
	    STORE_COPY_STR(&c.holder),
	    STORE_COPY_STR(&c.name),
	    STORE_COPY_STR(&c.dup_key),
	    STORE_COPY_STR(&c.reason),
	    STORE_COPY_STR(&c.to_agency),
	    STORE_COPY_STR(&c.purpose),
	    STORE_COPY_STR(&c.expires),
	    STORE_COPY_BLOB(&c.record, w->record_len),
	};
	op = malloc(sizeof(*op) + store_copy_size(f, sizeof(f) / sizeof(f[0])));
	if (op == NULL) {
		return -1;
	}
	memset(op, 0, sizeof(*op));
	store_copy_fields(op->data, f, sizeof(f) / sizeof(f[0]));
	op->cb = cb;
	op->arg = arg;
	op->w = c;
	if (store_job_queue_client(st, op, op_done) < 0) {
		free(op);
		return -1;
	}
	return 0;
}
