/*
 * The PostgreSQL backend's writes (store_backend.h): the SQL of each kind of
 * write job, run by the commit queue (store_queue.c) on the storage thread
 * inside the open transaction. Event numbers and the audit chain's tail are
 * taken under row locks held to the commit (event_seqs, audit_tail), so they
 * stay gap-free and in commit order whichever writer commits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_pg_private.h"

#define STORE_KEY_DAYS 7 /* idempotency keys are kept at least this long */

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

/* Append the event to both parties (once if an agency refers to itself). */
static enum store_status events_add(struct store *st, const char *sender, const char *recipient,
                                    int64_t rid, Refex__EventKind kind, int64_t history_seq,
                                    struct store_result *res)
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

/* Look the idempotency key up: a repeat fills res, another request's key is refused. */
static enum store_status idem_check(struct store *st, const char *agency,
                                    const struct store_idem *idem, struct store_result *res)
{
	enum store_status status;

	if (idem->key == NULL) {
		return STORE_OK;
	}
	status = store_pg_idem_lookup(st->pg->w, 'w', PW_IDEM_GET, agency, idem, res->referral_id);
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
	struct pg_params p = {0};

	if (idem->key == NULL) {
		return STORE_OK;
	}
	pg_text(&p, 1, agency);
	pg_text(&p, 2, idem->key);
	pg_blob(&p, 3, idem->digest, STORE_DIGEST_LEN);
	pg_text(&p, 4, referral_id);
	pg_int(&p, 5, now);
	return store_pg_wrun(st, PW_IDEM_PUT, &p);
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

/* Insert the referral's row; *rid 0 if its id is taken. */
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
	return STORE_OK;
}

/* Insert a referral with its details, both parties' events, its key and its audit entry. */
enum store_status store_pg_insert(struct store *st, const struct store_new_referral *r,
                                  struct store_result *res, bool *partial)
{
	enum store_status status = idem_check(st, r->sender, &r->idem, res);
	struct pg_params p = {0};
	int64_t rid = 0;

	if (status != STORE_OK || res->repeat) {
		return status;
	}
	if ((status = insert_row(st, r, &rid)) != STORE_OK) {
		return status;
	}
	if (rid == 0) {
		return STORE_DUPLICATE;
	}
	snprintf(res->referral_id, sizeof(res->referral_id), "%s", r->id);
	pg_int(&p, 1, rid);
	pg_blob(&p, 2, r->client, r->client_len);
	pg_blob(&p, 3, r->consent, r->consent_len);
	pg_blob(&p, 4, r->form_data ? r->form_data : (const uint8_t *)"", r->form_data_len);
	if (r->form_data == NULL) {
		pg_text(&p, 4, NULL);
	}
	status = store_pg_wrun(st, PW_INSERT_DATA, &p);
	if (status == STORE_OK && r->client_id[0] != '\0') {
		status = store_pg_clients_on_insert(st, r, res);
	}
	if (status == STORE_OK) {
		status = events_add(st, r->sender, r->recipient, rid,
		                    REFEX__EVENT_KIND__EVENT_SUBMITTED, 0, res);
	}
	if (status == STORE_OK && r->parent_id != NULL && r->parent_id[0] != '\0') {
		status = store_pg_news_origin(st, r->parent_id);
	}
	if (status == STORE_OK) {
		status = idem_put(st, r->sender, &r->idem, r->id, r->created_at);
	}
	if (status == STORE_OK) {
		status = store_pg_audit(st, &(struct store_audit){.agency = r->sender,
		                                                  .holder = r->sender_holder,
		                                                  .action = "submit",
		                                                  .record = r->id,
		                                                  .at_ms = r->created_at * 1000});
	}
	*partial = status != STORE_OK;
	return status;
}

/* Tell a change that matched no row apart: no such referral, or it moved on. */
static enum store_status change_missed(struct store *st, const char *id)
{
	struct pg_params p = {0};
	PGresult *res;
	enum store_status status;

	pg_text(&p, 1, id);
	if (store_pg_wquery(st, PW_EXISTS, &p, &res) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	status = PQntuples(res) > 0 ? STORE_CONFLICT : STORE_NOT_FOUND;
	PQclear(res);
	return status;
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

/* Apply a change if the referral is still in state c->from, with its history, events, key and
 * audit entry. */
enum store_status store_pg_change(struct store *st, const struct store_change *c,
                                  struct store_result *res, bool *partial)
{
	enum store_status status = idem_check(st, c->agency, &c->idem, res);
	struct pg_params p = {0};
	char sender[128], recipient[128], parent[STORE_ID_LEN + 1];
	int64_t rid, hseq = 0;
	PGresult *rows;

	if (status != STORE_OK || res->repeat) {
		return status;
	}
	snprintf(res->referral_id, sizeof(res->referral_id), "%s", c->referral_id);
	pg_int(&p, 1, c->to);
	pg_int(&p, 2, c->at);
	pg_text(&p, 3, c->referral_id);
	pg_int(&p, 4, c->from);
	if (store_pg_wquery(st, PW_UPDATE, &p, &rows) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	if (PQntuples(rows) == 0) {
		PQclear(rows);
		return change_missed(st, c->referral_id);
	}
	rid = pg_num(rows, 0, 0);
	snprintf(sender, sizeof(sender), "%s", PQgetvalue(rows, 0, 1));
	snprintf(recipient, sizeof(recipient), "%s", PQgetvalue(rows, 0, 2));
	if (PQgetisnull(rows, 0, 3)) {
		parent[0] = '\0';
	} else {
		snprintf(parent, sizeof(parent), "%s", PQgetvalue(rows, 0, 3));
	}
	PQclear(rows);
	status = history_add(st, rid, c, &hseq);
	if (status == STORE_OK) {
		status = events_add(st, sender, recipient, rid, REFEX__EVENT_KIND__EVENT_CHANGED,
		                    hseq, res);
	}
	if (status == STORE_OK && parent[0] != '\0') {
		status = store_pg_news_origin(st, parent);
	}
	if (status == STORE_OK) {
		status = idem_put(st, c->agency, &c->idem, c->referral_id, c->at);
	}
	if (status == STORE_OK) {
		status =
		    store_pg_audit(st, &(struct store_audit){.agency = c->agency,
		                                             .holder = c->holder,
		                                             .action = store_change_action(c->to),
		                                             .record = c->referral_id,
		                                             .at_ms = c->at * 1000});
	}
	*partial = status != STORE_OK; /* the row changed: only a savepoint can undo it */
	return status;
}

/* Mark what fell due by now as overdue, with an event for each party; prune old keys. */
enum store_status store_pg_sweep(struct store *st, int64_t now, struct store_result *res,
                                 bool *partial)
{
	struct pg_params p = {0};
	enum store_status status;
	PGresult *rows;
	int n;

	pg_int(&p, 1, now);
	if (store_pg_wquery(st, PW_SWEEP, &p, &rows) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	n = PQntuples(rows);
	status = STORE_OK;
	for (int i = 0; status == STORE_OK && i < n; i++) {
		status = events_add(st, PQgetvalue(rows, i, 1), PQgetvalue(rows, i, 2),
		                    pg_num(rows, i, 0), REFEX__EVENT_KIND__EVENT_OVERDUE, 0, res);
	}
	PQclear(rows);
	if (status == STORE_OK) {
		pg_int(&p, 1, now - STORE_KEY_DAYS * 86400);
		status = store_pg_wrun(st, PW_IDEM_PRUNE, &p);
	}
	res->overdue = status == STORE_OK ? (size_t)n : 0;
	*partial = status != STORE_OK;
	return status;
}

/* Run statement which once per name of names (with at as $2). */
static enum store_status each_name(struct store *st, int which, const char *const *names, size_t n,
                                   int64_t at)
{
	enum store_status status = STORE_OK;
	struct pg_params p = {0};

	for (size_t i = 0; status == STORE_OK && i < n; i++) {
		pg_text(&p, 1, names[i]);
		pg_int(&p, 2, at);
		status = store_pg_wrun(st, which, &p);
	}
	return status;
}

/* Record new form versions and retirements inside the open transaction. */
/* Record one form version; STORE_CONFLICT if another hub recorded another schema for it. */
static enum store_status form_add(struct store *st, const struct pg_params *p)
{
	PGresult *res;
	enum store_status status = store_pg_wquery(st, PW_FORM_ADD, p, &res);

	if (status == STORE_OK && PQntuples(res) != 1) {
		status = STORE_CONFLICT;
	}
	PQclear(res);
	return status;
}

enum store_status store_pg_forms(struct store *st, const struct store_forms_change *c,
                                 bool *partial)
{
	enum store_status status = STORE_OK;
	struct pg_params p = {0};

	for (size_t i = 0; status == STORE_OK && i < c->n_add; i++) {
		pg_text(&p, 1, c->add[i].form);
		pg_int(&p, 2, c->add[i].version);
		pg_blob(&p, 3, c->add[i].schema, c->add[i].schema_len);
		pg_int(&p, 4, c->at);
		status = form_add(st, &p);
	}
	if (status == STORE_OK) {
		status = each_name(st, PW_FORM_RETIRE, c->retire, c->n_retire, c->at);
	}
	if (status == STORE_OK) {
		status = each_name(st, PW_FORM_REVIVE, c->revive, c->n_revive, c->at);
	}
	*partial = status != STORE_OK;
	return status;
}
