/* Dropping root: refexd binds and reads its keys as root, then runs as an ordinary user. */
#ifndef REFEX_PRIVDROP_H
#define REFEX_PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

/* The account refexd switches to. */
struct privdrop {
	char name[64];
	uid_t uid;
	gid_t gid;
};

/* Look up user (a name, or a number) in the password database. Returns 0, or -1 with err. */
int privdrop_lookup(const char *user, struct privdrop *pd, char *err, size_t errlen);

/*
 * Become pd: supplementary groups (initgroups), then the group, then the user, and check
 * that root cannot be regained. Already running as pd->uid (not root) is fine. Returns 0,
 * or -1 with err: the caller must not carry on.
 */
int privdrop_apply(const struct privdrop *pd, char *err, size_t errlen);

#endif
