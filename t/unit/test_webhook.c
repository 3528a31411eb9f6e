/* Webhook core: secrets, signatures, the sealed secret format, the key
 * file, URL checks and redaction, POST /webhooks validation, delivery
 * bodies for each receiver, and the retry schedule. */
#define _POSIX_C_SOURCE 200809L /* mkstemp, mkdtemp under -std=c11 */
#include "tap.h"
#include "pf_addr.h"
#include "pf_crypto.h"
#include "pf_webhook.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <apr_general.h>
#include <apr_strings.h>

static const unsigned char key1[PF_SECRET_KEY_LEN] = {
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32
};
static const unsigned char key2[PF_SECRET_KEY_LEN] = { 9 };

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

/* Flips one bit of the byte at raw offset `byte` in a sealed hex string. */
static char *flip(apr_pool_t *p, const char *sealed, size_t byte)
{
    char *s = apr_pstrdup(p, sealed);
    char *d = s + 2 * byte + 1;

    *d = *d == '0' ? '1' : (*d == '1' ? '0' : (char)(*d ^ 1));
    return s;
}

static int opens(apr_pool_t *p, const unsigned char *key, const char *sealed, const char *aad)
{
    char *plain = NULL;
    size_t len = 0;

    return pf_open_hex(p, key, sealed, aad, &plain, &len) == 0;
}

static void test_crypto(apr_pool_t *p)
{
    char s1[PF_WH_SECRET_LEN + 1], s2[PF_WH_SECRET_LEN + 1], sig[PF_SIGNATURE_LEN + 1];
    const char *sealed, *sealed2;
    char *plain = NULL;
    size_t len = 0;
    const char *secret = "pfwhsec_0123456789abcdef0123456789abcdef0123456789abcdef01234567";

    ok(pf_wh_secret_generate(s1) == 0 && pf_wh_secret_generate(s2) == 0, "secrets generated");
    ok(strlen(s1) == PF_WH_SECRET_LEN && strncmp(s1, "pfwhsec_", 8) == 0, "secret prefix, length");
    ok(is_lower_hex(s1 + 8, 64), "secret is 64 lowercase hex digits");
    ok(strcmp(s1, s2) != 0, "two secrets differ");

    /* The row binding the module relies on: sealed for one webhook id, the
     * secret opens for that id only. */
    {
        unsigned char k[PF_SECRET_KEY_LEN];
        const char *id = "0a1b2c3d-0000-4000-8000-00000000000f";
        const char *w = NULL;
        memset(k, 7, sizeof(k));
        w = pf_wh_secret_seal(p, k, secret, id);
        ok(w && pf_wh_secret_open(p, k, w, id, &plain, &len) == 0 && len == strlen(secret)
           && strcmp(plain, secret) == 0, "webhook secret opens for its own id");
        ok(w && pf_wh_secret_open(p, k, w, "0a1b2c3d-0000-4000-8000-00000000000e", &plain,
                                  &len) != 0, "webhook secret does not open for another id");
        ok(w && opens(p, k, w, "permafrost-webhook-secret:0a1b2c3d-0000-4000-8000-00000000000f"),
           "the binding is the documented AAD (the black-box test decrypts with it)");
    }
    {
        const char *u1 = pf_uuid4(p), *u2 = pf_uuid4(p);
        ok(u1 && u2 && strlen(u1) == 36 && strcmp(u1, u2) != 0, "two uuids, 36 characters");
        ok(u1 && u1[14] == '4' && strchr("89ab", u1[19]) && u1[8] == '-' && u1[23] == '-',
           "uuid version 4, RFC 4122 variant");
        ok(u1 && is_lower_hex(u1, 8) && is_lower_hex(u1 + 24, 12), "uuid lowercase hex");
    }

    /* GitHub's published webhook signature example */
    pf_wh_sign("It's a Secret to Everybody", 26, "Hello, World!", 13, sig);
    is_str(sig, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
           "signature matches GitHub's vector");
    ok(strlen(sig) == PF_SIGNATURE_LEN, "signature length");
    /* RFC 4231 test case 2 */
    pf_wh_sign("Jefe", 4, "what do ya want for nothing?", 28, sig);
    is_str(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
           "RFC 4231 case 2");
    pf_wh_sign("", 0, NULL, 0, sig);
    is_str(sig, "sha256=b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
           "empty key and body");

    sealed = pf_seal_hex(p, key1, secret, strlen(secret), "wh-1");
    ok(sealed != NULL, "sealed");
    ok(sealed && strlen(sealed) == 2 * (1 + 12 + strlen(secret) + 16), "sealed length");
    ok(sealed && strncmp(sealed, "01", 2) == 0 && is_lower_hex(sealed, strlen(sealed)),
       "version 1, lowercase hex");
    ok(sealed && strstr(sealed, "0123456789abcdef") == NULL, "plaintext not visible");
    ok(pf_open_hex(p, key1, sealed, "wh-1", &plain, &len) == 0, "opens");
    is_str(plain, secret, "round trip");
    ok(len == strlen(secret), "round trip length");
    sealed2 = pf_seal_hex(p, key1, secret, strlen(secret), "wh-1");
    ok(sealed2 && strcmp(sealed, sealed2) != 0, "two seals of one text differ");
    ok(sealed2 && strncmp(sealed + 2, sealed2 + 2, 24) != 0, "random nonces differ");
    ok(!opens(p, key2, sealed, "wh-1"), "wrong key fails");
    ok(!opens(p, key1, sealed, "wh-2"), "other aad fails");
    ok(!opens(p, key1, sealed, ""), "empty aad fails");
    ok(!opens(p, key1, sealed, NULL), "no aad fails");
    ok(!opens(p, key1, flip(p, sealed, 0), "wh-1"), "version byte 0 fails");
    {
        char *v2 = apr_pstrdup(p, sealed);
        v2[1] = '2';
        ok(!opens(p, key1, v2, "wh-1"), "version byte 2 fails");
    }
    ok(!opens(p, key1, flip(p, sealed, 1), "wh-1"), "flipped nonce bit fails");
    ok(!opens(p, key1, flip(p, sealed, 12), "wh-1"), "flipped last nonce bit fails");
    ok(!opens(p, key1, flip(p, sealed, 13), "wh-1"), "flipped ciphertext bit fails");
    ok(!opens(p, key1, flip(p, sealed, 13 + strlen(secret) - 1), "wh-1"),
       "flipped last ciphertext bit fails");
    ok(!opens(p, key1, flip(p, sealed, 13 + strlen(secret)), "wh-1"), "flipped tag bit fails");
    ok(!opens(p, key1, flip(p, sealed, strlen(sealed) / 2 - 1), "wh-1"),
       "flipped last tag bit fails");
    ok(!opens(p, key1, apr_pstrndup(p, sealed, strlen(sealed) - 2), "wh-1"), "truncated fails");
    ok(!opens(p, key1, apr_pstrndup(p, sealed, strlen(sealed) - 1), "wh-1"), "odd length fails");
    ok(!opens(p, key1, apr_pstrndup(p, sealed, 2 * 28), "wh-1"),
       "header and no tag fails");
    ok(!opens(p, key1, apr_pstrcat(p, sealed, "00", NULL), "wh-1"), "extra byte fails");
    {
        char *bad = apr_pstrdup(p, sealed);
        bad[40] = 'g';
        ok(!opens(p, key1, bad, "wh-1"), "non-hex fails");
        bad[40] = ' ';
        ok(!opens(p, key1, bad, "wh-1"), "space fails");
    }
    ok(!opens(p, key1, "", "wh-1"), "empty fails");
    ok(!opens(p, key1, NULL, "wh-1"), "NULL fails");
    ok(!opens(p, key1, "zz", "wh-1"), "junk fails");

    sealed = pf_seal_hex(p, key1, "", 0, NULL);
    ok(sealed && strlen(sealed) == 2 * 29, "empty text seals");
    ok(sealed && pf_open_hex(p, key1, sealed, NULL, &plain, &len) == 0 && len == 0
       && plain[0] == '\0', "empty text opens");
    ok(sealed && pf_open_hex(p, key1, sealed, "", &plain, &len) == 0,
       "NULL aad equals empty aad");
}

/* A temp file with n bytes; returns its path (pool memory). */
static char *temp_file(apr_pool_t *p, size_t n)
{
    char *path = apr_pstrdup(p, "/tmp/pf-test-key-XXXXXX");
    unsigned char buf[64];
    int fd = mkstemp(path);

    memset(buf, 0x5a, sizeof(buf));
    if (fd < 0 || write(fd, buf, n) != (ssize_t)n) {
        printf("# cannot create a temp file\n");
    }
    if (fd >= 0) {
        close(fd);
    }
    return path;
}

static void test_key_file(apr_pool_t *p)
{
    unsigned char key[PF_SECRET_KEY_LEN];
    const char *err = NULL;
    char *path, *dir;

    path = temp_file(p, 32);
    ok(pf_secret_key_load(path, key, &err) == 0, "32-byte file loads");
    ok(key[0] == 0x5a && key[31] == 0x5a, "key bytes read");
    unlink(path);
    err = NULL;
    ok(pf_secret_key_load(path, key, &err) == -1, "missing file refused");
    is_str(err, "does not exist", "missing file message");

    path = temp_file(p, 31);
    err = NULL;
    ok(pf_secret_key_load(path, key, &err) == -1, "31 bytes refused");
    ok(err && strstr(err, "must hold exactly 32 bytes")
       && strstr(err, "permafrost-admin secret-key generate"), "31 bytes message");
    unlink(path);
    path = temp_file(p, 33);
    err = NULL;
    ok(pf_secret_key_load(path, key, &err) == -1, "33 bytes refused");
    ok(err && strstr(err, "must hold exactly 32 bytes"), "33 bytes message");
    unlink(path);
    path = temp_file(p, 0);
    err = NULL;
    ok(pf_secret_key_load(path, key, &err) == -1, "empty file refused");
    unlink(path);

    dir = apr_pstrdup(p, "/tmp/pf-test-dir-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        printf("# cannot create a temp directory\n");
    }
    err = NULL;
    ok(pf_secret_key_load(dir, key, &err) == -1, "directory refused");
    is_str(err, "is not a regular file", "directory message");
    err = NULL;
    ok(pf_secret_key_load(apr_pstrcat(p, dir, "/missing", NULL), key, &err) == -1,
       "missing file in a directory refused");
    is_str(err, "does not exist", "missing file in a directory message");
    rmdir(dir);
    err = NULL;
    ok(pf_secret_key_load("", key, &err) == -1 && err != NULL, "empty path refused");
}

typedef struct {
    const char *url;
    int allow_http;
    const char *err;  /* NULL: accepted */
    const char *host;
    int port;
} url_case;

static const url_case url_cases[] = {
    { "https://hooks.example.com/services/T0/B0/XXXX", 0, NULL, "hooks.example.com", 443 },
    { "HTTPS://Hooks.Example.COM/Path", 0, NULL, "hooks.example.com", 443 },
    { "https://example.com", 0, NULL, "example.com", 443 },
    { "https://example.com:8443/x?y=1", 0, NULL, "example.com", 8443 },
    { "https://example.com:1/", 0, NULL, "example.com", 1 },
    { "https://example.com:65535/", 0, NULL, "example.com", 65535 },
    { "https://example.com?a=b", 0, NULL, "example.com", 443 },
    { "https://my_host.example.com./x", 0, NULL, "my_host.example.com.", 443 },
    { "https://[2001:db8::1]/x", 0, NULL, "2001:db8::1", 443 },
    { "https://[2001:DB8::1]:8443", 0, NULL, "2001:db8::1", 8443 },
    { "https://8.8.8.8/hook", 0, NULL, "8.8.8.8", 443 },
    { "http://example.com/x", 1, NULL, "example.com", 80 },
    { "http://example.com:8080/x", 1, NULL, "example.com", 8080 },
    { "https://example.com/x", 1, NULL, "example.com", 443 },
    { "http://example.com/x", 0, "must be an https URL", NULL, 0 },
    { "ftp://example.com/x", 0, "must be an https URL", NULL, 0 },
    { "ftp://example.com/x", 1, "must be an http or https URL", NULL, 0 },
    { "example.com/x", 0, "must be an https URL", NULL, 0 },
    { "https:/example.com/x", 0, "must be an https URL", NULL, 0 },
    { "//example.com/x", 0, "must be an https URL", NULL, 0 },
    { "", 0, "must be an https URL", NULL, 0 },
    { "https://user@example.com/x", 0, "must not contain user information (user@)", NULL, 0 },
    { "https://user:pw@example.com/x", 0, "must not contain user information (user@)", NULL, 0 },
    { "https://@example.com/x", 0, "must not contain user information (user@)", NULL, 0 },
    { "https:///x", 0, "must have a host", NULL, 0 },
    { "https://", 0, "must have a host", NULL, 0 },
    { "https://:443/x", 0, "must have a host", NULL, 0 },
    { "https://example.com:0/", 0, "has an invalid port (use 1 to 65535)", NULL, 0 },
    { "https://example.com:65536/", 0, "has an invalid port (use 1 to 65535)", NULL, 0 },
    { "https://example.com:abc/", 0, "has an invalid port (use 1 to 65535)", NULL, 0 },
    { "https://example.com:/", 0, "has an invalid port (use 1 to 65535)", NULL, 0 },
    { "https://example.com:+443/", 0, "has an invalid port (use 1 to 65535)", NULL, 0 },
    { "https://example.com:000443/", 0, "has an invalid port (use 1 to 65535)", NULL, 0 },
    { "https://example.com:443:443/", 0, "has an invalid port (use 1 to 65535)", NULL, 0 },
    { "https://example.com/x#frag", 0, "must not contain a fragment", NULL, 0 },
    { "https://example.com#", 0, "must not contain a fragment", NULL, 0 },
    { "https://example.com/a b", 0,
      "must contain only printable ASCII characters (no spaces)", NULL, 0 },
    { "https://exa mple.com/", 0,
      "must contain only printable ASCII characters (no spaces)", NULL, 0 },
    { "https://example.com/\t", 0,
      "must contain only printable ASCII characters (no spaces)", NULL, 0 },
    { "https://example.com/\x7f", 0,
      "must contain only printable ASCII characters (no spaces)", NULL, 0 },
    { "https://ex\xc3\xa4mple.com/", 0,
      "must contain only printable ASCII characters (no spaces)", NULL, 0 },
    { "https://example.com/\xc3\xa4", 0,
      "must contain only printable ASCII characters (no spaces)", NULL, 0 },
    { "https://[::1/x", 0, "has a malformed IP address host", NULL, 0 },
    { "https://[::1]x/", 0, "has a malformed IP address host", NULL, 0 },
    { "https://[fe80::1%25eth0]/", 0, "has a malformed IP address host", NULL, 0 },
    { "https://256.1.1.1/", 0, "has a malformed IP address host", NULL, 0 },
    { "https://1.2.3.4.5/", 0, "has a malformed IP address host", NULL, 0 },
    { "https://08.1.1.1/", 0, "has a malformed IP address host", NULL, 0 },
    { "https://ex%41mple.com/", 0, "has an invalid host name", NULL, 0 },
    { "https://example.com\\@evil.com/", 0, "must not contain user information (user@)",
      NULL, 0 },
    { "https://evil.com\\.example.com/", 0, "has an invalid host name", NULL, 0 },
};

static void test_urls(apr_pool_t *p)
{
    pf_url u;
    const char *err;
    char *big;

    for (size_t i = 0; i < sizeof(url_cases) / sizeof(url_cases[0]); i++) {
        const url_case *c = &url_cases[i];
        int rc;

        err = NULL;
        rc = pf_url_parse(p, c->url, c->allow_http, &u, &err);
        if (c->err == NULL) {
            ok(rc == 0 && strcmp(u.host, c->host) == 0 && u.port == c->port,
               "accepted: %s", c->url);
            if (rc != 0) {
                printf("#   err: %s\n", err);
            } else if (strcmp(u.host, c->host) != 0 || u.port != c->port) {
                printf("#   host %s port %d\n", u.host, u.port);
            }
        } else {
            ok(rc == -1, "refused: %s", c->url);
            is_str(rc == -1 ? err : NULL, c->err, "message for %s", c->url);
        }
    }

    ok(pf_url_parse(p, "https://example.com/", 0, &u, &err) == 0 && u.https == 1
       && u.is_literal == 0, "https flag, no literal");
    ok(pf_url_parse(p, "http://example.com/", 1, &u, &err) == 0 && u.https == 0,
       "http when allowed");
    ok(pf_url_parse(p, "https://2130706433/x", 0, &u, &err) == 0 && u.is_literal
       && u.family == AF_INET && memcmp(u.addr, "\x7f\0\0\x01", 4) == 0
       && pf_addr_classify(u.family, u.addr) == PF_ADDR_LOOPBACK,
       "decimal IP literal recognised as 127.0.0.1");
    ok(pf_url_parse(p, "https://0x7f.1/x", 0, &u, &err) == 0 && u.is_literal
       && memcmp(u.addr, "\x7f\0\0\x01", 4) == 0, "hex short literal recognised");
    ok(pf_url_parse(p, "https://[::ffff:169.254.169.254]/", 0, &u, &err) == 0
       && u.is_literal && u.family == AF_INET6
       && pf_addr_classify(u.family, u.addr) == PF_ADDR_LINK_LOCAL,
       "bracketed mapped v6 recognised");
    is_str(u.host, "::ffff:169.254.169.254", "v6 host without brackets");
    ok(pf_url_parse(p, NULL, 0, &u, &err) == -1, "NULL refused");

    /* 2048 bytes accepted, 2049 refused */
    big = apr_palloc(p, 2050);
    memcpy(big, "https://example.com/", 20);
    memset(big + 20, 'a', 2049 - 20);
    big[2049] = '\0';
    err = NULL;
    ok(pf_url_parse(p, big, 0, &u, &err) == -1, "2049-byte URL refused");
    is_str(err, "must be at most 2048 bytes", "2049-byte URL message");
    big[2048] = '\0';
    ok(pf_url_parse(p, big, 0, &u, &err) == 0, "2048-byte URL accepted");

    /* Redaction keeps scheme and authority, never the path or query. */
    is_str(pf_url_redact(p, "https://hooks.slack.com/services/T0/B0/XXXX"),
           "https://hooks.slack.com/...", "slack URL redacted");
    is_str(pf_url_redact(p, "HTTPS://Example.COM:8443/a?token=SECRET"),
           "https://example.com:8443/...", "port kept, query cut");
    is_str(pf_url_redact(p, "https://example.com?token=SECRET"), "https://example.com/...",
           "query without path cut");
    is_str(pf_url_redact(p, "https://user:SECRET@example.com/x"), "https://example.com/...",
           "user info cut");
    is_str(pf_url_redact(p, "https://example.com"), "https://example.com", "bare host");
    is_str(pf_url_redact(p, "http://[::1]:8080/SECRET"), "http://[::1]:8080/...", "v6 host");
    is_str(pf_url_redact(p, "https://example.com/x#SECRET"), "https://example.com/...",
           "fragment cut");
    is_str(pf_url_redact(p, "not a url SECRET"), "(invalid URL)", "malformed");
    is_str(pf_url_redact(p, "https://user:SEC/RET@example.com/"), "(invalid URL)",
           "password with a slash is not shown");
    is_str(pf_url_redact(p, "https://exa mple.com/SECRET"), "(invalid URL)", "space in host");
    is_str(pf_url_redact(p, "https:///SECRET"), "(invalid URL)", "no host");
    is_str(pf_url_redact(p, NULL), "(invalid URL)", "NULL");
    {
        const char *r = pf_url_redact(p, "https://teams.example.com/webhookb2/abc/IncomingWebhook/def");
        ok(strstr(r, "webhookb2") == NULL && strstr(r, "abc") == NULL, "teams path not shown");
    }
}

static int create_refused(apr_pool_t *p, const char *body, const char *want_field,
                          const char *want_err)
{
    pf_wh_create c;
    const char *field = "x", *err = NULL;
    int rc = pf_wh_create_parse(p, body, strlen(body), 0, &c, &field, &err);
    int good = rc == -1 && ((field == NULL && want_field == NULL)
                            || (field && want_field && strcmp(field, want_field) == 0))
               && err && (want_err == NULL || strcmp(err, want_err) == 0);

    if (!good) {
        printf("#   got rc %d field %s err %s\n", rc, field ? field : "(null)",
               err ? err : "(null)");
    }
    return good;
}

#define GOOD_URL "\"webhookUrl\":\"https://example.com/hook\""
#define GOOD_TYPE "\"webhookType\":\"slack\""
#define GOOD_EVENTS "\"eventTypes\":[\"finding_high\",\"finding_critical\"]"
#define GOOD_NAME "\"name\":\"Ops\""

static char *name_body(apr_pool_t *p, const char *unit, int n)
{
    char *s = apr_pstrdup(p, "{\"name\":\"");

    for (int i = 0; i < n; i++) {
        s = apr_pstrcat(p, s, unit, NULL);
    }
    return apr_pstrcat(p, s, "\"," GOOD_URL "," GOOD_TYPE "," GOOD_EVENTS "}", NULL);
}

static void test_create(apr_pool_t *p)
{
    pf_wh_create c;
    const char *field, *err;
    const char *body = "{" GOOD_NAME "," GOOD_URL "," GOOD_TYPE "," GOOD_EVENTS "}";
    const char *b;

    ok(pf_wh_create_parse(p, body, strlen(body), 0, &c, &field, &err) == 0, "valid body");
    is_str(c.name, "Ops", "name");
    is_str(c.url, "https://example.com/hook", "url");
    ok(c.type == PF_WH_SLACK, "type");
    ok(c.nevent_types == 2 && strcmp(c.event_types[0], "finding_high") == 0
       && strcmp(c.event_types[1], "finding_critical") == 0, "event types in request order");
    b = "{\"eventTypes\":[\"finding_low\",\"finding_medium\",\"finding_high\",\"finding_critical\"],"
        "\"webhookType\":\"teams\",\"webhookUrl\":\"https://x.example/\",\"name\":\"\xc3\xa9\"}";
    ok(pf_wh_create_parse(p, b, strlen(b), 0, &c, &field, &err) == 0 && c.nevent_types == 4
       && c.type == PF_WH_TEAMS && strcmp(c.name, "\xc3\xa9") == 0,
       "any field order, all four event types");
    b = "{\"name\":\"a\",\"webhookUrl\":\"http://x.example/\",\"webhookType\":\"generic\","
        "\"eventTypes\":[\"finding_low\"]}";
    ok(pf_wh_create_parse(p, b, strlen(b), 1, &c, &field, &err) == 0 && c.type == PF_WH_GENERIC,
       "http when allowed");
    ok(create_refused(p, b, "webhookUrl", "must be an https URL"), "http refused otherwise");

    ok(pf_wh_create_parse(p, name_body(p, "\xc3\xa9", 200), strlen(name_body(p, "\xc3\xa9", 200)),
                          0, &c, &field, &err) == 0 && strlen(c.name) == 400,
       "200 two-byte characters accepted");
    ok(pf_wh_create_parse(p, name_body(p, "\xf0\x9f\x94\x92", 200),
                          strlen(name_body(p, "\xf0\x9f\x94\x92", 200)), 0, &c, &field, &err) == 0,
       "200 four-byte characters accepted");
    ok(pf_wh_create_parse(p, name_body(p, "a", 200), strlen(name_body(p, "a", 200)), 0, &c,
                          &field, &err) == 0, "200 ASCII characters accepted");
    ok(create_refused(p, name_body(p, "a", 201), "name", "must be at most 200 characters"),
       "201 characters refused");
    ok(create_refused(p, name_body(p, "\xc3\xa9", 201), "name", "must be at most 200 characters"),
       "201 two-byte characters refused");
    ok(create_refused(p, name_body(p, "a", 0), "name", "must not be empty"), "empty name");
    ok(create_refused(p, name_body(p, "a\\n", 1), "name", "must not contain control characters"),
       "newline in name");
    ok(create_refused(p, name_body(p, "\\u001f", 1), "name", "must not contain control characters"),
       "U+001F in name");
    ok(create_refused(p, name_body(p, "\\u007f", 1), "name", "must not contain control characters"),
       "DEL in name");
    ok(create_refused(p, name_body(p, "\\u0085", 1), "name", "must not contain control characters"),
       "C1 U+0085 in name");
    ok(create_refused(p, name_body(p, "\\u009f", 1), "name", "must not contain control characters"),
       "C1 U+009F in name");
    ok(pf_wh_create_parse(p, name_body(p, "\\u00a0", 1), strlen(name_body(p, "\\u00a0", 1)), 0, &c,
                          &field, &err) == 0, "U+00A0 is no control character");
    ok(create_refused(p, name_body(p, "\\u0000", 1), NULL, "is not valid JSON"),
       "escaped NUL refused");

    ok(create_refused(p, "{" GOOD_NAME "," GOOD_NAME "," GOOD_URL "," GOOD_TYPE "," GOOD_EVENTS "}",
                      NULL, "must not repeat a key"), "duplicate key");
    ok(create_refused(p, "{" GOOD_NAME "," GOOD_URL "," GOOD_TYPE "," GOOD_EVENTS ",\"active\":true}",
                      "active", "is not a known field"), "unknown field");
    ok(create_refused(p, "{" GOOD_URL "," GOOD_TYPE "," GOOD_EVENTS "}", "name", "is required"),
       "missing name");
    ok(create_refused(p, "{" GOOD_NAME "," GOOD_TYPE "," GOOD_EVENTS "}", "webhookUrl",
                      "is required"), "missing webhookUrl");
    ok(create_refused(p, "{" GOOD_NAME "," GOOD_URL "," GOOD_EVENTS "}", "webhookType",
                      "is required"), "missing webhookType");
    ok(create_refused(p, "{" GOOD_NAME "," GOOD_URL "," GOOD_TYPE "}", "eventTypes",
                      "is required"), "missing eventTypes");
    ok(create_refused(p, "{}", "name", "is required"), "empty object");
    ok(create_refused(p, "{\"name\":1," GOOD_URL "," GOOD_TYPE "," GOOD_EVENTS "}", "name",
                      "must be a string"), "name not a string");
    ok(create_refused(p, "{\"name\":null," GOOD_URL "," GOOD_TYPE "," GOOD_EVENTS "}", "name",
                      "must be a string"), "name null");
    ok(create_refused(p, "{" GOOD_NAME ",\"webhookUrl\":[]," GOOD_TYPE "," GOOD_EVENTS "}",
                      "webhookUrl", "must be a string"), "url not a string");
    ok(create_refused(p, "{" GOOD_NAME ",\"webhookUrl\":\"https://a.example/#x\"," GOOD_TYPE ","
                      GOOD_EVENTS "}", "webhookUrl", "must not contain a fragment"),
       "url refusal carries the URL message");
    ok(create_refused(p, "{" GOOD_NAME ",\"webhookUrl\":\"https://a.example/\\u0000x\"," GOOD_TYPE
                      "," GOOD_EVENTS "}", NULL, "is not valid JSON"), "NUL in url");
    ok(create_refused(p, "{" GOOD_NAME "," GOOD_URL ",\"webhookType\":true," GOOD_EVENTS "}",
                      "webhookType", "must be a string"), "type not a string");
    ok(create_refused(p, "{" GOOD_NAME "," GOOD_URL ",\"webhookType\":\"discord\"," GOOD_EVENTS "}",
                      "webhookType", "must be one of generic, slack, teams"), "unknown type");
    ok(create_refused(p, "{" GOOD_NAME "," GOOD_URL ",\"webhookType\":\"Slack\"," GOOD_EVENTS "}",
                      "webhookType", "must be one of generic, slack, teams"), "type is case-sensitive");
    ok(create_refused(p, "{" GOOD_NAME "," GOOD_URL "," GOOD_TYPE ",\"eventTypes\":\"finding_low\"}",
                      "eventTypes", "must be an array"), "eventTypes not an array");
    ok(create_refused(p, "{" GOOD_NAME "," GOOD_URL "," GOOD_TYPE ",\"eventTypes\":[]}",
                      "eventTypes", "must not be empty"), "empty eventTypes");
    ok(create_refused(p, "{" GOOD_NAME "," GOOD_URL "," GOOD_TYPE ",\"eventTypes\":[1]}",
                      "eventTypes", "must hold only strings"), "eventTypes of numbers");
    ok(create_refused(p, "{" GOOD_NAME "," GOOD_URL "," GOOD_TYPE ",\"eventTypes\":[\"ping\"]}",
                      "eventTypes", NULL), "ping is not subscribable");
    ok(create_refused(p, "{" GOOD_NAME "," GOOD_URL "," GOOD_TYPE
                      ",\"eventTypes\":[\"finding_info\"]}", "eventTypes",
                      "must hold only finding_critical, finding_high, finding_medium or finding_low"),
       "unknown event type");
    ok(create_refused(p, "{" GOOD_NAME "," GOOD_URL "," GOOD_TYPE
                      ",\"eventTypes\":[\"finding_low\",\"finding_high\",\"finding_low\"]}",
                      "eventTypes", "must not repeat an event type"), "duplicate event type");
    ok(create_refused(p, "{" GOOD_NAME "," GOOD_URL "," GOOD_TYPE
                      ",\"eventTypes\":[\"finding_low\",\"finding_high\",\"finding_medium\","
                      "\"finding_critical\",\"finding_low\"]}",
                      "eventTypes", "must not repeat an event type"), "five event types");
    ok(create_refused(p, "{" GOOD_NAME "," GOOD_URL, NULL, "is not valid JSON"), "truncated JSON");
    ok(create_refused(p, "", NULL, "is not valid JSON"), "empty body");
    ok(create_refused(p, "{" GOOD_NAME "," GOOD_URL "," GOOD_TYPE "," GOOD_EVENTS "} x", NULL,
                      "is not valid JSON"), "trailing garbage");
    ok(create_refused(p, "[" GOOD_EVENTS "]", NULL, "is not valid JSON"), "array with a member");
    ok(create_refused(p, "[]", NULL, "must be a JSON object"), "top-level array");
    ok(create_refused(p, "\"x\"", NULL, "must be a JSON object"), "top-level string");
    ok(create_refused(p, "null", NULL, "must be a JSON object"), "top-level null");
    ok(create_refused(p, "{\"name\":\"\xff\"," GOOD_URL "," GOOD_TYPE "," GOOD_EVENTS "}", NULL,
                      "is not valid UTF-8"), "invalid UTF-8 refused");
    ok(create_refused(p, "{\"name\":\"\xc3\"," GOOD_URL "," GOOD_TYPE "," GOOD_EVENTS "}", NULL,
                      "is not valid UTF-8"), "truncated UTF-8 refused");
    ok(create_refused(p, "{\"name\":\"\xed\xa0\x80\"," GOOD_URL "," GOOD_TYPE "," GOOD_EVENTS "}",
                      NULL, "is not valid UTF-8"), "UTF-8 surrogate refused");
    {
        /* not NUL-terminated: only len bytes count */
        const char *two = "{\"name\":\"a\"," GOOD_URL "," GOOD_TYPE "," GOOD_EVENTS "}garbage";
        ok(pf_wh_create_parse(p, two, strlen(two) - 7, 0, &c, &field, &err) == 0,
           "only len bytes are read");
    }
}

static json_t *finding(int i, size_t title_len, int with_identity)
{
    char id[40], title[600];

    snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012d", i);
    if (title_len >= sizeof(title)) {
        title_len = sizeof(title) - 1;
    }
    memset(title, 'T', title_len);
    title[title_len] = '\0';
    if (title_len == 0) {
        snprintf(title, sizeof(title), "Finding <%d> & more", i);
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:n}",
                     "id", id, "tenantId", "11111111-1111-4111-8111-111111111111",
                     "severity", "critical", "status", "open",
                     "findingType", "stale_credential", "title", title,
                     "identityId", with_identity ? "22222222-2222-4222-8222-222222222222" : NULL,
                     "firstSeenAt", "2024-01-01T00:00:00.000000Z",
                     "lastSeenAt", "2024-01-01T00:00:00.000000Z",
                     "resolvedAt");
}

static size_t dumped_size(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    size_t n = s ? strlen(s) : (size_t)-1;

    free(s);
    return n;
}

static int utf8_chars(const char *s)
{
    int n = 0;

    for (; *s; s++) {
        if (((unsigned char)*s & 0xc0) != 0x80) {
            n++;
        }
    }
    return n;
}

/* Slack: counts blocks and checks every section text against 3000. */
static int slack_ok(json_t *body, size_t *nblocks, size_t *nsections)
{
    json_t *blocks = json_object_get(body, "blocks"), *b;
    size_t i;
    int good = json_is_string(json_object_get(body, "text")) && json_is_array(blocks);

    *nblocks = json_array_size(blocks);
    *nsections = 0;
    json_array_foreach(blocks, i, b) {
        const char *type = json_string_value(json_object_get(b, "type"));
        json_t *text = json_object_get(b, "text");

        if (type && strcmp(type, "section") == 0) {
            (*nsections)++;
            good &= json_is_string(json_object_get(text, "text"))
                    && utf8_chars(json_string_value(json_object_get(text, "text"))) <= 3000
                    && strcmp(json_string_value(json_object_get(text, "type")), "mrkdwn") == 0;
        } else if (type && strcmp(type, "header") == 0) {
            good &= utf8_chars(json_string_value(json_object_get(text, "text"))) <= 150
                    && strcmp(json_string_value(json_object_get(text, "type")), "plain_text") == 0;
        } else if (!type || strcmp(type, "context") != 0) {
            good = 0;
        }
    }
    return good && *nblocks <= 50;
}

static json_t *teams_card(json_t *body)
{
    json_t *att = json_array_get(json_object_get(body, "attachments"), 0);

    if (!json_is_object(att)
        || strcmp(json_string_value(json_object_get(body, "type")), "message") != 0
        || json_array_size(json_object_get(body, "attachments")) != 1
        || !json_is_null(json_object_get(att, "contentUrl"))
        || strcmp(json_string_value(json_object_get(att, "contentType")),
                  "application/vnd.microsoft.card.adaptive") != 0) {
        return NULL;
    }
    return json_object_get(att, "content");
}

static int contains(json_t *j, const char *needle)
{
    char *s = json_dumps(j, JSON_COMPACT);
    int found = s && strstr(s, needle) != NULL;

    free(s);
    return found;
}

static void test_bodies(void)
{
    pf_wh_event ev = {
        "finding_critical", "33333333-3333-4333-8333-333333333333", "2024-05-01T12:00:00.000000Z",
        "44444444-4444-4444-8444-444444444444", "11111111-1111-4111-8111-111111111111",
        "2024-05-01T11:59:00.000000Z", "Ops <team> & co", NULL
    };
    json_t *body, *card;
    size_t nblocks, nsections;
    const char *key;
    json_t *v;
    int i = 0;
    static const char *const order[] = { "event", "deliveryId", "createdAt", "analyzerPass",
                                         "findings" };

    ev.findings = json_array();
    json_array_append_new(ev.findings, finding(1, 0, 1));
    json_array_append_new(ev.findings, finding(2, 0, 0));
    json_array_append_new(ev.findings, finding(3, 0, 1));

    body = pf_wh_body(PF_WH_GENERIC, &ev);
    ok(json_object_size(body) == 5, "generic has five keys");
    json_object_foreach(body, key, v) {
        ok(i < 5 && strcmp(key, order[i]) == 0, "generic key %d is %s", i, order[i < 5 ? i : 0]);
        i++;
    }
    is_str(json_string_value(json_object_get(body, "event")), "finding_critical", "event");
    is_str(json_string_value(json_object_get(body, "deliveryId")), ev.delivery_id, "deliveryId");
    is_str(json_string_value(json_object_get(body, "createdAt")), ev.created_at, "createdAt");
    {
        json_t *pass = json_object_get(body, "analyzerPass");
        ok(json_object_size(pass) == 3, "analyzerPass has three keys");
        is_str(json_string_value(json_object_get(pass, "id")), ev.pass_id, "pass id");
        is_str(json_string_value(json_object_get(pass, "tenantId")), ev.tenant_id, "pass tenant");
        is_str(json_string_value(json_object_get(pass, "completedAt")), ev.completed_at,
               "pass completedAt");
    }
    ok(json_equal(json_object_get(body, "findings"), ev.findings), "findings passed through");
    json_decref(body);

    ev.event = "ping";
    body = pf_wh_body(PF_WH_GENERIC, &ev);
    ok(json_object_size(body) == 3, "ping has three keys");
    is_str(json_string_value(json_object_get(body, "event")), "ping", "ping event");
    is_str(json_string_value(json_object_get(body, "deliveryId")), ev.delivery_id,
           "ping deliveryId");
    is_str(json_string_value(json_object_get(body, "createdAt")), ev.created_at, "ping createdAt");
    json_decref(body);

    body = pf_wh_body(PF_WH_SLACK, &ev);
    ok(body && slack_ok(body, &nblocks, &nsections) && nblocks == 1 && nsections == 1,
       "slack ping: text and one section");
    ok(strstr(json_string_value(json_object_get(body, "text")), "Permafrost test delivery ")
       && strstr(json_string_value(json_object_get(body, "text")), ev.delivery_id),
       "slack ping text");
    ok(contains(body, "Ops &lt;team&gt; &amp; co") && !contains(body, "<team>"),
       "slack ping escapes the webhook name");
    json_decref(body);

    body = pf_wh_body(PF_WH_TEAMS, &ev);
    card = teams_card(body);
    ok(card && json_array_size(json_object_get(card, "body")) == 1
       && strcmp(json_string_value(json_object_get(json_array_get(json_object_get(card, "body"), 0),
                                                     "type")), "TextBlock") == 0,
       "teams ping: one TextBlock");
    ok(contains(body, ev.delivery_id), "teams ping names the delivery");
    json_decref(body);

    ev.event = "finding_critical";
    body = pf_wh_body(PF_WH_SLACK, &ev);
    ok(body && slack_ok(body, &nblocks, &nsections), "slack body shape");
    ok(nsections == 4, "slack: summary section and three findings");
    is_str(json_string_value(json_object_get(body, "text")),
           "Permafrost: 3 new critical findings (analyzer pass 44444444-4444-4444-8444-444444444444"
           " in tenant 11111111-1111-4111-8111-111111111111)", "slack text");
    is_str(json_string_value(json_object_get(json_object_get(json_array_get(
               json_object_get(body, "blocks"), 0), "text"), "text")),
           "Permafrost: 3 new critical findings", "slack header");
    ok(contains(body, "Finding &lt;1&gt; &amp; more") && !contains(body, "Finding <1>"),
       "slack escapes titles");
    ok(contains(body, "no identity") && contains(body, "22222222-2222-4222-8222-222222222222")
       && contains(body, "stale_credential") && contains(body, "00000000-0000-4000-8000-000000000002"),
       "slack lists type, identity and finding id");
    ok(!contains(body, "more finding"), "slack: nothing more for three");
    json_decref(body);

    body = pf_wh_body(PF_WH_TEAMS, &ev);
    card = teams_card(body);
    ok(card != NULL, "teams message with one adaptive card attachment");
    is_str(json_string_value(json_object_get(card, "type")), "AdaptiveCard", "card type");
    is_str(json_string_value(json_object_get(card, "version")), "1.4", "card version");
    is_str(json_string_value(json_object_get(card, "$schema")),
           "http://adaptivecards.io/schemas/adaptive-card.json", "card schema");
    {
        json_t *cb = json_object_get(card, "body");
        json_t *first = json_array_get(cb, 0), *facts = json_array_get(cb, 1);

        is_str(json_string_value(json_object_get(first, "type")), "TextBlock", "first TextBlock");
        is_str(json_string_value(json_object_get(first, "text")),
               "Permafrost: 3 new critical findings", "teams summary");
        ok(json_is_true(json_object_get(first, "wrap"))
           && strcmp(json_string_value(json_object_get(first, "size")), "Medium") == 0
           && strcmp(json_string_value(json_object_get(first, "weight")), "Bolder") == 0,
           "summary style");
        is_str(json_string_value(json_object_get(facts, "type")), "FactSet", "FactSet second");
        ok(json_array_size(json_object_get(facts, "facts")) == 4, "four facts");
        ok(json_array_size(cb) == 5, "summary, facts, three findings");
        ok(contains(body, "Finding <1> & more"), "teams keeps text unescaped");
    }
    json_decref(body);
    json_decref(ev.findings);

    /* 100 findings with 500-byte titles */
    ev.findings = json_array();
    for (int n = 0; n < 100; n++) {
        json_array_append_new(ev.findings, finding(n, 500, n % 2));
    }
    body = pf_wh_body(PF_WH_SLACK, &ev);
    ok(body && slack_ok(body, &nblocks, &nsections), "slack 100: shape, limits");
    ok(nsections == 21, "slack 100: summary and 20 findings listed");
    ok(contains(body, "and 80 more"), "slack 100: and 80 more");
    {
        char cut[260];

        memset(cut, 'T', 200);
        strcpy(cut + 200, "\xe2\x80\xa6");
        ok(contains(body, cut), "slack 100: titles cut at 200 bytes with an ellipsis");
        cut[200] = 'T';
        cut[201] = '\0';
        ok(!contains(body, cut), "slack 100: no title longer than 200 bytes");
    }
    ok(dumped_size(body) < 25000, "slack 100: %zu bytes < 25000", dumped_size(body));
    json_decref(body);
    body = pf_wh_body(PF_WH_TEAMS, &ev);
    card = teams_card(body);
    ok(card && json_array_size(json_object_get(card, "body")) == 2 + 20 + 1,
       "teams 100: summary, facts, 20 findings, more");
    ok(contains(body, "and 80 more"), "teams 100: and 80 more");
    ok(dumped_size(body) < 25000, "teams 100: %zu bytes < 25000", dumped_size(body));
    json_decref(body);
    json_decref(ev.findings);

    /* The worst case for escaping: titles and types of '<', multi-byte
     * characters at the cut, control characters. */
    ev.findings = json_array();
    for (int n = 0; n < 100; n++) {
        json_t *f = finding(n, 0, 1);
        char t[1001];

        memset(t, '<', 1000);
        t[1000] = '\0';
        json_object_set_new(f, "findingType", json_string(t));
        if (n % 3 == 0) {
            for (int k = 0; k + 2 < 1000; k += 2) {
                t[k] = '\xc3';
                t[k + 1] = '\xa9';
            }
            t[998] = '\n';
        }
        json_object_set_new(f, "title", json_string(t));
        json_array_append_new(ev.findings, f);
    }
    body = pf_wh_body(PF_WH_SLACK, &ev);
    ok(body && slack_ok(body, &nblocks, &nsections), "slack worst case: shape, limits");
    ok(dumped_size(body) < 25000, "slack worst case: %zu bytes < 25000", dumped_size(body));
    ok(contains(body, "more finding"), "slack worst case says how many more");
    json_decref(body);
    body = pf_wh_body(PF_WH_TEAMS, &ev);
    ok(body && dumped_size(body) < 25000, "teams worst case: %zu bytes < 25000",
       dumped_size(body));
    json_decref(body);
    json_decref(ev.findings);

    ev.findings = json_array();
    json_array_append_new(ev.findings, finding(1, 0, 1));
    ev.event = "finding_low";
    body = pf_wh_body(PF_WH_SLACK, &ev);
    is_str(json_string_value(json_object_get(json_object_get(json_array_get(
               json_object_get(body, "blocks"), 0), "text"), "text")),
           "Permafrost: 1 new low finding", "singular headline");
    json_decref(body);
    json_decref(ev.findings);
}

static void test_backoff(void)
{
    static const long lo[] = { 48, 192, 768, 3072, 12288, 34560, 34560, 34560 };
    static const long hi[] = { 71, 287, 1151, 4606, 18425, 51822, 51822, 51822 };
    long prev = 0;

    for (int f = 1; f <= 8; f++) {
        ok(pf_wh_backoff(f, 60, 0.0) == lo[f - 1], "backoff(%d, 60, 0) = %ld", f, lo[f - 1]);
        ok(pf_wh_backoff(f, 60, 0.999) == hi[f - 1], "backoff(%d, 60, 0.999) = %ld", f,
           hi[f - 1]);
        if (pf_wh_backoff(f, 60, 0.999) != hi[f - 1]) {
            printf("#   got %ld\n", pf_wh_backoff(f, 60, 0.999));
        }
    }
    for (int f = 1; f <= 40; f++) {
        long d = pf_wh_backoff(f, 30, 0.5);
        ok(d >= prev && d <= 43200, "backoff(%d, 30, 0.5) = %ld grows up to the cap", f, d);
        prev = d;
    }
    ok(prev == 43200, "u=0.5 at the cap is 12 hours");
    ok(pf_wh_backoff(1000, 60, 0.0) == 34560, "no overflow at 1000 failures");
    ok(pf_wh_backoff(1000, 60, 0.999) == 51822, "no overflow at 1000 failures, top jitter");
    ok(pf_wh_backoff(2147483647, 2147483647L, 0.5) == 43200, "no overflow at the extremes");
    ok(pf_wh_backoff(1, 1, 0.0) == 1, "never below 1");
    ok(pf_wh_backoff(1, 0, 0.0) == 1, "zero delay is 1");
    ok(pf_wh_backoff(0, 60, 0.0) == 48, "failures 0 treated as 1");
    ok(pf_wh_backoff(1, 60, 5.0) <= 72 && pf_wh_backoff(1, 60, -1.0) >= 48,
       "u outside [0, 1) stays within the jitter");
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);

    is_str(pf_wh_type_name(PF_WH_TEAMS), "teams", "type name");
    ok(pf_wh_type_from_name("slack") == PF_WH_SLACK && pf_wh_type_from_name("x") == -1,
       "type from name");

    test_crypto(p);
    test_key_file(p);
    test_urls(p);
    test_create(p);
    test_bodies();
    test_backoff();

    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
