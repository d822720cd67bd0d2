/* The throwaway partnership: its directory, CA, certificates, config, and refexd itself. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "harness_private.h"

#define STOP_TIMEOUT_MS 20000

/* Copy text into out (len bytes) with every occurrence of id replaced by "<id>": to compare
 * what is said about a real id with what is said about one never issued. */
void text_without_id(const char *text, const char *id, char *out, size_t len)
{
	size_t n = strlen(id), used = 0;

	while (text != NULL && *text != '\0' && used + 5 < len) {
		if (strncmp(text, id, n) == 0) {
			used += (size_t)snprintf(out + used, len - used, "<id>");
			text += n;
		} else {
			out[used++] = *text++;
		}
	}
	out[used] = '\0';
}

/* Return the whole file at path, NUL-terminated, and its length in *len; NULL if unreadable. */
char *harness_read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *data;
	long n;

	if (fp == NULL) {
		return NULL;
	}
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	data = malloc((size_t)n + 1);
	cr_assert_not_null(data);
	cr_assert_eq(fread(data, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	data[n] = '\0';
	if (len != NULL) {
		*len = (size_t)n;
	}
	return data;
}

/* Say whether the file name in the net directory (or at name, when absolute) holds text. */
bool net_file_holds(const struct net *n, const char *name, const char *text)
{
	char path[NET_PATH_MAX + 64];
	char *data;
	size_t len;
	bool found;

	snprintf(path, sizeof(path), "%s/%s", n->dir, name);
	if ((data = harness_read_file(name[0] == '/' ? name : path, &len)) == NULL) {
		return false;
	}
	found = memmem(data, len, text, strlen(text)) != NULL;
	free(data);
	return found;
}

/* Put the example forms (proto/forms) in the net's forms directory, beside its config. */
static void net_copy_forms(const struct net *n)
{
	static const char *const forms[] = {"debt_advice", "food_support", "housing_support"};
	char path[NET_PATH_MAX + 64], name[64];
	size_t len;

	snprintf(path, sizeof(path), "%s/forms", n->dir);
	cr_assert_eq(mkdir(path, 0755), 0, "mkdir %s: %s", path, strerror(errno));
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		char *text;

		snprintf(path, sizeof(path), "%s/%s.proto", REFEX_FORMS_DIR, forms[i]);
		snprintf(name, sizeof(name), "forms/%s.proto", forms[i]);
		cr_assert_not_null(text = harness_read_file(path, &len), "cannot read %s", path);
		free(net_write_file(n, name, text));
		free(text);
	}
}

/* Write text to a file in the net directory. */
char *net_write_file(const struct net *n, const char *name, const char *text)
{
	char *path = NULL;
	FILE *f;

	if (asprintf(&path, "%s/%s", n->dir, name) < 0) {
		return NULL;
	}
	if ((f = fopen(path, "w")) == NULL) {
		free(path);
		return NULL;
	}
	fputs(text, f);
	if (fclose(f) != 0) {
		free(path);
		return NULL;
	}
	return path;
}

/* Rewrite refexd's config with the [server] section and extra. */
int net_write_config(struct net *n, const char *extra)
{
	FILE *f = fopen(n->config, "w");

	if (f == NULL) {
		return -1;
	}
	fprintf(f,
	        "[server]\n"
	        "listen = 127.0.0.1:0\n"
	        "certificate = server.crt\n"
	        "key = server.key\n"
	        "ca = ca/ca.crt\n"
	        "crl = ca/crl.pem\n"
	        "database = %s\n"
	        "log_level = info\n"
	        "\n%s",
	        n->database, extra ? extra : NET_DEFAULT_AGENCIES);
	return fclose(f) == 0 ? 0 : -1;
}

/* Make a throwaway partnership with its CA, server certificate and config. */
struct net *net_new(void)
{
	struct net *n = calloc(1, sizeof(*n));
	struct run_result r;
	char server[NET_PATH_MAX + 8];
	char *empty;

	signal(SIGPIPE, SIG_IGN);
	cr_assert_not_null(n);
	snprintf(n->dir, sizeof(n->dir), "/tmp/refex-it-XXXXXX");
	cr_assert_not_null(mkdtemp(n->dir), "mkdtemp: %s", strerror(errno));
	snprintf(n->ca_dir, sizeof(n->ca_dir), "%s/ca", n->dir);
	snprintf(n->ca, sizeof(n->ca), "%s/ca/ca.crt", n->dir);
	snprintf(n->config, sizeof(n->config), "%s/refexd.conf", n->dir);
	snprintf(n->log, sizeof(n->log), "%s/refexd.log", n->dir);
	snprintf(server, sizeof(server), "%s/server", n->dir);
	empty = net_write_file(n, "refex-empty.conf", "");
	cr_assert_not_null(empty);
	snprintf(n->empty, sizeof(n->empty), "%s", empty);
	free(empty);

	run_refex_ca(&r, "init", "--dir", n->ca_dir, "--name", "Integration Test Network", NULL);
	cr_assert_eq(r.status, 0, "refex-ca init failed (%d): %s", r.status, r.err);
	run_result_free(&r);
	run_refex_ca(&r, "server", "--dir", n->ca_dir, "--host", "127.0.0.1,localhost", "--out",
	             server, NULL);
	cr_assert_eq(r.status, 0, "refex-ca server failed (%d): %s", r.status, r.err);
	run_result_free(&r);
	net_copy_forms(n);
	snprintf(n->database, sizeof(n->database), "refex.db");
	if (net_on_postgresql()) {
		net_pg_database_new(n);
	}
	cr_assert_eq(net_write_config(n, NULL), 0, "cannot write %s", n->config);
	return n;
}

/* Make a second hub of n, sharing its directory and database. */
struct net *net_second(const struct net *n)
{
	static int made = 1; /* refexd.log is the first hub's */
	struct net *s = malloc(sizeof(*s));

	cr_assert_not_null(s);
	*s = *n;
	s->second = true;
	s->pid = 0;
	s->port = 0;
	s->db_name[0] = '\0'; /* n drops the database */
	snprintf(s->log, sizeof(s->log), "%s/refexd-%d.log", n->dir, ++made);
	return s;
}

/* Issue a partner certificate from the net's CA. */
const char *net_issue(struct net *n, const char *agency, const char *holder)
{
	struct run_result r;
	char path[NET_PATH_MAX], *prefix;

	cr_assert_lt(n->n_issued, sizeof(n->issued) / sizeof(n->issued[0]));
	prefix = n->issued[n->n_issued];
	snprintf(path, sizeof(path), "%s/%.64s-%zu", n->dir, agency, n->n_issued);
	memcpy(prefix, path, sizeof(path));
	run_refex_ca(&r, "issue", "--dir", n->ca_dir, "--agency", agency, "--holder", holder,
	             "--out", prefix, NULL);
	cr_assert_eq(r.status, 0, "refex-ca issue %s failed (%d): %s", agency, r.status, r.err);
	run_result_free(&r);
	n->n_issued++;
	return prefix;
}

/* Return refexd's log so far. */
char *net_read_log(const struct net *n)
{
	struct buf b = {0};
	char chunk[8192];
	ssize_t got;
	int fd = open(n->log, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		while ((got = read(fd, chunk, sizeof(chunk))) > 0) {
			buf_add(&b, chunk, (size_t)got);
		}
		close(fd);
	}
	return buf_take(&b);
}

/* Find "msg=listening ... port=N" in a whole line of log text after offset. */
static int find_port(const char *log, size_t offset)
{
	const char *line = log + offset, *end, *p;

	while ((end = strchr(line, '\n')) != NULL) {
		if ((p = strstr(line, "msg=listening")) != NULL && p < end &&
		    (p = strstr(line, " port=")) != NULL && p < end) {
			return atoi(p + 6);
		}
		line = end + 1;
	}
	return 0;
}

/* Fork refexd on the net's config with its output going to logfd. */
static pid_t spawn_refexd(const struct net *n, int logfd)
{
	/* A test may run another build of refexd (the storage-fault one, tests/crash). */
	const char *path = getenv("REFEX_IT_REFEXD");
	char *argv[] = {path ? (char *)path : REFEXD_PATH, "--config", (char *)n->config, NULL};
	pid_t parent = getpid(), pid = fork();

	if (pid != 0) {
		return pid;
	}
	/* A test that dies mid-way must not leave its refexd behind. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent) {
		_exit(127);
	}
	child_exec(NULL, logfd, logfd, argv, environ);
	return -1;
}

/* Start refexd and wait for its ready line. */
int net_start(struct net *n)
{
	int64_t deadline = now_ms() + HARNESS_START_TIMEOUT_MS;
	int logfd = open(n->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK), pfd = -1, port = 0, wstatus;
	struct stat st;
	size_t offset;
	char events[4096];

	if (logfd < 0 || ino < 0 || fstat(logfd, &st) < 0 ||
	    inotify_add_watch(ino, n->log, IN_MODIFY) < 0) {
		goto fail;
	}
	offset = (size_t)st.st_size; /* earlier runs' lines are not this run's ready line */
	if ((n->pid = spawn_refexd(n, logfd)) < 0) {
		n->pid = 0;
		goto fail;
	}
	pfd = pidfd_open(n->pid, 0);
	while (port == 0) {
		char *log = net_read_log(n);
		struct pollfd p[2] = {{.fd = ino, .events = POLLIN}, {.fd = pfd, .events = POLLIN}};

		if (strlen(log) > offset) {
			port = find_port(log, offset);
		}
		free(log);
		if (port != 0) {
			break;
		}
		if (waitpid(n->pid, &wstatus, WNOHANG) == n->pid) {
			n->pid = 0; /* it exited: the reason is in its log */
			goto fail;
		}
		if (remaining_ms(deadline) == 0) {
			goto fail;
		}
		/* Woken by a write to the log or refexd exiting; without a pidfd, recheck often. */
		poll(p, pfd >= 0 ? 2 : 1, pfd >= 0 ? remaining_ms(deadline) : 10);
		while (read(ino, events, sizeof(events)) > 0) {
		}
	}
	n->port = port;
	close(logfd);
	close(ino);
	if (pfd >= 0) {
		close(pfd);
	}
	return 0;
fail:
	if (n->pid > 0) {
		kill(n->pid, SIGKILL);
		waitpid(n->pid, NULL, 0);
		n->pid = 0;
	}
	if (logfd >= 0) {
		close(logfd);
	}
	if (ino >= 0) {
		close(ino);
	}
	if (pfd >= 0) {
		close(pfd);
	}
	return -1;
}

/* Start refexd, failing the current test with its log if it does not start. */
void net_must_start(struct net *n)
{
	char *log;

	if (net_start(n) == 0) {
		return;
	}
	log = net_read_log(n);
	cr_assert_fail("refexd did not start:\n%s", log);
	free(log); /* not reached: the assertion ends the test */
}

/* Stop refexd with SIGTERM and wait for it. */
int net_stop(struct net *n)
{
	char *log;
	int rc;

	if (n->pid <= 0) {
		return -1;
	}
	kill(n->pid, SIGTERM);
	rc = wait_child(n->pid, STOP_TIMEOUT_MS);
	n->pid = 0;
	log = net_read_log(n);
	pass_on_sanitizer_report("refexd", log);
	free(log);
	return rc;
}

/* Start a second hub of n's and wait until both serve. */
struct net *net_start_second(struct net *n)
{
	struct net *s = net_second(n);

	net_must_start(s);
	/* Each serves once its database is open (the second's may wait for n's migration). */
	cr_assert(net_log_wait(n, "msg=started") && net_log_wait(s, "msg=started"),
	          "the hubs did not open their database");
	return s;
}

/* Kill refexd with SIGKILL and wait for it. */
void net_kill(struct net *n)
{
	cr_assert_gt(n->pid, 0, "refexd is not running");
	cr_assert_eq(kill(n->pid, SIGKILL), 0);
	waitpid(n->pid, NULL, 0);
	n->pid = 0;
}

/* nftw callback: remove one entry of the net directory. */
static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Stop any refexd and remove the net's directory. */
void net_free(struct net *n)
{
	if (n == NULL) {
		return;
	}
	if (n->pid > 0) {
		net_stop(n);
	}
	net_pg_database_drop(n);
	if (n->dir[0] != '\0' && !n->second && getenv("REFEX_IT_KEEP") == NULL) {
		nftw(n->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
	free(n);
}

/* Stop refexd and expect it to exit 0. */
void net_expect_clean_stop(struct net *n)
{
	int rc = net_stop(n);
	char *log;

	if (rc != 0) {
		log = net_read_log(n);
		cr_expect_fail("refexd exited %d on SIGTERM; its log:\n%s", rc, log);
		free(log);
	}
}

/* Stop refexd, saying so if it did not exit cleanly, then free the net. */
void net_teardown(struct net *n)
{
	char *log;
	int rc;

	if (n != NULL && n->pid > 0 && (rc = net_stop(n)) != 0) {
		log = net_read_log(n);
		fprintf(stderr, "harness: refexd exited %d on SIGTERM; its log:\n%s\n", rc, log);
		free(log);
	}
	net_free(n);
}

/* Wait (bounded) until refexd's log contains text. */
bool net_log_wait(const struct net *n, const char *text)
{
	return net_log_wait_count(n, text, 1);
}

/* Wait until refexd's log contains text count times. */
bool net_log_wait_count(const struct net *n, const char *text, int count)
{
	for (int waited = 0; waited < HARNESS_START_TIMEOUT_MS; waited += 10) {
		if (net_log_count(n, text) >= count) {
			return true;
		}
		poll(NULL, 0, 10);
	}
	return false;
}

/* Count the times text occurs in refexd's log so far. */
int net_log_count(const struct net *n, const char *text)
{
	char *log = net_read_log(n), *s = log;
	int count = 0;

	while ((s = strstr(s, text)) != NULL) {
		count++;
		s += strlen(text);
	}
	free(log);
	return count;
}

/* Make a second, unrelated CA and issue a north-advice certificate from it. */
const char *net_foreign_certificate(const struct net *n)
{
	static char prefix[NET_PATH_MAX + 16];
	char dir[NET_PATH_MAX + 16];
	struct run_result r;

	snprintf(dir, sizeof(dir), "%s/other-ca", n->dir);
	snprintf(prefix, sizeof(prefix), "%s/impostor", n->dir);
	run_refex_ca(&r, "init", "--dir", dir, "--name", "Some Other Network", NULL);
	cr_assert_eq(r.status, 0, "refex-ca init failed (%d): %s", r.status, r.err);
	run_result_free(&r);
	run_refex_ca(&r, "issue", "--dir", dir, "--agency", "north-advice", "--holder", "Mallory",
	             "--out", prefix, NULL);
	cr_assert_eq(r.status, 0, "refex-ca issue failed (%d): %s", r.status, r.err);
	run_result_free(&r);
	return prefix;
}

/* Return the port of the last "msg=WHAT ... port=N" line in refexd's log, or 0. */
int net_logged_port(const struct net *n, const char *what)
{
	char *log = net_read_log(n), *p = log, *hit = NULL, needle[64];
	int port = 0;

	snprintf(needle, sizeof(needle), "msg=%s ", what);
	while ((p = strstr(p, needle)) != NULL) {
		hit = p++;
	}
	if (hit != NULL && (p = strstr(hit, " port=")) != NULL) {
		port = atoi(p + 6);
	}
	free(log);
	return port;
}
