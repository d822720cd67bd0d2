/*
 * What every backend's reads build the same way from what they read: a
 * submission's change and a summary as it was at an event (store_reader.c for
 * SQLite, store_pg_read.c for PostgreSQL).
 */
#include <stdlib.h>
#include <string.h>

#include "store_private.h"

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
