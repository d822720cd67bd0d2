/* SIGHUP: re-read the configuration and the TLS files it names, and apply all or nothing. */
#ifndef REFEX_RELOAD_H
#define REFEX_RELOAD_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "config.h"
#include "hub.h"

/* Build the server TLS context from cfg's certificate, key, CA and CRL, or NULL with err. */
SSL_CTX *reload_tls_ctx(const struct config *cfg, char *err, size_t errlen);

/* What a reload ended with: 0, its configuration is in force; -1, refused (logged as
 * msg=reload-refused) and the old one stays. */
typedef void (*reload_done_fn)(struct hub *hub, int rc);

/*
 * Re-read hub->cfg->path, its TLS files and its forms directory. Everything new is built
 * first (configuration, TLS context, forms, per-agency lists); the forms' new versions are
 * then recorded in the database without holding the loop (the stored versions are read on the
 * reader thread and the change goes through the commit queue), and only once they have
 * committed is everything swapped in, so a failure leaves the old configuration and TLS context
 * in force, untouched. Then sessions whose agency was removed or whose certificate the new CA
 * and CRL refuse are closed. done runs once, on the loop thread, when the reload has ended (at
 * once if it is refused before the database is asked). A reload asked for while one is under
 * way runs once that one has ended (several such are one). Loop thread only.
 */
void reload_apply(struct hub *hub, reload_done_fn done);

#endif
