/*
 * The PostgreSQL backend's writes (store_backend.h): the statements under the
 * write jobs (the steps of an insert, a change, a sweep and a forms change are
 * store_jobs.c's, the same for every backend), run by the commit queue
 * (store_queue.c) on the storage thread inside the open transaction. Event
 * numbers and the audit chain's tail are taken under row locks held to the
 * commit (event_seqs, audit_tail), so they stay gap-free and in commit order
 * whichever writer commits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_jobs.h"
#include "store_pg_private.h"

/* Indexed by enum pg_wstmt; prepared on the writer connection. */
const char *const store_pg_wsql[PW_CLIENT_ADD] = {
    /* A duplicate id returns no row rather than failing (which would end the transaction). */
    [PW_INSERT] = "INSERT INTO referrals (id, sender, sender_holder, recipient, form, form_version,"
                  " state, created_at, updated_at, client_name, due_at, overdue_pending, parent_id,"
                  " client_id, client_version)"
                  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, nullif($10::bigint, 0),"
                  " $11, $12, $13) ON CONFLICT (id) DO NOTHING RETURNING rid",
    [PW_INSERT_DATA] = "INSERT INTO referral_data (rid, client, consent, form_data)"
                       " VALUES ($1, $2, $3, $4)",
    [PW_HISTORY] = "INSERT INTO history (referral_rid, from_state, to_state, agency, holder, at,"
                   " reason) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq",
    [PW_UPDATE] = "UPDATE referrals SET state = $1, updated_at = $2,"
                  " overdue_pending = CASE WHEN $1 IN (1, 2) THEN overdue_pending END"
                  " WHERE id = $3 AND state = $4 RETURNING rid, sender, recipient, parent_id",
    [PW_EXISTS] = "SELECT 1 FROM referrals WHERE id = $1",
    /* The agency's next number, from its row in event_seqs (locked until the commit). */
    [PW_EVENT] = "WITH s AS (INSERT INTO event_seqs AS e (agency, last) VALUES ($1, 1)"
                 " ON CONFLICT (agency) DO UPDATE SET last = e.last + 1 RETURNING last),"
                 " i AS (INSERT INTO events (agency, seq, referral_rid, kind, history_seq)"
                 " SELECT $1, s.last, $2, $3, CASE WHEN $3 = 3 THEN coalesce((SELECT max(seq)"
                 " FROM history WHERE referral_rid = $2), 0) ELSE $4 END FROM s RETURNING seq)"
                 /* every hub hears of it on commit (store_pg_news.c) */
                 " SELECT i.seq FROM i, pg_notify('refex_events', $1)",
    /* Locked first, then read in a statement of its own: it sees what others committed. */
    [PW_AUDIT_TAIL] = "SELECT one FROM audit_tail FOR UPDATE",
    [PW_AUDIT_ADD] = "INSERT INTO audit (seq, at_ms, agency, holder, action, record, hash)"
                     " VALUES ($1, $2, $3, $4, $5, $6, $7)",
    [PW_AUDIT_MOVE] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
    [PW_IDEM_GET] = "SELECT digest, referral_id FROM idempotency WHERE agency = $1 AND key = $2",
    [PW_IDEM_PUT] = "INSERT INTO idempotency (agency, key, digest, referral_id, created_at)"
                    " VALUES ($1, $2, $3, $4, $5)",
    [PW_IDEM_PRUNE] = "DELETE FROM idempotency WHERE created_at < $1",
    [PW_SWEEP] = "UPDATE referrals SET overdue_pending = NULL"
                 " WHERE overdue_pending IS NOT NULL AND overdue_pending <= $1"
                 " RETURNING rid, sender, recipient",
    /* Another hub may have recorded the same version meanwhile (hubs starting together): the
       same schema is no change, another one no row. */
    [PW_FORM_ADD] = "INSERT INTO form_versions (form, version, schema, accepted_at)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (form, version) DO UPDATE"
                    " SET accepted_at = form_versions.accepted_at"
                    " WHERE form_versions.schema = EXCLUDED.schema RETURNING 1",
    [PW_FORM_RETIRE] = "UPDATE form_versions SET retired_at = $2"
                       " WHERE form = $1 AND retired_at IS NULL",
    [PW_FORM_REVIVE] =
        "UPDATE form_versions SET retired_at = NULL WHERE form = $1 AND $2::bigint IS NOT NULL",
};

_Static_assert(REFEX__EVENT_KIND__EVENT_OVERDUE == 3, "PW_EVENT names overdue events by number");

/* Run writer statement which with p; STORE_OK if it worked (the result is dropped). */
enum store_status store_pg_wrun(struct store *st, int which, const struct pg_params *p)
{
	PGresult *res = pg_run(st->pg->w, 'w', which, p);
	bool ok = pg_ok(res);

	PQclear(res);
	return ok ? STORE_OK : STORE_UNAVAILABLE;
}

/* Run writer statement which with p and keep its result in *out (NULL if it failed). */
enum store_status store_pg_wquery(struct store *st, int which, const struct pg_params *p,
                                  PGresult **out)
{
	*out = pg_run(st->pg->w, 'w', which, p);
	if (!pg_ok(*out)) {
		PQclear(*out);
		*out = NULL;
		return STORE_UNAVAILABLE;
	}
	return STORE_OK;
}

/* Append an event for agency with its next sequence number (into *seq). */
static enum store_status event_append(struct store *st, const char *agency, int64_t rid,
                                      Refex__EventKind kind, int64_t history_seq, uint64_t *seq)
{
	struct pg_params p = {0};
	PGresult *res;

	pg_text(&p, 1, agency);
	pg_int(&p, 2, rid);
	pg_int(&p, 3, kind);
	if (history_seq > 0) {
		pg_int(&p, 4, history_seq);
	} else {
		pg_text(&p, 4, NULL);
	}
	if (store_pg_wquery(st, PW_EVENT, &p, &res) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	*seq = PQntuples(res) == 1 ? (uint64_t)pg_num(res, 0, 0) : 0;
	PQclear(res);
	return *seq > 0 ? STORE_OK : STORE_UNAVAILABLE;
}

/* Look idem up on connection c with statement prefix<which>: STORE_OK with the first referral's
 * id in first, STORE_NOT_FOUND or STORE_KEY_REUSED. */
enum store_status store_pg_idem_lookup(PGconn *c, char prefix, int which, const char *agency,
                                       const struct store_idem *idem, char *first)
{
	struct pg_params p = {0};
	enum store_status status = STORE_NOT_FOUND;
	PGresult *res;
	uint8_t *digest;
	size_t len;
	bool oom = false;

	pg_text(&p, 1, agency);
	pg_text(&p, 2, idem->key);
	res = pg_run(c, prefix, which, &p);
	if (!pg_ok(res)) {
		status = STORE_UNAVAILABLE;
	} else if (PQntuples(res) == 1) {
		digest = pg_bytes(res, 0, 0, &len, &oom);
		status = oom ? STORE_UNAVAILABLE
		         : len == STORE_DIGEST_LEN && memcmp(digest, idem->digest, len) == 0
		             ? STORE_OK
		             : STORE_KEY_REUSED;
		if (status == STORE_OK) {
			snprintf(first, STORE_ID_LEN + 1, "%s", PQgetvalue(res, 0, 1));
		}
		free(digest);
	}
	PQclear(res);
	return status;
}

/* Look agency's key up with the writer's statement. */
static enum store_status idem_get(struct store *st, const char *agency,
                                  const struct store_idem *idem, char *first)
{
	return store_pg_idem_lookup(st->pg->w, 'w', PW_IDEM_GET, agency, idem, first);
}

/* Remember the key with what it did, in the write's own transaction. */
static enum store_status idem_put(struct store *st, const char *agency,
                                  const struct store_idem *idem, const char *referral_id,
                                  int64_t now)
{
	struct pg_params p = {0};

	pg_text(&p, 1, agency);
	pg_text(&p, 2, idem->key);
	pg_blob(&p, 3, idem->digest, STORE_DIGEST_LEN);
	pg_text(&p, 4, referral_id);
	pg_int(&p, 5, now);
	return store_pg_wrun(st, PW_IDEM_PUT, &p);
}

/* Forget keys made before `before`. */
static enum store_status idem_prune(struct store *st, int64_t before)
{
	struct pg_params p = {0};

	pg_int(&p, 1, before);
	return store_pg_wrun(st, PW_IDEM_PRUNE, &p);
}

/* Lock the audit chain's tail for this transaction and read it. */
static enum store_status audit_load_tail(struct store *st)
{
	PGresult *res;
	bool oom = false;
	size_t len = 0;
	uint8_t *hash;

	if (store_pg_wrun(st, PW_AUDIT_TAIL, NULL) != STORE_OK ||
	    store_pg_wquery(st, PW_AUDIT_MOVE, NULL, &res) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	st->pg->audit_seq = 0;
	memset(st->pg->audit_last, 0, sizeof(st->pg->audit_last));
	if (PQntuples(res) == 1) {
		st->pg->audit_seq = pg_num(res, 0, 0);
		hash = pg_bytes(res, 0, 1, &len, &oom);
		if (hash != NULL && len == STORE_AUDIT_HASH_LEN) {
			memcpy(st->pg->audit_last, hash, len);
		}
		free(hash);
	}
	PQclear(res);
	st->pg->audit_known = !oom;
	return oom ? STORE_UNAVAILABLE : STORE_OK;
}

/* Append an entry to the audit chain inside the open transaction. */
enum store_status store_pg_audit(struct store *st, const struct store_audit *a)
{
	struct store_pg *pg = st->pg;
	struct pg_params p = {0};
	uint8_t hash[STORE_AUDIT_HASH_LEN];
	int64_t seq;

	if (!pg->audit_known && audit_load_tail(st) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	if (pg->audit_md == NULL && store_audit_hasher_new(&pg->audit_ctx, &pg->audit_md) < 0) {
		return STORE_UNAVAILABLE;
	}
	seq = pg->audit_seq + 1;
	if (store_audit_hash(pg->audit_ctx, pg->audit_md, pg->audit_last, seq, a, hash) < 0) {
		return STORE_UNAVAILABLE;
	}
	pg_int(&p, 1, seq);
	pg_int(&p, 2, a->at_ms);
	pg_text(&p, 3, a->agency);
	pg_text(&p, 4, a->holder);
	pg_text(&p, 5, a->action);
	pg_text(&p, 6, a->record);
	pg_blob(&p, 7, hash, sizeof(hash));
	if (store_pg_wrun(st, PW_AUDIT_ADD, &p) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	pg->audit_seq = seq;
	memcpy(pg->audit_last, hash, sizeof(hash));
	return STORE_OK;
}

/* Insert the referral's row; STORE_DUPLICATE if its id is taken. */
static enum store_status insert_row(struct store *st, const struct store_new_referral *r,
                                    int64_t *rid)
{
	struct pg_params p = {0};
	PGresult *res;

	pg_text(&p, 1, r->id);
	pg_text(&p, 2, r->sender);
	pg_text(&p, 3, r->sender_holder);
	pg_text(&p, 4, r->recipient);
	pg_text(&p, 5, r->form);
	pg_int(&p, 6, r->form_version);
	pg_int(&p, 7, REFEX__STATE__STATE_SENT);
	pg_int(&p, 8, r->created_at);
	pg_text(&p, 9, r->client_name);
	pg_int(&p, 10, r->due_at);
	pg_text(&p, 11, r->parent_id);
	pg_text(&p, 12, r->client_id[0] != '\0' ? r->client_id : NULL);
	if (r->client_id[0] != '\0') {
		pg_int(&p, 13, r->client_version ? r->client_version : 1);
	} else {
		pg_text(&p, 13, NULL);
	}
	if (store_pg_wquery(st, PW_INSERT, &p, &res) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	*rid = PQntuples(res) == 1 ? pg_num(res, 0, 0) : 0;
	PQclear(res);
	return *rid > 0 ? STORE_OK : STORE_DUPLICATE;
}

/* Insert the referral's details for row rid. */
static enum store_status insert_data(struct store *st, int64_t rid,
                                     const struct store_new_referral *r)
{
	struct pg_params p = {0};

	pg_int(&p, 1, rid);
	pg_blob(&p, 2, r->client, r->client_len);
	pg_blob(&p, 3, r->consent, r->consent_len);
	pg_blob(&p, 4, r->form_data ? r->form_data : (const uint8_t *)"", r->form_data_len);
	if (r->form_data == NULL) {
		pg_text(&p, 4, NULL);
	}
	return store_pg_wrun(st, PW_INSERT_DATA, &p);
}

/* Say whether referral id exists. */
static enum store_status exists(struct store *st, const char *id, bool *found)
{
	struct pg_params p = {0};
	PGresult *res;

	pg_text(&p, 1, id);
	if (store_pg_wquery(st, PW_EXISTS, &p, &res) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	*found = PQntuples(res) > 0;
	PQclear(res);
	return STORE_OK;
}

/* Add the change's history row; its seq goes to *seq. */
static enum store_status history_add(struct store *st, int64_t rid, const struct store_change *c,
                                     int64_t *seq)
{
	struct pg_params p = {0};
	PGresult *res;

	pg_int(&p, 1, rid);
	if (c->from == REFEX__STATE__STATE_UNSPECIFIED) {
		pg_text(&p, 2, NULL);
	} else {
		pg_int(&p, 2, c->from);
	}
	pg_int(&p, 3, c->to);
	pg_text(&p, 4, c->agency);
	pg_text(&p, 5, c->holder);
	pg_int(&p, 6, c->at);
	pg_text(&p, 7, c->reason);
	if (store_pg_wquery(st, PW_HISTORY, &p, &res) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	*seq = pg_num(res, 0, 0);
	PQclear(res);
	return STORE_OK;
}

/* Move the referral on if still in state c->from; row->rid stays 0 if it is not. */
static enum store_status update_state(struct store *st, const struct store_change *c,
                                      struct store_changed *row)
{
	struct pg_params p = {0};
	PGresult *rows;

	pg_int(&p, 1, c->to);
	pg_int(&p, 2, c->at);
	pg_text(&p, 3, c->referral_id);
	pg_int(&p, 4, c->from);
	if (store_pg_wquery(st, PW_UPDATE, &p, &rows) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	if (PQntuples(rows) > 0) {
		row->rid = pg_num(rows, 0, 0);
		snprintf(row->sender, sizeof(row->sender), "%s", PQgetvalue(rows, 0, 1));
		snprintf(row->recipient, sizeof(row->recipient), "%s", PQgetvalue(rows, 0, 2));
		/* NULL reads as "": no origin */
		snprintf(row->parent, sizeof(row->parent), "%s", PQgetvalue(rows, 0, 3));
	}
	PQclear(rows);
	return STORE_OK;
}

/* Clear the due mark of what fell due by now; the referrals to *list. */
static enum store_status overdue_take(struct store *st, int64_t now, struct store_overdue **list,
                                      size_t *n)
{
	struct pg_params p = {0};
	PGresult *rows;
	int count;

	pg_int(&p, 1, now);
	if (store_pg_wquery(st, PW_SWEEP, &p, &rows) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	count = PQntuples(rows);
	if (count > 0 && (*list = calloc((size_t)count, sizeof(**list))) == NULL) {
		PQclear(rows);
		return STORE_UNAVAILABLE;
	}
	for (int i = 0; i < count; i++) {
		(*list)[i].rid = pg_num(rows, i, 0);
		snprintf((*list)[i].sender, sizeof((*list)[i].sender), "%s",
		         PQgetvalue(rows, i, 1));
		snprintf((*list)[i].recipient, sizeof((*list)[i].recipient), "%s",
		         PQgetvalue(rows, i, 2));
	}
	*n = (size_t)count;
	PQclear(rows);
	return STORE_OK;
}

/* Run statement which for form (with at as $2). */
static enum store_status form_mark(struct store *st, int which, const char *form, int64_t at)
{
	struct pg_params p = {0};

	pg_text(&p, 1, form);
	pg_int(&p, 2, at);
	return store_pg_wrun(st, which, &p);
}

/* Retire form at `at`. */
static enum store_status form_retire(struct store *st, const char *form, int64_t at)
{
	return form_mark(st, PW_FORM_RETIRE, form, at);
}

/* Bring retired form back. */
static enum store_status form_revive(struct store *st, const char *form, int64_t at)
{
	return form_mark(st, PW_FORM_REVIVE, form, at);
}

/* Record one form version; STORE_CONFLICT if another hub recorded another schema for it. */
static enum store_status form_add(struct store *st, const struct store_form_version *v, int64_t at)
{
	struct pg_params p = {0};
	PGresult *res;
	enum store_status status;

	pg_text(&p, 1, v->form);
	pg_int(&p, 2, v->version);
	pg_blob(&p, 3, v->schema, v->schema_len);
	pg_int(&p, 4, at);
	status = store_pg_wquery(st, PW_FORM_ADD, &p, &res);
	if (status == STORE_OK && PQntuples(res) != 1) {
		status = STORE_CONFLICT;
	}
	PQclear(res);
	return status;
}

/* The PostgreSQL statements under the job sequences (store_jobs.c). */
const struct store_backend_stmts store_pg_stmts = {
    .idem_get = idem_get,
    .idem_put = idem_put,
    .idem_prune = idem_prune,
    .insert_row = insert_row,
    .insert_data = insert_data,
    .client_on_insert = store_pg_clients_on_insert,
    .inserted = NULL, /* triggers keep state_counts and the report's cells */
    .update_state = update_state,
    .exists = exists,
    .history_add = history_add,
    .event_append = event_append,
    .origin_touched = store_pg_news_origin, /* NOTIFY, sent on commit */
    .audit_add = store_pg_audit,
    .overdue_take = overdue_take,
    .form_add = form_add,
    .form_retire = form_retire,
    .form_revive = form_revive,
};
