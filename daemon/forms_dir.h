/*
 * The forms directory: the partnership's agreed forms as .proto files, compiled by the real
 * protoc (Debian protobuf-compiler, found on PATH) into a descriptor set and loaded by
 * proto/schema.h. refexd --check-forms DIR reports what the directory holds; the hub loads its
 * forms from [forms] dir at start and on each reload (forms_dir_load_for).
 */
#ifndef REFEX_FORMS_DIR_H
#define REFEX_FORMS_DIR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

#define FORMS_DIR_PROTOC_SAYS       1024 /* bytes of protoc's complaint kept in an error */
#define FORMS_DIR_ERR               (FORMS_DIR_PROTOC_SAYS + 1024)
#define FORMS_DIR_PROTOC_TIMEOUT_MS 30000 /* protoc gets this long: a reload waits for it */

/* How long protoc may take, in ms (FORMS_DIR_PROTOC_TIMEOUT_MS; tests lower it). */
extern int forms_dir_protoc_timeout_ms;

struct form_set;

/*
 * Run protoc on the n files named in files (names inside dir, e.g. "housing.proto") with
 * their comments and imports; return the descriptor set it writes (free() it) and its length
 * in *len. NULL with err filled when protoc cannot run or refuses a file (err then ends with
 * what protoc said, on one line, at most FORMS_DIR_PROTOC_SAYS bytes of it) or the set is
 * larger than SCHEMA_MAX_BYTES.
 */
uint8_t *forms_dir_compile(const char *dir, char *const *files, size_t n, size_t *len, char *err,
                           size_t errlen);

/*
 * Return the names of the .proto files in dir, sorted (free with forms_dir_list_free), and
 * their number in *n; NULL with err filled if dir cannot be read or holds too many.
 */
char **forms_dir_list(const char *dir, size_t *n, char *err, size_t errlen);

/* Free a list from forms_dir_list. */
void forms_dir_list_free(char **files, size_t n);

/*
 * Check every .proto file of dir as the hub would load it: write each form found (name,
 * version, title, file) and each refusal (file, message or field, reason) to out, then a
 * summary. Return 0 when every file loads and the files load together, 1 otherwise.
 */
int forms_dir_check(const char *dir, FILE *out);

/*
 * Compile and load every .proto file of dir together (as the hub runs on them): the set, or
 * NULL with err naming the file and the message or field refused (or dir holds none).
 */
struct form_set *forms_dir_load(const char *dir, char *err, size_t errlen);

#define FORMS_DIR_DIGEST_LEN 32 /* hex digits */

/* Write to out a digest of the forms of set (their names, versions and schemas as clients get
 * them): it changes whenever one of them does. */
void forms_dir_digest(const struct form_set *set, char out[FORMS_DIR_DIGEST_LEN + 1]);

/* Load cfg's [forms] dir and check that every form cfg names is in it; NULL with err. */
struct form_set *forms_dir_load_for(const struct config *cfg, char *err, size_t errlen);

#endif
