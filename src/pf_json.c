#include "pf_json.h"
#include "pf_key.h"
#include "pf_query.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>

json_t *pf_json_error(const char *code, const char *message, const char *field,
                      const char *field_message)
{
    json_t *err = json_pack("{s:s, s:s}", "code", code, "message", message);

    if (err && field) {
        json_t *details = json_pack("[{s:o, s:s}]", "field", pf_json_str(field), "message",
                                    field_message ? field_message : message);
        if (details) {
            json_object_set_new(err, "details", details);
        }
    }
    return json_pack("{s:o}", "error", err ? err : json_object());
}

json_t *pf_json_str(const char *s)
{
    json_t *j;
    char *tmp;
    apr_pool_t *p;

    if (!s) {
        return json_null();
    }
    j = json_string(s);
    if (j) {
        return j;
    }
    /* Not UTF-8: keep the readable part. */
    if (apr_pool_create(&p, NULL) != APR_SUCCESS) {
        return json_string("");
    }
    tmp = (char *)pf_printable(p, s, strlen(s) * 3 + 3);
    j = json_string(tmp);
    apr_pool_destroy(p);
    return j ? j : json_string("");
}

json_t *pf_json_str_pool(apr_pool_t *p, const char *s)
{
    json_t *j;

    if (!s) {
        return json_null();
    }
    j = json_string(s);
    return j ? j : json_string(pf_printable(p, s, strlen(s) * 3 + 3));
}

json_t *pf_json_bool_text(const char *s)
{
    if (!s) {
        return json_null();
    }
    return json_boolean(s[0] == 't');
}

void pf_jbuf_init(pf_jbuf *b, apr_pool_t *p, size_t cap)
{
    b->pool = p;
    b->len = 0;
    b->cap = cap ? cap : 1024;
    b->buf = apr_palloc(p, b->cap);
}

/* Grows by doubling inside the pool: the old block stays until the pool
 * goes, which costs at most the final size again and never leaks. */
void pf_jbuf_raw(pf_jbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap * 2;
        char *nb;

        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        nb = apr_palloc(b->pool, cap);
        memcpy(nb, b->buf, b->len);
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
}

/* Same escaping as jansson's own encoder, so output is byte-identical to
 * json_dumps with JSON_COMPACT. */
static void put_escape(pf_jbuf *b, unsigned char c)
{
    char esc[8];
    const char *e;

    switch (c) {
    case '"': e = "\\\""; break;
    case '\\': e = "\\\\"; break;
    case '\b': e = "\\b"; break;
    case '\f': e = "\\f"; break;
    case '\n': e = "\\n"; break;
    case '\r': e = "\\r"; break;
    case '\t': e = "\\t"; break;
    default:
        snprintf(esc, sizeof(esc), "\\u%04X", c);
        e = esc;
    }
    pf_jbuf_raw(b, e, strlen(e));
}

/* Copies runs of plain bytes at once: jansson's per-character encoder was
 * the largest cost of a list answer. */
static void put_string(pf_jbuf *b, const char *s, size_t n)
{
    size_t start = 0;

    pf_jbuf_raw(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        pf_jbuf_raw(b, s + start, i - start);
        put_escape(b, c);
        start = i + 1;
    }
    pf_jbuf_raw(b, s + start, n - start);
    pf_jbuf_raw(b, "\"", 1);
}

/* The text is not valid UTF-8: what pf_json_str keeps of it, so both paths
 * write the same. */
static void put_printable(pf_jbuf *b, const char *s)
{
    size_t n = strlen(s);

    s = pf_printable(b->pool, s, n * 3 + 3);
    put_string(b, s, strlen(s));
}

/* The length of the UTF-8 character that starts at u (a byte of 0x80 or
 * more), or 0 when it is not one: cut off by the text's end, or invalid. */
static size_t utf8_char(const unsigned char *u)
{
    size_t n = u[0] >= 0xf0 ? 4 : u[0] >= 0xe0 ? 3 : 2, k = 1;

    while (k < n && u[k]) {
        k++;
    }
    return k == n && pf_utf8_valid((const char *)u, n) ? n : 0;
}

/* Whether any of eight bytes needs a look of its own: a control
 * character, a quote, a backslash or a byte of a multibyte character.
 * Each test is the usual "some byte is below n" bit trick, exact as a yes
 * or no for n up to 128. */
static int word_special(const char *p)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t w, q, bs;

    memcpy(&w, p, sizeof(w));
    q = w ^ (ones * '"');
    bs = w ^ (ones * '\\');
    return ((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs) | w) & highs) != 0;
}

/* Checks the text's UTF-8 and escapes it in one pass after strlen, copying
 * runs that need nothing at once and skipping eight plain bytes at a time
 * (byte by byte, this loop was the largest part of httpd's instructions
 * for an uncached page). Text that turns out not to be UTF-8 is written
 * again by put_printable. */
void pf_jbuf_str(pf_jbuf *b, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t mark, start = 0, i = 0, total;

    if (!s) {
        pf_jbuf_raw(b, "null", 4);
        return;
    }
    total = strlen(s);
    mark = b->len;
    pf_jbuf_raw(b, "\"", 1);
    for (;;) {
        unsigned char c;

        while (i + 8 <= total && !word_special(s + i)) {
            i += 8;
        }
        c = u[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c == 0) {
            break;
        }
        if (c >= 0x80) {
            size_t n = utf8_char(u + i);

            if (!n) {
                b->len = mark;
                put_printable(b, s);
                return;
            }
            i += n;
            continue;
        }
        pf_jbuf_raw(b, s + start, i - start);
        put_escape(b, c);
        start = ++i;
    }
    pf_jbuf_raw(b, s + start, i - start);
    pf_jbuf_raw(b, "\"", 1);
}

void pf_jbuf_bool_text(pf_jbuf *b, const char *s)
{
    if (!s) {
        pf_jbuf_raw(b, "null", 4);
    }
    else if (s[0] == 't') {
        pf_jbuf_raw(b, "true", 4);
    }
    else {
        pf_jbuf_raw(b, "false", 5);
    }
}

void pf_jbuf_int(pf_jbuf *b, long long v)
{
    char num[32];
    int n = snprintf(num, sizeof(num), "%lld", v);

    pf_jbuf_raw(b, num, (size_t)n);
}

/* Four hex digits as a code unit, or -1. */
static long hex4(const unsigned char *u)
{
    long v = 0;

    for (int i = 0; i < 4; i++) {
        int d = pf_hexval((char)u[i]);

        if (d < 0) {
            return -1;
        }
        v = v * 16 + d;
    }
    return v;
}

/* A JSON string starting at its opening quote, checked and copied as it
 * is; returns what follows it, or NULL. Refused as jansson refuses them:
 * raw control characters, bad escapes, \u0000, unpaired surrogates, bytes
 * that are not UTF-8. */
static const char *jt_string(pf_jbuf *b, const char *s)
{
    const unsigned char *u = (const unsigned char *)s + 1;

    for (;;) {
        unsigned char c = *u;

        if (c == '"') {
            break;
        }
        if (c < 0x20) {
            return NULL; /* the text's end, too */
        }
        if (c == '\\') {
            c = u[1];
            if (c == 'u') {
                long v = hex4(u + 2);
                if (v <= 0 || (v >= 0xdc00 && v <= 0xdfff)) {
                    return NULL;
                }
                if (v >= 0xd800 && v <= 0xdbff) {
                    long lo;
                    if (u[6] != '\\' || u[7] != 'u' || (lo = hex4(u + 8)) < 0xdc00 ||
                        lo > 0xdfff) {
                        return NULL;
                    }
                    u += 6;
                }
                u += 6;
            }
            else if (c && strchr("\"\\/bfnrt", c)) {
                u += 2;
            }
            else {
                return NULL;
            }
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_char(u);

            if (!n) {
                return NULL;
            }
            u += n;
            continue;
        }
        u++;
    }
    u++;
    pf_jbuf_raw(b, s, (size_t)((const char *)u - s));
    return (const char *)u;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A number as JSON spells it; returns what follows it, or NULL. */
static const char *jt_number(const char *s)
{
    if (*s == '-') {
        s++;
    }
    if (*s == '0') {
        s++;
    }
    else if (is_digit(*s)) {
        while (is_digit(*s)) {
            s++;
        }
    }
    else {
        return NULL;
    }
    if (*s == '.') {
        if (!is_digit(*++s)) {
            return NULL;
        }
        while (is_digit(*s)) {
            s++;
        }
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') {
            s++;
        }
        if (!is_digit(*s)) {
            return NULL;
        }
        while (is_digit(*s)) {
            s++;
        }
    }
    return s;
}

/* What may come next in a JSON text. */
typedef enum { JT_VALUE, JT_VALUE_OR_CLOSE, JT_KEY, JT_KEY_OR_CLOSE, JT_COLON, JT_NEXT } jt_want;

int pf_jbuf_json_text(pf_jbuf *b, const char *s, const char *fallback)
{
    size_t mark = b->len, depth = 0, cap;
    char local[64], *closers = local; /* the bracket each open container ends with */
    jt_want want = JT_VALUE;

    cap = sizeof(local);
    while (s) {
        const char *end = NULL;
        char c;

        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
            s++;
        }
        c = *s;
        if (want == JT_NEXT) {
            if (depth == 0) {
                if (c == '\0') {
                    return 0;
                }
                break;
            }
            if (c == ',') {
                want = closers[depth - 1] == '}' ? JT_KEY : JT_VALUE;
            }
            else if (c == closers[depth - 1]) {
                depth--;
            }
            else {
                break;
            }
            pf_jbuf_raw(b, s++, 1);
            continue;
        }
        if (want == JT_COLON) {
            if (c != ':') {
                break;
            }
            pf_jbuf_raw(b, s++, 1);
            want = JT_VALUE;
            continue;
        }
        if ((want == JT_VALUE_OR_CLOSE || want == JT_KEY_OR_CLOSE) && c == closers[depth - 1]) {
            pf_jbuf_raw(b, s++, 1);
            depth--;
            want = JT_NEXT;
            continue;
        }
        if (want == JT_KEY || want == JT_KEY_OR_CLOSE) {
            if (c != '"' || !(s = jt_string(b, s))) {
                break;
            }
            want = JT_COLON;
            continue;
        }
        if (c == '{' || c == '[') {
            if (depth == cap) {
                char *more = apr_palloc(b->pool, cap * 2);
                memcpy(more, closers, cap);
                closers = more;
                cap *= 2;
            }
            closers[depth++] = c == '{' ? '}' : ']';
            pf_jbuf_raw(b, s++, 1);
            want = c == '{' ? JT_KEY_OR_CLOSE : JT_VALUE_OR_CLOSE;
            continue;
        }
        if (c == '"') {
            if (!(s = jt_string(b, s))) {
                break;
            }
            want = JT_NEXT;
            continue;
        }
        if (strncmp(s, "true", 4) == 0 || strncmp(s, "null", 4) == 0) {
            end = s + 4;
        }
        else if (strncmp(s, "false", 5) == 0) {
            end = s + 5;
        }
        else {
            end = jt_number(s);
        }
        if (!end) {
            break;
        }
        pf_jbuf_raw(b, s, (size_t)(end - s));
        s = end;
        want = JT_NEXT;
    }
    b->len = mark;
    pf_jbuf_raw(b, fallback, strlen(fallback));
    return -1;
}

int pf_jbuf_value(pf_jbuf *b, json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *v;
        size_t n = 0;
        pf_jbuf_raw(b, "{", 1);
        json_object_foreach(j, key, v) {
            /* cppcheck-suppress knownConditionTrueFalse ; it cannot see the loop */
            if (n++) {
                pf_jbuf_raw(b, ",", 1);
            }
            put_string(b, key, strlen(key));
            pf_jbuf_raw(b, ":", 1);
            if (pf_jbuf_value(b, v) != 0) {
                return -1;
            }
        }
        pf_jbuf_raw(b, "}", 1);
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *v;
        pf_jbuf_raw(b, "[", 1);
        json_array_foreach(j, i, v) {
            if (i) {
                pf_jbuf_raw(b, ",", 1);
            }
            if (pf_jbuf_value(b, v) != 0) {
                return -1;
            }
        }
        pf_jbuf_raw(b, "]", 1);
        break;
    }
    case JSON_STRING:
        put_string(b, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        pf_jbuf_int(b, (long long)json_integer_value(j));
        break;
    case JSON_TRUE:
        pf_jbuf_raw(b, "true", 4);
        break;
    case JSON_FALSE:
        pf_jbuf_raw(b, "false", 5);
        break;
    case JSON_NULL:
        pf_jbuf_raw(b, "null", 4);
        break;
    case JSON_REAL: {
        /* No value the module shapes is a real any more (stored JSON is
         * copied as text, pf_jbuf_json_text); kept so that any jansson
         * value can be written, as jansson formats it. */
        char *r = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!r) {
            return -1;
        }
        pf_jbuf_raw(b, r, strlen(r));
        free(r);
        break;
    }
    }
    return 0;
}

char *pf_jbuf_finish(pf_jbuf *b, size_t *len)
{
    b->buf[b->len] = '\0'; /* pf_jbuf_raw always leaves room for it */
    *len = b->len;
    return b->buf;
}

char *pf_json_dump(apr_pool_t *p, json_t *j, size_t *len)
{
    pf_jbuf b;
    int rv;

    pf_jbuf_init(&b, p, 0);
    rv = pf_jbuf_value(&b, j);
    json_decref(j);
    return rv == 0 ? pf_jbuf_finish(&b, len) : NULL;
}

static apr_status_t json_cleanup(void *data)
{
    json_decref((json_t *)data);
    return APR_SUCCESS;
}

json_t *pf_json_pool_own(apr_pool_t *p, json_t *j)
{
    if (j) {
        apr_pool_cleanup_register(p, j, json_cleanup, apr_pool_cleanup_null);
    }
    return j;
}

void pf_etag(const EVP_MD *sha256, const char *body, size_t len, char out[PF_ETAG_SIZE])
{
    unsigned char md[32];

    pf_sha256_md(sha256, body, len, md);
    out[0] = '"';
    pf_hex(md, 16, out + 1);
    out[33] = '"';
    out[34] = '\0';
}

int pf_etag_matches(const char *h, const char *etag)
{
    size_t elen = strlen(etag);

    while (h && *h) {
        const char *start, *end;

        while (*h == ' ' || *h == '\t' || *h == ',') {
            h++;
        }
        if (*h == '\0') {
            break;
        }
        if (*h == '*') {
            return 1;
        }
        if (h[0] == 'W' && h[1] == '/') {
            h += 2;
        }
        start = h;
        if (*h == '"') {
            end = strchr(h + 1, '"');
            if (!end) {
                return 0;
            }
            end++;
        }
        else {
            end = h;
            while (*end && *end != ',') {
                end++;
            }
        }
        if ((size_t)(end - start) == elen && memcmp(start, etag, elen) == 0) {
            return 1;
        }
        h = end;
    }
    return 0;
}
