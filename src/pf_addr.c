/* Outbound address policy and IP-literal parsing for webhook URLs. */
#define _POSIX_C_SOURCE 200809L /* inet_pton, sockaddr_in6 under -std=c11 */

#include "pf_addr.h"
#include "pf_key.h"

#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

typedef struct {
    uint32_t net;
    int bits;
    pf_addr_class cls;
} pf_v4_range;

/* First match wins; 0.0.0.0 itself is handled before the table. */
static const pf_v4_range pf_v4_ranges[] = {
    { 0x00000000u,  8, PF_ADDR_RESERVED },    /* "this network" */
    { 0x0a000000u,  8, PF_ADDR_PRIVATE },     /* 10/8 */
    { 0x64400000u, 10, PF_ADDR_CGNAT },       /* 100.64/10 */
    { 0x7f000000u,  8, PF_ADDR_LOOPBACK },    /* 127/8 */
    { 0xa9fe0000u, 16, PF_ADDR_LINK_LOCAL },  /* 169.254/16, cloud metadata */
    { 0xac100000u, 12, PF_ADDR_PRIVATE },     /* 172.16/12 */
    { 0xc0000000u, 24, PF_ADDR_RESERVED },    /* 192.0.0/24 IETF assignments */
    { 0xc0000200u, 24, PF_ADDR_RESERVED },    /* 192.0.2/24 TEST-NET-1 */
    { 0xc0586300u, 24, PF_ADDR_RESERVED },    /* 192.88.99/24 6to4 relay */
    { 0xc0a80000u, 16, PF_ADDR_PRIVATE },     /* 192.168/16 */
    { 0xc6120000u, 15, PF_ADDR_RESERVED },    /* 198.18/15 benchmarking */
    { 0xc6336400u, 24, PF_ADDR_RESERVED },    /* 198.51.100/24 TEST-NET-2 */
    { 0xcb007100u, 24, PF_ADDR_RESERVED },    /* 203.0.113/24 TEST-NET-3 */
    { 0xe0000000u,  4, PF_ADDR_MULTICAST },   /* 224/4 */
    { 0xf0000000u,  4, PF_ADDR_RESERVED },    /* 240/4, incl. broadcast */
};

static pf_addr_class pf_classify_v4(const unsigned char *b)
{
    uint32_t a = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16)
                 | ((uint32_t)b[2] << 8) | (uint32_t)b[3];

    if (a == 0) {
        return PF_ADDR_UNSPECIFIED;
    }
    for (size_t i = 0; i < sizeof(pf_v4_ranges) / sizeof(pf_v4_ranges[0]); i++) {
        uint32_t mask = 0xffffffffu << (32 - pf_v4_ranges[i].bits);

        if ((a & mask) == pf_v4_ranges[i].net) {
            return pf_v4_ranges[i].cls;
        }
    }
    return PF_ADDR_PUBLIC;
}

/* 1 when the first `bits` bits of a equal those of prefix. */
static int pf_prefix_match(const unsigned char *a, const unsigned char *prefix, int bits)
{
    int whole = bits / 8, rest = bits % 8;

    if (memcmp(a, prefix, (size_t)whole) != 0) {
        return 0;
    }
    if (rest) {
        unsigned char mask = (unsigned char)(0xffu << (8 - rest));
        return (a[whole] & mask) == (prefix[whole] & mask);
    }
    return 1;
}

typedef struct {
    unsigned char prefix[16];
    int bits;
    pf_addr_class cls;
} pf_v6_range;

/* Ranges with a fixed class; the embedded-IPv4 forms are handled first. */
static const pf_v6_range pf_v6_ranges[] = {
    { { 0xfe, 0x80 }, 10, PF_ADDR_LINK_LOCAL },
    { { 0xfe, 0xc0 }, 10, PF_ADDR_PRIVATE },       /* deprecated site-local */
    { { 0xfc, 0x00 },  7, PF_ADDR_UNIQUE_LOCAL },
    { { 0xff, 0x00 },  8, PF_ADDR_MULTICAST },
    { { 0x20, 0x01, 0x0d, 0xb8 }, 32, PF_ADDR_RESERVED }, /* documentation */
    { { 0x01, 0x00 }, 64, PF_ADDR_RESERVED },      /* discard-only */
    { { 0x20, 0x01 }, 23, PF_ADDR_RESERVED },      /* IETF, incl. Teredo */
};

static pf_addr_class pf_classify_v6(const unsigned char *a)
{
    static const unsigned char zero[12] = { 0 };
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    static const unsigned char nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
    static const unsigned char global[1] = { 0x20 };

    if (memcmp(a, zero, 12) == 0) {
        /* ::, ::1, and the IPv4-compatible rest of ::/96 */
        if (a[12] == 0 && a[13] == 0 && a[14] == 0) {
            if (a[15] == 0) {
                return PF_ADDR_UNSPECIFIED;
            }
            if (a[15] == 1) {
                return PF_ADDR_LOOPBACK;
            }
        }
        return pf_classify_v4(a + 12);
    }
    /* Embedded IPv4 forms reach the IPv4 host they carry, so they get its
     * class: otherwise [::ffff:127.0.0.1] would bypass the IPv4 policy. */
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0) {
        return pf_classify_v4(a + 12);
    }
    if (a[0] == 0x20 && a[1] == 0x02) {
        return pf_classify_v4(a + 2);
    }
    for (size_t i = 0; i < sizeof(pf_v6_ranges) / sizeof(pf_v6_ranges[0]); i++) {
        if (pf_prefix_match(a, pf_v6_ranges[i].prefix, pf_v6_ranges[i].bits)) {
            return pf_v6_ranges[i].cls;
        }
    }
    /* Only 2000::/3 is allocated as global unicast. */
    if (!pf_prefix_match(a, global, 3)) {
        return PF_ADDR_RESERVED;
    }
    return PF_ADDR_PUBLIC;
}

pf_addr_class pf_addr_classify(int family, const unsigned char *addr)
{
    if (addr == NULL) {
        return PF_ADDR_RESERVED;
    }
    if (family == AF_INET) {
        return pf_classify_v4(addr);
    }
    if (family == AF_INET6) {
        return pf_classify_v6(addr);
    }
    return PF_ADDR_RESERVED;
}

pf_addr_class pf_addr_classify_sockaddr(const struct sockaddr *sa)
{
    if (sa == NULL) {
        return PF_ADDR_RESERVED;
    }
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return pf_classify_v4((const unsigned char *)&in->sin_addr);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        return pf_classify_v6(in6->sin6_addr.s6_addr);
    }
    return PF_ADDR_RESERVED;
}

const char *pf_addr_class_name(pf_addr_class c)
{
    switch (c) {
    case PF_ADDR_PUBLIC:       return "public";
    case PF_ADDR_LOOPBACK:     return "loopback";
    case PF_ADDR_PRIVATE:      return "private";
    case PF_ADDR_LINK_LOCAL:   return "link-local";
    case PF_ADDR_CGNAT:        return "carrier-grade NAT";
    case PF_ADDR_UNIQUE_LOCAL: return "unique local";
    case PF_ADDR_MULTICAST:    return "multicast";
    case PF_ADDR_UNSPECIFIED:  return "unspecified";
    case PF_ADDR_RESERVED:     return "reserved";
    }
    return "reserved";
}

/* A label that a resolver would read as a number: decimal digits, or 0x
 * with hex digits (the bare "0x" counts, so that it is refused rather
 * than resolved). */
static int pf_label_numeric(const char *s, size_t len)
{
    size_t i = 0;

    if (len == 0) {
        return 0;
    }
    if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        for (i = 2; i < len; i++) {
            if (pf_hexval(s[i]) < 0) {
                return 0;
            }
        }
        return 1;
    }
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return 1;
}

/* One inet_aton part: decimal, octal with a leading 0, hex with 0x. -1
 * when malformed or above 32 bits. */
static int pf_parse_part(const char *s, size_t len, uint32_t *out)
{
    uint64_t v = 0;
    unsigned base = 10;
    size_t i = 0;

    if (len == 0) {
        return -1;
    }
    if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        i = 2;
        if (len == 2) {
            return -1;
        }
    } else if (len >= 2 && s[0] == '0') {
        base = 8;
        i = 1;
    }
    for (; i < len; i++) {
        int d = pf_hexval(s[i]);

        if (d < 0 || (unsigned)d >= base) {
            return -1;
        }
        v = v * base + (unsigned)d;
        if (v > 0xffffffffu) {
            return -1;
        }
    }
    *out = (uint32_t)v;
    return 0;
}

static int pf_parse_v4(const char *host, size_t len, unsigned char out[16])
{
    uint32_t parts[4], addr = 0;
    size_t start = 0;
    int n = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i < len && host[i] != '.') {
            continue;
        }
        if (n == 4 || pf_parse_part(host + start, i - start, &parts[n]) != 0) {
            return -1;
        }
        n++;
        start = i + 1;
    }
    /* Leading parts are single bytes; the last fills what is left. */
    for (int i = 0; i < n - 1; i++) {
        if (parts[i] > 0xff) {
            return -1;
        }
        addr |= parts[i] << (24 - 8 * i);
    }
    if (parts[n - 1] > 0xffffffffu >> (8 * (n - 1))) {
        return -1;
    }
    addr |= parts[n - 1];
    out[0] = (unsigned char)(addr >> 24);
    out[1] = (unsigned char)(addr >> 16);
    out[2] = (unsigned char)(addr >> 8);
    out[3] = (unsigned char)addr;
    return 0;
}

int pf_addr_parse_literal(const char *host, int *family, unsigned char out[16])
{
    size_t len, last;
    int all_numeric = 1;

    if (host == NULL || host[0] == '\0') {
        return 0;
    }
    len = strlen(host);
    if (host[0] == '[') {
        char buf[INET6_ADDRSTRLEN];
        size_t inner = len - 2;

        if (len < 3 || host[len - 1] != ']' || inner >= sizeof(buf)) {
            return -1;
        }
        memcpy(buf, host + 1, inner);
        buf[inner] = '\0';
        /* A zone id names an interface of this host: never a receiver. */
        if (strchr(buf, '%') || strchr(buf, '[') || strchr(buf, ']')) {
            return -1;
        }
        if (inet_pton(AF_INET6, buf, out) != 1) {
            return -1;
        }
        *family = AF_INET6;
        return 1;
    }
    /* Brackets or colons cannot be part of a DNS name. */
    if (strpbrk(host, "[]:")) {
        return -1;
    }

    if (host[len - 1] == '.') {
        len--;
    }
    last = len;
    while (last > 0 && host[last - 1] != '.') {
        last--;
    }
    /* The WHATWG URL rule: a numeric last label makes the host an IPv4
     * literal. A host made only of numeric (or empty) labels is one too. */
    for (size_t i = 0, start = 0; i <= len; i++) {
        if (i == len || host[i] == '.') {
            if (i > start && !pf_label_numeric(host + start, i - start)) {
                all_numeric = 0;
                break;
            }
            start = i + 1;
        }
    }
    if (!all_numeric && !pf_label_numeric(host + last, len - last)) {
        return 0;
    }
    if (len == 0 || pf_parse_v4(host, len, out) != 0) {
        return -1;
    }
    memset(out + 4, 0, 12);
    *family = AF_INET;
    return 1;
}
