/*
 * The overdue sweep: once a second, if a referral's due time has passed
 * without an accept or decline, the store marks it overdue and adds an event
 * for both parties; their watchers are then pumped. The sweep also prunes
 * idempotency keys past their keeping time (at least hourly).
 */
#ifndef REFEX_OVERDUE_H
#define REFEX_OVERDUE_H

#include "hub.h"

struct overdue;

/* Start sweeping hub's store. Returns NULL on failure. */
struct overdue *overdue_start(struct hub *hub);

/* Stop sweeping; a sweep already queued finishes harmlessly. NULL is fine. */
void overdue_stop(struct overdue *o);

#endif
