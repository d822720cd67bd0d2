/* refex running in the background, read line by line while the test goes on. */
#include "harness_bg.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness_private.h"

#define BG_ARGV_MAX 64
#define BG_ENV_MAX  512

struct bg {
	pid_t pid;
	int out, err; /* read ends, -1 once closed */
	struct buf obuf, ebuf;
	size_t taken; /* bytes of obuf already handed out as lines */
	int status;
};

/* The environment with the harness's own REFEX_CONFIG and HOME, so no user config is read
 * and refex keeps its state (the CRL) in the net directory. */
static char **bg_env(const struct net *n, char *config, size_t clen, char *home, size_t hlen)
{
	static char *envp[BG_ENV_MAX];
	size_t k = 0;

	snprintf(config, clen, "REFEX_CONFIG=%s", n->empty);
	snprintf(home, hlen, "HOME=%s", n->dir);
	for (size_t i = 0; environ[i] && k < BG_ENV_MAX - 3; i++) {
		/* refex keeps its state and cache under HOME, the net's directory, not the user's. */
		if (strncmp(environ[i], "REFEX_CONFIG=", 13) != 0 &&
		    strncmp(environ[i], "HOME=", 5) != 0 &&
		    strncmp(environ[i], "XDG_STATE_HOME=", 15) != 0 &&
		    strncmp(environ[i], "XDG_CACHE_HOME=", 15) != 0) {
			envp[k++] = environ[i];
		}
	}
	envp[k++] = config;
	envp[k++] = home;
	envp[k] = NULL;
	return envp;
}

/* Start refex in the background. */
struct bg *bg_refex(const struct net *n, const char *server, const char *prefix, ...)
{
	char addr[64], cert[NET_PATH_MAX + 8], key[NET_PATH_MAX + 8];
	char config[NET_PATH_MAX + 16], home[NET_PATH_MAX + 8];
	char *argv[BG_ARGV_MAX], **envp;
	int po[2], pe[2];
	size_t argc = 0;
	struct bg *b = calloc(1, sizeof(*b));
	const char *a;
	va_list ap;

	cr_assert_not_null(b);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", n->port);
	snprintf(cert, sizeof(cert), "%s.crt", prefix);
	snprintf(key, sizeof(key), "%s.key", prefix);
	argv[argc++] = REFEX_PATH;
	argv[argc++] = "--server";
	argv[argc++] = (char *)(server ? server : addr);
	argv[argc++] = "--cert";
	argv[argc++] = cert;
	argv[argc++] = "--key";
	argv[argc++] = key;
	argv[argc++] = "--ca";
	argv[argc++] = (char *)n->ca;
	va_start(ap, prefix);
	while ((a = va_arg(ap, const char *)) != NULL && argc < BG_ARGV_MAX - 1) {
		argv[argc++] = (char *)a;
	}
	va_end(ap);
	argv[argc] = NULL;
	envp = bg_env(n, config, sizeof(config), home, sizeof(home));
	cr_assert_eq(pipe2(po, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(pe, O_CLOEXEC), 0);
	b->pid = fork();
	cr_assert_geq(b->pid, 0, "fork: %s", strerror(errno));
	if (b->pid == 0) {
		child_exec(n->dir, po[1], pe[1], argv, envp);
	}
	close(po[1]);
	close(pe[1]);
	b->out = po[0];
	b->err = pe[0];
	b->status = -1;
	return b;
}

/* Read what is ready on either pipe, waiting at most timeout_ms. Returns 0, or -1 when both
 * pipes are closed. */
static int bg_pump(struct bg *b, int timeout_ms)
{
	struct pollfd p[2] = {{.fd = b->out, .events = POLLIN}, {.fd = b->err, .events = POLLIN}};
	int *fds[2] = {&b->out, &b->err};
	struct buf *dst[2] = {&b->obuf, &b->ebuf};
	char chunk[4096];

	if (b->out < 0 && b->err < 0) {
		return -1;
	}
	if (poll(p, 2, timeout_ms) <= 0) {
		return 0;
	}
	for (int i = 0; i < 2; i++) {
		ssize_t got;

		if (p[i].fd < 0 || p[i].revents == 0) {
			continue;
		}
		got = read(p[i].fd, chunk, sizeof(chunk));
		if (got > 0) {
			buf_add(dst[i], chunk, (size_t)got);
		} else if (got == 0 || errno != EINTR) {
			close(p[i].fd);
			*fds[i] = -1;
		}
	}
	return 0;
}

/* Return the next line of stdout, or NULL. */
char *bg_line(struct bg *b, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	char *start, *nl, *line;

	for (;;) {
		start = b->obuf.p ? b->obuf.p + b->taken : NULL;
		if (start && (nl = strchr(start, '\n')) != NULL) {
			line = strndup(start, (size_t)(nl - start));
			b->taken += (size_t)(nl - start) + 1;
			return line;
		}
		if (remaining_ms(deadline) == 0 || bg_pump(b, remaining_ms(deadline)) < 0) {
			return NULL;
		}
	}
}

/* Count the times text occurs in s. */
static int count_of(const char *s, const char *text)
{
	int n = 0;

	while (s && (s = strstr(s, text)) != NULL) {
		n++;
		s += strlen(text);
	}
	return n;
}

/* Wait until stderr holds text count times. */
bool bg_err_wait(struct bg *b, const char *text, int count, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	while (count_of(b->ebuf.p, text) < count) {
		if (remaining_ms(deadline) == 0 || bg_pump(b, remaining_ms(deadline)) < 0) {
			return count_of(b->ebuf.p, text) >= count;
		}
	}
	return true;
}

/* What refex has written on stderr so far. */
const char *bg_err(struct bg *b)
{
	return b->ebuf.p ? b->ebuf.p : "";
}

/* Send sig, wait for refex to end and collect the rest of its output. */
int bg_stop(struct bg *b, int sig)
{
	int64_t deadline = now_ms() + HARNESS_RUN_TIMEOUT_MS;

	if (b->pid <= 0) {
		return b->status;
	}
	kill(b->pid, sig);
	while (bg_pump(b, remaining_ms(deadline)) == 0 && remaining_ms(deadline) > 0) {
	}
	b->status = wait_child(b->pid, remaining_ms(deadline) + 1000);
	b->pid = 0;
	pass_on_sanitizer_report("refex (background)", b->ebuf.p);
	return b->status;
}

/* Stop refex if it runs and free. */
void bg_free(struct bg *b)
{
	if (b == NULL) {
		return;
	}
	if (b->pid > 0) {
		bg_stop(b, SIGKILL);
	}
	if (b->out >= 0) {
		close(b->out);
	}
	if (b->err >= 0) {
		close(b->err);
	}
	free(b->obuf.p);
	free(b->ebuf.p);
	free(b);
}
