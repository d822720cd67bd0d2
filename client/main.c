/* refex: the caseworkers' and staff's command-line client. */
#include <signal.h>
#include <stdio.h>

#include "cmd.h"
#include "hubforms.h"

/* Take the global options, then run the named command with the rest. */
int main(int argc, char **argv)
{
	struct cmd_ctx ctx = {0};
	const struct cmd_entry *e;
	struct args a;
	int rc;

	/* A server that goes away must be an error message, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	argv[0] = "refex"; /* messages name the program, not its path */
	switch (args_parse(&cmd_main_entry, argc, argv, &a)) {
	case ARGS_HELP:
		cmd_help_all();
		return EXIT_DONE;
	case ARGS_BAD:
		return EXIT_USAGE;
	case ARGS_OK:
		break;
	}
	if (args_has(&a, "version")) {
		printf("refex %s\n", REFEX_VERSION);
		rc = EXIT_DONE;
	} else if (a.argc == 0) {
		rc = cmd_entry_usage_error(&cmd_main_entry, "which command?");
	} else if (!(e = cmd_find(a.argv[0]))) {
		fprintf(stderr,
		        "refex: unknown command '%s'; run 'refex --help' for the commands\n",
		        a.argv[0]);
		rc = EXIT_USAGE;
	} else {
		cmd_take_globals(&ctx, &a);
		rc = cmd_run(&ctx, e, a.argc, a.argv);
	}
	args_free(&a);
	cmd_close(&ctx);
	hubforms_free(&ctx);
	return rc;
}
