#include "pf_route.h"
#include "pf_key.h"

#include <string.h>

typedef struct {
    const char *prefix;   /* collection segment, with leading slash */
    pf_route_id list_id;  /* route of "/prefix" */
    unsigned list_methods;
    pf_route_id item_id;  /* route of "/prefix/{id}", NONE if absent */
    unsigned item_methods;
    unsigned scope;
} collection;

static const collection collections[] = {
    { "/identities", PF_ROUTE_IDENTITIES, PF_METHOD_GET, PF_ROUTE_IDENTITY, PF_METHOD_GET,
      PF_SCOPE_READ_IDENTITIES },
    { "/findings", PF_ROUTE_FINDINGS, PF_METHOD_GET, PF_ROUTE_FINDING, PF_METHOD_GET,
      PF_SCOPE_READ_FINDINGS },
    { "/roles", PF_ROUTE_ROLES, PF_METHOD_GET, PF_ROUTE_NONE, 0, PF_SCOPE_READ_ROLES },
    { "/tenants", PF_ROUTE_TENANTS, PF_METHOD_GET, PF_ROUTE_NONE, 0, PF_SCOPE_READ_IDENTITIES },
    { "/webhooks", PF_ROUTE_WEBHOOKS, PF_METHOD_GET | PF_METHOD_POST, PF_ROUTE_WEBHOOK,
      PF_METHOD_GET | PF_METHOD_DELETE, PF_SCOPE_MANAGE_WEBHOOKS },
};

static const char *allow_for(unsigned methods)
{
    switch (methods) {
    case PF_METHOD_GET:
        return "GET, HEAD";
    case PF_METHOD_POST:
        return "POST";
    case PF_METHOD_GET | PF_METHOD_POST:
        return "GET, HEAD, POST";
    case PF_METHOD_GET | PF_METHOD_DELETE:
        return "GET, HEAD, DELETE";
    default:
        return "";
    }
}

static void set(pf_route *out, pf_route_id id, unsigned methods, unsigned scope, int public_route)
{
    out->id = id;
    out->methods = methods;
    out->scope = scope;
    out->public_route = public_route;
    out->allow = allow_for(methods);
}

int pf_route_match(const char *rest, pf_route *out)
{
    memset(out, 0, sizeof(*out));
    out->allow = "";

    if (strcmp(rest, "/health") == 0) {
        set(out, PF_ROUTE_HEALTH, PF_METHOD_GET, 0, 1);
        return 0;
    }
    if (strcmp(rest, "/openapi.json") == 0) {
        set(out, PF_ROUTE_OPENAPI, PF_METHOD_GET, 0, 1);
        return 0;
    }
    for (size_t i = 0; i < sizeof(collections) / sizeof(collections[0]); i++) {
        const collection *c = &collections[i];
        size_t n = strlen(c->prefix);
        const char *tail;

        if (strncmp(rest, c->prefix, n) != 0) {
            continue;
        }
        tail = rest + n;
        if (*tail == '\0') {
            set(out, c->list_id, c->list_methods, c->scope, 0);
            return 0;
        }
        if (*tail != '/' || c->item_id == PF_ROUTE_NONE) {
            return -1;
        }
        tail++;
        /* An id is exactly 36 characters, optionally followed by a
         * sub-resource; anything else (trailing slash included) is no route. */
        if (strlen(tail) < 36) {
            return -1;
        }
        memcpy(out->param, tail, 36);
        out->param[36] = '\0';
        if (!pf_is_uuid(out->param, 0)) {
            out->param[0] = '\0';
            return -1;
        }
        tail += 36;
        if (*tail == '\0') {
            set(out, c->item_id, c->item_methods, c->scope, 0);
            return 0;
        }
        if (c->item_id == PF_ROUTE_WEBHOOK) {
            if (strcmp(tail, "/deliveries") == 0) {
                set(out, PF_ROUTE_WEBHOOK_DELIVERIES, PF_METHOD_GET, c->scope, 0);
                return 0;
            }
            if (strcmp(tail, "/test") == 0) {
                set(out, PF_ROUTE_WEBHOOK_TEST, PF_METHOD_POST, c->scope, 0);
                return 0;
            }
        }
        out->param[0] = '\0';
        return -1;
    }
    return -1;
}

unsigned pf_method_flag(const char *method)
{
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) {
        return PF_METHOD_GET;
    }
    if (strcmp(method, "POST") == 0) {
        return PF_METHOD_POST;
    }
    if (strcmp(method, "DELETE") == 0) {
        return PF_METHOD_DELETE;
    }
    return 0;
}
