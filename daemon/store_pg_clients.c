/*
 * Client records, their versions and consents on PostgreSQL: the statements
 * store_clients.c's writes (struct store_clients_writes, on the writer inside
 * the batch's transaction, a referral's insert included) and
 * store_clients_read.c's reads (struct store_clients_reads, on the reader in
 * one REPEATABLE READ transaction) run. The rules are store_clients*.c's, the
 * same as on SQLite.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.pb-c.h"
#include "store_clients_backend.h"
#include "store_pg_private.h"

#define CLIENT_COLS "owner, version, created_at, updated_at, name, erased_at, erased_by"

/* Indexed by enum pg_wstmt - PW_CLIENT_ADD; prepared on the writer connection. */
const char *const store_pg_client_wsql[PW_PURGE - PW_CLIENT_ADD] = {
    [PW_CLIENT_ADD - PW_CLIENT_ADD] =
        "INSERT INTO clients (id, owner, version, created_at, updated_at, name, dup_key)"
        " VALUES ($1, $2, 1, $3, $3, $4, $5) ON CONFLICT (id) DO NOTHING RETURNING cid",
    [PW_CLIENT_VERSION - PW_CLIENT_ADD] =
        "INSERT INTO client_versions (cid, version, record, created_at, holder)"
        " VALUES ($1, $2, $3, $4, $5)",
    [PW_CLIENT_DUPS - PW_CLIENT_ADD] =
        "SELECT id FROM clients WHERE owner = $1 AND dup_key = $2 AND cid <> $3"
        " ORDER BY cid LIMIT 8", /* STORE_DUPS_MAX */
    [PW_CONSENT_ADD - PW_CLIENT_ADD] =
        "INSERT INTO consents (id, cid, to_agency, basis, purpose, method, reason,"
        " expires, recorded_agency, recorded_by, recorded_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    /* A consent, or another lawful basis, live for agency $2 on day $3. */
    [PW_SHARE_OK - PW_CLIENT_ADD] =
        "SELECT 1 FROM consents c JOIN clients k ON k.cid = c.cid"
        " WHERE k.id = $1 AND k.erased_at IS NULL AND c.withdrawn_at IS NULL"
        " AND (c.to_agency IS NULL OR c.to_agency = $2)"
        " AND (c.expires IS NULL OR c.expires >= $3) LIMIT 1",
    [PW_CLIENT_UPDATE - PW_CLIENT_ADD] =
        "UPDATE clients SET version = version + 1, updated_at = $3, name = $4, dup_key = $5"
        " WHERE id = $1 AND owner = $2 AND erased_at IS NULL RETURNING cid, version",
    [PW_CLIENT_ERASE - PW_CLIENT_ADD] =
        "UPDATE clients SET erased_at = $3, erased_by = $2, erase_reason = $4, name = NULL,"
        " dup_key = NULL WHERE id = $1 AND owner = $2 AND erased_at IS NULL RETURNING cid",
    [PW_CLIENT_FIND - PW_CLIENT_ADD] = "SELECT cid, owner, erased_at FROM clients WHERE id = $1",
    [PW_ERASE_VERSIONS - PW_CLIENT_ADD] = "UPDATE client_versions SET record = NULL WHERE cid = $1",
    [PW_ERASE_CONSENTS - PW_CLIENT_ADD] = "UPDATE consents SET purpose = NULL, reason = NULL,"
                                          " withdraw_reason = NULL WHERE cid = $1",
    /* The consent copy goes too: its purpose is the client's words. */
    [PW_ERASE_DATA - PW_CLIENT_ADD] =
        "UPDATE referral_data SET client = NULL, consent = NULL"
        " WHERE rid IN (SELECT rid FROM referrals WHERE client_id = $1)",
    [PW_ERASE_NAMES - PW_CLIENT_ADD] =
        "UPDATE referrals SET client_name = NULL WHERE client_id = $1 RETURNING recipient",
    [PW_WITHDRAW - PW_CLIENT_ADD] =
        "UPDATE consents SET withdrawn_at = $3, withdrawn_agency = $2, withdrawn_by = $4,"
        " withdraw_reason = $5 WHERE id = $1 AND withdrawn_at IS NULL"
        " AND cid IN (SELECT cid FROM clients WHERE owner = $2) RETURNING cid",
    [PW_CONSENT_FIND - PW_CLIENT_ADD] = "SELECT k.id, k.owner FROM consents c"
                                        " JOIN clients k ON k.cid = c.cid WHERE c.id = $1",
};

/* Indexed by enum pg_rstmt - PR_CLIENT_GET; prepared on the reader connection. */
const char *const store_pg_client_rsql[PR_COUNT - PR_CLIENT_GET] = {
    [PR_CLIENT_GET - PR_CLIENT_GET] =
        "SELECT cid, " CLIENT_COLS ", erase_reason FROM clients WHERE id = $1",
    [PR_CLIENT_SHARED - PR_CLIENT_GET] =
        "SELECT max(client_version) FROM referrals WHERE client_id = $1 AND recipient = $2",
    [PR_CLIENT_RECORD - PR_CLIENT_GET] =
        "SELECT record FROM client_versions WHERE cid = $1 AND version = $2",
    /* The newest withdrawal covering agency, and how many live consents or bases do. */
    [PR_CLIENT_COVER - PR_CLIENT_GET] =
        "SELECT max(withdrawn_at), count(*) FILTER (WHERE withdrawn_at IS NULL"
        " AND (expires IS NULL OR expires >= $3)) FROM consents"
        " WHERE cid = $1 AND (to_agency IS NULL OR to_agency = $2)",
    /* The agency's own clients, then those referred to it (named as the newest referral of
       each named them: the version it was shown), newest first. */
    [PR_CLIENT_LIST - PR_CLIENT_GET] =
        "SELECT id, " CLIENT_COLS " FROM clients WHERE owner = $1"
        " AND ($2::text IS NULL OR strpos(lower(name), lower($2)) > 0)"
        " UNION ALL SELECT * FROM (SELECT DISTINCT ON (c.id) c.id, c.owner, r.client_version,"
        " c.created_at, c.updated_at, r.client_name, c.erased_at, c.erased_by"
        " FROM referrals r JOIN clients c ON c.id = r.client_id"
        " WHERE r.recipient = $1 AND c.owner <> $1"
        " AND ($2::text IS NULL OR strpos(lower(r.client_name), lower($2)) > 0)"
        " ORDER BY c.id, r.client_version DESC, r.rid DESC) s"
        " ORDER BY 4 DESC, 1 DESC LIMIT $3",
    [PR_CONSENTS - PR_CLIENT_GET] =
        "SELECT id, to_agency, basis, purpose, method, reason, expires, recorded_agency,"
        " recorded_by, recorded_at, withdrawn_at, withdrawn_agency, withdrawn_by,"
        " withdraw_reason FROM consents WHERE cid = $1"
        " AND ($3::boolean OR to_agency IS NULL OR to_agency = $2) ORDER BY id COLLATE \"C\"",
};

/* ---- the statements of struct store_clients_writes, storage thread ---- */

/* Run writer statement which with p; its one row's first column into *v (0: no row). */
static enum store_status wfirst(struct store *st, int which, const struct pg_params *p, int64_t *v)
{
	PGresult *res;

	if (store_pg_wquery(st, which, p, &res) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	*v = PQntuples(res) > 0 ? pg_num(res, 0, 0) : 0;
	PQclear(res);
	return STORE_OK;
}

static enum store_status pw_insert(struct store *st, const struct store_client_write *w,
                                   int64_t *cid)
{
	struct pg_params p = {0};

	pg_text(&p, 1, w->id);
	pg_text(&p, 2, w->agency);
	pg_int(&p, 3, w->at);
	pg_text(&p, 4, w->name);
	pg_text(&p, 5, w->dup_key);
	if (wfirst(st, PW_CLIENT_ADD, &p, cid) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	return *cid == 0 ? STORE_DUPLICATE : STORE_OK;
}

static enum store_status pw_version(struct store *st, int64_t cid, uint32_t version,
                                    const struct store_client_write *w)
{
	struct pg_params p = {0};

	pg_int(&p, 1, cid);
	pg_int(&p, 2, version);
	pg_blob(&p, 3, w->record, w->record_len);
	pg_int(&p, 4, w->at);
	pg_text(&p, 5, w->holder);
	return store_pg_wrun(st, PW_CLIENT_VERSION, &p);
}

static enum store_status pw_dups(struct store *st, const char *owner, const char *key, int64_t cid,
                                 struct store_client_out *out)
{
	struct pg_params p = {0};
	PGresult *rows;

	pg_text(&p, 1, owner);
	pg_text(&p, 2, key);
	pg_int(&p, 3, cid);
	if (store_pg_wquery(st, PW_CLIENT_DUPS, &p, &rows) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	for (int i = 0; i < PQntuples(rows) && out->n_dups < STORE_DUPS_MAX; i++) {
		snprintf(out->dups[out->n_dups++], STORE_ID_LEN + 1, "%s", PQgetvalue(rows, i, 0));
	}
	PQclear(rows);
	return STORE_OK;
}

static enum store_status pw_owned(struct store *st, const struct store_client_write *w, bool *hit,
                                  int64_t *cid, uint32_t *version)
{
	struct pg_params p = {0};
	PGresult *rows;

	pg_text(&p, 1, w->id);
	pg_text(&p, 2, w->agency);
	pg_int(&p, 3, w->at);
	pg_text(&p, 4, w->kind == SC_ERASE ? w->reason : w->name);
	if (w->kind != SC_ERASE) {
		pg_text(&p, 5, w->dup_key);
	}
	if (store_pg_wquery(st, w->kind == SC_ERASE ? PW_CLIENT_ERASE : PW_CLIENT_UPDATE, &p,
	                    &rows) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	if ((*hit = PQntuples(rows) > 0)) {
		*cid = pg_num(rows, 0, 0);
		if (w->kind != SC_ERASE) {
			*version = (uint32_t)pg_num(rows, 0, 1);
		}
	}
	PQclear(rows);
	return STORE_OK;
}

static enum store_status pw_find(struct store *st, const char *id, const char *agency, int64_t *cid,
                                 bool *mine, bool *erased)
{
	struct pg_params p = {0};
	enum store_status status = STORE_NOT_FOUND;
	PGresult *rows;

	pg_text(&p, 1, id);
	if (store_pg_wquery(st, PW_CLIENT_FIND, &p, &rows) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	if (PQntuples(rows) > 0) {
		status = STORE_OK;
		*cid = pg_num(rows, 0, 0);
		*mine = strcmp(PQgetvalue(rows, 0, 1), agency) == 0;
		*erased = !PQgetisnull(rows, 0, 2);
	}
	PQclear(rows);
	return status;
}

static enum store_status pw_erase_rows(struct store *st, int64_t cid)
{
	struct pg_params p = {0};

	pg_int(&p, 1, cid);
	if (store_pg_wrun(st, PW_ERASE_VERSIONS, &p) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	return store_pg_wrun(st, PW_ERASE_CONSENTS, &p);
}

static enum store_status pw_erase_copies(struct store *st, const char *id,
                                         struct store_client_out *out)
{
	struct pg_params p = {0};
	PGresult *rows;

	pg_text(&p, 1, id);
	if (store_pg_wrun(st, PW_ERASE_DATA, &p) != STORE_OK ||
	    store_pg_wquery(st, PW_ERASE_NAMES, &p, &rows) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	for (int i = 0; i < PQntuples(rows); i++) {
		store_client_out_holder(out, PQgetvalue(rows, i, 0));
	}
	PQclear(rows);
	return STORE_OK;
}

static enum store_status pw_consent(struct store *st, const struct store_client_write *w,
                                    int64_t cid)
{
	struct pg_params p = {0};

	pg_text(&p, 1, w->id);
	pg_int(&p, 2, cid);
	pg_text(&p, 3, w->to_agency);
	pg_int(&p, 4, w->basis);
	pg_text(&p, 5, w->purpose);
	pg_text(&p, 6, NULL);
	if (w->method != REFEX__CONSENT_METHOD__CONSENT_METHOD_UNSPECIFIED) {
		pg_int(&p, 6, w->method);
	}
	pg_text(&p, 7, w->reason);
	pg_text(&p, 8, w->expires);
	pg_text(&p, 9, w->agency);
	pg_text(&p, 10, w->holder);
	pg_int(&p, 11, w->at);
	return store_pg_wrun(st, PW_CONSENT_ADD, &p);
}

static enum store_status pw_withdraw(struct store *st, const struct store_client_write *w,
                                     bool *hit)
{
	struct pg_params p = {0};
	int64_t cid = 0;

	pg_text(&p, 1, w->id);
	pg_text(&p, 2, w->agency);
	pg_int(&p, 3, w->at);
	pg_text(&p, 4, w->holder);
	pg_text(&p, 5, w->reason);
	if (wfirst(st, PW_WITHDRAW, &p, &cid) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	*hit = cid != 0;
	return STORE_OK;
}

static enum store_status pw_consent_owner(struct store *st, const char *id, const char *agency,
                                          bool *mine, char client[STORE_ID_LEN + 1])
{
	struct pg_params p = {0};
	PGresult *rows;

	pg_text(&p, 1, id);
	if (store_pg_wquery(st, PW_CONSENT_FIND, &p, &rows) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	if (PQntuples(rows) > 0 && strcmp(PQgetvalue(rows, 0, 1), agency) == 0) {
		*mine = true;
		snprintf(client, STORE_ID_LEN + 1, "%s", PQgetvalue(rows, 0, 0));
	}
	PQclear(rows);
	return STORE_OK;
}

static enum store_status pw_covered(struct store *st, const char *id, const char *agency,
                                    const char *today, bool *covered)
{
	struct pg_params p = {0};
	int64_t one = 0;

	pg_text(&p, 1, id);
	pg_text(&p, 2, agency);
	pg_text(&p, 3, today);
	if (wfirst(st, PW_SHARE_OK, &p, &one) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	*covered = one != 0;
	return STORE_OK;
}

static const struct store_clients_writes pw_writes = {
    .insert = pw_insert,
    .version = pw_version,
    .dups = pw_dups,
    .owned = pw_owned,
    .find = pw_find,
    .erase_rows = pw_erase_rows,
    .erase_copies = pw_erase_copies,
    .consent = pw_consent,
    .withdraw = pw_withdraw,
    .consent_owner = pw_consent_owner,
    .covered = pw_covered,
};

/* Run a client write inside the writer's open transaction. */
enum store_status store_pg_client(struct store *st, struct store_client_op *op, bool *partial)
{
	enum store_status status = store_clients_run(st, &pw_writes, op, partial);

	/* Listings hold client names: other hubs' cached pages must go too. */
	if (status == STORE_OK && (status = store_pg_news_pages(st)) != STORE_OK) {
		*partial = true;
	}
	return status;
}

/* Check the stored client a referral just inserted may be shared, making a new one first for an
 * inline client; audit the share. */
enum store_status store_pg_clients_on_insert(struct store *st, const struct store_new_referral *r,
                                             struct store_result *res)
{
	return store_clients_insert_run(st, &pw_writes, r, res);
}

/* ---- the statements of struct store_clients_reads, loop thread ---- */

static int64_t pr_num(const struct store_row *row, int col)
{
	return pg_num(row->res, row->i, col);
}

static char *pr_str(const struct store_row *row, int col, bool *oom)
{
	return pg_str(row->res, row->i, col, oom);
}

static bool pr_null(const struct store_row *row, int col)
{
	return PQgetisnull(row->res, row->i, col);
}

/* Row i of result res. */
#define PR_ROW(result, row)                                                                        \
	(&(struct store_row){                                                                      \
	    .res = (result), .i = (row), .num = pr_num, .str = pr_str, .null = pr_null})

/* Run reader statement which with client id $1 and, unless NULL, agency $2. */
static PGresult *rclient(struct store *st, int which, const char *id, const char *agency)
{
	struct pg_params p = {0};

	pg_text(&p, 1, id);
	if (agency != NULL) {
		pg_text(&p, 2, agency);
	}
	return store_pg_rquery(st, which, &p);
}

static enum store_status pr_state(struct store *st, const char *id, int64_t *cid,
                                  int64_t *erased_at, char *by, size_t len)
{
	PGresult *res = rclient(st, PR_CLIENT_GET, id, NULL);
	enum store_status status = STORE_NOT_FOUND;

	if (res == NULL) {
		return STORE_UNAVAILABLE;
	}
	if (PQntuples(res) > 0) {
		status = STORE_OK;
		*cid = pg_num(res, 0, 0);
		*erased_at = pg_num(res, 0, 6);
		snprintf(by, len, "%s", PQgetvalue(res, 0, 7));
	}
	PQclear(res);
	return status;
}

static enum store_status pr_shared(struct store *st, const char *id, const char *agency,
                                   uint32_t *version)
{
	PGresult *res = rclient(st, PR_CLIENT_SHARED, id, agency);

	*version = res != NULL && PQntuples(res) > 0 ? (uint32_t)pg_num(res, 0, 0) : 0;
	PQclear(res);
	return res != NULL ? STORE_OK : STORE_UNAVAILABLE;
}

static enum store_status pr_cover(struct store *st, int64_t cid, const char *agency,
                                  const char *today, int64_t *live, int64_t *withdrawn_at)
{
	struct pg_params p = {0};
	PGresult *res;

	pg_int(&p, 1, cid);
	pg_text(&p, 2, agency);
	pg_text(&p, 3, today);
	if ((res = store_pg_rquery(st, PR_CLIENT_COVER, &p)) == NULL || PQntuples(res) != 1) {
		PQclear(res);
		return STORE_UNAVAILABLE;
	}
	*withdrawn_at = pg_num(res, 0, 0);
	*live = pg_num(res, 0, 1);
	PQclear(res);
	return STORE_OK;
}

static enum store_status pr_record(struct store *st, int64_t cid, uint32_t version,
                                   Refex__ClientRecord **out)
{
	struct pg_params p = {0};
	PGresult *res;
	uint8_t *b = NULL;
	size_t len = 0;
	bool oom = false;

	pg_int(&p, 1, cid);
	pg_int(&p, 2, version);
	if ((res = store_pg_rquery(st, PR_CLIENT_RECORD, &p)) == NULL) {
		return STORE_UNAVAILABLE;
	}
	if (PQntuples(res) > 0 && (b = pg_bytes(res, 0, 0, &len, &oom)) != NULL) {
		oom = (*out = refex__client_record__unpack(NULL, len, b)) == NULL;
	}
	free(b);
	PQclear(res);
	return oom ? STORE_UNAVAILABLE : STORE_OK;
}

static const struct store_clients_reads pr_reads = {
    .state = pr_state,
    .shared = pr_shared,
    .cover = pr_cover,
    .record = pr_record,
};

/* Read client id as agency may see it, from one snapshot. */
enum store_status store_pg_client_get(struct store *st, const char *id, const char *agency,
                                      Refex__StoredClient **out, bool *owner)
{
	Refex__StoredClient *c = NULL;
	enum store_status status = STORE_NOT_FOUND;
	int64_t cid = 0;
	uint32_t version = 0;
	PGresult *res;

	*out = NULL;
	*owner = false;
	if (st == NULL || id == NULL || agency == NULL || store_pg_rtx(st, true) < 0) {
		return STORE_UNAVAILABLE;
	}
	if ((res = rclient(st, PR_CLIENT_GET, id, NULL)) == NULL) {
		status = STORE_UNAVAILABLE;
	} else if (PQntuples(res) > 0) {
		c = store_client_from_row(PR_ROW(res, 0), id, agency, owner, &cid, &version);
		status = c == NULL ? STORE_UNAVAILABLE
		                   : store_client_finish(st, &pr_reads, c, cid, version, agency,
		                                         *owner, out);
	}
	PQclear(res);
	if (store_pg_rtx(st, false) < 0 && status == STORE_OK) {
		store_client_free(*out);
		*out = NULL;
		status = STORE_UNAVAILABLE;
	}
	return status;
}

/* List agency's own clients and those referred to it, newest first. */
enum store_status store_pg_client_list(struct store *st, const char *agency, const char *search,
                                       size_t max, Refex__StoredClient ***out, size_t *n)
{
	struct pg_params p = {0};
	PGresult *res;
	bool oom = false;

	*n = 0;
	pg_text(&p, 1, agency);
	pg_text(&p, 2, search);
	pg_int(&p, 3, (int64_t)max);
	if ((*out = calloc(max ? max : 1, sizeof(**out))) == NULL ||
	    (res = store_pg_rquery(st, PR_CLIENT_LIST, &p)) == NULL) {
		free(*out);
		*out = NULL;
		return STORE_UNAVAILABLE;
	}
	for (int i = 0; !oom && i < PQntuples(res) && *n < max; i++) {
		if (((*out)[*n] = store_client_summary(PR_ROW(res, i), &oom)) != NULL) {
			(*n)++;
		}
	}
	PQclear(res);
	if (oom) {
		store_client_list_free(*out, *n);
		*out = NULL;
		*n = 0;
		return STORE_UNAVAILABLE;
	}
	return STORE_OK;
}

/* Read the consents of client row cid that agency may see into *out. */
static enum store_status consents_read(struct store *st, int64_t cid, const char *id,
                                       const char *agency, bool owner, Refex__ConsentRecord ***out,
                                       size_t *n)
{
	struct pg_params p = {0};
	PGresult *res;
	size_t cap = 0;
	bool oom = false;

	pg_int(&p, 1, cid);
	pg_text(&p, 2, agency);
	pg_int(&p, 3, owner);
	if ((res = store_pg_rquery(st, PR_CONSENTS, &p)) == NULL) {
		return STORE_UNAVAILABLE;
	}
	for (int i = 0; !oom && i < PQntuples(res); i++) {
		oom = store_consent_push(out, n, &cap,
		                         store_consent_from_row(PR_ROW(res, i), id, &oom)) < 0;
	}
	PQclear(res);
	return oom ? STORE_UNAVAILABLE : STORE_OK;
}

/* List the consents of client id that agency may see, from one snapshot. */
enum store_status store_pg_consent_list(struct store *st, const char *id, const char *agency,
                                        bool owner, Refex__ConsentRecord ***out, size_t *n)
{
	enum store_status status;
	int64_t cid = 0, erased_at = 0;
	char by[64];

	*out = NULL;
	*n = 0;
	if (st == NULL || store_pg_rtx(st, true) < 0) {
		return STORE_UNAVAILABLE;
	}
	status = pr_state(st, id, &cid, &erased_at, by, sizeof(by));
	if (status == STORE_OK) {
		status = consents_read(st, cid, id, agency, owner, out, n);
	}
	if (store_pg_rtx(st, false) < 0 && status == STORE_OK) {
		status = STORE_UNAVAILABLE;
	}
	if (status != STORE_OK) {
		store_consent_list_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return status;
}

/* Fill ref's stored-client state, inside the caller's read transaction. */
enum store_status store_pg_clients_state(struct store *st, Refex__Referral *ref)
{
	return store_clients_state_run(st, &pr_reads, ref);
}
