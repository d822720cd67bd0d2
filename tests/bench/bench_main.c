/* refex-bench: options, request bodies, the report. */
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <jansson.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "client.pb-c.h"
#include "forms/housing_support.pb-c.h"
#include "refex.pb-c.h"
#include "tls.h"

static const char usage_text[] =
    "usage: refex-bench [--config FILE | --server HOST:PORT --cert FILE --key FILE --ca FILE]\n"
    "                   --to AGENCY [--connections N] [--duration S | --requests N]\n"
    "                   [--op submit|inbox|show|mixed|hello] [--size BYTES] [--pipeline K]\n"
    "                   [--client-id ID] [--https PATH]\n"
    "                   [--new-connection | --idle] [--api] [--same-client] [--json]\n"
    "       refex-bench --load DB --referrals N --agencies M [--size BYTES]\n"
    "       refex-bench --report DB [--agency ID] [--days N]\n"
    "\n"
    "Load refexd and report throughput, latency percentiles and errors by status.\n"
    "  --config FILE      a refex client config (server, certificate, key, ca)\n"
    "  --to AGENCY        recipient of submitted referrals (housing_support form)\n"
    "  --connections N    concurrent connections (default 16)\n"
    "  --duration S       run for S seconds (default 10), or --requests N in total\n"
    "  --op OP            submit (default), inbox (50 newest), show, or mixed\n"
    "                     (50%% submit, 30%% inbox, 20%% show); with --new-connection\n"
    "                     also hello (handshake and Hello only)\n"
    "  --size BYTES       form data per submitted referral (default 1024)\n"
    "  --client-id ID     submit refers to this stored client of yours (with a consent\n"
    "                     covering --to), as a caseworker reuses a record; without it\n"
    "                     every referral carries a new client, which the hub stores,\n"
    "                     each with a name and date of birth of its own\n"
    "  --same-client      every new client has the same name (each then meets the\n"
    "                     earlier ones as possible duplicates), as before issue 19\n"
    "  --pipeline K       requests in flight per connection (default 1)\n"
    "  --new-connection   each transaction is a new connection: handshake, Hello,\n"
    "                     one submit; reports connections per second\n"
    "  --https PATH       with --new-connection: speak HTTP/1.1 instead of refex, each\n"
    "                     connection one POST of --size bytes to PATH (Connection:\n"
    "                     close); a 2xx answer counts as OK (to load a web server\n"
    "                     with the same TLS client, e.g. tests/bench/compare-nginx)\n"
    "  --idle             open the connections (64 handshakes at a time), say Hello,\n"
    "                     and hold them idle for the duration (to measure refexd's\n"
    "                     memory per idle connection)\n"
    "  --api              speak the HTTPS door's JSON API ([web] listen is --server):\n"
    "                     POST /api/v1/submit or /api/v1/list_inbox, JSON bodies,\n"
    "                     keep-alive connections, --op submit or inbox\n"
    "  --json             print the report as JSON\n"
    "  --load DB          fill the store file DB directly (refexd must not be running)\n"
    "                     with N referrals across M agencies agency-000..agency-(M-1)\n"
    "  --report DB        time the outcomes report of agency ID (default: the network\n"
    "                     view) over the last N days (default 90) in the store file DB\n";

static int config_key(void *user, const char *section, const char *name, const char *value)
{
	struct bench_opts *o = user;

	(void)section;
	if (strcmp(name, "server") == 0 && !o->server) {
		o->server = strdup(value);
	} else if (strcmp(name, "certificate") == 0 && !o->cert) {
		o->cert = strdup(value);
	} else if (strcmp(name, "key") == 0 && !o->key) {
		o->key = strdup(value);
	} else if (strcmp(name, "ca") == 0 && !o->ca) {
		o->ca = strdup(value);
	}
	return 1;
}

static int parse_op(const char *s, enum bench_op *op)
{
	static const char *const names[] = {"submit", "inbox", "show", "mixed", "hello"};

	for (int i = 0; i < 5; i++) {
		if (strcmp(s, names[i]) == 0) {
			*op = (enum bench_op)i;
			return 0;
		}
	}
	return -1;
}

/* Build the one POST every --https connection sends. */
static int build_http_request(struct bench *b)
{
	char *head;
	int hlen =
	    asprintf(&head,
	             "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\n"
	             "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	             b->o.https, b->host, b->o.size);

	if (hlen < 0) {
		return -1;
	}
	b->http_len = (size_t)hlen + b->o.size;
	b->http_request = malloc(b->http_len);
	if (b->http_request != NULL) {
		memcpy(b->http_request, head, (size_t)hlen);
		memset(b->http_request + hlen, 'x', b->o.size);
	}
	free(head);
	return b->http_request != NULL ? 0 : -1;
}

static int resolve(struct bench *b)
{
	const char *colon = strrchr(b->o.server, ':');
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	size_t hlen;

	if (colon == NULL) {
		fprintf(stderr, "refex-bench: --server wants HOST:PORT\n");
		return -1;
	}
	hlen = (size_t)(colon - b->o.server);
	if (hlen > 1 && b->o.server[0] == '[') {
		snprintf(b->host, sizeof(b->host), "%.*s", (int)hlen - 2, b->o.server + 1);
	} else {
		snprintf(b->host, sizeof(b->host), "%.*s", (int)hlen, b->o.server);
	}
	if (getaddrinfo(b->host, colon + 1, &hints, &res) != 0) {
		fprintf(stderr, "refex-bench: cannot resolve %s\n", b->o.server);
		return -1;
	}
	memcpy(&b->addr, res->ai_addr, res->ai_addrlen);
	b->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double percentile_ms(const struct bench *b, double p)
{
	size_t i;

	if (b->n_lat == 0) {
		return 0;
	}
	i = (size_t)(p / 100.0 * (double)(b->n_lat - 1) + 0.5);
	return b->lat_us[i] / 1000.0;
}

static void report(struct bench *b)
{
	static const char *const status[BENCH_STATUS_MAX] = {
	    "OK",       "INVALID",   "NOT_FOUND",   "FORBIDDEN",
	    "CONFLICT", "TOO_LARGE", "UNAVAILABLE", "UNSUPPORTED"};
	static const char *const ops[] = {"submit", "inbox", "show", "mixed", "hello"};
	static const double pcts[] = {50, 90, 99, 99.9};
	static const char *const pnames[] = {"p50", "p90", "p99", "p99.9"};
	double secs = (double)(b->end.tv_sec - b->start.tv_sec) +
	              (double)(b->end.tv_nsec - b->start.tv_nsec) / 1e9;
	json_t *j = json_object(), *lat = json_object(), *errs = json_object();
	long errors = b->transport_errors;

	qsort(b->lat_us, b->n_lat, sizeof(*b->lat_us), cmp_u32);
	for (int i = 1; i < BENCH_STATUS_MAX; i++) {
		if (b->by_status[i] > 0) {
			json_object_set_new(errs, status[i], json_integer(b->by_status[i]));
			errors += b->by_status[i];
		}
	}
	if (b->transport_errors > 0) {
		json_object_set_new(errs, "transport", json_integer(b->transport_errors));
	}
	for (int i = 0; i < 4; i++) {
		json_object_set_new(lat, pnames[i], json_real(percentile_ms(b, pcts[i])));
	}
	json_object_set_new(lat, "max", json_real(b->n_lat ? b->lat_us[b->n_lat - 1] / 1000.0 : 0));
	json_object_set_new(j, "op", json_string(ops[b->o.op]));
	json_object_set_new(j, "connections", json_integer(b->o.connections));
	json_object_set_new(j, "pipeline", json_integer(b->o.pipeline));
	json_object_set_new(j, "size", json_integer((json_int_t)b->o.size));
	json_object_set_new(j, "new_connection", json_boolean(b->o.new_connection));
	json_object_set_new(j, "stored_client", json_boolean(b->o.client_id != NULL));
	json_object_set_new(j, "https", b->o.https ? json_string(b->o.https) : json_null());
	json_object_set_new(j, "api", json_boolean(b->o.api));
	json_object_set_new(j, "same_client", json_boolean(b->o.same_client));
	json_object_set_new(j, "seconds", json_real(secs));
	json_object_set_new(j, "ok", json_integer(b->by_status[0]));
	json_object_set_new(j, "errors", errs);
	json_object_set_new(j, "throughput", json_real(secs > 0 ? b->by_status[0] / secs : 0));
	if (b->o.idle) {
		json_object_set_new(j, "idle_connections", json_integer(b->connections_made));
	}
	if (b->o.new_connection) {
		json_object_set_new(j, "connections_per_s",
		                    json_real(secs > 0 ? b->connections_made / secs : 0));
	}
	json_object_set_new(j, "latency_ms", lat);
	if (b->o.json) {
		json_dumpf(j, stdout,
		           JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
		putchar('\n');
	} else {
		printf("op=%s connections=%d pipeline=%d size=%zu%s%s%s%s%s%s\n",
		       b->o.https ? "https-post" : ops[b->o.op], b->o.connections, b->o.pipeline,
		       b->o.size, b->o.api ? " api" : "", b->o.same_client ? " same-client" : "",
		       b->o.new_connection ? " new-connection" : "",
		       b->o.client_id ? " stored-client" : "", b->o.https ? " path=" : "",
		       b->o.https ? b->o.https : "");
		printf("requests: %ld ok, %ld errors in %.2f s\n", b->by_status[0], errors, secs);
		for (int i = 1; i < BENCH_STATUS_MAX; i++) {
			if (b->by_status[i]) {
				printf("  %s: %ld\n", status[i], b->by_status[i]);
			}
		}
		if (b->transport_errors) {
			printf("  transport: %ld\n", b->transport_errors);
		}
		printf("throughput: %.0f requests/s\n", secs > 0 ? b->by_status[0] / secs : 0);
		if (b->o.idle) {
			printf("idle connections held: %ld\n", b->connections_made);
		}
		if (b->o.new_connection) {
			printf("connections: %.0f /s\n", secs > 0 ? b->connections_made / secs : 0);
		}
		printf("latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
		       percentile_ms(b, 50), percentile_ms(b, 90), percentile_ms(b, 99),
		       percentile_ms(b, 99.9), b->n_lat ? b->lat_us[b->n_lat - 1] / 1000.0 : 0);
	}
	json_decref(j);
}

/* An event loop that coalesces epoll changes made within one callback. */
static struct event_base *bench_loop_new(void)
{
	struct event_config *ec = event_config_new();
	struct event_base *base = NULL;

	if (ec != NULL) {
		event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
		base = event_base_new_with_config(ec);
		event_config_free(ec);
	}
	return base;
}

static int bad_usage(const char *why)
{
	fprintf(stderr, "refex-bench: %s\n%s", why, usage_text);
	return 2;
}

static int prepare_ids(struct bench *b)
{
	struct bench_opts saved = b->o;
	int rc;

	/* show needs referrals to read: submit some first, keeping their ids. */
	b->o.op = OP_SUBMIT;
	b->o.requests = 200;
	b->o.duration = 0;
	b->o.new_connection = false;
	b->keep_ids = true;
	rc = bench_run(b);
	b->keep_ids = false;
	b->o = saved;
	memset(b->by_status, 0, sizeof(b->by_status));
	b->n_lat = 0;
	b->transport_errors = 0;
	return rc == 0 && b->n_ids > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"server", required_argument, NULL, 's'},
	    {"cert", required_argument, NULL, 'C'},
	    {"key", required_argument, NULL, 'K'},
	    {"ca", required_argument, NULL, 'A'},
	    {"to", required_argument, NULL, 't'},
	    {"client-id", required_argument, NULL, 'i'},
	    {"https", required_argument, NULL, 'H'},
	    {"connections", required_argument, NULL, 'n'},
	    {"duration", required_argument, NULL, 'd'},
	    {"requests", required_argument, NULL, 'r'},
	    {"op", required_argument, NULL, 'o'},
	    {"size", required_argument, NULL, 'z'},
	    {"pipeline", required_argument, NULL, 'p'},
	    {"new-connection", no_argument, NULL, 'N'},
	    {"idle", no_argument, NULL, 'I'},
	    {"json", no_argument, NULL, 'j'},
	    {"api", no_argument, NULL, 'W'},
	    {"same-client", no_argument, NULL, 'S'},
	    {"load", required_argument, NULL, 'L'},
	    {"referrals", required_argument, NULL, 'R'},
	    {"agencies", required_argument, NULL, 'M'},
	    {"report", required_argument, NULL, 'P'},
	    {"agency", required_argument, NULL, 'a'},
	    {"days", required_argument, NULL, 'D'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct bench b = {.o = {.connections = 16, .duration = 10, .size = 1024, .pipeline = 1}};
	const char *config = NULL, *load = NULL, *report_db = NULL, *agency = NULL;
	long referrals = 0, agencies = 0, days = 90;
	char err[512];
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 's':
			b.o.server = optarg;
			break;
		case 'C':
			b.o.cert = optarg;
			break;
		case 'K':
			b.o.key = optarg;
			break;
		case 'A':
			b.o.ca = optarg;
			break;
		case 't':
			b.o.to = optarg;
			break;
		case 'i':
			b.o.client_id = optarg;
			break;
		case 'H':
			b.o.https = optarg;
			break;
		case 'n':
			b.o.connections = atoi(optarg);
			break;
		case 'd':
			b.o.duration = atof(optarg);
			b.o.requests = 0;
			break;
		case 'r':
			b.o.requests = atol(optarg);
			b.o.duration = 0;
			break;
		case 'o':
			if (parse_op(optarg, &b.o.op) < 0) {
				return bad_usage("--op is submit, inbox, show or mixed");
			}
			break;
		case 'z':
			b.o.size = (size_t)atol(optarg);
			break;
		case 'p':
			b.o.pipeline = atoi(optarg);
			break;
		case 'N':
			b.o.new_connection = true;
			break;
		case 'I':
			b.o.idle = true;
			break;
		case 'j':
			b.o.json = true;
			break;
		case 'W':
			b.o.api = true;
			break;
		case 'S':
			b.o.same_client = true;
			break;
		case 'L':
			load = optarg;
			break;
		case 'R':
			referrals = atol(optarg);
			break;
		case 'M':
			agencies = atol(optarg);
			break;
		case 'P':
			report_db = optarg;
			break;
		case 'a':
			agency = optarg;
			break;
		case 'D':
			days = atol(optarg);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return bad_usage("unknown option");
		}
	}
	if (report_db != NULL) {
		if (days < 1 || days > 3660) {
			return bad_usage("--days is 1..3660");
		}
		return bench_report(report_db, agency, days) == 0 ? 0 : 1;
	}
	if (load != NULL) {
		if (referrals <= 0 || agencies < 2 || agencies > 1000) {
			return bad_usage(
			    "--load needs --referrals N > 0 and --agencies M (2..1000)");
		}
		return bench_load(load, referrals, (int)agencies, b.o.size) == 0 ? 0 : 1;
	}
	if (config != NULL && ini_parse(config, config_key, &b.o) != 0) {
		fprintf(stderr, "refex-bench: cannot read %s\n", config);
		return 2;
	}
	if (!b.o.server || !b.o.cert || !b.o.key || !b.o.ca) {
		return bad_usage("the server, certificate, key and CA are required");
	}
	if ((b.o.https != NULL || b.o.op == OP_HELLO) && !b.o.new_connection) {
		return bad_usage("--https and --op hello need --new-connection");
	}
	if (b.o.api && (b.o.new_connection || b.o.idle || b.o.https != NULL || b.o.pipeline != 1 ||
	                (b.o.op != OP_SUBMIT && b.o.op != OP_INBOX))) {
		return bad_usage(
		    "--api is --op submit or inbox, one request at a time per connection");
	}
	if (b.o.https != NULL && (b.o.https[0] != '/' || strpbrk(b.o.https, " \r\n") != NULL)) {
		return bad_usage("--https wants a path starting with / and without spaces");
	}
	if (b.o.to == NULL && !b.o.idle && b.o.https == NULL &&
	    (b.o.op == OP_SUBMIT || b.o.op == OP_MIXED || b.o.op == OP_SHOW)) {
		return bad_usage("--to AGENCY is required to submit referrals");
	}
	if (b.o.connections < 1 || b.o.pipeline < 1 || b.o.pipeline > 256 ||
	    (b.o.duration <= 0 && b.o.requests <= 0)) {
		return bad_usage("--connections >= 1, --pipeline 1..256, and a duration or count");
	}
	signal(SIGPIPE, SIG_IGN);
	struct tls_paths paths = {.cert = b.o.cert, .key = b.o.key, .ca = b.o.ca};
	if ((b.ctx = tls_client_ctx_new(&paths, err, sizeof(err))) == NULL) {
		fprintf(stderr, "refex-bench: %s\n", err);
		return 3;
	}
	if (resolve(&b) < 0 || bench_bodies_build(&b) < 0 ||
	    (b.o.https != NULL && build_http_request(&b) < 0) ||
	    (b.base = bench_loop_new()) == NULL) {
		return 1;
	}
	if ((b.o.op == OP_SHOW || b.o.op == OP_MIXED) && prepare_ids(&b) < 0) {
		fprintf(stderr, "refex-bench: could not submit referrals to show\n");
		return 1;
	}
	if (bench_run(&b) < 0) {
		fprintf(stderr, "refex-bench: no request was answered\n");
		report(&b);
		return 1;
	}
	report(&b);
	for (size_t i = 0; i < b.n_ids; i++) {
		free(b.ids[i]);
	}
	free(b.ids);
	free(b.lat_us);
	free(b.form_data);
	free(b.scratch);
	free(b.inbox_body);
	free(b.http_request);
	event_base_free(b.base);
	SSL_CTX_free(b.ctx);
	return 0;
}
