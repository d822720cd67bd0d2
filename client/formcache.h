/*
 * What refex keeps of each hub's forms, on disk: under $XDG_CACHE_HOME/refex (default
 * ~/.cache/refex), one directory per hub named after its certificate's SHA-256 fingerprint
 * (mode 0700, files 0600) holding the list of forms in force under the hub's forms digest and
 * the schema of each (form, version) seen (a version never changes on a hub). A file at the
 * root per server address names the hub last seen there, for commands that work offline.
 * Nothing read back is trusted: callers check what they read (schema_load, the list's
 * unpacking) and drop a file that does not pass. The whole cache is kept under
 * FORMCACHE_MAX_BYTES by removing the least recently written schemas.
 */
#ifndef REFEX_FORMCACHE_H
#define REFEX_FORMCACHE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "refex.pb-c.h"

#define FORMCACHE_MAX_BYTES (32u * 1024u * 1024u) /* the whole cache, every hub */
#define FORMCACHE_FILE_MAX  (1024u * 1024u)       /* one file: a list, or a descriptor set */

/* One hub's part of the cache. */
struct formcache {
	char root[PATH_MAX / 2]; /* the cache's root directory */
	char dir[PATH_MAX / 2];  /* root/FINGERPRINT */
};

/* Open the cache root ($XDG_CACHE_HOME/refex, else ~/.cache/refex) for hub fingerprint fp
 * (hex), and note it as the hub last seen at server. Returns 0, or -1 when there is no home
 * to keep a cache in (refex then works without one). */
int formcache_open(struct formcache *fc, const char *server, const char *fp);

/* Open the cache of the hub last seen at server, without a connection. Returns 0, or -1
 * when refex has never cached forms from server. */
int formcache_open_last(struct formcache *fc, const char *server);

/* Read the form list cached under digest (NULL: the one cached, whatever its digest, with the
 * time it was written in *when). Returns it (free with refex__form_list__free_unpacked), or
 * NULL when none is cached or the file is unreadable (it is then removed). */
Refex__FormList *formcache_list_read(const struct formcache *fc, const char *digest, time_t *when);

/* Keep list under digest in place of any list cached before. Returns 0 or -1. */
int formcache_list_write(const struct formcache *fc, const char *digest,
                         const Refex__FormList *list);

/* Read the descriptor set cached for version of form name (malloc'd, length in *len), or NULL
 * when none is. */
uint8_t *formcache_schema_read(const struct formcache *fc, const char *name, uint32_t version,
                               size_t *len);

/* Keep the descriptor set of version of form name, making room under FORMCACHE_MAX_BYTES.
 * Returns 0 or -1. */
int formcache_schema_write(const struct formcache *fc, const char *name, uint32_t version,
                           const uint8_t *data, size_t len);

/* Remove what is cached for version of form name (it did not load). */
void formcache_schema_drop(const struct formcache *fc, const char *name, uint32_t version);

/* Say whether name can be a form's name (and so part of a file name): [a-z0-9_], 1 to 64. */
int formcache_name_is_valid(const char *name);

#endif
