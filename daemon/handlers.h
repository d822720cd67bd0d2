/* Request handlers: one function per request type, registered in one table. */
#ifndef REFEX_HANDLERS_H
#define REFEX_HANDLERS_H

#include "refex.pb-c.h"
#include "session.h"

/* Handle one decoded request from s; takes ownership of req. */
void handlers_dispatch(struct session *s, Refex__Request *req);

/* Name a field of a Request (a JSON path from the Request) relative to the request's body. */
const char *handlers_field_in_body(const char *path);

#endif
