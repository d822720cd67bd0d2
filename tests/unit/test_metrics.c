/* refexd's counters: what each call adds to the Prometheus text. */
#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define OK      REFEX__STATUS_CODE__STATUS_OK
#define INVALID REFEX__STATUS_CODE__STATUS_INVALID

static char *text(void)
{
	struct evbuffer *b = evbuffer_new();
	size_t n;
	char *out;

	cr_assert_not_null(b);
	cr_assert_eq(metrics_write(b), 0);
	n = evbuffer_get_length(b);
	cr_assert_not_null(out = malloc(n + 1));
	evbuffer_remove(b, out, n);
	out[n] = '\0';
	evbuffer_free(b);
	return out;
}

static void expect_line(const char *t, const char *line)
{
	char want[256];

	snprintf(want, sizeof(want), "\n%s\n", line);
	cr_expect(strstr(t, want) != NULL, "no line \"%s\" in:\n%s", line, t);
}

TestSuite(metrics, .init = metrics_reset);

Test(metrics, requests_are_counted_by_type_and_lower_case_status)
{
	char *t;

	metrics_request("submit", OK);
	metrics_request("submit", OK);
	metrics_request("submit", INVALID);
	metrics_request("get", REFEX__STATUS_CODE__STATUS_NOT_FOUND);
	metrics_request("get", (Refex__StatusCode)42);
	t = text();
	expect_line(t, "# TYPE refex_requests_total counter");
	expect_line(t, "refex_requests_total{type=\"submit\",status=\"ok\"} 2");
	expect_line(t, "refex_requests_total{type=\"submit\",status=\"invalid\"} 1");
	expect_line(t, "refex_requests_total{type=\"get\",status=\"not_found\"} 1");
	expect_line(t, "refex_requests_total{type=\"get\",status=\"unknown\"} 1");
	cr_expect_null(strstr(t, "type=\"hello\""), "a type never seen has no series");
	free(t);
}

Test(metrics, too_many_request_types_fold_into_other)
{
	char type[32], *t;

	for (int i = 0; i < 100; i++) {
		snprintf(type, sizeof(type), "type%d", i);
		metrics_request(type, OK);
	}
	t = text();
	expect_line(t, "refex_requests_total{type=\"type0\",status=\"ok\"} 1");
	expect_line(t, "refex_requests_total{type=\"other\",status=\"ok\"} 69");
	free(t);
}

Test(metrics, handshake_failures_start_at_zero_and_unknown_reasons_are_other)
{
	char *t = text();

	expect_line(t, "refex_handshake_failures_total{reason=\"revoked\"} 0");
	free(t);
	metrics_handshake_failed(METRICS_HS_REVOKED);
	metrics_handshake_failed("cosmic rays");
	t = text();
	expect_line(t, "refex_handshake_failures_total{reason=\"revoked\"} 1");
	expect_line(t, "refex_handshake_failures_total{reason=\"other\"} 1");
	free(t);
}

Test(metrics, commit_histogram_is_cumulative_with_inclusive_bounds)
{
	char *t;

	metrics_commit_seconds(0.0005); /* on a bound: counted in it */
	metrics_commit_seconds(0.003);
	metrics_commit_seconds(2.0);
	t = text();
	expect_line(t, "# TYPE refex_commit_seconds histogram");
	expect_line(t, "refex_commit_seconds_bucket{le=\"0.0005\"} 1");
	expect_line(t, "refex_commit_seconds_bucket{le=\"0.0025\"} 1");
	expect_line(t, "refex_commit_seconds_bucket{le=\"0.005\"} 2");
	expect_line(t, "refex_commit_seconds_bucket{le=\"1\"} 2");
	expect_line(t, "refex_commit_seconds_bucket{le=\"+Inf\"} 3");
	expect_line(t, "refex_commit_seconds_count 3");
	expect_line(t, "refex_commit_seconds_sum 2.003500000");
	free(t);
}
