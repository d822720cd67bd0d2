/* The list of hubs, and failing over from one that cannot be reached to the next. */
#include "hubs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HUBS_BLANK " \t"

/* Copy the n bytes at s without the blanks around them into a new string (NULL: no memory). */
static char *trimmed(const char *s, size_t n)
{
	while (n && strchr(HUBS_BLANK, s[0])) {
		s++;
		n--;
	}
	while (n && strchr(HUBS_BLANK, s[n - 1])) {
		n--;
	}
	return strndup(s, n);
}

/* Say whether addr is a usable address: HOST:PORT or [v6]:PORT, nothing blank inside. */
static int is_address(const char *addr)
{
	char host[256], port[16];

	return addr[strcspn(addr, HUBS_BLANK)] == '\0' &&
	       conn_split_address(addr, host, sizeof(host), port, sizeof(port)) == 0;
}

/* Say whether list holds addr already. */
static int is_listed(const struct hub_list *list, const char *addr)
{
	for (size_t i = 0; i < list->n; i++) {
		if (strcmp(list->addr[i], addr) == 0) {
			return 1;
		}
	}
	return 0;
}

/* Check entry, number i of total, and say what is wrong with it. Returns 0 or -1. */
static int check_entry(const struct hub_list *list, const char *entry, size_t i, size_t total,
                       char *err, size_t errlen)
{
	if (total == 1 && !is_address(entry)) {
		snprintf(err, errlen, "bad server address '%s': expected HOST:PORT or [IPv6]:PORT",
		         entry);
	} else if (!*entry) {
		snprintf(err, errlen,
		         "the server list has an empty entry (number %zu of %zu): write "
		         "HOST:PORT, HOST:PORT",
		         i + 1, total);
	} else if (!is_address(entry)) {
		snprintf(err, errlen,
		         "bad server address '%s' (hub %zu of %zu in the server list): expected "
		         "HOST:PORT or [IPv6]:PORT",
		         entry, i + 1, total);
	} else if (is_listed(list, entry)) {
		snprintf(err, errlen, "hub '%s' is listed twice in the server list", entry);
	} else {
		return 0;
	}
	return -1;
}

/* Split a server list into its hubs, checking each. */
int hubs_parse(const char *text, struct hub_list *list, char *err, size_t errlen)
{
	size_t total = 1, n;
	const char *p = text, *comma;
	char *entry;

	memset(list, 0, sizeof(*list));
	for (comma = text; (comma = strchr(comma, ',')) != NULL; comma++) {
		total++;
	}
	if (total > HUBS_MAX) {
		snprintf(err, errlen, "the server list names %zu hubs; refex takes at most %d",
		         total, HUBS_MAX);
		return -1;
	}
	for (size_t i = 0; i < total; i++) {
		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		if (!(entry = trimmed(p, n))) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		if (check_entry(list, entry, i, total, err, errlen) < 0) {
			free(entry);
			goto fail;
		}
		list->addr[list->n++] = entry;
		p += n + 1;
	}
	return 0;
fail:
	hubs_clear(list);
	return -1;
}

/* Free what hubs_parse allocated. */
void hubs_clear(struct hub_list *list)
{
	for (size_t i = 0; i < list->n; i++) {
		free(list->addr[i]);
	}
	memset(list, 0, sizeof(*list));
}

/* Put the hub's address in front of err unless err names it already. */
void hubs_name_in(const char *addr, char *err, size_t errlen)
{
	char *copy;

	if (strstr(err, addr) || !(copy = strdup(err))) {
		return;
	}
	snprintf(err, errlen, "%s: %s", addr, copy);
	free(copy);
}

/* Add reason (one hub's) to the lines in buf. */
static void add_line(char *buf, size_t len, const char *reason)
{
	size_t used = strlen(buf);

	snprintf(buf + used, len - used, "%s%s", used ? "\n" : "", reason);
}

/* Say on stderr why each hub before the one that answered was passed over. */
static void say_passed_over(const char *passed, const char *used)
{
	const char *p = passed;
	size_t n;

	while (*p) {
		n = strcspn(p, "\n");
		fprintf(stderr, "refex: %.*s; using %s instead\n", (int)n, p, used);
		p += n + (p[n] != '\0');
	}
}

/* Say in err that no hub answered, and why not each, from the lines in passed. */
static void say_none_answered(const struct hub_list *list, char *passed, char *err, size_t errlen)
{
	size_t off = (size_t)snprintf(err, errlen, "no hub answered (%zu tried): ", list->n);
	char *line = strtok(passed, "\n");

	for (int first = 1; line && off < errlen; first = 0, line = strtok(NULL, "\n")) {
		off += (size_t)snprintf(err + off, errlen - off, "%s%s", first ? "" : "; ", line);
	}
}

/* Connect to the first hub that answers, beginning with *hub. */
struct conn *hubs_open(const struct hub_list *list, size_t *hub, const struct tls_paths *paths,
                       const char *state_dir, char *err, size_t errlen, enum conn_failure *why)
{
	char one[1024], passed[HUBS_MAX * 256] = "";
	struct conn *c;
	size_t i;

	for (size_t k = 0; k < list->n; k++) {
		i = (*hub + k) % list->n;
		if ((c = conn_open(list->addr[i], paths, state_dir, one, sizeof(one), why))) {
			*hub = i;
			say_passed_over(passed, list->addr[i]);
			return c;
		}
		/* One hub, or our own files unusable (the same for every hub): as it is. */
		if (list->n == 1 || *why == CONN_BAD_SETUP) {
			snprintf(err, errlen, "%s", one);
			return NULL;
		}
		hubs_name_in(list->addr[i], one, sizeof(one));
		if (*why != CONN_UNREACHED) {
			/* A certificate that fails, the hub's or ours, is never passed over. */
			snprintf(err, errlen, "%s%s", one,
			         *why == CONN_TLS_FAILED ? " (refex tries no other hub after a "
			                                   "certificate fails, the hub's or yours)"
			                                 : "");
			return NULL;
		}
		add_line(passed, sizeof(passed), one);
	}
	say_none_answered(list, passed, err, errlen);
	return NULL;
}
