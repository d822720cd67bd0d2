/* The protocol's dates: strings written YYYY-MM-DD (a date of birth, the day consent was given,
 * the last day a consent covers, a form's dates). */
#ifndef REFEX_DATE_H
#define REFEX_DATE_H

#include <stdbool.h>

#define DATE_LEN 10 /* "YYYY-MM-DD" */

/* Say whether s is a real calendar date written YYYY-MM-DD. */
bool date_is_valid(const char *s);

/* Say whether a form field called name holds a date: its name is "date", or begins "date_"
 * or ends "_date" (the agreed forms' convention, e.g. date_at_risk, next_court_date). */
bool date_is_date_field(const char *name);

#endif
