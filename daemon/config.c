/* Read refexd's INI configuration with inih and check every value. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "form.h"
#include "identity.h"
#include "log.h"
#include "store.h"

#define AGENCY_SECTION    "agency "
#define FORM_SECTION      "form "
#define SECTIONS_EXPECTED                                                                          \
	"[server], [limits], [metrics], [web], [retention], [report], [forms], [agency ID] or "    \
	"[form NAME]"

struct parse {
	struct config *cfg;
	char **seen; /* "section\nkey" of every key read so far */
	size_t n_seen;
	char *dir;            /* directory of the config file, for relative paths */
	bool metrics_section; /* a [metrics] header was seen */
	bool web_section;     /* a [web] header was seen */
	char err[512];
};

static char *config_path(const struct parse *p, const char *value)
{
	char *out;

	if (value[0] == '/' || p->dir == NULL) {
		return strdup(value);
	}
	if (asprintf(&out, "%s/%s", p->dir, value) < 0) {
		return NULL;
	}
	return out;
}

static int set_string(char **slot, char *value)
{
	if (value == NULL) {
		return -1;
	}
	free(*slot);
	*slot = value;
	return 0;
}

static int parse_unsigned(const char *value, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || value[0] == '-' || v < min || v > max) {
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

/* Split HOST:PORT (or [HOST]:PORT) into two new strings. */
static int split_host_port(const char *value, char **host_out, char **port_out)
{
	const char *colon = strrchr(value, ':');
	const char *host = value;
	size_t hlen;

	if (colon == NULL || colon[1] == '\0') {
		return -1;
	}
	hlen = (size_t)(colon - value);
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host++;
		hlen -= 2;
	}
	if (hlen == 0) {
		return -1;
	}
	*host_out = strndup(host, hlen);
	*port_out = strdup(colon + 1);
	if (*host_out == NULL || *port_out == NULL) {
		free(*host_out);
		free(*port_out);
		return -1;
	}
	return 0;
}

static int parse_listen(struct config *cfg, const char *value)
{
	char *host, *port;

	if (split_host_port(value, &host, &port) < 0) {
		return -1;
	}
	free(cfg->listen_host);
	free(cfg->listen_port);
	cfg->listen_host = host;
	cfg->listen_port = port;
	return 0;
}

/* Say whether host is a loopback address: 127.0.0.0/8, ::1 or "localhost". */
static bool host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcmp(host, "localhost") == 0) {
		return true;
	}
	if (inet_pton(AF_INET, host, &a4) == 1) {
		return (ntohl(a4.s_addr) >> 24) == 127;
	}
	return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* The metrics endpoint has no authentication, so it is never exposed beyond the machine. */
static int metrics_key(struct parse *p, const char *name, const char *value)
{
	struct config *cfg = p->cfg;
	char *host = NULL, *port = NULL;
	int rc = -1;

	if (strcmp(name, "listen") != 0) {
		snprintf(p->err, sizeof(p->err), "unknown key \"%s\" in [metrics]", name);
		return -1;
	}
	if (split_host_port(value, &host, &port) < 0 ||
	    parse_unsigned(port, 0, 65535, &cfg->metrics_port) < 0) {
		snprintf(p->err, sizeof(p->err),
		         "listen: expected HOST:PORT (port 0 to 65535), got \"%s\"", value);
	} else if (!host_is_loopback(host)) {
		snprintf(p->err, sizeof(p->err),
		         "listen: metrics are served on loopback only (127.0.0.0/8, ::1 or "
		         "localhost), got \"%s\"; scrape from elsewhere through a proxy or tunnel",
		         host);
	} else {
		free(cfg->metrics_host);
		cfg->metrics_host = host;
		host = NULL;
		rc = 0;
	}
	free(host);
	free(port);
	return rc;
}

/* The HTTPS door takes any address: it asks for a partner certificate as the wire door does. */
static int web_key(struct parse *p, const char *name, const char *value)
{
	struct config *cfg = p->cfg;
	char *host = NULL, *port = NULL;
	unsigned port_no;

	if (strcmp(name, "listen") != 0) {
		snprintf(p->err, sizeof(p->err), "unknown key \"%s\" in [web]", name);
		return -1;
	}
	if (split_host_port(value, &host, &port) < 0 ||
	    parse_unsigned(port, 0, 65535, &port_no) < 0) {
		snprintf(p->err, sizeof(p->err),
		         "listen: expected HOST:PORT (port 0 to 65535), got \"%s\"", value);
		free(host);
		free(port);
		return -1;
	}
	free(cfg->web_host);
	free(cfg->web_port);
	cfg->web_host = host;
	cfg->web_port = port;
	return 0;
}

static int server_key(struct parse *p, const char *name, const char *value)
{
	struct config *cfg = p->cfg;
	struct {
		const char *name;
		char **slot;
	} paths[] = {
	    {"certificate", &cfg->cert}, {"key", &cfg->key},           {"ca", &cfg->ca},
	    {"crl", &cfg->crl},          {"database", &cfg->database},
	};

	if (strcmp(name, "listen") == 0) {
		if (parse_listen(cfg, value) < 0) {
			snprintf(p->err, sizeof(p->err), "listen: expected HOST:PORT, got \"%s\"",
			         value);
			return -1;
		}
		return 0;
	}
	if (strcmp(name, "log_level") == 0) {
		cfg->log_level = log_level_parse(value);
		if (cfg->log_level < 0) {
			snprintf(p->err, sizeof(p->err),
			         "log_level: expected debug, info, warn or error, got \"%s\"",
			         value);
			return -1;
		}
		return 0;
	}
	if (strcmp(name, "user") == 0) {
		if (value[0] == '\0') {
			snprintf(p->err, sizeof(p->err), "user: empty user name");
			return -1;
		}
		return set_string(&cfg->user, strdup(value));
	}
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (strcmp(name, paths[i].name) == 0) {
			if (value[0] == '\0') {
				snprintf(p->err, sizeof(p->err), "%s: empty path", name);
				return -1;
			}
			/* A PostgreSQL URL is taken as it is, not as a path (store.h). */
			return set_string(paths[i].slot, paths[i].slot == &cfg->database &&
			                                         store_location_is_url(value)
			                                     ? strdup(value)
			                                     : config_path(p, value));
		}
	}
	snprintf(p->err, sizeof(p->err), "unknown key \"%s\" in [server]", name);
	return -1;
}

static int limits_key(struct parse *p, const char *name, const char *value)
{
	struct limits *l = &p->cfg->limits;
	struct {
		const char *name;
		unsigned *slot;
		unsigned min, max;
	} keys[] = {
	    {"handshake_timeout", &l->handshake_timeout, 1, 3600},
	    {"idle_timeout", &l->idle_timeout, 1, 86400},
	    {"max_frame", &l->max_frame, 1024, 64u * 1024 * 1024},
	    {"max_connections", &l->max_connections, 1, 1000000},
	    {"max_handshakes", &l->max_handshakes, 1, 1000000},
	    {"max_handshakes_per_address", &l->max_handshakes_per_address, 1, 1000000},
	    {"page_size", &l->page_size, 1, 10000},
	    {"max_page_size", &l->max_page_size, 1, 10000},
	    {"output_buffer", &l->output_buffer, 4096, 256u * 1024 * 1024},
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(name, keys[i].name) == 0) {
			if (parse_unsigned(value, keys[i].min, keys[i].max, keys[i].slot) < 0) {
				snprintf(p->err, sizeof(p->err),
				         "%s: expected a whole number from %u to %u, got \"%s\"",
				         name, keys[i].min, keys[i].max, value);
				return -1;
			}
			return 0;
		}
	}
	snprintf(p->err, sizeof(p->err), "unknown key \"%s\" in [limits]", name);
	return -1;
}

/* Append a zeroed element of size bytes to the array *arr of *n; NULL when out of memory. */
static void *append_zeroed(struct parse *p, void *arr, size_t *n, size_t size)
{
	char *grown = realloc(*(void **)arr, (*n + 1) * size);

	if (grown == NULL) {
		snprintf(p->err, sizeof(p->err), "out of memory");
		return NULL;
	}
	*(void **)arr = grown;
	memset(grown + *n * size, 0, size);
	return grown + (*n)++ * size;
}

static struct agency *agency_get(struct parse *p, const char *id)
{
	struct config *cfg = p->cfg;
	struct agency *grown;

	for (size_t i = 0; i < cfg->n_agencies; i++) {
		if (strcmp(cfg->agencies[i].id, id) == 0) {
			return &cfg->agencies[i];
		}
	}
	if (!identity_agency_is_valid(id)) {
		snprintf(p->err, sizeof(p->err),
		         "[agency %s]: an agency id is 1-63 characters of a-z, 0-9 and '-', "
		         "starting with a letter or digit",
		         id);
		return NULL;
	}
	if ((grown = append_zeroed(p, &cfg->agencies, &cfg->n_agencies, sizeof(*grown))) == NULL) {
		return NULL;
	}
	grown->id = strdup(id);
	return grown->id ? grown : NULL;
}

static int agency_set_accepts(struct agency *a, const char *value)
{
	char *list = strdup(value), *save = NULL;

	if (list == NULL) {
		return -1;
	}
	for (char *tok = strtok_r(list, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		char **grown = realloc(a->accepts, (a->n_accepts + 1) * sizeof(*grown));
		if (grown == NULL || (grown[a->n_accepts] = strdup(tok)) == NULL) {
			if (grown) {
				a->accepts = grown;
			}
			free(list);
			return -1;
		}
		a->accepts = grown;
		a->n_accepts++;
	}
	free(list);
	return 0;
}

static int agency_key(struct parse *p, const char *id, const char *name, const char *value)
{
	struct agency *a = agency_get(p, id);

	if (a == NULL) {
		return -1;
	}
	if (strcmp(name, "name") == 0) {
		return set_string(&a->name, strdup(value));
	}
	if (strcmp(name, "accepts") == 0) {
		return agency_set_accepts(a, value);
	}
	snprintf(p->err, sizeof(p->err), "unknown key \"%s\" in [agency %s]", name, id);
	return -1;
}

static struct form_rule *form_rule_get(struct parse *p, const char *form)
{
	struct config *cfg = p->cfg;
	struct form_rule *grown;

	for (size_t i = 0; i < cfg->n_forms; i++) {
		if (strcmp(cfg->forms[i].form, form) == 0) {
			return &cfg->forms[i];
		}
	}
	if ((grown = append_zeroed(p, &cfg->forms, &cfg->n_forms, sizeof(*grown))) == NULL) {
		return NULL;
	}
	grown->form = strdup(form);
	return grown->form ? grown : NULL;
}

/* Parse a duration such as 14d, 36h, 90m or 30s (a bare number is days) into seconds. */
static int parse_duration(const char *value, long long *out)
{
	static const struct {
		char unit;
		long long seconds;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
	char *end;
	long long n, mult = 86400;

	errno = 0;
	n = strtoll(value, &end, 10);
	if (errno != 0 || end == value || value[0] == '-' || n < 1 || n > 3650LL * 86400) {
		return -1;
	}
	if (*end != '\0') {
		mult = 0;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			if (end[0] == units[i].unit && end[1] == '\0') {
				mult = units[i].seconds;
			}
		}
	}
	if (mult == 0 || n > 3650LL * 86400 / mult) {
		return -1;
	}
	*out = n * mult;
	return 0;
}

static int form_key(struct parse *p, const char *form, const char *name, const char *value)
{
	struct form_rule *f = form_rule_get(p, form);

	if (f == NULL) {
		return -1;
	}
	if (strcmp(name, "acknowledge_within") == 0) {
		if (parse_duration(value, &f->acknowledge_within) < 0) {
			snprintf(p->err, sizeof(p->err),
			         "[form %s] acknowledge_within: expected a duration such as 14d, "
			         "36h, 90m or 30s (at most 10 years), got \"%s\"",
			         form, value);
			return -1;
		}
		return 0;
	}
	snprintf(p->err, sizeof(p->err), "unknown key \"%s\" in [form %s]", name, form);
	return -1;
}

static int forms_key(struct parse *p, const char *name, const char *value)
{
	if (strcmp(name, "dir") != 0) {
		snprintf(p->err, sizeof(p->err), "unknown key \"%s\" in [forms]", name);
		return -1;
	}
	free(p->cfg->forms_dir);
	return set_string(&p->cfg->forms_dir, config_path(p, value));
}

static int retention_key(struct parse *p, const char *name, const char *value)
{
	if (strcmp(name, "closed_referrals") != 0) {
		snprintf(p->err, sizeof(p->err), "unknown key \"%s\" in [retention]", name);
		return -1;
	}
	if (strcmp(value, "never") == 0) {
		p->cfg->retention_closed = 0;
		return 0;
	}
	if (parse_duration(value, &p->cfg->retention_closed) < 0) {
		snprintf(
		    p->err, sizeof(p->err),
		    "[retention] closed_referrals: expected a duration such as 730d, 12h or 30s "
		    "(at most 10 years), or never; got \"%s\"",
		    value);
		return -1;
	}
	return 0;
}

static int report_key(struct parse *p, const char *name, const char *value)
{
	struct config *cfg = p->cfg;

	if (strcmp(name, "min_count") == 0) {
		if (parse_unsigned(value, 1, 1000, &cfg->report_min_count) < 0) {
			snprintf(p->err, sizeof(p->err),
			         "[report] min_count: expected a number from 1 to 1000, got \"%s\"",
			         value);
			return -1;
		}
		return 0;
	}
	if (strcmp(name, "partners_see_network") == 0) {
		if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0) {
			snprintf(p->err, sizeof(p->err),
			         "[report] partners_see_network: expected yes or no, got \"%s\"",
			         value);
			return -1;
		}
		cfg->report_network = strcmp(value, "yes") == 0;
		return 0;
	}
	snprintf(p->err, sizeof(p->err), "unknown key \"%s\" in [report]", name);
	return -1;
}

/* Say whether section/name was set before (and remember it): a repeated key is a mistake. */
static bool config_seen(struct parse *p, const char *section, const char *name)
{
	char key[256];
	char **grown;

	snprintf(key, sizeof(key), "%s\n%s", section, name);
	for (size_t i = 0; i < p->n_seen; i++) {
		if (strcmp(p->seen[i], key) == 0) {
			return true;
		}
	}
	grown = realloc(p->seen, (p->n_seen + 1) * sizeof(*grown));
	if (grown != NULL) {
		p->seen = grown;
		p->seen[p->n_seen] = strdup(key);
		p->n_seen += p->seen[p->n_seen] != NULL;
	}
	return false;
}

/* inih callback: 1 to carry on, 0 to stop at this line. */
static int config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	int rc;

	if (config_seen(p, section, name)) {
		snprintf(p->err, sizeof(p->err), "\"%s\" is set twice in [%s]", name, section);
		return 0;
	}
	if (strcmp(section, "server") == 0) {
		rc = server_key(p, name, value);
	} else if (strcmp(section, "limits") == 0) {
		rc = limits_key(p, name, value);
	} else if (strcmp(section, "metrics") == 0) {
		rc = metrics_key(p, name, value);
	} else if (strcmp(section, "web") == 0) {
		rc = web_key(p, name, value);
	} else if (strcmp(section, "retention") == 0) {
		rc = retention_key(p, name, value);
	} else if (strcmp(section, "report") == 0) {
		rc = report_key(p, name, value);
	} else if (strcmp(section, "forms") == 0) {
		rc = forms_key(p, name, value);
	} else if (strncmp(section, AGENCY_SECTION, strlen(AGENCY_SECTION)) == 0) {
		rc = agency_key(p, section + strlen(AGENCY_SECTION), name, value);
	} else if (strncmp(section, FORM_SECTION, strlen(FORM_SECTION)) == 0) {
		rc = form_key(p, section + strlen(FORM_SECTION), name, value);
	} else {
		snprintf(p->err, sizeof(p->err),
		         "unknown section [%s] (expected " SECTIONS_EXPECTED ")", section);
		rc = -1;
	}
	if (rc < 0 && p->err[0] == '\0') {
		snprintf(p->err, sizeof(p->err), "out of memory");
	}
	return rc == 0;
}

/* Say (in err) whether path is a directory: inih would read it as an empty file. */
static bool config_not_a_file(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: is a directory, not a configuration file", path);
		return true;
	}
	return false;
}

/* Check every [section] header, even one with no keys (inih only reports keys). */
static int config_sections(struct parse *p, const char *path, int *line)
{
	FILE *f = fopen(path, "r");
	char buf[1024];
	int rc = 0;

	*line = 0;
	if (f == NULL) {
		return 0; /* ini_parse reports it */
	}
	while (rc == 0 && fgets(buf, sizeof(buf), f) != NULL) {
		char *start = buf + strspn(buf, " \t"), *end;

		(*line)++;
		if (*start != '[' || (end = strchr(start, ']')) == NULL) {
			continue;
		}
		*end = '\0';
		start++;
		if (strcmp(start, "server") == 0 || strcmp(start, "limits") == 0 ||
		    strcmp(start, "retention") == 0 || strcmp(start, "forms") == 0 ||
		    strcmp(start, "report") == 0) {
			continue;
		}
		if (strcmp(start, "metrics") == 0) {
			p->metrics_section = true;
			continue;
		}
		if (strcmp(start, "web") == 0) {
			p->web_section = true;
			continue;
		}
		if (strncmp(start, AGENCY_SECTION, strlen(AGENCY_SECTION)) == 0) {
			rc = agency_get(p, start + strlen(AGENCY_SECTION)) ? 0 : -1;
		} else if (strncmp(start, FORM_SECTION, strlen(FORM_SECTION)) == 0) {
			rc = form_rule_get(p, start + strlen(FORM_SECTION)) ? 0 : -1;
		} else {
			snprintf(p->err, sizeof(p->err),
			         "unknown section [%s] (expected " SECTIONS_EXPECTED ")", start);
			rc = -1;
		}
	}
	fclose(f);
	return rc;
}

static int config_check(struct parse *p)
{
	struct config *cfg = p->cfg;
	struct {
		const char *name;
		const char *value;
	} required[] = {
	    {"listen", cfg->listen_host},
	    {"certificate", cfg->cert},
	    {"key", cfg->key},
	    {"ca", cfg->ca},
	    {"database", cfg->database},
	};

	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (required[i].value == NULL) {
			snprintf(p->err, sizeof(p->err), "[server] %s is required",
			         required[i].name);
			return -1;
		}
	}
	if (p->metrics_section && cfg->metrics_host == NULL) {
		snprintf(
		    p->err, sizeof(p->err),
		    "[metrics] listen is required (e.g. 127.0.0.1:9187), or remove the section");
		return -1;
	}
	if (p->web_section && cfg->web_host == NULL) {
		snprintf(p->err, sizeof(p->err),
		         "[web] listen is required (e.g. 0.0.0.0:8443), or remove the section");
		return -1;
	}
	if (cfg->forms_dir == NULL && (cfg->forms_dir = config_path(p, "forms")) == NULL) {
		return -1;
	}
	if (cfg->n_agencies == 0) {
		snprintf(p->err, sizeof(p->err),
		         "no partner agencies: add at least one [agency ID] section");
		return -1;
	}
	for (size_t i = 0; i < cfg->n_agencies; i++) {
		if (cfg->agencies[i].name == NULL &&
		    !(cfg->agencies[i].name = strdup(cfg->agencies[i].id))) {
			return -1;
		}
	}
	if (cfg->limits.page_size > cfg->limits.max_page_size) {
		snprintf(p->err, sizeof(p->err),
		         "[limits] page_size (%u) exceeds max_page_size (%u)",
		         cfg->limits.page_size, cfg->limits.max_page_size);
		return -1;
	}
	if (cfg->limits.max_handshakes_per_address > cfg->limits.max_handshakes) {
		snprintf(p->err, sizeof(p->err),
		         "[limits] max_handshakes_per_address (%u) exceeds max_handshakes (%u)",
		         cfg->limits.max_handshakes_per_address, cfg->limits.max_handshakes);
		return -1;
	}
	return 0;
}

static void parse_free(struct parse *p)
{
	for (size_t i = 0; i < p->n_seen; i++) {
		free(p->seen[i]);
	}
	free(p->seen);
}

static void config_defaults(struct config *cfg)
{
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->retention_closed = 730LL * 86400; /* two years after a referral closed */
	cfg->report_min_count = 5;
	cfg->limits = (struct limits){
	    .handshake_timeout = 10,
	    .idle_timeout = 300,
	    .max_frame = 1024 * 1024,
	    .max_connections = 10000,
	    .max_handshakes = 1000,
	    .max_handshakes_per_address = 100,
	    .page_size = 50,
	    .max_page_size = 500,
	    .output_buffer = 4 * 1024 * 1024,
	};
}

/* Read and check the configuration at path. */
struct config *config_load(const char *path, char *err, size_t errlen)
{
	struct parse p = {0};
	char *copy = strdup(path);
	int line;

	p.cfg = calloc(1, sizeof(*p.cfg));
	if (p.cfg == NULL || copy == NULL || (p.cfg->path = strdup(path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	config_defaults(p.cfg);
	p.dir = dirname(copy);
	if (config_not_a_file(path, err, errlen)) {
		goto fail;
	}
	if (config_sections(&p, path, &line) < 0) {
		snprintf(err, errlen, "%s:%d: %s", path, line, p.err);
		goto fail;
	}
	/* An indented line would otherwise continue the previous value, silently. */
	ini_allow_multiline = false;
	line = ini_parse(path, config_handler, &p);
	if (line == -1) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		goto fail;
	}
	if (line != 0) {
		snprintf(err, errlen, "%s:%d: %s", path, line,
		         p.err[0] ? p.err : "syntax error (expected key = value or [section])");
		goto fail;
	}
	if (config_check(&p) < 0) {
		snprintf(err, errlen, "%s: %s", path, p.err);
		goto fail;
	}
	parse_free(&p);
	free(copy);
	return p.cfg;
fail:
	parse_free(&p);
	free(copy);
	config_free(p.cfg);
	return NULL;
}

/* Free a configuration. */
void config_free(struct config *cfg)
{
	if (cfg == NULL) {
		return;
	}
	for (size_t i = 0; i < cfg->n_agencies; i++) {
		for (size_t j = 0; j < cfg->agencies[i].n_accepts; j++) {
			free(cfg->agencies[i].accepts[j]);
		}
		free(cfg->agencies[i].accepts);
		free(cfg->agencies[i].id);
		free(cfg->agencies[i].name);
	}
	free(cfg->agencies);
	for (size_t i = 0; i < cfg->n_forms; i++) {
		free(cfg->forms[i].form);
	}
	free(cfg->forms);
	free(cfg->path);
	free(cfg->listen_host);
	free(cfg->listen_port);
	free(cfg->cert);
	free(cfg->key);
	free(cfg->ca);
	free(cfg->crl);
	free(cfg->database);
	free(cfg->forms_dir);
	free(cfg->metrics_host);
	free(cfg->web_host);
	free(cfg->web_port);
	free(cfg->user);
	free(cfg);
}

/* Check that every form cfg's partners accept or set rules for is one of set's. */
int config_check_forms(const struct config *cfg, const struct form_set *set, char *err,
                       size_t errlen)
{
	for (size_t i = 0; i < cfg->n_agencies; i++) {
		const struct agency *a = &cfg->agencies[i];

		for (size_t j = 0; j < a->n_accepts; j++) {
			if (form_set_find(set, a->accepts[j]) == NULL) {
				snprintf(err, errlen,
				         "%s: [agency %s] accepts: unknown form \"%s\" (not in %s)",
				         cfg->path, a->id, a->accepts[j], cfg->forms_dir);
				return -1;
			}
		}
	}
	for (size_t i = 0; i < cfg->n_forms; i++) {
		if (form_set_find(set, cfg->forms[i].form) == NULL) {
			snprintf(err, errlen, "%s: [form %s]: unknown form (not in %s)", cfg->path,
			         cfg->forms[i].form, cfg->forms_dir);
			return -1;
		}
	}
	return 0;
}

/* Return the index of the agency with this id, or -1. */
int config_agency_index(const struct config *cfg, const char *id)
{
	for (size_t i = 0; i < cfg->n_agencies; i++) {
		if (strcmp(cfg->agencies[i].id, id) == 0) {
			return (int)i;
		}
	}
	return -1;
}

/* Return the seconds a receiver has to acknowledge a referral on form (0: no limit). */
long long config_acknowledge_within(const struct config *cfg, const char *form)
{
	for (size_t i = 0; i < cfg->n_forms; i++) {
		if (strcmp(cfg->forms[i].form, form) == 0) {
			return cfg->forms[i].acknowledge_within;
		}
	}
	return 0;
}

/* Return the agency with this id, or NULL. */
const struct agency *config_agency(const struct config *cfg, const char *id)
{
	int i = config_agency_index(cfg, id);

	return i < 0 ? NULL : &cfg->agencies[i];
}

/* Say whether agency a receives referrals on form. */
int agency_accepts(const struct agency *a, const char *form)
{
	for (size_t i = 0; i < a->n_accepts; i++) {
		if (strcmp(a->accepts[i], form) == 0) {
			return 1;
		}
	}
	return 0;
}
