/*
 * Inside the CA directory (private to certs/ca*.c, certs/csr.c and certs/crl_keep.c, which
 * writes its files the same way): the lock, files written safely, and issued.json. The
 * layout is described in ca.h.
 */
#ifndef REFEX_CA_ISSUED_H
#define REFEX_CA_ISSUED_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "ca.h"

#define CA_ISSUED_VERSION 1

/* Join dir and name into buf. Returns 0, or -1 when it does not fit. */
int ca_path(char *buf, size_t len, const char *dir, const char *name);

/* Take the directory's exclusive lock. Returns the fd to pass to ca_unlock, or -1. */
int ca_lock(const char *dir, char *err, size_t errlen);

/* Release a lock taken by ca_lock (-1 is fine). */
void ca_unlock(int fd);

/*
 * Write data to path with mode. exclusive: create it, refusing an existing
 * file (for keys and the caller's output). Otherwise replace it atomically
 * through a temporary file and rename.
 */
int ca_write_file(const char *path, const void *data, size_t len, mode_t mode, int exclusive,
                  char *err, size_t errlen);

/* Create the missing directories above path (mode 0700: what is kept there is the user's own).
 * Returns 0, or -1 with errno set. */
int ca_make_parents(const char *path);

/* Format t as ISO 8601 UTC, "2026-01-31T12:00:00Z". */
void ca_time_iso(time_t t, char *buf, size_t len);

/* Parse what ca_time_iso writes. Returns (time_t)-1 when s is not such a time. */
time_t ca_time_parse(const char *s);

/* A fresh issued.json document with no certificates. */
json_t *ca_issued_new(void);

/* Load and check dir/issued.json. */
json_t *ca_issued_load(const char *dir, char *err, size_t errlen);

/* Replace dir/issued.json with root, atomically. */
int ca_issued_save(const char *dir, json_t *root, char *err, size_t errlen);

/* The certificates array of root (never NULL after ca_issued_load). */
json_t *ca_issued_certs(json_t *root);

/* The record in root with this serial (case-insensitive), or NULL. */
json_t *ca_issued_find(json_t *root, const char *serial);

/* Fill r from one record object. Returns 0, or -1 when it is malformed. */
int ca_record_from_json(json_t *obj, struct ca_record *r);

#endif
