#include "pf_cursor.h"
#include "pf_key.h"

#include <string.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define MAC_LEN 16 /* 128 bits is plenty to make forgery hopeless */
#define SEP '\x1f'

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64url(apr_pool_t *p, const unsigned char *in, size_t len)
{
    char *out = apr_palloc(p, len / 3 * 4 + 5), *o = out;
    size_t i = 0;

    for (; i + 2 < len; i += 3) {
        *o++ = b64[in[i] >> 2];
        *o++ = b64[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
        *o++ = b64[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
        *o++ = b64[in[i + 2] & 63];
    }
    if (len - i == 1) {
        *o++ = b64[in[i] >> 2];
        *o++ = b64[(in[i] & 3) << 4];
    }
    else if (len - i == 2) {
        *o++ = b64[in[i] >> 2];
        *o++ = b64[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
        *o++ = b64[(in[i + 1] & 15) << 2];
    }
    *o = '\0';
    return out;
}

static int b64val(char c)
{
    const char *f = c ? strchr(b64, c) : NULL;
    return f ? (int)(f - b64) : -1;
}

/* Strict decoder: no padding, no stray characters. Returns length or -1. */
static long unb64url(apr_pool_t *p, const char *in, size_t len, unsigned char **out)
{
    unsigned char *o;
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;

    if (len % 4 == 1) {
        return -1;
    }
    o = apr_palloc(p, len * 3 / 4 + 1);
    for (size_t i = 0; i < len; i++) {
        int v = b64val(in[i]);
        if (v < 0) {
            return -1;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) {
        return -1; /* non-canonical trailing bits */
    }
    *out = o;
    return (long)n;
}

static void mac(const unsigned char *key, const char *binding, const unsigned char *payload,
                size_t len, unsigned char out[32])
{
    unsigned int outlen = 32;
    unsigned char *buf;
    size_t blen = strlen(binding);

    /* HMAC over binding NUL payload: the NUL keeps the two apart. */
    buf = OPENSSL_malloc(blen + 1 + len);
    if (!buf) {
        memset(out, 0, 32);
        return;
    }
    memcpy(buf, binding, blen);
    buf[blen] = 0;
    memcpy(buf + blen + 1, payload, len);
    HMAC(EVP_sha256(), key, PF_CURSOR_KEY_LEN, buf, blen + 1 + len, out, &outlen);
    OPENSSL_free(buf);
}

const char *pf_cursor_encode(apr_pool_t *p, const unsigned char *key, const char *binding,
                             const char *const *fields, int nfields)
{
    size_t len = 0, o = 0;
    char *payload;
    unsigned char m[32];

    for (int i = 0; i < nfields; i++) {
        len += strlen(fields[i]) + 1;
    }
    payload = apr_palloc(p, len + 1);
    for (int i = 0; i < nfields; i++) {
        size_t n = strlen(fields[i]);
        memcpy(payload + o, fields[i], n);
        o += n;
        payload[o++] = SEP;
    }
    mac(key, binding, (unsigned char *)payload, o, m);
    return apr_pstrcat(p, b64url(p, (unsigned char *)payload, o), ".", b64url(p, m, MAC_LEN),
                       NULL);
}

int pf_cursor_decode(apr_pool_t *p, const unsigned char *key, const char *binding,
                     const char *cursor, const char **fields, int nfields)
{
    const char *dot = strchr(cursor, '.');
    unsigned char *payload, *given, want[32];
    long plen, mlen;
    int n = 0;
    size_t start = 0;

    if (!dot || nfields > PF_CURSOR_MAX_FIELDS) {
        return -1;
    }
    plen = unb64url(p, cursor, (size_t)(dot - cursor), &payload);
    mlen = unb64url(p, dot + 1, strlen(dot + 1), &given);
    if (plen <= 0 || mlen != MAC_LEN) {
        return -1;
    }
    mac(key, binding, payload, (size_t)plen, want);
    if (!pf_ct_equal(want, given, MAC_LEN)) {
        return -1;
    }
    for (long i = 0; i < plen; i++) {
        if (payload[i] == (unsigned char)SEP) {
            if (n == nfields) {
                return -1;
            }
            fields[n++] = apr_pstrmemdup(p, (char *)payload + start, (apr_size_t)(i - (long)start));
            start = (size_t)i + 1;
        }
    }
    return (n == nfields && start == (size_t)plen) ? 0 : -1;
}
