/* Webhook delivery: a mod_watchdog callback, singleton across the children
 * of one httpd, drains the queue in PostgreSQL. It claims due deliveries
 * (row locks with SKIP LOCKED, then a lease), hands the connection back,
 * sends the POSTs concurrently with libcurl's multi interface, then records
 * each outcome. State lives in the database, so the watchdog may move to
 * another child, and several httpd servers may share one queue. */
#include "mod_permafrost_private.h"
#include "pf_addr.h"
#include "pf_crypto.h"
#include "pf_json.h"
#include "pf_shape.h"
#include "pf_webhook.h"

#include <mod_watchdog.h>

#include <curl/curl.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <apr_atomic.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#define PF_WD_NAME         "_permafrost_webhooks_"
#define PF_CURL_POOL_KEY   "permafrost-curl-init"
#define LEASE_MARGIN       60   /* seconds a claim outlives the timeout */
#define TICK_BUDGET        60   /* seconds one callback keeps claiming */
#define STOP_POLL          apr_time_from_msec(100) /* how soon a pause sees an exit */
#define STOP_SLACK         apr_time_from_sec(1)    /* a run's exit past its statement */
#define STOP_WAIT_NO_LIMIT apr_time_from_sec(6)    /* the wait without a query timeout */
#define MAX_ADDRS          16

typedef struct pf_drainer {
    server_rec *s;
    pf_wh_cfg *wh;
    /* Per child: the child is exiting (drainer_stop), a run is going on. */
    volatile apr_uint32_t stopping, running;
    apr_interval_time_t stop_wait; /* how long drainer_stop waits for a run */
} drainer;

/* One delivery attempt in flight. Its pool holds everything it needs. */
typedef struct {
    apr_pool_t *pool;
    const drainer *d;
    CURL *easy;
    struct curl_slist *headers;
    struct curl_slist *resolve;
    const char *id, *customer, *webhook, *event, *url_redacted;
    const char *token;          /* the claim this attempt belongs to */
    const char *store_payload;  /* body to keep for retries, first attempt only */
    const char *body;
    int attempts;
    apr_time_t started;
    /* Where it may connect: the addresses checked before the request. */
    int naddrs;
    struct sockaddr_storage addrs[MAX_ADDRS];
    const char *error;          /* refused before sending */
} transfer;

typedef struct {
    const char *status;    /* pending / succeeded / failed */
    long code;             /* HTTP status, 0 when none */
    const char *error;
    int retry_in;          /* seconds, when pending */
    int deactivate;
} outcome;

static double uniform01(void)
{
    unsigned int v = 0;

    if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1) {
        return 0.5;
    }
    return (double)v / 4294967296.0;
}

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *data)
{
    (void)ptr;
    (void)data;
    /* Receiver bodies are never kept, not even in the log. */
    return size * nmemb;
}

static int same_addr(const struct sockaddr *a, const struct sockaddr_storage *b)
{
    if (a->sa_family != b->ss_family) {
        return 0;
    }
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return memcmp(&x->sin_addr, &y->sin_addr, sizeof(x->sin_addr)) == 0;
    }
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return 0;
}

/* The last word on where a delivery connects: only to an address checked
 * before the request (no second lookup can swap it), and never to a
 * private one unless allowed. */
static curl_socket_t open_checked_socket(void *data, curlsocktype purpose,
                                         struct curl_sockaddr *a)
{
    transfer *t = data;
    int known = 0;

    if (purpose != CURLSOCKTYPE_IPCXN) {
        return CURL_SOCKET_BAD;
    }
    for (int i = 0; i < t->naddrs; i++) {
        known |= same_addr(&a->addr, &t->addrs[i]);
    }
    if (!known || (!t->d->wh->allow_private
                   && pf_addr_classify_sockaddr(&a->addr) != PF_ADDR_PUBLIC)) {
        t->error = "refused to connect to an address that was not checked";
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

/* Resolves the host once, refuses it when any address is not public, and
 * pins curl to exactly those addresses. */
static const char *check_destination(transfer *t, const pf_url *u)
{
    const pf_wh_cfg *wh = t->d->wh;
    char port[8], text[INET6_ADDRSTRLEN + 2];
    const char *pins = NULL;

    snprintf(port, sizeof(port), "%d", u->port);
    if (u->is_literal) {
        struct sockaddr_storage *ss = &t->addrs[0];
        memset(ss, 0, sizeof(*ss));
        ss->ss_family = (sa_family_t)u->family;
        if (u->family == AF_INET) {
            memcpy(&((struct sockaddr_in *)(void *)ss)->sin_addr, u->addr, 4);
        }
        else {
            memcpy(&((struct sockaddr_in6 *)(void *)ss)->sin6_addr, u->addr, 16);
        }
        t->naddrs = 1;
    }
    else {
        struct addrinfo hints, *res = NULL;
        int rc;

        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        rc = getaddrinfo(u->host, port, &hints, &res);
        if (rc != 0 || !res) {
            return "could not resolve the receiver's host name";
        }
        for (struct addrinfo *ai = res; ai && t->naddrs < MAX_ADDRS; ai = ai->ai_next) {
            if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
                && ai->ai_addrlen <= sizeof(t->addrs[0])) {
                memcpy(&t->addrs[t->naddrs++], ai->ai_addr, ai->ai_addrlen);
            }
        }
        freeaddrinfo(res);
    }
    for (int i = 0; i < t->naddrs; i++) {
        const struct sockaddr *sa = (const struct sockaddr *)&t->addrs[i];
        pf_addr_class c = pf_addr_classify_sockaddr(sa);
        const void *raw = sa->sa_family == AF_INET
            ? (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr
            : (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

        if (c != PF_ADDR_PUBLIC && !wh->allow_private) {
            return apr_pstrcat(t->pool, "refused: the receiver's host has a ",
                               pf_addr_class_name(c), " address", NULL);
        }
        if (!inet_ntop(sa->sa_family, raw, text + 1, INET6_ADDRSTRLEN)) {
            return "could not use the receiver's address";
        }
        if (sa->sa_family == AF_INET6) {
            text[0] = '[';
            strcat(text, "]");
        }
        pins = apr_pstrcat(t->pool, pins ? pins : "", pins ? "," : "",
                           sa->sa_family == AF_INET6 ? text : text + 1, NULL);
    }
    if (t->naddrs == 0) {
        return "the receiver's host has no usable address";
    }
    if (!u->is_literal) {
        t->resolve = curl_slist_append(NULL,
                                       apr_psprintf(t->pool, "%s:%d:%s", u->host, u->port, pins));
        if (!t->resolve) {
            return "out of memory";
        }
    }
    return NULL;
}

static void set_options(transfer *t, const char *url, const char *signature)
{
    const pf_wh_cfg *wh = t->d->wh;
    CURL *e = t->easy;
    struct curl_slist *h = NULL;

    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, apr_pstrcat(t->pool, "X-Permafrost-Event: ", t->event, NULL));
    h = curl_slist_append(h, apr_pstrcat(t->pool, "X-Permafrost-Delivery: ", t->id, NULL));
    h = curl_slist_append(h, apr_pstrcat(t->pool, "X-Permafrost-Signature-256: ", signature,
                                         NULL));
    h = curl_slist_append(h, "Expect:");
    t->headers = h;

    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, wh->allow_http ? "http,https" : "https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    /* Environment proxies would connect somewhere we did not check. */
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_checked_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
    if (t->resolve) {
        curl_easy_setopt(e, CURLOPT_RESOLVE, t->resolve);
    }
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)wh->timeout * 1000L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)wh->timeout * 1000L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "Permafrost-Webhooks/" PF_VERSION);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(t->body));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body);
}

/* The body of a delivery's first attempt: its findings read now, bound to
 * the delivery's customer. NULL with *err when it cannot be built. */
static const char *build_body(apr_pool_t *p, server_rec *s, ap_dbd_t **dbd, const char **c,
                              const char **err)
{
    pf_wh_event ev;
    json_t *findings = pf_json_pool_own(p, json_array());
    json_t *body;
    int type = pf_wh_type_from_name(c[PF_CLM_TYPE]);
    int ping = strcmp(c[PF_CLM_EVENT], "ping") == 0;
    char *text;
    size_t len;

    if (!ping) {
        const char *fc[PF_FND_LIST_NCOLS];
        const char *args[3] = { c[PF_CLM_ID], c[PF_CLM_CUSTOMER], c[PF_CLM_CUSTOMER] };
        pf_rows rows;
        if (pf_db_run(NULL, p, s, dbd, PF_SQL_WH_FINDINGS, 3, args, &rows) != PF_DB_OK) {
            *err = "could not read the delivery's findings";
            return NULL;
        }
        while (pf_db_next_row(&rows, fc, PF_FND_LIST_NCOLS)) {
            json_array_append_new(findings, pf_shape_finding_row(fc));
        }
        if (json_array_size(findings) == 0) {
            *err = "the findings of this delivery no longer exist";
            return NULL;
        }
    }
    memset(&ev, 0, sizeof(ev));
    ev.event = c[PF_CLM_EVENT];
    ev.delivery_id = c[PF_CLM_ID];
    ev.created_at = c[PF_CLM_CREATED];
    ev.webhook_name = c[PF_CLM_NAME];
    if (!ping) {
        ev.pass_id = c[PF_CLM_PASS];
        ev.tenant_id = c[PF_CLM_TENANT];
        ev.completed_at = c[PF_CLM_COMPLETED];
        ev.findings = findings;
    }
    body = pf_wh_body(type < 0 ? PF_WH_GENERIC : (pf_wh_type)type, &ev);
    text = body ? pf_json_dump(p, body, &len) : NULL;
    if (!text) {
        *err = "could not build the delivery body";
        return NULL;
    }
    return text;
}

/* Turns a claimed row into a transfer ready to add, or one already failed
 * (t->error) that is recorded without sending anything. */
static transfer *prepare(const drainer *d, apr_pool_t *parent, ap_dbd_t **dbd, const char **c)
{
    apr_pool_t *p;
    transfer *t;
    pf_url url;
    const char *err = NULL, *secret_plain = NULL;
    char *plain = NULL;
    size_t plain_len = 0;
    char signature[PF_SIGNATURE_LEN + 1];

    apr_pool_create(&p, parent);
    t = apr_pcalloc(p, sizeof(*t));
    t->pool = p;
    t->d = d;
    t->id = apr_pstrdup(p, c[PF_CLM_ID]);
    t->customer = apr_pstrdup(p, c[PF_CLM_CUSTOMER]);
    t->webhook = apr_pstrdup(p, c[PF_CLM_WEBHOOK]);
    t->event = apr_pstrdup(p, c[PF_CLM_EVENT]);
    t->attempts = c[PF_CLM_ATTEMPTS] ? atoi(c[PF_CLM_ATTEMPTS]) : 1;
    t->url_redacted = pf_url_redact(p, c[PF_CLM_URL] ? c[PF_CLM_URL] : "");
    t->started = apr_time_now();

    if (c[PF_CLM_PAYLOAD]) {
        t->body = apr_pstrdup(p, c[PF_CLM_PAYLOAD]);
    }
    else {
        t->body = build_body(p, d->s, dbd, c, &err);
        if (!t->body) {
            t->error = err;
            return t;
        }
        t->store_payload = t->body;
    }
    if (!c[PF_CLM_SECRET]
        || pf_wh_secret_open(p, d->wh->key, c[PF_CLM_SECRET], t->webhook, &plain, &plain_len)
               != 0) {
        t->error = "the signing secret cannot be decrypted with this server's "
                   "PermafrostSecretKeyFile";
        return t;
    }
    secret_plain = plain;
    pf_wh_sign(secret_plain, plain_len, t->body, strlen(t->body), signature);
    OPENSSL_cleanse(plain, plain_len);

    if (pf_url_parse(p, c[PF_CLM_URL] ? c[PF_CLM_URL] : "", d->wh->allow_http, &url, &err) != 0) {
        t->error = apr_pstrcat(p, "the webhook URL ", err, NULL);
        return t;
    }
    t->error = check_destination(t, &url);
    if (t->error) {
        return t;
    }
    t->easy = curl_easy_init();
    if (!t->easy) {
        t->error = "could not start a transfer";
        return t;
    }
    set_options(t, c[PF_CLM_URL], signature);
    return t;
}

static void judge(const drainer *d, transfer *t, CURLcode res, outcome *o)
{
    long code = 0;

    memset(o, 0, sizeof(*o));
    if (t->error) {
        o->error = t->error;
    }
    else if (res == CURLE_OK) {
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
        o->code = code;
        if (code >= 200 && code < 300) {
            o->status = "succeeded";
            return;
        }
        if (code == 410) {
            o->status = "failed";
            o->error = "the receiver answered 410 Gone; the subscription is deactivated";
            o->deactivate = 1;
            return;
        }
        o->error = code >= 300 && code < 400
            ? apr_psprintf(t->pool, "the receiver answered %ld, a redirect, which is not followed",
                           code)
            : apr_psprintf(t->pool, "the receiver answered %ld", code);
    }
    else if (res == CURLE_OPERATION_TIMEDOUT) {
        o->error = apr_psprintf(t->pool, "no answer within %d seconds", d->wh->timeout);
    }
    else {
        o->error = curl_easy_strerror(res);
    }
    if (t->attempts >= d->wh->attempts) {
        o->status = "failed";
    }
    else {
        o->status = "pending";
        o->retry_in = (int)pf_wh_backoff(t->attempts, d->wh->first_delay, uniform01());
    }
}

static void record(const drainer *d, apr_pool_t *p, ap_dbd_t **dbd, transfer *t,
                   const outcome *o)
{
    const char *code = o->code ? apr_psprintf(p, "%ld", o->code) : NULL;
    const char *delay = strcmp(o->status, "pending") == 0
        ? apr_psprintf(p, "%d", o->retry_in) : NULL;
    apr_time_t ms = (apr_time_now() - t->started) / 1000;
    const char *args[12];
    const char *cols[4];
    pf_rows rows;
    pf_db_status st;

    args[0] = o->status;
    args[1] = delay;
    args[2] = o->status;
    args[3] = code;
    args[4] = o->error;
    args[5] = t->store_payload;
    args[6] = t->id;
    args[7] = t->token;
    args[8] = apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)ms);
    args[9] = code;
    args[10] = o->error;
    args[11] = o->deactivate ? "true" : "false";
    st = pf_db_run(NULL, p, d->s, dbd, PF_SQL_WH_RECORD, 12, args, &rows);
    if (st != PF_DB_OK) {
        /* The lease runs out and another attempt follows: late, not lost. */
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, d->s,
                     "PF00027: could not record the outcome of webhook delivery %s", t->id);
        return;
    }
    while (pf_db_next_row(&rows, cols, 4)) {
        if (cols[0] && strcmp(cols[0], "0") == 0) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, d->s,
                         "PF00028: webhook delivery %s was no longer ours to record "
                         "(its lease ran out)", t->id);
        }
    }
    if (strcmp(o->status, "succeeded") != 0) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, d->s,
                     "PF00029: webhook delivery %s (%s) attempt %d to %s: %s%s", t->id, t->event,
                     t->attempts, t->url_redacted, o->error ? o->error : "failed",
                     o->deactivate ? "" : (strcmp(o->status, "failed") == 0
                                           ? "; no more attempts" : "; will retry"));
    }
}

static void finish(const drainer *d, apr_pool_t *p, ap_dbd_t **dbd, transfer *t, CURLcode res)
{
    outcome o;

    judge(d, t, res, &o);
    record(d, p, dbd, t, &o);
    if (t->easy) {
        curl_easy_cleanup(t->easy);
    }
    curl_slist_free_all(t->headers);
    curl_slist_free_all(t->resolve);
    apr_pool_destroy(t->pool);
}

/* Claims up to n due deliveries and starts them; *added counts those now
 * in flight (the rest failed before sending and are recorded already).
 * Returns how many were claimed. The connection is handed back before
 * anything is sent. */
static int claim(const drainer *d, apr_pool_t *p, CURLM *multi, int n, int *added)
{
    const char *args[3];
    const char *cols[PF_CLM_NCOLS];
    const char **rowv[256];
    transfer *ready[256];
    int nrows = 0;
    ap_dbd_t *dbd = NULL;
    pf_rows rows;
    apr_pool_t *tmp;
    const char *token;

    *added = 0;
    apr_pool_create(&tmp, p);
    token = pf_uuid4(tmp);
    if (!token) {
        apr_pool_destroy(tmp);
        return 0;
    }
    args[0] = apr_psprintf(tmp, "%d", n > 256 ? 256 : n);
    args[1] = apr_psprintf(tmp, "%d", d->wh->timeout + LEASE_MARGIN);
    args[2] = token;
    if (pf_db_run(NULL, tmp, d->s, &dbd, PF_SQL_WH_CLAIM, 3, args, &rows) == PF_DB_OK) {
        /* Copied out first: building a body runs statements of its own on
         * the same connection. */
        while (pf_db_next_row(&rows, cols, PF_CLM_NCOLS)) {
            if (nrows < 256) {
                const char **copy = apr_palloc(tmp, sizeof(cols));
                for (int i = 0; i < PF_CLM_NCOLS; i++) {
                    copy[i] = cols[i] ? apr_pstrdup(tmp, cols[i]) : NULL;
                }
                rowv[nrows++] = copy;
            }
        }
    }
    for (int i = 0; i < nrows; i++) {
        ready[i] = prepare(d, p, &dbd, rowv[i]);
        ready[i]->token = apr_pstrdup(ready[i]->pool, token);
        if (ready[i]->error) {
            finish(d, tmp, &dbd, ready[i], CURLE_OK);
            ready[i] = NULL;
        }
    }
    if (dbd) {
        pf_srv(d->s)->dbd.close(d->s, dbd);
    }
    for (int i = 0; i < nrows; i++) {
        if (ready[i]) {
            ready[i]->started = apr_time_now();
            if (curl_multi_add_handle(multi, ready[i]->easy) == CURLM_OK) {
                (*added)++;
            }
            else {
                /* Left to its lease: it becomes due again. */
                curl_easy_cleanup(ready[i]->easy);
                curl_slist_free_all(ready[i]->headers);
                curl_slist_free_all(ready[i]->resolve);
                apr_pool_destroy(ready[i]->pool);
            }
        }
    }
    apr_pool_destroy(tmp);
    return nrows;
}

/* Records every finished transfer; returns how many finished. */
static int reap(const drainer *d, apr_pool_t *pool, CURLM *multi)
{
    transfer *done[256];
    CURLcode res[256];
    int ndone = 0, left;
    CURLMsg *msg;

    while (ndone < 256 && (msg = curl_multi_info_read(multi, &left))) {
        char *priv = NULL;
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        res[ndone] = msg->data.result;
        curl_multi_remove_handle(multi, msg->easy_handle);
        if (priv) {
            done[ndone++] = (transfer *)(void *)priv;
        }
    }
    if (ndone) {
        ap_dbd_t *dbd = NULL;
        apr_pool_t *tmp;
        apr_pool_create(&tmp, pool);
        for (int i = 0; i < ndone; i++) {
            finish(d, tmp, &dbd, done[i], res[i]);
        }
        if (dbd) {
            pf_srv(d->s)->dbd.close(d->s, dbd);
        }
        apr_pool_destroy(tmp);
    }
    return ndone;
}

/* One watchdog run. It claims again whenever a slot is free and either the
 * last claim was a full batch (a backlog) or the interval has passed, so a
 * slow receiver holds only its own slot. It returns once nothing is in
 * flight and nothing was due, when its next look would fall past
 * TICK_BUDGET, after TICK_BUDGET once the last transfers are done, or when
 * the child exits (drainer_stop). */
static void drain(drainer *d, apr_pool_t *pool)
{
    CURLM *multi;
    apr_time_t begin = apr_time_now(), last_claim = 0;
    apr_time_t interval = apr_time_from_sec(d->wh->interval);
    int in_flight = 0, backlog = 1, claiming = 1;

    /* Set before stopping is read, as drainer_stop sets stopping before it
     * reads running: one of the two always sees the other. */
    apr_atomic_set32(&d->running, 1);
    if (apr_atomic_read32(&d->stopping) || !(multi = curl_multi_init())) {
        apr_atomic_set32(&d->running, 0);
        return;
    }
    for (;;) {
        apr_time_t now = apr_time_now();
        int transfers = 0;

        /* The child is exiting: transfers still in flight are left to their
         * leases (retried later), as no connection may be taken any more. */
        if (apr_atomic_read32(&d->stopping)) {
            break;
        }

        if (now - begin > apr_time_from_sec(TICK_BUDGET)) {
            claiming = 0;
        }
        if (claiming && in_flight < d->wh->concurrency
            && (backlog || now - last_claim >= interval)) {
            int want = d->wh->concurrency - in_flight, added = 0;
            int got = claim(d, pool, multi, want, &added);
            last_claim = now;
            backlog = got == want;
            in_flight += added;
            if (got == 0 && in_flight == 0) {
                break;
            }
        }
        curl_multi_perform(multi, &transfers);
        in_flight -= reap(d, pool, multi);
        if (in_flight <= 0) {
            in_flight = 0;
            if (!claiming) {
                break;
            }
            if (!backlog) {
                /* Nothing in flight: look again at the next interval, unless
                 * that falls past the run's budget (the watchdog calls again
                 * then). Waited in short steps: a child that exits meanwhile
                 * must not wait for the pause (drainer_stop). */
                apr_time_t next = last_claim + interval, left;
                if (next - begin > apr_time_from_sec(TICK_BUDGET)) {
                    break;
                }
                while ((left = next - apr_time_now()) > 0
                       && !apr_atomic_read32(&d->stopping)) {
                    apr_sleep(left < STOP_POLL ? left : STOP_POLL);
                }
            }
            continue;
        }
        curl_multi_poll(multi, NULL, 0, (int)apr_time_as_msec(STOP_POLL), NULL);
    }
    curl_multi_cleanup(multi);
    apr_atomic_set32(&d->running, 0);
}

/* A pre-cleanup of the child's pool: it runs before that pool's subpools
 * go, mod_dbd's connection pool among them, while the watchdog thread may
 * still be draining (mod_watchdog does not stop it before the child's pool
 * is destroyed). A connection the run still holds then, or takes after,
 * belongs to a destroyed pool, and APR's connection list asserts that all
 * are back when it goes: the child died with SIGABRT at exit
 * ("reslist_cleanup: Assertion `rl->ntotal == 0' failed"). The run notices
 * the flag within 100 ms (STOP_POLL, in transfers and in its pauses alike)
 * unless a statement is under way, which ends within
 * PermafrostQueryTimeout: the wait is that and a second (stop_wait). */
static apr_status_t drainer_stop(void *data)
{
    drainer *d = data;
    apr_time_t until = apr_time_now() + d->stop_wait;

    apr_atomic_set32(&d->stopping, 1);
    while (apr_atomic_read32(&d->running) && apr_time_now() < until) {
        apr_sleep(apr_time_from_msec(50));
    }
    return APR_SUCCESS;
}

void pf_webhook_child_init(apr_pool_t *pchild, server_rec *s)
{
    drainer *d = pf_srv(s)->wh->drainer;

    if (d) {
        apr_pool_pre_cleanup_register(pchild, d, drainer_stop);
    }
}

static apr_status_t wd_callback(int state, void *data, apr_pool_t *pool)
{
    if (state == AP_WATCHDOG_STATE_RUNNING) {
        drain(data, pool);
    }
    /* Always success: mod_watchdog never calls a failed callback again. */
    return APR_SUCCESS;
}

static apr_status_t cleanse_key(void *data)
{
    OPENSSL_cleanse(data, PF_SECRET_KEY_LEN);
    return APR_SUCCESS;
}

static apr_status_t curl_cleanup(void *data)
{
    (void)data;
    curl_global_cleanup();
    return APR_SUCCESS;
}

int pf_webhook_post_config(apr_pool_t *pconf, server_rec *s)
{
    pf_wh_cfg *wh = pf_srv(s)->wh;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_callback;
    ap_watchdog_t *wd = NULL;
    drainer *d;
    const char *err = NULL;
    apr_status_t rv;

    if (wh->interval == PF_UNSET) {
        wh->interval = 2;
    }
    if (wh->attempts == PF_UNSET) {
        wh->attempts = 8;
        wh->first_delay = 30;
    }
    if (wh->timeout == PF_UNSET) {
        wh->timeout = 10;
    }
    if (wh->concurrency == PF_UNSET) {
        wh->concurrency = 16;
    }
    if (!wh->key_file) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                     "PF00030: no PermafrostSecretKeyFile: webhooks can be listed but not "
                     "created, and nothing is delivered");
        return OK;
    }
    wh->key = apr_palloc(pconf, PF_SECRET_KEY_LEN);
    if (pf_secret_key_load(wh->key_file, wh->key, &err) != 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "PF00031: PermafrostSecretKeyFile %s: %s",
                     wh->key_file, err);
        wh->key = NULL;
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_pool_cleanup_register(pconf, wh->key, cleanse_key, apr_pool_cleanup_null);

    /* The configuration test pass starts nothing. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "PF00032: libcurl could not be initialised");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_pool_cleanup_register(pconf, NULL, curl_cleanup, apr_pool_cleanup_null);

    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!get_instance || !register_callback) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "PF00033: webhook delivery needs mod_watchdog: add 'LoadModule "
                     "watchdog_module modules/mod_watchdog.so' (built into Debian's apache2)");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    rv = get_instance(&wd, PF_WD_NAME, 0, 1, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "PF00034: could not create the webhook watchdog");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    d = apr_pcalloc(pconf, sizeof(*d));
    d->s = s;
    d->wh = wh;
    /* With PermafrostQueryTimeout off nothing bounds a statement: the wait
     * is then a fixed one, past which the child exits regardless. */
    d->stop_wait = pf_srv(s)->query_timeout > 0
                       ? apr_time_from_msec(pf_srv(s)->query_timeout) + STOP_SLACK
                       : STOP_WAIT_NO_LIMIT;
    wh->drainer = d;
    rv = register_callback(wd, apr_time_from_sec(wh->interval), d, wd_callback);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "PF00035: could not register the webhook watchdog callback");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}
