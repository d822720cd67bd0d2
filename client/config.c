/* The client's config file (INI, keys with or without a [refex] section) and its flags. */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_CONFIG "~/.config/refex/config"

/* What the INI handler fills in while the file is read. */
struct parse_state {
	struct client_config *cfg;
	const char *dir; /* the config file's directory, for relative paths */
	char problem[256];
};

/* Join dir and a relative path; an absolute path or "~/..." is kept as meant. */
static char *resolve_path(const char *dir, const char *value)
{
	const char *home = getenv("HOME");
	char *out = NULL;

	if (value[0] == '/') {
		return strdup(value);
	}
	if (strncmp(value, "~/", 2) == 0 && home && *home) {
		if (asprintf(&out, "%s/%s", home, value + 2) < 0) {
			return NULL;
		}
		return out;
	}
	if (asprintf(&out, "%s/%s", dir, value) < 0) {
		return NULL;
	}
	return out;
}

/* Replace *slot with value (already allocated); NULL value means memory ran out. */
static int set_value(char **slot, char *value)
{
	if (!value) {
		return -1;
	}
	free(*slot);
	*slot = value;
	return 0;
}

/* Note what is wrong with the current line; returns 0 (inih's "error on this line").
 * inih goes on after an error but reports the first bad line: keep that line's reason. */
static int problem(struct parse_state *st, const char *fmt, const char *arg)
    __attribute__((format(printf, 2, 0)));

static int problem(struct parse_state *st, const char *fmt, const char *arg)
{
	if (!st->problem[0]) {
		snprintf(st->problem, sizeof(st->problem), fmt, arg);
	}
	return 0;
}

/* Take one key = value line of the config file. */
static int on_ini_entry(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *st = user;
	struct client_config *cfg = st->cfg;

	if (*section && strcmp(section, "refex") != 0) {
		return problem(
		    st, "unknown section [%s] (refex reads keys at the top or under [refex])",
		    section);
	}
	if (!*value) {
		return problem(st, "%s has no value", name);
	}
	if (strcmp(name, "server") == 0) {
		return set_value(&cfg->server, strdup(value)) == 0;
	}
	if (strcmp(name, "certificate") == 0) {
		return set_value(&cfg->cert, resolve_path(st->dir, value)) == 0;
	}
	if (strcmp(name, "key") == 0) {
		return set_value(&cfg->key, resolve_path(st->dir, value)) == 0;
	}
	if (strcmp(name, "ca") == 0) {
		return set_value(&cfg->ca, resolve_path(st->dir, value)) == 0;
	}
	if (strcmp(name, "crl") == 0) {
		return set_value(&cfg->crl, resolve_path(st->dir, value)) == 0;
	}
	return problem(st, "unknown key '%s' (expected server, certificate, key, ca or crl)", name);
}

/* Pick the file to read; *explicit says whether the user named it. */
static char *config_path(const struct cmd_globals *opt, int *explicit)
{
	const char *env = getenv("REFEX_CONFIG");
	const char *home = getenv("HOME");
	char *out = NULL;

	*explicit = 1;
	if (opt->config) {
		return strdup(opt->config);
	}
	if (env && *env) {
		return strdup(env);
	}
	*explicit = 0;
	if (!home || !*home) {
		return NULL;
	}
	if (asprintf(&out, "%s/.config/refex/config", home) < 0) {
		return NULL;
	}
	return out;
}

/* Return the directory part of path, as a new string. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		return strdup(".");
	}
	if (slash == path) {
		return strdup("/");
	}
	return strndup(path, (size_t)(slash - path));
}

/* Read path into cfg. Returns 1 when read, 0 when absent and not explicit, -1 on error. */
static int read_file(struct client_config *cfg, const char *path, int explicit, char *err,
                     size_t errlen)
{
	struct parse_state st = {.cfg = cfg};
	struct stat sb;
	char *dir;
	int rc;

	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) { /* inih would read it as empty */
		snprintf(err, errlen, "the config file %s is a directory", path);
		return -1;
	}
	if (!(dir = dir_of(path))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	st.dir = dir;
	errno = 0;
	ini_allow_multiline = false; /* an indented line is a key of its own, not a continuation */
	rc = ini_parse(path, on_ini_entry, &st);
	free(dir);
	if (rc == 0) {
		return 1;
	}
	if (rc == -1) {
		if (!explicit && errno == ENOENT) {
			return 0;
		}
		snprintf(err, errlen, "cannot read the config file %s: %s", path,
		         errno ? strerror(errno) : "cannot open it");
		return -1;
	}
	if (rc == -2) {
		snprintf(err, errlen, "out of memory reading %s", path);
		return -1;
	}
	snprintf(err, errlen, "%s:%d: %s", path, rc,
	         st.problem[0] ? st.problem : "not a 'key = value' line");
	return -1;
}

/* Let a command-line flag, when given, win over the file's value. */
static int override(char **slot, const char *flag)
{
	if (!flag) {
		return 0;
	}
	return set_value(slot, strdup(flag));
}

/* Name the missing setting and both ways to give it. */
static int missing(const char *what, const char *key, const char *flag, const char *path, char *err,
                   size_t errlen)
{
	snprintf(err, errlen, "no %s configured: set %s= in %s or pass %s", what, key,
	         path ? path : DEFAULT_CONFIG, flag);
	return -1;
}

/* Return refex's state directory, $XDG_STATE_HOME/refex or ~/.local/state/refex (a new
 * string), or NULL when there is no home to keep it in. */
static char *state_dir(void)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char *out = NULL;

	if (xdg && xdg[0] == '/') {
		return asprintf(&out, "%s/refex", xdg) < 0 ? NULL : out;
	}
	if (home && home[0] == '/') {
		return asprintf(&out, "%s/.local/state/refex", home) < 0 ? NULL : out;
	}
	return NULL;
}

/* Read the config file and apply the flags over it. */
int client_config_load(struct client_config *cfg, const struct cmd_globals *opt, char *err,
                       size_t errlen)
{
	int explicit = 0;
	char *path = config_path(opt, &explicit);
	const char *shown;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (path) {
		rc = read_file(cfg, path, explicit, err, errlen);
		if (rc < 0) {
			free(path);
			return -1;
		}
		if (rc > 0) {
			cfg->path = path;
		} else {
			free(path);
		}
	}
	if (override(&cfg->server, opt->server) < 0 || override(&cfg->cert, opt->cert) < 0 ||
	    override(&cfg->key, opt->key) < 0 || override(&cfg->ca, opt->ca) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cfg->state_dir = state_dir();
	shown = explicit ? (opt->config ? opt->config : getenv("REFEX_CONFIG")) : DEFAULT_CONFIG;
	if (!cfg->server) {
		return missing("server", "server", "--server HOST:PORT[,HOST:PORT...]", shown, err,
		               errlen);
	}
	if (!cfg->cert) {
		return missing("certificate", "certificate", "--cert FILE", shown, err, errlen);
	}
	if (!cfg->key) {
		return missing("private key", "key", "--key FILE", shown, err, errlen);
	}
	if (!cfg->ca) {
		return missing("network CA", "ca", "--ca FILE", shown, err, errlen);
	}
	return hubs_parse(cfg->server, &cfg->hubs, err, errlen);
}

/* Free what client_config_load allocated. */
void client_config_clear(struct client_config *cfg)
{
	free(cfg->path);
	free(cfg->server);
	hubs_clear(&cfg->hubs);
	free(cfg->cert);
	free(cfg->key);
	free(cfg->ca);
	free(cfg->crl);
	free(cfg->state_dir);
	memset(cfg, 0, sizeof(*cfg));
}
