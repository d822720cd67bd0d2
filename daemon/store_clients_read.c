/*
 * Client records, their versions and consents: the read side, on the loop
 * thread's reader connection. Who may see a client is decided here: its owner
 * sees the newest version; an agency a referral of it was sent to sees the
 * newest version shared with it; anyone else finds nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* Read what covers sharing client row cid with agency today: *live consents or bases, and the
 * newest withdrawal among those that did (0: none). */
static enum store_status cover_read(struct store *st, sqlite3_int64 cid, const char *agency,
                                    int64_t *live, int64_t *withdrawn_at)
{
	sqlite3_stmt *s = st->sq->clients->r[CR_COVER];
	char today[11];
	int rc;

	store_day((int64_t)time(NULL), today);
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

/* The version of client row cid agency may see: the newest (owner), else the newest shared
 * with it (0: none). */
static enum store_status visible_version(struct store *st, const char *id, const char *agency,
                                         uint32_t *version)
{
	sqlite3_stmt *s = st->sq->clients->r[CR_SHARED];
	int rc = store_bind_text(s, 1, id) | store_bind_text(s, 2, agency);

	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	*version = rc == SQLITE_ROW ? (uint32_t)sqlite3_column_int64(s, 0) : 0;
	store_stmt_end(s);
	return rc == SQLITE_ROW ? STORE_OK : STORE_UNAVAILABLE;
}

static enum store_status record_read(struct store *st, sqlite3_int64 cid, uint32_t version,
                                     Refex__StoredClient *c)
{
	sqlite3_stmt *s = st->sq->clients->r[CR_RECORD];
	enum store_status status = STORE_OK;
	int rc;

	sqlite3_bind_int64(s, 1, cid);
	sqlite3_bind_int64(s, 2, version);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_BLOB) {
		c->record = refex__client_record__unpack(NULL, (size_t)sqlite3_column_bytes(s, 0),
		                                         sqlite3_column_blob(s, 0));
		status = c->record ? STORE_OK : STORE_UNAVAILABLE;
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		status = STORE_UNAVAILABLE;
	}
	store_stmt_end(s);
	return status;
}

/* Build a client from CR_GET's row as agency sees it. */
static enum store_status client_build(struct store *st, sqlite3_stmt *s, const char *id,
                                      const char *agency, Refex__StoredClient **out, bool *owner)
{
	Refex__StoredClient *c = malloc(sizeof(*c));
	sqlite3_int64 cid = sqlite3_column_int64(s, 0);
	uint32_t version = (uint32_t)sqlite3_column_int64(s, 2);
	int64_t live = 0, withdrawn = 0;
	bool oom = c == NULL;
	enum store_status status = STORE_OK;

	if (c != NULL) {
		refex__stored_client__init(c);
		c->id = strdup(id);
		c->owner = store_col_str(s, 1, &oom);
		c->has_created_at = c->has_updated_at = 1;
		c->created_at = sqlite3_column_int64(s, 3);
		c->updated_at = sqlite3_column_int64(s, 4);
		c->name = store_col_str(s, 5, &oom);
		c->erased_at = sqlite3_column_int64(s, 6);
		c->has_erased_at = c->erased_at > 0;
		c->erased_by = store_col_str(s, 7, &oom);
		*owner = c->owner != NULL && strcmp(c->owner, agency) == 0;
		if (*owner) {
			c->erase_reason = store_col_str(s, 8, &oom);
		}
		oom = oom || c->id == NULL;
	}
	store_stmt_end(s);
	if (oom) {
		store_client_free(c);
		return STORE_UNAVAILABLE;
	}
	if (!*owner) {
		status = visible_version(st, id, agency, &version);
		if (status == STORE_OK && version == 0) {
			status = STORE_NOT_FOUND;
		}
		if (status == STORE_OK) {
			status = cover_read(st, cid, agency, &live, &withdrawn);
		}
		c->consent_withdrawn_at = live == 0 ? withdrawn : 0;
		c->has_consent_withdrawn_at = c->consent_withdrawn_at > 0;
		free(c->name); /* the owner's current name, maybe newer than what was shared */
		c->name = NULL;
	}
	c->has_version = 1;
	c->version = version;
	if (status == STORE_OK && !c->has_erased_at) {
		status = record_read(st, cid, version, c);
	}
	if (status == STORE_OK && c->name == NULL && c->record != NULL &&
	    asprintf(&c->name, "%s %s", c->record->given_name, c->record->family_name) < 0) {
		c->name = NULL;
		status = STORE_UNAVAILABLE;
	}
	if (status != STORE_OK) {
		store_client_free(c);
		return status;
	}
	*out = c;
	return STORE_OK;
}

/* Read client id as agency may see it. */
enum store_status store_sqlite_client_get(struct store *st, const char *id, const char *agency,
                                   Refex__StoredClient **out, bool *owner)
{
	enum store_status status;

	*out = NULL;
	*owner = false;
	if (st == NULL || id == NULL || agency == NULL || (status = read_begin(st)) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	if ((status = client_row(st, id)) == STORE_OK) {
		status = client_build(st, st->sq->clients->r[CR_GET], id, agency, out, owner);
	}
	read_end(st);
	return status;
}

/* Free a client from store_client_get. */
void store_client_free(Refex__StoredClient *c)
{
	if (c != NULL) {
		protobuf_c_message_free_unpacked(&c->base, NULL);
	}
}

static Refex__StoredClient *summary_row(sqlite3_stmt *s, bool *oom)
{
	Refex__StoredClient *c = malloc(sizeof(*c));

	if (c == NULL) {
		*oom = true;
		return NULL;
	}
	refex__stored_client__init(c);
	c->id = store_col_str(s, 0, oom);
	c->owner = store_col_str(s, 1, oom);
	c->has_version = c->has_created_at = c->has_updated_at = 1;
	c->version = (uint32_t)sqlite3_column_int64(s, 2);
	c->created_at = sqlite3_column_int64(s, 3);
	c->updated_at = sqlite3_column_int64(s, 4);
	c->name = store_col_str(s, 5, oom);
	c->erased_at = sqlite3_column_int64(s, 6);
	c->has_erased_at = c->erased_at > 0;
	c->erased_by = store_col_str(s, 7, oom);
	return c;
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
		if (((*out)[*n] = summary_row(s, &oom)) != NULL) {
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

/* Free what store_client_list returned. */
void store_client_list_free(Refex__StoredClient **list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		store_client_free(list[i]);
	}
	free(list);
}

static Refex__ConsentRecord *consent_row(sqlite3_stmt *s, const char *client_id, bool *oom)
{
	Refex__ConsentRecord *k = malloc(sizeof(*k));

	if (k == NULL) {
		*oom = true;
		return NULL;
	}
	refex__consent_record__init(k);
	k->id = store_col_str(s, 0, oom);
	k->client_id = strdup(client_id);
	*oom = *oom || k->client_id == NULL;
	k->to_agency = store_col_str(s, 1, oom);
	k->has_any_partner = 1;
	k->any_partner = k->to_agency == NULL;
	k->has_basis = 1;
	k->basis = (Refex__LawfulBasis)sqlite3_column_int(s, 2);
	k->purpose = store_col_str(s, 3, oom);
	if (sqlite3_column_type(s, 4) != SQLITE_NULL) {
		k->has_method = 1;
		k->method = (Refex__ConsentMethod)sqlite3_column_int(s, 4);
	}
	k->reason = store_col_str(s, 5, oom);
	k->expires = store_col_str(s, 6, oom);
	k->recorded_agency = store_col_str(s, 7, oom);
	k->recorded_by = store_col_str(s, 8, oom);
	k->has_recorded_at = 1;
	k->recorded_at = sqlite3_column_int64(s, 9);
	k->withdrawn_at = sqlite3_column_int64(s, 10);
	k->has_withdrawn_at = k->withdrawn_at > 0;
	k->withdrawn_agency = store_col_str(s, 11, oom);
	k->withdrawn_by = store_col_str(s, 12, oom);
	k->withdraw_reason = store_col_str(s, 13, oom);
	return k;
}

static enum store_status consents_read(struct store *st, sqlite3_int64 cid, const char *id,
                                       const char *agency, bool owner, Refex__ConsentRecord ***out,
                                       size_t *n)
{
	sqlite3_stmt *s = st->sq->clients->r[CR_CONSENTS];
	Refex__ConsentRecord **grown;
	size_t cap = 0;
	bool oom = false;
	int rc;

	sqlite3_bind_int64(s, 1, cid);
	sqlite3_bind_int(s, 3, owner);
	rc = store_bind_text(s, 2, agency);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	for (; !oom && rc == SQLITE_ROW; rc = sqlite3_step(s)) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			if ((grown = realloc(*out, cap * sizeof(*grown))) == NULL) {
				oom = true;
				break;
			}
			*out = grown;
		}
		if (((*out)[*n] = consent_row(s, id, &oom)) != NULL) {
			(*n)++;
		}
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

/* Free what store_consent_list returned. */
void store_consent_list_free(Refex__ConsentRecord **list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		protobuf_c_message_free_unpacked(&list[i]->base, NULL);
	}
	free(list);
}

/* Read whether client id is erased (when, by whom) and what covers sharing it with agency. */
static enum store_status share_state(struct store *st, const char *id, const char *agency,
                                     int64_t *erased_at, char *erased_by, size_t by_len,
                                     int64_t *live, int64_t *withdrawn_at)
{
	sqlite3_stmt *s = st->sq->clients->r[CR_GET];
	enum store_status status = client_row(st, id);
	sqlite3_int64 cid;

	if (status != STORE_OK) {
		return status;
	}
	cid = sqlite3_column_int64(s, 0);
	*erased_at = sqlite3_column_int64(s, 6);
	snprintf(erased_by, by_len, "%s",
	         sqlite3_column_text(s, 7) ? (const char *)sqlite3_column_text(s, 7) : "");
	store_stmt_end(s);
	return cover_read(st, cid, agency, live, withdrawn_at);
}

/* Fill ref's stored-client state from the store, inside the caller's read transaction. */
enum store_status store_clients_referral_state(struct store *st, Refex__Referral *ref)
{
	int64_t erased_at = 0, live = 0, withdrawn_at = 0;
	char by[64] = "";
	enum store_status status;

	if (ref->client_id == NULL) {
		return STORE_OK;
	}
	status = share_state(st, ref->client_id, ref->recipient, &erased_at, by, sizeof(by), &live,
	                     &withdrawn_at);
	if (status != STORE_OK) {
		/* No row for the client it names: the referral is still there to show. */
		return status == STORE_NOT_FOUND ? STORE_OK : status;
	}
	if (erased_at > 0) {
		ref->has_client_erased_at = 1;
		ref->client_erased_at = erased_at;
		if ((ref->client_erased_by = strdup(by)) == NULL) {
			return STORE_UNAVAILABLE;
		}
	} else if (live == 0 && withdrawn_at > 0) {
		ref->has_consent_withdrawn_at = 1;
		ref->consent_withdrawn_at = withdrawn_at;
	}
	return STORE_OK;
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
