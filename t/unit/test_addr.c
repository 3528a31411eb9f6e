/* Outbound address policy: every range at its edges and just outside,
 * embedded IPv4 forms, and IP literals in URL hosts. Classification only;
 * nothing connects anywhere. */
#define _POSIX_C_SOURCE 200809L /* inet_pton, sockaddr_in6 under -std=c11 */
#include "tap.h"
#include "pf_addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

typedef struct {
    const char *addr;
    pf_addr_class cls;
} addr_case;

static const addr_case v4_cases[] = {
    { "0.0.0.0", PF_ADDR_UNSPECIFIED },
    { "0.0.0.1", PF_ADDR_RESERVED },
    { "0.255.255.255", PF_ADDR_RESERVED },
    { "1.0.0.0", PF_ADDR_PUBLIC },
    { "1.1.1.1", PF_ADDR_PUBLIC },
    { "8.8.8.8", PF_ADDR_PUBLIC },
    { "9.255.255.255", PF_ADDR_PUBLIC },
    { "10.0.0.0", PF_ADDR_PRIVATE },
    { "10.255.255.255", PF_ADDR_PRIVATE },
    { "11.0.0.0", PF_ADDR_PUBLIC },
    { "100.63.255.255", PF_ADDR_PUBLIC },
    { "100.64.0.0", PF_ADDR_CGNAT },
    { "100.127.255.255", PF_ADDR_CGNAT },
    { "100.128.0.0", PF_ADDR_PUBLIC },
    { "126.255.255.255", PF_ADDR_PUBLIC },
    { "127.0.0.0", PF_ADDR_LOOPBACK },
    { "127.0.0.1", PF_ADDR_LOOPBACK },
    { "127.255.255.255", PF_ADDR_LOOPBACK },
    { "128.0.0.0", PF_ADDR_PUBLIC },
    { "169.253.255.255", PF_ADDR_PUBLIC },
    { "169.254.0.0", PF_ADDR_LINK_LOCAL },
    { "169.254.169.254", PF_ADDR_LINK_LOCAL },
    { "169.254.255.255", PF_ADDR_LINK_LOCAL },
    { "169.255.0.0", PF_ADDR_PUBLIC },
    { "172.15.255.255", PF_ADDR_PUBLIC },
    { "172.16.0.0", PF_ADDR_PRIVATE },
    { "172.31.255.255", PF_ADDR_PRIVATE },
    { "172.32.0.0", PF_ADDR_PUBLIC },
    { "191.255.255.255", PF_ADDR_PUBLIC },
    { "192.0.0.0", PF_ADDR_RESERVED },
    { "192.0.0.255", PF_ADDR_RESERVED },
    { "192.0.1.0", PF_ADDR_PUBLIC },
    { "192.0.1.255", PF_ADDR_PUBLIC },
    { "192.0.2.0", PF_ADDR_RESERVED },
    { "192.0.2.255", PF_ADDR_RESERVED },
    { "192.0.3.0", PF_ADDR_PUBLIC },
    { "192.88.98.255", PF_ADDR_PUBLIC },
    { "192.88.99.0", PF_ADDR_RESERVED },
    { "192.88.99.255", PF_ADDR_RESERVED },
    { "192.88.100.0", PF_ADDR_PUBLIC },
    { "192.167.255.255", PF_ADDR_PUBLIC },
    { "192.168.0.0", PF_ADDR_PRIVATE },
    { "192.168.255.255", PF_ADDR_PRIVATE },
    { "192.169.0.0", PF_ADDR_PUBLIC },
    { "198.17.255.255", PF_ADDR_PUBLIC },
    { "198.18.0.0", PF_ADDR_RESERVED },
    { "198.19.255.255", PF_ADDR_RESERVED },
    { "198.20.0.0", PF_ADDR_PUBLIC },
    { "198.51.99.255", PF_ADDR_PUBLIC },
    { "198.51.100.0", PF_ADDR_RESERVED },
    { "198.51.100.255", PF_ADDR_RESERVED },
    { "198.51.101.0", PF_ADDR_PUBLIC },
    { "203.0.112.255", PF_ADDR_PUBLIC },
    { "203.0.113.0", PF_ADDR_RESERVED },
    { "203.0.113.255", PF_ADDR_RESERVED },
    { "203.0.114.0", PF_ADDR_PUBLIC },
    { "223.255.255.255", PF_ADDR_PUBLIC },
    { "224.0.0.0", PF_ADDR_MULTICAST },
    { "239.255.255.255", PF_ADDR_MULTICAST },
    { "240.0.0.0", PF_ADDR_RESERVED },
    { "255.255.255.254", PF_ADDR_RESERVED },
    { "255.255.255.255", PF_ADDR_RESERVED },
};

static const addr_case v6_cases[] = {
    { "::", PF_ADDR_UNSPECIFIED },
    { "::1", PF_ADDR_LOOPBACK },
    /* IPv4-compatible ::/96: by the IPv4 address */
    { "::2", PF_ADDR_RESERVED },
    { "::7f00:1", PF_ADDR_LOOPBACK },
    { "::a00:1", PF_ADDR_PRIVATE },
    { "::808:808", PF_ADDR_PUBLIC },
    /* IPv4-mapped */
    { "::ffff:0.0.0.0", PF_ADDR_UNSPECIFIED },
    { "::ffff:127.0.0.1", PF_ADDR_LOOPBACK },
    { "::ffff:10.0.0.1", PF_ADDR_PRIVATE },
    { "::ffff:169.254.169.254", PF_ADDR_LINK_LOCAL },
    { "::ffff:100.64.0.1", PF_ADDR_CGNAT },
    { "::ffff:8.8.8.8", PF_ADDR_PUBLIC },
    { "::fffe:808:808", PF_ADDR_RESERVED },
    { "::1:ffff:808:808", PF_ADDR_RESERVED },
    /* NAT64 */
    { "64:ff9b::7f00:1", PF_ADDR_LOOPBACK },
    { "64:ff9b::a9fe:a9fe", PF_ADDR_LINK_LOCAL },
    { "64:ff9b::808:808", PF_ADDR_PUBLIC },
    { "64:ff9b:1::808:808", PF_ADDR_RESERVED },
    /* 6to4 */
    { "2002:7f00:1::", PF_ADDR_LOOPBACK },
    { "2002:c0a8:101::1", PF_ADDR_PRIVATE },
    { "2002:808:808::1", PF_ADDR_PUBLIC },
    { "2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", PF_ADDR_PUBLIC },
    { "2003::", PF_ADDR_PUBLIC },
    /* discard-only 100::/64 */
    { "100::", PF_ADDR_RESERVED },
    { "100::ffff:ffff:ffff:ffff", PF_ADDR_RESERVED },
    { "100:0:0:1::", PF_ADDR_RESERVED },
    /* IETF 2001::/23, Teredo, documentation */
    { "1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", PF_ADDR_RESERVED },
    { "2000::", PF_ADDR_PUBLIC },
    { "2001::", PF_ADDR_RESERVED },
    { "2001:0:4136:e378::1", PF_ADDR_RESERVED },
    { "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", PF_ADDR_RESERVED },
    { "2001:200::", PF_ADDR_PUBLIC },
    { "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", PF_ADDR_PUBLIC },
    { "2001:db8::", PF_ADDR_RESERVED },
    { "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", PF_ADDR_RESERVED },
    { "2001:db9::", PF_ADDR_PUBLIC },
    { "2001:4860:4860::8888", PF_ADDR_PUBLIC },
    { "2606:4700:4700::1111", PF_ADDR_PUBLIC },
    { "3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", PF_ADDR_PUBLIC },
    { "4000::", PF_ADDR_RESERVED },
    /* unique local fc00::/7 */
    { "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", PF_ADDR_RESERVED },
    { "fc00::", PF_ADDR_UNIQUE_LOCAL },
    { "fc00::1", PF_ADDR_UNIQUE_LOCAL },
    { "fdff::", PF_ADDR_UNIQUE_LOCAL },
    { "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", PF_ADDR_UNIQUE_LOCAL },
    { "fe00::", PF_ADDR_RESERVED },
    { "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", PF_ADDR_RESERVED },
    /* link-local fe80::/10, site-local fec0::/10 */
    { "fe80::", PF_ADDR_LINK_LOCAL },
    { "fe80::1", PF_ADDR_LINK_LOCAL },
    { "febf:ffff::1", PF_ADDR_LINK_LOCAL },
    { "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", PF_ADDR_LINK_LOCAL },
    { "fec0::", PF_ADDR_PRIVATE },
    { "fec0::1", PF_ADDR_PRIVATE },
    { "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", PF_ADDR_PRIVATE },
    /* multicast */
    { "ff00::", PF_ADDR_MULTICAST },
    { "ff02::1", PF_ADDR_MULTICAST },
    { "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", PF_ADDR_MULTICAST },
};

typedef struct {
    const char *host;
    int rc;
    int family;
    const char *addr; /* the expected address in standard notation */
} literal_case;

static const literal_case literal_cases[] = {
    { "127.0.0.1", 1, AF_INET, "127.0.0.1" },
    { "2130706433", 1, AF_INET, "127.0.0.1" },
    { "0177.0.0.1", 1, AF_INET, "127.0.0.1" },
    { "0x7f.0.0.1", 1, AF_INET, "127.0.0.1" },
    { "0X7F.0.0.1", 1, AF_INET, "127.0.0.1" },
    { "0x7f000001", 1, AF_INET, "127.0.0.1" },
    { "0x7F000001", 1, AF_INET, "127.0.0.1" },
    { "127.1", 1, AF_INET, "127.0.0.1" },
    { "127.0.1", 1, AF_INET, "127.0.0.1" },
    { "017700000001", 1, AF_INET, "127.0.0.1" },
    { "0x7f.1", 1, AF_INET, "127.0.0.1" },
    { "127.0.0.1.", 1, AF_INET, "127.0.0.1" },
    { "0", 1, AF_INET, "0.0.0.0" },
    { "0.0.0.0", 1, AF_INET, "0.0.0.0" },
    { "00", 1, AF_INET, "0.0.0.0" },
    { "0x0", 1, AF_INET, "0.0.0.0" },
    { "4294967295", 1, AF_INET, "255.255.255.255" },
    { "0xffffffff", 1, AF_INET, "255.255.255.255" },
    { "037777777777", 1, AF_INET, "255.255.255.255" },
    { "169.254.43518", 1, AF_INET, "169.254.169.254" },
    { "169.16689662", 1, AF_INET, "169.254.169.254" },
    { "10.0xffffff", 1, AF_INET, "10.255.255.255" },
    { "1.2.65535", 1, AF_INET, "1.2.255.255" },
    { "0000000000000000000000177.0.0.1", 1, AF_INET, "127.0.0.1" },
    { "0127.0.0.1", 1, AF_INET, "87.0.0.1" },
    { "8.8.8.8", 1, AF_INET, "8.8.8.8" },
    { "[::1]", 1, AF_INET6, "::1" },
    { "[::ffff:127.0.0.1]", 1, AF_INET6, "::ffff:127.0.0.1" },
    { "[::ffff:7f00:1]", 1, AF_INET6, "::ffff:127.0.0.1" },
    { "[2001:4860:4860::8888]", 1, AF_INET6, "2001:4860:4860::8888" },
    { "[FE80::1]", 1, AF_INET6, "fe80::1" },
    /* numeric-looking but malformed: refused, never resolved */
    { "1.2.3.4.5", -1, 0, NULL },
    { "0x", -1, 0, NULL },
    { "0x.1.1.1", -1, 0, NULL },
    { "256.1.1.1", -1, 0, NULL },
    { "1.256.1.1", -1, 0, NULL },
    { "1.1.1.256", -1, 0, NULL },
    { "08.1.1.1", -1, 0, NULL },
    { "1.2.3.09", -1, 0, NULL },
    { "0x1g.1.1.1", -1, 0, NULL },
    { "4294967296", -1, 0, NULL },
    { "0x100000000", -1, 0, NULL },
    { "1.16777216", -1, 0, NULL },
    { "1.2.65536", -1, 0, NULL },
    { "99999999999999999999999", -1, 0, NULL },
    { "1..1", -1, 0, NULL },
    { ".1.1.1", -1, 0, NULL },
    { "127.0.0.1..", -1, 0, NULL },
    { ".", -1, 0, NULL },
    { "..", -1, 0, NULL },
    { "example.1", -1, 0, NULL },
    { "example.0x1", -1, 0, NULL },
    { "[::1", -1, 0, NULL },
    { "[]", -1, 0, NULL },
    { "[127.0.0.1]", -1, 0, NULL },
    { "[fe80::1%25eth0]", -1, 0, NULL },
    { "[fe80::1%eth0]", -1, 0, NULL },
    { "[::1]x", -1, 0, NULL },
    { "[[::1]]", -1, 0, NULL },
    { "[1:2:3:4:5:6:7:8:9]", -1, 0, NULL },
    { "::1", -1, 0, NULL },
    { "fe80::1", -1, 0, NULL },
    { "a:b", -1, 0, NULL },
    { "]", -1, 0, NULL },
    /* DNS names */
    { "example.com", 0, 0, NULL },
    { "hooks.slack.com", 0, 0, NULL },
    { "localhost", 0, 0, NULL },
    { "0xdeadbeef.example.com", 0, 0, NULL },
    { "1.2.3.4.example", 0, 0, NULL },
    { "1.2.3.4a", 0, 0, NULL },
    { "0xg", 0, 0, NULL },
    { "127.0.0.1.nip.io", 0, 0, NULL },
    { "example.com.", 0, 0, NULL },
    { "a1", 0, 0, NULL },
    { "", 0, 0, NULL },
};

static int check_class(int family, const char *text, pf_addr_class want)
{
    unsigned char b[16];

    if (inet_pton(family, text, b) != 1) {
        printf("# bad test address %s\n", text);
        return 0;
    }
    return pf_addr_classify(family, b) == want;
}

int main(void)
{
    unsigned char b[16];
    int family;

    for (size_t i = 0; i < sizeof(v4_cases) / sizeof(v4_cases[0]); i++) {
        ok(check_class(AF_INET, v4_cases[i].addr, v4_cases[i].cls), "%s is %s",
           v4_cases[i].addr, pf_addr_class_name(v4_cases[i].cls));
    }
    for (size_t i = 0; i < sizeof(v6_cases) / sizeof(v6_cases[0]); i++) {
        ok(check_class(AF_INET6, v6_cases[i].addr, v6_cases[i].cls), "%s is %s",
           v6_cases[i].addr, pf_addr_class_name(v6_cases[i].cls));
    }

    memset(b, 0, sizeof(b));
    ok(pf_addr_classify(AF_UNIX, b) == PF_ADDR_RESERVED, "another family is reserved");
    {
        struct sockaddr_in sin;
        struct sockaddr_in6 sin6;
        struct sockaddr sa;

        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        inet_pton(AF_INET, "169.254.169.254", &sin.sin_addr);
        ok(pf_addr_classify_sockaddr((struct sockaddr *)&sin) == PF_ADDR_LINK_LOCAL,
           "sockaddr_in");
        inet_pton(AF_INET, "8.8.8.8", &sin.sin_addr);
        ok(pf_addr_classify_sockaddr((struct sockaddr *)&sin) == PF_ADDR_PUBLIC,
           "public sockaddr_in");
        memset(&sin6, 0, sizeof(sin6));
        sin6.sin6_family = AF_INET6;
        inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6.sin6_addr);
        ok(pf_addr_classify_sockaddr((struct sockaddr *)&sin6) == PF_ADDR_LOOPBACK,
           "mapped sockaddr_in6");
        inet_pton(AF_INET6, "2001:4860:4860::8888", &sin6.sin6_addr);
        ok(pf_addr_classify_sockaddr((struct sockaddr *)&sin6) == PF_ADDR_PUBLIC,
           "public sockaddr_in6");
        memset(&sa, 0, sizeof(sa));
        sa.sa_family = AF_UNIX;
        ok(pf_addr_classify_sockaddr(&sa) == PF_ADDR_RESERVED, "AF_UNIX sockaddr is reserved");
        ok(pf_addr_classify_sockaddr(NULL) == PF_ADDR_RESERVED, "no sockaddr is reserved");
    }
    is_str(pf_addr_class_name(PF_ADDR_PUBLIC), "public", "name of public");
    is_str(pf_addr_class_name(PF_ADDR_LINK_LOCAL), "link-local", "name of link-local");

    for (size_t i = 0; i < sizeof(literal_cases) / sizeof(literal_cases[0]); i++) {
        const literal_case *c = &literal_cases[i];
        char text[INET6_ADDRSTRLEN] = "";
        int rc;

        family = 0;
        memset(b, 0xaa, sizeof(b));
        rc = pf_addr_parse_literal(c->host, &family, b);
        if (rc == 1) {
            inet_ntop(family, b, text, sizeof(text));
        }
        ok(rc == c->rc && (rc != 1 || (family == c->family && strcmp(text, c->addr) == 0)),
           "literal '%s' -> %d %s", c->host, c->rc, c->addr ? c->addr : "");
        if (rc != c->rc || (rc == 1 && strcmp(text, c->addr) != 0)) {
            printf("#   got %d %s\n", rc, text);
        }
    }
    /* The literal forms reach the policy: decimal loopback is loopback. */
    ok(pf_addr_parse_literal("2130706433", &family, b) == 1
       && pf_addr_classify(family, b) == PF_ADDR_LOOPBACK, "decimal loopback classified");
    ok(pf_addr_parse_literal("[::ffff:a9fe:a9fe]", &family, b) == 1
       && pf_addr_classify(family, b) == PF_ADDR_LINK_LOCAL, "mapped metadata address classified");
    ok(pf_addr_parse_literal(NULL, &family, b) == 0, "no host is no literal");

    return tap_done();
}
