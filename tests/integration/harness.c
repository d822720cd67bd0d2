/* The integration test harness: throwaway partnerships, real refexd, real refex, raw TLS. */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define ARGV_MAX        64
#define RAW_FRAME_MAX   (16u * 1024u * 1024u)
#define STOP_TIMEOUT_MS 20000

/* A growing byte buffer for what a child writes. */
struct buf {
	char *p;
	size_t len, cap;
};

static int buf_add(struct buf *b, const char *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1) {
			cap *= 2;
		}
		if ((p = realloc(b->p, cap)) == NULL) {
			return -1;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static char *buf_take(struct buf *b)
{
	char *p = b->p ? b->p : strdup("");

	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(int64_t deadline)
{
	int64_t left = deadline - now_ms();

	return left < 0 ? 0 : (int)left;
}

static int status_code(int wstatus)
{
	if (WIFEXITED(wstatus)) {
		return WEXITSTATUS(wstatus);
	}
	if (WIFSIGNALED(wstatus)) {
		return 128 + WTERMSIG(wstatus);
	}
	return -1;
}

/* Wait for pid to end within timeout_ms; kill it if it does not. Returns its status code. */
static int wait_child(pid_t pid, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	int pfd = pidfd_open(pid, 0), wstatus = 0;
	pid_t got;

	for (;;) {
		got = waitpid(pid, &wstatus, WNOHANG);
		if (got == pid) {
			break;
		}
		if (got < 0 && errno != EINTR) {
			wstatus = -1;
			break;
		}
		if (remaining_ms(deadline) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &wstatus, 0);
			if (pfd >= 0) {
				close(pfd);
			}
			return -1;
		}
		if (pfd >= 0) {
			struct pollfd p = {.fd = pfd, .events = POLLIN};

			poll(&p, 1, remaining_ms(deadline));
		} else {
			/* No pidfd (old kernel): check again shortly, still bounded by the
			 * deadline. */
			poll(NULL, 0, 5);
		}
	}
	if (pfd >= 0) {
		close(pfd);
	}
	return wstatus == -1 ? -1 : status_code(wstatus);
}

/* The environment with env's entries replacing any of the same name. */
static char **env_merge(char *const env[])
{
	size_t n = 0, m = 0, k = 0;
	char **out;

	while (environ[n]) {
		n++;
	}
	while (env && env[m]) {
		m++;
	}
	if ((out = calloc(n + m + 1, sizeof(*out))) == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		bool replaced = false;

		for (size_t j = 0; j < m; j++) {
			size_t len = strcspn(env[j], "=");

			if (strncmp(environ[i], env[j], len) == 0 && environ[i][len] == '=') {
				replaced = true;
			}
		}
		if (!replaced) {
			out[k++] = environ[i];
		}
	}
	for (size_t j = 0; j < m; j++) {
		out[k++] = env[j];
	}
	return out;
}

static void child_exec(const char *cwd, int out, int err, char *const argv[], char **envp)
{
	int devnull = open("/dev/null", O_RDONLY);

	if (devnull >= 0) {
		dup2(devnull, STDIN_FILENO);
	}
	dup2(out, STDOUT_FILENO);
	dup2(err, STDERR_FILENO);
	if (cwd != NULL && chdir(cwd) < 0) {
		_exit(127);
	}
	execve(argv[0], argv, envp);
	dprintf(STDERR_FILENO, "harness: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Drain both pipes until both close or the deadline passes. Returns 0, or -1 on timeout. */
static int capture(int out, int err, struct buf *bo, struct buf *be, int64_t deadline)
{
	struct pollfd p[2] = {{.fd = out, .events = POLLIN}, {.fd = err, .events = POLLIN}};
	struct buf *dst[2] = {bo, be};
	char chunk[8192];

	while (p[0].fd >= 0 || p[1].fd >= 0) {
		int r = poll(p, 2, remaining_ms(deadline));

		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			return -1;
		}
		for (int i = 0; i < 2; i++) {
			ssize_t n;

			if (p[i].fd < 0 || p[i].revents == 0) {
				continue;
			}
			n = read(p[i].fd, chunk, sizeof(chunk));
			if (n > 0) {
				buf_add(dst[i], chunk, (size_t)n);
			} else if (n == 0 || errno != EINTR) {
				p[i].fd = -1;
			}
		}
	}
	return 0;
}

/* Copy a sanitizer report a child wrote to our stderr, where ctest looks for one: the
 * child's own output is captured (refex) or goes to a log file (refexd). */
static void pass_on_sanitizer_report(const char *who, const char *text)
{
	static const char *const marks[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
	                                    "runtime error:"};

	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		if (text != NULL && strstr(text, marks[i]) != NULL) {
			fprintf(stderr, "harness: sanitizer report from %s:\n%s\n", who, text);
			return;
		}
	}
}

static int run_in(struct run_result *r, const char *cwd, char *const argv[], char *const env[])
{
	int po[2] = {-1, -1}, pe[2] = {-1, -1};
	struct buf bo = {0}, be = {0};
	int64_t deadline = now_ms() + HARNESS_RUN_TIMEOUT_MS;
	char **envp = env_merge(env);
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	if (envp == NULL || pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
		goto done;
	}
	if ((pid = fork()) < 0) {
		goto done;
	}
	if (pid == 0) {
		child_exec(cwd, po[1], pe[1], argv, envp);
	}
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;
	if (capture(po[0], pe[0], &bo, &be, deadline) < 0) {
		kill(pid, SIGKILL);
		buf_add(&be, "\nharness: killed after the run timeout\n", 39);
	}
	r->status = wait_child(pid, remaining_ms(deadline) + 1000);
done:
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0) {
			close(po[i]);
		}
		if (pe[i] >= 0) {
			close(pe[i]);
		}
	}
	free(envp);
	r->out = buf_take(&bo);
	r->err = buf_take(&be);
	pass_on_sanitizer_report(argv[0], r->err);
	return r->status;
}

/* Run argv[0] with argv, capturing stdout and stderr. */
int run(struct run_result *r, char *const argv[], char *const env[])
{
	return run_in(r, NULL, argv, env);
}

/* Free what a run captured. */
void run_result_free(struct run_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

/* Parse a run's stdout as JSON. */
json_t *run_json(const struct run_result *r)
{
	json_error_t e;

	return r->out ? json_loads(r->out, 0, &e) : NULL;
}

/* Return a run's stdout without its trailing newline. */
const char *run_line(struct run_result *r)
{
	size_t n = r->out ? strlen(r->out) : 0;

	while (n > 0 && (r->out[n - 1] == '\n' || r->out[n - 1] == '\r')) {
		r->out[--n] = '\0';
	}
	return r->out ? r->out : "";
}

/* Run refex as the holder of a certificate, in the net directory, never reading a user config. */
int run_refex(struct run_result *r, const struct net *n, const char *prefix, ...)
{
	char server[64], cert[NET_PATH_MAX + 8], key[NET_PATH_MAX + 8];
	char env_config[NET_PATH_MAX + 16], env_home[NET_PATH_MAX + 8];
	char *env[] = {env_config, env_home, NULL};
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
	        "database = refex.db\n"
	        "log_level = info\n"
	        "\n%s",
	        extra ? extra : NET_DEFAULT_AGENCIES);
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
	cr_assert_eq(net_write_config(n, NULL), 0, "cannot write %s", n->config);
	return n;
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

static pid_t spawn_refexd(const struct net *n, int logfd)
{
	char *argv[] = {REFEXD_PATH, "--config", (char *)n->config, NULL};
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
	if (n->dir[0] != '\0' && getenv("REFEX_IT_KEEP") == NULL) {
		nftw(n->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
	free(n);
}

/* Stop refexd and expect it to exit 0. */
void net_expect_clean_stop(struct net *n)
{
	int rc = net_stop(n);

	cr_expect_eq(rc, 0, "refexd exited %d on SIGTERM; its log:\n%s", rc, net_read_log(n));
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

/* ---- The raw TLS client ---- */

struct raw {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	bool closed;
};

/* Wait for the socket as an SSL call asked (want read or write). Returns 0, or -1 on timeout. */
static int raw_wait(struct raw *c, int err, int64_t deadline)
{
	struct pollfd p = {.fd = c->fd, .events = err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN};
	int r;

	do {
		r = poll(&p, 1, remaining_ms(deadline));
	} while (r < 0 && errno == EINTR);
	return r > 0 ? 0 : -1;
}

static SSL_CTX *raw_ctx(const char *prefix, const char *ca)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char cert[NET_PATH_MAX + 8], key[NET_PATH_MAX + 8];

	if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (prefix != NULL) {
		snprintf(cert, sizeof(cert), "%s.crt", prefix);
		snprintf(key, sizeof(key), "%s.key", prefix);
		if (SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
			goto fail;
		}
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static int raw_tcp(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0) {
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Connect to refexd and finish our side of the TLS handshake. */
struct raw *raw_connect(const struct net *n, const char *prefix, const char *ca)
{
	int64_t deadline = now_ms() + HARNESS_READ_TIMEOUT_MS;
	struct raw *c = calloc(1, sizeof(*c));
	int r;

	signal(SIGPIPE, SIG_IGN);
	if (c == NULL) {
		return NULL;
	}
	c->fd = -1;
	if ((c->ctx = raw_ctx(prefix, ca ? ca : n->ca)) == NULL ||
	    (c->ssl = SSL_new(c->ctx)) == NULL || (c->fd = raw_tcp(n->port)) < 0 ||
	    !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), "127.0.0.1") ||
	    SSL_set_fd(c->ssl, c->fd) != 1) {
		goto fail;
	}
	while ((r = SSL_connect(c->ssl)) != 1) {
		int e = SSL_get_error(c->ssl, r);

		if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) ||
		    raw_wait(c, e, deadline) < 0) {
			goto fail;
		}
	}
	return c;
fail:
	ERR_clear_error();
	c->closed = true;
	raw_free(c);
	return NULL;
}

/* Send bytes as they are. */
int raw_send_bytes(struct raw *c, const void *buf, size_t len)
{
	int64_t deadline = now_ms() + HARNESS_READ_TIMEOUT_MS;
	int r;

	if (len == 0) {
		return 0;
	}
	while ((r = SSL_write(c->ssl, buf, (int)len)) <= 0) {
		int e = SSL_get_error(c->ssl, r);

		if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) ||
		    raw_wait(c, e, deadline) < 0) {
			ERR_clear_error();
			return -1;
		}
	}
	return 0;
}

/* Send a request as one frame. */
int raw_send_request(struct raw *c, const Refex__Request *req)
{
	size_t n = refex__request__get_packed_size(req);
	uint8_t *frame = malloc(n + 4);
	int rc;

	if (frame == NULL) {
		return -1;
	}
	frame[0] = (uint8_t)(n >> 24);
	frame[1] = (uint8_t)(n >> 16);
	frame[2] = (uint8_t)(n >> 8);
	frame[3] = (uint8_t)n;
	refex__request__pack(req, frame + 4);
	rc = raw_send_bytes(c, frame, n + 4);
	free(frame);
	return rc;
}

/* Read exactly len bytes. Returns 0, -1 on close or error, -2 on timeout. */
static int raw_read_exact(struct raw *c, uint8_t *buf, size_t len, int64_t deadline)
{
	size_t got = 0;

	while (got < len) {
		int r = SSL_read(c->ssl, buf + got, (int)(len - got));
		int e;

		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (raw_wait(c, e, deadline) < 0) {
				return -2;
			}
			continue;
		}
		ERR_clear_error();
		c->closed = true;
		return -1;
	}
	return 0;
}

/* Read one ServerMessage. */
Refex__ServerMessage *raw_read_message(struct raw *c, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	uint8_t hdr[4], *payload;
	Refex__ServerMessage *m;
	uint32_t len;

	if (c->closed || raw_read_exact(c, hdr, sizeof(hdr), deadline) < 0) {
		return NULL;
	}
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (len == 0 || len > RAW_FRAME_MAX || (payload = malloc(len)) == NULL) {
		return NULL;
	}
	if (raw_read_exact(c, payload, len, deadline) < 0) {
		free(payload);
		return NULL;
	}
	m = refex__server_message__unpack(NULL, len, payload);
	free(payload);
	return m;
}

/* Send a request and wait for its response, skipping events. */
Refex__ServerMessage *raw_call(struct raw *c, const Refex__Request *req)
{
	int64_t deadline = now_ms() + HARNESS_READ_TIMEOUT_MS;
	Refex__ServerMessage *m;

	if (raw_send_request(c, req) < 0) {
		return NULL;
	}
	while ((m = raw_read_message(c, remaining_ms(deadline))) != NULL) {
		if (m->body_case == REFEX__SERVER_MESSAGE__BODY_RESPONSE &&
		    (m->response->id == req->id || !m->response->has_id)) {
			return m;
		}
		refex__server_message__free_unpacked(m, NULL);
	}
	return NULL;
}

/* Say Hello. */
int raw_hello(struct raw *c)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__Hello hello = REFEX__HELLO__INIT;
	Refex__ServerMessage *m;
	int rc = -1;

	hello.has_protocol_version = 1;
	hello.protocol_version = REFEX__PROTOCOL__PROTOCOL_VERSION;
	hello.program = "refex-it/0.1.0";
	req.has_id = 1;
	req.id = 1;
	req.body_case = REFEX__REQUEST__BODY_HELLO;
	req.hello = &hello;
	if ((m = raw_call(c, &req)) != NULL) {
		Refex__Response *r = m->response;

		if (r->id == 1 && r->status && r->status->code == REFEX__STATUS_CODE__STATUS_OK &&
		    r->body_case == REFEX__RESPONSE__BODY_HELLO) {
			rc = 0;
		}
		refex__server_message__free_unpacked(m, NULL);
	}
	return rc;
}

/* Drain the connection until the server closes it. */
bool raw_wait_closed(struct raw *c, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	uint8_t scratch[4096];

	while (!c->closed) {
		int r = SSL_read(c->ssl, scratch, sizeof(scratch));
		int e;

		if (r > 0) {
			continue;
		}
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (raw_wait(c, e, deadline) < 0) {
				return false;
			}
			continue;
		}
		ERR_clear_error();
		c->closed = true;
	}
	return true;
}

/* Close and free a raw client. */
void raw_free(struct raw *c)
{
	if (c == NULL) {
		return;
	}
	if (c->ssl != NULL && !c->closed) {
		SSL_shutdown(c->ssl); /* best effort: a non-blocking close_notify */
	}
	ERR_clear_error();
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
	if (c->fd >= 0) {
		close(c->fd);
	}
	free(c);
}
