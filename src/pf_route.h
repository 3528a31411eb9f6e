/* The /api/v1 route table: which path is which route, its methods and its
 * scope. No httpd dependency. */
#ifndef PF_ROUTE_H
#define PF_ROUTE_H

typedef enum {
    PF_ROUTE_NONE = 0,
    PF_ROUTE_HEALTH,
    PF_ROUTE_OPENAPI,
    PF_ROUTE_IDENTITIES,
    PF_ROUTE_IDENTITY,
    PF_ROUTE_FINDINGS,
    PF_ROUTE_FINDING,
    PF_ROUTE_ROLES,
    PF_ROUTE_TENANTS,
    PF_ROUTE_WEBHOOKS,
    PF_ROUTE_WEBHOOK,
    PF_ROUTE_WEBHOOK_DELIVERIES,
    PF_ROUTE_WEBHOOK_TEST
} pf_route_id;

/* Methods as flags; HEAD is implied wherever GET is allowed. */
enum {
    PF_METHOD_GET = 1u << 0,
    PF_METHOD_POST = 1u << 1,
    PF_METHOD_DELETE = 1u << 2
};

typedef struct {
    pf_route_id id;
    unsigned methods;        /* allowed methods */
    unsigned scope;          /* PF_SCOPE_* needed, 0 for none */
    int public_route;        /* no key needed */
    char param[37];          /* the path id, lowercase UUID, or "" */
    const char *allow;       /* value of the Allow header */
} pf_route;

/* Matches the path below the handler's base (for "/api/v1/findings/ID",
 * pass "/findings/ID"). Returns 0 and fills *out, or -1 for no route (404).
 * Ids must be lowercase UUIDs: anything else is no route. */
int pf_route_match(const char *rest, pf_route *out);

/* Maps an HTTP method name to a PF_METHOD_ flag (HEAD counts as GET);
 * 0 for any other method. */
unsigned pf_method_flag(const char *method);

#endif
