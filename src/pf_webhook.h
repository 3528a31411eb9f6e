/* Webhook subscriptions and deliveries without httpd: request-body
 * validation, URL checks, delivery bodies for each receiver type, and the
 * retry schedule. */
#ifndef PF_WEBHOOK_H
#define PF_WEBHOOK_H

#include <apr_pools.h>
#include <jansson.h>

#define PF_WH_MAX_URL     2048
#define PF_WH_MAX_NAME    200   /* Unicode characters */
#define PF_WH_MAX_BODY    65536 /* bytes of a POST /webhooks body */
#define PF_WH_MAX_FINDINGS 100  /* findings per delivery */

typedef enum { PF_WH_GENERIC = 0, PF_WH_SLACK, PF_WH_TEAMS } pf_wh_type;

/* "generic" / "slack" / "teams" and back; -1 when unknown. */
int pf_wh_type_from_name(const char *name);
const char *pf_wh_type_name(pf_wh_type t);

/* A webhook URL taken apart. host has no brackets; for an IP literal
 * (pf_addr_parse_literal) is_literal is set and family/addr hold it. */
typedef struct {
    int https;
    const char *host;
    int port;                /* explicit or the scheme's default */
    int is_literal;
    int family;
    unsigned char addr[16];
} pf_url;

/* Checks a webhookUrl: absolute http(s) URL (http only when allow_http),
 * at most PF_WH_MAX_URL bytes, printable ASCII only, no user info, no
 * fragment, a non-empty host (a DNS name of letters, digits, '-', '.', '_'
 * or an IP literal, which must be well-formed), port 1..65535. host is
 * lowercased, in p. 0 and *out filled, or -1 with *err (a static phrase to
 * follow "webhookUrl" in the 400 message, e.g. "must be an https URL"). */
int pf_url_parse(apr_pool_t *p, const char *url, int allow_http, pf_url *out, const char **err);

/* What may go to a log: scheme://host[:port]/... with user info, path,
 * query and fragment cut, since Slack and Teams URLs carry credentials in
 * the path ("/..." only when something followed the authority). Anything
 * that does not parse gives "(invalid URL)". */
const char *pf_url_redact(apr_pool_t *p, const char *url);

/* A validated POST /webhooks body; event_types in request order. */
typedef struct {
    const char *name;
    const char *url;
    pf_wh_type type;
    const char *event_types[4];
    int nevent_types;
} pf_wh_create;

/* Parses and validates the request body (bytes, not NUL-terminated):
 * valid UTF-8 JSON object, no duplicate keys, no unknown fields, every
 * field present with the right type and value (contract section 7). 0 on
 * success, with every string in p; -1 with *field (the offending field,
 * or NULL for the body as a whole) and *err (a static phrase to follow
 * the field name or "the body", e.g. "is required", "is not valid JSON"). */
int pf_wh_create_parse(apr_pool_t *p, const char *body, size_t len, int allow_http,
                       pf_wh_create *out, const char **field, const char **err);

/* One delivery's event. findings: array of finding list objects (the read
 * API's shape), borrowed. pass_id/tenant_id/completed_at are NULL for a
 * ping. */
typedef struct {
    const char *event;        /* finding_critical ... or "ping" */
    const char *delivery_id;
    const char *created_at;
    const char *pass_id;
    const char *tenant_id;
    const char *completed_at;
    const char *webhook_name;
    json_t *findings;
} pf_wh_event;

/* The delivery body for the receiver type (new reference):
 * generic: {"event","deliveryId","createdAt","analyzerPass":{"id",
 *   "tenantId","completedAt"},"findings":[...]} or the ping object;
 * slack: an incoming-webhook message with "text" and "blocks";
 * teams: a message carrying one Adaptive Card attachment.
 * Slack and Teams bodies list a bounded number of findings and say how
 * many more there are, to stay within those services' size limits. */
json_t *pf_wh_body(pf_wh_type type, const pf_wh_event *ev);

/* Seconds to wait before retry number `failures` (1 after the first failed
 * attempt): first_delay * 4^(failures-1), capped at 12 hours, times a
 * jitter factor in [0.8, 1.2) taken from u in [0, 1). Never below 1. */
long pf_wh_backoff(int failures, long first_delay, double u);

#endif
