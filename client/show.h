/* What refex show prints that the client and consent commands print too (cmd_show.c). */
#ifndef REFEX_SHOW_H
#define REFEX_SHOW_H

#include <stddef.h>
#include <stdint.h>

#include "client.pb-c.h"
#include "refex.pb-c.h"

/* Print "  label  value" with labels aligned; nothing when value is empty. */
void show_field(const char *label, const char *value);

/* Print a client record under the heading "Client". */
void show_client_record(const Refex__ClientRecord *c);

/* Print the "erased" line of a client record erased at t by whom (NULL: its owner), with the
 * reason given when there is one (NULL: none shown). */
void show_client_erased(int64_t t, const char *by, const char *reason);

/* Print the "consent" line of a client whose consent to share was withdrawn at t. */
void show_consent_withdrawn(int64_t t);

/* Return how consent was given in words ("verbal", ...), written into buf (len bytes,
 * PBENUM_NAME_MAX will do), or NULL when not given. */
const char *show_consent_method(Refex__ConsentMethod m, char *buf, size_t len);

#endif
