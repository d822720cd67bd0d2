/* Switch from root to the configured user, and prove there is no way back. */
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Look up user in the password database. */
int privdrop_lookup(const char *user, struct privdrop *pd, char *err, size_t errlen)
{
	struct passwd pw, *found = NULL;
	char buf[4096];
	int rc;

	if (strlen(user) >= sizeof(pd->name)) {
		snprintf(err, errlen, "user \"%.64s...\": name too long", user);
		return -1;
	}
	rc = getpwnam_r(user, &pw, buf, sizeof(buf), &found);
	if (found == NULL) {
		snprintf(err, errlen, "user \"%s\" does not exist%s%s", user, rc ? ": " : "",
		         rc ? strerror(rc) : "");
		return -1;
	}
	snprintf(pd->name, sizeof(pd->name), "%s", found->pw_name);
	pd->uid = found->pw_uid;
	pd->gid = found->pw_gid;
	if (pd->uid == 0) {
		snprintf(err, errlen, "user \"%s\" is root: name an unprivileged account", user);
		return -1;
	}
	return 0;
}

/* Say whether any way back to root remains. */
static int privdrop_can_regain(void)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;

	if (getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sg) < 0) {
		return 1;
	}
	if (r == 0 || e == 0 || s == 0 || rg == 0 || eg == 0 || sg == 0) {
		return 1;
	}
	/* Both must fail once the saved ids are gone; succeeding would be a kernel surprise. */
	return setuid(0) == 0 || seteuid(0) == 0;
}

/* Become pd and check that root cannot be regained. */
int privdrop_apply(const struct privdrop *pd, char *err, size_t errlen)
{
	if (geteuid() != 0) {
		if (getuid() == pd->uid && geteuid() == pd->uid) {
			return 0; /* started as that user already (systemd User=, su) */
		}
		snprintf(err, errlen, "cannot switch to user %s: not running as root", pd->name);
		return -1;
	}
	if (initgroups(pd->name, pd->gid) < 0) {
		snprintf(err, errlen, "initgroups(%s): %s", pd->name, strerror(errno));
		return -1;
	}
	if (setresgid(pd->gid, pd->gid, pd->gid) < 0) {
		snprintf(err, errlen, "setgid(%lu): %s", (unsigned long)pd->gid, strerror(errno));
		return -1;
	}
	if (setresuid(pd->uid, pd->uid, pd->uid) < 0) {
		snprintf(err, errlen, "setuid(%lu): %s", (unsigned long)pd->uid, strerror(errno));
		return -1;
	}
	if (privdrop_can_regain()) {
		snprintf(err, errlen, "root can still be regained after switching to %s", pd->name);
		return -1;
	}
	return 0;
}
