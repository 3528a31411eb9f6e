/* Outbound address policy for webhook delivery: which IP addresses a
 * delivery may connect to, and IP literals in URL hosts read the way a
 * resolver would read them. No httpd dependency. */
#ifndef PF_ADDR_H
#define PF_ADDR_H

#include <sys/socket.h>

typedef enum {
    PF_ADDR_PUBLIC = 0,    /* globally routable: allowed */
    PF_ADDR_LOOPBACK,      /* 127/8, ::1 */
    PF_ADDR_PRIVATE,       /* RFC 1918, fec0::/10 (old site-local) */
    PF_ADDR_LINK_LOCAL,    /* 169.254/16 (cloud metadata), fe80::/10 */
    PF_ADDR_CGNAT,         /* 100.64/10 */
    PF_ADDR_UNIQUE_LOCAL,  /* fc00::/7 */
    PF_ADDR_MULTICAST,     /* 224/4, ff00::/8 */
    PF_ADDR_UNSPECIFIED,   /* 0.0.0.0, :: */
    PF_ADDR_RESERVED       /* everything else not globally routable */
} pf_addr_class;

/* family is AF_INET (4 bytes at addr) or AF_INET6 (16 bytes). IPv6 forms
 * that embed an IPv4 address (mapped ::ffff:0:0/96, compatible ::/96,
 * NAT64 64:ff9b::/96, 6to4 2002::/16) are classified by the IPv4 address
 * they carry. Any other family is PF_ADDR_RESERVED. */
pf_addr_class pf_addr_classify(int family, const unsigned char *addr);
pf_addr_class pf_addr_classify_sockaddr(const struct sockaddr *sa);

/* "loopback", "private", ... for error messages; "public" for 0. */
const char *pf_addr_class_name(pf_addr_class c);

/* Reads a URL host as an IP literal: dotted IPv4 in every form inet_aton
 * and browsers accept (decimal 2130706433, octal 0177.0.0.1, hex 0x7f.1,
 * short forms 127.1), or an IPv6 literal in brackets ([::1],
 * [::ffff:127.0.0.1]); a trailing dot on IPv4 is tolerated. Returns 1 with
 * *family and out filled, 0 when host is a DNS name, -1 when it looks
 * numeric but is malformed (such a host must be refused, never resolved). */
int pf_addr_parse_literal(const char *host, int *family, unsigned char out[16]);

#endif
