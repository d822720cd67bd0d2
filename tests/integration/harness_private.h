/* What the harness files share among themselves; tests include only harness.h. */
#ifndef REFEX_HARNESS_PRIVATE_H
#define REFEX_HARNESS_PRIVATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"

extern char **environ;

/* A growing byte buffer for what a child writes. */
struct buf {
	char *p;
	size_t len, cap;
};

/* Append n bytes of data to b, keeping it NUL-terminated. Returns 0 or -1. */
int buf_add(struct buf *b, const char *data, size_t n);

/* Hand over b's text (malloc'd; "" when empty) and leave b empty. */
char *buf_take(struct buf *b);

/* Return the monotonic clock in milliseconds. */
int64_t now_ms(void);

/* Return the milliseconds left until deadline (0 once it has passed). */
int remaining_ms(int64_t deadline);

/* Wait for pid to end within timeout_ms; kill it if it does not. Returns its status code. */
int wait_child(pid_t pid, int timeout_ms);

/* In a forked child: stdin from /dev/null, stdout to out, stderr to err, chdir to cwd
 * (NULL: stay), then exec argv with envp. Never returns. */
void child_exec(const char *cwd, int out, int err, char *const argv[], char **envp)
    __attribute__((noreturn));

/* Copy a sanitizer report found in text (what who wrote) to our stderr, where ctest sees it. */
void pass_on_sanitizer_report(const char *who, const char *text);

/* Run argv in cwd (NULL: here) with env added, capturing its output. Returns r->status. */
int run_in(struct run_result *r, const char *cwd, char *const argv[], char *const env[]);

#endif
