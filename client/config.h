/* Where the client connects and with which certificate: config file plus flags. */
#ifndef REFEX_CLIENT_CONFIG_H
#define REFEX_CLIENT_CONFIG_H

#include <stddef.h>

#include "cmd.h"
#include "hubs.h"

struct client_config {
	char *path;           /* the config file read, or NULL when none was */
	char *server;         /* the server list as given: HOST:PORT, HOST:PORT, ... */
	struct hub_list hubs; /* its hubs, each checked */
	char *cert;           /* paths, already resolved against the config file's directory */
	char *key;
	char *ca;
	char *crl;       /* a CRL file the partner pins (crl=), or NULL */
	char *state_dir; /* where refex keeps what it learns (the newest CRL), or NULL */
};

/*
 * Read the config file ($REFEX_CONFIG, else ~/.config/refex/config, unless
 * --config names one) and apply the flags in opt over it. A missing default
 * file is fine when the flags say everything; a file named explicitly must
 * exist. The server list is split into hubs, each checked (a bad one is named).
 * Returns 0, or -1 with a plain-words reason in err (the caller exits 2).
 * Call client_config_clear afterwards either way.
 */
int client_config_load(struct client_config *cfg, const struct cmd_globals *opt, char *err,
                       size_t errlen);

/* Free what client_config_load allocated. */
void client_config_clear(struct client_config *cfg);

#endif
