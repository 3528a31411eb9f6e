/* Webhook subscriptions and deliveries: request validation, URL checks,
 * receiver bodies and the retry schedule. */
#include "pf_webhook.h"
#include "pf_addr.h"

#include <stdio.h>
#include <string.h>
#include <apr_strings.h>

static const char *const pf_wh_type_names[] = { "generic", "slack", "teams" };

static const char *const pf_wh_event_names[] = {
    "finding_critical", "finding_high", "finding_medium", "finding_low"
};
#define PF_WH_NEVENTS (sizeof(pf_wh_event_names) / sizeof(pf_wh_event_names[0]))

int pf_wh_type_from_name(const char *name)
{
    if (name == NULL) {
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        if (strcmp(name, pf_wh_type_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

const char *pf_wh_type_name(pf_wh_type t)
{
    if ((int)t < 0 || (int)t > 2) {
        return "unknown";
    }
    return pf_wh_type_names[t];
}

/* ---- URLs ---- */

static char pf_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Scheme names are case-insensitive (RFC 3986 3.1). */
static int pf_prefix_ci(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++) {
        if (pf_lower(*s) != *prefix) {
            return 0;
        }
    }
    return 1;
}

typedef struct {
    int https;
    int userinfo;
    const char *host;     /* brackets included for IPv6 */
    size_t host_len;
    int port;             /* 0 when absent */
    const char *rest;     /* path, query and fragment: never logged */
} pf_url_parts;

/* Splits scheme and authority, and checks what both parse and redact
 * need: a known scheme, printable ASCII authority, a host, a valid port.
 * Returns NULL or the problem as a sentence. */
static const char *pf_url_split(const char *url, pf_url_parts *u)
{
    const char *auth, *end, *at, *hp, *port = NULL;

    memset(u, 0, sizeof(*u));
    if (pf_prefix_ci(url, "https://")) {
        u->https = 1;
        auth = url + 8;
    } else if (pf_prefix_ci(url, "http://")) {
        auth = url + 7;
    } else {
        return "must be an https URL";
    }
    end = auth + strcspn(auth, "/?#");
    u->rest = end;
    for (const char *c = auth; c < end; c++) {
        if (*c < 0x21 || *c > 0x7e) {
            return "must contain only printable ASCII characters (no spaces)";
        }
    }
    hp = auth;
    for (at = auth; at < end; at++) {
        if (*at == '@') {
            u->userinfo = 1;
            hp = at + 1;
        }
    }
    u->host = hp;
    if (hp < end && *hp == '[') {
        const char *close = memchr(hp, ']', (size_t)(end - hp));

        if (close == NULL) {
            return "has a malformed IP address host";
        }
        u->host_len = (size_t)(close - hp) + 1;
        if (close + 1 < end) {
            if (close[1] != ':') {
                return "has a malformed IP address host";
            }
            port = close + 2;
        }
    } else {
        const char *colon = memchr(hp, ':', (size_t)(end - hp));

        u->host_len = (size_t)((colon ? colon : end) - hp);
        if (colon) {
            port = colon + 1;
        }
    }
    if (u->host_len == 0) {
        return "must have a host";
    }
    if (port) {
        long v = 0;

        /* Digits only: no sign, no spaces, no empty port. Five digits at
         * most keeps the arithmetic far from overflow. */
        if (port == end || end - port > 5) {
            return "has an invalid port (use 1 to 65535)";
        }
        for (const char *c = port; c < end; c++) {
            if (*c < '0' || *c > '9') {
                return "has an invalid port (use 1 to 65535)";
            }
            v = v * 10 + (*c - '0');
        }
        if (v < 1 || v > 65535) {
            return "has an invalid port (use 1 to 65535)";
        }
        u->port = (int)v;
    }
    return NULL;
}

/* Letters, digits, hyphen, dot and underscore: what a resolver sees is
 * then exactly what was checked (no percent-decoding, no backslashes). */
static int pf_dns_name_ok(const char *h, size_t len)
{
    if (len > 254) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = h[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'
              || c == '_')) {
            return 0;
        }
    }
    return 1;
}

int pf_url_parse(apr_pool_t *p, const char *url, int allow_http, pf_url *out, const char **err)
{
    pf_url_parts u;
    const char *e;
    char *host;
    size_t len;
    int lit;

    memset(out, 0, sizeof(*out));
    if (url == NULL) {
        *err = "must be a string";
        return -1;
    }
    len = strlen(url);
    if (len > PF_WH_MAX_URL) {
        *err = "must be at most 2048 bytes";
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (url[i] < 0x21 || url[i] > 0x7e) {
            *err = "must contain only printable ASCII characters (no spaces)";
            return -1;
        }
    }
    e = pf_url_split(url, &u);
    if (e == NULL && !u.https && !allow_http) {
        e = "must be an https URL";
    }
    if (e != NULL) {
        if (allow_http && strcmp(e, "must be an https URL") == 0) {
            e = "must be an http or https URL";
        }
        *err = e;
        return -1;
    }
    /* Receivers never see a fragment; one in a stored URL only confuses. */
    if (strchr(url, '#')) {
        *err = "must not contain a fragment";
        return -1;
    }
    if (u.userinfo) {
        *err = "must not contain user information (user@)";
        return -1;
    }
    host = apr_pstrmemdup(p, u.host, u.host_len);
    for (char *c = host; *c; c++) {
        *c = pf_lower(*c);
    }
    lit = pf_addr_parse_literal(host, &out->family, out->addr);
    if (lit < 0) {
        *err = "has a malformed IP address host";
        return -1;
    }
    if (lit == 0 && !pf_dns_name_ok(host, u.host_len)) {
        *err = "has an invalid host name";
        return -1;
    }
    if (host[0] == '[') {
        host[u.host_len - 1] = '\0';
        host++;
    }
    out->https = u.https;
    out->host = host;
    out->port = u.port ? u.port : (u.https ? 443 : 80);
    out->is_literal = lit;
    return 0;
}

const char *pf_url_redact(apr_pool_t *p, const char *url)
{
    pf_url_parts u;
    char *host;
    size_t hostport;

    if (url == NULL || pf_url_split(url, &u) != NULL || u.rest - u.host > PF_WH_MAX_URL) {
        return "(invalid URL)";
    }
    /* host and port only: user info goes, path and query go. */
    hostport = (size_t)(u.rest - u.host);
    host = apr_pstrmemdup(p, u.host, hostport);
    for (char *c = host; *c; c++) {
        *c = pf_lower(*c);
    }
    return apr_pstrcat(p, u.https ? "https://" : "http://", host, *u.rest ? "/..." : "", NULL);
}

/* ---- POST /webhooks ---- */

static const char *const pf_wh_fields[] = { "name", "webhookUrl", "webhookType", "eventTypes" };

/* NULL or the problem: 1..200 code points, no C0, DEL or C1 controls.
 * The bytes are valid UTF-8 (jansson checked them). */
static const char *pf_check_name(const char *s, size_t len)
{
    size_t chars = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c & 0xc0) != 0x80) {
            chars++;
        }
        if (c < 0x20 || c == 0x7f
            || (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] <= 0x9f)) {
            return "must not contain control characters";
        }
    }
    if (chars == 0) {
        return "must not be empty";
    }
    if (chars > PF_WH_MAX_NAME) {
        return "must be at most 200 characters";
    }
    return NULL;
}

static const char *pf_event_name(const char *s)
{
    for (size_t i = 0; i < PF_WH_NEVENTS; i++) {
        if (strcmp(s, pf_wh_event_names[i]) == 0) {
            return pf_wh_event_names[i];
        }
    }
    return NULL;
}

/* Field checks in a fixed order, so the same body always gets the same
 * answer. Returns -1 with *field and *err set. */
static int pf_wh_create_fields(apr_pool_t *p, json_t *root, int allow_http, pf_wh_create *out,
                               const char **field, const char **err)
{
    const char *key;
    json_t *v;
    pf_url url;
    size_t i;

    json_object_foreach(root, key, v) {
        for (i = 0; i < 4; i++) {
            if (strcmp(key, pf_wh_fields[i]) == 0) {
                break;
            }
        }
        if (i == 4) {
            *field = apr_pstrdup(p, key);
            *err = "is not a known field";
            return -1;
        }
    }
    for (i = 0; i < 4; i++) {
        if (json_object_get(root, pf_wh_fields[i]) == NULL) {
            *field = pf_wh_fields[i];
            *err = "is required";
            return -1;
        }
    }

    *field = "name";
    v = json_object_get(root, "name");
    if (!json_is_string(v)) {
        *err = "must be a string";
        return -1;
    }
    if ((*err = pf_check_name(json_string_value(v), json_string_length(v))) != NULL) {
        return -1;
    }
    out->name = apr_pstrmemdup(p, json_string_value(v), json_string_length(v));

    *field = "webhookUrl";
    v = json_object_get(root, "webhookUrl");
    if (!json_is_string(v)) {
        *err = "must be a string";
        return -1;
    }
    /* A NUL inside the string would hide the rest from the checks. */
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        *err = "must contain only printable ASCII characters (no spaces)";
        return -1;
    }
    if (pf_url_parse(p, json_string_value(v), allow_http, &url, err) != 0) {
        return -1;
    }
    out->url = apr_pstrdup(p, json_string_value(v));

    *field = "webhookType";
    v = json_object_get(root, "webhookType");
    if (!json_is_string(v)) {
        *err = "must be a string";
        return -1;
    }
    if (pf_wh_type_from_name(json_string_value(v)) < 0) {
        *err = "must be one of generic, slack, teams";
        return -1;
    }
    out->type = (pf_wh_type)pf_wh_type_from_name(json_string_value(v));

    *field = "eventTypes";
    v = json_object_get(root, "eventTypes");
    if (!json_is_array(v)) {
        *err = "must be an array";
        return -1;
    }
    if (json_array_size(v) == 0) {
        *err = "must not be empty";
        return -1;
    }
    for (i = 0; i < json_array_size(v); i++) {
        json_t *el = json_array_get(v, i);
        const char *name;

        if (!json_is_string(el)) {
            *err = "must hold only strings";
            return -1;
        }
        name = pf_event_name(json_string_value(el));
        if (name == NULL) {
            *err = "must hold only finding_critical, finding_high, finding_medium or finding_low";
            return -1;
        }
        for (int j = 0; j < out->nevent_types; j++) {
            if (out->event_types[j] == name) {
                *err = "must not repeat an event type";
                return -1;
            }
        }
        /* Four names, no repeats: the array cannot overflow. */
        out->event_types[out->nevent_types++] = name;
    }
    *field = NULL;
    return 0;
}

int pf_wh_create_parse(apr_pool_t *p, const char *body, size_t len, int allow_http,
                       pf_wh_create *out, const char **field, const char **err)
{
    json_error_t jerr;
    json_t *root;
    int rc;

    memset(out, 0, sizeof(*out));
    *field = NULL;
    /* DECODE_ANY so that a bare scalar is "not an object" rather than
     * "not JSON"; jansson refuses invalid UTF-8 and \u0000 itself. */
    root = json_loadb(body ? body : "", body ? len : 0,
                      JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (root == NULL) {
        *err = "is not valid JSON";
#if JANSSON_VERSION_HEX >= 0x020b00 /* json_error_code() came in 2.11 */
        if (json_error_code(&jerr) == json_error_duplicate_key) {
            *err = "must not repeat a key";
        } else if (json_error_code(&jerr) == json_error_invalid_utf8) {
            *err = "is not valid UTF-8";
        }
#endif
        return -1;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        *err = "must be a JSON object";
        return -1;
    }
    rc = pf_wh_create_fields(p, root, allow_http, out, field, err);
    json_decref(root);
    return rc;
}

/* ---- Delivery bodies ---- */

#define PF_SLACK_MAX_LISTED   20
#define PF_TITLE_MAX_BYTES    200
#define PF_TYPE_MAX_BYTES     100
#define PF_ID_MAX_BYTES       64
#define PF_NAME_MAX_BYTES     200
/* Listed text per message: with escaping at its worst it keeps Slack and
 * Teams bodies far below their limits (Teams refuses over 28 KB). */
#define PF_LISTED_BUDGET      12000

/* A bounded text builder. Text is appended in whole UTF-8 characters, so
 * the buffer is valid UTF-8 even when it fills up. 3000 is Slack's limit
 * for one section text. */
typedef struct {
    char buf[3000];
    size_t len;
    int full;
} pf_sb;

static void pf_sb_init(pf_sb *b)
{
    b->len = 0;
    b->full = 0;
    b->buf[0] = '\0';
}

static void pf_sb_put(pf_sb *b, const char *s, size_t n)
{
    if (b->full || n >= sizeof(b->buf) - b->len) {
        b->full = 1;
        return;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

static void pf_sb_str(pf_sb *b, const char *s)
{
    pf_sb_put(b, s, strlen(s));
}

static size_t pf_utf8_len(unsigned char c)
{
    if ((c & 0xe0) == 0xc0) {
        return 2;
    }
    if ((c & 0xf0) == 0xe0) {
        return 3;
    }
    if ((c & 0xf8) == 0xf0) {
        return 4;
    }
    return 1;
}

/* Appends untrusted text: at most max bytes, cut on a character boundary
 * with an ellipsis; control characters become spaces (a newline in a
 * title would break the layout); for Slack mrkdwn, & < > are escaped so
 * that text cannot form links or @channel mentions. */
static void pf_sb_text(pf_sb *b, const char *s, size_t max, int slack)
{
    size_t n, i = 0;
    int cut = 0;

    if (s == NULL) {
        return;
    }
    n = strlen(s);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) {
            n--;
        }
        cut = 1;
    }
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t cl = pf_utf8_len(c);

        if (c < 0x20 || c == 0x7f) {
            pf_sb_put(b, " ", 1);
        } else if (slack && c == '&') {
            pf_sb_str(b, "&amp;");
        } else if (slack && c == '<') {
            pf_sb_str(b, "&lt;");
        } else if (slack && c == '>') {
            pf_sb_str(b, "&gt;");
        } else {
            if (cl > n - i) {
                break; /* a broken sequence at the end: drop it */
            }
            pf_sb_put(b, s + i, cl);
            i += cl;
            continue;
        }
        i++;
    }
    if (cut) {
        pf_sb_str(b, "\xe2\x80\xa6"); /* … */
    }
}

static const char *pf_json_field(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static int pf_is_ping(const pf_wh_event *ev)
{
    return ev->event && strcmp(ev->event, "ping") == 0;
}

static size_t pf_findings_count(const pf_wh_event *ev)
{
    return json_is_array(ev->findings) ? json_array_size(ev->findings) : 0;
}

/* "critical" from "finding_critical". */
static const char *pf_severity_word(const char *event)
{
    if (event == NULL) {
        return "";
    }
    return strncmp(event, "finding_", 8) == 0 ? event + 8 : event;
}

/* "Permafrost: 3 new critical findings" */
static void pf_headline(pf_sb *b, const pf_wh_event *ev, size_t count)
{
    char num[32];

    snprintf(num, sizeof(num), "%zu", count);
    pf_sb_str(b, "Permafrost: ");
    pf_sb_str(b, num);
    pf_sb_str(b, " new ");
    pf_sb_text(b, pf_severity_word(ev->event), PF_ID_MAX_BYTES, 0);
    pf_sb_str(b, count == 1 ? " finding" : " findings");
}

/* One finding as one or two lines: the title, then type, identity, id. */
static void pf_finding_lines(pf_sb *title, pf_sb *details, json_t *f, int slack)
{
    const char *identity = pf_json_field(f, "identityId");

    if (slack) {
        pf_sb_str(title, "*");
    }
    if (pf_json_field(f, "title") && pf_json_field(f, "title")[0]) {
        pf_sb_text(title, pf_json_field(f, "title"), PF_TITLE_MAX_BYTES, slack);
    } else {
        pf_sb_str(title, "(untitled)");
    }
    if (slack) {
        pf_sb_str(title, "*");
    }
    pf_sb_str(details, "Type: ");
    pf_sb_text(details, pf_json_field(f, "findingType"), PF_TYPE_MAX_BYTES, slack);
    pf_sb_str(details, " \xc2\xb7 Identity: ");
    if (identity) {
        pf_sb_text(details, identity, PF_ID_MAX_BYTES, slack);
    } else {
        pf_sb_str(details, "no identity");
    }
    pf_sb_str(details, " \xc2\xb7 Finding: ");
    pf_sb_text(details, pf_json_field(f, "id"), PF_ID_MAX_BYTES, slack);
}

static void pf_more_text(pf_sb *b, size_t more)
{
    char num[32];

    snprintf(num, sizeof(num), "%zu", more);
    pf_sb_str(b, "and ");
    pf_sb_str(b, num);
    pf_sb_str(b, more == 1 ? " more finding" : " more findings");
}

static json_t *pf_generic_body(const pf_wh_event *ev)
{
    if (pf_is_ping(ev)) {
        return json_pack("{s:s, s:s?, s:s?}", "event", "ping", "deliveryId", ev->delivery_id,
                         "createdAt", ev->created_at);
    }
    return json_pack("{s:s?, s:s?, s:s?, s:{s:s?, s:s?, s:s?}, s:o}",
                     "event", ev->event,
                     "deliveryId", ev->delivery_id,
                     "createdAt", ev->created_at,
                     "analyzerPass",
                     "id", ev->pass_id, "tenantId", ev->tenant_id,
                     "completedAt", ev->completed_at,
                     "findings", ev->findings ? json_incref(ev->findings) : json_array());
}

static json_t *pf_slack_mrkdwn_section(const char *text)
{
    return json_pack("{s:s, s:{s:s, s:s}}", "type", "section",
                     "text", "type", "mrkdwn", "text", text);
}

static json_t *pf_slack_body(const pf_wh_event *ev)
{
    size_t count = pf_findings_count(ev), listed = 0, used = 0;
    json_t *blocks, *body;
    pf_sb text, head, sec;
    int ok = 1;

    pf_sb_init(&text);
    pf_sb_init(&sec);
    if (pf_is_ping(ev)) {
        pf_sb_str(&text, "Permafrost test delivery ");
        pf_sb_text(&text, ev->delivery_id, PF_ID_MAX_BYTES, 1);
        pf_sb_str(&sec, "This is a test delivery from Permafrost");
        if (ev->webhook_name) {
            pf_sb_str(&sec, " for the webhook *");
            pf_sb_text(&sec, ev->webhook_name, PF_NAME_MAX_BYTES, 1);
            pf_sb_str(&sec, "*");
        }
        pf_sb_str(&sec, " (delivery ");
        pf_sb_text(&sec, ev->delivery_id, PF_ID_MAX_BYTES, 1);
        pf_sb_str(&sec, ").");
        return json_pack("{s:s, s:[o]}", "text", text.buf,
                         "blocks", pf_slack_mrkdwn_section(sec.buf));
    }

    pf_sb_init(&head);
    pf_headline(&head, ev, count);
    pf_headline(&text, ev, count);
    pf_sb_str(&text, " (analyzer pass ");
    pf_sb_text(&text, ev->pass_id, PF_ID_MAX_BYTES, 1);
    pf_sb_str(&text, " in tenant ");
    pf_sb_text(&text, ev->tenant_id, PF_ID_MAX_BYTES, 1);
    pf_sb_str(&text, ")");

    blocks = json_array();
    if (blocks == NULL) {
        return NULL;
    }
    /* Header text is plain_text and at most 150 characters; the headline
     * is far shorter. */
    ok &= json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:s}}", "type", "header",
                                                  "text", "type", "plain_text",
                                                  "text", head.buf)) == 0;
    if (ev->webhook_name) {
        pf_sb_str(&sec, "*Webhook:* ");
        pf_sb_text(&sec, ev->webhook_name, PF_NAME_MAX_BYTES, 1);
        pf_sb_str(&sec, "\n");
    }
    pf_sb_str(&sec, "*Tenant:* ");
    pf_sb_text(&sec, ev->tenant_id, PF_ID_MAX_BYTES, 1);
    pf_sb_str(&sec, "\n*Analyzer pass:* ");
    pf_sb_text(&sec, ev->pass_id, PF_ID_MAX_BYTES, 1);
    pf_sb_str(&sec, "\n*Completed:* ");
    pf_sb_text(&sec, ev->completed_at, PF_ID_MAX_BYTES, 1);
    ok &= json_array_append_new(blocks, pf_slack_mrkdwn_section(sec.buf)) == 0;

    /* One section per finding: 2 + 20 + 1 blocks stays under Slack's 50. */
    while (ok && listed < count && listed < PF_SLACK_MAX_LISTED) {
        pf_sb title, details;

        pf_sb_init(&title);
        pf_sb_init(&details);
        pf_finding_lines(&title, &details, json_array_get(ev->findings, listed), 1);
        if (used + title.len + details.len > PF_LISTED_BUDGET) {
            break;
        }
        used += title.len + details.len;
        pf_sb_str(&title, "\n");
        pf_sb_str(&title, details.buf);
        ok &= json_array_append_new(blocks, pf_slack_mrkdwn_section(title.buf)) == 0;
        listed++;
    }
    if (ok && listed < count) {
        pf_sb more;

        pf_sb_init(&more);
        pf_more_text(&more, count - listed);
        ok &= json_array_append_new(blocks,
                                    json_pack("{s:s, s:[{s:s, s:s}]}", "type", "context",
                                              "elements", "type", "mrkdwn",
                                              "text", more.buf)) == 0;
    }
    if (!ok) {
        json_decref(blocks);
        return NULL;
    }
    body = json_pack("{s:s, s:o}", "text", text.buf, "blocks", blocks);
    return body;
}

static json_t *pf_teams_text(const char *text, int bold, int subtle)
{
    json_t *tb = json_pack("{s:s, s:s, s:b}", "type", "TextBlock", "text", text, "wrap", 1);

    if (tb && bold) {
        json_object_set_new(tb, "size", json_string("Medium"));
        json_object_set_new(tb, "weight", json_string("Bolder"));
    }
    if (tb && subtle) {
        json_object_set_new(tb, "isSubtle", json_true());
    }
    return tb;
}

static json_t *pf_teams_fact(const char *title, const char *value)
{
    pf_sb v;

    pf_sb_init(&v);
    pf_sb_text(&v, value ? value : "", PF_NAME_MAX_BYTES, 0);
    return json_pack("{s:s, s:s}", "title", title, "value", v.buf);
}

/* An incoming-webhook message carrying one Adaptive Card. */
static json_t *pf_teams_card(json_t *card_body)
{
    if (card_body == NULL) {
        return NULL;
    }
    return json_pack("{s:s, s:[{s:s, s:n, s:{s:s, s:s, s:s, s:o}}]}",
                     "type", "message",
                     "attachments",
                     "contentType", "application/vnd.microsoft.card.adaptive",
                     "contentUrl",
                     "content",
                     "$schema", "http://adaptivecards.io/schemas/adaptive-card.json",
                     "type", "AdaptiveCard",
                     "version", "1.4",
                     "body", card_body);
}

static json_t *pf_teams_body(const pf_wh_event *ev)
{
    size_t count = pf_findings_count(ev), listed = 0, used = 0;
    json_t *card;
    char num[32];
    pf_sb head;
    int ok = 1;

    pf_sb_init(&head);
    card = json_array();
    if (card == NULL) {
        return NULL;
    }
    if (pf_is_ping(ev)) {
        pf_sb_str(&head, "Permafrost test delivery ");
        pf_sb_text(&head, ev->delivery_id, PF_ID_MAX_BYTES, 0);
        if (ev->webhook_name) {
            pf_sb_str(&head, " for the webhook ");
            pf_sb_text(&head, ev->webhook_name, PF_NAME_MAX_BYTES, 0);
        }
        ok &= json_array_append_new(card, pf_teams_text(head.buf, 1, 0)) == 0;
        if (!ok) {
            json_decref(card);
            return NULL;
        }
        return pf_teams_card(card);
    }

    pf_headline(&head, ev, count);
    ok &= json_array_append_new(card, pf_teams_text(head.buf, 1, 0)) == 0;
    snprintf(num, sizeof(num), "%zu", count);
    ok &= json_array_append_new(card, json_pack("{s:s, s:[o, o, o, o]}", "type", "FactSet",
                                                "facts",
                                                pf_teams_fact("Event", ev->event),
                                                pf_teams_fact("Tenant", ev->tenant_id),
                                                pf_teams_fact("Analyzer pass", ev->pass_id),
                                                pf_teams_fact("Findings", num))) == 0;
    while (ok && listed < count && listed < PF_SLACK_MAX_LISTED) {
        pf_sb title, details;

        pf_sb_init(&title);
        pf_sb_init(&details);
        pf_finding_lines(&title, &details, json_array_get(ev->findings, listed), 0);
        if (used + title.len + details.len > PF_LISTED_BUDGET) {
            break;
        }
        used += title.len + details.len;
        /* A Container per finding: a bold title over a subtle detail line,
         * separated from the next one. */
        {
            json_t *t = pf_teams_text(title.buf, 0, 0);

            if (t) {
                json_object_set_new(t, "weight", json_string("Bolder"));
            }
            ok &= json_array_append_new(card, json_pack("{s:s, s:b, s:[o, o]}",
                                                        "type", "Container",
                                                        "separator", 1,
                                                        "items", t,
                                                        pf_teams_text(details.buf, 0, 1))) == 0;
        }
        listed++;
    }
    if (ok && listed < count) {
        pf_sb more;

        pf_sb_init(&more);
        pf_more_text(&more, count - listed);
        ok &= json_array_append_new(card, pf_teams_text(more.buf, 0, 1)) == 0;
    }
    if (!ok) {
        json_decref(card);
        return NULL;
    }
    return pf_teams_card(card);
}

json_t *pf_wh_body(pf_wh_type type, const pf_wh_event *ev)
{
    if (ev == NULL) {
        return NULL;
    }
    switch (type) {
    case PF_WH_GENERIC:
        return pf_generic_body(ev);
    case PF_WH_SLACK:
        return pf_slack_body(ev);
    case PF_WH_TEAMS:
        return pf_teams_body(ev);
    }
    return NULL;
}

/* ---- Retry schedule ---- */

long pf_wh_backoff(int failures, long first_delay, double u)
{
    const double cap = 12.0 * 3600.0;
    double d;
    long s;

    if (failures < 1) {
        failures = 1;
    }
    if (first_delay < 1) {
        first_delay = 1;
    }
    /* Out-of-range jitter (or NaN) must not stretch or shrink the wait
     * beyond the documented factor. */
    if (!(u >= 0.0)) {
        u = 0.0;
    }
    if (u >= 1.0) {
        u = 0.999999;
    }
    d = (double)first_delay;
    /* Stop multiplying at the cap: a large failure count cannot overflow. */
    for (int i = 1; i < failures && d < cap; i++) {
        d *= 4.0;
    }
    if (d > cap) {
        d = cap;
    }
    d *= 0.8 + 0.4 * u;
    s = (long)d;
    return s < 1 ? 1 : s;
}
