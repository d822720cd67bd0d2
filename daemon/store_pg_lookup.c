/*
 * The host names of a database URL, looked up on the loop without blocking it
 * (evdns: /etc/hosts, then the name servers of /etc/resolv.conf), for the news
 * connection that the loop drives (store_pg_news.c). libpq would look a name up
 * inside PQconnectStartParams with the blocking getaddrinfo; given each address
 * as hostaddr beside its name as host, it looks nothing up, and still checks the
 * name against the server's certificate (sslmode=verify-full) and uses it for
 * .pgpass. A name with several addresses becomes that name once per address,
 * tried in turn, as libpq tries a name's addresses; a name that does not resolve
 * is left out, as libpq goes on to the next host. Addresses and Unix socket
 * directories need no lookup, nor does a URL that gives hostaddr itself.
 */
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "store_pg_private.h"

#define LOOKUP_NAMES_MAX 64 /* host names in one URL */
#define LOOKUP_LIST_MAX  4096

struct pg_lookup {
	struct evdns_base *dns;
	struct evdns_getaddrinfo_request *req; /* the lookup under way */
	struct event *finish;                  /* hands the answer to done, never from start */
	pg_lookup_fn done;
	void *arg;
	bool failed;
	size_t n, i; /* the URL's host names, the one looked up */
	char *names[LOOKUP_NAMES_MAX];
	char *ports[LOOKUP_NAMES_MAX];
	size_t nports; /* 0 or 1: not overridden; n: one per name */
	size_t added;  /* items in each list below */
	char host[LOOKUP_LIST_MAX], hostaddr[LOOKUP_LIST_MAX], port[LOOKUP_LIST_MAX];
};

/* Say whether host (one item of a URL's host list) needs a lookup: not empty, a socket
 * directory, or an address (an IPv6 one, with a zone too: no name holds a ':'). */
static bool lookup_needed(const char *host)
{
	unsigned char addr[16];

	return host[0] != '\0' && host[0] != '/' && host[0] != '@' && strchr(host, ':') == NULL &&
	       evutil_inet_pton(AF_INET, host, addr) != 1;
}

/* Append item to the comma-separated list (of LOOKUP_LIST_MAX bytes), after a comma unless it
 * is the first; -1 if it does not fit. */
static int lookup_append(char *list, bool first, const char *item)
{
	size_t len = strlen(list), add = strlen(item);

	if (len + add + 2 > LOOKUP_LIST_MAX) {
		return -1;
	}
	if (!first) {
		list[len++] = ',';
	}
	memcpy(list + len, item, add + 1);
	return 0;
}

/* Add name i once, with address addr ("": libpq's own way: a socket directory, an address). */
static int lookup_add(struct pg_lookup *lk, size_t i, const char *addr)
{
	bool first = lk->added++ == 0;

	if (lookup_append(lk->host, first, lk->names[i]) < 0 ||
	    lookup_append(lk->hostaddr, first, addr) < 0) {
		return -1;
	}
	return lk->nports > 1 ? lookup_append(lk->port, first, lk->ports[i]) : 0;
}

/* Split the comma-separated list s into out (at most LOOKUP_NAMES_MAX); the count, -1 if too
 * many or out of memory. */
static int lookup_split(const char *s, char **out)
{
	size_t n = 0;

	do {
		size_t len = strcspn(s, ",");

		if (n == LOOKUP_NAMES_MAX || (out[n] = strndup(s, len)) == NULL) {
			return -1;
		}
		n++;
		s += len;
	} while (*s++ == ',');
	return (int)n;
}

static void lookup_next(struct pg_lookup *lk);

static void lookup_on_answer(int err, struct evutil_addrinfo *res, void *arg)
{
	struct pg_lookup *lk = arg;
	char addr[64];

	if (err == EVUTIL_EAI_CANCEL) {
		return; /* pg_lookup_free: lk is going */
	}
	lk->req = NULL;
	/* A name that does not resolve is left out: libpq goes on to the next host too. */
	for (struct evutil_addrinfo *a = err == 0 ? res : NULL; a != NULL && !lk->failed;
	     a = a->ai_next) {
		const void *in =
		    a->ai_family == AF_INET
		        ? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
		        : (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;

		lk->failed = evutil_inet_ntop(a->ai_family, in, addr, sizeof(addr)) == NULL ||
		             lookup_add(lk, lk->i, addr) < 0;
	}
	if (res != NULL) {
		evutil_freeaddrinfo(res);
	}
	lk->i++;
	lookup_next(lk);
}

/* Look up the next name that needs it; once none is left (or one failed), finish. */
static void lookup_next(struct pg_lookup *lk)
{
	struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct evdns_getaddrinfo_request *req;

	for (; lk->i < lk->n && !lk->failed; lk->i++) {
		if (!lookup_needed(lk->names[lk->i])) {
			lk->failed = lookup_add(lk, lk->i, "") < 0;
			continue;
		}
		/* The answer may come at once, inside this call (/etc/hosts), starting the next. */
		req = evdns_getaddrinfo(lk->dns, lk->names[lk->i], NULL, &hints, lookup_on_answer,
		                        lk);
		if (req != NULL) {
			lk->req = req;
		}
		return;
	}
	event_active(lk->finish, 0, 0);
}

static void lookup_on_finish(evutil_socket_t fd, short what, void *arg)
{
	struct pg_lookup *lk = arg;

	(void)fd, (void)what;
	/* done may free lk (pg_lookup_free): it is the last thing here. */
	if (lk->failed || lk->added == 0) { /* none: libpq would look the names up itself */
		lk->done(lk->arg, NULL, NULL, NULL);
	} else {
		lk->done(lk->arg, lk->host, lk->hostaddr, lk->port);
	}
}

/* The value of keyword in opts; NULL if unset or empty. */
static const char *lookup_option(const PQconninfoOption *opts, const char *keyword)
{
	for (const PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (strcmp(o->keyword, keyword) == 0) {
			return o->val != NULL && o->val[0] != '\0' ? o->val : NULL;
		}
	}
	return NULL;
}

/* Read the host and port lists of url into lk (none: the operator gave hostaddr, or no host);
 * -1 if url cannot be read or lk cannot hold them. */
static int lookup_parse(struct pg_lookup *lk, const char *url)
{
	PQconninfoOption *opts = PQconninfoParse(url, NULL);
	const char *host, *port;
	int n = 0, np = 0;

	if (opts == NULL) {
		return -1;
	}
	host = lookup_option(opts, "host");
	port = lookup_option(opts, "port");
	if (host == NULL) {
		host = getenv("PGHOST"); /* libpq's default for a URL without a host */
	}
	if (lookup_option(opts, "hostaddr") == NULL && host != NULL && host[0] != '\0') {
		n = lookup_split(host, lk->names);
		np = n > 0 && port != NULL ? lookup_split(port, lk->ports) : 0;
	}
	PQconninfoFree(opts);
	if (n < 0 || np < 0) {
		return -1;
	}
	lk->n = (size_t)n;
	/* A list of ports other than one per host is libpq's to refuse. */
	lk->nports = np > 1 && np != n ? 0 : (size_t)np;
	return 0;
}

/* Say whether lk's names all need no lookup. */
static bool lookup_idle(const struct pg_lookup *lk)
{
	for (size_t i = 0; i < lk->n; i++) {
		if (lookup_needed(lk->names[i])) {
			return false;
		}
	}
	return true;
}

/* Start looking up the host names of url with dns, on base; done gets host, hostaddr and port lists
 * to pass after the URL ("" port: the URL's), or NULLs if no name resolved, never before this
 * returns. 1 with *out NULL: nothing to look up; 0 started; -1 (out of memory, a URL libpq
 * cannot read). */
int pg_lookup_start(struct event_base *base, struct evdns_base *dns, const char *url,
                    pg_lookup_fn done, void *arg, struct pg_lookup **out)
{
	struct pg_lookup *lk = calloc(1, sizeof(*lk));
	int rc;

	*out = NULL;
	if (lk == NULL) {
		return -1;
	}
	if ((rc = lookup_parse(lk, url)) < 0 || lookup_idle(lk)) {
		pg_lookup_free(lk);
		return rc < 0 ? -1 : 1;
	}
	lk->dns = dns;
	lk->done = done;
	lk->arg = arg;
	if ((lk->finish = event_new(base, -1, 0, lookup_on_finish, lk)) == NULL) {
		pg_lookup_free(lk);
		return -1;
	}
	*out = lk;
	lookup_next(lk);
	return 0;
}

/* Free a lookup (NULL is fine), stopping it if under way: its done is then not called. */
void pg_lookup_free(struct pg_lookup *lk)
{
	if (lk == NULL) {
		return;
	}
	if (lk->req != NULL) {
		evdns_getaddrinfo_cancel(lk->req);
	}
	if (lk->finish != NULL) {
		event_free(lk->finish);
	}
	for (size_t i = 0; i < LOOKUP_NAMES_MAX; i++) {
		free(lk->names[i]);
		free(lk->ports[i]);
	}
	free(lk);
}
