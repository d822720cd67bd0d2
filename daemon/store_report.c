/*
 * The report's reads: the counters of migration 11 (store_report_schema.h), summed by pathway
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

enum { Q_CELLS, Q_TIMES, Q_REASONS, Q_COUNT };

static const char *const report_sql[Q_COUNT] = {
    [Q_CELLS] = "SELECT " RPT_GROUP ", sum(sent), sum(s1), sum(s2), sum(s3), sum(s4), sum(s5),"
                " sum(s6), sum(accepted), sum(overdue), sum(forwarded)"
                " FROM " RPT_FROM("report_cells") " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    [Q_TIMES] = "SELECT " RPT_GROUP
                ", step, band, sum(n) FROM " RPT_FROM("report_times") " GROUP BY 1, 2, 3, 4, 5, 6",
    [Q_REASONS] = "SELECT " RPT_GROUP ", reason, sum(n) FROM " RPT_FROM(
        "report_reasons") " GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) > 0",
};

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

static int key_cmp(const struct store_report_cell *c, sqlite3_stmt *s)
{
	int d = strcmp(col(s, 0), c->sender);

	d = d ? d : strcmp(col(s, 1), c->recipient);
	d = d ? d : strcmp(col(s, 2), c->form);
	return d ? d : strcmp(col(s, 3), c->month);
}

/* Find the cell of the row s is on (its first four columns) among the cells read so far,
 * which Q_CELLS returned in key order. */
static struct store_report_cell *cell_find(struct store_report_data *d, sqlite3_stmt *s)
{
	size_t lo = 0, hi = d->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = key_cmp(&d->cells[mid], s);

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

/* Append the cell of the row s is on. */
static struct store_report_cell *cell_add(struct store_report_data *d, sqlite3_stmt *s)
{
	struct store_report_cell *c, *grown;

	if ((grown = realloc(d->cells, (d->n + 1) * sizeof(*grown))) == NULL) {
		return NULL;
	}
	d->cells = grown;
	c = &d->cells[d->n];
	memset(c, 0, sizeof(*c));
	c->sender = strdup(col(s, 0));
	c->recipient = strdup(col(s, 1));
	c->form = strdup(col(s, 2));
	snprintf(c->month, sizeof(c->month), "%s", col(s, 3));
	d->n++;
	return c->sender && c->recipient && c->form ? c : NULL;
}

static uint64_t u64(sqlite3_stmt *s, int i)
{
	sqlite3_int64 v = sqlite3_column_int64(s, i);

	return v > 0 ? (uint64_t)v : 0;
}

static int cell_counts(struct store_report_cell *c, sqlite3_stmt *s)
{
	c->sent = u64(s, 4);
	for (int state = 1; state < STORE_STATES; state++) {
		c->in_state[state] = u64(s, 4 + state);
	}
	c->accepted = u64(s, 11);
	c->overdue = u64(s, 12);
	c->forwarded = u64(s, 13);
	return 0;
}

static int cell_times(struct store_report_cell *c, sqlite3_stmt *s)
{
	int step = sqlite3_column_int(s, 4), band = sqlite3_column_int(s, 5);

	if (step >= 0 && step < STORE_REPORT_STEPS && band >= 0 && band < STORE_REPORT_NBANDS) {
		c->times[step][band] += u64(s, 6);
	}
	return 0;
}

static int cell_reason(struct store_report_cell *c, sqlite3_stmt *s)
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
	if ((c->reasons[c->n_reasons] = strdup(col(s, 4))) == NULL) {
		return -1;
	}
	c->reason_counts[c->n_reasons++] = u64(s, 5);
	return 0;
}

/* Run query q of the report on db into d. */
static int report_run(sqlite3 *db, int q, const struct store_report_query *rq,
                      struct store_report_data *d)
{
	static int (*const take[Q_COUNT])(struct store_report_cell *,
	                                  sqlite3_stmt *) = {cell_counts, cell_times, cell_reason};
	struct store_report_cell *c;
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, report_sql[q], -1, &s, NULL) != SQLITE_OK) {
		return -1;
	}
	store_bind_text(s, 1, rq->agency);
	sqlite3_bind_int64(s, 2, rq->from_day);
	sqlite3_bind_int64(s, 3, rq->to_day);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (q == Q_CELLS) {
			c = cell_add(d, s);
		} else if ((c = cell_find(d, s)) == NULL) {
			continue; /* counted in no cell: cannot be, but costs nothing to skip */
		}
		if (c == NULL || take[q](c, s) < 0) {
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
	for (int i = 0; rc == 0 && i < Q_COUNT; i++) {
		if (i != Q_REASONS || q->reasons) {
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
enum store_status store_report_read(struct store *st, const struct store_report_query *q,
                                    struct store_report_data *out)
{
	return report_read_db(st->rdb, q, out, NULL, 0);
}

/* Read the report cells of q from the database at path, opened read-only. */
enum store_status store_report_read_file(const char *path, const struct store_report_query *q,
                                         struct store_report_data *out, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	enum store_status status = STORE_UNAVAILABLE;

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
