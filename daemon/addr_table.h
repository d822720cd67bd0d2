/*
 * Handshakes under way, by source address: a small hash table, so that the hub can hold each
 * address to its own budget and shed that address's oldest handshake in O(1).
 */
#ifndef REFEX_ADDR_TABLE_H
#define REFEX_ADDR_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "hub.h"

/* A source address as the budget counts it: an IPv4 address, or an IPv6 address's /64 (its
 * owner holds every one of the 2^64 addresses in it). An IPv4-mapped IPv6 address counts as the
 * IPv4 address. */
struct addr_key {
	uint8_t family; /* AF_INET, AF_INET6, or AF_UNSPEC for anything else (one key for all) */
	uint8_t bytes[8];
};

/* A connection not yet admitted, from either door, as the handshake budgets count it. */
struct hs_slot {
	TAILQ_ENTRY(hs_slot) all;       /* hub->handshakes */
	TAILQ_ENTRY(hs_slot) same_addr; /* addr->handshakes */
	struct addr_entry *addr;        /* its source address while counted; NULL: not counted */
	bool web;                       /* an HTTPS connection: not in hub->n_sessions */
	/* Close the connection to make room for a newcomer, logging it (with hub->shed_unlogged)
	 * when log; budget names the budget that is full. It must leave the budgets
	 * (addr_budget_leave) before it returns. */
	void (*shed)(struct hs_slot *slot, const char *budget, bool log);
};

/* One source address with handshakes under way. */
struct addr_entry {
	struct addr_key key;
	struct hs_slot_list handshakes; /* oldest first */
	size_t n;                       /* how many */
	struct addr_entry *next;        /* hash chain */
};

struct addr_table;

/* Fill key with the source address sa counts as. */
void addr_key_from(struct addr_key *key, const struct sockaddr *sa);

/* Write sa as HOST:PORT, numeric, into buf ("?:?" when it cannot be written). */
void addr_describe(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen);

/* Make an empty table, or NULL when out of memory. */
struct addr_table *addr_table_new(void);

/* Free the table and any entries left in it. NULL is fine. */
void addr_table_free(struct addr_table *t);

/* Return the entry for key, or NULL. */
struct addr_entry *addr_table_find(const struct addr_table *t, const struct addr_key *key);

/* Return the entry for key, adding an empty one if there is none; NULL when out of memory. */
struct addr_entry *addr_table_get(struct addr_table *t, const struct addr_key *key);

/* Remove e from t and free it (its list must be empty). */
void addr_table_remove(struct addr_table *t, struct addr_entry *e);

/* Return the number of entries in t. */
size_t addr_table_count(const struct addr_table *t);

/* Count slot, a new connection from sa, in hub's handshake budgets (of both doors). Returns 0,
 * or -1 when out of memory. */
int addr_budget_enter(struct hub *hub, struct hs_slot *slot, const struct sockaddr *sa);

/* Stop counting slot: it was admitted, shed or closed. Not counted is fine. */
void addr_budget_leave(struct hub *hub, struct hs_slot *slot);

/* Shed the oldest handshakes, of either door, until a new connection from sa fits every
 * budget. Returns false when it still does not (max_connections is full of admitted ones). */
bool addr_budget_make_room(struct hub *hub, const struct sockaddr *sa);

#endif
