/* What a PostgreSQL error message says about what to do next.
 *
 * apr_dbd's pgsql driver keeps no result for a failed statement, only the
 * connection's message (PQerrorMessage). With PQERRORS_VERBOSE, which the
 * module sets on every pooled session, that message carries the SQLSTATE
 * after the severity: "ERROR:  57014: canceling statement ...". The
 * severity word may be translated; the SQLSTATE never is. */
#ifndef PF_PGERR_H
#define PF_PGERR_H

#include <stddef.h>

typedef enum {
    PF_PGERR_UNKNOWN = 0, /* no SQLSTATE (a client-side error, or another verbosity) */
    PF_PGERR_OTHER,       /* an error of the statement or its data */
    PF_PGERR_BUSY         /* cancelled, timed out or refused for want of resources:
                           * the database may answer the same statement later */
} pf_pgerr_kind;

/* The SQLSTATE of the message's first line into out (5 characters and a
 * NUL); 0 when found, -1 when the message has none. */
int pf_pgerr_sqlstate(const char *msg, char out[6]);

pf_pgerr_kind pf_pgerr_classify(const char *msg);

/* Length of the message's first line. The lines after it (DETAIL, HINT,
 * QUERY, CONTEXT) can quote row values, so only the first is logged. */
size_t pf_pgerr_first_line(const char *msg);

#endif
