/*
 * Abusive clients, each while a well-behaved client keeps getting answers within a second and
 * refexd's memory stays bounded: a thousand silent connections, slow-loris senders, a client
 * that never reads its replies, a flood past the connection limit, and cut-off frames.
 *
 * The memory bound is refexd's resident set growing by less than RSS_BOUND_KB during the
 * abuse. 64 MB is generous on purpose: what each case may legitimately cost is a few MB (a
 * thousand handshakes in progress at a few KB each; one connection's output buffer, 64 KiB
 * here), while each failure it guards against costs far more (a 4 GiB frame allocated; replies
 * to millions of pipelined requests queued at some 200 bytes each, hundreds of MB), so the
 * bound separates them without being sensitive to allocator noise on a loaded CI machine.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
/* Redzones double small allocations; the quarantine is capped below (asan_options). */
#define RSS_BOUND_KB (2 * 64 * 1024L)
#else
#define RSS_BOUND_KB (64 * 1024L)
#endif

#define SILENT_CONNECTIONS 1000

static struct net *net;
static const char *north;

static void setup(void)
{
	const char *old = getenv("ASAN_OPTIONS");
	char opts[1024];

	/* Freed blocks wait in ASan's quarantine (256 MB by default) and would count as growth. */
	snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=16", old ? old : "",
	         old && *old ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
	signal(SIGPIPE, SIG_IGN);
	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(abusive, .init = setup, .fini = teardown, .timeout = 60);

/* Start refexd with these [limits] lines. */
static void start_with_limits(const char *limits)
{
	char extra[1024];

	snprintf(extra, sizeof(extra), "%s\n[limits]\n%s", NET_DEFAULT_AGENCIES, limits);
	cr_assert_eq(net_write_config(net, extra), 0);
	net_must_start(net);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* refexd's resident set in kB, from /proc/PID/status. */
static long rss_kb(void)
{
	char path[64], line[256];
	long kb = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)net->pid);
	cr_assert_not_null(fp = fopen(path, "r"), "refexd is gone");
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) {
			break;
		}
	}
	fclose(fp);
	cr_assert_gt(kb, 0, "no VmRSS for refexd");
	return kb;
}

/* Expect refexd's resident set to have grown by less than the bound since base. */
static void expect_memory_bounded(long base, const char *during)
{
	long now = rss_kb();

	cr_log_info("refexd: %ld kB before, %ld kB during %s", base, now, during);
	cr_expect_lt(now - base, RSS_BOUND_KB, "refexd grew from %ld kB to %ld kB during %s", base,
	             now, during);
}

/* The number of descriptors refexd has open. */
static int refexd_fds(void)
{
	char path[64];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)net->pid);
	cr_assert_not_null(d = opendir(path), "cannot list refexd's descriptors");
	while ((e = readdir(d)) != NULL) {
		n += e->d_name[0] != '.';
	}
	closedir(d);
	return n;
}

/* The well-behaved client: connected and greeted. */
static struct raw *well_behaved(void)
{
	struct raw *c = raw_connect(net, north, NULL);

	cr_assert_not_null(c, "the well-behaved client could not connect");
	cr_assert_eq(raw_hello(c), 0, "the well-behaved client's Hello was refused");
	return c;
}

/* One request round trip of the well-behaved client: answered, within a second. */
static void expect_served(struct raw *good, const char *during)
{
	static uint64_t id = 100;
	double t0 = now_s(), rtt;
	int forms = raw_list_forms(good, id++);

	rtt = now_s() - t0;
	cr_expect_eq(forms, 3, "the well-behaved client was not answered during %s", during);
	cr_expect_lt(rtt, 1.0, "the well-behaved client waited %.2f s during %s", rtt, during);
}

/* A plain TCP connection from src (NULL: 127.0.0.1) that says nothing; the fd, blocking. */
static int tcp_connect_from(const char *src)
{
	int fd = net_tcp_connect(net, src);

	cr_assert_geq(fd, 0, "connect from %s: %s", src ? src : "127.0.0.1", strerror(errno));
	return fd;
}

/* A plain TCP connection to refexd that says nothing; the fd, blocking. */
static int tcp_connect(void)
{
	return tcp_connect_from(NULL);
}

/* Count the fds (-1: already seen closed) refexd has closed, marking them -1 after closing. */
static int count_closed(int *fds, int n)
{
	int closed = 0;

	for (int i = 0; i < n; i++) {
		if (fds[i] >= 0 && net_tcp_closed(fds[i], 0)) {
			close(fds[i]);
			fds[i] = -1;
		}
		closed += fds[i] < 0;
	}
	return closed;
}

/* Close every descriptor of fds[0..n) still open. */
static void close_all(const int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		if (fds[i] >= 0) {
			close(fds[i]);
		}
	}
}

/* Make room for n more descriptors in this process, or skip the test saying why. */
static void need_fds(rlim_t n)
{
	struct rlimit rl;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < n + 64) {
		rl.rlim_cur =
		    rl.rlim_max == RLIM_INFINITY || rl.rlim_max > n + 64 ? n + 64 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < n + 64) {
		cr_skip_test(
		    "the open-file limit (hard %llu) is below the %llu descriptors this test "
		    "needs; raise it (ulimit -n) to run it",
		    (unsigned long long)rl.rlim_max, (unsigned long long)(n + 64));
	}
}

Test(abusive, a_thousand_connections_that_never_start_tls_cost_little_and_time_out)
{
	static int fds[SILENT_CONNECTIONS];
	struct raw *good;
	double deadline;
	long base;
	int fd0;

	need_fds(SILENT_CONNECTIONS);
	/* All from one address, and all held: budgets that allow them. */
	start_with_limits("handshake_timeout = 3\nidle_timeout = 30\nmax_handshakes = 1000\n"
	                  "max_handshakes_per_address = 1000\n");
	good = well_behaved();
	base = rss_kb();
	fd0 = refexd_fds();
	for (int i = 0; i < SILENT_CONNECTIONS; i++) {
		fds[i] = tcp_connect();
		if (i % 100 == 99) {
			expect_served(good, "the connection storm");
		}
	}
	/* Wait until refexd holds every one of them (one descriptor each). */
	deadline = now_s() + 10;
	while (refexd_fds() < fd0 + SILENT_CONNECTIONS && now_s() < deadline) {
		expect_served(good, "a thousand silent connections");
	}
	cr_expect_geq(refexd_fds(), fd0 + SILENT_CONNECTIONS, "refexd accepted only %d",
	              refexd_fds() - fd0);
	expect_memory_bounded(base, "a thousand silent connections");
	/* Each is cut off at the handshake deadline (3 s), not held for ever. */
	deadline = now_s() + 10;
	while (count_closed(fds, SILENT_CONNECTIONS) < SILENT_CONNECTIONS && now_s() < deadline) {
		expect_served(good, "the silent connections timing out");
	}
	cr_expect_eq(count_closed(fds, SILENT_CONNECTIONS), SILENT_CONNECTIONS,
	             "refexd still holds silent connections 10 s after their handshake deadline");
	cr_expect(net_log_wait(net, "reason=\"handshake not finished within 3 s\""));
	expect_memory_bounded(base, "the silent connections timing out");
	close_all(fds, SILENT_CONNECTIONS);
	expect_served(good, "the end");
	raw_free(good);
	net_expect_clean_stop(net);
}

Test(abusive, a_handshake_sent_one_byte_a_second_is_cut_off_at_its_deadline)
{
	struct raw *good;
	double start, deadline;
	bool closed = false;
	long base;
	int fd;

	start_with_limits("handshake_timeout = 2\nidle_timeout = 30\n");
	good = well_behaved();
	base = rss_kb();
	fd = tcp_connect();
	start = now_s();
	/* A TLS record header announcing a ClientHello, then a byte a second. */
	cr_assert_eq(send(fd, "\x16\x03\x01\x02\x00", 5, MSG_NOSIGNAL), 5);
	deadline = start + 10;
	while (!closed && now_s() < deadline) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char b;

		expect_served(good, "a slow-loris handshake");
		if (poll(&p, 1, 1000) > 0) { /* paces the sender; wakes at once on the close */
			closed = recv(fd, &b, 1, 0) <= 0;
		} else {
			closed = send(fd, "\x01", 1, MSG_NOSIGNAL) < 0;
		}
	}
	close(fd);
	cr_expect(closed, "the hub still holds a handshake sent a byte a second for 10 s");
	cr_expect_lt(now_s() - start, 5, "cut off only after %.1f s", now_s() - start);
	cr_expect(net_log_wait(net, "reason=\"handshake not finished within 2 s\""));
	expect_memory_bounded(base, "a slow-loris handshake");
	expect_served(good, "the end");
	raw_free(good);
	net_expect_clean_stop(net);
}

Test(abusive, a_frame_sent_one_byte_a_second_is_cut_off_at_the_idle_timeout)
{
	/* A ListPartners frame announcing 2 bytes, delivered a byte at a time: every byte would
	 * restart the idle timer, but a frame must be whole within idle_timeout (2 s here). */
	static const uint8_t frame[] = {0, 0, 0, 6, 0x08, 0x05, 0x4a, 0x00, 0x4a, 0x00};
	struct raw *good, *loris;
	double start;
	bool closed = false;
	long base;

	start_with_limits("handshake_timeout = 5\nidle_timeout = 2\n");
	good = well_behaved();
	loris = well_behaved();
	base = rss_kb();
	start = now_s();
	for (size_t i = 0; i < sizeof(frame) && !closed; i++) {
		expect_served(good, "a slow-loris frame");
		if (raw_send_bytes(loris, &frame[i], 1) < 0) {
			closed = true;
			break;
		}
		closed = raw_wait_closed(loris, 1000); /* paces the sender; returns at the close */
	}
	cr_expect(closed, "the hub still holds a frame sent a byte a second after %.1f s",
	          now_s() - start);
	cr_expect_lt(now_s() - start, 5, "cut off only after %.1f s", now_s() - start);
	cr_expect(net_log_wait(net, "reason=\"frame not finished within 2 s\""));
	expect_memory_bounded(base, "a slow-loris frame");
	expect_served(good, "the end");
	raw_free(loris);
	raw_free(good);
	net_expect_clean_stop(net);
}

Test(abusive, a_client_that_never_reads_its_replies_is_stopped_not_buffered)
{
	enum { CHUNK = 256 * 1024, MAX_SENT = 64 * 1024 * 1024 };
	/* ListForms, id 9: its reply is some 20 times larger than the request. */
	static const uint8_t req[] = {0, 0, 0, 4, 0x08, 0x09, 0x42, 0x00};
	struct raw *good, *hog;
	size_t sent = 0;
	uint8_t *chunk = malloc(CHUNK);
	long base;

	start_with_limits("output_buffer = 65536\nidle_timeout = 30\n");
	good = well_behaved();
	hog = well_behaved();
	base = rss_kb();
	cr_assert_not_null(chunk);
	for (size_t off = 0; off + sizeof(req) <= CHUNK; off += sizeof(req)) {
		memcpy(chunk + off, req, sizeof(req));
	}
	/* Send until the hub stops reading (a send makes no progress for a second). */
	while (sent < MAX_SENT &&
	       raw_send_within(hog, chunk, CHUNK / sizeof(req) * sizeof(req), 1000) == 0) {
		sent += CHUNK;
		if (sent % (4 * CHUNK) == 0) {
			expect_served(good, "a client that never reads its replies");
		}
	}
	cr_log_info("the hub stopped reading after %zu bytes of requests", sent);
	cr_expect_lt(sent, MAX_SENT,
	             "the hub read %zu bytes of requests without the replies "
	             "being read",
	             sent);
	for (int i = 0; i < 5; i++) {
		expect_served(good, "a client that never reads its replies");
	}
	expect_memory_bounded(base, "a client that never reads its replies");
	raw_free(hog);
	expect_served(good, "the end");
	raw_free(good);
	free(chunk);
	net_expect_clean_stop(net);
}

/* A partner connected and greeted, or NULL when the connection or its Hello was refused. */
static struct raw *partner_hello(void)
{
	struct raw *c = raw_connect(net, north, NULL);

	if (c != NULL && raw_hello(c) < 0) {
		raw_free(c);
		c = NULL;
	}
	return c;
}

/* Wait (at most 10 s, serving good meanwhile) until refexd has closed all but held of the n
 * bare connections fds. The last shed comes with the last connection, so then every one of
 * them has been accepted. */
static void wait_held(int *fds, int n, int held, struct raw *good)
{
	double deadline = now_s() + 10;

	while (count_closed(fds, n) < n - held && now_s() < deadline) {
		expect_served(good, "handshakes being shed");
	}
	cr_expect_eq(count_closed(fds, n), n - held, "%d of %d bare connections were shed, not %d",
	             count_closed(fds, n), n, n - held);
}

/* Expect exactly the first shed of the n bare connections fds to have been closed. */
static void expect_oldest_shed(const int *fds, int n, int shed)
{
	for (int i = 0; i < n; i++) {
		cr_expect_eq(fds[i] < 0, i < shed, "bare connection %d of %d was %s", i + 1, n,
		             fds[i] < 0 ? "shed" : "kept");
	}
}

Test(abusive, handshakes_past_their_budgets_shed_the_oldest_first)
{
	enum { N = 28 };
	int fds[N];
	struct raw *good;

	need_fds(N);
	start_with_limits("max_handshakes = 20\nmax_handshakes_per_address = 8\n"
	                  "handshake_timeout = 30\nidle_timeout = 60\n");
	good = well_behaved();
	/* Twelve from one address, whose budget is eight: its four oldest are shed, whether they
	 * said nothing or began a handshake (every other one sends a TLS record header). */
	for (int i = 0; i < 12; i++) {
		fds[i] = tcp_connect_from("127.0.0.2");
		cr_assert(i % 2 == 0 || send(fds[i], "\x16\x03\x01\x02\x00", 5, MSG_NOSIGNAL) == 5);
		expect_served(good, "handshakes arriving"); /* so refexd has seen the header */
	}
	wait_held(fds, 12, 8, good);
	expect_oldest_shed(fds, 12, 4);
	/* Eight from each of two more: 24 handshakes for a budget of 20, so the four oldest of
	 * all are shed, which are the first address's, whatever address the newcomer has. */
	for (int i = 12; i < N; i++) {
		fds[i] = tcp_connect_from(i < 20 ? "127.0.0.3" : "127.0.0.4");
	}
	wait_held(fds, N, 20, good);
	expect_oldest_shed(fds, N, 8);
	cr_expect(net_log_wait(net, "msg=\"handshake shed\" peer=127.0.0.2:"));
	close_all(fds, N);
	expect_served(good, "the end");
	raw_free(good);
	net_expect_clean_stop(net);
}

/* Rewrite refexd's [limits] to limits and reload it. */
static void reload_limits(const char *limits)
{
	char extra[1024];

	snprintf(extra, sizeof(extra), "%s\n[limits]\n%s", NET_DEFAULT_AGENCIES, limits);
	cr_assert_eq(net_write_config(net, extra), 0);
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
}

Test(abusive, a_reload_checks_the_handshake_budgets_and_applies_them_to_new_connections)
{
	enum { N = 5 };
	int fds[N];
	struct raw *good;

	start_with_limits("max_handshakes = 10\nmax_handshakes_per_address = 10\n"
	                  "handshake_timeout = 30\n");
	good = well_behaved();
	reload_limits("max_handshakes = 10\nmax_handshakes_per_address = 20\n");
	cr_expect(net_log_wait(net, "msg=reload-refused reason=\"") &&
	              net_log_count(net, "max_handshakes_per_address (20) exceeds max_handshakes "
	                                 "(10)") == 1,
	          "a budget per address above the total was not refused by name");
	reload_limits(
	    "max_handshakes = 10\nmax_handshakes_per_address = 3\nhandshake_timeout = 30\n");
	cr_assert(net_log_wait(net, "msg=reloaded"));
	for (int i = 0; i < N; i++) {
		fds[i] = tcp_connect_from("127.0.0.2");
	}
	wait_held(fds, N, 3, good);
	expect_oldest_shed(fds, N, 2);
	close_all(fds, N);
	expect_served(good, "the end");
	raw_free(good);
	net_expect_clean_stop(net);
}

/* Bare connections opened from src by a thread of their own, so that a partner can connect
 * while they arrive. */
struct flood {
	pthread_t thread;
	const char *src;
	int *fds;
	int n;
	atomic_int opened; /* connections attempted so far */
	int failed, err;   /* connects that failed, and the errno of the last */
	sem_t third;       /* posted once a third of them are open */
};

static void *flood_run(void *arg)
{
	struct flood *f = arg;

	for (int i = 0; i < f->n; i++) {
		if ((f->fds[i] = net_tcp_connect(net, f->src)) < 0) {
			f->failed++;
			f->err = errno;
		}
		atomic_store(&f->opened, i + 1);
		if (i + 1 == f->n / 3) {
			sem_post(&f->third);
		}
	}
	return NULL;
}

/* Connect a partner and say Hello, failing the test if it is refused; returns the seconds
 * that took. */
static double time_partner(const char *during)
{
	double t0 = now_s(), took;
	struct raw *c = partner_hello();

	took = now_s() - t0;
	cr_assert_not_null(c, "a partner was locked out during %s (refused after %.2f s)", during,
	                   took);
	raw_free(c);
	return took;
}

Test(abusive, a_flood_of_connections_that_never_start_tls_does_not_lock_partners_out)
{
	/* Three times the connection limit, from one address; the handshake budgets are the
	 * defaults (100 handshakes from one address). */
	enum { FLOOD = 3000, PER_ADDRESS = 100 };
	static int fds[FLOOD];
	struct flood f = {.src = "127.0.0.2", .fds = fds, .n = FLOOD};
	struct raw *good;
	struct timespec wait;
	double start, worst = 0, took, deadline;
	int during = 0, lines;
	long base;

	need_fds(FLOOD);
	start_with_limits("max_connections = 1000\nhandshake_timeout = 10\nidle_timeout = 30\n");
	good = well_behaved();
	base = rss_kb();
	start = now_s();
	cr_assert_eq(sem_init(&f.third, 0, 0), 0);
	cr_assert_eq(pthread_create(&f.thread, NULL, flood_run, &f), 0);
	clock_gettime(CLOCK_REALTIME, &wait);
	wait.tv_sec += 20;
	cr_assert_eq(sem_timedwait(&f.third, &wait), 0, "the flood did not get going");
	/* A partner connects again and again while the flood goes on (once at least), and once
	 * after it. */
	do {
		took = time_partner("the flood");
		worst = took > worst ? took : worst;
		during += atomic_load(&f.opened) < FLOOD;
	} while (atomic_load(&f.opened) < FLOOD);
	pthread_join(f.thread, NULL);
	sem_destroy(&f.third);
	cr_assert_eq(f.failed, 0, "%d of the flood's connections failed: %s", f.failed,
	             strerror(f.err));
	took = time_partner("a flood just over");
	worst = took > worst ? took : worst;
	cr_log_info("a partner connected %d times while %d bare connections arrived in %.2f s, "
	            "and as they ended; the slowest handshake and Hello took %.3f s",
	            during, FLOOD, now_s() - start, worst);
	cr_expect_lt(worst, 1.0, "a partner's handshake and Hello took %.2f s during the flood",
	             worst);
	/* The flood's address keeps its budget of handshakes, the newest: the rest were shed. */
	deadline = now_s() + 10;
	while (count_closed(fds, FLOOD) < FLOOD - PER_ADDRESS && now_s() < deadline) {
		expect_served(good, "the flood being shed");
	}
	cr_expect_eq(count_closed(fds, FLOOD), FLOOD - PER_ADDRESS,
	             "%d of %d bare connections were shed", count_closed(fds, FLOOD), FLOOD);
	expect_oldest_shed(fds, FLOOD, FLOOD - PER_ADDRESS);
	expect_memory_bounded(base, "a flood of bare connections");
	/* Shedding is logged, a line a second at most, not one a connection. */
	lines = net_log_count(net, "msg=\"handshake shed\"");
	cr_expect(lines >= 1 && lines <= 2 + (int)(now_s() - start),
	          "%d log lines for the shedding of %d connections in %.1f s", lines,
	          FLOOD - PER_ADDRESS, now_s() - start);
	close_all(fds, FLOOD);
	expect_served(good, "the end");
	raw_free(good);
	net_expect_clean_stop(net);
}

Test(abusive, admitted_partners_count_against_the_connection_limit_and_are_never_shed)
{
	enum { LIMIT = 20, FLOOD = 100 };
	int fds[FLOOD], fd;
	struct raw *partners[LIMIT], *late;
	double deadline;
	long base;

	need_fds(FLOOD + LIMIT);
	start_with_limits("max_connections = 20\nhandshake_timeout = 10\nidle_timeout = 30\n");
	for (int i = 0; i < LIMIT / 2; i++) {
		partners[i] = well_behaved();
	}
	base = rss_kb();
	/* Bare connections take the rest of the limit; past it the oldest of them are shed. */
	for (int i = 0; i < FLOOD; i++) {
		fds[i] = tcp_connect();
	}
	deadline = now_s() + 3;
	while (count_closed(fds, FLOOD) < FLOOD - LIMIT / 2 && now_s() < deadline) {
		expect_served(partners[0], "a connection flood");
	}
	expect_oldest_shed(fds, FLOOD, FLOOD - LIMIT / 2);
	for (int i = 0; i < LIMIT / 2; i++) {
		expect_served(partners[i], "a connection flood");
	}
	/* A partner still gets in, in place of the oldest bare connection, until partners fill
	 * the limit. */
	for (int i = LIMIT / 2; i < LIMIT; i++) {
		partners[i] = well_behaved();
	}
	deadline = now_s() + 3;
	while (count_closed(fds, FLOOD) < FLOOD && now_s() < deadline) {
		expect_served(partners[0], "partners taking the place of bare connections");
	}
	cr_expect_eq(count_closed(fds, FLOOD), FLOOD, "bare connections outlasted partners");
	/* Every connection admitted: nothing to shed, so newcomers are refused at once. */
	late = partner_hello();
	cr_expect_null(late, "a partner got in past the connection limit");
	raw_free(late);
	fd = tcp_connect();
	deadline = now_s() + 3;
	while (!net_tcp_closed(fd, 0) && now_s() < deadline) {
		expect_served(partners[0], "a connection past the limit");
	}
	cr_expect_lt(now_s(), deadline, "a connection past the limit was held");
	close(fd);
	cr_expect(net_log_wait(net, "reason=\"connection limit reached\""));
	for (int i = 0; i < LIMIT; i++) {
		expect_served(partners[i], "connections past the limit");
	}
	expect_memory_bounded(base, "a connection flood");
	/* Once a partner leaves, a newcomer gets in. */
	raw_free(partners[LIMIT - 1]);
	deadline = now_s() + 10;
	late = NULL;
	while (late == NULL && now_s() < deadline) {
		late = partner_hello();
	}
	cr_expect_not_null(late, "no newcomer got in after a partner left");
	raw_free(late);
	for (int i = 0; i < LIMIT - 1; i++) {
		raw_free(partners[i]);
	}
	net_expect_clean_stop(net);
}

Test(abusive, huge_truncated_and_cut_frames_cost_only_their_own_connection)
{
	static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};
	static const uint8_t half[] = {0, 0, 0, 100, 0x08, 0x05, 0x4a}; /* 3 of 100 bytes */
	struct raw *good, *bad;
	long base;

	start_with_limits("idle_timeout = 2\n");
	good = well_behaved();
	base = rss_kb();

	/* 4 GiB announced: refused before anything is allocated. */
	bad = well_behaved();
	cr_expect_eq(raw_send_bytes(bad, huge, sizeof(huge)), 0);
	cr_expect(raw_wait_closed(bad, HARNESS_READ_TIMEOUT_MS), "a 4 GiB frame left it open");
	raw_free(bad);
	expect_served(good, "a frame announcing 4 GiB");

	/* Truncated, then silence: closed at the idle timeout though the frame is pending. */
	bad = well_behaved();
	cr_expect_eq(raw_send_bytes(bad, half, sizeof(half)), 0);
	for (int i = 0; i < 20 && !raw_wait_closed(bad, 500); i++) {
		expect_served(good, "a truncated frame"); /* and keeps itself from idling out */
	}
	cr_expect(raw_wait_closed(bad, 0), "a truncated frame is held open");
	raw_free(bad);

	/* Cut mid-way by the client closing: that session ends, nothing else. */
	bad = well_behaved();
	cr_expect_eq(raw_send_bytes(bad, half, sizeof(half)), 0);
	raw_free(bad);
	bad = well_behaved();
	cr_expect_eq(raw_send_bytes(bad, half, sizeof(half)), 0);
	expect_served(good, "frames cut mid-way");

	expect_memory_bounded(base, "huge, truncated and cut frames");
	cr_expect_eq(kill(net->pid, 0), 0, "refexd is gone");
	raw_free(bad);
	expect_served(good, "the end");
	raw_free(good);
	net_expect_clean_stop(net);
}
