/*
 * The read side of the SQLite store: store_get and store_list on the loop
 * thread's read-only connection, building Refex__Referral messages from rows.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.pb-c.h"
#include "store_rows.h"
#include "store_sqlite_private.h"

#define LIST_SQL(who, filter)                                                                      \
	"SELECT " SUMMARY_COLS " FROM referrals WHERE " who " = ?1 AND rid < ?2" filter            \
	" ORDER BY rid DESC LIMIT ?3"
/* ?4: one state. */
#define LIST_STATE " AND state = ?4"
/* ?4: one state (0: any); ?5: now. The states are literal so that SQLite can use the partial
   indexes on open referrals with a due time (see store_sqlite.c). */
#define LIST_OVERDUE                                                                               \
	" AND state IN (1, 2) AND due_at > 0 AND due_at <= ?5 AND (?4 = 0 OR state = ?4)"
/* ?4: one state (0: any); ?6: the stored client (index referrals_client). */
#define LIST_CLIENT " AND client_id = ?6 AND (?4 = 0 OR state = ?4)"

/* Literal states, not parameters: only then can SQLite use a partial index on open referrals
   with a due time, e.g. ON referrals (due_at) WHERE state IN (1, 2) AND due_at > 0. */
#define OVERDUE_SQL                                                                                \
	"SELECT count(*) FROM referrals WHERE state IN (1, 2) AND due_at > 0 AND due_at <= ?1"
_Static_assert(REFEX__STATE__STATE_SENT == 1 && REFEX__STATE__STATE_RECEIVED == 2,
               "OVERDUE_SQL names sent and received by number");
_Static_assert(REFEX__EVENT_KIND__EVENT_OVERDUE == 3, "R_EVENTS names overdue events by number");

/* Indexed by enum rstmt; prepared on the reader connection at open. */
const char *const store_rsql[R_COUNT] = {
    [R_BEGIN] = "BEGIN",
    [R_COMMIT] = "COMMIT",
    [R_ROLLBACK] = "ROLLBACK",
    [R_GET] = "SELECT " SUMMARY_COLS ", client, consent, form_data, parent_id, client_id,"
              " client_version FROM referrals LEFT JOIN referral_data USING (rid) WHERE id = ?1",
    /* What the original sender may see of an onward referral (Referral.Onward), nothing more. */
    [R_CHILDREN] = "SELECT id, recipient, form, form_version, state, created_at, updated_at"
                   " FROM referrals WHERE parent_id = ?1 ORDER BY rid LIMIT 1000",
    [R_SENDER_OF] = "SELECT sender FROM referrals WHERE id = ?1",
    /* The first entry (-> sent) is the referral row itself: no history row is written for it,
       which saves two b-tree inserts per submission. */
    [R_HISTORY] = "SELECT NULL, 1, sender, sender_holder, created_at, NULL, 0 AS seq FROM referrals"
                  " WHERE rid = ?1"
                  " UNION ALL SELECT from_state, to_state, agency, holder, at, reason, seq"
                  " FROM history WHERE referral_rid = ?1 ORDER BY seq",
    [R_INBOX] = LIST_SQL("recipient", ""),
    [R_INBOX_STATE] = LIST_SQL("recipient", LIST_STATE),
    [R_INBOX_OVERDUE] = LIST_SQL("recipient", LIST_OVERDUE),
    [R_INBOX_CLIENT] = LIST_SQL("recipient", LIST_CLIENT),
    [R_SENT] = LIST_SQL("sender", ""),
    [R_SENT_STATE] = LIST_SQL("sender", LIST_STATE),
    [R_SENT_OVERDUE] = LIST_SQL("sender", LIST_OVERDUE),
    [R_SENT_CLIENT] = LIST_SQL("sender", LIST_CLIENT),
    /* An event is the referral as it was at that event, with the change it records (the
       submission's is the referral row itself, as in R_HISTORY). An overdue event is joined
       to the last change before it, which says the state the referral was overdue in (0:
       none, still as submitted; NULL: written before refexd recorded it, so the last change
       up to the due time). */
    [R_EVENTS] = "SELECT " SUMMARY_COLS_OF(
        "r.") ", e.seq, e.kind, h.from_state, h.to_state,"
              " h.agency, h.holder, h.at, h.reason FROM events e"
              " JOIN referrals r ON r.rid = e.referral_rid"
              " LEFT JOIN history h ON h.seq = coalesce(e.history_seq, CASE WHEN e.kind = 3"
              " THEN (SELECT max(seq) FROM history WHERE referral_rid = e.referral_rid"
              " AND at <= r.due_at) END)"
              " WHERE e.agency = ?1 AND e.seq > ?2 ORDER BY e.seq LIMIT ?3",
    /* Two subqueries: each is one index seek, where min() and max() together scan the range. */
    [R_EVENT_RANGE] = ("SELECT (SELECT min(seq) FROM events WHERE agency = ?1),"
                       " (SELECT max(seq) FROM events WHERE agency = ?1)"),
    [R_IDEM_GET] = "SELECT digest, referral_id FROM idempotency WHERE agency = ?1 AND key = ?2",
    [R_NEXT_DUE] = "SELECT min(overdue_pending) FROM referrals WHERE overdue_pending IS NOT NULL",
    [R_PURGE_DUE] = "SELECT 1 FROM referrals WHERE state >= 4 AND purged_at IS NULL"
                    " AND updated_at < ?1 LIMIT 1",
    [R_AUDIT_LIST] = "SELECT seq, at_ms, agency, holder, action, record FROM audit"
                     " WHERE record = ?1 ORDER BY seq LIMIT ?2",
    [R_STATE_COUNTS] = "SELECT state, n FROM state_counts",
    [R_OVERDUE_COUNT] = OVERDUE_SQL,
};

/* ---- reads (loop thread) ---- */

/* Read the columns of the row the statement row->src is on (struct store_row). */
static int64_t row_num(const struct store_row *row, int col)
{
	return sqlite3_column_int64((sqlite3_stmt *)row->src, col);
}

static bool row_is_null(const struct store_row *row, int col)
{
	return sqlite3_column_type((sqlite3_stmt *)row->src, col) == SQLITE_NULL;
}

static char *row_str(const struct store_row *row, int col, bool *oom)
{
	return store_col_str((sqlite3_stmt *)row->src, col, oom);
}

/* The row s is on, for store_rows.c's builders. */
static struct store_row row_of(sqlite3_stmt *s)
{
	return (struct store_row){.src = s, .num = row_num, .is_null = row_is_null, .str = row_str};
}

/* Decode the client, consent and form data columns into r; -1 if one is unreadable. */
static int details_from_row(sqlite3_stmt *s, Refex__Referral *r)
{
	const uint8_t *b;
	size_t n;

	if ((n = (size_t)sqlite3_column_bytes(s, C_CLIENT)) > 0) {
		b = sqlite3_column_blob(s, C_CLIENT);
		if ((r->client = refex__client_record__unpack(NULL, n, b)) == NULL) {
			return -1;
		}
	}
	if ((n = (size_t)sqlite3_column_bytes(s, C_CONSENT)) > 0) {
		b = sqlite3_column_blob(s, C_CONSENT);
		if ((r->consent = refex__consent__unpack(NULL, n, b)) == NULL) {
			return -1;
		}
	}
	if (sqlite3_column_type(s, C_FORM_DATA) != SQLITE_NULL) {
		n = (size_t)sqlite3_column_bytes(s, C_FORM_DATA);
		if ((r->form_data.data = malloc(n ? n : 1)) == NULL) {
			return -1;
		}
		if (n > 0) {
			memcpy(r->form_data.data, sqlite3_column_blob(s, C_FORM_DATA), n);
		}
		r->form_data.len = n;
		r->has_form_data = 1;
	}
	return 0;
}

static enum store_status history_read(struct store *st, sqlite3_int64 rid, Refex__Referral *r)
{
	sqlite3_stmt *s = st->sq->r[R_HISTORY];
	struct store_row row = row_of(s);
	Refex__StatusChange **grown;
	size_t cap = 0;
	bool oom = false;
	int rc = SQLITE_DONE;

	sqlite3_bind_int64(s, 1, rid);
	while (!oom && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (r->n_history == cap) {
			cap = cap ? cap * 2 : 4;
			if ((grown = realloc(r->history, cap * sizeof(*grown))) == NULL) {
				oom = true;
				break;
			}
			r->history = grown;
		}
		r->history[r->n_history] = store_row_change(&row, 0, r->id, &oom);
		if (r->history[r->n_history] != NULL) {
			r->n_history++;
		}
	}
	store_stmt_end(s);
	return !oom && rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

/* Build the summary of an onward referral from a row of R_CHILDREN. */
static Refex__Referral__Onward *onward_from_row(sqlite3_stmt *s, bool *oom)
{
	Refex__Referral__Onward *o = malloc(sizeof(*o));

	if (o == NULL) {
		*oom = true;
		return NULL;
	}
	refex__referral__onward__init(o);
	o->id = store_col_str(s, 0, oom);
	o->recipient = store_col_str(s, 1, oom);
	o->form = store_col_str(s, 2, oom);
	o->has_form_version = o->has_state = o->has_created_at = o->has_updated_at = 1;
	o->form_version = (uint32_t)sqlite3_column_int64(s, 3);
	o->state = (Refex__State)sqlite3_column_int(s, 4);
	o->created_at = sqlite3_column_int64(s, 5);
	o->updated_at = sqlite3_column_int64(s, 6);
	return o;
}

/* Read the referrals forwarded from r into its onward summaries (and with ids, child_ids). */
static enum store_status children_read(struct store *st, Refex__Referral *r, bool ids)
{
	sqlite3_stmt *s = st->sq->r[R_CHILDREN];
	Refex__Referral__Onward **onward;
	char **grown;
	bool oom = false;
	int rc;

	store_bind_text(s, 1, r->id);
	while (!oom && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((onward = realloc(r->onward, (r->n_onward + 1) * sizeof(*onward))) == NULL) {
			oom = true;
			break;
		}
		r->onward = onward;
		if ((r->onward[r->n_onward] = onward_from_row(s, &oom)) != NULL) {
			r->n_onward++;
		}
		if (!ids) {
			continue;
		}
		if ((grown = realloc(r->child_ids, (r->n_child_ids + 1) * sizeof(*grown))) ==
		    NULL) {
			oom = true;
			break;
		}
		r->child_ids = grown;
		if ((r->child_ids[r->n_child_ids] = store_col_str(s, 0, &oom)) != NULL) {
			r->n_child_ids++;
		}
	}
	store_stmt_end(s);
	return !oom && rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

static enum store_status referral_read(struct store *st, const char *id, Refex__Referral **out)
{
	sqlite3_stmt *s = st->sq->r[R_GET];
	struct store_row row = row_of(s);
	Refex__Referral *r = NULL;
	sqlite3_int64 rid = 0;
	bool oom = false;
	int rc;

	store_bind_text(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		rid = sqlite3_column_int64(s, C_RID);
		r = store_row_referral(&row, (int64_t)time(NULL), &oom);
		if (r != NULL && details_from_row(s, r) < 0) {
			oom = true;
		}
	}
	store_stmt_end(s);
	if (rc == SQLITE_DONE) {
		return STORE_NOT_FOUND;
	}
	if (rc != SQLITE_ROW || oom || history_read(st, rid, r) != STORE_OK ||
	    children_read(st, r, true) != STORE_OK ||
	    store_clients_referral_state(st, r) != STORE_OK) {
		store_referral_free(r);
		return STORE_UNAVAILABLE;
	}
	*out = r;
	return STORE_OK;
}

/* Read one referral with client, consent, form data, history and its stored client's state
 * into *out. */
enum store_status store_sqlite_get(struct store *st, const char *id, Refex__Referral **out)
{
	enum store_status status;

	*out = NULL;
	if (st == NULL || id == NULL) {
		return STORE_NOT_FOUND;
	}
	/* One read transaction: the row, its history and its stored client's state come from the
	 * same snapshot. */
	if (store_step_done(st->sq->r[R_BEGIN]) < 0) {
		return STORE_UNAVAILABLE;
	}
	status = referral_read(st, id, out);
	if (store_step_done(st->sq->r[R_COMMIT]) < 0 && !sqlite3_get_autocommit(st->sq->rdb)) {
		store_step_done(st->sq->r[R_ROLLBACK]);
	}
	return status;
}

/* Free a referral returned by store_get(). NULL is fine. */
void store_referral_free(Refex__Referral *r)
{
	if (r != NULL) {
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
}

static sqlite3_stmt *list_stmt(struct store *st, const struct store_query *q)
{
	static const enum rstmt which[2][4] = {
	    {R_INBOX, R_INBOX_STATE, R_INBOX_OVERDUE, R_INBOX_CLIENT},
	    {R_SENT, R_SENT_STATE, R_SENT_OVERDUE, R_SENT_CLIENT},
	};
	int filter = q->client_id != NULL ? 3
	             : q->overdue_only    ? 2
	                                  : q->state != REFEX__STATE__STATE_UNSPECIFIED;

	return st->sq->r[which[q->box == STORE_SENT][filter]];
}

/* Read one page of an agency's inbox or sent list, newest first. */
enum store_status store_sqlite_list(struct store *st, const struct store_query *q, struct store_page *page)
{
	sqlite3_stmt *s;
	struct store_row row;
	Refex__Referral **grown;
	sqlite3_int64 last = 0;
	int64_t now;
	size_t cap = 0, limit;
	bool oom = false, more = false;
	int rc;

	memset(page, 0, sizeof(*page));
	if (st == NULL || q == NULL || q->agency == NULL) {
		return STORE_UNAVAILABLE;
	}
	limit = q->limit > 0 ? q->limit : 1;
	now = q->now > 0 ? q->now : (int64_t)time(NULL);
	s = list_stmt(st, q);
	row = row_of(s);
	store_bind_text(s, 1, q->agency);
	sqlite3_bind_int64(s, 2, q->before > 0 ? q->before : INT64_MAX);
	sqlite3_bind_int64(s, 3,
	                   (sqlite3_int64)limit + 1); /* one more tells if a next page exists */
	sqlite3_bind_int(s, 4, (int)q->state);
	if (q->overdue_only) {
		sqlite3_bind_int64(s, 5, now);
	}
	if (q->client_id != NULL) {
		store_bind_text(s, 6, q->client_id);
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (page->n == limit) {
			more = true;
			rc = SQLITE_DONE;
			break;
		}
		if (page->n == cap) {
			cap = cap ? cap * 2 : (limit < 16 ? limit : 16);
			if ((grown = realloc(page->items, cap * sizeof(*grown))) == NULL) {
				oom = true;
				break;
			}
			page->items = grown;
		}
		last = sqlite3_column_int64(s, C_RID);
		if ((page->items[page->n] = store_row_summary(&row, now, &oom)) != NULL) {
			page->n++;
		}
		/* The sender learns where its clients went next (the same read snapshot). */
		if (!oom && q->box == STORE_SENT &&
		    children_read(st, page->items[page->n - 1], false) != STORE_OK) {
			oom = true;
		}
		if (oom) {
			break;
		}
	}
	store_stmt_end(s);
	if (oom || rc != SQLITE_DONE) {
		store_page_free(page);
		return STORE_UNAVAILABLE;
	}
	page->next_before = more ? last : 0;
	return STORE_OK;
}

/* Free what store_list() put in page. */
void store_page_free(struct store_page *page)
{
	if (page == NULL) {
		return;
	}
	for (size_t i = 0; i < page->n; i++) {
		store_referral_free(page->items[i]);
	}
	free(page->items);
	memset(page, 0, sizeof(*page));
}

/* Read up to max of agency's events with seq > after, oldest first. */
enum store_status store_sqlite_events(struct store *st, const char *agency, uint64_t after, size_t max,
                               Refex__Event ***out, size_t *n)
{
	sqlite3_stmt *s = st->sq->r[R_EVENTS];
	struct store_row row = row_of(s);
	int64_t now = (int64_t)time(NULL);
	bool oom = false;
	int rc = SQLITE_DONE;

	*n = 0;
	if ((*out = calloc(max ? max : 1, sizeof(**out))) == NULL) {
		return STORE_UNAVAILABLE;
	}
	store_bind_text(s, 1, agency);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)after);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)max);
	while (!oom && *n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (((*out)[*n] = store_row_event(&row, now, &oom)) != NULL) {
			(*n)++;
		}
	}
	if (!oom && *n == max) {
		rc = SQLITE_DONE;
	}
	store_stmt_end(s);
	if (oom || rc != SQLITE_DONE) {
		store_events_free(*out, *n);
		*out = NULL;
		*n = 0;
		return STORE_UNAVAILABLE;
	}
	return STORE_OK;
}

/* Free what store_events() returned. */
void store_events_free(Refex__Event **events, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		protobuf_c_message_free_unpacked(&events[i]->base, NULL);
	}
	free(events);
}

/* Run a one-row query of two integers (NULL reads as 0). */
static enum store_status two_ints(sqlite3_stmt *s, int64_t *a, int64_t *b)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW) {
		*a = sqlite3_column_int64(s, 0);
		if (b != NULL) {
			*b = sqlite3_column_int64(s, 1);
		}
	}
	store_stmt_end(s);
	return rc == SQLITE_ROW ? STORE_OK : STORE_UNAVAILABLE;
}

/* Return agency's oldest kept and newest event sequence numbers (0, 0: none yet). */
enum store_status store_sqlite_event_range(struct store *st, const char *agency, uint64_t *oldest,
                                    uint64_t *newest)
{
	int64_t lo = 0, hi = 0;
	enum store_status status;

	store_bind_text(st->sq->r[R_EVENT_RANGE], 1, agency);
	status = two_ints(st->sq->r[R_EVENT_RANGE], &lo, &hi);
	*oldest = (uint64_t)lo;
	*newest = (uint64_t)hi;
	return status;
}

/* Copy the agency that sent referral id into sender. */
enum store_status store_sqlite_sender_of(struct store *st, const char *id, char *sender, size_t len)
{
	sqlite3_stmt *s = st->sq->r[R_SENDER_OF];
	int rc;

	sender[0] = '\0';
	store_bind_text(s, 1, id);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		snprintf(sender, len, "%s", (const char *)sqlite3_column_text(s, 0));
	}
	store_stmt_end(s);
	return rc == SQLITE_ROW    ? STORE_OK
	       : rc == SQLITE_DONE ? STORE_NOT_FOUND
	                           : STORE_UNAVAILABLE;
}

/* Return the earliest due time of a referral not yet marked overdue (0: none). */
enum store_status store_sqlite_next_due(struct store *st, int64_t *due)
{
	*due = 0;
	return two_ints(st->sq->r[R_NEXT_DUE], due, NULL);
}

/* Look an idempotency key up (see store.h). */
enum store_status store_sqlite_idem_find(struct store *st, const char *agency,
                                  const struct store_idem *idem, char *first)
{
	return store_idem_lookup(st->sq->r[R_IDEM_GET], agency, idem, first);
}

static enum store_status counts_read(struct store *st, uint64_t counts[STORE_STATES],
                                     uint64_t *overdue, int64_t now)
{
	sqlite3_stmt *s = st->sq->r[R_STATE_COUNTS];
	int64_t n = 0;
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		sqlite3_int64 state = sqlite3_column_int64(s, 0), k = sqlite3_column_int64(s, 1);

		if (state > 0 && state < STORE_STATES && k > 0) {
			counts[state] = (uint64_t)k;
		}
	}
	store_stmt_end(s);
	if (rc != SQLITE_DONE) {
		return STORE_UNAVAILABLE;
	}
	sqlite3_bind_int64(st->sq->r[R_OVERDUE_COUNT], 1, now);
	if (two_ints(st->sq->r[R_OVERDUE_COUNT], &n, NULL) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	*overdue = (uint64_t)n;
	return STORE_OK;
}

/* Count the referrals in each state and the open ones that are overdue. */
enum store_status store_sqlite_count_states(struct store *st, uint64_t counts[STORE_STATES],
                                     uint64_t *overdue, int64_t now)
{
	enum store_status status;

	memset(counts, 0, STORE_STATES * sizeof(counts[0]));
	*overdue = 0;
	if (st == NULL) {
		return STORE_UNAVAILABLE;
	}
	/* One snapshot: the two numbers agree with each other. */
	if (store_step_done(st->sq->r[R_BEGIN]) < 0) {
		return STORE_UNAVAILABLE;
	}
	status = counts_read(st, counts, overdue, now);
	if (store_step_done(st->sq->r[R_COMMIT]) < 0 && !sqlite3_get_autocommit(st->sq->rdb)) {
		store_step_done(st->sq->r[R_ROLLBACK]);
	}
	return status;
}

/* Say whether a purge would do something: some closed referral last changed before `before`
 * still holds its details, or some stored client last changed in [clients_since, before) is
 * held by none. */
enum store_status store_sqlite_purge_due(struct store *st, int64_t before, int64_t clients_since,
                                  bool *due)
{
	sqlite3_stmt *s = st->sq->r[R_PURGE_DUE];
	int rc;

	sqlite3_bind_int64(s, 1, before);
	rc = sqlite3_step(s);
	store_stmt_end(s);
	*due = rc == SQLITE_ROW;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		return STORE_UNAVAILABLE;
	}
	return *due ? STORE_OK : store_clients_purge_due(st, before, clients_since, due);
}
