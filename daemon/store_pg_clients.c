/*
 * Stored clients on PostgreSQL: what a referral's insert needs (an inline
 * client made a stored client of the sender, with the referral's consent as
 * its first consent row; a stored client's sharing checked again), in the
 * insert's transaction. The other client writes and reads are not yet on
 * PostgreSQL (docs/STORAGE.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.pb-c.h"
#include "store_clients.h"
#include "store_pg_private.h"

/* Indexed by enum pg_wstmt - PW_CLIENT_ADD; prepared on the writer connection. */
const char *const store_pg_client_wsql[PW_COUNT - PW_CLIENT_ADD] = {
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
};

static enum store_status audit(struct store *st, const struct store_new_referral *r,
                               const char *action)
{
	return store_pg_audit(st, &(struct store_audit){.agency = r->sender,
	                                                .holder = r->sender_holder,
	                                                .action = action,
	                                                .record = r->client_id,
	                                                .at_ms = r->created_at * 1000});
}

/* Insert the referral's client (version 1, owned by the sender); its row id goes to *cid. */
static enum store_status client_insert(struct store *st, const struct store_new_referral *r,
                                       const char *dup_key, int64_t *cid)
{
	struct pg_params p = {0};
	PGresult *res;

	pg_text(&p, 1, r->client_id);
	pg_text(&p, 2, r->sender);
	pg_int(&p, 3, r->created_at);
	pg_text(&p, 4, r->client_name);
	pg_text(&p, 5, dup_key);
	if (store_pg_wquery(st, PW_CLIENT_ADD, &p, &res) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	*cid = PQntuples(res) == 1 ? pg_num(res, 0, 0) : 0;
	PQclear(res);
	if (*cid == 0) {
		return STORE_DUPLICATE;
	}
	memset(&p, 0, sizeof(p));
	pg_int(&p, 1, *cid);
	pg_int(&p, 2, 1);
	pg_blob(&p, 3, r->client, r->client_len);
	pg_int(&p, 4, r->created_at);
	pg_text(&p, 5, r->sender_holder);
	return store_pg_wrun(st, PW_CLIENT_VERSION, &p);
}

/* Collect the sender's other clients under the same duplicate key into res. */
static enum store_status dups_find(struct store *st, const char *owner, const char *key,
                                   int64_t cid, struct store_result *res)
{
	struct pg_params p = {0};
	PGresult *rows;

	pg_text(&p, 1, owner);
	pg_text(&p, 2, key);
	pg_int(&p, 3, cid);
	if (store_pg_wquery(st, PW_CLIENT_DUPS, &p, &rows) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	for (int i = 0; i < PQntuples(rows) && res->n_dups < STORE_DUPS_MAX; i++) {
		snprintf(res->dups[res->n_dups++], STORE_ID_LEN + 1, "%s", PQgetvalue(rows, i, 0));
	}
	PQclear(rows);
	return STORE_OK;
}

/* Record the referral's consent as the client's first consent row. */
static enum store_status consent_insert(struct store *st, const struct store_new_referral *r,
                                        int64_t cid)
{
	Refex__Consent *k = refex__consent__unpack(NULL, r->consent_len, r->consent);
	struct pg_params p = {0};
	enum store_status status;

	if (k == NULL) {
		return STORE_UNAVAILABLE; /* never share a client without its consent row */
	}
	pg_text(&p, 1, r->consent_id);
	pg_int(&p, 2, cid);
	pg_text(&p, 3, r->recipient);
	pg_int(&p, 4, REFEX__LAWFUL_BASIS__BASIS_CONSENT);
	pg_text(&p, 5, k->purpose);
	if (k->method != REFEX__CONSENT_METHOD__CONSENT_METHOD_UNSPECIFIED) {
		pg_int(&p, 6, k->method);
	} else {
		pg_text(&p, 6, NULL);
	}
	pg_text(&p, 7, NULL);
	pg_text(&p, 8, NULL);
	pg_text(&p, 9, r->sender);
	pg_text(&p, 10, r->sender_holder);
	pg_int(&p, 11, r->created_at);
	status = store_pg_wrun(st, PW_CONSENT_ADD, &p);
	refex__consent__free_unpacked(k, NULL);
	return status == STORE_OK ? audit(st, r, "consent-add") : status;
}

/* Make the client the referral carries a stored client of the sender. */
static enum store_status on_insert_new(struct store *st, const struct store_new_referral *r,
                                       struct store_result *res)
{
	Refex__ClientRecord *c = refex__client_record__unpack(NULL, r->client_len, r->client);
	char key[STORE_DUP_KEY_MAX];
	int64_t cid = 0;
	enum store_status status;

	if (c == NULL) {
		return STORE_UNAVAILABLE;
	}
	store_client_dup_key(c, key, sizeof(key));
	refex__client_record__free_unpacked(c, NULL);
	if ((status = client_insert(st, r, key, &cid)) != STORE_OK ||
	    (status = dups_find(st, r->sender, key, cid, res)) != STORE_OK ||
	    (status = audit(st, r, "client-add")) != STORE_OK) {
		return status;
	}
	if (r->consent != NULL && r->consent_id[0] != '\0') {
		status = consent_insert(st, r, cid);
	}
	return status;
}

/* Say whether a live consent or other basis covers sharing client id with agency today. */
static enum store_status share_check(struct store *st, const struct store_new_referral *r)
{
	struct pg_params p = {0};
	PGresult *rows;
	char today[11];
	bool covered;

	store_day(r->created_at, today);
	pg_text(&p, 1, r->client_id);
	pg_text(&p, 2, r->recipient);
	pg_text(&p, 3, today);
	if (store_pg_wquery(st, PW_SHARE_OK, &p, &rows) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	covered = PQntuples(rows) > 0;
	PQclear(rows);
	return covered ? STORE_OK : STORE_REFUSED;
}

/* Check the stored client a referral just inserted may be shared, making a new one first for an
 * inline client; audit the share. */
enum store_status store_pg_clients_on_insert(struct store *st, const struct store_new_referral *r,
                                             struct store_result *res)
{
	/* Checked again here: a withdrawal committed since the handler looked must win. */
	enum store_status status =
	    r->client_version ? share_check(st, r) : on_insert_new(st, r, res);

	return status == STORE_OK ? audit(st, r, "client-share") : status;
}
