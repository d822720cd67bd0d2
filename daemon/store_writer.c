/*
 * The write side of the SQLite store: write jobs (each request copied into one
 * allocation), the queue, the storage thread that commits them in groups (one
 * transaction per batch, retried with a savepoint per job if one fails), and
 * the completions handed back to the loop thread. What each kind of job does
 * (inside the transaction, after commit, after a failure, back on the loop) is
 * one row of job_types.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "store_sqlite_private.h"

#define STORE_BATCH_MAX 4096      /* jobs per transaction: bounds WAL growth and latency */
#define STORE_BLOB_MAX  (1 << 30) /* SQLite's own length limit is just under this */
#define STORE_KEY_DAYS  7         /* idempotency keys are kept at least this long */

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

enum job_kind { JOB_INSERT, JOB_CHANGE, JOB_SWEEP, JOB_AUDIT, JOB_PURGE, JOB_CLIENT, JOB_FORMS };

/* A job the loop thread waits for (store_job_run_forms): set under mu when it has finished. */
struct job_sync {
	bool done;
	enum store_status status;
};

/* One queued write: the request's copy lives in data, right after the struct. */
struct job {
	struct job *next;
	enum job_kind kind;
	enum store_status status;
	struct store_result res;
	store_done_cb cb;
	void *arg;
	struct job_sync *sync; /* NULL: nobody waits; the callback, if any, says it is done */
	union {
		struct store_new_referral ins;
		struct store_change chg;
		int64_t now;              /* JOB_SWEEP */
		struct store_audit audit; /* JOB_AUDIT */
		struct {
			int64_t before, clients_since, now;
		} purge; /* JOB_PURGE */
		struct {
			struct store_client_op *op;
			void (*done)(enum store_status, struct store_client_op *);
		} client;                               /* JOB_CLIENT (store_clients.c) */
		const struct store_forms_change *forms; /* JOB_FORMS: the waiting caller's */
	} u;
	char data[];
};

static int bind_blob(sqlite3_stmt *s, int i, const uint8_t *b, size_t len)
{
	if (b == NULL) {
		return sqlite3_bind_null(s, i);
	}
	return sqlite3_bind_blob64(s, i, b, len, SQLITE_STATIC);
}

/* ---- storage thread ---- */

static enum store_status history_add(struct store *st, sqlite3_int64 rid,
                                     const struct store_change *c, sqlite3_int64 *seq)
{
	sqlite3_stmt *s = st->w[W_HISTORY];
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
	*seq = sqlite3_last_insert_rowid(st->wdb);
	return rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

/* The slot remembering agency's last event seq, claimed if new; NULL if none is free. */
static struct store_seq *seq_slot(struct store *st, const char *agency)
{
	size_t len = strlen(agency), h = 5381;

	if (len >= sizeof(st->seqs[0].agency)) {
		return NULL;
	}
	for (size_t i = 0; i < len; i++) {
		h = h * 33 + (unsigned char)agency[i];
	}
	for (size_t probe = 0; probe < STORE_SEQ_SLOTS; probe++) {
		struct store_seq *slot = &st->seqs[(h + probe) % STORE_SEQ_SLOTS];

		if (slot->last == 0 || strcmp(slot->agency, agency) == 0) {
			return slot;
		}
	}
	return NULL;
}

/* Forget the remembered seqs: a rollback has undone some of the events they count. */
static void seq_forget(struct store *st)
{
	memset(st->seqs, 0, sizeof(st->seqs));
}

/* Give agency's next event sequence number: remembered, or read once from the events table
 * (within the open transaction, so its own uncommitted events count). */
static enum store_status seq_next(struct store *st, const char *agency, uint64_t *seq)
{
	struct store_seq *slot = seq_slot(st, agency);
	sqlite3_stmt *s = st->w[W_EVENT_LAST];
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
static enum store_status event_append(struct store *st, const char *agency, sqlite3_int64 rid,
                                      Refex__EventKind kind, sqlite3_int64 history_seq,
                                      uint64_t *seq)
{
	sqlite3_stmt *s = st->w[W_EVENT];
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

/* Append the event to both parties (once if an agency refers to itself). */
static enum store_status events_add(struct store *st, const char *sender, const char *recipient,
                                    sqlite3_int64 rid, Refex__EventKind kind,
                                    sqlite3_int64 history_seq, struct store_result *res)
{
	if (event_append(st, sender, rid, kind, history_seq, &res->sender_seq) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	if (strcmp(sender, recipient) == 0) {
		res->recipient_seq = res->sender_seq;
		return STORE_OK;
	}
	return event_append(st, recipient, rid, kind, history_seq, &res->recipient_seq);
}

/* Look the idempotency key up: a repeat fills res, another request's key is refused. */
static enum store_status idem_check(struct store *st, const char *agency,
                                    const struct store_idem *idem, struct store_result *res)
{
	enum store_status status;

	if (idem->key == NULL) {
		return STORE_OK;
	}
	status = store_idem_lookup(st->w[W_IDEM_GET], agency, idem, res->referral_id);
	if (status == STORE_OK) {
		res->repeat = true;
	}
	return status == STORE_NOT_FOUND ? STORE_OK : status;
}

/* Remember the key with what it did, in the write's own transaction. */
static enum store_status idem_put(struct store *st, const char *agency,
                                  const struct store_idem *idem, const char *referral_id,
                                  int64_t now)
{
	sqlite3_stmt *s = st->w[W_IDEM_PUT];
	int rc;

	if (idem->key == NULL) {
		return STORE_OK;
	}
	rc = store_bind_text(s, 1, agency) | store_bind_text(s, 2, idem->key) |
	     sqlite3_bind_blob(s, 3, idem->digest, STORE_DIGEST_LEN, SQLITE_STATIC) |
	     store_bind_text(s, 4, referral_id);
	sqlite3_bind_int64(s, 5, now);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	store_stmt_end(s);
	return rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

/*
 * The job functions fail "cleanly" (their first statement failed, which SQLite
 * undid on its own) or set *partial: a later statement failed after an earlier
 * one had written, and only a savepoint (or the whole transaction) can undo it.
 */
static enum store_status job_insert(struct store *st, const struct store_new_referral *r,
                                    struct store_result *res, bool *partial)
{
	sqlite3_stmt *s = st->w[W_INSERT];
	enum store_status status = idem_check(st, r->sender, &r->idem, res);
	sqlite3_int64 rid;
	int rc;

	if (status != STORE_OK || res->repeat) {
		return status;
	}
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
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	store_stmt_end(s);
	if (rc == SQLITE_CONSTRAINT_UNIQUE) {
		return STORE_DUPLICATE;
	}
	if (rc != SQLITE_DONE) {
		return STORE_UNAVAILABLE;
	}
	rid = sqlite3_last_insert_rowid(st->wdb);
	snprintf(res->referral_id, sizeof(res->referral_id), "%s", r->id);
	s = st->w[W_INSERT_DATA];
	sqlite3_bind_int64(s, 1, rid);
	rc = bind_blob(s, 2, r->client, r->client_len) |
	     bind_blob(s, 3, r->consent, r->consent_len) |
	     bind_blob(s, 4, r->form_data, r->form_data_len);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	store_stmt_end(s);
	status = rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
	if (status == STORE_OK && r->client_id[0] != '\0') {
		status = store_clients_on_insert(st, r, res);
	}
	if (status == STORE_OK) {
		status = events_add(st, r->sender, r->recipient, rid,
		                    REFEX__EVENT_KIND__EVENT_SUBMITTED, 0, res);
	}
	if (status == STORE_OK) {
		status = idem_put(st, r->sender, &r->idem, r->id, r->created_at);
	}
	if (status == STORE_OK) {
		status =
		    store_audit_append(st, &(struct store_audit){.agency = r->sender,
		                                                 .holder = r->sender_holder,
		                                                 .action = "submit",
		                                                 .record = r->id,
		                                                 .at_ms = r->created_at * 1000});
	}
	/* The referral row is in: a failure now must undo it (the batch reruns with savepoints). */
	if (status == STORE_OK && store_report_note_insert(st, r) < 0) {
		status = STORE_UNAVAILABLE;
	}
	*partial = status != STORE_OK;
	st->sent_added += status == STORE_OK;
	return status;
}

/* Tell a change that matched no row apart: no such referral, or it moved on. */
static enum store_status change_missed(struct store *st, const char *id)
{
	sqlite3_stmt *s = st->w[W_EXISTS];
	int rc = store_bind_text(s, 1, id);

	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	store_stmt_end(s);
	if (rc == SQLITE_ROW) {
		return STORE_CONFLICT;
	}
	return rc == SQLITE_DONE ? STORE_NOT_FOUND : STORE_UNAVAILABLE;
}

/* The audit action of a change to state to. */
static const char *change_action(Refex__State to)
{
	switch (to) {
	case REFEX__STATE__STATE_RECEIVED:
		return "receive";
	case REFEX__STATE__STATE_ACCEPTED:
		return "accept";
	case REFEX__STATE__STATE_DECLINED:
		return "decline";
	case REFEX__STATE__STATE_COMPLETED:
		return "complete";
	case REFEX__STATE__STATE_WITHDRAWN:
		return "withdraw";
	default:
		return "change";
	}
}

static enum store_status job_change(struct store *st, const struct store_change *c,
                                    struct store_result *res, bool *partial)
{
	sqlite3_stmt *s = st->w[W_UPDATE];
	enum store_status status = idem_check(st, c->agency, &c->idem, res);
	sqlite3_int64 rid = 0, hseq = 0;
	char sender[128] = "", recipient[128] = "";
	bool hit = false;
	int rc;

	if (status != STORE_OK || res->repeat) {
		return status;
	}
	snprintf(res->referral_id, sizeof(res->referral_id), "%s", c->referral_id);
	sqlite3_bind_int(s, 1, (int)c->to);
	sqlite3_bind_int64(s, 2, c->at);
	sqlite3_bind_int(s, 4, (int)c->from);
	rc = store_bind_text(s, 3, c->referral_id);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	if (rc == SQLITE_ROW) {
		hit = true;
		rid = sqlite3_column_int64(s, 0);
		snprintf(sender, sizeof(sender), "%s", (const char *)sqlite3_column_text(s, 1));
		snprintf(recipient, sizeof(recipient), "%s",
		         (const char *)sqlite3_column_text(s, 2));
		rc = sqlite3_step(s);
	}
	store_stmt_end(s);
	if (rc != SQLITE_DONE) {
		return STORE_UNAVAILABLE;
	}
	if (!hit) {
		return change_missed(st, c->referral_id);
	}
	status = history_add(st, rid, c, &hseq);
	if (status == STORE_OK) {
		status = events_add(st, sender, recipient, rid, REFEX__EVENT_KIND__EVENT_CHANGED,
		                    hseq, res);
	}
	if (status == STORE_OK) {
		status = idem_put(st, c->agency, &c->idem, c->referral_id, c->at);
	}
	if (status == STORE_OK) {
		status =
		    store_audit_append(st, &(struct store_audit){.agency = c->agency,
		                                                 .holder = c->holder,
		                                                 .action = change_action(c->to),
		                                                 .record = c->referral_id,
		                                                 .at_ms = c->at * 1000});
	}
	*partial = status != STORE_OK;
	return status;
}

/* One referral the sweep found overdue: its row id and parties. */
struct overdue {
	sqlite3_int64 rid;
	char sender[128], recipient[128];
};

/* Collect what the sweep's UPDATE returned (RETURNING rows are computed up front). */
static int sweep_collect(sqlite3_stmt *s, struct overdue **list, size_t *n)
{
	size_t cap = 0;
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			struct overdue *grown;

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

/* Mark what fell due by now as overdue, with an event for each party; prune old keys. */
static enum store_status job_sweep(struct store *st, int64_t now, struct store_result *res,
                                   bool *partial)
{
	sqlite3_stmt *s = st->w[W_SWEEP];
	struct overdue *list = NULL;
	enum store_status status = STORE_OK;
	size_t n = 0;
	int rc;

	sqlite3_bind_int64(s, 1, now);
	rc = sweep_collect(s, &list, &n);
	store_stmt_end(s);
	if (rc != SQLITE_DONE) {
		status = STORE_UNAVAILABLE;
	}
	for (size_t i = 0; status == STORE_OK && i < n; i++) {
		status = events_add(st, list[i].sender, list[i].recipient, list[i].rid,
		                    REFEX__EVENT_KIND__EVENT_OVERDUE, 0, res);
	}
	free(list);
	if (status == STORE_OK) {
		s = st->w[W_IDEM_PRUNE];
		sqlite3_bind_int64(s, 1, now - STORE_KEY_DAYS * 86400);
		status = store_step_done(s) == 0 ? STORE_OK : STORE_UNAVAILABLE;
	}
	res->overdue = status == STORE_OK ? n : 0;
	*partial = status != STORE_OK;
	return status;
}

/* Make tombstones of the chunk's referrals (the last step: W_PURGE_ROWS); keep in ids (at most
 * PURGE_CHUNK, each once) the stored clients they named. */
static enum store_status purge_rows(struct store *st, int64_t before, int64_t now,
                                    char (*ids)[STORE_ID_LEN + 1], size_t *n_ids, size_t *purged)
{
	sqlite3_stmt *s = st->w[W_PURGE_ROWS];
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
		sqlite3_bind_int64(st->w[steps[i]], 1, before);
		if (store_step_done(st->w[steps[i]]) < 0) {
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

/* ---- the kinds of job ---- */

static enum store_status exec_insert(struct store *st, struct job *j, bool *partial)
{
	return job_insert(st, &j->u.ins, &j->res, partial);
}

static enum store_status exec_change(struct store *st, struct job *j, bool *partial)
{
	return job_change(st, &j->u.chg, &j->res, partial);
}

static enum store_status exec_sweep(struct store *st, struct job *j, bool *partial)
{
	return job_sweep(st, j->u.now, &j->res, partial);
}

static enum store_status exec_audit(struct store *st, struct job *j, bool *partial)
{
	(void)partial; /* one statement: it fails whole */
	return store_audit_append(st, &j->u.audit);
}

static enum store_status exec_purge(struct store *st, struct job *j, bool *partial)
{
	return job_purge(st, j->u.purge.before, j->u.purge.clients_since, j->u.purge.now, &j->res,
	                 partial);
}

static enum store_status exec_client(struct store *st, struct job *j, bool *partial)
{
	return store_clients_exec(st, j->u.client.op, partial);
}

static enum store_status exec_forms(struct store *st, struct job *j, bool *partial)
{
	return store_forms_exec(st, j->u.forms, partial);
}

/* A committed purge that reduced something, or a client's erasure: the WAL still holds it. */
static bool erased_purge(const struct job *j)
{
	return j->res.purged + j->res.purged_clients > 0;
}

static bool erased_client(const struct job *j)
{
	return store_clients_erased(j->u.client.op);
}

/* The audit entry of a read that could not be stored: the log is then its only record (ids and
 * the action, not the holder's name). */
static void lost_audit(const struct job *j)
{
	log_error("msg=\"audit entry not stored\" agency=%s action=%s referral=%s at_ms=%lld",
	          j->u.audit.agency, j->u.audit.action, j->u.audit.record,
	          (long long)j->u.audit.at_ms);
}

/* Run the job's callback, if it has one. */
static void done_cb(struct job *j)
{
	if (j->cb != NULL) {
		j->cb(j->status, &j->res, j->arg);
	}
}

static void done_client(struct job *j)
{
	j->u.client.done(j->status, j->u.client.op);
}

/*
 * What each kind of job does: exec inside the batch's transaction (setting *partial when a
 * savepoint must undo what it wrote), erased after the batch committed (true: it erased
 * personal data, the WAL must be emptied; NULL: never), lost after its write failed or was
 * rolled back (NULL: nothing to say), and done on the loop thread once it is finished.
 */
static const struct job_type {
	enum store_status (*exec)(struct store *st, struct job *j, bool *partial);
	bool (*erased)(const struct job *j);
	void (*lost)(const struct job *j);
	void (*done)(struct job *j);
} job_types[] = {
    [JOB_INSERT] = {exec_insert, NULL, NULL, done_cb},
    [JOB_CHANGE] = {exec_change, NULL, NULL, done_cb},
    [JOB_SWEEP] = {exec_sweep, NULL, NULL, done_cb},
    [JOB_AUDIT] = {exec_audit, NULL, lost_audit, done_cb},
    [JOB_PURGE] = {exec_purge, erased_purge, NULL, done_cb},
    [JOB_CLIENT] = {exec_client, erased_client, NULL, done_client},
    [JOB_FORMS] = {exec_forms, NULL, NULL, done_cb},
};

static enum store_status job_exec(struct store *st, struct job *j, bool *partial)
{
	*partial = false;
	memset(&j->res, 0, sizeof(j->res));
	return job_types[j->kind].exec(st, j, partial);
}

/* Run one job in its own savepoint; -1 if the batch's transaction can no longer commit. */
static int job_run_isolated(struct store *st, struct job *j)
{
	bool partial;

	if (store_step_done(st->w[W_SAVE]) < 0) {
		j->status = STORE_UNAVAILABLE;
		return -1;
	}
	j->status = job_exec(st, j, &partial);
	if (partial || j->status != STORE_OK) {
		seq_forget(st); /* the undo takes back events and audit entries this job counted */
		store_audit_forget(st);
	}
	if (partial) {
		if (store_step_done(st->w[W_UNDO]) < 0) {
			return -1; /* releasing now would commit half a job */
		}
	}
	if (store_step_done(st->w[W_RELEASE]) < 0 || sqlite3_get_autocommit(st->wdb)) {
		return -1; /* SQLite rolled the whole transaction back (I/O error, disk full) */
	}
	return 0;
}

/*
 * Run one job without a savepoint: a savepoint per job costs about a third of
 * the write throughput. Expected outcomes (duplicate, not found, conflict)
 * leave nothing to undo; anything else returns -1 and the batch is redone
 * with savepoints.
 */
static int job_run_fast(struct store *st, struct job *j)
{
	bool partial;

	j->status = job_exec(st, j, &partial);
	if (partial || j->status == STORE_UNAVAILABLE || sqlite3_get_autocommit(st->wdb)) {
		return -1;
	}
	return 0;
}

/* Add the referrals this transaction inserted to their state's count. */
static int counts_flush(struct store *st)
{
	sqlite3_stmt *s = st->w[W_COUNT_SENT];

	if (st->sent_added == 0) {
		return 0;
	}
	sqlite3_bind_int(s, 1, REFEX__STATE__STATE_SENT);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)st->sent_added);
	st->sent_added = 0;
	return store_step_done(s);
}

/* Run a batch in one transaction and commit it; -1 (rolled back) if that failed. */
static int batch_try(struct store *st, struct job *batch, bool isolated, int *rc)
{
	struct job *j;
	int ok = store_step_done(st->w[W_BEGIN]);

	st->sent_added = 0;
	store_report_forget(st);
	for (j = batch; ok == 0 && j != NULL; j = j->next) {
		ok = isolated ? job_run_isolated(st, j) : job_run_fast(st, j);
	}
	if (ok == 0) {
		ok = counts_flush(st) | store_report_flush(st);
	}
	if (ok == 0 && store_step_done(st->w[W_COMMIT]) == 0) {
		atomic_fetch_add(&st->commits, 1);
		return 0;
	}
	*rc = sqlite3_extended_errcode(st->wdb); /* before the rollback sets its own */
	if (!sqlite3_get_autocommit(st->wdb)) {
		store_step_done(st->w[W_ROLLBACK]);
	}
	seq_forget(st);
	store_audit_forget(st);
	return -1;
}

/* After a purge or a client's erasure has committed, copy everything into the database file and
 * empty the WAL: the old frames still hold what was erased. */
static void batch_scrub(struct store *st, const struct job *batch)
{
	for (const struct job *j = batch; j != NULL; j = j->next) {
		if (j->status == STORE_OK && job_types[j->kind].erased != NULL &&
		    job_types[j->kind].erased(j)) {
			sqlite3_wal_checkpoint_v2(st->wdb, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
			                          NULL);
			return;
		}
	}
}

/* Say what is lost of each job of the batch that did not commit. */
static void batch_lost(const struct job *batch)
{
	for (const struct job *j = batch; j != NULL; j = j->next) {
		if (j->status != STORE_OK && job_types[j->kind].lost != NULL) {
			job_types[j->kind].lost(j);
		}
	}
}

/* Commit a batch, setting every job's status: one job's failure costs only that job. A batch
 * that cannot commit at all (disk full, I/O error) was rolled back whole: the connection is
 * usable again and the next batch tries afresh, so writes resume when the disk does. */
static void batch_run(struct store *st, struct job *batch)
{
	double start = metrics_now();
	size_t n = 0;
	int rc = SQLITE_OK;

	if (batch_try(st, batch, false, &rc) == 0 || batch_try(st, batch, true, &rc) == 0) {
		metrics_commit_seconds(metrics_now() - start);
		store_health_ok(st);
		batch_scrub(st, batch);
		batch_lost(batch);
		return;
	}
	for (struct job *j = batch; j != NULL; j = j->next) {
		j->status = STORE_UNAVAILABLE;
		n++;
	}
	store_health_failed(st, rc, n);
	batch_lost(batch);
}

/* Wait for jobs and take up to a batch of them; NULL once closing and drained. */
static struct job *queue_take(struct store *st)
{
	struct job *head, *last;
	size_t n = 1;

	pthread_mutex_lock(&st->mu);
	while (st->queue == NULL && !st->closing) {
		pthread_cond_wait(&st->cv, &st->mu);
	}
	head = st->queue;
	if (head != NULL) {
		for (last = head; last->next != NULL && n < STORE_BATCH_MAX; last = last->next) {
			n++;
		}
		st->queue = last->next;
		if (st->queue == NULL) {
			st->queue_tail = &st->queue;
		}
		last->next = NULL;
	}
	pthread_mutex_unlock(&st->mu);
	return head;
}

/* Hand a committed batch to the loop, waking it unless a wake-up is already on its way. */
static void done_push(struct store *st, struct job *batch)
{
	struct job *last = batch;
	bool wake;
	ssize_t n;

	while (last->next != NULL) {
		last = last->next;
	}
	pthread_mutex_lock(&st->mu);
	for (struct job *j = batch; j != NULL; j = j->next) {
		if (j->sync != NULL) {
			j->sync->status = j->status;
			j->sync->done = true;
			pthread_cond_broadcast(&st->synced);
		}
	}
	*st->done_tail = batch;
	st->done_tail = &last->next;
	wake = !st->woken;
	st->woken = true;
	pthread_mutex_unlock(&st->mu);
	if (wake) {
		do {
			n = write(st->wake[1], "", 1);
		} while (n < 0 && errno == EINTR);
	}
}

/* Run the storage thread: commit queued batches until closing and drained. */
void *store_thread(void *arg)
{
	struct store *st = arg;
	struct job *batch;

	while ((batch = queue_take(st)) != NULL) {
		batch_run(st, batch);
		done_push(st, batch);
	}
	return NULL;
}

/* ---- loop thread: completions ---- */

/* Move the staged jobs to the storage thread's queue, waking it if it sleeps. */
void store_jobs_hand_over(struct store *st)
{
	bool was_empty;

	if (st->staged == NULL) {
		return;
	}
	pthread_mutex_lock(&st->mu);
	/* The thread only sleeps on an empty queue; otherwise it will find these jobs anyway. */
	was_empty = st->queue == NULL;
	*st->queue_tail = st->staged;
	st->queue_tail = st->staged_tail;
	if (was_empty) {
		pthread_cond_signal(&st->cv);
	}
	pthread_mutex_unlock(&st->mu);
	st->staged = NULL;
	st->staged_tail = &st->staged;
}

/* Hand this loop turn's staged jobs to the storage thread (the hand-over event). */
void store_on_handoff(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	store_jobs_hand_over(arg);
}

static struct job *done_take(struct store *st)
{
	struct job *list;

	pthread_mutex_lock(&st->mu);
	list = st->done;
	st->done = NULL;
	st->done_tail = &st->done;
	st->woken = false;
	pthread_mutex_unlock(&st->mu);
	return list;
}

static void jobs_complete(struct store *st, struct job *list)
{
	struct job *next;

	for (; list != NULL; list = next) {
		next = list->next;
		st->pending--;
		job_types[list->kind].done(list);
		free(list);
	}
}

/* Run the callbacks of committed jobs when the storage thread's wake-up arrives. */
void store_on_done(evutil_socket_t fd, short what, void *arg)
{
	struct store *st = arg;
	char buf[64];

	(void)what;
	/* Drain before taking the list: a wake-up written after the take must stay readable. */
	while (read(fd, buf, sizeof(buf)) > 0) {
	}
	jobs_complete(st, done_take(st));
}

/* Run the callbacks of every job the storage thread has finished, and free the jobs. */
void store_jobs_finish(struct store *st)
{
	jobs_complete(st, done_take(st));
}

/* ---- queueing writes ---- */

/* Bytes a copy of s takes in a job's data (0 for NULL). */
size_t store_str_size(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

/* Copy s (NULL stays NULL) to *p, a job's data, and move *p past it. */
const char *store_copy_str(char **p, const char *s)
{
	char *out = *p;
	size_t n = store_str_size(s);

	if (s == NULL) {
		return NULL;
	}
	memcpy(out, s, n);
	*p += n;
	return out;
}

static const uint8_t *copy_blob(char **p, const uint8_t *b, size_t len)
{
	uint8_t *out = (uint8_t *)*p;

	if (b == NULL) {
		return NULL;
	}
	memcpy(out, b, len);
	*p += len;
	return out;
}

static struct job *job_new(enum job_kind kind, size_t extra, store_done_cb cb, void *arg)
{
	struct job *j = malloc(sizeof(*j) + extra);

	if (j != NULL) {
		j->next = NULL;
		j->kind = kind;
		j->status = STORE_UNAVAILABLE;
		j->cb = cb;
		j->arg = arg;
		j->sync = NULL;
	}
	return j;
}

static int job_queue(struct store *st, struct job *j)
{
	if (st->closing_loop) {
		free(j);
		return -1;
	}
	/* Stage the job; the hand-over runs after every callback already active in this loop
	 * turn, so a commit starts with the whole burst of requests instead of its first. */
	*st->staged_tail = j;
	st->staged_tail = &j->next;
	if (!event_pending(st->handoff_ev, EV_TIMEOUT, NULL)) {
		event_active(st->handoff_ev, EV_TIMEOUT, 0);
	}
	st->pending++;
	return 0;
}

static size_t blob_size(const uint8_t *b, size_t len)
{
	return b ? len : 0;
}

static size_t idem_size(const struct store_idem *idem)
{
	return idem->key ? store_str_size(idem->key) + STORE_DIGEST_LEN : 0;
}

static int idem_valid(const struct store_idem *idem)
{
	return idem->key == NULL || (idem->digest != NULL && strlen(idem->key) >= 1 &&
	                             strlen(idem->key) <= STORE_KEY_MAX);
}

static void idem_copy(char **p, struct store_idem *to, const struct store_idem *from)
{
	if (from->key == NULL) {
		*to = (struct store_idem){0};
		return;
	}
	to->key = store_copy_str(p, from->key);
	to->digest = copy_blob(p, from->digest, STORE_DIGEST_LEN);
}

/* Queue a referral, with its first history entry (-> sent), for the next group commit. */
int store_insert(struct store *st, const struct store_new_referral *r, store_done_cb cb, void *arg)
{
	struct store_new_referral *c;
	struct job *j;
	char *p;

	if (st == NULL || r == NULL || r->id == NULL || r->sender == NULL ||
	    r->sender_holder == NULL || r->recipient == NULL || r->form == NULL ||
	    blob_size(r->client, r->client_len) > STORE_BLOB_MAX ||
	    blob_size(r->consent, r->consent_len) > STORE_BLOB_MAX ||
	    blob_size(r->form_data, r->form_data_len) > STORE_BLOB_MAX || !idem_valid(&r->idem)) {
		return -1;
	}
	j = job_new(JOB_INSERT,
	            store_str_size(r->id) + store_str_size(r->sender) +
	                store_str_size(r->sender_holder) + store_str_size(r->recipient) +
	                store_str_size(r->form) + store_str_size(r->client_name) +
	                store_str_size(r->parent_id) + blob_size(r->client, r->client_len) +
	                blob_size(r->consent, r->consent_len) +
	                blob_size(r->form_data, r->form_data_len) + idem_size(&r->idem),
	            cb, arg);
	if (j == NULL) {
		return -1;
	}
	c = &j->u.ins;
	p = j->data;
	*c = *r;
	c->id = store_copy_str(&p, r->id);
	c->sender = store_copy_str(&p, r->sender);
	c->sender_holder = store_copy_str(&p, r->sender_holder);
	c->recipient = store_copy_str(&p, r->recipient);
	c->form = store_copy_str(&p, r->form);
	c->client_name = store_copy_str(&p, r->client_name);
	c->parent_id = store_copy_str(&p, r->parent_id);
	c->client = copy_blob(&p, r->client, r->client_len);
	c->consent = copy_blob(&p, r->consent, r->consent_len);
	c->form_data = copy_blob(&p, r->form_data, r->form_data_len);
	idem_copy(&p, &c->idem, &r->idem);
	return job_queue(st, j);
}

/* Queue a conditional state change with its history entry for the next group commit. */
int store_change_state(struct store *st, const struct store_change *c, store_done_cb cb, void *arg)
{
	struct store_change *k;
	struct job *j;
	char *p;

	if (st == NULL || c == NULL || c->referral_id == NULL || c->agency == NULL ||
	    c->holder == NULL || !idem_valid(&c->idem)) {
		return -1;
	}
	j = job_new(JOB_CHANGE,
	            store_str_size(c->referral_id) + store_str_size(c->agency) +
	                store_str_size(c->holder) + store_str_size(c->reason) + idem_size(&c->idem),
	            cb, arg);
	if (j == NULL) {
		return -1;
	}
	k = &j->u.chg;
	p = j->data;
	*k = *c;
	k->referral_id = store_copy_str(&p, c->referral_id);
	k->agency = store_copy_str(&p, c->agency);
	k->holder = store_copy_str(&p, c->holder);
	k->reason = store_copy_str(&p, c->reason);
	idem_copy(&p, &k->idem, &c->idem);
	return job_queue(st, j);
}

/* Queue an audit entry for a read; it commits with the next group commit. */
int store_audit_read(struct store *st, const struct store_audit *a)
{
	struct store_audit *k;
	struct job *j;
	char *p;

	if (st == NULL || a == NULL || a->agency == NULL || a->holder == NULL ||
	    a->action == NULL || a->record == NULL) {
		return -1;
	}
	j = job_new(JOB_AUDIT,
	            store_str_size(a->agency) + store_str_size(a->holder) +
	                store_str_size(a->action) + store_str_size(a->record),
	            NULL, NULL);
	if (j == NULL) {
		return -1;
	}
	k = &j->u.audit;
	p = j->data;
	*k = *a;
	k->agency = store_copy_str(&p, a->agency);
	k->holder = store_copy_str(&p, a->holder);
	k->action = store_copy_str(&p, a->action);
	k->record = store_copy_str(&p, a->record);
	return job_queue(st, j);
}

/* Queue a purge of closed referrals last changed before `before`. */
int store_purge_closed(struct store *st, int64_t before, int64_t clients_since, int64_t now,
                       store_done_cb cb, void *arg)
{
	struct job *j;

	if (st == NULL || (j = job_new(JOB_PURGE, 0, cb, arg)) == NULL) {
		return -1;
	}
	j->u.purge.before = before;
	j->u.purge.clients_since = clients_since;
	j->u.purge.now = now;
	return job_queue(st, j);
}

/* Queue op as a write job; done(status, op) runs on the loop thread. */
int store_job_queue_client(struct store *st, struct store_client_op *op,
                           void (*done)(enum store_status, struct store_client_op *))
{
	struct job *j;

	if (st == NULL || (j = job_new(JOB_CLIENT, 0, NULL, NULL)) == NULL) {
		return -1;
	}
	j->u.client.op = op;
	j->u.client.done = done;
	return job_queue(st, j);
}

/* Queue a sweep marking what fell due by now as overdue. */
int store_sweep_overdue(struct store *st, int64_t now, store_done_cb cb, void *arg)
{
	struct job *j;

	if (st == NULL || (j = job_new(JOB_SWEEP, 0, cb, arg)) == NULL) {
		return -1;
	}
	j->u.now = now;
	return job_queue(st, j);
}

/* Queue a forms change and wait until it has committed or failed. The job is handed to the
 * storage thread at once (with whatever this loop turn staged before it); it runs in a batch
 * like any other, and is freed with the batch's completions, which do not touch sync. */
enum store_status store_job_run_forms(struct store *st, const struct store_forms_change *c)
{
	struct job_sync sync = {false, STORE_UNAVAILABLE};
	struct job *j;

	if (st == NULL || (j = job_new(JOB_FORMS, 0, NULL, NULL)) == NULL) {
		return STORE_UNAVAILABLE;
	}
	j->u.forms = c;
	j->sync = &sync;
	if (job_queue(st, j) < 0) {
		return STORE_UNAVAILABLE;
	}
	store_jobs_hand_over(st);
	pthread_mutex_lock(&st->mu);
	while (!sync.done) {
		pthread_cond_wait(&st->synced, &st->mu);
	}
	pthread_mutex_unlock(&st->mu);
	return sync.status;
}

/* Return how many writes are queued or being committed (for shutdown and metrics). */
size_t store_pending(struct store *st)
{
	return st ? st->pending : 0;
}

/* For tests and metrics: return how many write transactions have committed. */
size_t store_commit_count(struct store *st)
{
	return st ? atomic_load(&st->commits) : 0;
}
