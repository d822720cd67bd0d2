/* Running programs for the harness: fork and exec with a deadline, capturing their output. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_private.h"

/* Append n bytes of data to b, keeping it NUL-terminated. Returns 0 or -1. */
int buf_add(struct buf *b, const char *data, size_t n)
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

/* Hand over b's text (malloc'd; "" when empty) and leave b empty. */
char *buf_take(struct buf *b)
{
	char *p = b->p ? b->p : strdup("");

	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

/* Return the monotonic clock in milliseconds. */
int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Return the milliseconds left until deadline (0 once it has passed). */
int remaining_ms(int64_t deadline)
{
	int64_t left = deadline - now_ms();

	return left < 0 ? 0 : (int)left;
}

/* Turn a wait status into an exit code, 128 + signal for a killed child. */
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
int wait_child(pid_t pid, int timeout_ms)
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

/* In a forked child: set up stdin (/dev/null), stdout and stderr, and exec argv. */
void child_exec(const char *cwd, int out, int err, char *const argv[], char **envp)
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
void pass_on_sanitizer_report(const char *who, const char *text)
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

/* Run argv in cwd (NULL: here), capturing its output, within HARNESS_RUN_TIMEOUT_MS. */
int run_in(struct run_result *r, const char *cwd, char *const argv[], char *const env[])
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
