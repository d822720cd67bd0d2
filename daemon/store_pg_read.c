/*
 * The PostgreSQL backend's reads (store_backend.h), on the loop thread's own
 * connection: MVCC lets them read while the writer's transaction is open, and
 * a read of several statements runs in one REPEATABLE READ transaction (one
 * snapshot). They are synchronous: a read waits for its round trip to the
 * server, as a SQLite read waits for the disk (docs/STORAGE.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.pb-c.h"
#include "store_pg_private.h"
#include "store_rows.h"

#define LIST_SQL(who, filter)                                                                      \
	"SELECT " SUMMARY_COLS " FROM referrals WHERE " who " = $1 AND rid < $2" filter            \
	" ORDER BY rid DESC LIMIT $3"
#define LIST_STATE " AND state = $4"
#define LIST_OVERDUE                                                                               \
	" AND state IN (1, 2) AND due_at > 0 AND due_at <= $5 AND ($4 = 0 OR state = $4)"
#define LIST_CLIENT " AND client_id = $5 AND ($4 = 0 OR state = $4)"

/* Indexed by enum pg_rstmt; prepared on the reader connection. */
const char *const store_pg_rsql[PR_CLIENT_GET] = {
    [PR_GET] = "SELECT " SUMMARY_COLS ", client, consent, form_data, parent_id, client_id,"
               " client_version FROM referrals LEFT JOIN referral_data USING (rid) WHERE id = $1",
    [PR_CHILDREN] = "SELECT id, recipient, form, form_version, state, created_at, updated_at"
                    " FROM referrals WHERE parent_id = $1 ORDER BY rid LIMIT 1000",
    [PR_SENDER_OF] = "SELECT sender FROM referrals WHERE id = $1",
    [PR_HISTORY] = "SELECT NULL::integer, 1, sender, sender_holder, created_at, NULL::text,"
                   " 0::bigint AS seq FROM referrals WHERE rid = $1"
                   " UNION ALL SELECT from_state, to_state, agency, holder, at, reason, seq"
                   " FROM history WHERE referral_rid = $1 ORDER BY seq",
    [PR_INBOX] = LIST_SQL("recipient", ""),
    [PR_INBOX_STATE] = LIST_SQL("recipient", LIST_STATE),
    [PR_INBOX_OVERDUE] = LIST_SQL("recipient", LIST_OVERDUE),
    [PR_INBOX_CLIENT] = LIST_SQL("recipient", LIST_CLIENT),
    [PR_SENT] = LIST_SQL("sender", ""),
    [PR_SENT_STATE] = LIST_SQL("sender", LIST_STATE),
    [PR_SENT_OVERDUE] = LIST_SQL("sender", LIST_OVERDUE),
    [PR_SENT_CLIENT] = LIST_SQL("sender", LIST_CLIENT),
    [PR_EVENTS] = "SELECT " SUMMARY_COLS_OF(
        "r.") ", e.seq, e.kind, h.from_state, h.to_state,"
              " h.agency, h.holder, h.at, h.reason FROM events e"
              " JOIN referrals r ON r.rid = e.referral_rid"
              " LEFT JOIN history h ON h.seq = coalesce(e.history_seq, CASE WHEN e.kind = 3"
              " THEN (SELECT max(seq) FROM history WHERE referral_rid = e.referral_rid"
              " AND at <= r.due_at) END)"
              " WHERE e.agency = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3",
    [PR_EVENT_RANGE] = "SELECT (SELECT min(seq) FROM events WHERE agency = $1),"
                       " (SELECT max(seq) FROM events WHERE agency = $1)",
    [PR_IDEM_GET] = "SELECT digest, referral_id FROM idempotency WHERE agency = $1 AND key = $2",
    [PR_NEXT_DUE] = "SELECT min(overdue_pending) FROM referrals WHERE overdue_pending IS NOT NULL",
    /* A closed referral, or a stored client no referral holding details holds (as
       store_pg_purge.c's PW_PURGE and PW_PURGE_CLIENTS pick them). */
    [PR_PURGE_DUE] = "SELECT 1 FROM referrals WHERE state >= 4 AND purged_at IS NULL"
                     " AND updated_at < $1 UNION ALL SELECT 1 FROM clients k"
                     " WHERE k.updated_at >= $2 AND k.erased_at IS NULL AND k.updated_at < $1"
                     " AND NOT EXISTS (SELECT 1 FROM referrals r WHERE r.client_id = k.id"
                     " AND r.purged_at IS NULL) LIMIT 1",
    [PR_AUDIT_LIST] = "SELECT seq, at_ms, agency, holder, action, record FROM audit"
                      " WHERE record = $1 ORDER BY seq LIMIT $2",
    [PR_STATE_COUNTS] = "SELECT state, n FROM state_counts",
    [PR_OVERDUE_COUNT] = "SELECT count(*) FROM referrals WHERE state IN (1, 2) AND due_at > 0"
                         " AND due_at <= $1",
    [PR_FORMS] = PG_FORMS_SQL,
};

/* Run reader statement which with p, after making sure the reader is connected; NULL if it
 * failed. */
PGresult *store_pg_rquery(struct store *st, int which, const struct pg_params *p)
{
	PGresult *res;

	if (st == NULL || pg_ready(st->pg, false) < 0) {
		return NULL;
	}
	res = pg_run(st->pg->r, 'r', which, p);
	if (!pg_ok(res)) {
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Open (begin) or close a read transaction: one snapshot for a read of several statements. */
int store_pg_rtx(struct store *st, bool begin)
{
	PGresult *res;
	int ok;

	if (begin && pg_ready(st->pg, false) < 0) {
		return -1;
	}
	res = PQexec(st->pg->r, begin ? "BEGIN ISOLATION LEVEL REPEATABLE READ" : "COMMIT");
	ok = pg_ok(res) ? 0 : -1;
	PQclear(res);
	return ok;
}

/* Read the columns of row row->i of the result row->src (struct store_row). */
static int64_t row_num(const struct store_row *row, int col)
{
	return pg_num(row->src, row->i, col);
}

static bool row_is_null(const struct store_row *row, int col)
{
	return PQgetisnull(row->src, row->i, col);
}

static char *row_str(const struct store_row *row, int col, bool *oom)
{
	return pg_str(row->src, row->i, col, oom);
}

/* Row i of res, for store_rows.c's builders. */
static struct store_row row_of(const PGresult *res, int i)
{
	return (struct store_row){
	    .src = res, .i = i, .num = row_num, .is_null = row_is_null, .str = row_str};
}

/* Decode the client, consent and form data columns of row 0 into r; -1 if one is unreadable. */
static int details_from_row(const PGresult *res, Refex__Referral *r)
{
	bool oom = false;
	size_t n;
	uint8_t *b = pg_bytes(res, 0, C_CLIENT, &n, &oom);

	if (b != NULL && n > 0 && (r->client = refex__client_record__unpack(NULL, n, b)) == NULL) {
		oom = true;
	}
	free(b);
	b = pg_bytes(res, 0, C_CONSENT, &n, &oom);
	if (b != NULL && n > 0 && (r->consent = refex__consent__unpack(NULL, n, b)) == NULL) {
		oom = true;
	}
	free(b);
	if ((r->form_data.data = pg_bytes(res, 0, C_FORM_DATA, &r->form_data.len, &oom)) != NULL) {
		r->has_form_data = 1;
	}
	return oom ? -1 : 0;
}

static enum store_status history_read(struct store *st, int64_t rid, Refex__Referral *r)
{
	struct pg_params p = {0};
	PGresult *res;
	bool oom = false;
	int n;

	pg_int(&p, 1, rid);
	if ((res = store_pg_rquery(st, PR_HISTORY, &p)) == NULL) {
		return STORE_UNAVAILABLE;
	}
	n = PQntuples(res);
	if ((r->history = calloc(n ? (size_t)n : 1, sizeof(*r->history))) == NULL) {
		oom = true;
	}
	for (int i = 0; !oom && i < n; i++) {
		struct store_row row = row_of(res, i);

		if ((r->history[r->n_history] = store_row_change(&row, 0, r->id, &oom)) != NULL) {
			r->n_history++;
		}
	}
	PQclear(res);
	return oom ? STORE_UNAVAILABLE : STORE_OK;
}

/* Read the referrals forwarded from r into its onward summaries (and with ids, child_ids). */
static enum store_status children_read(struct store *st, Refex__Referral *r, bool ids)
{
	struct pg_params p = {0};
	PGresult *res;
	bool oom = false;
	int n;

	pg_text(&p, 1, r->id);
	if ((res = store_pg_rquery(st, PR_CHILDREN, &p)) == NULL) {
		return STORE_UNAVAILABLE;
	}
	if ((n = PQntuples(res)) > 0) {
		r->onward = calloc((size_t)n, sizeof(*r->onward));
		r->child_ids = ids ? calloc((size_t)n, sizeof(*r->child_ids)) : NULL;
		oom = r->onward == NULL || (ids && r->child_ids == NULL);
	}
	for (int i = 0; !oom && i < n; i++) {
		Refex__Referral__Onward *o = malloc(sizeof(*o));

		if ((r->onward[r->n_onward] = o) == NULL) {
			oom = true;
			break;
		}
		r->n_onward++;
		refex__referral__onward__init(o);
		o->id = pg_str(res, i, 0, &oom);
		o->recipient = pg_str(res, i, 1, &oom);
		o->form = pg_str(res, i, 2, &oom);
		o->has_form_version = o->has_state = o->has_created_at = o->has_updated_at = 1;
		o->form_version = (uint32_t)pg_num(res, i, 3);
		o->state = (Refex__State)pg_num(res, i, 4);
		o->created_at = pg_num(res, i, 5);
		o->updated_at = pg_num(res, i, 6);
		if (ids && (r->child_ids[r->n_child_ids] = pg_str(res, i, 0, &oom)) != NULL) {
			r->n_child_ids++;
		}
	}
	PQclear(res);
	return oom ? STORE_UNAVAILABLE : STORE_OK;
}

static enum store_status referral_read(struct store *st, const char *id, Refex__Referral **out)
{
	struct pg_params p = {0};
	struct store_row row;
	Refex__Referral *r;
	PGresult *res;
	int64_t rid;
	bool oom = false;

	pg_text(&p, 1, id);
	if ((res = store_pg_rquery(st, PR_GET, &p)) == NULL) {
		return STORE_UNAVAILABLE;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		return STORE_NOT_FOUND;
	}
	rid = pg_num(res, 0, C_RID);
	row = row_of(res, 0);
	r = store_row_referral(&row, (int64_t)time(NULL), &oom);
	if (r != NULL) {
		oom = details_from_row(res, r) < 0 || oom;
	}
	PQclear(res);
	if (oom || history_read(st, rid, r) != STORE_OK || children_read(st, r, true) != STORE_OK ||
	    store_pg_clients_state(st, r) != STORE_OK) {
		store_referral_free(r);
		return STORE_UNAVAILABLE;
	}
	*out = r;
	return STORE_OK;
}

/* Read one referral with its details, history and onward referrals, from one snapshot. */
enum store_status store_pg_get(struct store *st, const char *id, Refex__Referral **out)
{
	enum store_status status;

	*out = NULL;
	if (st == NULL || id == NULL) {
		return STORE_NOT_FOUND;
	}
	if (store_pg_rtx(st, true) < 0) {
		return STORE_UNAVAILABLE;
	}
	status = referral_read(st, id, out);
	if (store_pg_rtx(st, false) < 0 && status == STORE_OK) {
		store_referral_free(*out);
		*out = NULL;
		status = STORE_UNAVAILABLE;
	}
	return status;
}

/* Fill the parameters of list query q; return its statement. */
static int list_params(const struct store_query *q, size_t limit, int64_t now, struct pg_params *p)
{
	static const int which[2][4] = {
	    {PR_INBOX, PR_INBOX_STATE, PR_INBOX_OVERDUE, PR_INBOX_CLIENT},
	    {PR_SENT, PR_SENT_STATE, PR_SENT_OVERDUE, PR_SENT_CLIENT},
	};
	int filter = q->client_id != NULL ? 3
	             : q->overdue_only    ? 2
	                                  : q->state != REFEX__STATE__STATE_UNSPECIFIED;

	pg_text(p, 1, q->agency);
	pg_int(p, 2, q->before > 0 ? q->before : INT64_MAX);
	pg_int(p, 3, (int64_t)limit + 1); /* one more tells if a next page exists */
	if (filter > 0) {
		pg_int(p, 4, q->state);
	}
	if (filter == 2) {
		pg_int(p, 5, now);
	} else if (filter == 3) {
		pg_text(p, 5, q->client_id);
	}
	return which[q->box == STORE_SENT][filter];
}

/* Read one page of an agency's inbox or sent list, newest first. */
enum store_status store_pg_list(struct store *st, const struct store_query *q,
                                struct store_page *page)
{
	struct pg_params p = {0};
	PGresult *res;
	size_t limit;
	int64_t now;
	bool oom = false;
	int n, which;

	memset(page, 0, sizeof(*page));
	if (st == NULL || q == NULL || q->agency == NULL) {
		return STORE_UNAVAILABLE;
	}
	limit = q->limit > 0 ? q->limit : 1;
	now = q->now > 0 ? q->now : (int64_t)time(NULL);
	which = list_params(q, limit, now, &p);
	if (store_pg_rtx(st, true) < 0 || (res = store_pg_rquery(st, which, &p)) == NULL) {
		store_pg_rtx(st, false);
		return STORE_UNAVAILABLE;
	}
	n = PQntuples(res);
	page->items = calloc(n ? (size_t)n : 1, sizeof(*page->items));
	oom = page->items == NULL;
	for (int i = 0; !oom && i < n && (size_t)i < limit; i++) {
		struct store_row row = row_of(res, i);

		if ((page->items[page->n] = store_row_summary(&row, now, &oom)) != NULL) {
			page->n++;
		}
		/* The sender learns where its clients went next (the same snapshot). */
		if (!oom && q->box == STORE_SENT &&
		    children_read(st, page->items[page->n - 1], false) != STORE_OK) {
			oom = true;
		}
	}
	page->next_before = (size_t)n > limit ? pg_num(res, (int)limit - 1, C_RID) : 0;
	PQclear(res);
	if (store_pg_rtx(st, false) < 0 || oom) {
		store_page_free(page);
		return STORE_UNAVAILABLE;
	}
	return STORE_OK;
}

/* Read up to max of agency's events with seq > after, oldest first. */
enum store_status store_pg_events(struct store *st, const char *agency, uint64_t after, size_t max,
                                  Refex__Event ***out, size_t *n)
{
	struct pg_params p = {0};
	int64_t now = (int64_t)time(NULL);
	PGresult *res;
	bool oom = false;

	*n = 0;
	if ((*out = calloc(max ? max : 1, sizeof(**out))) == NULL) {
		return STORE_UNAVAILABLE;
	}
	pg_text(&p, 1, agency);
	pg_int(&p, 2, (int64_t)after);
	pg_int(&p, 3, (int64_t)max);
	if ((res = store_pg_rquery(st, PR_EVENTS, &p)) == NULL) {
		free(*out);
		*out = NULL;
		return STORE_UNAVAILABLE;
	}
	for (int i = 0; !oom && i < PQntuples(res) && *n < max; i++) {
		struct store_row row = row_of(res, i);

		if (((*out)[*n] = store_row_event(&row, now, &oom)) != NULL) {
			(*n)++;
		}
	}
	PQclear(res);
	if (oom) {
		store_events_free(*out, *n);
		*out = NULL;
		*n = 0;
		return STORE_UNAVAILABLE;
	}
	return STORE_OK;
}

/* Run a one-row query of one or two numbers (NULL reads as 0). */
static enum store_status two_ints(struct store *st, int which, const struct pg_params *p,
                                  int64_t *a, int64_t *b)
{
	PGresult *res = store_pg_rquery(st, which, p);

	if (res == NULL || PQntuples(res) != 1) {
		PQclear(res);
		return STORE_UNAVAILABLE;
	}
	*a = pg_num(res, 0, 0);
	if (b != NULL) {
		*b = pg_num(res, 0, 1);
	}
	PQclear(res);
	return STORE_OK;
}

/* Return agency's oldest kept and newest event sequence numbers (0, 0: none yet). */
enum store_status store_pg_event_range(struct store *st, const char *agency, uint64_t *oldest,
                                       uint64_t *newest)
{
	struct pg_params p = {0};
	int64_t lo = 0, hi = 0;
	enum store_status status;

	pg_text(&p, 1, agency);
	status = two_ints(st, PR_EVENT_RANGE, &p, &lo, &hi);
	*oldest = (uint64_t)lo;
	*newest = (uint64_t)hi;
	return status;
}

/* Copy the agency that sent referral id into sender. */
enum store_status store_pg_sender_of(struct store *st, const char *id, char *sender, size_t len)
{
	struct pg_params p = {0};
	PGresult *res;
	enum store_status status;

	sender[0] = '\0';
	pg_text(&p, 1, id);
	if ((res = store_pg_rquery(st, PR_SENDER_OF, &p)) == NULL) {
		return STORE_UNAVAILABLE;
	}
	status = PQntuples(res) == 1 ? STORE_OK : STORE_NOT_FOUND;
	if (status == STORE_OK) {
		snprintf(sender, len, "%s", PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	return status;
}

/* Return the earliest due time of a referral not yet marked overdue (0: none). */
enum store_status store_pg_next_due(struct store *st, int64_t *due)
{
	*due = 0;
	return two_ints(st, PR_NEXT_DUE, NULL, due, NULL);
}

/* Look an idempotency key up (see store.h). */
enum store_status store_pg_idem_find(struct store *st, const char *agency,
                                     const struct store_idem *idem, char *first)
{
	if (st == NULL || pg_ready(st->pg, false) < 0) {
		return STORE_UNAVAILABLE;
	}
	return store_pg_idem_lookup(st->pg->r, 'r', PR_IDEM_GET, agency, idem, first);
}

/* Count the referrals in each state and the open ones that are overdue, from one snapshot. */
enum store_status store_pg_count_states(struct store *st, uint64_t counts[STORE_STATES],
                                        uint64_t *overdue, int64_t now)
{
	struct pg_params p = {0};
	PGresult *res = NULL;
	int64_t n = 0;
	enum store_status status = STORE_UNAVAILABLE;

	memset(counts, 0, STORE_STATES * sizeof(counts[0]));
	*overdue = 0;
	if (st == NULL || store_pg_rtx(st, true) < 0) {
		return STORE_UNAVAILABLE;
	}
	pg_int(&p, 1, now);
	if ((res = store_pg_rquery(st, PR_STATE_COUNTS, NULL)) != NULL &&
	    two_ints(st, PR_OVERDUE_COUNT, &p, &n, NULL) == STORE_OK) {
		for (int i = 0; i < PQntuples(res); i++) {
			int64_t state = pg_num(res, i, 0), k = pg_num(res, i, 1);

			if (state > 0 && state < STORE_STATES && k > 0) {
				counts[state] = (uint64_t)k;
			}
		}
		*overdue = (uint64_t)n;
		status = STORE_OK;
	}
	PQclear(res);
	return store_pg_rtx(st, false) < 0 ? STORE_UNAVAILABLE : status;
}

/* Say whether a purge would do something: a closed referral, or a stored client, to erase. */
enum store_status store_pg_purge_due(struct store *st, int64_t before, int64_t clients_since,
                                     bool *due)
{
	struct pg_params p = {0};
	PGresult *res;

	*due = false;
	pg_int(&p, 1, before);
	pg_int(&p, 2, clients_since);
	if ((res = store_pg_rquery(st, PR_PURGE_DUE, &p)) == NULL) {
		return STORE_UNAVAILABLE;
	}
	*due = PQntuples(res) > 0;
	PQclear(res);
	return STORE_OK;
}

/* Read the audit entries of one referral, oldest first (at most max). */
enum store_status store_pg_audit_list(struct store *st, const char *record, size_t max,
                                      Refex__AuditEntry ***out, size_t *n)
{
	struct pg_params p = {0};
	PGresult *res;
	bool oom = false;

	*n = 0;
	*out = NULL;
	pg_text(&p, 1, record);
	pg_int(&p, 2, (int64_t)max);
	if ((res = store_pg_rquery(st, PR_AUDIT_LIST, &p)) == NULL) {
		return STORE_UNAVAILABLE;
	}
	oom = (*out = calloc(max ? max : 1, sizeof(**out))) == NULL;
	for (int i = 0; !oom && i < PQntuples(res) && *n < max; i++) {
		Refex__AuditEntry *e = malloc(sizeof(*e));

		if ((oom = e == NULL)) {
			break;
		}
		refex__audit_entry__init(e);
		(*out)[(*n)++] = e;
		e->has_seq = e->has_at_ms = 1;
		e->seq = (uint64_t)pg_num(res, i, 0);
		e->at_ms = pg_num(res, i, 1);
		e->agency = pg_str(res, i, 2, &oom);
		e->holder = pg_str(res, i, 3, &oom);
		e->action = pg_str(res, i, 4, &oom);
		e->record = pg_str(res, i, 5, &oom);
	}
	PQclear(res);
	if (oom) {
		store_audit_free(*out, *n);
		*out = NULL;
		*n = 0;
		return STORE_UNAVAILABLE;
	}
	return STORE_OK;
}

/* Copy the form versions in res (rows of PR_FORMS) into *out (n of them); -1 if out of memory. */
int pg_forms_from_result(const PGresult *res, struct store_form_version **out, size_t *n)
{
	bool oom = false;

	*out = NULL;
	*n = 0;
	if (PQntuples(res) > 0 && (*out = calloc((size_t)PQntuples(res), sizeof(**out))) == NULL) {
		return -1;
	}
	for (int i = 0; !oom && i < PQntuples(res); i++) {
		struct store_form_version *v = &(*out)[(*n)++];

		v->form = pg_str(res, i, 0, &oom);
		v->version = (uint32_t)pg_num(res, i, 1);
		v->schema = pg_bytes(res, i, 2, &v->schema_len, &oom);
		v->accepted_at = pg_num(res, i, 3);
		v->retired_at = pg_num(res, i, 4);
		oom = oom || v->form == NULL || v->schema == NULL;
	}
	if (oom) {
		store_form_versions_free(*out, *n);
		*out = NULL;
		*n = 0;
		return -1;
	}
	return 0;
}

/* Read every stored form version, by form then version. */
enum store_status store_pg_form_versions(struct store *st, struct store_form_version **out,
                                         size_t *n)
{
	PGresult *res;
	int rc;

	*out = NULL;
	*n = 0;
	if ((res = store_pg_rquery(st, PR_FORMS, NULL)) == NULL) {
		return STORE_UNAVAILABLE;
	}
	rc = pg_forms_from_result(res, out, n);
	PQclear(res);
	return rc < 0 ? STORE_UNAVAILABLE : STORE_OK;
}
