/* JSON shaping shared by the routes: error bodies, nullable values, dumping
 * into a pool, ETags. No httpd dependency. */
#ifndef PF_JSON_H
#define PF_JSON_H

#include <stddef.h>
#include <apr_pools.h>
#include <jansson.h>
#include <openssl/types.h>

/* {"error": {"code", "message"[, "details": [{"field", "message"}]]}} */
json_t *pf_json_error(const char *code, const char *message, const char *field,
                      const char *field_message);

/* A jansson string, or null when s is NULL. Bytes that are not UTF-8 are
 * replaced rather than dropping the whole value. */
json_t *pf_json_str(const char *s);
json_t *pf_json_str_pool(apr_pool_t *p, const char *s);

/* "t"/"f" from PostgreSQL's text output as a JSON boolean. */
json_t *pf_json_bool_text(const char *s);

/* A JSON text written piece by piece into a pool: list pages are written
 * row by row from the database's text, without a jansson tree. */
typedef struct {
    apr_pool_t *pool;
    char *buf;
    size_t len, cap;
} pf_jbuf;

void pf_jbuf_init(pf_jbuf *b, apr_pool_t *p, size_t cap);
void pf_jbuf_raw(pf_jbuf *b, const char *s, size_t n);
#define pf_jbuf_lit(b, lit) pf_jbuf_raw((b), (lit), sizeof(lit) - 1)
/* A string as pf_json_str shapes it (escaped; repaired if not UTF-8), or
 * null for NULL. */
void pf_jbuf_str(pf_jbuf *b, const char *s);
/* "t"/"f" as true/false, NULL as null. */
void pf_jbuf_bool_text(pf_jbuf *b, const char *s);
void pf_jbuf_int(pf_jbuf *b, long long v);
/* JSON text from PostgreSQL (json or jsonb output) written compact: the
 * whitespace between tokens is dropped and every token is kept as the
 * database wrote it, so numbers keep their exact digits (jansson would
 * reformat reals and refuse integers beyond 64 bits). The text is checked
 * as it is copied; when it is not one JSON value (or s is NULL), fallback
 * is written instead and -1 returned. */
int pf_jbuf_json_text(pf_jbuf *b, const char *s, const char *fallback);
/* A jansson value, compact, as json_dumps writes it; -1 if it cannot be. */
int pf_jbuf_value(pf_jbuf *b, json_t *j);
/* The text so far, NUL-terminated, in the pool. */
char *pf_jbuf_finish(pf_jbuf *b, size_t *len);

/* Compact serialisation written into p (pf_jbuf); the json_t reference is
 * released. NULL when a value cannot be written (a real number jansson
 * could not format). */
char *pf_json_dump(apr_pool_t *p, json_t *j, size_t *len);

/* Ties a json_t to a pool so error paths cannot leak it. */
json_t *pf_json_pool_own(apr_pool_t *p, json_t *j);

#define PF_ETAG_SIZE 35 /* quote + 32 hex + quote + NUL */

/* Strong ETag over the exact body bytes: SHA-256 with md, the digest the
 * module fetched at startup (NULL: looked up on the call, pf_key.h). */
void pf_etag(const EVP_MD *md, const char *body, size_t len, char out[PF_ETAG_SIZE]);

/* If-None-Match evaluation (weak comparison, as RFC 9110 asks for it):
 * 1 when the header holds "*" or a tag equal to etag. */
int pf_etag_matches(const char *if_none_match, const char *etag);

#endif
