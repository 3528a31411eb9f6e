/* Webhook secrets: generation, HMAC-SHA256 signatures, and AES-256-GCM
 * sealing of the stored copy under the server's secret key file. No httpd
 * dependency. */
#ifndef PF_CRYPTO_H
#define PF_CRYPTO_H

#include <stddef.h>
#include <apr_pools.h>

#define PF_SECRET_KEY_LEN   32   /* bytes in PermafrostSecretKeyFile */
#define PF_WH_SECRET_PREFIX "pfwhsec_"
#define PF_WH_SECRET_LEN    (8 + 64)
#define PF_SIGNATURE_LEN    (7 + 64) /* "sha256=" + hex */

/* Fills out (PF_WH_SECRET_LEN + 1 bytes) with "pfwhsec_" + 64 hex digits
 * from OpenSSL's CSPRNG. 0 on success, -1 when the CSPRNG fails. */
int pf_wh_secret_generate(char *out);

/* out (PF_SIGNATURE_LEN + 1 bytes) = "sha256=" + hex HMAC-SHA256(key, body):
 * the X-Permafrost-Signature-256 value. Should OpenSSL fail, out is the
 * empty string, which no receiver accepts. */
void pf_wh_sign(const char *key, size_t keylen, const void *body, size_t len, char *out);

/* Reads PermafrostSecretKeyFile: a regular file of exactly
 * PF_SECRET_KEY_LEN bytes. 0 on success; -1 with *err (a static phrase to
 * follow the path, e.g. "does not exist", "is not a regular file", "must
 * hold exactly 32 bytes (...)", "cannot be read") otherwise; key is then
 * cleared. */
int pf_secret_key_load(const char *path, unsigned char key[PF_SECRET_KEY_LEN], const char **err);

/* AES-256-GCM with a random 96-bit nonce. The sealed form is lowercase hex
 * of: version byte 0x01 | nonce (12) | ciphertext | tag (16). aad binds
 * the ciphertext to its row (the webhook id), so a sealed secret copied to
 * another row does not open. Returns NULL when OpenSSL fails. */
const char *pf_seal_hex(apr_pool_t *p, const unsigned char key[PF_SECRET_KEY_LEN],
                        const char *plain, size_t len, const char *aad);

/* Opens pf_seal_hex output. 0 with *plain (NUL-terminated, pool memory)
 * and *len; -1 when malformed, the key is wrong, aad differs or the text
 * was altered. */
int pf_open_hex(apr_pool_t *p, const unsigned char key[PF_SECRET_KEY_LEN], const char *sealed,
                const char *aad, char **plain, size_t *len);

/* A webhook's signing secret sealed for its row: pf_seal_hex with the AAD
 * "permafrost-webhook-secret:<webhook id>". The module seals at creation
 * and opens at delivery through these two only, so the binding is defined
 * once. */
const char *pf_wh_secret_seal(apr_pool_t *p, const unsigned char key[PF_SECRET_KEY_LEN],
                              const char *secret, const char *webhook_id);
int pf_wh_secret_open(apr_pool_t *p, const unsigned char key[PF_SECRET_KEY_LEN],
                      const char *sealed, const char *webhook_id, char **secret, size_t *len);

/* A random (version 4) UUID, lowercase, from OpenSSL's CSPRNG; NULL when
 * the CSPRNG fails. */
const char *pf_uuid4(apr_pool_t *p);

#endif
