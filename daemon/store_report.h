/*
 * Outcomes reporting on the store's read side: per-pathway counters and bands of durations,
 * kept in the same transaction as each change (migration 12, whose SQL is in store_report.c:
 * triggers, and the writer for new referrals), read here without touching the referrals
 * themselves, so that a report costs the same over a thousand referrals or a million.
 */
#ifndef REFEX_STORE_REPORT_H
#define REFEX_STORE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The bands durations are counted in: X(band, upper end in seconds, excluded). Fixed by
 * migration 12: changing them needs a new migration that recounts report_times. */
#define STORE_REPORT_BANDS(X)                                                                      \
	X(0, 900)                                                                                  \
	X(1, 1800)                                                                                 \
	X(2, 3600)                                                                                 \
	X(3, 7200)                                                                                 \
	X(4, 14400)                                                                                \
	X(5, 28800)                                                                                \
	X(6, 86400)                                                                                \
	X(7, 172800)                                                                               \
	X(8, 259200)                                                                               \
	X(9, 432000)                                                                               \
	X(10, 604800)                                                                              \
	X(11, 1209600)                                                                             \
	X(12, 2592000)                                                                             \
	X(13, 5184000)                                                                             \
	X(14, 7776000)
#define STORE_REPORT_NBANDS 16      /* the last one: 90 days or more */
#define STORE_REPORT_OVER   7776001 /* the upper end given for the last band: "more than 90 days" */

/* SQL: the band of duration d (seconds). */
#define STORE_REPORT_BAND_WHEN_(b, s) " WHEN (d) < " #s " THEN " #b
#define STORE_REPORT_BAND_SQL(d)                                                                   \
	"(SELECT CASE" STORE_REPORT_BANDS(STORE_REPORT_BAND_WHEN_) " ELSE 15 END FROM (SELECT " d  \
	                                                           " AS d))"

/* What report_times counts, by the step a referral reached. */
enum store_report_step {
	STORE_REPORT_READ,     /* first read by the recipient (-> received) */
	STORE_REPORT_ANSWER,   /* accepted or declined */
	STORE_REPORT_COMPLETE, /* completed */
	STORE_REPORT_STEPS
};

/* The referrals of one pathway (sender, recipient, form) sent in one month. */
struct store_report_cell {
	char *sender, *recipient, *form;
	char month[8]; /* YYYY-MM */
	uint64_t sent;
	uint64_t in_state[STORE_STATES]; /* now, by Refex__State */
	uint64_t accepted;               /* ever accepted */
	uint64_t overdue;                /* went past their due time unanswered */
	uint64_t forwarded;              /* sent on from a referral the sender had received */
	uint64_t times[STORE_REPORT_STEPS][STORE_REPORT_NBANDS];
	/* Decline reasons (own view only), as stored: trimmed and lower-cased. */
	char **reasons;
	uint64_t *reason_counts;
	size_t n_reasons;
};

struct store_report_query {
	const char *agency; /* the referrals it sent or received; NULL: every one */
	int64_t from_day;   /* UTC days since 1970-01-01, both included */
	int64_t to_day;
	bool reasons; /* read decline reasons too */
};

struct store_report_data {
	struct store_report_cell *cells;
	size_t n;
};

/* The SQL of migration 12 (store_sqlite.c): the report's counters and the triggers that keep
 * them in the transaction of each change. */
extern const char store_report_migration[];

/* The report's queries, each backend's in its dialect (store_report.c, store_pg_report.c): the
 * cells (in key order), then the durations and the decline reasons of those cells. */
enum store_report_q {
	STORE_REPORT_Q_CELLS,   /* key, sent, s1..s6, accepted, overdue, forwarded */
	STORE_REPORT_Q_TIMES,   /* key, step, band, n */
	STORE_REPORT_Q_REASONS, /* key, reason, n */
	STORE_REPORT_QS
};

#define STORE_REPORT_NUMS 10

/* One row of a report query as a backend read it: the cell's key (columns 0-3: sender,
 * recipient, form, month), column 4 as text, and columns 4 on as numbers. */
struct store_report_row {
	const char *key[4];
	const char *text;
	int64_t num[STORE_REPORT_NUMS];
};

/* The step (enum store_report_step) a change to state S reaches (SQL; NULL: none), and a decline
 * reason as the report counts it. */
#define STORE_REPORT_STEP_SQL(S)                                                                   \
	"CASE " S " WHEN 2 THEN 0 WHEN 3 THEN 1 WHEN 4 THEN 1 WHEN 5 THEN 2 END"
#define STORE_REPORT_REASON_SQL(x) "lower(trim(" x "))"

/* Add a row of report query q to d (a backend's read). -1: out of memory. */
int store_report_take(struct store_report_data *d, enum store_report_q q,
                      const struct store_report_row *row);

/* Return the upper end (seconds) of each band, the last one's being STORE_REPORT_OVER. */
const int64_t *store_report_band_ends(void);

/* Read the report cells of q from the hub's read connection. */
enum store_status store_report_read(struct store *st, const struct store_report_query *q,
                                    struct store_report_data *out);

/* Read the report cells of q from the database at path, opened read-only (the operator's
 * report: refexd need not run). err says why on STORE_UNAVAILABLE. */
enum store_status store_report_read_file(const char *path, const struct store_report_query *q,
                                         struct store_report_data *out, char *err, size_t errlen);

/* The same from a PostgreSQL database at url, on a read-only connection of its own; err never
 * shows the URL (store_pg_report.c). */
enum store_status store_pg_report_read_url(const char *url, const struct store_report_query *q,
                                           struct store_report_data *out, char *err, size_t errlen);

/* Free what a read put in data. */
void store_report_data_free(struct store_report_data *data);

#endif
