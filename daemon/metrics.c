/* refexd's counters and their Prometheus text (exposition format 0.0.4). */
#include "metrics.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define TYPES_MAX    32 /* request types counted apart; more fold into "other" */
#define TYPE_LEN     32
#define STATUSES_MAX 16 /* status codes counted apart; the last slot is "unknown" */

/* Every reason a session reports, so each series exists (at 0) from the start. */
static const char *const hs_reasons[] = {
    METRICS_HS_NO_CERTIFICATE, METRICS_HS_UNTRUSTED,     METRICS_HS_REVOKED,
    METRICS_HS_EXPIRED,        METRICS_HS_NOT_YET_VALID, METRICS_HS_CRL,
    METRICS_HS_BAD_IDENTITY,   METRICS_HS_NOT_PARTNER,   METRICS_HS_TIMEOUT,
    METRICS_HS_PROTOCOL,       METRICS_HS_PEER_REFUSED,  METRICS_HS_CLOSED,
    METRICS_HS_SHED,           METRICS_HS_OTHER,
};
#define HS_COUNT (sizeof(hs_reasons) / sizeof(hs_reasons[0]))

/* Upper bounds of the commit histogram's buckets, seconds: an fsync is 0.1 to 20 ms. */
static const double commit_bounds[] = {.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1};
#define BOUNDS (sizeof(commit_bounds) / sizeof(commit_bounds[0]))

struct request_type {
	char name[TYPE_LEN];
	uint64_t by_status[STATUSES_MAX];
};

/* Loop thread only. */
static uint64_t hs_counts[HS_COUNT];
static struct request_type types[TYPES_MAX];
static size_t n_types;

/* Written by the storage thread. Each bucket counts only its own range (the last: above every
 * bound), so a scrape's cumulative sums and _count agree even while a commit is recorded. */
static atomic_uint_fast64_t commit_buckets[BOUNDS + 1];
static atomic_uint_fast64_t commit_ns;

/* Count a refused or abandoned handshake under one of the METRICS_HS_* reasons. */
void metrics_handshake_failed(const char *reason)
{
	size_t i;

	for (i = 0; i < HS_COUNT - 1; i++) {
		if (reason != NULL && strcmp(reason, hs_reasons[i]) == 0) {
			break;
		}
	}
	hs_counts[i]++; /* HS_COUNT - 1 is "other" */
}

static struct request_type *type_find(const char *name)
{
	for (size_t i = 0; i < n_types; i++) {
		if (strcmp(types[i].name, name) == 0) {
			return &types[i];
		}
	}
	return NULL;
}

static struct request_type *type_slot(const char *type)
{
	const char *name = type != NULL && strlen(type) < TYPE_LEN ? type : "other";
	struct request_type *t = type_find(name);

	if (t != NULL) {
		return t;
	}
	/* The last slot is kept for "other", so the table never overflows. */
	if (n_types >= TYPES_MAX - 1 && (t = type_find(name = "other")) != NULL) {
		return t;
	}
	snprintf(types[n_types].name, TYPE_LEN, "%s", name);
	return &types[n_types++];
}

static size_t status_slot(Refex__StatusCode code)
{
	const ProtobufCEnumDescriptor *d = &refex__status_code__descriptor;
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, (int)code);
	size_t i = v != NULL ? (size_t)(v - d->values) : STATUSES_MAX - 1;

	return i < STATUSES_MAX - 1 ? i : STATUSES_MAX - 1;
}

/* Count an answered request of type (the handler's name) by its status code. */
void metrics_request(const char *type, Refex__StatusCode code)
{
	type_slot(type)->by_status[status_slot(code)]++;
}

/* Record how long one group commit took. */
void metrics_commit_seconds(double seconds)
{
	size_t b = 0;

	while (b < BOUNDS && seconds > commit_bounds[b]) {
		b++;
	}
	atomic_fetch_add_explicit(&commit_buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&commit_ns, (uint_fast64_t)(seconds > 0 ? seconds * 1e9 : 0),
	                          memory_order_relaxed);
}

/* Return a monotonic clock in seconds. */
double metrics_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Write a status code's label value: "STATUS_NOT_FOUND" becomes "not_found". */
static void status_label(size_t slot, char *buf, size_t len)
{
	const ProtobufCEnumDescriptor *d = &refex__status_code__descriptor;
	const char *name = "unknown";
	size_t i;

	if (slot < d->n_values && slot < STATUSES_MAX - 1) {
		name = d->values[slot].name;
		if (strncmp(name, "STATUS_", 7) == 0) {
			name += 7;
		}
	}
	for (i = 0; name[i] != '\0' && i + 1 < len; i++) {
		buf[i] = (char)tolower((unsigned char)name[i]);
	}
	buf[i] = '\0';
}

static int write_handshakes(struct evbuffer *out)
{
	int rc = evbuffer_add_printf(
	    out, "# HELP refex_handshake_failures_total Connections refused or abandoned before "
	         "the partner was admitted, by reason.\n"
	         "# TYPE refex_handshake_failures_total counter\n");

	for (size_t i = 0; rc >= 0 && i < HS_COUNT; i++) {
		rc =
		    evbuffer_add_printf(out, "refex_handshake_failures_total{reason=\"%s\"} %llu\n",
		                        hs_reasons[i], (unsigned long long)hs_counts[i]);
	}
	return rc < 0 ? -1 : 0;
}

static int write_requests(struct evbuffer *out)
{
	char status[32];
	int rc = evbuffer_add_printf(
	    out, "# HELP refex_requests_total Requests answered, by request type and status.\n"
	         "# TYPE refex_requests_total counter\n");

	for (size_t t = 0; rc >= 0 && t < n_types; t++) {
		for (size_t s = 0; rc >= 0 && s < STATUSES_MAX; s++) {
			if (types[t].by_status[s] == 0) {
				continue;
			}
			status_label(s, status, sizeof(status));
			rc = evbuffer_add_printf(
			    out, "refex_requests_total{type=\"%s\",status=\"%s\"} %llu\n",
			    types[t].name, status, (unsigned long long)types[t].by_status[s]);
		}
	}
	return rc < 0 ? -1 : 0;
}

static int write_commits(struct evbuffer *out)
{
	uint64_t total = 0;
	int rc = evbuffer_add_printf(
	    out, "# HELP refex_commit_seconds Duration of each group commit (one transaction, "
	         "one fsync, many writes).\n"
	         "# TYPE refex_commit_seconds histogram\n");

	for (size_t b = 0; rc >= 0 && b <= BOUNDS; b++) {
		total += atomic_load_explicit(&commit_buckets[b], memory_order_relaxed);
		if (b < BOUNDS) {
			rc = evbuffer_add_printf(out,
			                         "refex_commit_seconds_bucket{le=\"%g\"} %llu\n",
			                         commit_bounds[b], (unsigned long long)total);
		} else {
			rc = evbuffer_add_printf(out,
			                         "refex_commit_seconds_bucket{le=\"+Inf\"} %llu\n",
			                         (unsigned long long)total);
		}
	}
	if (rc >= 0) {
		rc = evbuffer_add_printf(
		    out, "refex_commit_seconds_sum %.9f\nrefex_commit_seconds_count %llu\n",
		    (double)atomic_load_explicit(&commit_ns, memory_order_relaxed) / 1e9,
		    (unsigned long long)total);
	}
	return rc < 0 ? -1 : 0;
}

/* Append the HELP, TYPE and sample lines of these counters to out. */
int metrics_write(struct evbuffer *out)
{
	if (write_handshakes(out) < 0 || write_requests(out) < 0 || write_commits(out) < 0) {
		return -1;
	}
	return 0;
}

/* Forget every count. */
void metrics_reset(void)
{
	memset(hs_counts, 0, sizeof(hs_counts));
	memset(types, 0, sizeof(types));
	n_types = 0;
	for (size_t b = 0; b <= BOUNDS; b++) {
		atomic_store(&commit_buckets[b], 0);
	}
	atomic_store(&commit_ns, 0);
}
