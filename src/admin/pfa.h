/* permafrost-admin: declarations shared by the command modules. */
#ifndef PFA_H
#define PFA_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#if defined(__GNUC__)
#define PFA_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PFA_PRINTF(f, a)
#endif

#define PFA_PROG "permafrost-admin"

/* Exit codes of contract section 11. */
enum {
    PFA_EXIT_OK = 0,
    PFA_EXIT_ERROR = 1,
    PFA_EXIT_USAGE = 2
};

/* Global settings, filled from options that may appear anywhere. */
typedef struct {
    const char *dsn;
    int json;
} pfa_ctx;

/* ---- argument parsing (pfa_args.c) ---------------------------------- */

typedef struct {
    const char *name;   /* long name without the leading "--" */
    int takes_value;
    int repeatable;
} pfa_optdef;

enum {
    PFA_ARG_END = -1,       /* no more arguments */
    PFA_ARG_POSITIONAL = -2,
    PFA_ARG_HELP = -3,      /* --help or -h: caller prints help, exits 0 */
    PFA_ARG_ERROR = -4      /* usage error already reported */
};

typedef struct {
    pfa_ctx *ctx;
    int argc;
    char **argv;
    int i;
    int no_more_options;            /* after "--" */
    const char *cmd;                /* "key create": for messages and hints */
    const pfa_optdef *opts;         /* terminated by a NULL name */
    unsigned seen;                  /* bit per opts[] entry, catches repeats */
} pfa_parser;

void pfa_parser_init(pfa_parser *p, pfa_ctx *ctx, int argc, char **argv,
                     const char *cmd, const pfa_optdef *opts);
/* Returns the index into opts, or one of PFA_ARG_*; *val gets the option's
 * value or the positional argument. */
int pfa_next(pfa_parser *p, const char **val);

/* Prints "permafrost-admin: <reason>" and the --help hint; returns 2. */
int pfa_usage(const char *cmd, const char *fmt, ...) PFA_PRINTF(2, 3);
/* Prints "permafrost-admin: <reason>" (one line); returns 1. */
int pfa_fail(const char *fmt, ...) PFA_PRINTF(1, 2);
void pfa_warn(const char *fmt, ...) PFA_PRINTF(1, 2);

/* Validators: 0 when valid. pfa_uuid_arg writes the lowercase form. */
int pfa_uuid_arg(const char *in, char out[37]);
int pfa_count_arg(const char *in, long long min, long long max, long long *out);
/* RFC 3339 date-time; writes a normalised copy PostgreSQL parses and the
 * instant as Unix seconds. */
int pfa_rfc3339_arg(const char *in, char *out, size_t outsz, long long *epoch);
/* NULL when in is printable UTF-8 of 1..max characters, else the problem
 * ("is too long", ...). */
const char *pfa_name_problem(const char *in, size_t max);

/* ---- database (pfa_db.c) -------------------------------------------- */

/* Connects (dsn may be NULL: libpq environment); reports and returns NULL
 * on failure. */
PGconn *pfa_connect(const pfa_ctx *ctx);
void pfa_disconnect(PGconn *conn);

/* PQexecParams with text parameters. Returns the result when its status is
 * COMMAND_OK or TUPLES_OK; otherwise reports one line (prefixed with what,
 * when not NULL), clears it and returns NULL. */
PGresult *pfa_query(PGconn *conn, const char *what, const char *sql,
                    int nparams, const char *const *params);
/* The same for statements whose result is not needed; 0 on success. */
int pfa_exec(PGconn *conn, const char *what, const char *sql,
             int nparams, const char *const *params);
/* Reports a failed result as one readable line; returns 1. */
int pfa_report_result(PGconn *conn, const PGresult *res, const char *what);
/* Rolls back quietly (after an error) and returns 1. */
int pfa_rollback(PGconn *conn);

/* 1 when the customer exists, 0 when not (reported), -1 on error. */
int pfa_customer_exists(PGconn *conn, const char *customer_id);

/* Value of row/col, or NULL for SQL NULL. */
const char *pfa_val(const PGresult *res, int row, int col);
/* JSON string or null for a nullable text column. */
json_t *pfa_json_str(const PGresult *res, int row, int col);

/* Prints a JSON value followed by a newline to stdout and frees it; 1 on
 * an encoding error. */
int pfa_print_json(json_t *v);

/* Timestamp column as RFC 3339 UTC with microseconds and Z. */
#define PFA_TS(col) \
    "to_char((" col ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* ---- commands ------------------------------------------------------- */

int pfa_cmd_migrate(pfa_ctx *ctx, int argc, char **argv);
int pfa_cmd_customer_create(pfa_ctx *ctx, int argc, char **argv);
int pfa_cmd_tenant_add(pfa_ctx *ctx, int argc, char **argv);
int pfa_cmd_key_create(pfa_ctx *ctx, int argc, char **argv);
int pfa_cmd_key_list(pfa_ctx *ctx, int argc, char **argv);
int pfa_cmd_key_revoke(pfa_ctx *ctx, int argc, char **argv);
int pfa_cmd_demo_data(pfa_ctx *ctx, int argc, char **argv);
int pfa_cmd_analyzer_pass(pfa_ctx *ctx, int argc, char **argv);
int pfa_cmd_secret_key_generate(pfa_ctx *ctx, int argc, char **argv);

/* Per-command help texts (pfa_main.c), printed for --help. */
void pfa_help(const char *cmd);

#endif
