/* Handshakes under way by source address: a chained hash table keyed by IPv4 address or IPv6 /64,
 * and the budgets both doors' connections are held to before they are admitted. */
#include "addr_table.h"

#include <sys/queue.h>

#include <event2/util.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define BUCKETS_MIN 64

struct addr_table {
	struct addr_entry **buckets;
	size_t n_buckets; /* a power of two */
	size_t n;
	uint64_t seed; /* random, so that a client cannot aim its addresses at one chain */
};

/* Fill key with the source address sa counts as. */
void addr_key_from(struct addr_key *key, const struct sockaddr *sa)
{
	memset(key, 0, sizeof(*key));
	if (sa->sa_family == AF_INET) {
		key->family = AF_INET;
		memcpy(key->bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a)) {
			key->family = AF_INET;
			memcpy(key->bytes, &a->s6_addr[12], 4);
		} else {
			key->family = AF_INET6;
			memcpy(key->bytes, a->s6_addr, 8);
		}
	}
}

/* Write sa as HOST:PORT, numeric, into buf. */
void addr_describe(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen)
{
	char host[NI_MAXHOST], port[NI_MAXSERV];

	if (getnameinfo(sa, len, host, sizeof(host), port, sizeof(port),
	                NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(buf, buflen, "?:?");
		return;
	}
	snprintf(buf, buflen, "%s:%s", host, port);
}

/* Mix the key with the seed (splitmix64's finaliser). Not a cryptographic hash: a chain can
 * be no longer than the handshakes allowed in all, and the seed keeps them spread. */
static size_t addr_hash(const struct addr_table *t, const struct addr_key *key)
{
	uint64_t v;

	memcpy(&v, key->bytes, sizeof(v));
	v ^= t->seed + key->family;
	v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ULL;
	v = (v ^ (v >> 27)) * 0x94d049bb133111ebULL;
	v ^= v >> 31;
	return (size_t)v & (t->n_buckets - 1);
}

/* Make an empty table. */
struct addr_table *addr_table_new(void)
{
	struct addr_table *t = calloc(1, sizeof(*t));

	if (t == NULL || (t->buckets = calloc(BUCKETS_MIN, sizeof(*t->buckets))) == NULL) {
		free(t);
		return NULL;
	}
	t->n_buckets = BUCKETS_MIN;
	evutil_secure_rng_get_bytes(&t->seed, sizeof(t->seed));
	return t;
}

/* Free the table and any entries left in it. */
void addr_table_free(struct addr_table *t)
{
	if (t == NULL) {
		return;
	}
	for (size_t i = 0; i < t->n_buckets; i++) {
		while (t->buckets[i] != NULL) {
			struct addr_entry *e = t->buckets[i];

			t->buckets[i] = e->next;
			free(e);
		}
	}
	free(t->buckets);
	free(t);
}

/* Return the entry for key, or NULL. */
struct addr_entry *addr_table_find(const struct addr_table *t, const struct addr_key *key)
{
	struct addr_entry *e = t->buckets[addr_hash(t, key)];

	while (e != NULL && memcmp(&e->key, key, sizeof(*key)) != 0) {
		e = e->next;
	}
	return e;
}

/* Double the buckets once there are more entries than buckets; keep the old ones if out of
 * memory (the chains only grow longer). */
static void addr_table_grow(struct addr_table *t)
{
	struct addr_entry **old = t->buckets;
	size_t n_old = t->n_buckets;

	if (t->n < t->n_buckets || (t->buckets = calloc(n_old * 2, sizeof(*t->buckets))) == NULL) {
		t->buckets = old;
		return;
	}
	t->n_buckets = n_old * 2;
	for (size_t i = 0; i < n_old; i++) {
		while (old[i] != NULL) {
			struct addr_entry *e = old[i];
			size_t b = addr_hash(t, &e->key);

			old[i] = e->next;
			e->next = t->buckets[b];
			t->buckets[b] = e;
		}
	}
	free(old);
}

/* Return the entry for key, adding an empty one if there is none. */
struct addr_entry *addr_table_get(struct addr_table *t, const struct addr_key *key)
{
	struct addr_entry *e = addr_table_find(t, key);
	size_t b;

	if (e != NULL) {
		return e;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		return NULL;
	}
	addr_table_grow(t);
	b = addr_hash(t, key);
	e->key = *key;
	TAILQ_INIT(&e->handshakes);
	e->next = t->buckets[b];
	t->buckets[b] = e;
	t->n++;
	return e;
}

/* Remove e from t and free it. */
void addr_table_remove(struct addr_table *t, struct addr_entry *e)
{
	struct addr_entry **p = &t->buckets[addr_hash(t, &e->key)];

	while (*p != NULL && *p != e) {
		p = &(*p)->next;
	}
	if (*p == e) {
		*p = e->next;
		t->n--;
	}
	free(e);
}

/* Return the number of entries in t. */
size_t addr_table_count(const struct addr_table *t)
{
	return t->n;
}

/* Count slot, a new connection from sa, in hub's handshake budgets. */
int addr_budget_enter(struct hub *hub, struct hs_slot *slot, const struct sockaddr *sa)
{
	struct addr_key key;

	addr_key_from(&key, sa);
	if ((slot->addr = addr_table_get(hub->handshake_addrs, &key)) == NULL) {
		return -1;
	}
	TAILQ_INSERT_TAIL(&slot->addr->handshakes, slot, same_addr);
	slot->addr->n++;
	TAILQ_INSERT_TAIL(&hub->handshakes, slot, all);
	hub->n_handshakes++;
	hub->n_web_waiting += slot->web;
	return 0;
}

/* Stop counting slot: it was admitted, shed or closed. */
void addr_budget_leave(struct hub *hub, struct hs_slot *slot)
{
	if (slot->addr == NULL) {
		return;
	}
	TAILQ_REMOVE(&slot->addr->handshakes, slot, same_addr);
	if (--slot->addr->n == 0) {
		addr_table_remove(hub->handshake_addrs, slot->addr);
	}
	slot->addr = NULL;
	TAILQ_REMOVE(&hub->handshakes, slot, all);
	hub->n_handshakes--;
	hub->n_web_waiting -= slot->web;
}

#define SHED_LOG_INTERVAL 1.0 /* seconds: at most one line about shed handshakes in each */

/* Shed slot, the oldest handshake of a budget that is full. Logged once a second at most (the
 * slot's own shed logs, with hub->shed_unlogged): a flood sheds thousands. */
static void addr_budget_shed(struct hub *hub, struct hs_slot *slot, const char *budget)
{
	double now = metrics_now();
	bool log = hub->shed_logged_at == 0 || now - hub->shed_logged_at >= SHED_LOG_INTERVAL;

	metrics_handshake_failed(METRICS_HS_SHED);
	if (!log) {
		hub->shed_unlogged++;
	}
	slot->shed(slot, budget, log);
	if (log) {
		hub->shed_logged_at = now;
		hub->shed_unlogged = 0;
	}
}

/* Shed the oldest handshakes until a new connection from sa fits every budget. */
bool addr_budget_make_room(struct hub *hub, const struct sockaddr *sa)
{
	const struct limits *l = &hub->cfg->limits;
	struct addr_key key;
	struct addr_entry *e;

	addr_key_from(&key, sa);
	while ((e = addr_table_find(hub->handshake_addrs, &key)) != NULL &&
	       e->n >= l->max_handshakes_per_address) {
		addr_budget_shed(hub, TAILQ_FIRST(&e->handshakes), "max_handshakes_per_address");
	}
	while (hub->n_handshakes > 0 && hub->n_handshakes >= l->max_handshakes) {
		addr_budget_shed(hub, TAILQ_FIRST(&hub->handshakes), "max_handshakes");
	}
	while (hub->n_handshakes > 0 &&
	       hub->n_sessions + hub->n_web_waiting >= l->max_connections) {
		addr_budget_shed(hub, TAILQ_FIRST(&hub->handshakes), "max_connections");
	}
	return hub->n_sessions + hub->n_web_waiting < l->max_connections;
}
