/*
 * The SQLite backend's writes (store_backend.h): the batch's transaction and
 * savepoints, and the statements under the write jobs, run by the commit queue
 * (store_queue.c) on the storage thread inside the open transaction. The steps
 * of an insert, a change, a sweep and a forms change are store_jobs.c's, the
 * same for every backend; purges are still written here whole.
 */
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "store_jobs.h"
#include "store_sqlite_private.h"

/* Closed referrals (declined, completed, withdrawn) last changed before ?1 that still hold
 * their details: read through the partial index referrals_closed, PURGE_CHUNK at a time. */
#define PURGE_CHUNK 256
#define PURGE_PICK                                                                                 \
	"SELECT rid FROM referrals WHERE state >= 4 AND purged_at IS NULL"                         \
	" AND updated_at < ?1 LIMIT " STORE_STR(PURGE_CHUNK)

/* Indexed by enum wstmt; prepared on the writer connection at open. */
const char *const store_wsql[W_COUNT] = {
    [W_BEGIN] = "BEGIN IMMEDIATE",
    [W_COMMIT] = "COMMIT",
    [W_ROLLBACK] = "ROLLBACK",
    [W_SAVE] = "SAVEPOINT job",
    [W_RELEASE] = "RELEASE job",
    [W_UNDO] = "ROLLBACK TO job",
    [W_INSERT] = "INSERT INTO referrals (id, sender, sender_holder, recipient, form, form_version,"
                 " state, created_at, updated_at, client_name, due_at, overdue_pending, parent_id,"
                 " client_id, client_version)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, nullif(?10, 0), ?11, ?12,"
                 " ?13)",
    [W_INSERT_DATA] = "INSERT INTO referral_data (rid, client, consent, form_data)"
                      " VALUES (?1, ?2, ?3, ?4)",
    [W_HISTORY] = "INSERT INTO history (referral_rid, from_state, to_state, agency, holder, at,"
                  " reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    /* Accepting, declining or withdrawing settles the due time: no overdue event is owed. */
    [W_UPDATE] = "UPDATE referrals SET state = ?1, updated_at = ?2,"
                 " overdue_pending = CASE WHEN ?1 IN (1, 2) THEN overdue_pending END"
                 " WHERE id = ?3 AND state = ?4 RETURNING rid, sender, recipient",
    [W_EXISTS] = "SELECT 1 FROM referrals WHERE id = ?1",
    /* An overdue event records the referral's last change before it (0: none yet), which
       says the state it was overdue in: its event then reads the same whenever it is read. */
    [W_EVENT] = "INSERT INTO events (agency, seq, referral_rid, kind, history_seq)"
                " VALUES (?1, ?5, ?2, ?3, CASE WHEN ?3 = 3 THEN coalesce((SELECT max(seq)"
                " FROM history WHERE referral_rid = ?2), 0) ELSE ?4 END)",
    [W_EVENT_LAST] = "SELECT max(seq) FROM events WHERE agency = ?1",
    [W_AUDIT_ADD] = "INSERT INTO audit (seq, at_ms, agency, holder, action, record, hash)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    /* A purge takes the same few hundred closed referrals in three statements: the details,
       the reasons given in their history, then the row (which takes them off the index). */
    [W_PURGE_DATA] = "DELETE FROM referral_data WHERE rid IN (" PURGE_PICK ")",
    [W_PURGE_HISTORY] = "UPDATE history SET reason = NULL WHERE referral_rid IN (" PURGE_PICK ")",
    [W_PURGE_ROWS] = "UPDATE referrals SET client_name = NULL, purged_at = ?2"
                     " WHERE rid IN (" PURGE_PICK ") RETURNING client_id",
    [W_AUDIT_LAST] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
    [W_IDEM_GET] = "SELECT digest, referral_id FROM idempotency WHERE agency = ?1 AND key = ?2",
    [W_IDEM_PUT] = "INSERT INTO idempotency (agency, key, digest, referral_id, created_at)"
                   " VALUES (?1, ?2, ?3, ?4, ?5)",
    [W_IDEM_PRUNE] = "DELETE FROM idempotency WHERE created_at < ?1",
    [W_SWEEP] = "UPDATE referrals SET overdue_pending = NULL"
                " WHERE overdue_pending IS NOT NULL AND overdue_pending <= ?1"
                " RETURNING rid, sender, recipient",
    /* New referrals are counted by the writer and added once per batch, not by a trigger per
       row (a trigger program per insert cost ~3 us of the storage thread). */
    [W_COUNT_SENT] = "INSERT INTO state_counts (state, n) VALUES (?1, ?2)"
                     " ON CONFLICT (state) DO UPDATE SET n = n + excluded.n",
    /* Form versions (store_forms.c): a version is never replaced, so an INSERT that finds one
       fails the whole change. */
    [W_FORM_ADD] = "INSERT INTO form_versions (form, version, schema, accepted_at)"
                   " VALUES (?1, ?2, ?3, ?4)",
    [W_FORM_RETIRE] = "UPDATE form_versions SET retired_at = ?2"
                      " WHERE form = ?1 AND retired_at IS NULL",
    [W_FORM_REVIVE] = "UPDATE form_versions SET retired_at = NULL WHERE form = ?1",
};

_Static_assert(REFEX__EVENT_KIND__EVENT_OVERDUE == 3, "W_EVENT names overdue events by number");

static int bind_blob(sqlite3_stmt *s, int i, const uint8_t *b, size_t len)
{
	if (b == NULL) {
		return sqlite3_bind_null(s, i);
	}
	return sqlite3_bind_blob64(s, i, b, len, SQLITE_STATIC);
}

/* ---- storage thread: the statements under the job sequences (store_jobs.c) ---- */

/* Add the change's history row; its seq goes to *seq. */
static enum store_status history_add(struct store *st, int64_t rid, const struct store_change *c,
                                     int64_t *seq)
{
	sqlite3_stmt *s = st->sq->w[W_HISTORY];
	int rc;

	sqlite3_bind_int64(s, 1, rid);
	if (c->from == REFEX__STATE__STATE_UNSPECIFIED) {
		sqlite3_bind_null(s, 2);
	} else {
		sqlite3_bind_int(s, 2, (int)c->from);
	}
	sqlite3_bind_int(s, 3, (int)c->to);
	sqlite3_bind_int64(s, 6, c->at);
	rc = store_bind_text(s, 4, c->agency) | store_bind_text(s, 5, c->holder) |
	     store_bind_text(s, 7, c->reason);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	store_stmt_end(s);
	*seq = sqlite3_last_insert_rowid(st->sq->wdb);
	return rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

/* The slot remembering agency's last event seq, claimed if new; NULL if none is free. */
static struct store_seq *seq_slot(struct store *st, const char *agency)
{
	size_t len = strlen(agency), h = 5381;

	if (len >= sizeof(st->sq->seqs[0].agency)) {
		return NULL;
	}
	for (size_t i = 0; i < len; i++) {
		h = h * 33 + (unsigned char)agency[i];
	}
	for (size_t probe = 0; probe < STORE_SEQ_SLOTS; probe++) {
		struct store_seq *slot = &st->sq->seqs[(h + probe) % STORE_SEQ_SLOTS];

		if (slot->last == 0 || strcmp(slot->agency, agency) == 0) {
			return slot;
		}
	}
	return NULL;
}

/* Forget the remembered seqs: a rollback has undone some of the events they count. */
static void seq_forget(struct store *st)
{
	memset(st->sq->seqs, 0, sizeof(st->sq->seqs));
}

/* Give agency's next event sequence number: remembered, or read once from the events table
 * (within the open transaction, so its own uncommitted events count). */
static enum store_status seq_next(struct store *st, const char *agency, uint64_t *seq)
{
	struct store_seq *slot = seq_slot(st, agency);
	sqlite3_stmt *s = st->sq->w[W_EVENT_LAST];
	int rc;

	if (slot != NULL && slot->last > 0) {
		*seq = ++slot->last;
		return STORE_OK;
	}
	rc = store_bind_text(s, 1, agency);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	*seq = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) + 1 : 0;
	store_stmt_end(s);
	if (rc != SQLITE_ROW) {
		return STORE_UNAVAILABLE;
	}
	if (slot != NULL) {
		snprintf(slot->agency, sizeof(slot->agency), "%s", agency);
		slot->last = *seq;
	}
	return STORE_OK;
}

/* Append an event for agency; its per-agency sequence number goes to *seq. */
static enum store_status event_append(struct store *st, const char *agency, int64_t rid,
                                      Refex__EventKind kind, int64_t history_seq, uint64_t *seq)
{
	sqlite3_stmt *s = st->sq->w[W_EVENT];
	int rc;

	if (seq_next(st, agency, seq) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	rc = store_bind_text(s, 1, agency);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)*seq);
	sqlite3_bind_int64(s, 2, rid);
	sqlite3_bind_int(s, 3, (int)kind);
	if (history_seq > 0) {
		sqlite3_bind_int64(s, 4, history_seq);
	} else {
		sqlite3_bind_null(s, 4);
	}
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	store_stmt_end(s);
	return rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

/* Look agency's key up with the writer's statement. */
static enum store_status idem_get(struct store *st, const char *agency,
                                  const struct store_idem *idem, char *first)
{
	return store_idem_lookup(st->sq->w[W_IDEM_GET], agency, idem, first);
}

/* Remember the key with what it did, in the write's own transaction. */
static enum store_status idem_put(struct store *st, const char *agency,
                                  const struct store_idem *idem, const char *referral_id,
                                  int64_t now)
{
	sqlite3_stmt *s = st->sq->w[W_IDEM_PUT];
	int rc;

	rc = store_bind_text(s, 1, agency) | store_bind_text(s, 2, idem->key) |
	     sqlite3_bind_blob(s, 3, idem->digest, STORE_DIGEST_LEN, SQLITE_STATIC) |
	     store_bind_text(s, 4, referral_id);
	sqlite3_bind_int64(s, 5, now);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	store_stmt_end(s);
	return rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

/* Forget keys made before `before`. */
static enum store_status idem_prune(struct store *st, int64_t before)
{
	sqlite3_stmt *s = st->sq->w[W_IDEM_PRUNE];

	sqlite3_bind_int64(s, 1, before);
	return store_step_done(s) == 0 ? STORE_OK : STORE_UNAVAILABLE;
}

/* Insert the referral's row; STORE_DUPLICATE if its id is taken. */
static enum store_status insert_row(struct store *st, const struct store_new_referral *r,
                                    int64_t *rid)
{
	sqlite3_stmt *s = st->sq->w[W_INSERT];
	int rc;

	sqlite3_bind_int64(s, 6, r->form_version);
	sqlite3_bind_int64(s, 10, r->due_at);
	sqlite3_bind_int(s, 7, REFEX__STATE__STATE_SENT);
	sqlite3_bind_int64(s, 8, r->created_at);
	rc = store_bind_text(s, 1, r->id) | store_bind_text(s, 2, r->sender) |
	     store_bind_text(s, 3, r->sender_holder) | store_bind_text(s, 4, r->recipient) |
	     store_bind_text(s, 5, r->form) | store_bind_text(s, 9, r->client_name) |
	     store_bind_text(s, 11, r->parent_id);
	if (r->client_id[0] != '\0') {
		/* A new client (version 0 here) is made at version 1 by store_clients_on_insert. */
		rc |= store_bind_text(s, 12, r->client_id);
		sqlite3_bind_int64(s, 13, r->client_version ? r->client_version : 1);
	}
	return store_step_insert(s, rc, rid);
}

/* Insert the referral's details for row rid. */
static enum store_status insert_data(struct store *st, int64_t rid,
                                     const struct store_new_referral *r)
{
	sqlite3_stmt *s = st->sq->w[W_INSERT_DATA];
	int rc;

	sqlite3_bind_int64(s, 1, rid);
	rc = bind_blob(s, 2, r->client, r->client_len) |
	     bind_blob(s, 3, r->consent, r->consent_len) |
	     bind_blob(s, 4, r->form_data, r->form_data_len);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	store_stmt_end(s);
	return rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

/* Note the inserted referral for the batch's counters: the report's cells and state_counts. */
static enum store_status inserted(struct store *st, const struct store_new_referral *r)
{
	if (store_report_note_insert(st, r) < 0) {
		return STORE_UNAVAILABLE;
	}
	st->sq->sent_added++;
	return STORE_OK;
}

/* Move the referral on if still in state c->from; row->rid stays 0 if it is not. */
static enum store_status update_state(struct store *st, const struct store_change *c,
                                      struct store_changed *row)
{
	sqlite3_stmt *s = st->sq->w[W_UPDATE];
	int rc;

	sqlite3_bind_int(s, 1, (int)c->to);
	sqlite3_bind_int64(s, 2, c->at);
	sqlite3_bind_int(s, 4, (int)c->from);
	rc = store_bind_text(s, 3, c->referral_id);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	if (rc == SQLITE_ROW) {
		row->rid = sqlite3_column_int64(s, 0);
		snprintf(row->sender, sizeof(row->sender), "%s",
		         (const char *)sqlite3_column_text(s, 1));
		snprintf(row->recipient, sizeof(row->recipient), "%s",
		         (const char *)sqlite3_column_text(s, 2));
		rc = sqlite3_step(s);
	}
	store_stmt_end(s);
	return rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

/* Say whether referral id exists. */
static enum store_status exists(struct store *st, const char *id, bool *found)
{
	sqlite3_stmt *s = st->sq->w[W_EXISTS];
	int rc = store_bind_text(s, 1, id);

	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	store_stmt_end(s);
	*found = rc == SQLITE_ROW;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

/* Collect what the sweep's UPDATE returned (RETURNING rows are computed up front). */
static int sweep_collect(sqlite3_stmt *s, struct store_overdue **list, size_t *n)
{
	size_t cap = 0;
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			struct store_overdue *grown;

			cap = cap ? cap * 2 : 16;
			if ((grown = realloc(*list, cap * sizeof(*grown))) == NULL) {
				return SQLITE_NOMEM;
			}
			*list = grown;
		}
		(*list)[*n].rid = sqlite3_column_int64(s, 0);
		snprintf((*list)[*n].sender, sizeof((*list)[*n].sender), "%s",
		         (const char *)sqlite3_column_text(s, 1));
		snprintf((*list)[*n].recipient, sizeof((*list)[*n].recipient), "%s",
		         (const char *)sqlite3_column_text(s, 2));
		(*n)++;
	}
	return rc;
}

/* Clear the due mark of what fell due by now; the referrals to *list. */
static enum store_status overdue_take(struct store *st, int64_t now, struct store_overdue **list,
                                      size_t *n)
{
	sqlite3_stmt *s = st->sq->w[W_SWEEP];
	int rc;

	sqlite3_bind_int64(s, 1, now);
	rc = sweep_collect(s, list, n);
	store_stmt_end(s);
	return rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

/* The SQLite statements under the job sequences (store_jobs.c). */
static const struct store_backend_stmts sqlite_stmts = {
    .idem_get = idem_get,
    .idem_put = idem_put,
    .idem_prune = idem_prune,
    .insert_row = insert_row,
    .insert_data = insert_data,
    .client_on_insert = store_clients_on_insert,
    .inserted = inserted,
    .update_state = update_state,
    .exists = exists,
    .history_add = history_add,
    .event_append = event_append,
    .origin_touched = NULL, /* the loop thread's readers see the changes themselves */
    .audit_add = store_audit_append,
    .overdue_take = overdue_take,
    .form_add = store_forms_add,
    .form_retire = store_forms_retire,
    .form_revive = store_forms_revive,
};

/* Make tombstones of the chunk's referrals (the last step: W_PURGE_ROWS); keep in ids (at most
 * PURGE_CHUNK, each once) the stored clients they named. */
static enum store_status purge_rows(struct store *st, int64_t before, int64_t now,
                                    char (*ids)[STORE_ID_LEN + 1], size_t *n_ids, size_t *purged)
{
	sqlite3_stmt *s = st->sq->w[W_PURGE_ROWS];
	int rc;

	*n_ids = *purged = 0;
	sqlite3_bind_int64(s, 1, before);
	sqlite3_bind_int64(s, 2, now);
	for (rc = sqlite3_step(s); rc == SQLITE_ROW; rc = sqlite3_step(s)) {
		const char *id = (const char *)sqlite3_column_text(s, 0);
		size_t i = 0;

		(*purged)++;
		while (id != NULL && i < *n_ids && strcmp(ids[i], id) != 0) {
			i++;
		}
		if (id != NULL && i == *n_ids && *n_ids < PURGE_CHUNK) {
			snprintf(ids[(*n_ids)++], STORE_ID_LEN + 1, "%s", id);
		}
	}
	store_stmt_end(s);
	return rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

/* Reduce closed referrals last changed before `before` to tombstones, and erase the stored
 * clients that leaves unheld; on the pass's last chunk, also those last changed since
 * clients_since that no referral holds (older ones were held when retention last looked, and
 * only a purge, which checks its own, can free them). */
static enum store_status job_purge(struct store *st, int64_t before, int64_t clients_since,
                                   int64_t now, struct store_result *res, bool *partial)
{
	static const enum wstmt steps[] = {W_PURGE_DATA, W_PURGE_HISTORY};
	char ids[PURGE_CHUNK][STORE_ID_LEN + 1];
	size_t n_ids = 0, erased = 0;
	enum store_status status = STORE_OK;

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		sqlite3_bind_int64(st->sq->w[steps[i]], 1, before);
		if (store_step_done(st->sq->w[steps[i]]) < 0) {
			*partial = i > 0;
			return STORE_UNAVAILABLE;
		}
	}
	status = purge_rows(st, before, now, ids, &n_ids, &res->purged);
	for (size_t i = 0; status == STORE_OK && i < n_ids; i++) {
		status = store_clients_purge_one(st, ids[i], before, now, &erased);
		res->purged_clients += erased;
	}
	if (status == STORE_OK && res->purged < PURGE_CHUNK) {
		status = store_clients_purge(st, before, clients_since, now, &erased);
		res->purged_clients += erased;
		res->clients_checked = status == STORE_OK && erased < STORE_CLIENTS_PURGE_MAX;
	}
	*partial = status != STORE_OK;
	return status;
}

static int counts_flush(struct store *st)
{
	sqlite3_stmt *s = st->sq->w[W_COUNT_SENT];

	if (st->sq->sent_added == 0) {
		return 0;
	}
	sqlite3_bind_int(s, 1, REFEX__STATE__STATE_SENT);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)st->sq->sent_added);
	st->sq->sent_added = 0;
	return store_step_done(s);
}

/* ---- the transaction (store_backend.h) ---- */

/* Start a batch's transaction. */
static int store_sqlite_begin(struct store *st)
{
	st->sq->sent_added = 0;
	store_report_forget(st);
	return store_step_done(st->sq->w[W_BEGIN]);
}

/* Add the batch's counters and commit (durable: WAL, synchronous=FULL). */
static int store_sqlite_commit(struct store *st)
{
	if ((counts_flush(st) | store_report_flush(st)) != 0) {
		return -1;
	}
	return store_step_done(st->sq->w[W_COMMIT]);
}

/* Roll back what is still open and forget the cached seqs and audit tail; return the error. */
static int store_sqlite_rollback(struct store *st)
{
	int rc = sqlite3_extended_errcode(st->sq->wdb); /* before the rollback sets its own */

	if (!sqlite3_get_autocommit(st->sq->wdb)) {
		store_step_done(st->sq->w[W_ROLLBACK]);
	}
	seq_forget(st);
	store_audit_forget(st);
	return rc;
}

/* Open a savepoint for one job. */
static int store_sqlite_save(struct store *st)
{
	return store_step_done(st->sq->w[W_SAVE]);
}

/* A job failed: the undo takes back events and audit entries it counted. */
static int store_sqlite_undo(struct store *st, bool partial)
{
	seq_forget(st);
	store_audit_forget(st);
	return partial ? store_step_done(st->sq->w[W_UNDO]) : 0;
}

/* Release the job's savepoint; -1 if SQLite rolled the whole transaction back. */
static int store_sqlite_release(struct store *st)
{
	if (store_step_done(st->sq->w[W_RELEASE]) < 0 || sqlite3_get_autocommit(st->sq->wdb)) {
		return -1; /* SQLite rolled the whole transaction back (I/O error, disk full) */
	}
	return 0;
}

/* Say whether SQLite ended the transaction on its own (I/O error, disk full). */
static bool store_sqlite_aborted(struct store *st)
{
	return sqlite3_get_autocommit(st->sq->wdb);
}

/* Copy everything into the database file and empty the WAL: its old frames still hold what was
 * erased. */
static void store_sqlite_scrub(struct store *st)
{
	sqlite3_wal_checkpoint_v2(st->sq->wdb, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
}

/* The SQLite backend: one file, a writer connection on the storage thread, a reader on the loop
 * thread. */
const struct store_backend store_sqlite_backend = {
    .name = "sqlite",
    .open = store_sqlite_open,
    .close = store_sqlite_close,
    .begin = store_sqlite_begin,
    .commit = store_sqlite_commit,
    .rollback = store_sqlite_rollback,
    .save = store_sqlite_save,
    .undo = store_sqlite_undo,
    .release = store_sqlite_release,
    .aborted = store_sqlite_aborted,
    .scrub = store_sqlite_scrub,
    .errstr = sqlite3_errstr,
    .stmts = &sqlite_stmts,
    .write =
        {
            .audit = store_audit_append,
            .purge = job_purge,
            .client = store_clients_exec,
        },
    .read =
        {
            .get = store_sqlite_get,
            .list = store_sqlite_list,
            .events = store_sqlite_events,
            .event_range = store_sqlite_event_range,
            .sender_of = store_sqlite_sender_of,
            .next_due = store_sqlite_next_due,
            .idem_find = store_sqlite_idem_find,
            .count_states = store_sqlite_count_states,
            .purge_due = store_sqlite_purge_due,
            .audit_list = store_sqlite_audit_list,
            .form_versions = store_sqlite_form_versions,
            .client_get = store_sqlite_client_get,
            .client_list = store_sqlite_client_list,
            .consent_list = store_sqlite_consent_list,
            .report_read = store_sqlite_report_read,
        },
};
