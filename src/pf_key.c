#include "pf_key.h"

#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

/* CRC-32 (zlib's) four bits at a time. The check runs on every request,
 * before the key cache: bit by bit it took 2,850 instructions for a key. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u,
    0x4db26158u, 0x5005713cu, 0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
    0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu,
};

uint32_t pf_crc32(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint32_t crc = 0xffffffffu;

    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
    }
    return crc ^ 0xffffffffu;
}

static int is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

pf_key_status pf_key_check(const char *key, size_t len)
{
    char want[PF_KEY_CRC_HEX + 1];
    const char *body;
    uint32_t crc;

    if (len != PF_KEY_LEN) {
        return PF_KEY_BAD_LENGTH;
    }
    if (memcmp(key, PF_KEY_PREFIX, PF_KEY_PREFIX_LEN) != 0) {
        return PF_KEY_BAD_PREFIX;
    }
    body = key + PF_KEY_PREFIX_LEN;
    for (size_t i = 0; i < PF_KEY_RANDOM_HEX + PF_KEY_CRC_HEX; i++) {
        if (!is_lower_hex(body[i])) {
            return PF_KEY_BAD_CHARS;
        }
    }
    crc = pf_crc32(body, PF_KEY_RANDOM_HEX);
    for (int i = 0; i < PF_KEY_CRC_HEX; i++) {
        want[i] = "0123456789abcdef"[(crc >> (28 - 4 * i)) & 0xfu];
    }
    if (memcmp(want, body + PF_KEY_RANDOM_HEX, PF_KEY_CRC_HEX) != 0) {
        return PF_KEY_BAD_CHECKSUM;
    }
    return PF_KEY_OK;
}

int pf_hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

void pf_hex(const unsigned char *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = "0123456789abcdef"[in[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[in[i] & 0xfu];
    }
    out[2 * len] = '\0';
}

int pf_key_generate(char *out)
{
    unsigned char rnd[PF_KEY_RANDOM_HEX / 2];
    uint32_t crc;
    char *body = out + PF_KEY_PREFIX_LEN;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return -1;
    }
    memcpy(out, PF_KEY_PREFIX, PF_KEY_PREFIX_LEN);
    pf_hex(rnd, sizeof(rnd), body);
    crc = pf_crc32(body, PF_KEY_RANDOM_HEX);
    for (int i = 0; i < PF_KEY_CRC_HEX; i++) {
        body[PF_KEY_RANDOM_HEX + i] = "0123456789abcdef"[(crc >> (28 - 4 * i)) & 0xfu];
    }
    out[PF_KEY_LEN] = '\0';
    OPENSSL_cleanse(rnd, sizeof(rnd));
    return 0;
}

void pf_sha256(const void *buf, size_t len, unsigned char out[32])
{
    SHA256(buf, len, out);
}

void pf_sha256_md(const EVP_MD *md, const void *buf, size_t len, unsigned char out[32])
{
    if (!md || EVP_Digest(buf, len, out, NULL, md, NULL) != 1) {
        SHA256(buf, len, out);
    }
}

int pf_ct_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

static const struct {
    const char *name;
    unsigned flag;
} scope_names[] = {
    { "read:identities", PF_SCOPE_READ_IDENTITIES },
    { "read:findings", PF_SCOPE_READ_FINDINGS },
    { "read:roles", PF_SCOPE_READ_ROLES },
    { "manage:webhooks", PF_SCOPE_MANAGE_WEBHOOKS },
};

unsigned pf_scope_from_name(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]); i++) {
        if (strlen(scope_names[i].name) == len && memcmp(scope_names[i].name, name, len) == 0) {
            return scope_names[i].flag;
        }
    }
    return 0;
}

const char *pf_scope_name(unsigned flag)
{
    for (size_t i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]); i++) {
        if (scope_names[i].flag == flag) {
            return scope_names[i].name;
        }
    }
    return NULL;
}

unsigned pf_scopes_parse(const char *csv)
{
    unsigned mask = 0;
    const char *p = csv;

    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        mask |= pf_scope_from_name(p, n);
        p = end ? end + 1 : NULL;
    }
    return mask;
}

int pf_is_uuid(const char *s, int allow_upper)
{
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') {
                return 0;
            }
        }
        else if (!is_lower_hex(c) && !(allow_upper && c >= 'A' && c <= 'F')) {
            return 0;
        }
    }
    return s[36] == '\0';
}
