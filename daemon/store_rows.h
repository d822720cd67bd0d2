/*
 * The columns every backend's reads select for a referral's summary, and their numbers, so
 * that store_reader.c (SQLite) and store_pg_read.c (PostgreSQL) read rows alike (the rows
 * themselves are built in store_rows.c and each reader).
 */
#ifndef REFEX_STORE_ROWS_H
#define REFEX_STORE_ROWS_H

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

#endif
