/* refexd started as root with [server] user: it binds, then runs as that user with no way
 * back, its database and reloads working as that user. Needs root; skipped otherwise. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct net *net;
static uid_t to_uid;
static gid_t to_gid;

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(privdrop, .fini = teardown, .timeout = 120);

static int give_away(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return lchown(path, to_uid, to_gid);
}

/* Return the value of the line "key:" in /proc/pid/status (a static buffer). */
static const char *proc_status(pid_t pid, const char *key)
{
	static char value[256];
	char path[64], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	cr_assert_not_null(f = fopen(path, "r"));
	value[0] = '\0';
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':') {
			snprintf(value, sizeof(value), "%s", line + strlen(key) + 1);
			value[strcspn(value, "\n")] = '\0';
		}
	}
	fclose(f);
	return value;
}

Test(privdrop, a_root_start_runs_as_the_configured_user)
{
	struct passwd *pw = getpwnam("nobody");
	const char *alice;
	char want[128], id[REFEX_ID_LEN + 1];

	if (geteuid() != 0 || pw == NULL) {
		cr_skip_test("needs root and a \"nobody\" account");
	}
	to_uid = pw->pw_uid;
	to_gid = pw->pw_gid;
	net = net_new();
	alice = net_issue(net, "north-advice", "Alice Smith");
	cr_assert_eq(net_write_config(net, "user = nobody\n\n" NET_DEFAULT_AGENCIES), 0);
	/* What the README asks of an operator: the user can read its files, write its database. */
	cr_assert_eq(nftw(net->dir, give_away, 16, FTW_PHYS), 0);
	net_must_start(net);
	cr_expect(net_log_wait(net, "msg=\"running as\" user=nobody"));
	snprintf(want, sizeof(want), "\t%u\t%u\t%u\t%u", to_uid, to_uid, to_uid, to_uid);
	cr_expect_str_eq(proc_status(net->pid, "Uid"), want, "real, effective, saved, fs uid");
	snprintf(want, sizeof(want), "\t%u\t%u\t%u\t%u", to_gid, to_gid, to_gid, to_gid);
	cr_expect_str_eq(proc_status(net->pid, "Gid"), want);
	cr_expect(strstr(proc_status(net->pid, "Groups"), "\t0 ") == NULL &&
	              strncmp(proc_status(net->pid, "Groups"), "\t0", 3) != 0,
	          "no root group: %s", proc_status(net->pid, "Groups"));
	cr_expect_str_eq(proc_status(net->pid, "CapEff"), "\t0000000000000000");

	submit_housing(net, alice, FIXTURE("housing.json"), id); /* the database is writable */
	cr_assert_eq(net_write_config(net, "user = nobody\n\n" NET_DEFAULT_AGENCIES
	                                   "\n[agency west-health]\naccepts = debt_advice\n"),
	             0);
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	cr_expect(net_log_wait(net, "msg=reloaded agencies=4"), "reloads read files as nobody");
	net_expect_clean_stop(net);
}
