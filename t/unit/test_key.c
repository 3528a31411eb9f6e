/* Key format, CRC-32, hashing, scopes, UUIDs, routes. */
#include "tap.h"
#include "pf_key.h"
#include "pf_route.h"

#include <openssl/evp.h>

/* The bit-by-bit definition, for checking the module's table-driven one. */
static unsigned crc32_bitwise(const unsigned char *p, size_t len)
{
    unsigned crc = 0xffffffffu;

    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++) {
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
        }
    }
    return crc ^ 0xffffffffu;
}

static void test_crc_against_bitwise(void)
{
    unsigned char buf[300];
    int same = 1;

    for (int c = 0; c < 256; c++) {
        unsigned char one = (unsigned char)c;
        same = same && pf_crc32(&one, 1) == crc32_bitwise(&one, 1);
    }
    ok(same, "crc32 of every single byte matches the bitwise definition");
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = (unsigned char)(i * 131u + 7u);
    }
    same = 1;
    for (size_t n = 0; n <= sizeof(buf); n++) {
        same = same && pf_crc32(buf, n) == crc32_bitwise(buf, n);
    }
    ok(same, "crc32 of 0 to 300 bytes matches the bitwise definition");
}

int main(void)
{
    char key[PF_KEY_LEN + 1], bad[PF_KEY_LEN + 1];
    unsigned char md[32];
    char hex[65];
    pf_route rt;

    /* zlib's published check value for "123456789" */
    ok(pf_crc32("123456789", 9) == 0xcbf43926u, "crc32 check value");
    ok(pf_crc32("", 0) == 0, "crc32 of nothing");
    test_crc_against_bitwise();

    ok(pf_key_generate(key) == 0, "generate");
    ok(strlen(key) == PF_KEY_LEN && strncmp(key, "pfrost_", 7) == 0, "generated key shape");
    ok(pf_key_check(key, strlen(key)) == PF_KEY_OK, "generated key passes");
    {
        char other[PF_KEY_LEN + 1];
        pf_key_generate(other);
        ok(strcmp(key, other) != 0, "two keys differ");
    }
    memcpy(bad, key, sizeof(bad));
    bad[10] = bad[10] == 'a' ? 'b' : 'a';
    ok(pf_key_check(bad, strlen(bad)) == PF_KEY_BAD_CHECKSUM, "one changed digit fails the checksum");
    memcpy(bad, key, sizeof(bad));
    bad[PF_KEY_LEN - 1] = bad[PF_KEY_LEN - 1] == '0' ? '1' : '0';
    ok(pf_key_check(bad, strlen(bad)) == PF_KEY_BAD_CHECKSUM, "changed checksum digit fails");
    memcpy(bad, key, sizeof(bad));
    bad[12] = 'A';
    ok(pf_key_check(bad, strlen(bad)) == PF_KEY_BAD_CHARS, "upper case is malformed");
    memcpy(bad, key, sizeof(bad));
    bad[0] = 'x';
    ok(pf_key_check(bad, strlen(bad)) == PF_KEY_BAD_PREFIX, "other prefix");
    ok(pf_key_check(key, strlen(key) - 1) == PF_KEY_BAD_LENGTH, "short key");
    ok(pf_key_check("", 0) == PF_KEY_BAD_LENGTH, "empty key");
    /* A fixed key whose CRC was computed independently (Python's zlib.crc32) */
    ok(pf_key_check("pfrost_0123456789abcdef0123456789abcdef012345672a342d20", 55) == PF_KEY_OK,
       "independent vector passes");
    {
        const char *body = "0123456789abcdef0123456789abcdef01234567";
        char k[PF_KEY_LEN + 1];
        unsigned crc = pf_crc32(body, 40);
        snprintf(k, sizeof(k), "pfrost_%s%08x", body, crc);
        ok(pf_key_check(k, strlen(k)) == PF_KEY_OK, "constructed key with its CRC passes");
        ok(crc == 0x2a342d20u, "crc of a fixed body matches zlib");
    }

    pf_sha256("abc", 3, md);
    pf_hex(md, 32, hex);
    is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "sha256 of abc");
    {
        EVP_MD *sha = EVP_MD_fetch(NULL, "SHA256", NULL);

        ok(sha != NULL, "SHA256 fetched");
        memset(md, 0, sizeof(md));
        pf_sha256_md(sha, "abc", 3, md);
        pf_hex(md, 32, hex);
        is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
               "sha256 of abc with the fetched digest");
        memset(md, 0, sizeof(md));
        pf_sha256_md(NULL, "abc", 3, md);
        pf_hex(md, 32, hex);
        is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
               "sha256 of abc without one");
        {
            const char *k = "pfrost_0123456789abcdef0123456789abcdef01234567deadbeef";
            unsigned char a[32], b[32];
            pf_sha256(k, strlen(k), a);
            pf_sha256_md(sha, k, strlen(k), b);
            ok(memcmp(a, b, 32) == 0, "a key's hash is the same either way");
        }
        EVP_MD_free(sha);
    }
    ok(pf_ct_equal("abcd", "abcd", 4) && !pf_ct_equal("abcd", "abce", 4), "ct_equal");

    ok(pf_scopes_parse("read:identities,manage:webhooks") ==
       (PF_SCOPE_READ_IDENTITIES | PF_SCOPE_MANAGE_WEBHOOKS), "scope list");
    ok(pf_scopes_parse("read:everything") == 0, "unknown scopes grant nothing");
    ok(pf_scopes_parse("") == 0, "no scopes");
    is_str(pf_scope_name(PF_SCOPE_READ_ROLES), "read:roles", "scope name");

    ok(pf_is_uuid("0a1b2c3d-0000-4000-8000-00000000000f", 0), "lowercase uuid");
    ok(!pf_is_uuid("0A1B2C3D-0000-4000-8000-00000000000F", 0), "uppercase refused when strict");
    ok(pf_is_uuid("0A1B2C3D-0000-4000-8000-00000000000F", 1), "uppercase allowed when asked");
    ok(!pf_is_uuid("0a1b2c3d-0000-4000-8000-00000000000", 0), "short uuid");
    ok(!pf_is_uuid("0a1b2c3d-0000-4000-8000-00000000000ff", 0), "long uuid");
    ok(!pf_is_uuid("0a1b2c3d00000-4000-8000-00000000000f", 0), "misplaced dash");

    ok(pf_route_match("/findings", &rt) == 0 && rt.id == PF_ROUTE_FINDINGS
       && rt.scope == PF_SCOPE_READ_FINDINGS, "findings list route");
    ok(pf_route_match("/findings/0a1b2c3d-0000-4000-8000-00000000000f", &rt) == 0
       && rt.id == PF_ROUTE_FINDING && strcmp(rt.param, "0a1b2c3d-0000-4000-8000-00000000000f") == 0,
       "finding detail route");
    ok(pf_route_match("/findings/", &rt) == -1, "trailing slash is no route");
    ok(pf_route_match("/findings/0a1b2c3d-0000-4000-8000-00000000000f/", &rt) == -1,
       "trailing slash after id is no route");
    ok(pf_route_match("/findings/not-a-uuid", &rt) == -1, "non-uuid id");
    ok(pf_route_match("/findings/0A1B2C3D-0000-4000-8000-00000000000F", &rt) == -1,
       "uppercase id is no route");
    ok(pf_route_match("/tenants", &rt) == 0 && rt.scope == PF_SCOPE_READ_IDENTITIES,
       "tenants needs read:identities");
    ok(pf_route_match("/roles/0a1b2c3d-0000-4000-8000-00000000000f", &rt) == -1,
       "roles has no detail");
    ok(pf_route_match("/health", &rt) == 0 && rt.public_route, "health is public");
    ok(pf_route_match("/openapi.json", &rt) == 0 && rt.public_route, "openapi is public");
    ok(pf_route_match("/webhooks/0a1b2c3d-0000-4000-8000-00000000000f/deliveries", &rt) == 0
       && rt.id == PF_ROUTE_WEBHOOK_DELIVERIES, "deliveries route");
    ok(pf_route_match("/webhooks/0a1b2c3d-0000-4000-8000-00000000000f", &rt) == 0
       && strcmp(rt.allow, "GET, HEAD, DELETE") == 0, "webhook Allow");
    ok(pf_route_match("", &rt) == -1 && pf_route_match("/", &rt) == -1, "root is no route");
    ok(pf_route_match("/findingsx", &rt) == -1, "prefix of a name is no route");
    ok(pf_method_flag("HEAD") == PF_METHOD_GET && pf_method_flag("PUT") == 0, "method flags");
    return tap_done();
}
