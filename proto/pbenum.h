/*
 * The names of protocol enum values as people read and type them, taken from the protobuf-c
 * enum descriptors so that no program spells them again. The rule: the value's name less the
 * prefix every value of the enum shares (up to its last '_'), lower-case, with each other '_'
 * written as sep: STATE_SENT is "sent", BASIS_LEGAL_OBLIGATION "legal-obligation" (sep '-').
 */
#ifndef REFEX_PBENUM_H
#define REFEX_PBENUM_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "refex.pb-c.h"

#define PBENUM_NAME_MAX 48 /* room for any name of refex's enums */

/* Write value's name into buf (len bytes); returns buf, or NULL when d has no such value. */
const char *pbenum_name(const ProtobufCEnumDescriptor *d, int value, char sep, char *buf,
                        size_t len);

/* Find the value whose name (as pbenum_name writes it) is name; the zero value ("not set")
 * is never found. Returns 0 with *value set, or -1. */
int pbenum_parse(const ProtobufCEnumDescriptor *d, const char *name, char sep, int *value);

/* Write the names of the values but zero, in value order, separated by ", ", into buf;
 * returns buf. */
const char *pbenum_list(const ProtobufCEnumDescriptor *d, char sep, char *buf, size_t len);

/* Return a referral state's name ("sent", ...), or "unknown"; safe from any thread. */
const char *pbenum_state_name(Refex__State s);

#endif
