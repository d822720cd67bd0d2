/* Peers that abuse the hub cost only their own connection. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct net *net;

static void setup(void)
{
	net = net_new();
	cr_assert_eq(
	    net_write_config(net, NET_DEFAULT_AGENCIES "\n[limits]\nhandshake_timeout = 1\n"), 0);
	net_must_start(net);
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(abuse, .init = setup, .fini = teardown, .timeout = 60);

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

Test(abuse, a_handshake_trickled_one_byte_at_a_time_is_cut_off_at_its_deadline)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)net->port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	double start = now_s();
	bool closed = false;
	char buf[64];

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* A TLS record header announcing a ClientHello, then a byte every 100 ms: each byte
	 * would restart an idle timer, but not the handshake's deadline (1 s here). */
	send(fd, "\x16\x03\x01\x02\x00", 5, MSG_NOSIGNAL);
	while (!closed && now_s() - start < 10) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (poll(&p, 1, 100) > 0) {
			closed = recv(fd, buf, sizeof(buf), 0) <= 0;
		} else if (send(fd, "\x01", 1, MSG_NOSIGNAL) < 0) {
			closed = true;
		}
	}
	close(fd);
	cr_expect(closed, "the hub still holds a handshake trickled for 10 s");
	cr_expect(now_s() - start < 5, "cut off after %.1f s", now_s() - start);
	cr_expect(net_log_wait(net, "reason=\"handshake not finished within 1 s\""));
	net_expect_clean_stop(net);
}
