/* The forms refex learnt from each hub, kept on disk per hub. */
#include "formcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ca_issued.h"

#define HEX_SHA256 65     /* 64 hex digits and a NUL */
#define ROOM_FILES 100000 /* files looked at to make room: a bound, never reached in use */

/* Write the SHA-256 of text in hex to out: names for what the user or a hub chose. */
static int sha256_hex(const char *text, char out[HEX_SHA256])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	size_t mdlen = 0;

	if (EVP_Q_digest(NULL, "SHA256", NULL, text, strlen(text), md, &mdlen) != 1 ||
	    OPENSSL_buf2hexstr_ex(out, HEX_SHA256, NULL, md, mdlen, '\0') != 1) {
		return -1;
	}
	return 0;
}

/* Say whether s is a hub fingerprint as conn_hub_fingerprint writes it. */
static int is_fingerprint(const char *s)
{
	return strlen(s) == HEX_SHA256 - 1 && strspn(s, "0123456789ABCDEF") == HEX_SHA256 - 1;
}

/* Say whether name can be a form's name. */
int formcache_name_is_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	return n >= 1 && n <= 64 && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* Find the cache's root directory into fc->root. */
static int find_root(struct formcache *fc)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int n;

	if (xdg && xdg[0] == '/') {
		n = snprintf(fc->root, sizeof(fc->root), "%s/refex", xdg);
	} else if (home && home[0] == '/') {
		n = snprintf(fc->root, sizeof(fc->root), "%s/.cache/refex", home);
	} else {
		return -1;
	}
	return n > 0 && (size_t)n < sizeof(fc->root) ? 0 : -1;
}

/* Name the file dir/PREFIX-HEX.SUFFIX, HEX the SHA-256 of text (what the user or a hub chose). */
static int hashed_path(const char *dir, const char *prefix, const char *text, const char *suffix,
                       char *out, size_t len)
{
	char hex[HEX_SHA256];
	int n;

	if (sha256_hex(text, hex) < 0) {
		return -1;
	}
	n = snprintf(out, len, "%s/%s-%s%s", dir, prefix, hex, suffix);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* Name the root's file noting the hub last seen at server. */
static int server_path(const struct formcache *fc, const char *server, char *out, size_t len)
{
	return hashed_path(fc->root, "server", server, "", out, len);
}

/* Read the whole regular file at path, at most FORMCACHE_FILE_MAX bytes; NULL otherwise. */
static uint8_t *read_capped(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	uint8_t *buf = NULL;
	struct stat st;
	ssize_t got = -1;

	if (fd < 0) {
		return NULL;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (size_t)st.st_size <= FORMCACHE_FILE_MAX && (buf = malloc((size_t)st.st_size))) {
		got = read(fd, buf, (size_t)st.st_size);
	}
	close(fd);
	if (buf && got != st.st_size) {
		free(buf);
		return NULL;
	}
	*len = (size_t)st.st_size;
	return buf;
}

/* Write data to path (0600, atomically), creating the directories above it (0700). */
static int write_cached(const char *path, const void *data, size_t len)
{
	char err[512];

	if (ca_make_parents(path) < 0) {
		return -1;
	}
	return ca_write_file(path, data, len, 0600, 0, err, sizeof(err));
}

/* Open the cache for hub fp, noting it as the hub last seen at server. */
int formcache_open(struct formcache *fc, const char *server, const char *fp)
{
	char path[PATH_MAX], seen[HEX_SHA256] = "";
	uint8_t *old;
	size_t len = 0;
	int n;

	memset(fc, 0, sizeof(*fc));
	if (!is_fingerprint(fp) || find_root(fc) < 0 ||
	    server_path(fc, server, path, sizeof(path)) < 0) {
		return -1;
	}
	n = snprintf(fc->dir, sizeof(fc->dir), "%s/%s", fc->root, fp);
	if (n <= 0 || (size_t)n >= sizeof(fc->dir)) {
		return -1;
	}
	if ((old = read_capped(path, &len)) != NULL && len == HEX_SHA256 - 1) {
		memcpy(seen, old, len);
	}
	free(old);
	if (strcmp(seen, fp) != 0) {
		write_cached(path, fp, strlen(fp)); /* only offline use needs it */
	}
	return 0;
}

/* Open the cache of the hub last seen at server. */
int formcache_open_last(struct formcache *fc, const char *server)
{
	char path[PATH_MAX], fp[HEX_SHA256] = "";
	uint8_t *data;
	size_t len = 0;
	int n;

	memset(fc, 0, sizeof(*fc));
	if (find_root(fc) < 0 || server_path(fc, server, path, sizeof(path)) < 0 ||
	    (data = read_capped(path, &len)) == NULL) {
		return -1;
	}
	if (len == HEX_SHA256 - 1) {
		memcpy(fp, data, len);
	}
	free(data);
	if (!is_fingerprint(fp)) {
		return -1;
	}
	n = snprintf(fc->dir, sizeof(fc->dir), "%s/%s", fc->root, fp);
	return n > 0 && (size_t)n < sizeof(fc->dir) ? 0 : -1;
}

/* Name the file of the list cached under digest. */
static int list_path(const struct formcache *fc, const char *digest, char *out, size_t len)
{
	return hashed_path(fc->dir, "forms", digest, ".pb", out, len);
}

/* Say whether a directory entry is a cached form list. */
static int is_list_file(const char *name)
{
	size_t n = strlen(name);

	return strncmp(name, "forms-", 6) == 0 && n > 9 && strcmp(name + n - 3, ".pb") == 0;
}

/* Find the one list cached (whatever its digest) into out. */
static int any_list_path(const struct formcache *fc, char *out, size_t len)
{
	DIR *d = opendir(fc->dir);
	struct dirent *e;
	int rc = -1, n;

	while (d && rc < 0 && (e = readdir(d)) != NULL) {
		if (is_list_file(e->d_name)) {
			n = snprintf(out, len, "%s/%s", fc->dir, e->d_name);
			rc = n > 0 && (size_t)n < len ? 0 : -1;
		}
	}
	if (d) {
		closedir(d);
	}
	return rc;
}

/* Read the form list cached under digest (NULL: whichever is cached). */
Refex__FormList *formcache_list_read(const struct formcache *fc, const char *digest, time_t *when)
{
	char path[PATH_MAX];
	Refex__FormList *list = NULL;
	struct stat st;
	uint8_t *data;
	size_t len = 0;

	if ((digest ? list_path(fc, digest, path, sizeof(path))
	            : any_list_path(fc, path, sizeof(path))) < 0 ||
	    (data = read_capped(path, &len)) == NULL) {
		return NULL;
	}
	if (!(list = refex__form_list__unpack(NULL, len, data))) {
		unlink(path); /* corrupt: fetched again, never trusted */
	} else if (when) {
		*when = stat(path, &st) == 0 ? st.st_mtime : 0;
	}
	free(data);
	return list;
}

/* Remove every cached list but the one at keep. */
static void drop_other_lists(const struct formcache *fc, const char *keep)
{
	char path[PATH_MAX];
	DIR *d = opendir(fc->dir);
	struct dirent *e;
	int n;

	while (d && (e = readdir(d)) != NULL) {
		n = snprintf(path, sizeof(path), "%s/%s", fc->dir, e->d_name);
		if (is_list_file(e->d_name) && n > 0 && (size_t)n < sizeof(path) &&
		    strcmp(path, keep) != 0) {
			unlink(path);
		}
	}
	if (d) {
		closedir(d);
	}
}

/* Keep list under digest in place of any list cached before. */
int formcache_list_write(const struct formcache *fc, const char *digest,
                         const Refex__FormList *list)
{
	char path[PATH_MAX];
	size_t len = refex__form_list__get_packed_size(list);
	uint8_t *data;
	int rc = -1;

	if (len > FORMCACHE_FILE_MAX || list_path(fc, digest, path, sizeof(path)) < 0 ||
	    (data = malloc(len ? len : 1)) == NULL) {
		return -1;
	}
	refex__form_list__pack(list, data);
	if (write_cached(path, data, len) == 0) {
		drop_other_lists(fc, path);
		rc = 0;
	}
	free(data);
	return rc;
}

/* Name the file of version of form name. */
static int schema_path(const struct formcache *fc, const char *name, uint32_t version, char *out,
                       size_t len)
{
	int n;

	if (!formcache_name_is_valid(name)) {
		return -1;
	}
	n = snprintf(out, len, "%s/form-%s-v%u.pb", fc->dir, name, version);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* Read the descriptor set cached for version of form name. */
uint8_t *formcache_schema_read(const struct formcache *fc, const char *name, uint32_t version,
                               size_t *len)
{
	char path[PATH_MAX];

	return schema_path(fc, name, version, path, sizeof(path)) < 0 ? NULL
	                                                              : read_capped(path, len);
}

/* Remove what is cached for version of form name. */
void formcache_schema_drop(const struct formcache *fc, const char *name, uint32_t version)
{
	char path[PATH_MAX];

	if (schema_path(fc, name, version, path, sizeof(path)) == 0) {
		unlink(path);
	}
}

/* A cached schema, when making room. */
struct cached_file {
	char path[PATH_MAX / 2];
	off_t size;
	time_t mtime;
};

struct cached_files {
	struct cached_file *f;
	size_t n, cap;
	unsigned long long total;
};

/* Note the regular file dir/name (a schema when schema) in fs; only schemas are removed. */
static void note_file(struct cached_files *fs, const char *dir, const char *name, int schema)
{
	struct cached_file c;
	struct stat st;
	int n = snprintf(c.path, sizeof(c.path), "%s/%s", dir, name);

	if (n <= 0 || (size_t)n >= sizeof(c.path) || lstat(c.path, &st) < 0 ||
	    !S_ISREG(st.st_mode)) {
		return;
	}
	fs->total += (unsigned long long)st.st_size;
	if (!schema || fs->n == ROOM_FILES) {
		return;
	}
	if (fs->n == fs->cap) {
		size_t cap = fs->cap ? 2 * fs->cap : 64;
		struct cached_file *f = realloc(fs->f, cap * sizeof(*f));

		if (!f) {
			return;
		}
		fs->f = f;
		fs->cap = cap;
	}
	c.size = st.st_size;
	c.mtime = st.st_mtime;
	fs->f[fs->n++] = c;
}

/* Note every file of directory dir (a hub's, when hub) and of the hubs' below the root. */
static void note_dir(struct cached_files *fs, const char *dir, int hub)
{
	char sub[PATH_MAX];
	DIR *d = opendir(dir);
	struct dirent *e;
	int n;

	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.') {
			continue;
		}
		if (!hub && is_fingerprint(e->d_name)) {
			n = snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
			if (n > 0 && (size_t)n < sizeof(sub)) {
				note_dir(fs, sub, 1);
			}
		} else {
			note_file(fs, dir, e->d_name, hub && strncmp(e->d_name, "form-", 5) == 0);
		}
	}
	if (d) {
		closedir(d);
	}
}

static int older_first(const void *a, const void *b)
{
	const struct cached_file *x = a, *y = b;

	return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

/* Remove the oldest schemas until need more bytes fit under FORMCACHE_MAX_BYTES. */
static void make_room(const struct formcache *fc, size_t need)
{
	struct cached_files fs = {0};
	size_t i;

	note_dir(&fs, fc->root, 0);
	if (fs.total + need > FORMCACHE_MAX_BYTES) {
		qsort(fs.f, fs.n, sizeof(*fs.f), older_first);
		for (i = 0; i < fs.n && fs.total + need > FORMCACHE_MAX_BYTES; i++) {
			if (unlink(fs.f[i].path) == 0) {
				fs.total -= (unsigned long long)fs.f[i].size;
			}
		}
	}
	free(fs.f);
}

/* Keep the descriptor set of version of form name. */
int formcache_schema_write(const struct formcache *fc, const char *name, uint32_t version,
                           const uint8_t *data, size_t len)
{
	char path[PATH_MAX];

	if (len > FORMCACHE_FILE_MAX || schema_path(fc, name, version, path, sizeof(path)) < 0) {
		return -1;
	}
	make_room(fc, len);
	return write_cached(path, data, len);
}
