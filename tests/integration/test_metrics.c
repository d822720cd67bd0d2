/* The operator's metrics: a loopback-only HTTP port serving Prometheus text whose counters
 * follow what partners do (connections, requests, refused handshakes, commits, referrals). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define METRICS_CONFIG NET_DEFAULT_AGENCIES "\n[metrics]\nlisten = 127.0.0.1:0\n"

static struct net *net;
static const char *north;

static void setup(void)
{
	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
	net_issue(net, "eastside-housing", "Sam Jones");
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(metrics, .init = setup, .fini = teardown, .timeout = 120);

static void start_with_metrics(void)
{
	cr_assert_eq(net_write_config(net, METRICS_CONFIG), 0);
	net_must_start(net);
}

/* The port of the last msg=metrics-listening line refexd logged, or 0. */
static int metrics_port(void)
{
	return net_logged_port(net, "metrics-listening");
}

/* Send request to the metrics port and return everything the server sent until it closed. */
static char *http(const char *request)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t len = 0, cap = 65536;
	char *out = calloc(1, cap);
	ssize_t n;

	cr_assert(fd >= 0 && out != NULL);
	sa.sin_port = htons((uint16_t)metrics_port());
	cr_assert_neq(sa.sin_port, 0, "refexd logged no msg=metrics-listening port=N");
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		cr_assert_eq(poll(&p, 1, HARNESS_READ_TIMEOUT_MS), 1, "no answer from /metrics");
		if (len + 1 == cap) {
			cr_assert_not_null(out = realloc(out, cap *= 2));
		}
		if ((n = read(fd, out + len, cap - len - 1)) <= 0) {
			break;
		}
		len += (size_t)n;
	}
	out[len] = '\0';
	close(fd);
	return out;
}

/* GET /metrics; fails the test unless the answer is 200 in the Prometheus text format. */
static char *scrape(void)
{
	char *resp = http("GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");

	cr_assert(strncmp(resp, "HTTP/1.0 200", 12) == 0 || strncmp(resp, "HTTP/1.1 200", 12) == 0,
	          "%s", resp);
	cr_assert(strcasestr(resp, "\r\nContent-Type: text/plain; version=0.0.4") != NULL, "%s",
	          resp);
	cr_assert_not_null(strstr(resp, "\r\n\r\n"));
	return resp;
}

/* The value of the sample named exactly series (name and labels), or -1 if it is absent. */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *line = text; line != NULL && *line; line = strchr(line, '\n')) {
		line += *line == '\n';
		if (strncmp(line, series, n) == 0 && line[n] == ' ') {
			return strtod(line + n + 1, NULL);
		}
	}
	return -1;
}

/* A sample that has not happened yet is simply absent: count it as 0. */
static double count(const char *text, const char *series)
{
	double v = sample(text, series);

	return v < 0 ? 0 : v;
}

Test(metrics, the_scrape_is_prometheus_text_with_help_and_type_for_every_family)
{
	char *resp, *body, *save = NULL, types[8192] = "\n";
	regex_t sample_re;

	start_with_metrics();
	resp = scrape();
	body = strstr(resp, "\r\n\r\n") + 4;
	cr_assert_eq(regcomp(&sample_re,
	                     "^(refex_[a-z_]+)(\\{[a-z_]+=\"[^\"]*\"(,[a-z_]+=\"[^\"]*\")*\\})? "
	                     "[0-9]+(\\.[0-9]+)?$",
	                     REG_EXTENDED),
	             0);
	for (char *line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		regmatch_t m[2];
		char family[128], want[160];

		if (strncmp(line, "# HELP refex_", 13) == 0) {
			continue;
		}
		if (strncmp(line, "# TYPE refex_", 13) == 0) {
			cr_expect(strstr(line, " counter") || strstr(line, " gauge") ||
			              strstr(line, " histogram"),
			          "%s", line);
			strncat(types, line + 7, sizeof(types) - strlen(types) - 2);
			strcat(types, "\n");
			continue;
		}
		cr_assert_eq(regexec(&sample_re, line, 2, m, 0), 0, "not a sample line: %s", line);
		snprintf(family, sizeof(family), "%.*s", (int)(m[1].rm_eo - m[1].rm_so), line);
		/* A histogram's samples are its family name plus _bucket, _sum or _count. */
		if (strncmp(family, "refex_commit_seconds_", 21) == 0) {
			family[20] = '\0';
		}
		snprintf(want, sizeof(want), "\n%s ", family);
		cr_expect(strstr(types, want) != NULL, "no # TYPE line before %s", line);
	}
	regfree(&sample_re);
	free(resp);
	resp = scrape();
	for (const char *const *name =
	         (const char *const[]){
	             "refex_connections_open", "refex_connections_total",
	             "refex_handshake_failures_total{reason=\"untrusted\"}",
	             "refex_commit_seconds_bucket{le=\"+Inf\"}", "refex_commit_seconds_count",
	             "refex_referrals{state=\"sent\"}", "refex_referrals{state=\"withdrawn\"}",
	             "refex_referrals_overdue", NULL};
	     *name != NULL; name++) {
		cr_expect_geq(sample(resp, *name), 0, "no sample %s in:\n%s", *name, resp);
	}
	free(resp);
	net_expect_clean_stop(net);
}

Test(metrics, counters_follow_submissions_connections_and_refused_handshakes)
{
	char *before, *after, id[REFEX_ID_LEN + 1];
	const char *submit_ok = "refex_requests_total{type=\"submit\",status=\"ok\"}";
	const char *untrusted = "refex_handshake_failures_total{reason=\"untrusted\"}";
	struct raw *c;

	start_with_metrics();
	before = scrape();
	submit_housing(net, north, FIXTURE("housing.json"), id);
	after = scrape();
	cr_expect_eq(count(after, submit_ok), count(before, submit_ok) + 1, "%s", after);
	cr_expect_gt(sample(after, "refex_connections_total"),
	             sample(before, "refex_connections_total"));
	cr_expect_gt(sample(after, "refex_commit_seconds_count"),
	             sample(before, "refex_commit_seconds_count"));
	cr_expect_gt(sample(after, "refex_commit_seconds_bucket{le=\"+Inf\"}"),
	             sample(before, "refex_commit_seconds_bucket{le=\"+Inf\"}"));
	cr_expect_eq(sample(after, "refex_referrals{state=\"sent\"}"),
	             sample(before, "refex_referrals{state=\"sent\"}") + 1);
	free(before);

	before = after;
	c = raw_connect(net, net_foreign_certificate(net), NULL);
	cr_expect(c == NULL || (raw_hello(c) != 0 && raw_wait_closed(c, HARNESS_READ_TIMEOUT_MS)),
	          "the hub answered a certificate from another CA");
	raw_free(c);
	cr_assert(net_log_wait(net, "msg=\"handshake refused\""));
	after = scrape();
	cr_expect_eq(sample(after, untrusted), sample(before, untrusted) + 1, "%s", after);
	cr_expect_eq(count(after, submit_ok), count(before, submit_ok));
	free(before);
	free(after);
	net_expect_clean_stop(net);
}

Test(metrics, a_handshake_shed_to_make_room_is_counted)
{
	const char *shed = "refex_handshake_failures_total{reason=\"shed\"}";
	char *before, *after;
	int fds[3];

	cr_assert_eq(net_write_config(net, METRICS_CONFIG "\n[limits]\nmax_handshakes = 2\n"
	                                                  "max_handshakes_per_address = 2\n"),
	             0);
	net_must_start(net);
	before = scrape();
	for (int i = 0; i < 3; i++) {
		cr_assert_geq(fds[i] = net_tcp_connect(net, NULL), 0);
	}
	cr_assert(net_log_wait(net, "msg=\"handshake shed\""));
	after = scrape();
	cr_expect_eq(sample(after, shed), sample(before, shed) + 1, "%s", after);
	for (int i = 0; i < 3; i++) {
		close(fds[i]);
	}
	free(before);
	free(after);
	net_expect_clean_stop(net);
}

Test(metrics, other_paths_are_not_found_and_other_methods_not_allowed)
{
	char *resp;

	start_with_metrics();
	resp = http("GET /other HTTP/1.0\r\n\r\n");
	cr_expect(strstr(resp, " 404 ") != NULL, "%s", resp);
	free(resp);
	resp = http("POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
	cr_expect(strstr(resp, " 405 ") != NULL, "%s", resp);
	cr_expect(strcasestr(resp, "\r\nAllow: GET") != NULL, "%s", resp);
	free(resp);
	net_expect_clean_stop(net);
}

Test(metrics, there_is_no_metrics_port_unless_configured)
{
	char *log;

	net_must_start(net);
	log = net_read_log(net);
	cr_expect(strstr(log, "metrics-listening") == NULL, "%s", log);
	free(log);
	net_expect_clean_stop(net);
}

Test(metrics, check_config_refuses_a_metrics_address_beyond_loopback)
{
	char *const argv[] = {REFEXD_PATH, "--check-config", "--config", net->config, NULL};
	struct run_result r;

	cr_assert_eq(
	    net_write_config(net, NET_DEFAULT_AGENCIES "\n[metrics]\nlisten = 0.0.0.0:9187\n"), 0);
	cr_expect_eq(run(&r, argv, NULL), 1, "%s", r.out);
	cr_expect(strstr(r.err, "loopback only") != NULL && strstr(r.err, "0.0.0.0") != NULL, "%s",
	          r.err);
	run_result_free(&r);
}

/* Rewrite refexd's config with [metrics] listen = 127.0.0.1:port and send SIGHUP. */
static void reload_metrics_on(int port)
{
	char text[1024];

	snprintf(text, sizeof(text), NET_DEFAULT_AGENCIES "\n[metrics]\nlisten = 127.0.0.1:%d\n",
	         port);
	cr_assert_eq(net_write_config(net, text), 0);
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
}

Test(metrics, port_0_edited_to_the_port_picked_is_no_change_of_listen)
{
	int port;

	start_with_metrics();
	cr_assert_gt(port = metrics_port(), 0);
	/* The config said port 0; the operator wrote in the port refexd picked. */
	reload_metrics_on(port);
	cr_expect(net_log_wait(net, "msg=reloaded"), "a reload that changes nothing is taken");
	/* Another port is still a change. */
	reload_metrics_on(port == 65535 ? 1 : port + 1);
	cr_expect(net_log_wait(net, "msg=reload-refused reason=\"restart refexd to change "
	                            "[metrics] listen\""));
	net_expect_clean_stop(net);
}
