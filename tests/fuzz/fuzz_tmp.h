/* Scratch space for fuzz targets that need files: one private directory per process. */
#ifndef REFEX_FUZZ_TMP_H
#define REFEX_FUZZ_TMP_H

#include <stddef.h>

/*
 * Make a new directory for this process under $REFEX_FUZZ_TMPDIR, else /dev/shm (no disk
 * writes, fsync is free), else $TMPDIR or /tmp, and remove it (and the files named in
 * names, a NULL-terminated list) when the process exits. Returns its path, or NULL.
 */
const char *fuzz_tmpdir(const char *const *names);

#endif
