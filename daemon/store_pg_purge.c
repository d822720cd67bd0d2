/*
 * Retention's purge on PostgreSQL (the `purge` write job): closed referrals
 * past their time become tombstones (ids, dates, states and history kept;
 * details, the client's name and the reasons given erased), and the stored
 * clients no referral holding details holds any more are erased and audited,
 * as store_writer.c and store_clients_sqlite.c do on SQLite. The rows are
 * updated in place; their old versions are removed by the vacuum the commit
 * queue's scrub asks for (store_pg_vacuum.c).
 */
#include <stdio.h>
#include <string.h>

#include "store_pg_private.h"

/* Closed referrals taken per job, and clients erased per statement (as on SQLite). */
#define PURGE_CHUNK       256
#define PURGE_CLIENTS_MAX 256
#define PURGE_STR_(n)     #n
#define PURGE_STR(n)      PURGE_STR_(n)

/* Clients k not erased, unchanged since $1, none of whose referrals still holds details. */
#define PURGE_UNHELD                                                                               \
	"k.erased_at IS NULL AND k.updated_at < $1 AND NOT EXISTS (SELECT 1 FROM referrals r"      \
	" WHERE r.client_id = k.id AND r.purged_at IS NULL)"

/* Erase the clients picked by the subquery that follows (with $2 the time) in every version and
 * consent, returning their ids to audit. The outer UPDATEs test erased_at / purged_at again:
 * a row another hub's purge changed while this one waited for it is re-checked on the outer
 * condition only (READ COMMITTED), so two purges at once never erase or count a row twice. */
#define PURGE_CLIENTS_ERASE                                                                        \
	"WITH e AS (UPDATE clients SET name = NULL, dup_key = NULL, erased_at = $2,"               \
	" erased_by = 'retention', erase_reason = 'retention period' WHERE erased_at IS NULL"      \
	" AND cid IN ("                                                                            \
	"SELECT cid FROM clients k WHERE "
#define PURGE_CLIENTS_END                                                                          \
	") RETURNING cid, id),"                                                                    \
	" v AS (UPDATE client_versions SET record = NULL WHERE cid IN (SELECT cid FROM e)),"       \
	" c AS (UPDATE consents SET purpose = NULL, reason = NULL, withdraw_reason = NULL"         \
	" WHERE cid IN (SELECT cid FROM e)) SELECT id FROM e"

/* Indexed by enum pg_wstmt - PW_PURGE; prepared on the writer connection. */
const char *const store_pg_purge_wsql[PW_COUNT - PW_PURGE] = {
    /* One chunk of closed referrals last changed before $1, oldest first, in one statement:
       their details, the reasons in their history, then the row (off the partial index
       referrals_closed); the stored clients they named come back. */
    [PW_PURGE - PW_PURGE] =
        "WITH p AS (SELECT rid FROM referrals WHERE state >= 4 AND purged_at IS NULL"
        " AND updated_at < $1 ORDER BY updated_at, rid LIMIT " PURGE_STR(
            PURGE_CHUNK) "),"
                         " d AS (DELETE FROM referral_data WHERE rid IN (SELECT rid FROM p)),"
                         " h AS (UPDATE history SET reason = NULL WHERE referral_rid IN (SELECT "
                         "rid FROM p)"
                         " AND reason IS NOT NULL)"
                         " UPDATE referrals SET client_name = NULL, purged_at = $2"
                         " WHERE rid IN (SELECT rid FROM p) AND purged_at IS NULL RETURNING "
                         "client_id",
    /* Clients that grew old enough since $3 (a range of clients_live)... */
    [PW_PURGE_CLIENTS - PW_PURGE] = PURGE_CLIENTS_ERASE
    "k.updated_at >= $3 AND " PURGE_UNHELD " LIMIT " PURGE_STR(PURGE_CLIENTS_MAX) PURGE_CLIENTS_END,
    /* ... and one whose last referral holding details was just purged. */
    [PW_PURGE_CLIENT_ONE - PW_PURGE] =
        PURGE_CLIENTS_ERASE "k.id = $3 AND " PURGE_UNHELD PURGE_CLIENTS_END,
};

/* Erase the clients statement which picks (with $3 arg) and audit each; *n counts them. */
static enum store_status purge_clients(struct store *st, int which, int64_t before, int64_t now,
                                       const char *arg, size_t *n)
{
	enum store_status status = STORE_OK;
	struct pg_params p = {0};
	PGresult *rows;

	*n = 0;
	pg_int(&p, 1, before);
	pg_int(&p, 2, now);
	pg_text(&p, 3, arg);
	if (store_pg_wquery(st, which, &p, &rows) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	for (int i = 0; status == STORE_OK && i < PQntuples(rows); i++) {
		status = store_pg_audit(st, &(struct store_audit){.agency = "refexd",
		                                                  .holder = "retention",
		                                                  .action = "client-erase",
		                                                  .record = PQgetvalue(rows, i, 0),
		                                                  .at_ms = now * 1000});
		*n += status == STORE_OK;
	}
	PQclear(rows);
	return status;
}

/* Say whether row i of rows names a stored client an earlier row named already. */
static bool client_seen(const PGresult *rows, int i)
{
	for (int j = 0; j < i; j++) {
		if (!PQgetisnull(rows, j, 0) &&
		    strcmp(PQgetvalue(rows, j, 0), PQgetvalue(rows, i, 0)) == 0) {
			return true;
		}
	}
	return false;
}

/* Erase the stored clients the chunk's referrals named, when nothing else holds them. */
static enum store_status purge_named(struct store *st, const PGresult *rows, int64_t before,
                                     int64_t now, size_t *erased)
{
	enum store_status status = STORE_OK;
	size_t n;

	for (int i = 0; status == STORE_OK && i < PQntuples(rows); i++) {
		if (PQgetisnull(rows, i, 0) || client_seen(rows, i)) {
			continue;
		}
		status =
		    purge_clients(st, PW_PURGE_CLIENT_ONE, before, now, PQgetvalue(rows, i, 0), &n);
		*erased += n;
	}
	return status;
}

/* Reduce closed referrals last changed before `before` to tombstones and erase the stored
 * clients that leaves unheld; on the pass's last chunk, also those last changed since
 * clients_since that no referral holds (older ones were held when retention last looked). */
enum store_status store_pg_purge(struct store *st, int64_t before, int64_t clients_since,
                                 int64_t now, struct store_result *res, bool *partial)
{
	enum store_status status;
	struct pg_params p = {0};
	PGresult *rows;
	char since[24];
	size_t erased = 0;

	pg_int(&p, 1, before);
	pg_int(&p, 2, now);
	if (store_pg_wquery(st, PW_PURGE, &p, &rows) != STORE_OK) {
		*partial = true; /* PostgreSQL ended the transaction: undo to the savepoint */
		return STORE_UNAVAILABLE;
	}
	res->purged = (size_t)PQntuples(rows);
	status = purge_named(st, rows, before, now, &erased);
	PQclear(rows);
	res->purged_clients = erased;
	if (status == STORE_OK && res->purged < PURGE_CHUNK) {
		snprintf(since, sizeof(since), "%lld", (long long)clients_since);
		status = purge_clients(st, PW_PURGE_CLIENTS, before, now, since, &erased);
		res->purged_clients += erased;
		res->clients_checked = status == STORE_OK && erased < PURGE_CLIENTS_MAX;
	}
	/* Other hubs' cached pages may still show what was purged: tell them on commit. */
	if (status == STORE_OK && (res->purged > 0 || res->purged_clients > 0)) {
		status = store_pg_news_pages(st);
	}
	*partial = status != STORE_OK;
	return status;
}
