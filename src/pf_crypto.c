/* Webhook secrets: generation, signatures, sealing under the key file. */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC, fstat under -std=c11 */

#include "pf_crypto.h"
#include "pf_key.h"

#include <apr_strings.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define PF_SEAL_VERSION 0x01
#define PF_SEAL_NONCE   12
#define PF_SEAL_TAG     16
#define PF_SEAL_OVERHEAD (1 + PF_SEAL_NONCE + PF_SEAL_TAG)

int pf_wh_secret_generate(char *out)
{
    unsigned char raw[32];

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        OPENSSL_cleanse(raw, sizeof(raw));
        return -1;
    }
    memcpy(out, PF_WH_SECRET_PREFIX, sizeof(PF_WH_SECRET_PREFIX) - 1);
    pf_hex(raw, sizeof(raw), out + sizeof(PF_WH_SECRET_PREFIX) - 1);
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

void pf_wh_sign(const char *key, size_t keylen, const void *body, size_t len, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    /* OpenSSL may refuse NULL pointers even for empty inputs. */
    if (key == NULL || keylen == 0) {
        key = "";
        keylen = 0;
    }
    if (body == NULL || len == 0) {
        body = "";
        len = 0;
    }
    if (keylen > INT_MAX
        || HMAC(EVP_sha256(), key, (int)keylen, body, len, md, &mdlen) == NULL
        || mdlen != 32) {
        /* An empty value never verifies: a receiver rejects the delivery
         * instead of trusting a made-up signature. */
        out[0] = '\0';
        return;
    }
    memcpy(out, "sha256=", 7);
    pf_hex(md, 32, out + 7);
    OPENSSL_cleanse(md, sizeof(md));
}

int pf_secret_key_load(const char *path, unsigned char key[PF_SECRET_KEY_LEN], const char **err)
{
    struct stat st;
    size_t off = 0;
    unsigned char extra;
    ssize_t n;
    int fd;

    if (path == NULL || path[0] == '\0') {
        *err = "is not set";
        return -1;
    }
    /* stat first, so a FIFO is refused before open could block on it. */
    if (stat(path, &st) != 0) {
        *err = (errno == ENOENT || errno == ENOTDIR) ? "does not exist" : "cannot be read";
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        *err = "is not a regular file";
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        *err = errno == ENOENT ? "does not exist" : "cannot be read";
        return -1;
    }
    /* Check again on the open file: the path may have changed meanwhile. */
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        *err = "is not a regular file";
        return -1;
    }
    if (st.st_size != PF_SECRET_KEY_LEN) {
        close(fd);
        *err = "must hold exactly 32 bytes (make one with: permafrost-admin secret-key generate FILE)";
        return -1;
    }
    while (off < PF_SECRET_KEY_LEN) {
        n = read(fd, key + off, PF_SECRET_KEY_LEN - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        off += (size_t)n;
    }
    /* A file that grew after fstat is as wrong as one of the wrong size. */
    do {
        n = read(fd, &extra, 1);
    } while (n < 0 && errno == EINTR);
    close(fd);
    OPENSSL_cleanse(&extra, sizeof(extra));
    if (off != PF_SECRET_KEY_LEN || n != 0) {
        OPENSSL_cleanse(key, PF_SECRET_KEY_LEN);
        *err = off == PF_SECRET_KEY_LEN && n > 0
               ? "must hold exactly 32 bytes (make one with: permafrost-admin secret-key generate FILE)"
               : "cannot be read";
        return -1;
    }
    return 0;
}

static size_t pf_aad_len(const char *aad)
{
    return aad ? strlen(aad) : 0;
}

const char *pf_seal_hex(apr_pool_t *p, const unsigned char key[PF_SECRET_KEY_LEN],
                        const char *plain, size_t len, const char *aad)
{
    size_t aadlen = pf_aad_len(aad), rawlen;
    unsigned char *raw, *nonce, *ct, *tag;
    EVP_CIPHER_CTX *ctx;
    char *hex = NULL;
    int aadl = 0, ctl = 0, finl = 0, ok;

    if (len > INT_MAX - PF_SEAL_OVERHEAD || aadlen > INT_MAX) {
        return NULL;
    }
    rawlen = PF_SEAL_OVERHEAD + len;
    raw = apr_palloc(p, rawlen);
    nonce = raw + 1;
    ct = nonce + PF_SEAL_NONCE;
    tag = ct + len;
    raw[0] = PF_SEAL_VERSION;
    /* A random 96-bit nonce is safe for the few secrets one key seals. */
    if (RAND_bytes(nonce, PF_SEAL_NONCE) != 1) {
        return NULL;
    }
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        return NULL;
    }
    ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, PF_SEAL_NONCE, NULL) == 1
         && EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) == 1
         && (aadlen == 0
             || EVP_EncryptUpdate(ctx, NULL, &aadl, (const unsigned char *)aad, (int)aadlen) == 1)
         && (len == 0
             || EVP_EncryptUpdate(ctx, ct, &ctl, (const unsigned char *)plain, (int)len) == 1)
         /* GCM is a stream mode: Final adds no bytes, only the tag. */
         && EVP_EncryptFinal_ex(ctx, ct + ctl, &finl) == 1
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, PF_SEAL_TAG, tag) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (ok) {
        hex = apr_palloc(p, 2 * rawlen + 1);
        pf_hex(raw, rawlen, hex);
    }
    return hex;
}

int pf_open_hex(apr_pool_t *p, const unsigned char key[PF_SECRET_KEY_LEN], const char *sealed,
                const char *aad, char **plain, size_t *len)
{
    size_t aadlen = pf_aad_len(aad), hexlen, rawlen, ctlen;
    unsigned char *raw, *out;
    EVP_CIPHER_CTX *ctx;
    int aadl = 0, ptl = 0, finl = 0, ok;

    if (sealed == NULL) {
        return -1;
    }
    hexlen = strlen(sealed);
    if (hexlen % 2 != 0 || hexlen < 2 * PF_SEAL_OVERHEAD || hexlen / 2 > INT_MAX
        || aadlen > INT_MAX) {
        return -1;
    }
    rawlen = hexlen / 2;
    raw = apr_palloc(p, rawlen);
    for (size_t i = 0; i < rawlen; i++) {
        int hi = pf_hexval(sealed[2 * i]), lo = pf_hexval(sealed[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return -1;
        }
        raw[i] = (unsigned char)(hi << 4 | lo);
    }
    if (raw[0] != PF_SEAL_VERSION) {
        return -1;
    }
    ctlen = rawlen - PF_SEAL_OVERHEAD;
    out = apr_palloc(p, ctlen + 1);
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        return -1;
    }
    ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, PF_SEAL_NONCE, NULL) == 1
         && EVP_DecryptInit_ex(ctx, NULL, NULL, key, raw + 1) == 1
         && (aadlen == 0
             || EVP_DecryptUpdate(ctx, NULL, &aadl, (const unsigned char *)aad, (int)aadlen) == 1)
         && (ctlen == 0
             || EVP_DecryptUpdate(ctx, out, &ptl, raw + 1 + PF_SEAL_NONCE, (int)ctlen) == 1)
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, PF_SEAL_TAG,
                                raw + rawlen - PF_SEAL_TAG) == 1
         /* Final checks the tag (in constant time); nothing is trusted before it. */
         && EVP_DecryptFinal_ex(ctx, out + ptl, &finl) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        OPENSSL_cleanse(out, ctlen + 1);
        return -1;
    }
    out[ctlen] = '\0';
    *plain = (char *)out;
    *len = ctlen;
    return 0;
}

#define WH_SECRET_AAD "permafrost-webhook-secret:"

const char *pf_wh_secret_seal(apr_pool_t *p, const unsigned char key[PF_SECRET_KEY_LEN],
                              const char *secret, const char *webhook_id)
{
    return pf_seal_hex(p, key, secret, strlen(secret),
                       apr_pstrcat(p, WH_SECRET_AAD, webhook_id, NULL));
}

int pf_wh_secret_open(apr_pool_t *p, const unsigned char key[PF_SECRET_KEY_LEN],
                      const char *sealed, const char *webhook_id, char **secret, size_t *len)
{
    return pf_open_hex(p, key, sealed, apr_pstrcat(p, WH_SECRET_AAD, webhook_id, NULL), secret,
                       len);
}

const char *pf_uuid4(apr_pool_t *p)
{
    unsigned char b[16];
    char hex[33];

    if (RAND_bytes(b, sizeof(b)) != 1) {
        return NULL;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    pf_hex(b, sizeof(b), hex);
    return apr_psprintf(p, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
                        hex + 20);
}
