/* The protocol's dates: strings written YYYY-MM-DD (a date of birth, the day consent was given,
 * the last day a consent covers, a form's dates). */
#ifndef REFEX_DATE_H
#define REFEX_DATE_H

#include <stdbool.h>
#include <stdint.h>

#define DATE_LEN 10 /* "YYYY-MM-DD" */

/* Say whether s is a real calendar date written YYYY-MM-DD. */
bool date_is_valid(const char *s);

/* Write the UTC day of t (seconds since the epoch) as YYYY-MM-DD into buf (DATE_LEN + 1). */
void date_utc_day(int64_t t, char *buf);

#endif
