/* refexd's configuration: an INI file naming the listener, TLS files, store, limits, metrics and
 * partners.
 */
#ifndef REFEX_CONFIG_H
#define REFEX_CONFIG_H

#include <stddef.h>

/* One partner agency and the forms it receives. */
struct agency {
	char *id;
	char *name;
	char **accepts; /* form names */
	size_t n_accepts;
};

/* What the partnership agreed about one form. */
struct form_rule {
	char *form;
	long long
	    acknowledge_within; /* seconds the receiver has to accept or decline; 0: no limit */
};

struct limits {
	unsigned handshake_timeout;          /* seconds */
	unsigned idle_timeout;               /* seconds */
	unsigned max_frame;                  /* bytes */
	unsigned max_connections;            /* handshaking and admitted together */
	unsigned max_handshakes;             /* still handshaking; past it the oldest is shed */
	unsigned max_handshakes_per_address; /* the same from one IPv4 address or IPv6 /64 */
	unsigned page_size;
	unsigned max_page_size;
	unsigned output_buffer; /* bytes queued to a peer before we stop reading from it */
};

struct config {
	char *path;
	char *listen_host;
	char *listen_port;
	char *cert; /* absolute or relative to the working directory */
	char *key;
	char *ca;
	char *crl; /* NULL: no CRL */
	char *database;
	char *user; /* [server] user: drop to this account after start; NULL: stay */
	int log_level;
	char *metrics_host;    /* [metrics] listen: loopback only; NULL: no metrics listener */
	unsigned metrics_port; /* 0: any free port */
	char *web_host;        /* [web] listen: the HTTPS door; NULL: none */
	char *web_port;
	struct limits limits;
	struct agency *agencies;
	size_t n_agencies;
	long long retention_closed; /* [retention] closed_referrals, seconds; 0: kept for ever */
	unsigned report_min_count;  /* [report] min_count */
	int report_network;         /* [report] partners_see_network */
	char *forms_dir;            /* [forms] dir; default: "forms" beside the file */
	struct form_rule *forms;    /* from [form NAME] sections */
	size_t n_forms;
};

/* Read and check the configuration at path. Returns NULL with a reason (and line) in err. */
struct config *config_load(const char *path, char *err, size_t errlen);

struct form_set;

/* Check every form named in cfg ([agency] accepts, [form NAME]) is one of set's (NULL: the
 * forms in force). Returns 0, or -1 with the first unknown one in err. */
int config_check_forms(const struct config *cfg, const struct form_set *set, char *err,
                       size_t errlen);

/* Free a configuration. NULL is fine. */
void config_free(struct config *cfg);

/* Return the agency with this id, or NULL if it is not a partner. */
const struct agency *config_agency(const struct config *cfg, const char *id);

/* Return the index of the agency with this id, or -1. */
int config_agency_index(const struct config *cfg, const char *id);

/* Return the seconds a receiver has to acknowledge a referral on form (0: no limit). */
long long config_acknowledge_within(const struct config *cfg, const char *form);

/* Say whether agency a receives referrals on form. */
int agency_accepts(const struct agency *a, const char *form);

#endif
