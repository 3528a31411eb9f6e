/* Reading PostgreSQL's verbose error messages: the SQLSTATE, what it means
 * for the request, and the one line that may be logged. The messages are
 * as libpq builds them with PQERRORS_VERBOSE. */
#include "tap.h"
#include "pf_pgerr.h"

static const char *state(const char *msg)
{
    static char out[6];

    return pf_pgerr_sqlstate(msg, out) == 0 ? out : NULL;
}

int main(void)
{
    const char *timeout = "ERROR:  57014: canceling statement due to statement timeout\n"
                          "LOCATION:  ProcessInterrupts, postgres.c:3370\n";
    const char *unique = "ERROR:  23505: duplicate key value violates unique constraint \"k\"\n"
                         "DETAIL:  Key (secret)=(hunter2) already exists.\n"
                         "LOCATION:  _bt_check_unique, nbtinsert.c:664\n";

    is_str(state(timeout), "57014", "statement timeout");
    is_str(state("FEHLER:  55P03: konnte Sperre nicht setzen\n"), "55P03",
           "a translated severity still gives the SQLSTATE");
    is_str(state("FATAL:  53300: sorry, too many clients already\n"), "53300", "FATAL severity");
    is_str(state("ERROR:  canceling statement due to statement timeout\n"), NULL,
           "default verbosity: no SQLSTATE");
    is_str(state("server closed the connection unexpectedly\n\tThis probably means ...\n"), NULL,
           "a client-side message has none");
    is_str(state("ERROR:  5701: short\n"), NULL, "four characters are not a SQLSTATE");
    is_str(state("ERROR:  57o14: lower case\n"), NULL, "lower case is not a SQLSTATE");
    is_str(state("ERROR:  57014 no colon\n"), NULL, "the SQLSTATE is followed by ': '");
    is_str(state("ERROR:  57014:"), NULL, "cut off after the colon");
    is_str(state("ERROR: \nDETAIL:  57014: on the second line\n"), NULL,
           "only the first line is read");
    is_str(state(""), NULL, "empty message");
    is_str(state(NULL), NULL, "no message");

    ok(pf_pgerr_classify(timeout) == PF_PGERR_BUSY, "statement timeout: busy");
    ok(pf_pgerr_classify("ERROR:  55P03: canceling statement due to lock timeout\n")
           == PF_PGERR_BUSY, "lock timeout: busy");
    ok(pf_pgerr_classify("ERROR:  53200: out of memory\n") == PF_PGERR_BUSY,
       "out of memory: busy");
    ok(pf_pgerr_classify("ERROR:  53100: could not extend file\n") == PF_PGERR_BUSY,
       "disk full: busy");
    ok(pf_pgerr_classify("ERROR:  40001: could not serialize access\n") == PF_PGERR_BUSY,
       "serialization failure: busy");
    ok(pf_pgerr_classify("ERROR:  40P01: deadlock detected\n") == PF_PGERR_BUSY,
       "deadlock: busy");
    ok(pf_pgerr_classify(unique) == PF_PGERR_OTHER, "unique violation: the statement's own");
    ok(pf_pgerr_classify("ERROR:  26000: prepared statement \"x\" does not exist\n")
           == PF_PGERR_OTHER, "a lost prepared statement is not busy");
    ok(pf_pgerr_classify("FATAL:  57P01: terminating connection due to administrator command\n")
           == PF_PGERR_OTHER, "a shutdown is not busy (the lost connection is handled first)");
    ok(pf_pgerr_classify("ERROR:  40002: integrity constraint violation\n") == PF_PGERR_OTHER,
       "only two states of class 40 are busy");
    ok(pf_pgerr_classify("ERROR:  canceling statement due to statement timeout\n")
           == PF_PGERR_UNKNOWN, "no SQLSTATE: unknown");
    ok(pf_pgerr_classify(NULL) == PF_PGERR_UNKNOWN, "no message: unknown");

    ok(pf_pgerr_first_line(unique) == strlen("ERROR:  23505: duplicate key value violates unique "
                                             "constraint \"k\""),
       "the first line stops before DETAIL, which quotes the row");
    ok(pf_pgerr_first_line("one line") == 8, "a message of one line is whole");
    ok(pf_pgerr_first_line("a\r\nb") == 1, "CR ends a line too");
    ok(pf_pgerr_first_line(NULL) == 0, "no message");
    return tap_done();
}
