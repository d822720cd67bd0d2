/* refex: the caseworkers' and staff's command-line client. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "hubforms.h"

#define LIST_OPTIONS                                                                               \
	"  --state STATE       only referrals in this state: sent, received, accepted,\n"          \
	"                      declined, completed or withdrawn\n"                                 \
	"  --limit N           at most N referrals (default: the server's page size)\n"            \
	"  --page-token TOKEN  the next page, as printed after the previous one\n"                 \
	"  --overdue           only referrals not accepted or declined by their due time\n"        \
	"  --client-id ID      only referrals that share stored client ID\n"                       \
	"  --json              print the page as JSON (canonical protobuf mapping)\n"

#define LIST_NOTES                                                                                 \
	"DUE is when the receiver should accept or decline by (see the form's\n"                   \
	"acknowledge_within in the hub's configuration); a referral still waiting after it\n"      \
	"shows OVERDUE next to its state.\n"

/* For the commands that answer with a referral. */
#define JSON_REFERRAL_HELP                                                                         \
	"  --json              print the referral the hub answered with as JSON (canonical\n"      \
	"                      protobuf mapping): its id, state, ...\n"

/* For the commands that change something. */
#define RETRY_NOTES                                                                                \
	"If the connection to the hub is lost before its answer, refex sends the request\n"        \
	"again with the same idempotency key (4 attempts over about 10 s): it takes effect\n"      \
	"once. If every attempt fails, refex prints the key: run the same command with\n"          \
	"--idempotency-key KEY to find out safely whether it was done.\n"

static const struct cmd_entry commands[] = {
    {
        .name = "submit",
        .usage = "--to AGENCY --form FORM (--client-id ID | --client CLIENT.json "
                 "[--consent CONSENT.json]) --data FORM.json [--json] [--idempotency-key KEY] "
                 "[--verbose]",
        .summary = "refer a client to a partner agency on an agreed form",
        .options =
            "  --to AGENCY         the receiving agency's id (see 'refex partners')\n"
            "  --form FORM         the agreed form (see 'refex forms')\n"
            "  --client-id ID      a client record the hub keeps for your agency\n"
            "                      ('refex client add'); needs a live consent or other\n"
            "                      basis covering AGENCY ('refex consent add')\n"
            "  --client FILE       the client record, JSON ('refex template client'):\n"
            "                      the hub stores it as a new client of your agency\n"
            "  --data FILE         the form's answers, JSON ('refex template FORM')\n"
            "  --consent FILE      the client's consent to share with AGENCY, JSON\n"
            "                      ('refex template consent')\n" JSON_REFERRAL_HELP CMD_CHANGE_HELP,
        .notes = "Prints the new referral's id on its own line. With --client FILE it warns (on\n"
                 "stderr) about your clients with the same name and date of birth: the record\n"
                 "is stored as a new client all the same; refer a client you hold with\n"
                 "--client-id.\n\n" RETRY_NOTES,
        .exec = cmd_submit,
    },
    {
        .name = "inbox",
        .usage = "[--state STATE] [--overdue | --client-id ID] [--limit N] "
                 "[--page-token TOKEN] [--json]",
        .summary = "list referrals sent to your agency, newest first",
        .options = LIST_OPTIONS,
        .notes = LIST_NOTES,
        .exec = cmd_inbox,
    },
    {
        .name = "sent",
        .usage = "[--state STATE] [--overdue | --client-id ID] [--limit N] "
                 "[--page-token TOKEN] [--json]",
        .summary = "list referrals your agency has sent, newest first",
        .options = LIST_OPTIONS,
        .notes = LIST_NOTES,
        .exec = cmd_sent,
    },
    {
        .name = "show",
        .usage = "ID [--json]",
        .summary = "show a referral: client, consent, answers and history",
        .options = "  --json              print the referral as JSON, form answers decoded\n",
        .notes = "Showing a referral in your inbox for the first time marks it received.\n",
        .exec = cmd_show,
    },
    {
        .name = "forward",
        .usage = "ID --to AGENCY --form FORM [--data FILE] [--consent FILE] [--json]",
        .summary = "refer the client of a referral you received on to another agency",
        .options = "  --to AGENCY         the partner to refer the client to\n"
                   "  --form FORM         the agreed form for it\n"
                   "  --consent FILE      the client's consent to share with AGENCY (JSON); only\n"
                   "                      for a referral without a stored client\n"
                   "  --data FILE         answers the hub cannot fill in (JSON; may be "
                   "partial)\n" JSON_REFERRAL_HELP CMD_CHANGE_HELP,
        .notes = "The client record travels with the new referral. The hub fills the form in\n"
                 "from the answers already given (fields of the same name and type in the\n"
                 "referral and the client record); if anything is still missing it names\n"
                 "exactly those fields. `refex template FORM --from ID` prints what it would\n"
                 "fill in. The new referral records ID as its parent: show ID lists it.\n"
                 "A stored client (show ID says 'stored client') goes on as the same record,\n"
                 "still its owner's, and only if a consent or lawful basis the owner\n"
                 "recorded covers AGENCY ('refex consent list CLIENT_ID'); ask the owner to\n"
                 "record one if not.\n",
        .exec = cmd_forward,
    },
    {
        .name = "client",
        .usage = "add CLIENT.json | update ID CLIENT.json | show ID | list [--search TEXT] |"
                 " erase ID --reason TEXT [--json]",
        .summary = "client records the hub keeps for your agency: add, update, show, list, erase",
        .options = "  --search TEXT       list: only clients whose name contains TEXT (any case)\n"
                   "  --reason TEXT       erase: why the record is erased (kept on record)\n"
                   "  --json              print the hub's answer as JSON: the client (add,\n"
                   "                      update, show, erase) or the list\n",
        .notes = "add prints the new client's id; it warns (on stderr) about your clients with\n"
                 "the same name and date of birth: both are kept, nothing is merged.\n"
                 "update makes a new version; referrals keep the version they shared.\n"
                 "list shows your own clients and those other agencies referred to you.\n"
                 "erase (your own clients only) removes the record and its copy in every\n"
                 "referral; the agencies that held it see when and by whom it was erased.\n",
        .exec = cmd_client,
    },
    {
        .name = "consent",
        .usage = "add CLIENT_ID (--to AGENCY | --any-partner) (--purpose TEXT --method "
                 "verbal|written|digital | --basis BASIS --reason TEXT) [--expires DATE] |"
                 " list CLIENT_ID | withdraw CONSENT_ID [--reason TEXT] [--json]",
        .summary = "record, list or withdraw a client's consent (or another lawful basis) to share",
        .options = "  --to AGENCY         the partner it covers\n"
                   "  --any-partner       it covers every partner agency\n"
                   "  --purpose TEXT      what the client agreed to share their record for\n"
                   "  --method METHOD     how they agreed: verbal, written or digital\n"
                   "  --basis BASIS       not consent: safeguarding, legal-obligation or\n"
                   "                      vital-interests (needs --reason)\n"
                   "  --reason TEXT       why (another basis), or why it is withdrawn\n"
                   "  --expires DATE      the last day it covers, YYYY-MM-DD\n"
                   "  --json              print the hub's answer as JSON: the consent (add,\n"
                   "                      withdraw) or the list\n",
        .notes = "add prints the consent's id. The hub records who recorded it (your\n"
                 "certificate's agency and holder) and when. Sharing a client with\n"
                 "'refex submit --client-id' needs a live consent or basis covering the\n"
                 "recipient; withdraw takes effect at once: the client is not shared under\n"
                 "it again, and the agencies that hold the record are shown it was withdrawn.\n",
        .exec = cmd_consent,
    },
    {
        .name = "audit",
        .usage = "(--referral ID | --client-id ID) [--json]",
        .summary = "show who read or changed a referral or a client record, and when",
        .options = "  --referral ID       the referral (yours: sent or received)\n"
                   "  --client-id ID      the client record (yours, or referred to you: your\n"
                   "                      agency's own entries); --client ID also works\n"
                   "  --json              print the entries as JSON\n",
        .notes = "Every full read (show) and every change of a referral or client record is\n"
                 "recorded by the hub with the agency and holder of the certificate used.\n",
        .exec = cmd_audit,
    },
    {
        .name = "accept",
        .usage = "ID [--json] [--idempotency-key KEY] [--verbose]",
        .summary = "accept a referral sent to your agency",
        .options = JSON_REFERRAL_HELP CMD_CHANGE_HELP,
        .notes = RETRY_NOTES,
        .exec = cmd_accept,
    },
    {
        .name = "decline",
        .usage = "ID --reason TEXT [--json] [--idempotency-key KEY] [--verbose]",
        .summary = "decline a referral sent to your agency, saying why",
        .options = "  --reason TEXT       why your agency cannot take it (told to the "
                   "sender)\n" JSON_REFERRAL_HELP CMD_CHANGE_HELP,
        .notes = RETRY_NOTES,
        .exec = cmd_decline,
    },
    {
        .name = "complete",
        .usage = "ID --outcome TEXT [--json] [--idempotency-key KEY] [--verbose]",
        .summary = "close an accepted referral with its outcome",
        .options = "  --outcome TEXT      what was done for the client (told to the "
                   "sender)\n" JSON_REFERRAL_HELP CMD_CHANGE_HELP,
        .notes = RETRY_NOTES,
        .exec = cmd_complete,
    },
    {
        .name = "withdraw",
        .usage = "ID --reason TEXT [--json] [--idempotency-key KEY] [--verbose]",
        .summary = "withdraw a referral your agency sent, saying why",
        .options =
            "  --reason TEXT       why it is withdrawn (told to the receiver)\n" JSON_REFERRAL_HELP
                CMD_CHANGE_HELP,
        .notes = RETRY_NOTES,
        .exec = cmd_withdraw,
    },
    {
        .name = "watch",
        .usage = "[--since SEQ] [--json]",
        .summary = "print your agency's referral events as they happen",
        .options = "  --since SEQ         first replay the events after SEQ that the hub still\n"
                   "                      keeps (SEQ as printed by an earlier watch)\n"
                   "  --json              one JSON object per event and line (canonical\n"
                   "                      protobuf mapping of Event)\n",
        .notes = "Prints one line per event: its sequence number, kind (submitted, changed,\n"
                 "overdue), the referral, sender -> recipient, form and state; for a change,\n"
                 "who made it and why. Runs until interrupted (Ctrl-C or SIGTERM: exit 0).\n"
                 "If the connection is lost it reconnects by itself (waiting 0.5 s, doubling\n"
                 "to 30 s) and carries on after the last event it printed: nothing is missed\n"
                 "or repeated, unless the hub no longer keeps those events (it says so).\n"
                 "Every half of the hub's idle timeout it asks for the form list, so the hub\n"
                 "does not close a quiet connection.\n",
        .exec = cmd_watch,
    },
    {
        .name = "forms",
        .usage = "[--json]",
        .summary = "list the agreed forms and who accepts them",
        .options = "  --json              print the list as JSON\n",
        .notes = "The forms are the hub's: refex learns each from the hub and caches it (see\n"
                 "'refex template --help').\n",
        .exec = cmd_forms,
    },
    {
        .name = "partners",
        .usage = "[--json]",
        .summary = "list the partner agencies and the forms they accept",
        .options = "  --json              print the list as JSON\n",
        .exec = cmd_partners,
    },
    {
        .name = "report",
        .usage = "[--from DATE] [--to DATE] [--by pathway|form|month] [--network]\n"
                 "       [--json | --csv] [--svg FILE] [--html FILE]",
        .summary = "report what became of the referrals your agency sent and received",
        .options = "  --from DATE         first day of the period, YYYY-MM-DD (UTC); referrals\n"
                   "                      count by the day they were sent (default: 89 days\n"
                   "                      before --to)\n"
                   "  --to DATE           last day of the period (default: today)\n"
                   "  --by GROUPING       one row per pathway (partner and form; the default),\n"
                   "                      per form or per month\n"
                   "  --network           every pathway of the partnership, with no client data\n"
                   "                      and small counts withheld (if the hub allows it)\n"
                   "  --json              print the report as JSON (canonical protobuf mapping\n"
                   "                      of Report)\n"
                   "  --csv               print the report as CSV, for spreadsheets\n"
                   "  --svg FILE          write the charts to FILE as an SVG image\n"
                   "  --html FILE         write the charts, the table and the decline reasons to\n"
                   "                      FILE as one HTML page\n",
        .notes = "Counts: sent, accepted (ever), declined, withdrawn, completed, still open,\n"
                 "overdue (not answered by the due time), forwarded (sent on from a referral\n"
                 "received). Times run from sending to the first read, to the answer and to\n"
                 "completion: median/90th percentile, each as the upper end of its band (15m,\n"
                 "30m, 1h, 2h, 4h, 8h, 1d, 2d, 3d, 5d, 7d, 14d, 30d, 60d, 90d, >90d). The SVG\n"
                 "and HTML files hold no script and load nothing: they open from an e-mail.\n",
        .exec = cmd_report,
    },
    {
        .name = "template",
        .usage = "FORM|client|consent [--client-id CLIENT_ID] [--from ID]",
        .summary = "print a fill-in JSON skeleton of a form, a client record or a consent",
        .options = "  --client-id ID      fill the form in from stored client ID's current record\n"
                   "                      and the answers in up to 14 of its referrals you sent\n"
                   "                      or received, newest first (each read is audited, like\n"
                   "                      refex client show and refex show)\n"
                   "  --from ID           fill the form in from referral ID's answers and client\n"
                   "                      record (alone: as `refex forward` would; reads ID: a\n"
                   "                      show); with --client-id its answers come first\n",
        .notes =
            "Replace each \"<required ...>\" value; fill in or delete each \"<optional ...>\"\n"
            "one; each placeholder ends with the field's label (and help) from the form.\n"
            "Form names: see 'refex forms'. refex learns each form from the hub and keeps\n"
            "it in $XDG_CACHE_HOME/refex (default ~/.cache/refex), per hub; without\n"
            "--client-id and --from, a hub that cannot be reached is not needed for a form\n"
            "cached from it (refex says so). client and consent need no hub.\n",
        .exec = cmd_template,
    },
    {
        .name = "keygen",
        .usage = "--agency ID --holder NAME --out PREFIX",
        .summary = "make your own key and a certificate request for the CA admin",
        .options = "  --agency ID         your agency's id, as the partnership knows it\n"
                   "  --holder NAME       you (or the system) the certificate is for\n"
                   "  --out PREFIX        write PREFIX.key (secret, mode 0600) and PREFIX.csr\n",
        .notes = "Works offline. Send PREFIX.csr to your partnership's CA admin; keep\n"
                 "PREFIX.key. Never overwrites a file.\n",
        .exec = cmd_keygen,
    },
    {
        .name = "p12",
        .usage = "--out FILE [--pass-file FILE]",
        .summary = "put your key and certificate in a PKCS#12 file for a browser",
        .options = "  --out FILE          write the PKCS#12 file (mode 0600; never overwritten)\n"
                   "  --pass-file FILE    take the passphrase from the file's first line;\n"
                   "                      without it, type it twice at the terminal\n",
        .notes = "Works offline. Takes the certificate, key and ca of your config (or\n"
                 "--cert, --key, --ca). The passphrase (at least 8 characters) protects the\n"
                 "file with AES-256-CBC, PBKDF2 with SHA-256 and a SHA-256 MAC.\n",
        .exec = cmd_p12,
    },
    {
        .name = "doctor",
        .usage = "[--json]",
        .summary = "check your configuration, certificate and connection step by step",
        .options = "  --json              print the checks as JSON: {\"ok\", \"problems\",\n"
                   "                      \"warnings\", \"checks\": [{\"check\", \"verdict\",\n"
                   "                      \"message\"}]}\n",
        .notes = NULL,
        .exec = cmd_doctor,
    },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Return the command called name, or NULL. */
const struct cmd_entry *cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < N_COMMANDS; i++) {
		if (strcmp(commands[i].name, name) == 0) {
			return &commands[i];
		}
	}
	return NULL;
}

/* Print the one-line usage to out. */
static void usage(FILE *out)
{
	fprintf(out, "usage: refex [GLOBAL OPTIONS] COMMAND [ARGS]\n");
}

/* Print the usage and where to find the commands on stderr; return the usage exit. */
static int usage_error(void)
{
	usage(stderr);
	fprintf(stderr, "Run 'refex --help' for the commands.\n");
	return EXIT_USAGE;
}

/* Print the commands and global options on stdout. */
static void help(void)
{
	size_t i;

	usage(stdout);
	printf("\nrefex refers clients between partner agencies through the refexd hub.\n"
	       "\ncommands:\n");
	for (i = 0; i < N_COMMANDS; i++) {
		printf("  %-10s %s\n", commands[i].name, commands[i].summary);
	}
	printf("\nglobal options (before or after the command):\n"
	       "  --config FILE       config file (default: $REFEX_CONFIG, else\n"
	       "                      ~/.config/refex/config)\n"
	       "  --server HOST:PORT  the hub to connect to (config: server =)\n"
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

/* Take the global options, then run the named command with the rest. */
int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    CMD_GLOBAL_OPTIONS,
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	struct cmd_ctx ctx = {0};
	char *name;
	int c, rc;

	/* A server that goes away must be an error message, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	argv[0] = "refex"; /* getopt's messages name the program, not its path */
	while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		if (c == 'h') {
			help();
			return EXIT_DONE;
		}
		if (c == 'V') {
			printf("refex %s\n", REFEX_VERSION);
			return EXIT_DONE;
		}
		if (cmd_global_option(&ctx, c, optarg) < 0) {
			return usage_error();
		}
	}
	if (optind >= argc) {
		return usage_error();
	}
	if (!(ctx.cmd = cmd_find(argv[optind]))) {
		fprintf(stderr,
		        "refex: unknown command '%s'; run 'refex --help' for the commands\n",
		        argv[optind]);
		return EXIT_USAGE;
	}
	/* getopt's own messages then read "refex submit: unrecognized option ...". */
	if (asprintf(&name, "refex %s", ctx.cmd->name) < 0) {
		fprintf(stderr, "refex: out of memory\n");
		return EXIT_REFUSED;
	}
	argv[optind] = name;
	argc -= optind;
	argv += optind;
	optind = 0;
	rc = ctx.cmd->exec(&ctx, argc, argv);
	cmd_close(&ctx);
	hubforms_free(&ctx);
	free(name);
	return rc;
}
