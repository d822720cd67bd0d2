/* One line per pushed event, for people or as JSON, flushed at once for pipes. */
#ifndef REFEX_WATCH_PRINT_H
#define REFEX_WATCH_PRINT_H

#include <stddef.h>

#include "refex.pb-c.h"

/* Return the lower-case name of an event kind ("submitted", "changed", "overdue"), written
 * into buf (len bytes: PBENUM_NAME_MAX will do), or "unknown". */
const char *watch_kind_name(Refex__EventKind kind, char *buf, size_t len);

/* Print ev on one line of stdout (json: its canonical JSON object) and flush. Returns 0, or
 * -1 when stdout cannot be written (errno set). An event that cannot be encoded as JSON is
 * reported on stderr and skipped. */
int watch_print_event(const Refex__Event *ev, int json);

#endif
