/*
 * The outcomes report on PostgreSQL: migration 12 (the counters per pathway
 * and day sent, bands of durations, decline reasons, and the triggers that
 * keep them in the transaction of each change, as store_report.c's are on
 * SQLite) and the report's read, on the hub's reader (one snapshot) or on a
 * read-only connection of its own for `refexd --report`. store_report.c turns
 * the rows into cells, for both backends.
 */
#include <stdio.h>
#include <string.h>

#include "store_pg_private.h"

#define RPT_BAND     "CASE" STORE_REPORT_BANDS(STORE_REPORT_BAND_WHEN_) " ELSE 15 END"
#define RPT_DAY(r)   r ".created_at / 86400, " r ".sender, " r ".recipient, " r ".form"
#define RPT_COUNT(c) "count(*) FILTER (WHERE " c ")"
#define RPT_CELL_KEY "ON CONFLICT (day, sender, recipient, form) DO UPDATE SET "
#define RPT_IS(s, n) "(" s ".state = " #n ")::int"
#define RPT_DIFF(n)  RPT_IS("NEW", n) " - " RPT_IS("OLD", n)
#define RPT_ADD(c)   c " = report_cells." c " + excluded." c

/* Migration 12 (store_pg.c): the tables, what is stored already counted (tombstones too), and
 * the triggers that keep them. New referrals are counted by a trigger too (as state_counts is:
 * migration 3). clang-format cannot lay out string literals joined with macros. */
/* clang-format off */
const char store_pg_report_migration[] =
    "CREATE TABLE report_cells ("
    " day bigint NOT NULL, sender text NOT NULL, recipient text NOT NULL, form text NOT NULL,"
    " sent bigint NOT NULL DEFAULT 0, s1 bigint NOT NULL DEFAULT 0,"
    " s2 bigint NOT NULL DEFAULT 0, s3 bigint NOT NULL DEFAULT 0,"
    " s4 bigint NOT NULL DEFAULT 0, s5 bigint NOT NULL DEFAULT 0,"
    " s6 bigint NOT NULL DEFAULT 0, accepted bigint NOT NULL DEFAULT 0,"
    " overdue bigint NOT NULL DEFAULT 0, forwarded bigint NOT NULL DEFAULT 0,"
    " PRIMARY KEY (day, sender, recipient, form));"
    "CREATE INDEX report_cells_sender ON report_cells (sender, day);"
    "CREATE INDEX report_cells_recipient ON report_cells (recipient, day);"
    "CREATE TABLE report_times ("
    " day bigint NOT NULL, sender text NOT NULL, recipient text NOT NULL, form text NOT NULL,"
    " step integer NOT NULL, band integer NOT NULL, n bigint NOT NULL,"
    " PRIMARY KEY (day, sender, recipient, form, step, band));"
    "CREATE INDEX report_times_sender ON report_times (sender, day);"
    "CREATE INDEX report_times_recipient ON report_times (recipient, day);"
    "CREATE TABLE report_reasons ("
    " day bigint NOT NULL, sender text NOT NULL, recipient text NOT NULL, form text NOT NULL,"
    " reason text NOT NULL, n bigint NOT NULL,"
    " PRIMARY KEY (day, sender, recipient, form, reason));"
    "INSERT INTO report_cells SELECT " RPT_DAY("r") ", count(*),"
    " " RPT_COUNT("state = 1") ", " RPT_COUNT("state = 2") ", " RPT_COUNT("state = 3") ","
    " " RPT_COUNT("state = 4") ", " RPT_COUNT("state = 5") ", " RPT_COUNT("state = 6") ","
    " " RPT_COUNT("EXISTS (SELECT 1 FROM history h WHERE h.referral_rid = r.rid"
                  " AND h.to_state = 3)") ","
    " " RPT_COUNT("due_at > 0 AND (state IN (1, 2) AND overdue_pending IS NULL OR EXISTS"
                  " (SELECT 1 FROM history h WHERE h.referral_rid = r.rid"
                  " AND h.to_state IN (3, 4) AND h.at > r.due_at))") ","
    " " RPT_COUNT("parent_id IS NOT NULL") " FROM referrals r GROUP BY 1, 2, 3, 4;"
    "INSERT INTO report_times SELECT day, sender, recipient, form, step, " RPT_BAND ", count(*)"
    " FROM (SELECT " RPT_DAY("r") ", " STORE_REPORT_STEP_SQL("h.to_state") " AS step,"
    " h.at - r.created_at AS d FROM history h JOIN referrals r ON r.rid = h.referral_rid"
    " WHERE h.to_state BETWEEN 2 AND 5) AS t (day, sender, recipient, form, step, d)"
    " GROUP BY 1, 2, 3, 4, 5, 6;"
    "INSERT INTO report_reasons SELECT " RPT_DAY("r") ", "
    STORE_REPORT_REASON_SQL("h.reason") ", count(*)"
    " FROM history h JOIN referrals r ON r.rid = h.referral_rid"
    " WHERE h.to_state = 4 AND h.reason IS NOT NULL GROUP BY 1, 2, 3, 4, 5;"
    /* A new referral: its cell, sent and in state sent. */
    "CREATE FUNCTION report_sent() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " INSERT INTO report_cells (day, sender, recipient, form, sent, s1, forwarded)"
    "  VALUES (" RPT_DAY("NEW") ", 1, 1, (NEW.parent_id IS NOT NULL)::int) " RPT_CELL_KEY
    RPT_ADD("sent") ", " RPT_ADD("s1") ", " RPT_ADD("forwarded") ";"
    " RETURN NULL; END $$;"
    "CREATE TRIGGER report_sent AFTER INSERT ON referrals"
    " FOR EACH ROW EXECUTE FUNCTION report_sent();"
    /* A change of state: the cell's counts, and how long the step took. */
    "CREATE FUNCTION report_state() RETURNS trigger LANGUAGE plpgsql AS $$"
    " DECLARE d bigint := NEW.updated_at - NEW.created_at; BEGIN"
    " INSERT INTO report_cells (day, sender, recipient, form, s1, s2, s3, s4, s5, s6, accepted)"
    "  VALUES (" RPT_DAY("NEW") ", " RPT_DIFF(1) ", " RPT_DIFF(2) ", " RPT_DIFF(3) ","
    "  " RPT_DIFF(4) ", " RPT_DIFF(5) ", " RPT_DIFF(6) ", " RPT_IS("NEW", 3) ") " RPT_CELL_KEY
    RPT_ADD("s1") ", " RPT_ADD("s2") ", " RPT_ADD("s3") ", " RPT_ADD("s4") ", "
    RPT_ADD("s5") ", " RPT_ADD("s6") ", " RPT_ADD("accepted") ";"
    " IF NEW.state BETWEEN 2 AND 5 THEN"
    "  INSERT INTO report_times VALUES (" RPT_DAY("NEW") ", "
    STORE_REPORT_STEP_SQL("NEW.state") ", " RPT_BAND ", 1)"
    "  ON CONFLICT (day, sender, recipient, form, step, band)"
    "  DO UPDATE SET n = report_times.n + 1; END IF;"
    " RETURN NULL; END $$;"
    "CREATE TRIGGER report_state AFTER UPDATE OF state ON referrals"
    " FOR EACH ROW WHEN (OLD.state <> NEW.state) EXECUTE FUNCTION report_state();"
    /* Only the overdue sweep clears overdue_pending of a referral still open. */
    "CREATE FUNCTION report_overdue() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " INSERT INTO report_cells (day, sender, recipient, form, overdue)"
    "  VALUES (" RPT_DAY("NEW") ", 1) " RPT_CELL_KEY RPT_ADD("overdue") ";"
    " RETURN NULL; END $$;"
    "CREATE TRIGGER report_overdue AFTER UPDATE OF overdue_pending ON referrals"
    " FOR EACH ROW WHEN (OLD.overdue_pending IS NOT NULL AND NEW.overdue_pending IS NULL"
    " AND NEW.state IN (1, 2)) EXECUTE FUNCTION report_overdue();"
    "CREATE FUNCTION report_reason() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " INSERT INTO report_reasons SELECT " RPT_DAY("r") ", "
    STORE_REPORT_REASON_SQL("NEW.reason") ", 1 FROM referrals r WHERE r.rid = NEW.referral_rid"
    "  ON CONFLICT (day, sender, recipient, form, reason)"
    "  DO UPDATE SET n = report_reasons.n + 1;"
    " RETURN NULL; END $$;"
    "CREATE TRIGGER report_reason AFTER INSERT ON history FOR EACH ROW"
    " WHEN (NEW.to_state = 4 AND NEW.reason IS NOT NULL) EXECUTE FUNCTION report_reason();"
    /* Retention erases reasons (store_pg_purge.c): their count goes with them. */
    "CREATE FUNCTION report_reason_erased() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " UPDATE report_reasons SET n = n - 1 WHERE reason = "
    STORE_REPORT_REASON_SQL("OLD.reason")
    "  AND (day, sender, recipient, form) = (SELECT " RPT_DAY("r") " FROM referrals r"
    "  WHERE r.rid = OLD.referral_rid);"
    " DELETE FROM report_reasons WHERE n <= 0 AND reason = "
    STORE_REPORT_REASON_SQL("OLD.reason") ";"
    " RETURN NULL; END $$;"
    "CREATE TRIGGER report_reason_erased AFTER UPDATE OF reason ON history FOR EACH ROW"
    " WHEN (OLD.to_state = 4 AND OLD.reason IS NOT NULL AND NEW.reason IS NULL)"
    " EXECUTE FUNCTION report_reason_erased();";

/* Rows of table t for $1 (an agency: those it sent, then those it received from others; NULL:
 * all) sent on days $2 to $3. Each branch walks one index. */
#define RPT_FROM(t)                                                                                \
	"(SELECT * FROM " t " WHERE $1::text IS NOT NULL AND sender = $1 AND day BETWEEN $2 AND $3" \
	" UNION ALL SELECT * FROM " t " WHERE $1::text IS NOT NULL AND recipient = $1"              \
	" AND sender <> $1 AND day BETWEEN $2 AND $3"                                               \
	" UNION ALL SELECT * FROM " t " WHERE $1::text IS NULL AND day BETWEEN $2 AND $3) AS c"
/* The cell's key, in the order store_report_take reads cells in (strcmp's: COLLATE "C"). */
#define RPT_GROUP                                                                                  \
	"sender COLLATE \"C\", recipient COLLATE \"C\", form COLLATE \"C\","                       \
	" to_char(to_timestamp(day * 86400) AT TIME ZONE 'UTC', 'YYYY-MM') AS month"

static const char *const report_sql[STORE_REPORT_QS] = {
    [STORE_REPORT_Q_CELLS] =
        "SELECT " RPT_GROUP ", sum(sent), sum(s1), sum(s2), sum(s3), sum(s4), sum(s5),"
        " sum(s6), sum(accepted), sum(overdue), sum(forwarded)"
        " FROM " RPT_FROM("report_cells") " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    [STORE_REPORT_Q_TIMES] =
        "SELECT " RPT_GROUP ", step, band, sum(n) FROM " RPT_FROM("report_times")
        " GROUP BY 1, 2, 3, 4, 5, 6",
    [STORE_REPORT_Q_REASONS] =
        "SELECT " RPT_GROUP ", reason, sum(n) FROM " RPT_FROM("report_reasons")
        " GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) > 0",
};
/* clang-format on */

/* Run query q of the report on c (inside the caller's read transaction) into d. */
static int report_run(PGconn *c, enum store_report_q q, const struct store_report_query *rq,
                      struct store_report_data *d)
{
	struct store_report_row row = {0};
	struct pg_params p = {0};
	PGresult *res;
	int rc = 0;

	pg_text(&p, 1, rq->agency);
	pg_int(&p, 2, rq->from_day);
	pg_int(&p, 3, rq->to_day);
	res = PQexecParams(c, report_sql[q], p.n, NULL, p.v, p.len, p.fmt, 0);
	if (!pg_ok(res)) {
		PQclear(res);
		return -1;
	}
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		for (int k = 0; k < 4; k++) {
			row.key[k] = PQgetvalue(res, i, k);
		}
		row.text = PQgetvalue(res, i, 4);
		for (int k = 4; k < PQnfields(res) && k - 4 < STORE_REPORT_NUMS; k++) {
			row.num[k - 4] = pg_num(res, i, k);
		}
		rc = store_report_take(d, q, &row);
	}
	PQclear(res);
	return rc;
}

/* Read every query of the report on c in one snapshot: the numbers agree. err (if not NULL)
 * gets the server's message on failure. */
static enum store_status report_read_conn(PGconn *c, const struct store_report_query *q,
                                          struct store_report_data *out, char *err, size_t errlen)
{
	PGresult *res = PQexec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	int rc = pg_ok(res) ? 0 : -1;

	PQclear(res);
	memset(out, 0, sizeof(*out));
	for (int i = 0; rc == 0 && i < STORE_REPORT_QS; i++) {
		if (i != STORE_REPORT_Q_REASONS || q->reasons) {
			rc = report_run(c, (enum store_report_q)i, q, out);
		}
	}
	if (rc < 0 && err != NULL) {
		snprintf(err, errlen, "%s", PQerrorMessage(c));
		err[strcspn(err, "\n")] = '\0';
	}
	PQclear(PQexec(c, rc == 0 ? "COMMIT" : "ROLLBACK"));
	if (rc < 0) {
		store_report_data_free(out);
		return STORE_UNAVAILABLE;
	}
	return STORE_OK;
}

/* Read the report cells of q on the hub's reader. */
enum store_status store_pg_report_read(struct store *st, const struct store_report_query *q,
                                       struct store_report_data *out)
{
	memset(out, 0, sizeof(*out));
	if (pg_ready(st->pg, false) < 0) {
		return STORE_UNAVAILABLE;
	}
	return report_read_conn(st->pg->r, q, out, NULL, 0);
}

/* Read the report cells of q from the database at url, on a read-only connection of its own
 * (refexd --report). err says why on STORE_UNAVAILABLE, never with the URL. */
enum store_status store_pg_report_read_url(const char *url, const struct store_report_query *q,
                                           struct store_report_data *out, char *err, size_t errlen)
{
	PGconn *c = pg_connect(url, err, errlen);
	enum store_status status = STORE_UNAVAILABLE;

	memset(out, 0, sizeof(*out));
	if (c == NULL) {
		return STORE_UNAVAILABLE;
	}
	if ((status = report_read_conn(c, q, out, err, errlen)) != STORE_OK) {
		if (strstr(err, "does not exist") != NULL) {
			snprintf(
			    err, errlen,
			    "the database has no report counters yet: start this refexd on it once"
			    " so that it upgrades the database");
		}
	}
	PQfinish(c);
	return status;
}
