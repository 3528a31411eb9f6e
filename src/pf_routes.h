/* Route implementations (httpd glue). Each answers the request and
 * returns OK. */
#ifndef PF_ROUTES_H
#define PF_ROUTES_H

#include "mod_permafrost_private.h"

int pf_route_identities(request_rec *r, pf_req *rq);
int pf_route_identity(request_rec *r, pf_req *rq);
int pf_route_findings(request_rec *r, pf_req *rq);
int pf_route_finding(request_rec *r, pf_req *rq);
int pf_route_roles(request_rec *r, pf_req *rq);
int pf_route_tenants(request_rec *r, pf_req *rq);

/* Gives every server the key that signs list cursors (post_config). */
void pf_cursor_key_init(server_rec *s);

#endif
