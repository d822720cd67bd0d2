/* A TCP proxy in front of refexd that can cut connections: a network that fails on cue. */
#include "harness_proxy.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROXY_PAIRS 32

/* One proxied connection: the client's socket and ours to refexd. */
struct pair {
	int client, server;
};

struct proxy {
	const struct net *net;
	pthread_t thread;
	int listen_fd;
	int wake[2]; /* commands from the test wake the thread */
	char address[32];
	pthread_mutex_t lock; /* guards what follows */
	struct pair pairs[PROXY_PAIRS];
	char cut_text[128]; /* armed when non-empty */
	int cut_baseline;   /* lines with cut_text when armed */
	int cut_all, stop;
	int accepted, cuts;
};

static void pair_close(struct pair *pr)
{
	if (pr->client >= 0) {
		close(pr->client);
	}
	if (pr->server >= 0) {
		close(pr->server);
	}
	pr->client = pr->server = -1;
}

/* Connect to refexd; -1 when it is not there (the client then sees a closed connection). */
static int dial_refexd(const struct net *n)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)n->port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Take a new client connection and pair it with one to refexd. */
static void proxy_accept(struct proxy *p)
{
	int c = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC), s;

	if (c < 0) {
		return;
	}
	if ((s = dial_refexd(p->net)) < 0) {
		close(c);
		return;
	}
	pthread_mutex_lock(&p->lock);
	p->accepted++;
	for (int i = 0; i < PROXY_PAIRS; i++) {
		if (p->pairs[i].client < 0) {
			p->pairs[i] = (struct pair){c, s};
			c = s = -1;
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (c >= 0) {
		close(c);
		close(s);
	}
}

/* Say whether refexd's answer on this connection must be cut instead of forwarded. */
static int must_cut(struct proxy *p)
{
	int cut = 0;

	if (p->cut_text[0] && net_log_count(p->net, p->cut_text) > p->cut_baseline) {
		p->cut_text[0] = '\0';
		p->cuts++;
		cut = 1;
	}
	return cut;
}

/* Move what one side sent to the other; close the pair on EOF, an error or a cut. */
static void proxy_forward(struct proxy *p, struct pair *pr, int from_server)
{
	char chunk[16384];
	int from = from_server ? pr->server : pr->client,
	    to = from_server ? pr->client : pr->server;
	ssize_t n = read(from, chunk, sizeof(chunk)), off = 0, w;

	if (n <= 0 || (from_server && must_cut(p))) {
		pair_close(pr);
		return;
	}
	while (off < n) {
		if ((w = write(to, chunk + off, (size_t)(n - off))) <= 0) {
			pair_close(pr);
			return;
		}
		off += w;
	}
}

/* Carry out a command from the test: cut every connection. */
static void proxy_commands(struct proxy *p)
{
	char drain[64];

	while (read(p->wake[0], drain, sizeof(drain)) > 0) {
	}
	if (p->cut_all) {
		for (int i = 0; i < PROXY_PAIRS; i++) {
			if (p->pairs[i].client >= 0) {
				pair_close(&p->pairs[i]);
				p->cuts++;
			}
		}
		p->cut_all = 0;
	}
}

static void *proxy_main(void *arg)
{
	struct proxy *p = arg;
	struct pollfd pf[2 + 2 * PROXY_PAIRS];

	for (;;) {
		int n = 0;

		pthread_mutex_lock(&p->lock);
		if (p->stop) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		proxy_commands(p);
		pf[n++] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
		pf[n++] = (struct pollfd){.fd = p->listen_fd, .events = POLLIN};
		for (int i = 0; i < PROXY_PAIRS; i++) {
			pf[n++] = (struct pollfd){.fd = p->pairs[i].client, .events = POLLIN};
			pf[n++] = (struct pollfd){.fd = p->pairs[i].server, .events = POLLIN};
		}
		pthread_mutex_unlock(&p->lock);
		if (poll(pf, (nfds_t)n, -1) <= 0) {
			continue;
		}
		if (pf[1].revents) {
			proxy_accept(p);
		}
		pthread_mutex_lock(&p->lock);
		for (int i = 0; i < PROXY_PAIRS; i++) {
			struct pair *pr = &p->pairs[i];

			if (pr->client >= 0 && pf[2 + 2 * i].fd == pr->client &&
			    pf[2 + 2 * i].revents) {
				proxy_forward(p, pr, 0);
			}
			if (pr->server >= 0 && pf[3 + 2 * i].fd == pr->server &&
			    pf[3 + 2 * i].revents) {
				proxy_forward(p, pr, 1);
			}
		}
		pthread_mutex_unlock(&p->lock);
	}
}

/* Start the proxy. */
struct proxy *proxy_start(const struct net *n)
{
	struct proxy *p = calloc(1, sizeof(*p));
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);

	cr_assert_not_null(p);
	p->net = n;
	for (int i = 0; i < PROXY_PAIRS; i++) {
		p->pairs[i] = (struct pair){-1, -1};
	}
	pthread_mutex_init(&p->lock, NULL);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(p->listen_fd, 0);
	cr_assert_eq(bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(p->listen_fd, 16), 0);
	cr_assert_eq(getsockname(p->listen_fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(p->address, sizeof(p->address), "127.0.0.1:%d", ntohs(sa.sin_port));
	cr_assert_eq(pipe2(p->wake, O_CLOEXEC | O_NONBLOCK), 0);
	cr_assert_eq(pthread_create(&p->thread, NULL, proxy_main, p), 0);
	return p;
}

/* Return the proxy's address for refex --server. */
const char *proxy_address(const struct proxy *p)
{
	return p->address;
}

static void proxy_wake(struct proxy *p)
{
	ssize_t n = write(p->wake[1], "", 1);

	(void)n;
}

/* Arm the proxy to cut the first answer after refexd logs log_text. */
void proxy_cut_after_log(struct proxy *p, const char *log_text)
{
	pthread_mutex_lock(&p->lock);
	snprintf(p->cut_text, sizeof(p->cut_text), "%s", log_text);
	p->cut_baseline = net_log_count(p->net, log_text);
	pthread_mutex_unlock(&p->lock);
}

/* Close every connection now. */
void proxy_cut_all(struct proxy *p)
{
	pthread_mutex_lock(&p->lock);
	p->cut_all = 1;
	pthread_mutex_unlock(&p->lock);
	proxy_wake(p);
}

/* How many connections were accepted. */
int proxy_accepted(struct proxy *p)
{
	int n;

	pthread_mutex_lock(&p->lock);
	n = p->accepted;
	pthread_mutex_unlock(&p->lock);
	return n;
}

/* How many connections were cut. */
int proxy_cuts(struct proxy *p)
{
	int n;

	pthread_mutex_lock(&p->lock);
	n = p->cuts;
	pthread_mutex_unlock(&p->lock);
	return n;
}

/* Stop the proxy and free it. */
void proxy_free(struct proxy *p)
{
	if (p == NULL) {
		return;
	}
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_mutex_unlock(&p->lock);
	proxy_wake(p);
	pthread_join(p->thread, NULL);
	for (int i = 0; i < PROXY_PAIRS; i++) {
		pair_close(&p->pairs[i]);
	}
	close(p->listen_fd);
	close(p->wake[0]);
	close(p->wake[1]);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
