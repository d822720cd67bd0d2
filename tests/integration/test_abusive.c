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
#include <signal.h>
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

/* A plain TCP connection to refexd that says nothing; the fd, blocking. */
static int tcp_connect(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)net->port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s",
	             strerror(errno));
	return fd;
}

/* Say whether the peer has closed fd (EOF or reset), without waiting. */
static bool tcp_closed(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char b;

	if (poll(&p, 1, 0) <= 0) {
		return false;
	}
	return recv(fd, &b, 1, MSG_DONTWAIT) <= 0;
}

/* Count the fds (-1: already seen closed) refexd has closed, marking them -1 after closing. */
static int count_closed(int *fds, int n)
{
	int closed = 0;

	for (int i = 0; i < n; i++) {
		if (fds[i] >= 0 && tcp_closed(fds[i])) {
			close(fds[i]);
			fds[i] = -1;
		}
		closed += fds[i] < 0;
	}
	return closed;
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
	start_with_limits("handshake_timeout = 3\nidle_timeout = 30\n");
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
	for (int i = 0; i < SILENT_CONNECTIONS; i++) {
		if (fds[i] >= 0) {
			close(fds[i]);
		}
	}
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

Test(abusive, a_flood_past_the_connection_limit_is_refused_at_once)
{
	enum { LIMIT = 20, FLOOD = 100 };
	int fds[FLOOD];
	struct raw *good, *late = NULL;
	double deadline;
	long base;
	int closed = 0;

	need_fds(FLOOD);
	start_with_limits("max_connections = 20\nhandshake_timeout = 10\nidle_timeout = 30\n");
	good = well_behaved(); /* holds one of the 20 */
	base = rss_kb();
	for (int i = 0; i < FLOOD; i++) {
		fds[i] = tcp_connect();
	}
	/* The 19 that fit wait for their handshake; every other one is closed at once. */
	deadline = now_s() + 3;
	while ((closed = count_closed(fds, FLOOD)) < FLOOD - (LIMIT - 1) && now_s() < deadline) {
		expect_served(good, "a connection flood");
	}
	cr_expect_eq(closed, FLOOD - (LIMIT - 1), "%d of %d connections past the limit were closed",
	             closed, FLOOD - (LIMIT - 1));
	cr_expect_eq(count_closed(fds, FLOOD), FLOOD - (LIMIT - 1),
	             "connections within the limit were closed too");
	cr_expect(net_log_wait(net, "reason=\"connection limit reached\""));
	late = raw_connect(net, north, NULL);
	cr_expect(late == NULL || raw_hello(late) < 0, "a connection past the limit got in");
	raw_free(late);
	expect_served(good, "a connection flood");
	expect_memory_bounded(base, "a connection flood");
	/* Once the flood leaves, a newcomer gets in. */
	for (int i = 0; i < FLOOD; i++) {
		if (fds[i] >= 0) {
			close(fds[i]);
		}
	}
	deadline = now_s() + 10;
	late = NULL;
	while (late == NULL && now_s() < deadline) {
		if ((late = raw_connect(net, north, NULL)) != NULL && raw_hello(late) < 0) {
			raw_free(late);
			late = NULL;
		}
	}
	cr_expect_not_null(late, "no newcomer got in after the flood left");
	raw_free(late);
	expect_served(good, "the end");
	raw_free(good);
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
