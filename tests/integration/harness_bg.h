/* refex running in the background (refex watch), read line by line while the test goes on. */
#ifndef REFEX_HARNESS_BG_H
#define REFEX_HARNESS_BG_H

#include <stdbool.h>

#include "harness.h"

struct bg;

/* Start refex as the holder of certificate prefix (from net_issue), connecting to server
 * ("HOST:PORT"; NULL: the net's refexd), with the NULL-terminated command arguments after
 * it, its stdout and stderr piped to us. Fails the current test if it cannot start. */
struct bg *bg_refex(const struct net *n, const char *server, const char *prefix, ...)
    __attribute__((sentinel));

/* Return the next line refex writes on stdout, without its newline (malloc'd), or NULL when
 * none comes within timeout_ms or stdout closed. */
char *bg_line(struct bg *b, int timeout_ms);

/* Wait until refex's stderr contains text at least count times. Returns whether it did
 * within timeout_ms. */
bool bg_err_wait(struct bg *b, const char *text, int count, int timeout_ms);

/* What refex has written on stderr so far (owned by b). */
const char *bg_err(struct bg *b);

/* Send sig and wait for refex to end (SIGKILL after the run timeout), collecting what it
 * still writes. Returns its status as run() does. */
int bg_stop(struct bg *b, int sig);

/* Stop refex if it runs (SIGKILL) and free. NULL is fine. */
void bg_free(struct bg *b);

#endif
