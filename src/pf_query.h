/* Strict query-string parsing: unknown, repeated, malformed or out-of-range
 * parameters are errors that name the parameter. No httpd dependency. */
#ifndef PF_QUERY_H
#define PF_QUERY_H

#include <stddef.h>
#include <apr_pools.h>

typedef enum {
    PF_Q_INT,        /* decimal digits in [min, max] */
    PF_Q_ENUM_LIST,  /* comma list, each value one of values[] */
    PF_Q_TEXT_LIST,  /* comma list of non-empty text values */
    PF_Q_UUID,       /* one UUID, any case, returned lowercase */
    PF_Q_UUID_LIST,  /* comma list of UUIDs, returned lowercase */
    PF_Q_TOKEN       /* one opaque non-empty value */
} pf_qtype;

typedef struct {
    const char *name;
    pf_qtype type;
    long long min, max;         /* PF_Q_INT */
    const char *const *values;  /* PF_Q_ENUM_LIST, NULL-terminated */
} pf_qspec;

typedef struct {
    int present;
    long long ival;       /* PF_Q_INT */
    int count;            /* lists */
    const char **items;   /* lists: decoded values */
    const char *str;      /* PF_Q_UUID, PF_Q_TOKEN: decoded value */
} pf_qvalue;

typedef struct {
    const char *field;    /* the parameter as the client spelled it */
    const char *message;
} pf_qerror;

#define PF_QUERY_MAX_LIST   50
#define PF_QUERY_MAX_VALUE  200
#define PF_QUERY_MAX_TOKEN  1024

/* Parses args (the raw query string, may be NULL) against spec. out has
 * nspec entries, zeroed by the call. Returns 0, or -1 with *err set. '+'
 * decodes to a space; "%2C" decodes to a literal comma inside a value, only
 * a raw ',' separates list values; percent-encoding is decoded once. */
int pf_query_parse(apr_pool_t *p, const char *args, const pf_qspec *spec, size_t nspec,
                   pf_qvalue *out, pf_qerror *err);

/* Decodes %XX and '+' in place over [s, s+len) into out (len+1 bytes).
 * Returns the decoded length, or -1 for bad escapes or a NUL byte. */
long pf_url_decode(const char *s, size_t len, char *out);

/* 1 if [s, s+len) is well-formed UTF-8 without overlongs or surrogates. */
int pf_utf8_valid(const char *s, size_t len);

/* A copy safe to put in JSON and logs: invalid UTF-8 and control
 * characters replaced, cut to max bytes on a character boundary. */
const char *pf_printable(apr_pool_t *p, const char *s, size_t max);

#endif
