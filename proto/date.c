/* The protocol's dates: one check for every YYYY-MM-DD string it carries. */
#include "date.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Say whether s is a real calendar date written YYYY-MM-DD. */
bool date_is_valid(const char *s)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, m, d, leap;

	if (s == NULL || strlen(s) != DATE_LEN || s[4] != '-' || s[7] != '-') {
		return false;
	}
	for (int i = 0; i < DATE_LEN; i++) {
		if (i != 4 && i != 7 && !isdigit((unsigned char)s[i])) {
			return false;
		}
	}
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= days[m - 1] + (m == 2 && leap ? 1 : 0);
}

/* Write the UTC day of t as YYYY-MM-DD. */
void date_utc_day(int64_t t, char *buf)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, DATE_LEN + 1, "%Y-%m-%d", &tm) != DATE_LEN)
		snprintf(buf, DATE_LEN + 1, "1970-01-01");
}
