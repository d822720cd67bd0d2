/*
 * The hubs refex may use ("server = hub1:7443, hub2:7443"), and connecting to the first of
 * them that answers. Hubs are tried in the order listed, beginning with the one that last
 * answered in this run; a hub that cannot be reached (refused, no answer, cut off, or
 * unavailable) is passed over for the next, but one whose certificate does not verify (or is
 * revoked), or that refuses ours, stops refex there: that may be an impostor, and carrying on
 * through another hub would hide it.
 */
#ifndef REFEX_HUBS_H
#define REFEX_HUBS_H

#include <stddef.h>

#include "conn.h"

#define HUBS_MAX 16 /* hubs one server list may name */

/* The hubs, as the user listed them. */
struct hub_list {
	char *addr[HUBS_MAX]; /* "HOST:PORT" or "[v6]:PORT", each checked */
	size_t n;
};

/* Split text (HOST:PORT entries separated by commas, spaces around them allowed) into list,
 * checking each entry. Returns 0, or -1 with a reason naming the bad entry in err (list is
 * then empty). */
int hubs_parse(const char *text, struct hub_list *list, char *err, size_t errlen);

/* Free what hubs_parse allocated. */
void hubs_clear(struct hub_list *list);

/*
 * Open a connection (conn_open) to the first hub of list that answers, trying each once,
 * beginning at list->addr[*hub] and wrapping round; set *hub to the one that answered. On a
 * hub passed over for a later one, say why on stderr. Returns the connection, or NULL with a
 * plain-words reason in err (naming each hub tried when there are several) and *why set:
 * CONN_UNREACHED only when no hub could be reached.
 */
struct conn *hubs_open(const struct hub_list *list, size_t *hub, const struct tls_paths *paths,
                       const char *state_dir, char *err, size_t errlen, enum conn_failure *why);

/* Put the hub's address in front of err ("HUB: err") unless err names it already. */
void hubs_name_in(const char *addr, char *err, size_t errlen);

#endif
