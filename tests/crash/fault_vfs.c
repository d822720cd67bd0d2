/*
 * A storage-fault switch for refexd-faults, a test build of refexd: an SQLite
 * VFS that wraps the default one and, while a switch file exists, fails
 * writes or syncs the way a full or failing disk does. It is linked only into
 * refexd-faults (never into refexd) and does nothing unless the environment
 * names the switch:
 *
 *   REFEX_FAULT_SWITCH=/path/to/switch refexd-faults --config refexd.conf
 *
 * The switch file holds one word: "full" (every write fails with SQLITE_FULL),
 * "ioerr" (every write fails with SQLITE_IOERR_WRITE) or "fsync" (every sync
 * fails with SQLITE_IOERR_FSYNC). No file: no fault. The file is read on each
 * write and sync, which costs a little, in this build only.
 *
 * Why a VFS rather than a small tmpfs: mounting needs root, and a full tmpfs
 * cannot be emptied again without deleting what the test wants to keep; the
 * VFS fails exactly SQLite's writes (the -shm index is memory-mapped and keeps
 * working, as it does on a real full disk) and is switched off by removing a
 * file.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum fault { FAULT_NONE, FAULT_FULL, FAULT_IOERR, FAULT_FSYNC };

/* An open file: our methods in front, the wrapped VFS's file right behind. */
struct fault_file {
	sqlite3_file base;
	sqlite3_file *real;
};

static sqlite3_vfs fault_vfs;
static sqlite3_vfs *fault_parent;
static const char *fault_switch;

/* Read the switch: which fault is on now. */
static enum fault fault_now(void)
{
	char word[16] = "";
	ssize_t n;
	int fd = open(fault_switch, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		return FAULT_NONE;
	}
	n = read(fd, word, sizeof(word) - 1);
	close(fd);
	word[n > 0 ? n : 0] = '\0';
	if (strncmp(word, "full", 4) == 0) {
		return FAULT_FULL;
	}
	if (strncmp(word, "ioerr", 5) == 0) {
		return FAULT_IOERR;
	}
	return strncmp(word, "fsync", 5) == 0 ? FAULT_FSYNC : FAULT_NONE;
}

static sqlite3_file *real_of(sqlite3_file *f)
{
	return ((struct fault_file *)f)->real;
}

static int f_close(sqlite3_file *f)
{
	return real_of(f)->pMethods->xClose(real_of(f));
}

static int f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	return real_of(f)->pMethods->xRead(real_of(f), buf, n, off);
}

static int f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	switch (fault_now()) {
	case FAULT_FULL:
		return SQLITE_FULL;
	case FAULT_IOERR:
		return SQLITE_IOERR_WRITE;
	default:
		return real_of(f)->pMethods->xWrite(real_of(f), buf, n, off);
	}
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
	if (fault_now() == FAULT_FSYNC) {
		return SQLITE_IOERR_FSYNC;
	}
	return real_of(f)->pMethods->xSync(real_of(f), flags);
}

static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int f_lock(sqlite3_file *f, int level)
{
	return real_of(f)->pMethods->xLock(real_of(f), level);
}

static int f_unlock(sqlite3_file *f, int level)
{
	return real_of(f)->pMethods->xUnlock(real_of(f), level);
}

static int f_check_lock(sqlite3_file *f, int *out)
{
	return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int f_control(sqlite3_file *f, int op, void *arg)
{
	return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

static int f_sector(sqlite3_file *f)
{
	return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int f_caps(sqlite3_file *f)
{
	return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

static int f_shm_map(sqlite3_file *f, int page, int size, int extend, void volatile **out)
{
	return real_of(f)->pMethods->xShmMap(real_of(f), page, size, extend, out);
}

static int f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

static void f_shm_barrier(sqlite3_file *f)
{
	real_of(f)->pMethods->xShmBarrier(real_of(f));
}

static int f_shm_unmap(sqlite3_file *f, int del)
{
	return real_of(f)->pMethods->xShmUnmap(real_of(f), del);
}

static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **out)
{
	return real_of(f)->pMethods->xFetch(real_of(f), off, n, out);
}

static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
}

static const sqlite3_io_methods fault_methods = {
    .iVersion = 3,
    .xClose = f_close,
    .xRead = f_read,
    .xWrite = f_write,
    .xTruncate = f_truncate,
    .xSync = f_sync,
    .xFileSize = f_size,
    .xLock = f_lock,
    .xUnlock = f_unlock,
    .xCheckReservedLock = f_check_lock,
    .xFileControl = f_control,
    .xSectorSize = f_sector,
    .xDeviceCharacteristics = f_caps,
    .xShmMap = f_shm_map,
    .xShmLock = f_shm_lock,
    .xShmBarrier = f_shm_barrier,
    .xShmUnmap = f_shm_unmap,
    .xFetch = f_fetch,
    .xUnfetch = f_unfetch,
};

static int fault_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
	struct fault_file *ff = (struct fault_file *)f;
	int rc;

	(void)vfs;
	ff->real = (sqlite3_file *)(ff + 1);
	rc = fault_parent->xOpen(fault_parent, name, ff->real, flags, out);
	/* SQLite calls xClose only on a file whose methods are set. */
	ff->base.pMethods = ff->real->pMethods != NULL ? &fault_methods : NULL;
	return rc;
}

/* Install the faulty VFS as the default when REFEX_FAULT_SWITCH names a switch file. */
__attribute__((constructor)) static void fault_vfs_install(void)
{
	if ((fault_switch = getenv("REFEX_FAULT_SWITCH")) == NULL || *fault_switch == '\0' ||
	    sqlite3_initialize() != SQLITE_OK || (fault_parent = sqlite3_vfs_find(NULL)) == NULL ||
	    fault_parent->iVersion < 3) {
		return;
	}
	/* The unix VFS's other methods need nothing from their vfs argument but mxPathname,
	 * which the copy keeps. */
	fault_vfs = *fault_parent;
	fault_vfs.zName = "refex-faults";
	fault_vfs.szOsFile = (int)sizeof(struct fault_file) + fault_parent->szOsFile;
	fault_vfs.xOpen = fault_open;
	fault_vfs.pNext = NULL;
	sqlite3_vfs_register(&fault_vfs, 1);
}
