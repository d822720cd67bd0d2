/* SIGHUP: re-read the configuration and the TLS files it names, and apply all or nothing. */
#ifndef REFEX_RELOAD_H
#define REFEX_RELOAD_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "config.h"
#include "hub.h"

/* Build the server TLS context from cfg's certificate, key, CA and CRL, or NULL with err. */
SSL_CTX *reload_tls_ctx(const struct config *cfg, char *err, size_t errlen);

/*
 * Re-read hub->cfg->path, its TLS files and its forms directory. Everything new is built
 * first (configuration, TLS context, forms, per-agency lists); only when all of it is ready is it swapped in, so a
 * failure leaves the old configuration and TLS context in force, untouched. Then sessions
 * whose agency was removed or whose certificate the new CA and CRL refuse are closed.
 * Returns 0, or -1 with the reason in err (also logged as msg=reload-refused).
 */
int reload_apply(struct hub *hub, char *err, size_t errlen);

#endif
