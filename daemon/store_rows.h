/*
 * The columns every backend's reads select for a referral's summary, and their numbers, so
 * that store_reader.c (SQLite) and store_pg_read.c (PostgreSQL) read rows alike; and the
 * builders of summaries, changes and events from such a row, written once (store_rows.c)
 * over the column reads of each backend (struct store_row).
 */
#ifndef REFEX_STORE_ROWS_H
#define REFEX_STORE_ROWS_H

#include <stdbool.h>
#include <stdint.h>

#include "refex.pb-c.h"

/* The summary columns of referrals, each prefixed by t (a table alias and dot, or ""). */
#define SUMMARY_COLS_OF(t)                                                                         \
	t "rid, " t "id, " t "sender, " t "sender_holder, " t "recipient, " t "form, " t           \
	  "form_version, " t "state, " t "created_at, " t "updated_at, " t "client_name, " t       \
	  "due_at, " t "purged_at"
#define SUMMARY_COLS SUMMARY_COLS_OF("")

/* Column numbers of SUMMARY_COLS and the full row that extends it. */
enum {
	C_RID,
	C_ID,
	C_SENDER,
	C_SENDER_HOLDER,
	C_RECIPIENT,
	C_FORM,
	C_FORM_VERSION,
	C_STATE,
	C_CREATED_AT,
	C_UPDATED_AT,
	C_CLIENT_NAME,
	C_DUE_AT,
	C_PURGED_AT,
	C_CLIENT,
	C_CONSENT,
	C_FORM_DATA,
	C_PARENT_ID,
	C_CLIENT_ID,
	C_CLIENT_VERSION,
	/* the events' rows: after the summary */
	C_EV_SEQ = C_CLIENT,
	C_EV_KIND,
	C_EV_CHANGE
};

/* The row a backend's read is on, read one column at a time. */
struct store_row {
	const void *src; /* the backend's cursor: a statement, or a result */
	int i;           /* the row in src, where it holds several */
	/* Column col as a number (NULL reads as 0). */
	int64_t (*num)(const struct store_row *row, int col);
	/* Say whether column col is NULL. */
	bool (*is_null)(const struct store_row *row, int col);
	/* Copy column col (NULL stays NULL); sets *oom when the copy fails. */
	char *(*str)(const struct store_row *row, int col, bool *oom);
};

/* Build a referral's summary fields from a row of SUMMARY_COLS; now decides "overdue". */
Refex__Referral *store_row_summary(const struct store_row *row, int64_t now, bool *oom);

/* Build a referral from a full row (C_PARENT_ID..): its summary, origin and stored client; its
 * details are the backend's to decode. */
Refex__Referral *store_row_referral(const struct store_row *row, int64_t now, bool *oom);

/* Build a change from columns first.. of row: from, to, agency, holder, at, reason. */
Refex__StatusChange *store_row_change(const struct store_row *row, int first, const char *id,
                                      bool *oom);

/* Build one event from a row of the events read (C_EV_*): the referral as it was at that
 * event, so that an event reads the same live and replayed, whatever happened to the referral
 * since. */
Refex__Event *store_row_event(const struct store_row *row, int64_t now, bool *oom);

#endif
