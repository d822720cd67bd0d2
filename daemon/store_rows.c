/*
 * What every backend's reads build the same way from what they read: a
 * summary, a change and an event from a row (read through the backend's
 * struct store_row), a submission's change and a summary as it was at an
 * event (store_reader.c for SQLite, store_pg_read.c for PostgreSQL).
 */
#include <stdlib.h>
#include <string.h>

#include "store_private.h"
#include "store_rows.h"

/* Make summary r say the referral as it was at an event at moment: in state, last changed
 * at updated_at, overdue if still unanswered then past its due time. The rest of a summary
 * does not change, but for the client's name, which goes when the client is erased. */
void store_summary_as_of(Refex__Referral *r, Refex__State state, int64_t updated_at, int64_t moment)
{
	r->state = state;
	r->updated_at = updated_at;
	r->overdue = r->due_at > 0 && r->due_at <= moment &&
	             (state == REFEX__STATE__STATE_SENT || state == REFEX__STATE__STATE_RECEIVED);
}

/* Build the submission's change (-> sent) of r: the referral row is its own first change. */
Refex__StatusChange *store_submission_change(const Refex__Referral *r, bool *oom)
{
	Refex__StatusChange *c = malloc(sizeof(*c));

	if (c == NULL) {
		*oom = true;
		return NULL;
	}
	refex__status_change__init(c);
	c->has_to = c->has_at = 1;
	c->to = REFEX__STATE__STATE_SENT;
	c->at = r->created_at;
	c->referral_id = r->id ? strdup(r->id) : NULL;
	c->agency = r->sender ? strdup(r->sender) : NULL;
	c->holder = r->sender_holder ? strdup(r->sender_holder) : NULL;
	*oom = *oom || c->referral_id == NULL || c->agency == NULL || c->holder == NULL;
	return c;
}

/* Build a referral's summary fields from a row of SUMMARY_COLS; now decides "overdue". */
Refex__Referral *store_row_summary(const struct store_row *row, int64_t now, bool *oom)
{
	Refex__Referral *r = malloc(sizeof(*r));

	if (r == NULL) {
		*oom = true;
		return NULL;
	}
	refex__referral__init(r);
	r->id = row->str(row, C_ID, oom);
	r->sender = row->str(row, C_SENDER, oom);
	r->sender_holder = row->str(row, C_SENDER_HOLDER, oom);
	r->recipient = row->str(row, C_RECIPIENT, oom);
	r->form = row->str(row, C_FORM, oom);
	r->client_name = row->str(row, C_CLIENT_NAME, oom);
	r->has_form_version = r->has_state = r->has_created_at = r->has_updated_at = 1;
	r->form_version = (uint32_t)row->num(row, C_FORM_VERSION);
	r->state = (Refex__State)row->num(row, C_STATE);
	r->created_at = row->num(row, C_CREATED_AT);
	r->updated_at = row->num(row, C_UPDATED_AT);
	r->due_at = row->num(row, C_DUE_AT);
	r->purged_at = row->num(row, C_PURGED_AT);
	r->has_purged_at = r->purged_at > 0;
	r->has_due_at = r->due_at > 0;
	r->has_overdue = 1;
	r->overdue =
	    r->due_at > 0 && r->due_at <= now &&
	    (r->state == REFEX__STATE__STATE_SENT || r->state == REFEX__STATE__STATE_RECEIVED);
	return r;
}

/* Build a referral from a full row: its summary, origin and stored client. */
Refex__Referral *store_row_referral(const struct store_row *row, int64_t now, bool *oom)
{
	Refex__Referral *r = store_row_summary(row, now, oom);

	if (r != NULL) {
		r->parent_id = row->str(row, C_PARENT_ID, oom);
		r->client_id = row->str(row, C_CLIENT_ID, oom);
		r->has_client_version = r->client_id != NULL;
		r->client_version = (uint32_t)row->num(row, C_CLIENT_VERSION);
	}
	return r;
}

/* Build a change from columns first.. of row: from, to, agency, holder, at, reason. */
Refex__StatusChange *store_row_change(const struct store_row *row, int first, const char *id,
                                      bool *oom)
{
	Refex__StatusChange *c = malloc(sizeof(*c));

	if (c == NULL) {
		*oom = true;
		return NULL;
	}
	refex__status_change__init(c);
	if ((c->referral_id = strdup(id)) == NULL) {
		*oom = true;
	}
	if (!row->is_null(row, first)) {
		c->has_from = 1;
		c->from = (Refex__State)row->num(row, first);
	}
	c->has_to = c->has_at = 1;
	c->to = (Refex__State)row->num(row, first + 1);
	c->agency = row->str(row, first + 2, oom);
	c->holder = row->str(row, first + 3, oom);
	c->at = row->num(row, first + 4);
	c->reason = row->str(row, first + 5, oom);
	return c;
}

/* Build one event from a row of the events read: the referral as it was at that event. */
Refex__Event *store_row_event(const struct store_row *row, int64_t now, bool *oom)
{
	Refex__Event *ev = malloc(sizeof(*ev));
	Refex__Referral *r;
	bool changed = !row->is_null(row, C_EV_CHANGE + 1);

	if (ev == NULL) {
		*oom = true;
		return NULL;
	}
	refex__event__init(ev);
	ev->has_seq = ev->has_kind = 1;
	ev->seq = (uint64_t)row->num(row, C_EV_SEQ);
	ev->kind = (Refex__EventKind)row->num(row, C_EV_KIND);
	ev->referral = r = store_row_summary(row, now, oom);
	if (r == NULL) {
		return ev;
	}
	if (ev->kind == REFEX__EVENT_KIND__EVENT_OVERDUE) {
		/* The row's change is the last one before the event, if any. */
		store_summary_as_of(r,
		                    changed ? (Refex__State)row->num(row, C_EV_CHANGE + 1)
		                            : REFEX__STATE__STATE_SENT,
		                    changed ? row->num(row, C_EV_CHANGE + 4) : r->created_at,
		                    r->due_at);
		return ev;
	}
	ev->change = ev->kind == REFEX__EVENT_KIND__EVENT_CHANGED
	                 ? store_row_change(row, C_EV_CHANGE, r->id, oom)
	                 : store_submission_change(r, oom);
	if (ev->change != NULL) {
		store_summary_as_of(r, ev->change->to, ev->change->at, ev->change->at);
	}
	return ev;
}
