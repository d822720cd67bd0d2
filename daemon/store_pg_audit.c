/*
 * `refexd --verify-audit` on a PostgreSQL database: the audit chain read in
 * order, in one read-only snapshot on a connection of its own (hubs may be
 * writing meanwhile), a batch of rows at a time through a cursor, and checked
 * entry by entry as on SQLite (store_audit.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_pg_private.h"

#define AUDIT_FETCH "FETCH 4096 FROM audit_rows"

/* Check the entries of one fetched batch; false once one breaks the chain, or (setting *oom) a
 * hash cannot be decoded for want of memory. */
static bool audit_rows_ok(struct store_audit_check *c, const PGresult *res, bool *oom)
{
	for (int i = 0; i < PQntuples(res); i++) {
		struct store_audit a = {
		    .at_ms = pg_num(res, i, 1),
		    .agency = PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2),
		    .holder = PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3),
		    .action = PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4),
		    .record = PQgetisnull(res, i, 5) ? NULL : PQgetvalue(res, i, 5),
		};
		size_t len = 0;
		uint8_t *hash = pg_bytes(res, i, 6, &len, oom);
		bool ok = !*oom && store_audit_check_row(c, pg_num(res, i, 0), &a, hash, len);

		free(hash);
		if (!ok) {
			return false;
		}
	}
	return true;
}

/* Read the chain on c through a cursor, checking it; -1 if the database failed. */
static int audit_read(PGconn *c, struct store_audit_check *check, bool *oom)
{
	static const char *const open[] = {
	    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	    "DECLARE audit_rows NO SCROLL CURSOR FOR SELECT seq, at_ms, agency, holder, action,"
	    " record, hash FROM audit ORDER BY seq",
	};
	PGresult *res = NULL;
	bool more = true;

	for (size_t i = 0; i < sizeof(open) / sizeof(open[0]); i++) {
		res = PQexec(c, open[i]);
		if (!pg_ok(res)) {
			PQclear(res);
			return -1;
		}
		PQclear(res);
	}
	while (more) {
		if (!pg_ok(res = PQexec(c, AUDIT_FETCH))) {
			PQclear(res);
			return -1;
		}
		more = PQntuples(res) > 0 && audit_rows_ok(check, res, oom);
		PQclear(res);
	}
	return *oom ? -1 : 0;
}

/* Verify the audit chain of the PostgreSQL database at url, read-only: *entries intact
 * entries, *first_bad the first that does not verify (0: none). -1 with err (never the URL). */
int store_pg_audit_verify(const char *url, uint64_t *entries, uint64_t *first_bad, char *err,
                          size_t errlen)
{
	struct store_audit_check check;
	PGconn *c = NULL;
	bool oom = false;
	int rc = -1;

	*entries = *first_bad = 0;
	if (store_audit_check_init(&check) < 0) {
		snprintf(err, errlen, "cannot set up SHA-256");
	} else if ((c = pg_connect(url, err, errlen)) != NULL) {
		if ((rc = audit_read(c, &check, &oom)) < 0) {
			snprintf(err, errlen, "%s", oom ? "out of memory" : PQerrorMessage(c));
			err[strcspn(err, "\n")] = '\0';
		}
		PQclear(PQexec(c, "ROLLBACK"));
	}
	*entries = check.entries;
	*first_bad = check.first_bad;
	store_audit_check_free(&check);
	PQfinish(c);
	return rc;
}
