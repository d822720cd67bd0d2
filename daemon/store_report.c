/*
 * The report's reads: the counters of migration 12 (below), summed by pathway
 * and month over a period of days. They run on a read connection (the hub's, or one of their
 * own for the operator) and never wait for the writer. A report is rare, so its statements are
 * prepared per call rather than kept for the life of the store.
 */
#include "store_report.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite_private.h"

#define RPT_STEP   STORE_REPORT_STEP_SQL
#define RPT_REASON STORE_REPORT_REASON_SQL

/* Migration 12 (store_sqlite.c): the tables, what is stored already counted (tombstones
 * too), and the triggers that keep them (new referrals: store_report_flush). clang-format cannot
 * lay out string literals joined with macros; they are laid out by hand. */
/* clang-format off */
const char store_report_migration[] =
    "CREATE TABLE report_cells ("
    " day INTEGER NOT NULL, sender TEXT NOT NULL, recipient TEXT NOT NULL,"
    " form TEXT NOT NULL, sent INTEGER NOT NULL DEFAULT 0,"
    " s1 INTEGER NOT NULL DEFAULT 0, s2 INTEGER NOT NULL DEFAULT 0,"
    " s3 INTEGER NOT NULL DEFAULT 0, s4 INTEGER NOT NULL DEFAULT 0,"
    " s5 INTEGER NOT NULL DEFAULT 0, s6 INTEGER NOT NULL DEFAULT 0,"
    " accepted INTEGER NOT NULL DEFAULT 0, overdue INTEGER NOT NULL DEFAULT 0,"
    " forwarded INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (day, sender, recipient, form)) WITHOUT ROWID;"
    "CREATE INDEX report_cells_sender ON report_cells (sender, day);"
    "CREATE INDEX report_cells_recipient ON report_cells (recipient, day);"
    "CREATE TABLE report_times ("
    " day INTEGER NOT NULL, sender TEXT NOT NULL, recipient TEXT NOT NULL,"
    " form TEXT NOT NULL, step INTEGER NOT NULL, band INTEGER NOT NULL, n INTEGER NOT NULL,"
    " PRIMARY KEY (day, sender, recipient, form, step, band)) WITHOUT ROWID;"
    "CREATE INDEX report_times_sender ON report_times (sender, day);"
    "CREATE INDEX report_times_recipient ON report_times (recipient, day);"
    "CREATE TABLE report_reasons ("
    " day INTEGER NOT NULL, sender TEXT NOT NULL, recipient TEXT NOT NULL,"
    " form TEXT NOT NULL, reason TEXT NOT NULL, n INTEGER NOT NULL,"
    " PRIMARY KEY (day, sender, recipient, form, reason)) WITHOUT ROWID;"
    "INSERT INTO report_cells SELECT created_at / 86400, sender, recipient, form, count(*),"
    " sum(state = 1), sum(state = 2), sum(state = 3), sum(state = 4), sum(state = 5),"
    " sum(state = 6),"
    " sum(EXISTS (SELECT 1 FROM history h WHERE h.referral_rid = r.rid AND h.to_state = 3)),"
    " sum(due_at > 0 AND (state IN (1, 2) AND overdue_pending IS NULL OR EXISTS (SELECT 1"
    "  FROM history h WHERE h.referral_rid = r.rid AND h.to_state IN (3, 4)"
    "  AND h.at > r.due_at))),"
    " sum(parent_id IS NOT NULL) FROM referrals r GROUP BY 1, 2, 3, 4;"
    "INSERT INTO report_times SELECT r.created_at / 86400, r.sender, r.recipient, r.form, "
    RPT_STEP("h.to_state") ", " STORE_REPORT_BAND_SQL("h.at - r.created_at") ", count(*)"
    " FROM history h JOIN referrals r ON r.rid = h.referral_rid"
    " WHERE h.to_state BETWEEN 2 AND 5 GROUP BY 1, 2, 3, 4, 5, 6;"
    "INSERT INTO report_reasons SELECT r.created_at / 86400, r.sender, r.recipient, r.form, "
    RPT_REASON("h.reason") ", count(*) FROM history h JOIN referrals r ON r.rid = h.referral_rid"
    " WHERE h.to_state = 4 AND h.reason IS NOT NULL GROUP BY 1, 2, 3, 4, 5;"
    "CREATE TRIGGER report_state AFTER UPDATE OF state ON referrals"
    " WHEN OLD.state <> NEW.state BEGIN"
    /* An upsert, not an update: the writer adds new referrals to their cell only just before
       the commit (store_report_flush), so a cell may not be there yet; the sums agree. */
    " INSERT INTO report_cells (day, sender, recipient, form, s1, s2, s3, s4, s5, s6, accepted)"
    "  VALUES (NEW.created_at / 86400, NEW.sender, NEW.recipient, NEW.form,"
    "  (NEW.state = 1) - (OLD.state = 1), (NEW.state = 2) - (OLD.state = 2),"
    "  (NEW.state = 3) - (OLD.state = 3), (NEW.state = 4) - (OLD.state = 4),"
    "  (NEW.state = 5) - (OLD.state = 5), (NEW.state = 6) - (OLD.state = 6), NEW.state = 3)"
    "  ON CONFLICT (day, sender, recipient, form) DO UPDATE SET s1 = s1 + excluded.s1,"
    "  s2 = s2 + excluded.s2, s3 = s3 + excluded.s3, s4 = s4 + excluded.s4,"
    "  s5 = s5 + excluded.s5, s6 = s6 + excluded.s6, accepted = accepted + excluded.accepted;"
    " INSERT INTO report_times SELECT NEW.created_at / 86400, NEW.sender, NEW.recipient,"
    "  NEW.form, " RPT_STEP("NEW.state") ", "
    STORE_REPORT_BAND_SQL("NEW.updated_at - NEW.created_at") ", 1"
    "  WHERE NEW.state BETWEEN 2 AND 5"
    "  ON CONFLICT (day, sender, recipient, form, step, band) DO UPDATE SET n = n + 1;"
    " END;"
    /* Only the overdue sweep clears overdue_pending of a referral still open. */
    "CREATE TRIGGER report_overdue AFTER UPDATE OF overdue_pending ON referrals"
    " WHEN OLD.overdue_pending IS NOT NULL AND NEW.overdue_pending IS NULL"
    " AND NEW.state IN (1, 2) BEGIN"
    " INSERT INTO report_cells (day, sender, recipient, form, overdue)"
    "  VALUES (NEW.created_at / 86400, NEW.sender, NEW.recipient, NEW.form, 1)"
    "  ON CONFLICT (day, sender, recipient, form) DO UPDATE SET overdue = overdue + 1;"
    " END;"
    "CREATE TRIGGER report_reason AFTER INSERT ON history"
    " WHEN NEW.to_state = 4 AND NEW.reason IS NOT NULL BEGIN"
    " INSERT INTO report_reasons SELECT created_at / 86400, sender, recipient, form, "
    RPT_REASON("NEW.reason") ", 1 FROM referrals WHERE rid = NEW.referral_rid"
    "  ON CONFLICT (day, sender, recipient, form, reason) DO UPDATE SET n = n + 1;"
    " END;"
    /* Retention erases reasons (store_purge_closed): their count goes with them. */
    "CREATE TRIGGER report_reason_erased AFTER UPDATE OF reason ON history"
    " WHEN OLD.to_state = 4 AND OLD.reason IS NOT NULL AND NEW.reason IS NULL BEGIN"
    " UPDATE report_reasons SET n = n - 1 WHERE reason = " RPT_REASON("OLD.reason")
    "  AND (day, sender, recipient, form) = (SELECT created_at / 86400, sender, recipient,"
    "  form FROM referrals WHERE rid = OLD.referral_rid);"
    " DELETE FROM report_reasons WHERE n <= 0 AND reason = " RPT_REASON("OLD.reason") ";"
    " END;";
/* clang-format on */

/* A new referral's cell: added once per cell and transaction, not by a trigger per insert. */
#define REPORT_ADD_SQL                                                                             \
	"INSERT INTO report_cells (day, sender, recipient, form, sent, s1, forwarded)"             \
	" VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6) ON CONFLICT (day, sender, recipient, form)"          \
	" DO UPDATE SET sent = sent + excluded.sent, s1 = s1 + excluded.s1,"                       \
	" forwarded = forwarded + excluded.forwarded"

/* A referral the open transaction inserted; its strings are the queued job's, alive until the
 * job's callback, after the commit. */
struct store_report_new {
	int64_t day;
	const char *sender, *recipient, *form;
	bool forwarded;
};

#define BAND_END_(b, s) [b] = s,
static const int64_t band_ends[STORE_REPORT_NBANDS] = {
    STORE_REPORT_BANDS(BAND_END_)[STORE_REPORT_NBANDS - 1] = STORE_REPORT_OVER,
};

/* Rows of table t for ?1 (an agency: those it sent, then those it received from others; NULL:
 * all) sent on days ?2 to ?3. Each branch walks one index. */
#define RPT_FROM(t)                                                                                \
	"(SELECT * FROM " t " WHERE ?1 IS NOT NULL AND sender = ?1 AND day BETWEEN ?2 AND ?3"      \
	" UNION ALL SELECT * FROM " t " WHERE ?1 IS NOT NULL AND recipient = ?1 AND sender <> ?1"  \
	" AND day BETWEEN ?2 AND ?3"                                                               \
	" UNION ALL SELECT * FROM " t " WHERE ?1 IS NULL AND day BETWEEN ?2 AND ?3)"
#define RPT_GROUP "sender, recipient, form, strftime('%Y-%m', day * 86400, 'unixepoch') AS month"

static const char *const report_sql[STORE_REPORT_QS] = {
    [STORE_REPORT_Q_CELLS] =
        "SELECT " RPT_GROUP ", sum(sent), sum(s1), sum(s2), sum(s3), sum(s4), sum(s5),"
        " sum(s6), sum(accepted), sum(overdue), sum(forwarded)"
        " FROM " RPT_FROM("report_cells") " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    [STORE_REPORT_Q_TIMES] = "SELECT " RPT_GROUP ", step, band, sum(n) FROM " RPT_FROM(
        "report_times") " GROUP BY 1, 2, 3, 4, 5, 6",
    [STORE_REPORT_Q_REASONS] = "SELECT " RPT_GROUP ", reason, sum(n) FROM " RPT_FROM(
        "report_reasons") " GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) > 0",
};

/* Note a referral the open transaction inserted (storage thread). */
int store_report_note_insert(struct store *st, const struct store_new_referral *r)
{
	struct store_report_new *grown;

	if (st->sq->n_report_new == st->sq->cap_report_new) {
		size_t cap = st->sq->cap_report_new ? st->sq->cap_report_new * 2 : 64;

		if ((grown = realloc(st->sq->report_new, cap * sizeof(*grown))) == NULL) {
			return -1;
		}
		st->sq->report_new = grown;
		st->sq->cap_report_new = cap;
	}
	st->sq->report_new[st->sq->n_report_new++] = (struct store_report_new){
	    .day = r->created_at / 86400,
	    .sender = r->sender,
	    .recipient = r->recipient,
	    .form = r->form,
	    .forwarded = r->parent_id != NULL,
	};
	return 0;
}

static int new_cmp(const void *pa, const void *pb)
{
	const struct store_report_new *a = pa, *b = pb;
	int d = (a->day > b->day) - (a->day < b->day);

	d = d ? d : strcmp(a->sender, b->sender);
	d = d ? d : strcmp(a->recipient, b->recipient);
	return d ? d : strcmp(a->form, b->form);
}

/* Add n referrals of one cell (run[0]'s), f of them forwarded. */
static int report_add(struct store *st, const struct store_report_new *run, size_t n, size_t f)
{
	sqlite3_stmt *s = st->sq->report_add;
	int rc;

	sqlite3_bind_int64(s, 1, run->day);
	rc = store_bind_text(s, 2, run->sender) | store_bind_text(s, 3, run->recipient) |
	     store_bind_text(s, 4, run->form);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)n);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)f);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : rc;
	store_stmt_end(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Add the noted referrals to their cells, once per cell, inside the open transaction. */
int store_report_flush(struct store *st)
{
	size_t i = 0, j, f;
	int rc = 0;

	if (st->sq->n_report_new == 0) {
		return 0;
	}
	if (st->sq->report_add == NULL &&
	    sqlite3_prepare_v3(st->sq->wdb, REPORT_ADD_SQL, -1, SQLITE_PREPARE_PERSISTENT,
	                       &st->sq->report_add, NULL) != SQLITE_OK) {
		st->sq->n_report_new = 0;
		return -1;
	}
	qsort(st->sq->report_new, st->sq->n_report_new, sizeof(*st->sq->report_new), new_cmp);
	while (rc == 0 && i < st->sq->n_report_new) {
		for (j = i, f = 0; j < st->sq->n_report_new &&
		                   new_cmp(&st->sq->report_new[i], &st->sq->report_new[j]) == 0;
		     j++) {
			f += st->sq->report_new[j].forwarded;
		}
		rc = report_add(st, &st->sq->report_new[i], j - i, f);
		i = j;
	}
	st->sq->n_report_new = 0;
	return rc;
}

/* Forget the noted referrals: the transaction is being redone or was rolled back. */
void store_report_forget(struct store *st)
{
	st->sq->n_report_new = 0;
}

/* Free the writer's report statement and notes. */
void store_report_close(struct store *st)
{
	sqlite3_finalize(st->sq->report_add);
	free(st->sq->report_new);
	st->sq->report_add = NULL;
	st->sq->report_new = NULL;
	st->sq->n_report_new = st->sq->cap_report_new = 0;
}

/* Return the upper end (seconds) of each band, the last one's being STORE_REPORT_OVER. */
const int64_t *store_report_band_ends(void)
{
	return band_ends;
}

static const char *col(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? (const char *)t : "";
}

static int key_cmp(const struct store_report_cell *c, const struct store_report_row *row)
{
	int d = strcmp(row->key[0], c->sender);

	d = d ? d : strcmp(row->key[1], c->recipient);
	d = d ? d : strcmp(row->key[2], c->form);
	return d ? d : strcmp(row->key[3], c->month);
}

/* Find the row's cell among the cells read so far, which the cells' query returned in key
 * order. */
static struct store_report_cell *cell_find(struct store_report_data *d,
                                           const struct store_report_row *row)
{
	size_t lo = 0, hi = d->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = key_cmp(&d->cells[mid], row);

		if (c == 0) {
			return &d->cells[mid];
		}
		if (c < 0) {
			hi = mid;
		} else {
			lo = mid + 1;
		}
	}
	return NULL;
}

/* Append the row's cell. */
static struct store_report_cell *cell_add(struct store_report_data *d,
                                          const struct store_report_row *row)
{
	struct store_report_cell *c, *grown;

	if ((grown = realloc(d->cells, (d->n + 1) * sizeof(*grown))) == NULL) {
		return NULL;
	}
	d->cells = grown;
	c = &d->cells[d->n];
	memset(c, 0, sizeof(*c));
	c->sender = strdup(row->key[0]);
	c->recipient = strdup(row->key[1]);
	c->form = strdup(row->key[2]);
	snprintf(c->month, sizeof(c->month), "%s", row->key[3]);
	d->n++;
	return c->sender && c->recipient && c->form ? c : NULL;
}

static uint64_t u64(const struct store_report_row *row, int i)
{
	return row->num[i] > 0 ? (uint64_t)row->num[i] : 0;
}

static int cell_counts(struct store_report_cell *c, const struct store_report_row *row)
{
	c->sent = u64(row, 0);
	for (int state = 1; state < STORE_STATES; state++) {
		c->in_state[state] = u64(row, state);
	}
	c->accepted = u64(row, 7);
	c->overdue = u64(row, 8);
	c->forwarded = u64(row, 9);
	return 0;
}

static int cell_times(struct store_report_cell *c, const struct store_report_row *row)
{
	int64_t step = row->num[0], band = row->num[1];

	if (step >= 0 && step < STORE_REPORT_STEPS && band >= 0 && band < STORE_REPORT_NBANDS) {
		c->times[step][band] += u64(row, 2);
	}
	return 0;
}

static int cell_reason(struct store_report_cell *c, const struct store_report_row *row)
{
	char **reasons = realloc(c->reasons, (c->n_reasons + 1) * sizeof(*reasons));
	uint64_t *counts;

	if (reasons == NULL) {
		return -1;
	}
	c->reasons = reasons;
	if ((counts = realloc(c->reason_counts, (c->n_reasons + 1) * sizeof(*counts))) == NULL) {
		return -1;
	}
	c->reason_counts = counts;
	if ((c->reasons[c->n_reasons] = strdup(row->text ? row->text : "")) == NULL) {
		return -1;
	}
	c->reason_counts[c->n_reasons++] = u64(row, 1);
	return 0;
}

/* Add a row of report query q to d. -1: out of memory. */
int store_report_take(struct store_report_data *d, enum store_report_q q,
                      const struct store_report_row *row)
{
	static int (*const take[STORE_REPORT_QS])(
	    struct store_report_cell *, const struct store_report_row *) = {cell_counts, cell_times,
	                                                                    cell_reason};
	struct store_report_cell *c;

	if (q == STORE_REPORT_Q_CELLS) {
		c = cell_add(d, row);
	} else if ((c = cell_find(d, row)) == NULL) {
		return 0; /* counted in no cell: cannot be, but costs nothing to skip */
	}
	return c == NULL ? -1 : take[q](c, row);
}

/* The row s is on, of a query with ncols columns. */
static void row_of(sqlite3_stmt *s, int ncols, struct store_report_row *row)
{
	for (int i = 0; i < 4; i++) {
		row->key[i] = col(s, i);
	}
	row->text = col(s, 4);
	for (int i = 4; i < ncols && i - 4 < STORE_REPORT_NUMS; i++) {
		row->num[i - 4] = sqlite3_column_int64(s, i);
	}
}

/* Run query q of the report on db into d. */
static int report_run(sqlite3 *db, enum store_report_q q, const struct store_report_query *rq,
                      struct store_report_data *d)
{
	struct store_report_row row = {0};
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, report_sql[q], -1, &s, NULL) != SQLITE_OK) {
		return -1;
	}
	store_bind_text(s, 1, rq->agency);
	sqlite3_bind_int64(s, 2, rq->from_day);
	sqlite3_bind_int64(s, 3, rq->to_day);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		row_of(s, sqlite3_column_count(s), &row);
		if (store_report_take(d, q, &row) < 0) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Read every query of the report in one read transaction: the numbers agree. */
static enum store_status report_read_db(sqlite3 *db, const struct store_report_query *q,
                                        struct store_report_data *out, char *err, size_t errlen)
{
	int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;

	memset(out, 0, sizeof(*out));
	for (int i = 0; rc == 0 && i < STORE_REPORT_QS; i++) {
		if (i != STORE_REPORT_Q_REASONS || q->reasons) {
			rc = report_run(db, i, q, out);
		}
	}
	if (rc < 0 && err != NULL) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
	}
	if (!sqlite3_get_autocommit(db)) {
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	}
	if (rc < 0) {
		store_report_data_free(out);
		return STORE_UNAVAILABLE;
	}
	return STORE_OK;
}

/* Read the report cells of q from the hub's read connection. */
enum store_status store_sqlite_report_read(struct store *st, const struct store_report_query *q,
                                           struct store_report_data *out)
{
	return report_read_db(st->sq->rdb, q, out, NULL, 0);
}

/* Read the report cells of q from the database at path, opened read-only. */
enum store_status store_report_read_file(const char *path, const struct store_report_query *q,
                                         struct store_report_data *out, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	enum store_status status = STORE_UNAVAILABLE;

	if (store_location_is_url(path)) {
		return store_pg_report_read_url(path, q, out, err, errlen);
	}
	memset(out, 0, sizeof(*out));
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
	} else {
		sqlite3_busy_timeout(db, 5000);
		status = report_read_db(db, q, out, err, errlen);
		if (status != STORE_OK && strstr(err, "no such table") != NULL) {
			snprintf(
			    err, errlen,
			    "%s has no report counters yet: start this refexd on it once so that "
			    "it upgrades the database",
			    path);
		}
	}
	sqlite3_close(db);
	return status;
}

/* Free what a read put in data. */
void store_report_data_free(struct store_report_data *data)
{
	for (size_t i = 0; i < data->n; i++) {
		struct store_report_cell *c = &data->cells[i];

		free(c->sender);
		free(c->recipient);
		free(c->form);
		for (size_t j = 0; j < c->n_reasons; j++) {
			free(c->reasons[j]);
		}
		free(c->reasons);
		free(c->reason_counts);
	}
	free(data->cells);
	memset(data, 0, sizeof(*data));
}
