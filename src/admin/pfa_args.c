/* Option parsing and argument validation for permafrost-admin. */
#include "pfa.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pf_key.h"

static void vreport(const char *prefix, const char *fmt, va_list ap)
{
    fputs(PFA_PROG ": ", stderr);
    if (prefix) {
        fputs(prefix, stderr);
    }
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int pfa_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(NULL, fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try '" PFA_PROG "%s%s --help' for more information.\n",
            cmd ? " " : "", cmd ? cmd : "");
    return PFA_EXIT_USAGE;
}

int pfa_fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(NULL, fmt, ap);
    va_end(ap);
    return PFA_EXIT_ERROR;
}

void pfa_warn(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport("warning: ", fmt, ap);
    va_end(ap);
}

void pfa_parser_init(pfa_parser *p, pfa_ctx *ctx, int argc, char **argv,
                     const char *cmd, const pfa_optdef *opts)
{
    memset(p, 0, sizeof(*p));
    p->ctx = ctx;
    p->argc = argc;
    p->argv = argv;
    p->cmd = cmd;
    p->opts = opts;
}

int pfa_next(pfa_parser *p, const char **val)
{
    while (p->i < p->argc) {
        const char *a = p->argv[p->i++];
        const char *name, *eq;
        size_t len;
        int idx = -1;

        *val = NULL;
        if (p->no_more_options || a[0] != '-' || a[1] == '\0') {
            *val = a;
            return PFA_ARG_POSITIONAL;
        }
        if (strcmp(a, "--") == 0) {
            p->no_more_options = 1;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            return PFA_ARG_HELP;
        }
        if (a[1] != '-') {
            pfa_usage(p->cmd, "unknown option '%s'", a);
            return PFA_ARG_ERROR;
        }
        name = a + 2;
        eq = strchr(name, '=');
        len = eq ? (size_t)(eq - name) : strlen(name);

        /* Global options are accepted after the command too, so that
         * "... key list --customer X --json" works as people type it. */
        if (len == 4 && strncmp(name, "json", 4) == 0) {
            if (eq) {
                pfa_usage(p->cmd, "option '--json' does not take a value");
                return PFA_ARG_ERROR;
            }
            p->ctx->json = 1;
            continue;
        }
        if (len == 3 && strncmp(name, "dsn", 3) == 0) {
            if (eq) {
                p->ctx->dsn = eq + 1;
            }
            else if (p->i < p->argc) {
                p->ctx->dsn = p->argv[p->i++];
            }
            else {
                pfa_usage(p->cmd, "option '--dsn' requires a value");
                return PFA_ARG_ERROR;
            }
            continue;
        }

        for (int k = 0; p->opts && p->opts[k].name; k++) {
            if (strlen(p->opts[k].name) == len && strncmp(p->opts[k].name, name, len) == 0) {
                idx = k;
                break;
            }
        }
        if (idx < 0) {
            pfa_usage(p->cmd, "unknown option '--%.*s'", (int)len, name);
            return PFA_ARG_ERROR;
        }
        if (p->opts[idx].takes_value) {
            if (eq) {
                *val = eq + 1;
            }
            else if (p->i < p->argc) {
                *val = p->argv[p->i++];
            }
            else {
                pfa_usage(p->cmd, "option '--%s' requires a value", p->opts[idx].name);
                return PFA_ARG_ERROR;
            }
        }
        else if (eq) {
            pfa_usage(p->cmd, "option '--%s' does not take a value", p->opts[idx].name);
            return PFA_ARG_ERROR;
        }
        /* A repeated single-valued option is almost always a typo. */
        if ((p->seen & (1u << idx)) && !p->opts[idx].repeatable) {
            pfa_usage(p->cmd, "option '--%s' given more than once", p->opts[idx].name);
            return PFA_ARG_ERROR;
        }
        p->seen |= 1u << idx;
        return idx;
    }
    return PFA_ARG_END;
}

int pfa_uuid_arg(const char *in, char out[37])
{
    if (strlen(in) != 36 || !pf_is_uuid(in, 1)) {
        return -1;
    }
    for (int i = 0; i < 36; i++) {
        char c = in[i];
        out[i] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
    }
    out[36] = '\0';
    return 0;
}

int pfa_count_arg(const char *in, long long min, long long max, long long *out)
{
    char *end;
    long long v;

    /* strtoll alone would accept " 12", "+12" and "-0". */
    if (in[0] < '0' || in[0] > '9') {
        return -1;
    }
    errno = 0;
    v = strtoll(in, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * algorithm): timegm() is not in C11. */
static long long days_from_civil(int y, int m, int d)
{
    long long era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int pfa_rfc3339_arg(const char *in, char *out, size_t outsz, long long *epoch)
{
    static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, mo, d, h, mi, s, oh = 0, om = 0, sign = 0;
    size_t len = strlen(in), pos;

    /* date-time = full-date "T" partial-time time-offset (RFC 3339 5.6) */
    if (len < 20 || len >= outsz) {
        return -1;
    }
    if (digits(in, 4, &y) || in[4] != '-' || digits(in + 5, 2, &mo) || in[7] != '-'
        || digits(in + 8, 2, &d) || (in[10] != 'T' && in[10] != 't' && in[10] != ' ')
        || digits(in + 11, 2, &h) || in[13] != ':' || digits(in + 14, 2, &mi)
        || in[16] != ':' || digits(in + 17, 2, &s)) {
        return -1;
    }
    pos = 19;
    if (in[pos] == '.') {
        size_t start = ++pos;
        while (in[pos] >= '0' && in[pos] <= '9') {
            pos++;
        }
        if (pos == start) {
            return -1;
        }
    }
    if ((in[pos] == 'Z' || in[pos] == 'z') && in[pos + 1] == '\0') {
        sign = 0;
    }
    else if ((in[pos] == '+' || in[pos] == '-') && len - pos == 6
             && !digits(in + pos + 1, 2, &oh) && in[pos + 3] == ':'
             && !digits(in + pos + 4, 2, &om)) {
        sign = in[pos] == '-' ? -1 : 1;
    }
    else {
        return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 60 || oh > 23 || om > 59) {
        return -1;
    }
    if (d > mdays[mo - 1] + (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))) {
        return -1;
    }
    if (y < 1) {
        return -1;
    }
    *epoch = days_from_civil(y, mo, d) * 86400LL + h * 3600LL + mi * 60LL + s
             - sign * (oh * 3600LL + om * 60LL);
    memcpy(out, in, len + 1);
    out[10] = 'T';
    if (out[len - 1] == 'z') {
        out[len - 1] = 'Z';
    }
    return 0;
}

/* NULL when in is valid UTF-8 of 1..max characters without control
 * characters; otherwise what is wrong with it. */
const char *pfa_name_problem(const char *in, size_t max)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t chars = 0;

    if (*p == '\0') {
        return "must not be empty";
    }
    while (*p) {
        unsigned c = *p;
        unsigned cp;
        int n;

        if (c < 0x80) {
            cp = c;
            n = 0;
        }
        else if (c >= 0xc2 && c <= 0xdf) {
            cp = c & 0x1f;
            n = 1;
        }
        else if (c >= 0xe0 && c <= 0xef) {
            cp = c & 0x0f;
            n = 2;
        }
        else if (c >= 0xf0 && c <= 0xf4) {
            cp = c & 0x07;
            n = 3;
        }
        else {
            return "is not valid UTF-8";
        }
        p++;
        for (int k = 0; k < n; k++, p++) {
            if ((*p & 0xc0) != 0x80) {
                return "is not valid UTF-8";
            }
            cp = (cp << 6) | (*p & 0x3f);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
            || (n == 3 && (cp < 0x10000 || cp > 0x10ffff))) {
            return "is not valid UTF-8";
        }
        if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) {
            return "must not contain control characters";
        }
        chars++;
    }
    if (chars > max) {
        return "is too long";
    }
    return NULL;
}
