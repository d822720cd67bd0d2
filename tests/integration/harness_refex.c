/* Running refex and refex-ca as a test's partners and CA admin would. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "harness_private.h"

#define ARGV_MAX 64

/* Run refex as the holder of a certificate, in the net directory, never reading a user config
 * nor keeping state outside the net directory. */
int run_refex(struct run_result *r, const struct net *n, const char *prefix, ...)
{
	char server[64], cert[NET_PATH_MAX + 8], key[NET_PATH_MAX + 8];
	char env_config[NET_PATH_MAX + 16], env_home[NET_PATH_MAX + 8];
	/* refex keeps its state (the newest CRL) and its cache (the hub's forms) under HOME, the
	 * net's directory. */
	char *env[] = {env_config, env_home, "XDG_STATE_HOME=", "XDG_CACHE_HOME=", NULL};
	char *argv[ARGV_MAX];
	size_t argc = 0;
	const char *a;
	va_list ap;

	snprintf(server, sizeof(server), "127.0.0.1:%d", n->port);
	snprintf(env_config, sizeof(env_config), "REFEX_CONFIG=%s", n->empty);
	snprintf(env_home, sizeof(env_home), "HOME=%s", n->dir);
	argv[argc++] = REFEX_PATH;
	if (prefix != NULL) {
		snprintf(cert, sizeof(cert), "%s.crt", prefix);
		snprintf(key, sizeof(key), "%s.key", prefix);
		argv[argc++] = "--server";
		argv[argc++] = server;
		argv[argc++] = "--cert";
		argv[argc++] = cert;
		argv[argc++] = "--key";
		argv[argc++] = key;
		argv[argc++] = "--ca";
		argv[argc++] = (char *)n->ca;
	}
	va_start(ap, prefix);
	while ((a = va_arg(ap, const char *)) != NULL && argc < ARGV_MAX - 1) {
		argv[argc++] = (char *)a;
	}
	va_end(ap);
	argv[argc] = NULL;
	return run_in(r, n->dir, argv, env);
}

/* Run refex-ca with the given arguments. */
int run_refex_ca(struct run_result *r, ...)
{
	char *argv[ARGV_MAX];
	size_t argc = 0;
	const char *a;
	va_list ap;

	argv[argc++] = REFEX_CA_PATH;
	va_start(ap, r);
	while ((a = va_arg(ap, const char *)) != NULL && argc < ARGV_MAX - 1) {
		argv[argc++] = (char *)a;
	}
	va_end(ap);
	argv[argc] = NULL;
	return run_in(r, NULL, argv, NULL);
}

/* Submit a housing referral from prefix to eastside-housing and return its id in id. */
void submit_housing(const struct net *n, const char *prefix, const char *data,
                    char id[REFEX_ID_LEN + 1])
{
	struct run_result r;
	const char *line;

	run_refex(&r, n, prefix, "submit", "--to", "eastside-housing", "--form", "housing_support",
	          "--client", FIXTURE("client.json"), "--data", data, "--consent",
	          FIXTURE("consent.json"), NULL);
	cr_assert_eq(r.status, 0, "refex submit exited %d: %s", r.status, r.err);
	line = run_line(&r);
	cr_assert_eq(strlen(line), REFEX_ID_LEN,
	             "refex submit printed \"%s\", not a %d-character id", line, REFEX_ID_LEN);
	memcpy(id, line, REFEX_ID_LEN + 1);
	run_result_free(&r);
}

/* Expect refex inbox|sent --json run as prefix to list no referrals. */
void expect_box_empty(const struct net *n, const char *prefix, const char *box)
{
	struct run_result r;
	json_t *page, *list;

	run_refex(&r, n, prefix, box, "--json", NULL);
	cr_assert_eq(r.status, 0, "refex %s exited %d: %s", box, r.status, r.err);
	page = run_json(&r);
	cr_assert(json_is_object(page), "refex %s --json printed no JSON object:\n%s", box, r.out);
	run_result_free(&r);
	list = json_object_get(page, "referrals");
	cr_expect_eq(json_array_size(list), 0, "refex %s lists %zu referrals, expected none", box,
	             json_array_size(list));
	json_decref(page);
}

/* Return the serial of holder's newest valid certificate (refex-ca list --json). */
char *net_serial_of(const struct net *n, const char *holder)
{
	struct run_result r;
	json_t *root, *list, *rec;
	char *serial = NULL;
	size_t i;

	cr_assert_eq(run_refex_ca(&r, "list", "--dir", n->ca_dir, "--json", NULL), 0, "%s", r.err);
	root = list = run_json(&r);
	cr_assert_not_null(list, "refex-ca list --json printed no JSON: %s", r.out);
	if (json_is_object(list)) {
		list = json_object_get(list, "certificates");
	}
	json_array_foreach(list, i, rec)
	{
		const char *h = json_string_value(json_object_get(rec, "holder"));
		const char *st = json_string_value(json_object_get(rec, "status"));

		if (h && strcmp(h, holder) == 0 && (st == NULL || strcmp(st, "valid") == 0)) {
			free(serial);
			serial = strdup(json_string_value(json_object_get(rec, "serial")));
		}
	}
	json_decref(root);
	run_result_free(&r);
	cr_assert_not_null(serial, "no valid certificate for %s", holder);
	return serial;
}
