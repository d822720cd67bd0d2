/*
 * A write-coalescing front for the writer connection's WAL file.
 *
 * SQLite writes each WAL frame with two write calls (the 24-byte frame
 * header, then the page), so a commit that touches 35 pages cost 70 pwrite(2)
 * system calls on the storage thread (strace, 16 connections). This VFS holds
 * consecutive writes to the WAL in memory and gives them to the file in one
 * write when SQLite syncs the WAL (every commit: the writer runs with
 * synchronous=FULL), reads it, truncates it, asks its size or closes it, and
 * when the next write does not follow on or the held bytes reach a cap.
 *
 * Why this is safe: other connections and processes learn of a frame only
 * from the wal-index header, which SQLite publishes after the commit's sync
 * and always after a barrier on the database file; the database file is ours
 * too, and its barrier writes what the WAL holds first (so even without a sync
 * no frame is published before it is in the file). A transaction that spilled
 * frames early and rolled back leaves them held: they are written before the
 * database's shared-memory locks are released, so no other writer can have
 * written its frames there first. The writer's own reads of the WAL come
 * through xRead, which writes what is held first. On storage without
 * powersafe overwrite SQLite pads a commit's last frame past its sync: there
 * the WAL is written through. A crash loses only writes that were not synced,
 * which it could lose anyway. Other files (the -shm index, journals) are the
 * wrapped VFS's own, untouched.
 */
#include "store_walbuf.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define WALBUF_FIRST (256 * 1024)      /* the buffer's first size */
#define WALBUF_CAP   (4 * 1024 * 1024) /* hold no more than this */
#define WALBUF_PIECE (124 * 1024)      /* the most one write of the wrapped VFS takes */

/* An open database file or WAL: our methods in front, the wrapped VFS's file right behind. */
struct walbuf_file {
	sqlite3_file base;
	sqlite3_file *real;
	bool wal;                 /* a WAL: its writes are held */
	struct walbuf_file *peer; /* a database's WAL, a WAL's database (while both are open) */
	const char *name;         /* a database's name, to find its WAL by */
	bool shared;              /* a database another connection here has open too */
	struct walbuf_file *next; /* open databases, under walbuf_mu */
	unsigned char *buf;       /* a WAL's held bytes, for the file from offset off */
	size_t len, cap;
	sqlite3_int64 off;
};

static sqlite3_vfs walbuf_vfs;
static sqlite3_vfs *walbuf_parent;
static pthread_once_t walbuf_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t walbuf_mu = PTHREAD_MUTEX_INITIALIZER;
static struct walbuf_file *walbuf_dbs; /* open databases, to pair each WAL with its own */

static sqlite3_file *real_of(sqlite3_file *f)
{
	return ((struct walbuf_file *)f)->real;
}

/* Write what is held; on failure it is dropped (SQLite rolls the commit back). */
static int walbuf_flush(struct walbuf_file *w)
{
	size_t done = 0;
	int rc = SQLITE_OK;

	/* The unix VFS writes at most 128 KiB - 1 bytes in one call (and reports the rest as
	 * a full disk): hand it pieces below that. */
	while (rc == SQLITE_OK && done < w->len) {
		size_t n = w->len - done < WALBUF_PIECE ? w->len - done : WALBUF_PIECE;

		rc = w->real->pMethods->xWrite(w->real, w->buf + done, (int)n,
		                               w->off + (sqlite3_int64)done);
		done += n;
	}
	w->len = 0;
	return rc;
}

/* Make room for n more held bytes; false when they should not be held. */
static bool walbuf_room(struct walbuf_file *w, size_t n)
{
	size_t cap = w->cap ? w->cap : WALBUF_FIRST;
	unsigned char *grown;

	if (w->len + n <= w->cap) {
		return true;
	}
	while (cap < w->len + n && cap < WALBUF_CAP) {
		cap *= 2;
	}
	if (cap < w->len + n || (grown = realloc(w->buf, cap)) == NULL) {
		return false;
	}
	w->buf = grown;
	w->cap = cap;
	return true;
}

static int wb_write(sqlite3_file *f, const void *data, int n, sqlite3_int64 off)
{
	struct walbuf_file *w = (struct walbuf_file *)f;
	int rc;

	if (!w->wal) {
		return w->real->pMethods->xWrite(w->real, data, n, off);
	}
	if (w->len > 0 && off == w->off + (sqlite3_int64)w->len && walbuf_room(w, (size_t)n)) {
		memcpy(w->buf + w->len, data, (size_t)n);
		w->len += (size_t)n;
		return SQLITE_OK;
	}
	if ((rc = walbuf_flush(w)) != SQLITE_OK) {
		return rc;
	}
	if (!walbuf_room(w, (size_t)n)) {
		return w->real->pMethods->xWrite(w->real, data, n, off);
	}
	memcpy(w->buf, data, (size_t)n);
	w->len = (size_t)n;
	w->off = off;
	return SQLITE_OK;
}

static void walbuf_unlink(struct walbuf_file *w)
{
	pthread_mutex_lock(&walbuf_mu);
	if (w->peer != NULL) {
		w->peer->peer = NULL;
		w->peer = NULL;
	}
	for (struct walbuf_file **p = &walbuf_dbs; *p != NULL; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	pthread_mutex_unlock(&walbuf_mu);
}

static int wb_close(sqlite3_file *f)
{
	struct walbuf_file *w = (struct walbuf_file *)f;
	int rc = walbuf_flush(w);
	int rc_close;

	walbuf_unlink(w);
	rc_close = w->real->pMethods->xClose(w->real);
	free(w->buf);
	w->buf = NULL;
	w->cap = 0;
	return rc != SQLITE_OK ? rc : rc_close;
}

static int wb_read(sqlite3_file *f, void *data, int n, sqlite3_int64 off)
{
	int rc = walbuf_flush((struct walbuf_file *)f);

	return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xRead(real_of(f), data, n, off);
}

static int wb_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct walbuf_file *w = (struct walbuf_file *)f;
	int rc = walbuf_flush(w);

	/* An erasure truncates the WAL to drop what was erased: drop our copy of it too. */
	if (w->buf != NULL) {
		explicit_bzero(w->buf, w->cap);
	}
	return rc != SQLITE_OK ? rc : w->real->pMethods->xTruncate(w->real, size);
}

static int wb_sync(sqlite3_file *f, int flags)
{
	int rc = walbuf_flush((struct walbuf_file *)f);

	return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xSync(real_of(f), flags);
}

static int wb_size(sqlite3_file *f, sqlite3_int64 *size)
{
	int rc = walbuf_flush((struct walbuf_file *)f);

	return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int wb_control(sqlite3_file *f, int op, void *arg)
{
	int rc = walbuf_flush((struct walbuf_file *)f);

	return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

static int wb_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **out)
{
	int rc = walbuf_flush((struct walbuf_file *)f);

	*out = NULL;
	return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xFetch(real_of(f), off, n, out);
}

static int wb_lock(sqlite3_file *f, int level)
{
	return real_of(f)->pMethods->xLock(real_of(f), level);
}

static int wb_unlock(sqlite3_file *f, int level)
{
	return real_of(f)->pMethods->xUnlock(real_of(f), level);
}

static int wb_check_lock(sqlite3_file *f, int *out)
{
	return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int wb_sector(sqlite3_file *f)
{
	return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int wb_caps(sqlite3_file *f)
{
	return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

static int wb_shm_map(sqlite3_file *f, int page, int size, int extend, void volatile **out)
{
	return real_of(f)->pMethods->xShmMap(real_of(f), page, size, extend, out);
}

/* A database's WAL: what it holds is written before the database's locks are released (a
 * transaction that wrote frames early and rolled back leaves them held: another writer must
 * not write first) and before the wal-index is published (the barrier). */
static int walbuf_flush_peer(sqlite3_file *f)
{
	struct walbuf_file *w = (struct walbuf_file *)f;

	return !w->wal && w->peer != NULL ? walbuf_flush(w->peer) : SQLITE_OK;
}

static int wb_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	if (flags & SQLITE_SHM_UNLOCK) {
		/* Held at an unlock: only a rolled-back transaction's frames (a commit's were
		 * written at its sync), which nobody reads; a failed write loses nothing. */
		walbuf_flush_peer(f);
	}
	return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

static void wb_shm_barrier(sqlite3_file *f)
{
	/* Under synchronous=FULL the commit's sync has written everything already; this keeps
	 * a lower setting correct too, except when the write fails (nothing to report it to). */
	walbuf_flush_peer(f);
	real_of(f)->pMethods->xShmBarrier(real_of(f));
}

static int wb_shm_unmap(sqlite3_file *f, int del)
{
	return real_of(f)->pMethods->xShmUnmap(real_of(f), del);
}

static int wb_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
}

static const sqlite3_io_methods walbuf_methods = {
    .iVersion = 3,
    .xClose = wb_close,
    .xRead = wb_read,
    .xWrite = wb_write,
    .xTruncate = wb_truncate,
    .xSync = wb_sync,
    .xFileSize = wb_size,
    .xLock = wb_lock,
    .xUnlock = wb_unlock,
    .xCheckReservedLock = wb_check_lock,
    .xFileControl = wb_control,
    .xSectorSize = wb_sector,
    .xDeviceCharacteristics = wb_caps,
    .xShmMap = wb_shm_map,
    .xShmLock = wb_shm_lock,
    .xShmBarrier = wb_shm_barrier,
    .xShmUnmap = wb_shm_unmap,
    .xFetch = wb_fetch,
    .xUnfetch = wb_unfetch,
};

/* List database w. A WAL could not tell which of two connections' databases of one name is
 * its own: a second one unpairs the name for good (its WALs are then written through). */
static void walbuf_list(struct walbuf_file *w)
{
	pthread_mutex_lock(&walbuf_mu);
	for (struct walbuf_file *db = walbuf_dbs; db != NULL; db = db->next) {
		if (strcmp(db->name, w->name) == 0) {
			db->shared = w->shared = true;
		}
	}
	w->next = walbuf_dbs;
	walbuf_dbs = w;
	pthread_mutex_unlock(&walbuf_mu);
}

/* Pair WAL w with its open database, named like it without "-wal". */
static void walbuf_pair(struct walbuf_file *w, const char *name)
{
	size_t n = strlen(name);

	if (n <= 4 || strcmp(name + n - 4, "-wal") != 0) {
		return;
	}
	pthread_mutex_lock(&walbuf_mu);
	for (struct walbuf_file *db = walbuf_dbs; db != NULL; db = db->next) {
		if (db->peer == NULL && !db->shared && strlen(db->name) == n - 4 &&
		    memcmp(db->name, name, n - 4) == 0) {
			db->peer = w;
			w->peer = db;
			break;
		}
	}
	pthread_mutex_unlock(&walbuf_mu);
}

/* A WAL is held only where SQLite writes nothing after a commit's sync: not on storage
 * without powersafe overwrite, where it pads the last frame past the sync point. */
static bool walbuf_may_hold(const struct walbuf_file *w)
{
	const sqlite3_file *db = w->peer != NULL ? w->peer->real : NULL;

	return db != NULL && (db->pMethods->xDeviceCharacteristics((sqlite3_file *)db) &
	                      SQLITE_IOCAP_POWERSAFE_OVERWRITE);
}

static int walbuf_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
	struct walbuf_file *w = (struct walbuf_file *)f;
	int rc;

	(void)vfs;
	if (name == NULL || !(flags & (SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_DB))) {
		/* Neither: the wrapped VFS's own file, in the same (larger) space. */
		return walbuf_parent->xOpen(walbuf_parent, name, f, flags, out);
	}
	memset(w, 0, sizeof(*w));
	w->real = (sqlite3_file *)(w + 1);
	rc = walbuf_parent->xOpen(walbuf_parent, name, w->real, flags, out);
	/* SQLite calls xClose only on a file whose methods are set. */
	w->base.pMethods = w->real->pMethods != NULL ? &walbuf_methods : NULL;
	if (rc != SQLITE_OK || w->real->pMethods == NULL) {
		return rc;
	}
	if (flags & SQLITE_OPEN_WAL) {
		walbuf_pair(w, name);
		w->wal = walbuf_may_hold(w);
	} else {
		w->name = name; /* SQLite keeps it unchanged until xClose */
		walbuf_list(w);
	}
	return rc;
}

static void walbuf_register(void)
{
	/* Fewer locks around SQLite's allocations; refused (harmlessly) once SQLite has
	 * started, as it has in a test build that installs a VFS of its own. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (sqlite3_initialize() != SQLITE_OK || (walbuf_parent = sqlite3_vfs_find(NULL)) == NULL) {
		return;
	}
	/* The wrapped VFS's other methods need nothing from their vfs argument but
	 * mxPathname, which the copy keeps. */
	walbuf_vfs = *walbuf_parent;
	walbuf_vfs.zName = STORE_WALBUF_VFS;
	walbuf_vfs.szOsFile = (int)sizeof(struct walbuf_file) + walbuf_parent->szOsFile;
	walbuf_vfs.xOpen = walbuf_open;
	walbuf_vfs.pNext = NULL;
	if (sqlite3_vfs_register(&walbuf_vfs, 0) != SQLITE_OK) {
		walbuf_parent = NULL;
	}
}

/* Register the coalescing VFS (once); its name, or NULL for SQLite's default. */
const char *store_walbuf_vfs(void)
{
	pthread_once(&walbuf_once, walbuf_register);
	return walbuf_parent != NULL ? STORE_WALBUF_VFS : NULL;
}
