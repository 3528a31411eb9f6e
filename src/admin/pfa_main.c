/* permafrost-admin: global options, help texts and command dispatch. */
#ifdef HAVE_CONFIG_H
#include "pf_config.h"
#endif
#include "pfa.h"

#include <stdio.h>
#include <string.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

typedef int (*pfa_handler)(pfa_ctx *ctx, int argc, char **argv);

typedef struct {
    const char *group;  /* first word */
    const char *sub;    /* second word, or NULL */
    pfa_handler run;
    const char *help;
} pfa_command;

#define CONN_HELP \
    "\nGlobal options (anywhere on the line):\n" \
    "  --dsn DSN     libpq connection string or URI (default: PGHOST, PGPORT,\n" \
    "                PGDATABASE, PGUSER, ... from the environment)\n" \
    "  --json        machine-readable output\n" \
    "  -h, --help    this help\n"

static const pfa_command commands[] = {
    { "migrate", NULL, pfa_cmd_migrate,
      "Usage: " PFA_PROG " migrate [--sql-dir DIR]\n"
      "\n"
      "Applies the files DIR/NNN_*.sql in filename order, each once and each in\n"
      "its own transaction, and records them in permafrost.schema_migrations.\n"
      "Running it again applies only files added since.\n"
      "\n"
      "  --sql-dir DIR  migration directory (default: $PERMAFROST_SQL_DIR, else\n"
      "                 " PF_SQL_DIR ")\n" },
    { "customer", "create", pfa_cmd_customer_create,
      "Usage: " PFA_PROG " customer create NAME\n"
      "\n"
      "Creates a customer (1 to 200 characters of NAME) and prints its id.\n" },
    { "tenant", "add", pfa_cmd_tenant_add,
      "Usage: " PFA_PROG " tenant add --customer ID --tenant-id GUID --name NAME\n"
      "                            [--domain DOMAIN] [--status STATUS]\n"
      "\n"
      "Connects an Entra ID (Azure AD) tenant to a customer.\n"
      "\n"
      "  --customer ID     customer id (UUID)\n"
      "  --tenant-id GUID  the Azure tenant id\n"
      "  --name NAME       display name\n"
      "  --domain DOMAIN   primary domain, e.g. contoso.onmicrosoft.com\n"
      "  --status STATUS   connected (default), disconnected or error\n" },
    { "key", "create", pfa_cmd_key_create,
      "Usage: " PFA_PROG " key create --customer ID --name NAME --scope SCOPE\n"
      "                             [--scope SCOPE ...] [--expires RFC3339]\n"
      "\n"
      "Issues an API key and prints it. The key is shown only this once: the\n"
      "database keeps its SHA-256 and its first 12 characters.\n"
      "\n"
      "  --customer ID     customer id (UUID)\n"
      "  --name NAME       what the key is for (1 to 200 characters)\n"
      "  --scope SCOPE     read:identities, read:findings, read:roles or\n"
      "                    manage:webhooks; repeat it or separate with commas\n"
      "  --expires TIME    expiry, e.g. 2027-01-31T00:00:00Z (default: never)\n" },
    { "key", "list", pfa_cmd_key_list,
      "Usage: " PFA_PROG " key list --customer ID\n"
      "\n"
      "Lists a customer's API keys (never the keys themselves).\n" },
    { "key", "revoke", pfa_cmd_key_revoke,
      "Usage: " PFA_PROG " key revoke KEY_ID\n"
      "\n"
      "Revokes an API key; revoking a revoked key keeps the first time.\n"
      "The module stops accepting it within 60 seconds.\n" },
    { "demo-data", NULL, pfa_cmd_demo_data,
      "Usage: " PFA_PROG " demo-data --customer ID [--tenants N] [--identities N]\n"
      "                           [--findings N] [--seed S] [--as-of RFC3339]\n"
      "\n"
      "Fills a customer with realistic, deterministic demo data: the same\n"
      "customer, seed and sizes always give the same rows and ids. It REPLACES\n"
      "all tenants of the customer, and everything under them.\n"
      "\n"
      "  --customer ID     customer id (UUID)\n"
      "  --tenants N       tenants, 1 to 10000 (default 3)\n"
      "  --identities N    identities, 0 to 50000000 (default 500)\n"
      "  --findings N      findings, 0 to 100000000 (default 5000)\n"
      "  --seed S          integer seed (default 1)\n"
      "  --as-of TIME      the moment the data describes (default\n"
      "                    2026-11-01T00:00:00Z): timestamps lie before it\n" },
    { "analyzer-pass", NULL, pfa_cmd_analyzer_pass,
      "Usage: " PFA_PROG " analyzer-pass --customer ID --tenant-id GUID\n"
      "                               --new-findings N [--severity SEVERITY]\n"
      "\n"
      "Simulates an analyzer run: records a pass, adds N open findings first\n"
      "seen in it, then marks the pass completed (which queues webhooks).\n"
      "\n"
      "  --customer ID       customer id (UUID)\n"
      "  --tenant-id GUID    the Azure tenant id\n"
      "  --new-findings N    findings to add, 0 to 1000000\n"
      "  --severity S        give them all this severity (critical, high, medium,\n"
      "                      low); default: a mix, the first four one of each\n" },
    { "secret-key", "generate", pfa_cmd_secret_key_generate,
      "Usage: " PFA_PROG " secret-key generate FILE\n"
      "\n"
      "Writes 32 random bytes to FILE, a new file of mode 0600, for\n"
      "PermafrostSecretKeyFile. An existing FILE is never overwritten.\n" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void global_help(void)
{
    fputs("Usage: " PFA_PROG " [--dsn DSN] [--json] COMMAND ...\n"
          "\n"
          "Operator tool of mod_permafrost.\n"
          "\n"
          "Commands:\n"
          "  migrate [--sql-dir DIR]        create or upgrade the database schema\n"
          "  customer create NAME           create a customer\n"
          "  tenant add ...                 connect an Azure tenant to a customer\n"
          "  key create ...                 issue an API key\n"
          "  key list --customer ID         list a customer's API keys\n"
          "  key revoke KEY_ID              revoke an API key\n"
          "  demo-data --customer ID ...    load deterministic demo data\n"
          "  analyzer-pass ...              simulate an analyzer pass\n"
          "  secret-key generate FILE       create the webhook secret encryption key\n"
          "\n"
          "'" PFA_PROG " COMMAND --help' describes a command.\n"
          "\n"
          "Options:\n"
          "  --dsn DSN     libpq connection string or URI (default: PGHOST, PGPORT,\n"
          "                PGDATABASE, PGUSER, ... from the environment)\n"
          "  --json        machine-readable output\n"
          "  -h, --help    this help\n"
          "  --version     print the version\n"
          "\n"
          "Exit status: 0 success, 1 error, 2 bad usage.\n",
          stdout);
}

static void group_help(const char *group)
{
    printf("Usage: " PFA_PROG " %s SUBCOMMAND ...\n\nSubcommands:\n", group);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].group, group) == 0) {
            printf("  %s %s\n", group, commands[i].sub);
        }
    }
    printf("\n'" PFA_PROG " %s SUBCOMMAND --help' describes one.\n", group);
}

void pfa_help(const char *cmd)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        char name[64];

        snprintf(name, sizeof(name), "%s%s%s", commands[i].group,
                 commands[i].sub ? " " : "", commands[i].sub ? commands[i].sub : "");
        if (strcmp(name, cmd) == 0) {
            fputs(commands[i].help, stdout);
            fputs(CONN_HELP, stdout);
            return;
        }
    }
    global_help();
}

static int is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

static int has_group(const char *group, int *with_sub)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].group, group) == 0) {
            *with_sub = commands[i].sub != NULL;
            return 1;
        }
    }
    return 0;
}

static const pfa_command *find(const char *group, const char *sub)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].group, group) == 0
            && ((!sub && !commands[i].sub)
                || (sub && commands[i].sub && strcmp(commands[i].sub, sub) == 0))) {
            return &commands[i];
        }
    }
    return NULL;
}

static void subcommand_list(const char *group, char *buf, size_t size)
{
    size_t off = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < NCOMMANDS && off < size; i++) {
        if (strcmp(commands[i].group, group) == 0) {
            int n = snprintf(buf + off, size - off, "%s%s", off ? ", " : "", commands[i].sub);
            if (n < 0) {
                break;
            }
            off += (size_t)n;
        }
    }
}

static int dispatch(pfa_ctx *ctx, int argc, char **argv)
{
    const char *group = argv[0];
    const pfa_command *c;
    int with_sub = 0;
    char subs[128];

    /* "help [COMMAND [SUB]]" for people who type it that way. */
    if (strcmp(group, "help") == 0) {
        char name[64];

        if (argc == 1) {
            global_help();
            return PFA_EXIT_OK;
        }
        snprintf(name, sizeof(name), "%s%s%s", argv[1], argc > 2 ? " " : "",
                 argc > 2 ? argv[2] : "");
        if (argc == 2 && has_group(argv[1], &with_sub) && with_sub) {
            group_help(argv[1]);
        }
        else {
            pfa_help(name);
        }
        return PFA_EXIT_OK;
    }
    if (!has_group(group, &with_sub)) {
        return pfa_usage(NULL, "unknown command '%s'", group);
    }
    if (!with_sub) {
        c = find(group, NULL);
        return c->run(ctx, argc - 1, argv + 1);
    }
    subcommand_list(group, subs, sizeof(subs));
    if (argc < 2) {
        return pfa_usage(group, "'%s' needs a subcommand (%s)", group, subs);
    }
    if (is_help(argv[1])) {
        group_help(group);
        return PFA_EXIT_OK;
    }
    c = find(group, argv[1]);
    if (!c) {
        return pfa_usage(group, "unknown subcommand '%s %s' (expected %s)", group, argv[1], subs);
    }
    return c->run(ctx, argc - 2, argv + 2);
}

int main(int argc, char **argv)
{
    pfa_ctx ctx = { NULL, 0 };
    int i = 1, rc;

    for (; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0') {
            break;
        }
        if (is_help(a)) {
            global_help();
            return PFA_EXIT_OK;
        }
        if (strcmp(a, "--version") == 0) {
            puts(PFA_PROG " (mod_permafrost) " PACKAGE_VERSION);
            return PFA_EXIT_OK;
        }
        if (strcmp(a, "--json") == 0) {
            ctx.json = 1;
        }
        else if (strcmp(a, "--dsn") == 0) {
            if (i + 1 >= argc) {
                return pfa_usage(NULL, "option '--dsn' requires a value");
            }
            ctx.dsn = argv[++i];
        }
        else if (strncmp(a, "--dsn=", 6) == 0) {
            ctx.dsn = a + 6;
        }
        else {
            return pfa_usage(NULL, "unknown option '%s'", a);
        }
    }
    if (i >= argc) {
        return pfa_usage(NULL, "missing command");
    }
    rc = dispatch(&ctx, argc - i, argv + i);

    /* A full disk or closed pipe must not look like success. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (rc == PFA_EXIT_OK) {
            rc = pfa_fail("cannot write to standard output");
        }
    }
    return rc;
}
