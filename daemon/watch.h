/*
 * Watching an agency's events. A watching session holds the next sequence
 * number it should see; whenever events may have been added (a commit, the
 * overdue sweep) or its output has drained, it is "pumped": the events from
 * that number on are read from the store and sent, in order, while its output
 * has room. Live events and a replay after a reconnect are the same path, so
 * nothing is missed or repeated, whatever order commits and reads interleave.
 */
#ifndef REFEX_WATCH_H
#define REFEX_WATCH_H

#include "hub.h"
#include "session.h"

/* Send s the events it has not seen yet, while its output has room. */
void watch_pump(struct session *s);

/* Pump every watching session of agency (an agency id). */
void watch_notify(struct hub *hub, const char *agency);

/* Pump every watching session. */
void watch_notify_all(struct hub *hub);

#endif
