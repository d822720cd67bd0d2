/* The forms directory: .proto files -> protoc -> descriptor set -> proto/schema.h. */
#include "forms_dir.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "config.h"
#include "form.h"
#include "rules.h"
#include "schema.h"

extern char **environ;

#define PROTOC "protoc"

int forms_dir_protoc_timeout_ms = FORMS_DIR_PROTOC_TIMEOUT_MS;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read all of fd into a new buffer of at most cap bytes; past cap, drain and fail. Past
 * forms_dir_protoc_timeout_ms, stop with *timed_out set (a hung protoc stalls the hub). */
static uint8_t *read_all(int fd, size_t cap, size_t *len, int *too_large, int *timed_out)
{
	size_t n = 0, size = 64 * 1024;
	uint8_t *buf = malloc(size), *grown, sink[4096];
	long long deadline = now_ms() + forms_dir_protoc_timeout_ms;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	ssize_t got;

	*too_large = *timed_out = 0;
	while (buf) {
		long long left = deadline - now_ms();
		int ready = left > 0 ? poll(&pfd, 1, (int)left) : 0;

		if (ready < 0 && errno == EINTR)
			continue;
		if (ready == 0) {
			*timed_out = 1;
			break;
		}
		if (n == size && size <= cap) {
			size = size * 2 > cap + 1 ? cap + 1 : size * 2;
			if (!(grown = realloc(buf, size))) {
				free(buf);
				return NULL;
			}
			buf = grown;
		}
		got = n < size ? read(fd, buf + n, size - n) : read(fd, sink, sizeof(sink));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		if (n < size)
			n += (size_t)got;
		if (n > cap)
			*too_large = 1;
	}
	*len = n;
	return buf;
}

/* Say whether dir/file exists (protoc warns about, or misses, what does not). */
static int holds(const char *dir, const char *file)
{
	char path[PATH_MAX];
	struct stat st;

	return snprintf(path, sizeof(path), "%s/%s", dir, file) < (int)sizeof(path) &&
	       stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Find the directory holding refex/rules.proto: beside the binary (BIN/../share/refex/proto),
 * where it was installed, or this source tree (tests, the demo); into buf, NULL if none. */
static const char *rules_dir(char *buf, size_t cap)
{
	static const char *const built_in[] = {REFEX_RULES_PROTO_INSTALLED,
	                                       REFEX_RULES_PROTO_SOURCE};
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL) {
			*slash = '\0';
			if (snprintf(buf, cap, "%s/../share/refex/proto", exe) < (int)cap &&
			    holds(buf, RULES_FILE))
				return buf;
		}
	}
	for (size_t i = 0; i < sizeof(built_in) / sizeof(built_in[0]); i++)
		if (holds(built_in[i], RULES_FILE))
			return snprintf(buf, cap, "%s", built_in[i]) < (int)cap ? buf : NULL;
	return NULL;
}

/* Return a, b and c joined (malloc'd), or NULL. */
static char *joined(const char *a, const char *b, const char *c)
{
	char *s;

	return asprintf(&s, "%s%s%s", a, b, c) < 0 ? NULL : s;
}

/* The command line: protoc, its options, then each file as DIR/NAME (protoc maps it back to
 * NAME through -I DIR, so descriptors and messages name the file as the admin sees it). Forms
 * may import refex/rules.proto (which imports descriptor.proto): protoc finds both, but they
 * stay out of the set (no --include_imports): it holds only the forms. */
static char **protoc_argv(const char *dir, char *const *files, size_t n)
{
	char **argv = calloc(n + 7, sizeof(*argv)), rules[PATH_MAX];
	const char *rd = rules_dir(rules, sizeof(rules));
	size_t i, k = 0;

	if (!argv)
		return NULL;
	argv[k++] = strdup(PROTOC);
	argv[k++] = strdup("--include_source_info");
	argv[k++] = strdup("--descriptor_set_out=/dev/stdout");
	argv[k++] = joined("--proto_path=", dir, "");
	if (rd)
		argv[k++] = joined("--proto_path=", rd, "");
	if (holds(PROTOBUF_DESCRIPTOR_DIR, "google/protobuf/descriptor.proto"))
		argv[k++] = joined("--proto_path=", PROTOBUF_DESCRIPTOR_DIR, "");
	for (i = 0; i < n; i++)
		argv[k++] = joined(dir, "/", files[i]);
	for (i = 0; i < k; i++) {
		if (!argv[i]) {
			for (i = 0; i < k; i++)
				free(argv[i]);
			free(argv);
			return NULL;
		}
	}
	return argv;
}

/* Put what protoc wrote on stderr (in f) after err, on one line and capped: it is schema text,
 * file names and line numbers, never a referral, but it has no bound of its own. */
static void protoc_says(FILE *f, char *err, size_t errlen)
{
	char said[FORMS_DIR_PROTOC_SAYS + 1];
	size_t n, used = strlen(err);

	if (!f || fseek(f, 0, SEEK_SET) != 0)
		return;
	n = fread(said, 1, sizeof(said) - 1, f);
	while (n > 0 && (said[n - 1] == '\n' || said[n - 1] == ' '))
		n--;
	said[n] = '\0';
	if (n == 0 || used + 3 >= errlen)
		return;
	for (char *c = said; *c; c++)
		if (*c == '\n' || *c == '\t' || (unsigned char)*c < 0x20)
			*c = *c == '\n' ? '|' : ' ';
	snprintf(err + used, errlen - used, ": %s%s", said, fgetc(f) == EOF ? "" : " (and more)");
}

static void free_argv(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* Run protoc on files of dir and return the descriptor set it writes. */
uint8_t *forms_dir_compile(const char *dir, char *const *files, size_t n, size_t *len, char *err,
                           size_t errlen)
{
	posix_spawn_file_actions_t fa;
	FILE *said = tmpfile();
	char **argv = protoc_argv(dir, files, n);
	uint8_t *set = NULL;
	int fds[2], status, too_large = 0, timed_out = 0, rc;
	pid_t pid;

	if (!argv || !said || pipe(fds) < 0) {
		snprintf(err, errlen, "cannot run %s: %s", PROTOC, strerror(errno));
		free_argv(argv);
		if (said)
			fclose(said);
		return NULL;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, fileno(said), STDERR_FILENO);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	/* In the hub, protoc must not hold the partners' sockets or the database open. */
	posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	rc = posix_spawnp(&pid, PROTOC, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	free_argv(argv);
	close(fds[1]);
	if (rc != 0) {
		close(fds[0]);
		fclose(said);
		snprintf(err, errlen, "cannot run %s (install protobuf-compiler): %s", PROTOC,
		         strerror(rc));
		return NULL;
	}
	set = read_all(fds[0], SCHEMA_MAX_BYTES, len, &too_large, &timed_out);
	close(fds[0]);
	if (timed_out)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!set || too_large || timed_out || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (timed_out)
			snprintf(err, errlen,
			         "%s did not finish within %d ms (a file that cannot be read?)",
			         PROTOC, forms_dir_protoc_timeout_ms);
		else if (!set)
			snprintf(err, errlen, "out of memory");
		else if (too_large)
			snprintf(err, errlen, "the compiled forms are larger than %d bytes",
			         SCHEMA_MAX_BYTES);
		else
			snprintf(err, errlen, "%s could not compile it", PROTOC);
		if (set && !too_large && !timed_out)
			protoc_says(said, err, errlen);
		fclose(said);
		free(set);
		return NULL;
	}
	fclose(said);
	return set;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_proto(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > 6 && strcmp(name + n - 6, ".proto") == 0;
}

/* Return the sorted names of dir's .proto files. */
char **forms_dir_list(const char *dir, size_t *n, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **files;

	*n = 0;
	if (!d) {
		snprintf(err, errlen, "cannot read %s: %s", dir, strerror(errno));
		return NULL;
	}
	if (!(files = calloc(SCHEMA_MAX_FILES + 1, sizeof(*files)))) {
		closedir(d);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	while ((e = readdir(d))) {
		struct stat st;

		if (!is_proto(e->d_name))
			continue;
		/* A FIFO or device would leave protoc waiting, and the hub with it. */
		if (fstatat(dirfd(d), e->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode)) {
			snprintf(err, errlen, "%s/%s is not a regular file", dir, e->d_name);
			closedir(d);
			forms_dir_list_free(files, *n);
			return NULL;
		}
		if (*n == SCHEMA_MAX_FILES || !(files[*n] = strdup(e->d_name))) {
			snprintf(err, errlen, "%s holds more than %d .proto files", dir,
			         SCHEMA_MAX_FILES);
			closedir(d);
			forms_dir_list_free(files, *n);
			return NULL;
		}
		(*n)++;
	}
	closedir(d);
	qsort(files, *n, sizeof(*files), by_name);
	return files;
}

/* Free a list from forms_dir_list. */
void forms_dir_list_free(char **files, size_t n)
{
	for (size_t i = 0; files && i < n; i++)
		free(files[i]);
	free(files);
}

/* Compile and load files of dir; print its forms, or why it is refused (naming what). */
static int check_files(const char *dir, char *const *files, size_t n, const char *what, FILE *out,
                       int print_forms)
{
	struct schema_error serr;
	struct schema *s = NULL;
	char err[FORMS_DIR_ERR];
	uint8_t *set;
	size_t len, i;

	if ((set = forms_dir_compile(dir, files, n, &len, err, sizeof(err))))
		s = schema_load(set, len, &serr);
	free(set);
	if (!set) {
		fprintf(out, "refused: %s: %s\n", what, err);
		return -1;
	}
	if (!s) { /* the message names the file */
		fprintf(out, "refused: %s\n", serr.message);
		return -1;
	}
	for (i = 0; print_forms && i < schema_form_count(s); i++) {
		const struct schema_form *f = schema_form_at(s, i);

		fprintf(out, "form %s version %u \"%s\" (%s, %u fields)\n", f->name, f->version,
		        f->title, f->file, f->desc->n_fields);
	}
	schema_free(s);
	return 0;
}

/* Check every .proto file of dir alone, then all together; report to out. */
int forms_dir_check(const char *dir, FILE *out)
{
	char err[FORMS_DIR_ERR], **files;
	size_t n, i, refused = 0;

	if (!(files = forms_dir_list(dir, &n, err, sizeof(err)))) {
		fprintf(out, "refused: %s\n", err);
		return 1;
	}
	if (n == 0)
		fprintf(out, "refused: %s holds no .proto files\n", dir);
	for (i = 0; i < n; i++)
		if (check_files(dir, &files[i], 1, files[i], out, 1) < 0)
			refused++;
	/* Alone each may be fine, yet two files may define the same form. */
	if (refused == 0 && n > 1 && check_files(dir, files, n, "together", out, 0) < 0)
		refused++;
	if (n == 0 || refused)
		fprintf(out,
		        "refexd: forms refused (%zu of %zu files): fix them; the hub keeps the "
		        "forms it has\n",
		        refused, n);
	else
		fprintf(out, "refexd: forms ok (%zu files)\n", n);
	forms_dir_list_free(files, n);
	return n == 0 || refused ? 1 : 0;
}

/* Compile and load every .proto file of dir together. */
struct form_set *forms_dir_load(const char *dir, char *err, size_t errlen)
{
	struct schema_error serr;
	struct schema *s = NULL;
	struct form_set *set = NULL;
	char **files;
	uint8_t *data = NULL;
	size_t n, len;

	if (!(files = forms_dir_list(dir, &n, err, errlen)))
		return NULL;
	if (n == 0)
		snprintf(err, errlen, "%s holds no .proto files", dir);
	else if ((data = forms_dir_compile(dir, files, n, &len, err, errlen)) &&
	         !(s = schema_load(data, len, &serr)))
		snprintf(err, errlen, "%s", serr.message);
	else if (s && !(set = form_set_new(s)))
		snprintf(err, errlen, "out of memory");
	free(data);
	forms_dir_list_free(files, n);
	return set;
}

/* Load cfg's forms directory and check cfg's form names against it. */
struct form_set *forms_dir_load_for(const struct config *cfg, char *err, size_t errlen)
{
	char why[FORMS_DIR_ERR];
	struct form_set *set = forms_dir_load(cfg->forms_dir, why, sizeof(why));

	if (!set) {
		snprintf(err, errlen, "forms in %s refused: %s", cfg->forms_dir, why);
		return NULL;
	}
	if (config_check_forms(cfg, set, err, errlen) < 0) {
		form_set_free(set);
		return NULL;
	}
	return set;
}

static int digest_form(EVP_MD_CTX *ctx, const struct schema *s, const struct schema_form *f)
{
	unsigned char head[8] = {(unsigned char)(f->version >> 24),
	                         (unsigned char)(f->version >> 16),
	                         (unsigned char)(f->version >> 8), (unsigned char)f->version};
	size_t len = 0;
	uint8_t *bytes = schema_form_export(s, f, &len);
	int ok;

	head[4] = (unsigned char)(len >> 24);
	head[5] = (unsigned char)(len >> 16);
	head[6] = (unsigned char)(len >> 8);
	head[7] = (unsigned char)len;
	ok = bytes && EVP_DigestUpdate(ctx, f->name, strlen(f->name) + 1) == 1 &&
	     EVP_DigestUpdate(ctx, head, sizeof(head)) == 1 &&
	     EVP_DigestUpdate(ctx, bytes, len) == 1;
	free(bytes);
	return ok ? 0 : -1;
}

/* Digest the names, versions and exported schemas of set's forms, in name order. */
void forms_dir_digest(const struct form_set *set, char out[FORMS_DIR_DIGEST_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex2(ctx, EVP_sha256(), NULL) == 1;
	size_t i;

	for (i = 0; ok && set && i < schema_form_count(set->schema); i++)
		ok = digest_form(ctx, set->schema, schema_form_at(set->schema, i)) == 0;
	ok = ok && EVP_DigestFinal_ex(ctx, md, NULL) == 1;
	EVP_MD_CTX_free(ctx);
	/* Out of memory: a digest no set has, so clients fetch the forms again. */
	for (i = 0; i < FORMS_DIR_DIGEST_LEN / 2; i++) {
		out[2 * i] = ok ? hex[md[i] >> 4] : '0';
		out[2 * i + 1] = ok ? hex[md[i] & 15] : '0';
	}
	out[FORMS_DIR_DIGEST_LEN] = '\0';
}
