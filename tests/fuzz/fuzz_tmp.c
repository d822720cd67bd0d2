/* Scratch directories for fuzz targets, removed at exit. */
#include "fuzz_tmp.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[512];
static const char *const *cleanup_names;

static void fuzz_tmp_cleanup(void)
{
	char path[1024];

	for (size_t i = 0; cleanup_names != NULL && cleanup_names[i] != NULL; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, cleanup_names[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* Make this process's scratch directory, removed at exit. */
const char *fuzz_tmpdir(const char *const *names)
{
	const char *base = getenv("REFEX_FUZZ_TMPDIR");
	struct stat st;

	if (base == NULL && stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
	    access("/dev/shm", W_OK) == 0) {
		base = "/dev/shm";
	}
	if (base == NULL && (base = getenv("TMPDIR")) == NULL) {
		base = "/tmp";
	}
	snprintf(dir, sizeof(dir), "%s/refex-fuzz-XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		return NULL;
	}
	cleanup_names = names;
	atexit(fuzz_tmp_cleanup);
	return dir;
}
