/* refex help, refex --help and refex itself: the commands from the table, and the options
 * every command takes. */
#include <stdio.h>

#include "cmd.h"

/* Print the commands and global options on stdout. */
void cmd_help_all(void)
{
	cmd_usage(&cmd_main_entry, stdout);
	printf("\nrefex refers clients between partner agencies through the refexd hub.\n"
	       "\ncommands:\n");
	for (size_t i = 0; cmd_table[i]; i++) {
		printf("  %-10s %s\n", cmd_table[i]->name, cmd_table[i]->summary);
	}
	printf("\nglobal options (before or after the command):\n"
	       "  --config FILE       config file (default: $REFEX_CONFIG, else\n"
	       "                      ~/.config/refex/config)\n"
	       "  --server HOST:PORT[,HOST:PORT...]\n"
	       "                      the hub to connect to, or several: tried in order,\n"
	       "                      one that cannot be reached passed over for the next\n"
	       "                      (config: server =)\n"
	       "  --cert FILE         your certificate (config: certificate =)\n"
	       "  --key FILE          your private key (config: key =)\n"
	       "  --ca FILE           the network CA certificate (config: ca =)\n"
	       "  -h, --help          show this help, or a command's with 'refex COMMAND --help'\n"
	       "  -V, --version       show the version\n"
	       "\nconfig only: crl = FILE, a CRL from your admin to pin; refex keeps the newest\n"
	       "CRL it has seen in ~/.local/state/refex and refuses a hub it revokes.\n"
	       "\nforms: refex learns each form from the hub and caches it per hub in\n"
	       "~/.cache/refex (or $XDG_CACHE_HOME/refex); remove it to clear the cache.\n"
	       "\nexit status: 0 done, 1 refused by the server, 2 usage or input error,\n"
	       "3 could not connect (or TLS failed, or the hub's certificate is revoked).\n");
}

/* List the commands, or show the named command's help. */
static int cmd_help_exec(struct cmd_ctx *ctx, const struct args *a)
{
	const char *name = args_operand(a, 0);
	const struct cmd_entry *e;

	if (!name) {
		cmd_help_all();
		return EXIT_DONE;
	}
	if (!(e = cmd_find(name))) {
		return cmd_usage_error(ctx, "unknown command '%s'", name);
	}
	cmd_help(e);
	return EXIT_DONE;
}

/* refex itself: the global options and -V before the command's name. */
const struct cmd_entry cmd_main_entry = {
    .name = NULL,
    .usage = "[GLOBAL OPTIONS] COMMAND [ARGS]",
    .summary = "refer clients between partner agencies through the refexd hub",
    .args = {"version|V", 0, -1, {NULL}},
    .in_order = 1,
};

const struct cmd_entry cmd_help_entry = {
    .name = "help",
    .summary = "list the commands, or show one's help",
    .usage = "[COMMAND]",
    .args = {NULL, 0, 1, {NULL}},
    .options = NULL,
    .notes = "'refex help COMMAND' is 'refex COMMAND --help'.\n",
    .exec = cmd_help_exec,
};
