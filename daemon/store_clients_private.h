/* What store_clients_sqlite.c (writes) and store_clients_sqlite_read.c (reads) share: their
 * statements on SQLite. */
#ifndef REFEX_STORE_CLIENTS_PRIVATE_H
#define REFEX_STORE_CLIENTS_PRIVATE_H

#include <sqlite3.h>

#include "store_clients.h"
#include "store_sqlite_private.h"

/* Clients k not erased, unchanged since ?1, none of whose referrals still holds details: what
 * retention erases. The partial index clients_live makes it a range scan. */
#define CLIENTS_UNHELD                                                                             \
	"k.erased_at IS NULL AND k.updated_at < ?1 AND NOT EXISTS (SELECT 1 FROM referrals r"      \
	" WHERE r.client_id = k.id AND r.purged_at IS NULL)"

/* Writer statements (storage thread only). */
enum cwstmt {
	CW_ADD,
	CW_VERSION,
	CW_DUPS,
	CW_UPDATE,
	CW_FIND,
	CW_ERASE,
	CW_ERASE_VERSIONS,
	CW_ERASE_DATA,
	CW_ERASE_NAMES,
	CW_ERASE_CONSENTS,
	CW_CONSENT_ADD,
	CW_WITHDRAW,
	CW_CONSENT_FIND,
	CW_SHARE_OK,
	CW_PURGE,
	CW_PURGE_ONE,
	CW_COUNT
};

/* Reader statements (loop thread only). */
enum crstmt {
	CR_GET,
	CR_SHARED,
	CR_RECORD,
	CR_COVER,
	CR_LIST,
	CR_CONSENTS,
	CR_PURGE_DUE,
	CR_COUNT
};

struct store_clients {
	sqlite3_stmt *w[CW_COUNT];
	sqlite3_stmt *r[CR_COUNT];
};

/* The SQL of each reader statement (store_clients_read.c). */
extern const char *const store_clients_rsql[CR_COUNT];

#endif
