/* The one table of allowed referral transitions. */
#include "lifecycle.h"

#include <stddef.h>

#include "pbenum.h"

#define BIT(s) (1u << (s))

struct transition {
	enum lifecycle_event ev;
	enum party who;
	unsigned from; /* bit set of states this event may leave */
	Refex__State to;
};

static const struct transition transitions[] = {
    {LC_RECEIVE, PARTY_RECIPIENT, BIT(REFEX__STATE__STATE_SENT), REFEX__STATE__STATE_RECEIVED},
    {LC_ACCEPT, PARTY_RECIPIENT, BIT(REFEX__STATE__STATE_SENT) | BIT(REFEX__STATE__STATE_RECEIVED),
     REFEX__STATE__STATE_ACCEPTED},
    {LC_DECLINE, PARTY_RECIPIENT, BIT(REFEX__STATE__STATE_SENT) | BIT(REFEX__STATE__STATE_RECEIVED),
     REFEX__STATE__STATE_DECLINED},
    {LC_COMPLETE, PARTY_RECIPIENT, BIT(REFEX__STATE__STATE_ACCEPTED),
     REFEX__STATE__STATE_COMPLETED},
    {LC_WITHDRAW, PARTY_SENDER,
     BIT(REFEX__STATE__STATE_SENT) | BIT(REFEX__STATE__STATE_RECEIVED) |
         BIT(REFEX__STATE__STATE_ACCEPTED),
     REFEX__STATE__STATE_WITHDRAWN},
};

/* Decide what event ev by party who does to a referral in state from. */
enum lifecycle_verdict lifecycle_apply(Refex__State from, enum lifecycle_event ev, enum party who,
                                       Refex__State *to)
{
	for (size_t i = 0; i < sizeof(transitions) / sizeof(transitions[0]); i++) {
		const struct transition *t = &transitions[i];

		if (t->ev != ev) {
			continue;
		}
		if (t->who != who) {
			return LC_FORBIDDEN;
		}
		if ((unsigned)from >= 32 || !(t->from & BIT(from))) {
			return LC_CONFLICT;
		}
		*to = t->to;
		return LC_OK;
	}
	return LC_FORBIDDEN;
}

/* Map a wire action to a lifecycle event. */
int lifecycle_event_from_action(Refex__Action action, enum lifecycle_event *ev)
{
	switch (action) {
	case REFEX__ACTION__ACTION_ACCEPT:
		*ev = LC_ACCEPT;
		return 0;
	case REFEX__ACTION__ACTION_DECLINE:
		*ev = LC_DECLINE;
		return 0;
	case REFEX__ACTION__ACTION_COMPLETE:
		*ev = LC_COMPLETE;
		return 0;
	case REFEX__ACTION__ACTION_WITHDRAW:
		*ev = LC_WITHDRAW;
		return 0;
	default:
		return -1;
	}
}

/* Say whether the event needs a reason. */
bool lifecycle_needs_reason(enum lifecycle_event ev)
{
	return ev == LC_DECLINE || ev == LC_COMPLETE || ev == LC_WITHDRAW;
}

/* Say whether a referral in this state can never change again. */
bool lifecycle_is_terminal(Refex__State state)
{
	return state == REFEX__STATE__STATE_DECLINED || state == REFEX__STATE__STATE_COMPLETED ||
	       state == REFEX__STATE__STATE_WITHDRAWN;
}

/* Return the lower-case name of a state. */
const char *lifecycle_state_name(Refex__State state)
{
	return pbenum_state_name(state);
}

/* Return the lower-case name of an event. */
const char *lifecycle_event_name(enum lifecycle_event ev)
{
	static const char *const names[] = {"receive", "accept", "decline", "complete", "withdraw"};

	return (unsigned)ev < sizeof(names) / sizeof(names[0]) ? names[ev] : "unknown";
}
