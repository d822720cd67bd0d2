/* What refex show prints that the client and consent commands print too (cmd_show.c). */
#ifndef REFEX_SHOW_H
#define REFEX_SHOW_H

#include "client.pb-c.h"
#include "refex.pb-c.h"

/* Print "  label  value" with labels aligned; nothing when value is empty. */
void show_field(const char *label, const char *value);

/* Print a client record under the heading "Client". */
void show_client_record(const Refex__ClientRecord *c);

/* Return how consent was given in words ("verbal", ...), or NULL. */
const char *show_consent_method(Refex__ConsentMethod m);

#endif
