/*
 * refexd's one logging API: key=value lines on stderr, e.g.
 *   ts=2026-11-26T20:00:00Z level=info conn=12 msg="referral submitted" referral=ABC...
 * Log ids, never personal data (no names, no form contents).
 */
#ifndef REFEX_LOG_H
#define REFEX_LOG_H

enum log_level { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* Set the lowest level written. */
void log_set_level(enum log_level level);

/* Parse "debug", "info", "warn" or "error"; return -1 if it is none of them. */
int log_level_parse(const char *s);

/* Write one line at level with the given key=value text (fmt is the text after level=). */
void log_emit(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Write one line at level whatever the configured level (start, listening, stop). */
void log_emit_always(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Make s safe inside a quoted log value: each quote or line break becomes a '. */
void log_unquote(char *s);

#define log_notice(...) log_emit_always(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)  log_emit(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)   log_emit(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warnx(...)  log_emit(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...)  log_emit(LOG_LEVEL_ERROR, __VA_ARGS__)

/* Log at error level and exit(1): for bad start-up configuration and broken invariants. */
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
