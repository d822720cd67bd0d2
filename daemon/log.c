/* key=value log lines on stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_level log_min = LOG_LEVEL_INFO;

static const char *const log_names[] = {"debug", "info", "warn", "error"};

/* Set the lowest level written. */
void log_set_level(enum log_level level)
{
	log_min = level;
}

/* Parse a level name; return -1 if it is not one. */
int log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
		if (strcmp(s, log_names[i]) == 0) {
			return (int)i;
		}
	}
	return -1;
}

static void log_vemit(enum log_level level, const char *fmt, va_list ap)
{
	char ts[32];
	char line[2048];
	struct timespec now;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	vsnprintf(line, sizeof(line), fmt, ap);
	/* One fprintf per line so concurrent writers do not interleave mid-line. */
	fprintf(stderr, "ts=%s.%03ldZ level=%s %s\n", ts, now.tv_nsec / 1000000, log_names[level],
	        line);
}

/* Write one line at level. */
void log_emit(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level < log_min) {
		return;
	}
	va_start(ap, fmt);
	log_vemit(level, fmt, ap);
	va_end(ap);
}

/* Write one line at level whatever the configured level. */
void log_emit_always(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(level, fmt, ap);
	va_end(ap);
}

/* Log at error level and exit(1). */
/* Make s safe inside a quoted log value. */
void log_unquote(char *s)
{
	for (char *c = s; *c != '\0'; c++) {
		if (*c == '"' || *c == '\n') {
			*c = '\'';
		}
	}
}

/* Log at error level and exit(1). */
void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
