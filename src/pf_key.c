#include "pf_key.h"

#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

uint32_t pf_crc32(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint32_t crc = 0xffffffffu;

    /* Bitwise is fast enough: keys are 40 bytes and checked once each. */
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++) {
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
        }
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
