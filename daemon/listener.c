/* Accept TCP connections on the configured address, within the connection limit. */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "addr_table.h"
#include "log.h"
#include "session.h"

#define ACCEPT_BURST 64 /* connections accepted in a row before the loop serves the others */

static void listener_resume(evutil_socket_t fd, short what, void *arg)
{
	struct hub *hub = arg;

	(void)fd;
	(void)what;
	hub->accept_burst = 0;
	if (!hub->stopping) {
		evconnlistener_enable(hub->listener);
		if (hub->web_listener != NULL) {
			evconnlistener_enable(hub->web_listener);
		}
	}
}

/* Count a connection accepted on l, either door's listener; after a burst, stop accepting until
 * the loop has served the others. */
void listener_paced(struct hub *hub, struct evconnlistener *l)
{
	struct timeval now = {0};

	/* libevent accepts until the backlog is empty, which a flood can keep from happening for
	 * as long as it lasts: after a burst, let the loop serve the handshakes under way (a
	 * partner's among them) before accepting more. */
	if (++hub->accept_burst >= ACCEPT_BURST && !hub->stopping &&
	    event_base_once(hub->base, -1, EV_TIMEOUT, listener_resume, hub, &now) == 0) {
		/* Only with the resume queued: without it the listener would stay off for good. */
		evconnlistener_disable(l);
	}
}

/* Admit the connection fd from sa as a session, or refuse it. */
static void listener_take(struct hub *hub, evutil_socket_t fd, struct sockaddr *sa, int salen)
{
	char peer[NI_MAXHOST + NI_MAXSERV + 2];
	int one = 1;

	addr_describe(sa, (socklen_t)salen, peer, sizeof(peer));
	/* Handshakes under way make room for a newcomer, so connections that never finish one
	 * cannot lock partners out; only admitted connections fill max_connections for good. */
	if (hub->stopping || !addr_budget_make_room(hub, sa)) {
		log_warnx("msg=\"connection refused\" peer=%s reason=\"%s\"", peer,
		          hub->stopping ? "stopping" : "connection limit reached");
		evutil_closesocket(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (session_new(hub, fd, sa) == NULL) {
		log_error("msg=\"cannot start session\" peer=%s", peer);
		return;
	}
	log_debug("conn=%llu msg=accepted peer=%s", (unsigned long long)hub->next_session_id, peer);
}

static void listener_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                            int salen, void *arg)
{
	struct hub *hub = arg;

	listener_take(hub, fd, sa, salen);
	listener_paced(hub, l);
}

static void listener_error(struct evconnlistener *l, void *arg)
{
	struct hub *hub = arg;
	struct timeval pause = {.tv_sec = 1};
	int e = EVUTIL_SOCKET_ERROR();

	/* Out of descriptors and the like: the pending connection stays in the backlog, so
	 * accepting again at once would spin. Keep serving the connections we have and try
	 * again in a second. */
	log_error("msg=\"accept failed; pausing new connections for 1 s\" error=\"%s\"",
	          evutil_socket_error_to_string(e));
	evconnlistener_disable(l);
	event_base_once(hub->base, -1, EV_TIMEOUT, listener_resume, hub, &pause);
}

static void listener_log_bound(evutil_socket_t fd, const char *what)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[NI_MAXHOST], port[NI_MAXSERV];

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port, sizeof(port),
	                NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
		log_notice("msg=%s address=%s port=%s", what, host, port);
	}
}

/* Bind host:port and log it as msg=what; the listener accepts once given a callback. */
struct evconnlistener *listener_bind(struct hub *hub, const char *host, const char *port,
                                     const char *what, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	struct evconnlistener *l;
	int rc;

	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "listen %s:%s: %s", host, port, gai_strerror(rc));
		return NULL;
	}
	l = evconnlistener_new_bind(hub->base, NULL, NULL,
	                            LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024, res->ai_addr,
	                            (int)res->ai_addrlen);
	freeaddrinfo(res);
	if (l == NULL) {
		snprintf(err, errlen, "cannot listen on %s:%s: %s", host, port, strerror(errno));
		return NULL;
	}
	listener_log_bound(evconnlistener_get_fd(l), what);
	return l;
}

/* Bind the configured address and start accepting. */
int listener_start(struct hub *hub, char *err, size_t errlen)
{
	hub->listener = listener_bind(hub, hub->cfg->listen_host, hub->cfg->listen_port,
	                              "listening", err, errlen);
	if (hub->listener == NULL) {
		return -1;
	}
	evconnlistener_set_cb(hub->listener, listener_accept, hub);
	evconnlistener_set_error_cb(hub->listener, listener_error);
	return 0;
}
