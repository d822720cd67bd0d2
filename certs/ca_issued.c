/* The CA directory's lock, safe file writes and the issued.json record. */
#include "ca_issued.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Join dir and name into buf. */
int ca_path(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Take the directory's exclusive lock. */
int ca_lock(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int fd;

	if (ca_path(path, sizeof(path), dir, ".lock") < 0) {
		snprintf(err, errlen, "CA directory name is too long");
		return -1;
	}
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
	}
	return fd;
}

/* Release a lock taken by ca_lock. */
void ca_unlock(int fd)
{
	if (fd >= 0) {
		close(fd); /* closing drops the flock */
	}
}

/* Write all of data to fd and flush it to disk. */
static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return fsync(fd);
}

/* Flush the directory holding path so a rename into it survives a crash. */
static void sync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd;

	if (slash == NULL) {
		snprintf(dir, sizeof(dir), ".");
	} else {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	}
	if ((fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(fd); /* best effort: the data itself is already synced */
		close(fd);
	}
}

/* Create path exclusively with mode and write data to it. */
static int write_new(const char *path, const void *data, size_t len, mode_t mode, char *err,
                     size_t errlen)
{
	/* The mode is given to open() so a key is never readable by others, even briefly. */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", path,
		         errno == EEXIST ? "it already exists (refusing to overwrite it)"
		                         : strerror(errno));
		return -1;
	}
	if (write_all(fd, data, len) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	sync_parent(path);
	return 0;
}

/* Replace path with data through a temporary file in the same directory. */
static int write_replace(const char *path, const void *data, size_t len, mode_t mode, char *err,
                         size_t errlen)
{
	char tmp[PATH_MAX];
	int fd, n = snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);

	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		snprintf(err, errlen, "path too long: %s", path);
		return -1;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) { /* created 0600 */
		snprintf(err, errlen, "cannot create a temporary file beside %s: %s", path,
		         strerror(errno));
		return -1;
	}
	if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		fd = -1;
		snprintf(err, errlen, "cannot replace %s: %s", path, strerror(errno));
		goto fail;
	}
	sync_parent(path);
	return 0;
fail:
	if (fd >= 0) {
		close(fd);
	}
	unlink(tmp);
	return -1;
}

/* Create the missing directories above path, owner-only. */
int ca_make_parents(const char *path)
{
	char buf[PATH_MAX];
	char *slash = buf;

	snprintf(buf, sizeof(buf), "%s", path);
	while ((slash = strchr(slash + 1, '/')) != NULL) {
		*slash = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
			return -1;
		}
		*slash = '/';
	}
	return 0;
}

/* Write data to path with mode, exclusively or by atomic replacement. */
int ca_write_file(const char *path, const void *data, size_t len, mode_t mode, int exclusive,
                  char *err, size_t errlen)
{
	if (exclusive) {
		return write_new(path, data, len, mode, err, errlen);
	}
	return write_replace(path, data, len, mode, err, errlen);
}

/* Format t as ISO 8601 UTC. */
void ca_time_iso(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		snprintf(buf, len, "?");
	}
}

/* Parse what ca_time_iso writes. */
time_t ca_time_parse(const char *s)
{
	struct tm tm;
	const char *end;

	if (s == NULL) {
		return (time_t)-1;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0') {
		return (time_t)-1;
	}
	return timegm(&tm);
}

/* A fresh issued.json document with no certificates. */
json_t *ca_issued_new(void)
{
	return json_pack("{s:i, s:i, s:[]}", "version", CA_ISSUED_VERSION, "crl_number", 0,
	                 "certificates");
}

/* Load and check dir/issued.json. */
json_t *ca_issued_load(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	json_error_t jerr;
	json_t *root, *version;

	if (ca_path(path, sizeof(path), dir, "issued.json") < 0) {
		snprintf(err, errlen, "CA directory name is too long");
		return NULL;
	}
	if (access(path, F_OK) < 0 && errno == ENOENT) {
		snprintf(err, errlen,
		         "%s is not a refex CA directory (no issued.json); "
		         "create one with: refex-ca init --dir %s --name NAME",
		         dir, dir);
		return NULL;
	}
	if ((root = json_load_file(path, 0, &jerr)) == NULL) {
		if (jerr.line > 0) {
			snprintf(err, errlen, "cannot read %s: %s (line %d)", path, jerr.text,
			         jerr.line);
		} else {
			snprintf(err, errlen, "cannot read %s: %s", path, jerr.text);
		}
		return NULL;
	}
	version = json_object_get(root, "version");
	if (!json_is_integer(version) || json_integer_value(version) != CA_ISSUED_VERSION) {
		snprintf(err, errlen,
		         "%s is not version %d of the record; this refex-ca cannot use it", path,
		         CA_ISSUED_VERSION);
		goto fail;
	}
	if (!json_is_array(json_object_get(root, "certificates"))) {
		snprintf(err, errlen, "%s has no \"certificates\" array", path);
		goto fail;
	}
	return root;
fail:
	json_decref(root);
	return NULL;
}

/* Replace dir/issued.json with root, atomically. */
int ca_issued_save(const char *dir, json_t *root, char *err, size_t errlen)
{
	char path[PATH_MAX];
	char *text;
	int rc;

	if (ca_path(path, sizeof(path), dir, "issued.json") < 0) {
		snprintf(err, errlen, "CA directory name is too long");
		return -1;
	}
	if ((text = json_dumps(root, JSON_INDENT(2))) == NULL) {
		snprintf(err, errlen, "cannot encode the issued certificates record");
		return -1;
	}
	rc = ca_write_file(path, text, strlen(text), 0644, 0, err, errlen);
	free(text);
	return rc;
}

/* The certificates array of root. */
json_t *ca_issued_certs(json_t *root)
{
	return json_object_get(root, "certificates");
}

/* The record in root with this serial, or NULL. */
json_t *ca_issued_find(json_t *root, const char *serial)
{
	size_t i;
	json_t *rec;

	json_array_foreach(ca_issued_certs(root), i, rec)
	{
		const char *s = json_string_value(json_object_get(rec, "serial"));

		if (s != NULL && strcasecmp(s, serial) == 0) {
			return rec;
		}
	}
	return NULL;
}

/* Copy the string member key of obj into buf ("" when absent or null). */
static void copy_member(json_t *obj, const char *key, char *buf, size_t len)
{
	const char *s = json_string_value(json_object_get(obj, key));

	snprintf(buf, len, "%s", s ? s : "");
}

/* Join the hosts array of obj with commas into buf. */
static void join_hosts(json_t *obj, char *buf, size_t len)
{
	size_t i, off = 0;
	json_t *h;

	buf[0] = '\0';
	json_array_foreach(json_object_get(obj, "hosts"), i, h)
	{
		const char *s = json_string_value(h);
		int n;

		if (s == NULL || off >= len) {
			continue;
		}
		n = snprintf(buf + off, len - off, "%s%s", off ? "," : "", s);
		off += n > 0 ? (size_t)n : 0;
	}
}

/* Fill r from one record object. */
int ca_record_from_json(json_t *obj, struct ca_record *r)
{
	const char *kind = json_string_value(json_object_get(obj, "kind"));
	const char *status = json_string_value(json_object_get(obj, "status"));

	memset(r, 0, sizeof(*r));
	if (!json_is_object(obj) || kind == NULL || status == NULL) {
		return -1;
	}
	r->kind = strcmp(kind, "server") == 0 ? CA_KIND_SERVER : CA_KIND_PARTNER;
	r->status = strcmp(status, "revoked") == 0 ? CA_STATUS_REVOKED : CA_STATUS_VALID;
	copy_member(obj, "serial", r->serial, sizeof(r->serial));
	copy_member(obj, "agency", r->agency, sizeof(r->agency));
	copy_member(obj, "holder", r->holder, sizeof(r->holder));
	copy_member(obj, "fingerprint", r->fingerprint, sizeof(r->fingerprint));
	copy_member(obj, "revoke_reason", r->revoke_reason, sizeof(r->revoke_reason));
	copy_member(obj, "renewed_from", r->renewed_from, sizeof(r->renewed_from));
	copy_member(obj, "key_origin", r->key_origin, sizeof(r->key_origin));
	if (r->key_origin[0] == '\0') {
		/* Records from before signing requests: every key was made by the CA. */
		snprintf(r->key_origin, sizeof(r->key_origin), "ca-generated");
	}
	join_hosts(obj, r->hosts, sizeof(r->hosts));
	r->not_before = ca_time_parse(json_string_value(json_object_get(obj, "not_before")));
	r->not_after = ca_time_parse(json_string_value(json_object_get(obj, "not_after")));
	if (r->status == CA_STATUS_REVOKED) {
		r->revoked_at =
		    ca_time_parse(json_string_value(json_object_get(obj, "revoked_at")));
	}
	return r->serial[0] && r->not_after != (time_t)-1 ? 0 : -1;
}

/* Read every record of issued.json into a malloc'ed array. */
int ca_list(const char *dir, struct ca_record **recs, size_t *n, char *err, size_t errlen)
{
	json_t *root = ca_issued_load(dir, err, errlen), *obj;
	size_t i, count;
	struct ca_record *out = NULL;

	*recs = NULL;
	*n = 0;
	if (root == NULL) {
		return -1;
	}
	count = json_array_size(ca_issued_certs(root));
	if (count > 0 && (out = calloc(count, sizeof(*out))) == NULL) {
		snprintf(err, errlen, "out of memory");
		json_decref(root);
		return -1;
	}
	json_array_foreach(ca_issued_certs(root), i, obj)
	{
		if (ca_record_from_json(obj, &out[i]) < 0) {
			snprintf(err, errlen, "issued.json: certificate record %zu is malformed",
			         i + 1);
			free(out);
			json_decref(root);
			return -1;
		}
	}
	json_decref(root);
	*recs = out;
	*n = count;
	return 0;
}

/* Read issued.json's records as a malloc'ed JSON array text. */
int ca_list_json(const char *dir, char **text, char *err, size_t errlen)
{
	json_t *root = ca_issued_load(dir, err, errlen);

	*text = NULL;
	if (root == NULL) {
		return -1;
	}
	*text = json_dumps(ca_issued_certs(root), JSON_INDENT(2));
	json_decref(root);
	if (*text == NULL) {
		snprintf(err, errlen, "cannot encode the issued certificates record");
		return -1;
	}
	return 0;
}

/* Read issued.json's records that ca_record_expiring picks as a malloc'ed JSON array text. */
int ca_list_json_expiring(const char *dir, int days, time_t now, char **text, char *err,
                          size_t errlen)
{
	json_t *root = ca_issued_load(dir, err, errlen), *sel = json_array(), *obj;
	struct ca_record r;
	size_t i;

	*text = NULL;
	if (root != NULL && sel != NULL) {
		json_array_foreach(ca_issued_certs(root), i, obj)
		{
			if (days < 0 || (ca_record_from_json(obj, &r) == 0 &&
			                 ca_record_expiring(&r, now, days))) {
				json_array_append(sel, obj);
			}
		}
		*text = json_dumps(sel, JSON_INDENT(2));
		if (*text == NULL) {
			snprintf(err, errlen, "cannot encode the issued certificates record");
		}
	}
	json_decref(sel);
	json_decref(root);
	return *text != NULL ? 0 : -1;
}

/* Whole days r has left at now, rounded down. */
long ca_record_days_left(const struct ca_record *r, time_t now)
{
	const long day = 24L * 60 * 60;
	long left = (long)(r->not_after - now);

	return left >= 0 ? left / day : -((-left + day - 1) / day);
}

/* Say whether r is valid at now and expires within days days. */
int ca_record_expiring(const struct ca_record *r, time_t now, int days)
{
	return strcmp(ca_record_state(r, now), "valid") == 0 &&
	       (long)(r->not_after - now) <= (long)days * 24 * 60 * 60;
}

/* Say what r is at time now. */
const char *ca_record_state(const struct ca_record *r, time_t now)
{
	if (r->status == CA_STATUS_REVOKED) {
		return "revoked";
	}
	return now > r->not_after ? "expired" : "valid";
}

/* Name a kind as issued.json does. */
const char *ca_kind_name(enum ca_kind kind)
{
	return kind == CA_KIND_SERVER ? "server" : "partner";
}
