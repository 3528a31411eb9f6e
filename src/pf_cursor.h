/* Opaque, tamper-evident keyset cursors: the sort key of the last row of a
 * page, bound by an HMAC to the customer, the list and its filters. No httpd
 * dependency. */
#ifndef PF_CURSOR_H
#define PF_CURSOR_H

#include <apr_pools.h>

#define PF_CURSOR_KEY_LEN 32
#define PF_CURSOR_MAX_FIELDS 4

/* binding: everything the cursor may only be replayed with (customer id,
 * list name, canonical filters). Returns base64url(payload) "." mac. */
const char *pf_cursor_encode(apr_pool_t *p, const unsigned char *key, const char *binding,
                             const char *const *fields, int nfields);

/* 0 and fields filled (pool strings) when the cursor was issued for this
 * binding with exactly nfields fields; -1 otherwise. */
int pf_cursor_decode(apr_pool_t *p, const unsigned char *key, const char *binding,
                     const char *cursor, const char **fields, int nfields);

#endif
