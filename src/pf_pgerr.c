#include "pf_pgerr.h"

#include <string.h>

static int sqlstate_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
}

int pf_pgerr_sqlstate(const char *msg, char out[6])
{
    const char *p;
    size_t line;

    if (!msg) {
        return -1;
    }
    line = pf_pgerr_first_line(msg);
    /* "<severity>:  <SQLSTATE>: <message>"; the severity has no ":  ". */
    p = strstr(msg, ":  ");
    if (!p || (size_t)(p - msg) >= line) {
        return -1;
    }
    p += 3;
    if ((size_t)(p - msg) + 7 > line) {
        return -1;
    }
    for (int i = 0; i < 5; i++) {
        if (!sqlstate_char(p[i])) {
            return -1;
        }
    }
    if (p[5] != ':' || p[6] != ' ') {
        return -1;
    }
    memcpy(out, p, 5);
    out[5] = '\0';
    return 0;
}

pf_pgerr_kind pf_pgerr_classify(const char *msg)
{
    char st[6];

    if (pf_pgerr_sqlstate(msg, st) != 0) {
        return PF_PGERR_UNKNOWN;
    }
    /* 57014 query_canceled: statement_timeout, or a cancel by an operator;
     * 55P03 lock_not_available: lock_timeout;
     * class 53, insufficient resources: disk full, out of memory, too many
     * connections;
     * 40001 serialization_failure, 40P01 deadlock_detected: the same
     * statement may succeed when run again. */
    if (strcmp(st, "57014") == 0 || strcmp(st, "55P03") == 0 || strncmp(st, "53", 2) == 0
        || strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0) {
        return PF_PGERR_BUSY;
    }
    return PF_PGERR_OTHER;
}

size_t pf_pgerr_first_line(const char *msg)
{
    return msg ? strcspn(msg, "\r\n") : 0;
}
