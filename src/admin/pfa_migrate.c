/* migrate: applies sql/NNN_*.sql once each, in order, recorded in
 * permafrost.schema_migrations. */
#define _POSIX_C_SOURCE 200809L

#include "pfa.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PF_SQL_DIR
#define PF_SQL_DIR "sql"
#endif

#define MAX_MIGRATION_BYTES (16L * 1024 * 1024)

/* One lock for every migrate of every database user: concurrent runs wait
 * for each other instead of racing on CREATE TABLE. */
#define LOCK_SQL "SELECT pg_advisory_xact_lock(hashtextextended('permafrost-admin migrate', 0))"

typedef struct {
    char **names;
    size_t n, cap;
} name_list;

static void free_names(name_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->names[i]);
    }
    free(l->names);
}

/* NNN_anything.sql */
static int is_migration_name(const char *name)
{
    size_t len = strlen(name), d = 0;

    while (name[d] >= '0' && name[d] <= '9') {
        d++;
    }
    return d > 0 && name[d] == '_' && len > d + 4 && strcmp(name + len - 4, ".sql") == 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_migrations(const char *dir, name_list *out)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d) {
        return pfa_fail("cannot read migration directory %s: %s", dir, strerror(errno));
    }
    while ((e = readdir(d)) != NULL) {
        if (!is_migration_name(e->d_name)) {
            continue;
        }
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 16;
            char **grown = realloc(out->names, cap * sizeof(char *));
            if (!grown) {
                closedir(d);
                return pfa_fail("out of memory");
            }
            out->names = grown;
            out->cap = cap;
        }
        out->names[out->n] = strdup(e->d_name);
        if (!out->names[out->n]) {
            closedir(d);
            return pfa_fail("out of memory");
        }
        out->n++;
    }
    closedir(d);
    /* qsort may not be given a NULL array, even an empty one. */
    if (out->n > 1) {
        qsort(out->names, out->n, sizeof(char *), cmp_names);
    }

    /* Two files with one number (e.g. two branches both adding 002_) would
     * apply in an order nobody chose. */
    for (size_t i = 1; i < out->n; i++) {
        if (strtoull(out->names[i - 1], NULL, 10) == strtoull(out->names[i], NULL, 10)) {
            return pfa_fail("migrations %s and %s share a number; renumber one",
                            out->names[i - 1], out->names[i]);
        }
    }
    return PFA_EXIT_OK;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (!f) {
        pfa_fail("cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    do {
        if (cap - len < 65536) {
            char *grown;
            cap = cap ? cap * 2 : 65536;
            if (cap > (size_t)MAX_MIGRATION_BYTES + 65536) {
                pfa_fail("%s is larger than 16 MiB", path);
                goto fail;
            }
            grown = realloc(buf, cap + 1);
            if (!grown) {
                pfa_fail("out of memory");
                goto fail;
            }
            buf = grown;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    if (ferror(f)) {
        pfa_fail("cannot read %s: %s", path, strerror(errno));
        goto fail;
    }
    fclose(f);
    buf[len] = '\0';
    /* PQexec takes a C string: a NUL would silently cut the file short. */
    if (strlen(buf) != len) {
        pfa_fail("%s contains a NUL byte", path);
        free(buf);
        return NULL;
    }
    return buf;

fail:
    fclose(f);
    free(buf);
    return NULL;
}

/* The server reports an error position in characters from the start of
 * the file; people want the line. */
static long error_line(const char *sql, const char *position)
{
    long chars = position ? strtol(position, NULL, 10) : 0, line = 1;
    const unsigned char *p = (const unsigned char *)sql;

    for (long c = 1; *p && c < chars; p++) {
        if ((*p & 0xc0) == 0x80) {
            continue;   /* UTF-8 continuation byte: same character */
        }
        if (*p == '\n') {
            line++;
        }
        c++;
    }
    return chars > 0 ? line : 0;
}

static int begin_locked(PGconn *conn)
{
    if (pfa_exec(conn, NULL, "BEGIN", 0, NULL) != 0
        || pfa_exec(conn, "cannot take the migration lock", LOCK_SQL, 0, NULL) != 0) {
        return -1;
    }
    return 0;
}

/* 1 applied, 0 already applied, -1 error (reported, rolled back). */
static int apply_one(PGconn *conn, const char *dir, const char *file)
{
    char path[4096], version[256];
    const char *params[1] = { version };
    PGresult *res;
    char *sql;
    int done;
    size_t vlen = strlen(file) - 4;

    if (vlen >= sizeof(version)) {
        pfa_fail("migration file name too long: %s", file);
        return -1;
    }
    memcpy(version, file, vlen);
    version[vlen] = '\0';
    snprintf(path, sizeof(path), "%s/%s", dir, file);

    if (begin_locked(conn) != 0) {
        pfa_rollback(conn);
        return -1;
    }
    /* Checked under the lock: another migrate may just have applied it. */
    res = pfa_query(conn, NULL,
                    "SELECT 1 FROM permafrost.schema_migrations WHERE version = $1", 1, params);
    if (!res) {
        pfa_rollback(conn);
        return -1;
    }
    done = PQntuples(res) > 0;
    PQclear(res);
    if (done) {
        return pfa_exec(conn, NULL, "COMMIT", 0, NULL) == 0 ? 0 : -1;
    }

    sql = read_file(path);
    if (!sql) {
        pfa_rollback(conn);
        return -1;
    }
    res = PQexec(conn, sql);
    if (!res || (PQresultStatus(res) != PGRES_COMMAND_OK
                 && PQresultStatus(res) != PGRES_TUPLES_OK
                 && PQresultStatus(res) != PGRES_EMPTY_QUERY)) {
        long line = error_line(sql, res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL);
        char what[600];

        if (line > 0) {
            snprintf(what, sizeof(what), "migration %s failed at line %ld", file, line);
        }
        else {
            snprintf(what, sizeof(what), "migration %s failed", file);
        }
        pfa_report_result(conn, res, what);
        PQclear(res);
        free(sql);
        pfa_rollback(conn);
        return -1;
    }
    PQclear(res);
    free(sql);
    /* A COMMIT inside the file would have split it over transactions. */
    if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
        pfa_fail("migration %s ended the transaction itself: remove BEGIN/COMMIT from it", file);
        pfa_rollback(conn);
        return -1;
    }
    if (pfa_exec(conn, NULL,
                 "INSERT INTO permafrost.schema_migrations (version) VALUES ($1)",
                 1, params) != 0
        || pfa_exec(conn, NULL, "COMMIT", 0, NULL) != 0) {
        pfa_rollback(conn);
        return -1;
    }
    return 1;
}

static const pfa_optdef migrate_opts[] = {
    { "sql-dir", 1, 0 },
    { NULL, 0, 0 }
};

int pfa_cmd_migrate(pfa_ctx *ctx, int argc, char **argv)
{
    const char *dir = getenv("PERMAFROST_SQL_DIR"), *val;
    name_list files = { NULL, 0, 0 };
    pfa_parser p;
    PGconn *conn;
    json_t *applied;
    size_t already = 0;
    int opt, rc = PFA_EXIT_OK;

    if (!dir || !dir[0]) {
        dir = PF_SQL_DIR;
    }
    pfa_parser_init(&p, ctx, argc, argv, "migrate", migrate_opts);
    while ((opt = pfa_next(&p, &val)) != PFA_ARG_END) {
        switch (opt) {
        case 0:
            if (!val[0]) {
                return pfa_usage("migrate", "--sql-dir must not be empty");
            }
            dir = val;
            break;
        case PFA_ARG_HELP:
            pfa_help("migrate");
            return PFA_EXIT_OK;
        case PFA_ARG_POSITIONAL:
            return pfa_usage("migrate", "unexpected argument '%s'", val);
        default:
            return PFA_EXIT_USAGE;
        }
    }

    if (list_migrations(dir, &files) != PFA_EXIT_OK) {
        free_names(&files);
        return PFA_EXIT_ERROR;
    }
    if (files.n == 0) {
        free_names(&files);
        return pfa_fail("no NNN_*.sql migrations in %s", dir);
    }
    conn = pfa_connect(ctx);
    if (!conn) {
        free_names(&files);
        return PFA_EXIT_ERROR;
    }

    /* The bookkeeping table comes first, under the same lock. */
    if (begin_locked(conn) != 0
        || pfa_exec(conn, NULL, "CREATE SCHEMA IF NOT EXISTS permafrost", 0, NULL) != 0
        || pfa_exec(conn, NULL,
                    "CREATE TABLE IF NOT EXISTS permafrost.schema_migrations ("
                    " version text PRIMARY KEY,"
                    " applied_at timestamptz NOT NULL DEFAULT now())", 0, NULL) != 0
        || pfa_exec(conn, NULL, "COMMIT", 0, NULL) != 0) {
        pfa_rollback(conn);
        pfa_disconnect(conn);
        free_names(&files);
        return PFA_EXIT_ERROR;
    }

    applied = json_array();
    for (size_t i = 0; i < files.n; i++) {
        int r = apply_one(conn, dir, files.names[i]);

        if (r < 0) {
            rc = PFA_EXIT_ERROR;
            break;
        }
        if (r == 0) {
            already++;
            continue;
        }
        json_array_append_new(applied, json_string(files.names[i]));
        if (!ctx->json) {
            printf("applied %s\n", files.names[i]);
        }
    }
    pfa_disconnect(conn);

    if (rc == PFA_EXIT_OK) {
        if (ctx->json) {
            json_t *out = json_object();
            json_object_set_new(out, "sqlDir", json_string(dir));
            json_object_set_new(out, "applied", json_incref(applied));
            json_object_set_new(out, "alreadyApplied", json_integer((json_int_t)already));
            rc = pfa_print_json(out);
        }
        else if (json_array_size(applied) == 0) {
            printf("nothing to apply: the database is up to date (%zu migration%s)\n",
                   already, already == 1 ? "" : "s");
        }
        else {
            printf("%zu migration%s applied\n", json_array_size(applied),
                   json_array_size(applied) == 1 ? "" : "s");
        }
    }
    json_decref(applied);
    free_names(&files);
    return rc;
}
