/*
 * A VFS for the writer connection that writes each commit's WAL frames to the
 * file in one system call instead of two per frame (store_walbuf.c).
 */
#ifndef REFEX_STORE_WALBUF_H
#define REFEX_STORE_WALBUF_H

#include <sqlite3.h>

#define STORE_WALBUF_VFS "refex-walbuf"

/* Register the coalescing VFS (once); its name, or NULL for SQLite's default. */
const char *store_walbuf_vfs(void);

#endif
