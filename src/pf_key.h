/* API key format, checksum, hashing and scopes: no httpd dependency. */
#ifndef PF_KEY_H
#define PF_KEY_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>

#define PF_KEY_PREFIX      "pfrost_"
#define PF_KEY_PREFIX_LEN  7
#define PF_KEY_RANDOM_HEX  40
#define PF_KEY_CRC_HEX     8
#define PF_KEY_LEN         (PF_KEY_PREFIX_LEN + PF_KEY_RANDOM_HEX + PF_KEY_CRC_HEX)
#define PF_KEY_SHOWN_LEN   12 /* characters kept as key_prefix */

typedef enum {
    PF_KEY_OK = 0,
    PF_KEY_BAD_LENGTH,
    PF_KEY_BAD_PREFIX,
    PF_KEY_BAD_CHARS,
    PF_KEY_BAD_CHECKSUM
} pf_key_status;

/* zlib-compatible CRC-32 (IEEE 802.3, reflected, init and xorout ~0). */
uint32_t pf_crc32(const void *buf, size_t len);

/* Checks format and checksum; never touches a database. */
pf_key_status pf_key_check(const char *key, size_t len);

/* Fills out (PF_KEY_LEN + 1 bytes) with a new key; 0 on success, -1 when
 * the CSPRNG fails. */
int pf_key_generate(char *out);

/* SHA-256 of the bytes: raw 32 bytes and/or 64 lowercase hex + NUL. */
void pf_sha256(const void *buf, size_t len, unsigned char out[32]);
/* The same with a digest fetched once (EVP_MD_fetch "SHA256"): OpenSSL 3
 * otherwise looks the algorithm up on every call, 2,300 of the 5,800
 * instructions a key's hash took. md NULL: as pf_sha256. */
void pf_sha256_md(const EVP_MD *md, const void *buf, size_t len, unsigned char out[32]);
void pf_hex(const unsigned char *in, size_t len, char *out);

/* Value of one hex digit (either case), -1 for anything else. */
int pf_hexval(char c);

/* Constant-time equality for secrets of equal length. */
int pf_ct_equal(const void *a, const void *b, size_t len);

/* Scopes are bit flags so a key's scopes fit one integer in shared memory. */
enum {
    PF_SCOPE_READ_IDENTITIES = 1u << 0,
    PF_SCOPE_READ_FINDINGS   = 1u << 1,
    PF_SCOPE_READ_ROLES      = 1u << 2,
    PF_SCOPE_MANAGE_WEBHOOKS = 1u << 3
};
#define PF_SCOPE_ALL 0x0fu

/* Returns the flag for a scope name, 0 when unknown. */
unsigned pf_scope_from_name(const char *name, size_t len);
const char *pf_scope_name(unsigned flag);
/* Parses "a,b,c" (PostgreSQL array_to_string output); unknown names are
 * ignored so a newer schema cannot widen an older module's grants. */
unsigned pf_scopes_parse(const char *csv);

/* Lowercase canonical UUID check (8-4-4-4-12 hex digits). Accepts upper
 * case when allow_upper is set. */
int pf_is_uuid(const char *s, int allow_upper);

#endif
