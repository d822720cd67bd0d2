/*
 * The write jobs' sequences (store_jobs.h), the same for every backend: which
 * steps an insert, a change and a sweep take, in which order, and what a
 * failure at each step leaves to undo. The steps themselves (all the SQL) are
 * the backend's statements.
 *
 * A sequence fails "cleanly" when its first writing step failed (that step's
 * statement undid itself: nothing of the job is written) and sets *partial
 * when a later step failed after an earlier one had written: only a savepoint
 * (or the whole transaction) can undo it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_jobs.h"

#define STORE_KEY_DAYS 7 /* idempotency keys are kept at least this long */

/* Name the audit action of a change to state to. */
static const char *change_action(Refex__State to)
{
	switch (to) {
	case REFEX__STATE__STATE_RECEIVED:
		return "receive";
	case REFEX__STATE__STATE_ACCEPTED:
		return "accept";
	case REFEX__STATE__STATE_DECLINED:
		return "decline";
	case REFEX__STATE__STATE_COMPLETED:
		return "complete";
	case REFEX__STATE__STATE_WITHDRAWN:
		return "withdraw";
	default:
		return "change";
	}
}

/* Look the idempotency key up: a repeat fills res, another request's key is refused. */
static enum store_status idem_check(struct store *st, const struct store_backend_stmts *op,
                                    const char *agency, const struct store_idem *idem,
                                    struct store_result *res)
{
	enum store_status status;

	if (idem->key == NULL) {
		return STORE_OK;
	}
	status = op->idem_get(st, agency, idem, res->referral_id);
	if (status == STORE_OK) {
		res->repeat = true;
	}
	return status == STORE_NOT_FOUND ? STORE_OK : status;
}

/* Remember the key with what it did, in the write's own transaction. */
static enum store_status idem_put(struct store *st, const struct store_backend_stmts *op,
                                  const char *agency, const struct store_idem *idem,
                                  const char *referral_id, int64_t now)
{
	if (idem->key == NULL) {
		return STORE_OK;
	}
	return op->idem_put(st, agency, idem, referral_id, now);
}

/* Append the event to both parties (once if an agency refers to itself). */
static enum store_status events_add(struct store *st, const struct store_backend_stmts *op,
                                    const char *sender, const char *recipient, int64_t rid,
                                    Refex__EventKind kind, int64_t history_seq,
                                    struct store_result *res)
{
	if (op->event_append(st, sender, rid, kind, history_seq, &res->sender_seq) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	if (strcmp(sender, recipient) == 0) {
		res->recipient_seq = res->sender_seq;
		return STORE_OK;
	}
	return op->event_append(st, recipient, rid, kind, history_seq, &res->recipient_seq);
}

/* Tell watchers of parent (an empty or NULL id: none) that a referral it led to changed. */
static enum store_status origin_touch(struct store *st, const struct store_backend_stmts *op,
                                      const char *parent)
{
	if (op->origin_touched == NULL || parent == NULL || parent[0] == '\0') {
		return STORE_OK;
	}
	return op->origin_touched(st, parent);
}

/* The steps of an insert after its row: details, stored client, events, key, audit. */
static enum store_status insert_rest(struct store *st, const struct store_backend_stmts *op,
                                     const struct store_new_referral *r, int64_t rid,
                                     struct store_result *res)
{
	enum store_status status = op->insert_data(st, rid, r);

	if (status == STORE_OK && r->client_id[0] != '\0') {
		status = op->client_on_insert(st, r, res);
	}
	if (status == STORE_OK) {
		status = events_add(st, op, r->sender, r->recipient, rid,
		                    REFEX__EVENT_KIND__EVENT_SUBMITTED, 0, res);
	}
	if (status == STORE_OK) {
		status = origin_touch(st, op, r->parent_id);
	}
	if (status == STORE_OK) {
		status = idem_put(st, op, r->sender, &r->idem, r->id, r->created_at);
	}
	if (status == STORE_OK) {
		status = op->audit_add(st, &(struct store_audit){.agency = r->sender,
		                                                 .holder = r->sender_holder,
		                                                 .action = "submit",
		                                                 .record = r->id,
		                                                 .at_ms = r->created_at * 1000});
	}
	if (status == STORE_OK && op->inserted != NULL) {
		status = op->inserted(st, r);
	}
	return status;
}

/* Insert a referral with its details, stored client, both parties' events, key and audit
 * entry; a repeated key fills res instead. */
enum store_status store_jobs_insert(struct store *st, const struct store_backend_stmts *op,
                                    const struct store_new_referral *r, struct store_result *res,
                                    bool *partial)
{
	enum store_status status = idem_check(st, op, r->sender, &r->idem, res);
	int64_t rid = 0;

	if (status != STORE_OK || res->repeat) {
		return status;
	}
	if ((status = op->insert_row(st, r, &rid)) != STORE_OK) {
		return status; /* a taken id or a failed first write: nothing to undo */
	}
	snprintf(res->referral_id, sizeof(res->referral_id), "%s", r->id);
	status = insert_rest(st, op, r, rid, res);
	*partial = status != STORE_OK; /* the row is in: only a savepoint can undo it */
	return status;
}

/* Tell a change that matched no row apart: no such referral, or it moved on. */
static enum store_status change_missed(struct store *st, const struct store_backend_stmts *op,
                                       const char *id)
{
	bool found = false;

	if (op->exists(st, id, &found) != STORE_OK) {
		return STORE_UNAVAILABLE;
	}
	return found ? STORE_CONFLICT : STORE_NOT_FOUND;
}

/* The steps of a change after its row moved: history, events, key, audit. */
static enum store_status change_rest(struct store *st, const struct store_backend_stmts *op,
                                     const struct store_change *c, const struct store_changed *row,
                                     struct store_result *res)
{
	int64_t hseq = 0;
	enum store_status status = op->history_add(st, row->rid, c, &hseq);

	if (status == STORE_OK) {
		status = events_add(st, op, row->sender, row->recipient, row->rid,
		                    REFEX__EVENT_KIND__EVENT_CHANGED, hseq, res);
	}
	if (status == STORE_OK) {
		status = origin_touch(st, op, row->parent);
	}
	if (status == STORE_OK) {
		status = idem_put(st, op, c->agency, &c->idem, c->referral_id, c->at);
	}
	if (status == STORE_OK) {
		status = op->audit_add(st, &(struct store_audit){.agency = c->agency,
		                                                 .holder = c->holder,
		                                                 .action = change_action(c->to),
		                                                 .record = c->referral_id,
		                                                 .at_ms = c->at * 1000});
	}
	return status;
}

/* Apply a change if the referral is still in state c->from, with its history, events, key and
 * audit entry. */
enum store_status store_jobs_change(struct store *st, const struct store_backend_stmts *op,
                                    const struct store_change *c, struct store_result *res,
                                    bool *partial)
{
	enum store_status status = idem_check(st, op, c->agency, &c->idem, res);
	struct store_changed row = {0};

	if (status != STORE_OK || res->repeat) {
		return status;
	}
	snprintf(res->referral_id, sizeof(res->referral_id), "%s", c->referral_id);
	if ((status = op->update_state(st, c, &row)) != STORE_OK) {
		return status;
	}
	if (row.rid == 0) {
		return change_missed(st, op, c->referral_id);
	}
	status = change_rest(st, op, c, &row, res);
	*partial = status != STORE_OK; /* the row changed: only a savepoint can undo it */
	return status;
}

/* Mark what fell due by now as overdue, with an event for each party; prune old keys. */
enum store_status store_jobs_sweep(struct store *st, const struct store_backend_stmts *op,
                                   int64_t now, struct store_result *res, bool *partial)
{
	struct store_overdue *list = NULL;
	size_t n = 0;
	enum store_status status = op->overdue_take(st, now, &list, &n);

	for (size_t i = 0; status == STORE_OK && i < n; i++) {
		status = events_add(st, op, list[i].sender, list[i].recipient, list[i].rid,
		                    REFEX__EVENT_KIND__EVENT_OVERDUE, 0, res);
	}
	free(list);
	if (status == STORE_OK) {
		status = op->idem_prune(st, now - STORE_KEY_DAYS * 86400);
	}
	res->overdue = status == STORE_OK ? n : 0;
	/* A failed take may already have cleared some marks (SQLite computes RETURNING up front).
	 */
	*partial = status != STORE_OK;
	return status;
}

/* Record new form versions, retirements and revivals. */
enum store_status store_jobs_forms(struct store *st, const struct store_backend_stmts *op,
                                   const struct store_forms_change *c, bool *partial)
{
	enum store_status status = STORE_OK;

	for (size_t i = 0; status == STORE_OK && i < c->n_add; i++) {
		status = op->form_add(st, &c->add[i], c->at);
	}
	for (size_t i = 0; status == STORE_OK && i < c->n_retire; i++) {
		status = op->form_retire(st, c->retire[i], c->at);
	}
	for (size_t i = 0; status == STORE_OK && i < c->n_revive; i++) {
		status = op->form_revive(st, c->revive[i], c->at);
	}
	*partial = status != STORE_OK; /* a savepoint undoes whatever part was written */
	return status;
}
