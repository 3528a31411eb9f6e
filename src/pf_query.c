#include "pf_query.h"
#include "pf_key.h"

#include <string.h>
#include <apr_strings.h>

long pf_url_decode(const char *s, size_t len, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            int hi, lo;
            if (len - i < 3) {
                return -1;
            }
            hi = pf_hexval(s[i + 1]);
            lo = pf_hexval(s[i + 2]);
            if (hi < 0 || lo < 0) {
                return -1;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        else if (c == '+') {
            c = ' ';
        }
        if (c == '\0') {
            return -1;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return (long)o;
}

int pf_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        unsigned long cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        }
        else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        }
        else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        }
        else {
            return 0;
        }
        if (len - i <= n) {
            return 0;
        }
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff))
            || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }
        i += n + 1;
    }
    return 1;
}

const char *pf_printable(apr_pool_t *p, const char *s, size_t max)
{
    size_t len = strlen(s);
    char *out = apr_palloc(p, (len < max ? len : max) * 3 + 4);
    size_t o = 0, i = 0;

    while (i < len && o < max) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;

        if (c < 0x20 || c == 0x7f || (c >= 0x80 && (i + n > len || !pf_utf8_valid(s + i, n)))) {
            /* U+FFFD keeps the position visible without passing the byte on. */
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i += 1;
            continue;
        }
        if (o + n > max) {
            break;
        }
        memcpy(out + o, s + i, n);
        o += n;
        i += n;
    }
    out[o] = '\0';
    return out;
}

static const pf_qspec *find_spec(const pf_qspec *spec, size_t nspec, const char *name, size_t *idx)
{
    for (size_t i = 0; i < nspec; i++) {
        if (strcmp(spec[i].name, name) == 0) {
            *idx = i;
            return &spec[i];
        }
    }
    return NULL;
}

static int fail(pf_qerror *err, const char *field, const char *message)
{
    err->field = field;
    err->message = message;
    return -1;
}

/* Decodes one value; NULL when malformed, empty, not UTF-8 or too long. */
static const char *decode_value(apr_pool_t *p, const char *raw, size_t len, size_t max)
{
    char *out = apr_palloc(p, len + 1);
    long n = pf_url_decode(raw, len, out);

    if (n <= 0 || (size_t)n > max || !pf_utf8_valid(out, (size_t)n)) {
        return NULL;
    }
    return out;
}

static const char *enum_message(apr_pool_t *p, const pf_qspec *s)
{
    const char *msg = "must be a comma-separated list of:";
    for (const char *const *v = s->values; *v; v++) {
        msg = apr_pstrcat(p, msg, v == s->values ? " " : ", ", *v, NULL);
    }
    return msg;
}

static int parse_list(apr_pool_t *p, const pf_qspec *s, const char *raw, pf_qvalue *v,
                      pf_qerror *err)
{
    const char *items[PF_QUERY_MAX_LIST];
    int count = 0;
    const char *cur = raw;

    for (;;) {
        const char *comma = strchr(cur, ',');
        size_t len = comma ? (size_t)(comma - cur) : strlen(cur);
        const char *val;

        if (count == PF_QUERY_MAX_LIST) {
            return fail(err, s->name, apr_psprintf(p, "takes at most %d values", PF_QUERY_MAX_LIST));
        }
        val = decode_value(p, cur, len, PF_QUERY_MAX_VALUE);
        if (!val) {
            return fail(err, s->name, s->type == PF_Q_ENUM_LIST
                        ? enum_message(p, s)
                        : apr_psprintf(p, "must be a comma-separated list of non-empty values "
                                       "of at most %d bytes", PF_QUERY_MAX_VALUE));
        }
        if (s->type == PF_Q_UUID_LIST) {
            char *lower;
            if (!pf_is_uuid(val, 1)) {
                return fail(err, s->name, "must be a comma-separated list of UUIDs");
            }
            lower = apr_pstrdup(p, val);
            for (char *c = lower; *c; c++) {
                if (*c >= 'A' && *c <= 'F') {
                    *c = (char)(*c - 'A' + 'a');
                }
            }
            val = lower;
        }
        if (s->type == PF_Q_ENUM_LIST) {
            const char *const *e = s->values;
            while (*e && strcmp(*e, val) != 0) {
                e++;
            }
            if (!*e) {
                return fail(err, s->name, enum_message(p, s));
            }
        }
        items[count++] = val;
        if (!comma) {
            break;
        }
        cur = comma + 1;
    }
    v->count = count;
    v->items = apr_pmemdup(p, items, sizeof(items[0]) * (size_t)count);
    return 0;
}

static const char *int_message(apr_pool_t *p, const pf_qspec *s)
{
    return apr_psprintf(p, "must be an integer from %" APR_INT64_T_FMT " to %" APR_INT64_T_FMT,
                        (apr_int64_t)s->min, (apr_int64_t)s->max);
}

static int parse_one(apr_pool_t *p, const pf_qspec *s, const char *raw, pf_qvalue *v,
                     pf_qerror *err)
{
    const char *val;

    switch (s->type) {
    case PF_Q_INT: {
        long long n = 0;
        val = decode_value(p, raw, strlen(raw), 19);
        if (!val) {
            return fail(err, s->name, int_message(p, s));
        }
        for (const char *c = val; *c; c++) {
            if (*c < '0' || *c > '9' || n > s->max) {
                return fail(err, s->name, int_message(p, s));
            }
            n = n * 10 + (*c - '0');
        }
        if (n < s->min || n > s->max) {
            return fail(err, s->name, int_message(p, s));
        }
        v->ival = n;
        return 0;
    }
    case PF_Q_ENUM_LIST:
    case PF_Q_TEXT_LIST:
    case PF_Q_UUID_LIST:
        return parse_list(p, s, raw, v, err);
    case PF_Q_UUID: {
        char *lower;
        val = decode_value(p, raw, strlen(raw), 36);
        if (!val || !pf_is_uuid(val, 1)) {
            return fail(err, s->name, "must be a UUID such as 00000000-0000-0000-0000-000000000000");
        }
        lower = apr_pstrdup(p, val);
        for (char *c = lower; *c; c++) {
            if (*c >= 'A' && *c <= 'F') {
                *c = (char)(*c - 'A' + 'a');
            }
        }
        v->str = lower;
        return 0;
    }
    case PF_Q_TOKEN:
        val = decode_value(p, raw, strlen(raw), PF_QUERY_MAX_TOKEN);
        if (!val) {
            return fail(err, s->name, "must be a value returned by this API");
        }
        v->str = val;
        return 0;
    }
    return fail(err, s->name, "is not supported");
}

int pf_query_parse(apr_pool_t *p, const char *args, const pf_qspec *spec, size_t nspec,
                   pf_qvalue *out, pf_qerror *err)
{
    const char *cur = args;

    memset(out, 0, sizeof(*out) * nspec);
    err->field = NULL;
    err->message = NULL;
    while (cur && *cur) {
        const char *amp = strchr(cur, '&');
        size_t seglen = amp ? (size_t)(amp - cur) : strlen(cur);
        const char *eq = memchr(cur, '=', seglen);
        size_t namelen = eq ? (size_t)(eq - cur) : seglen;
        char *name = apr_palloc(p, namelen + 1);
        const char *raw;
        const pf_qspec *s;
        size_t idx = 0;
        long n;

        if (seglen == 0) {
            /* "a=1&&b=2" or a trailing '&': nothing was named, nothing to check */
            cur = amp ? amp + 1 : NULL;
            continue;
        }
        n = pf_url_decode(cur, namelen, name);
        if (n <= 0 || !pf_utf8_valid(name, (size_t)n)) {
            return fail(err, pf_printable(p, apr_pstrmemdup(p, cur, namelen), 100),
                        "is not a well-formed parameter name");
        }
        s = find_spec(spec, nspec, name, &idx);
        if (!s) {
            return fail(err, pf_printable(p, name, 100), "is not a parameter of this endpoint");
        }
        if (out[idx].present) {
            return fail(err, s->name, "is given more than once");
        }
        out[idx].present = 1;
        raw = eq ? apr_pstrmemdup(p, eq + 1, seglen - namelen - 1) : "";
        if (parse_one(p, s, raw, &out[idx], err) != 0) {
            return -1;
        }
        cur = amp ? amp + 1 : NULL;
    }
    return 0;
}
