/*
 * The referral lifecycle: one table of allowed transitions and one function
 * that applies it.
 *
 *   sent -> received -> accepted -> completed
 *   sent|received -> declined            (receiver, with a reason)
 *   sent|received|accepted -> withdrawn  (sender, with a reason)
 *
 * Terminal states (declined, completed, withdrawn) never change.
 */
#ifndef REFEX_LIFECYCLE_H
#define REFEX_LIFECYCLE_H

#include <stdbool.h>

#include "refex.pb-c.h"

/* Which party to a referral is acting. */
enum party {
	PARTY_SENDER,
	PARTY_RECIPIENT,
};

/* What can happen to a referral. */
enum lifecycle_event {
	LC_RECEIVE, /* the recipient first fetched it */
	LC_ACCEPT,
	LC_DECLINE,
	LC_COMPLETE,
	LC_WITHDRAW,
};

enum lifecycle_verdict {
	LC_OK,
	LC_FORBIDDEN, /* this party may never do this */
	LC_CONFLICT,  /* not from the current state */
};

/* Decide what event ev by party who does to a referral in state from; on LC_OK set *to. */
enum lifecycle_verdict lifecycle_apply(Refex__State from, enum lifecycle_event ev, enum party who,
                                       Refex__State *to);

/* Map a wire action to a lifecycle event; return -1 for an unknown action. */
int lifecycle_event_from_action(Refex__Action action, enum lifecycle_event *ev);

/* Say whether the event needs a reason (decline, complete's outcome, withdraw). */
bool lifecycle_needs_reason(enum lifecycle_event ev);

/* Say whether a referral in this state can never change again. */
bool lifecycle_is_terminal(Refex__State state);

/* Return the lower-case name of a state ("sent", ...), "unknown" otherwise. */
const char *lifecycle_state_name(Refex__State state);

/* Return the lower-case name of an event ("accept", ...). */
const char *lifecycle_event_name(enum lifecycle_event ev);

#endif
