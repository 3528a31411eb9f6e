"""PermafrostQueryTimeout (README, "Query timeout"): a statement the
database does not finish in time is cancelled there, and the request is
answered 503 SERVICE_UNAVAILABLE with Retry-After, at once, not after a
repeat. The connection and the gate's place are handed back, so the server
answers normally as soon as the database does.

The slow statement is real: a session holds finding_totals (read by every
customer-wide findings list) or api_keys under an exclusive lock, and the
module's statements wait on it."""
import os
import threading
import time

import pytest

import pfstack
from conftest import Client, _openapi_validator
from test_keycache import ROLE, su, check_error_log, answers  # noqa: F401
from test_listcache import held, release, two  # noqa: F401

PATH = "/api/v1/findings?severity=critical,high&limit=7"
# One child, so every request below meets the same pool and gate.
ONE_CHILD = ("StartServers 1\nServerLimit 1\nThreadsPerChild 16\nMinSpareThreads 1\n"
             "MaxSpareThreads 16\nMaxRequestWorkers 16\nDBDMin 4\nDBDKeep 4\nDBDMax 4\n")


def role_dsn(pg, options=None):
    dsn = pg.dsn.replace("user=permafrost", f"user={ROLE}")
    return dsn + (f" options='-c statement_timeout={options}'" if options else "")


def server(rundir, pg, name, extra, options=None):
    h = pfstack.Httpd(os.path.join(rundir, name), role_dsn(pg, options), mpm="event")
    h.extra = ONE_CHILD + extra
    h.start()
    # The child's pool is open, and its statements prepared, before any
    # test takes a lock: preparing takes the tables' locks too, before the
    # session's timeout is set (README, "Query timeout").
    assert Client(h.port).get("/api/v1/health").status == 200
    return h


def timed_get(port, path, key):
    t0 = time.monotonic()
    r = Client(port, _openapi_validator()).get(path, key)
    return r, time.monotonic() - t0


def assert_unavailable(r, seconds, bound):
    assert r.status == 503, r.body
    assert r.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert r.header("Retry-After") == "5"
    assert seconds < bound, f"answered after {seconds:.2f} s"


def assert_logged_once_per_request(h, n, keys):
    log = h.error_log()
    tagged = [line for line in log.splitlines() if "PF00047" in line]
    assert len(tagged) == n, log[-3000:]
    assert all("57014" in line and "statement timeout" in line for line in tagged), tagged
    # One line per cancelled statement: what follows it in PostgreSQL's
    # message (LOCATION, DETAIL) is not logged.
    assert "LOCATION" not in log and "DETAIL" not in log
    assert "PF00003" not in log, "a cancelled statement was run again as a failed one"
    for key in keys:
        assert key not in log


def test_a_statement_held_on_a_lock_is_answered_503(rundir, pg, su, two):  # noqa: F811
    h = server(rundir, pg, "query-timeout-300",
               "PermafrostQueryTimeout 300ms\nPermafrostDatabaseConcurrency 2")
    try:
        (_, key), _ = two
        assert Client(h.port).get("/api/v1/tenants", key).status == 200
        holder = held(pg, su, "finding_totals", 60)
        try:
            r, took = timed_get(h.port, PATH, key)
            assert_unavailable(r, took, 2.0)
            # The key was valid (checked from the key cache): like every
            # answer to a valid key, the 503 carries the rate-limit headers
            # (contract section 8), and it used quota.
            assert r.header("X-RateLimit-Limit") == "1000"
            assert int(r.header("X-RateLimit-Remaining")) < 1000 - 1
            # The default window is 900 s, begun by the key's first request
            # (the tenants list above, a few seconds ago).
            assert 880 < int(r.header("X-RateLimit-Reset")) - time.time() <= 902
            # More requests than the pool has connections, and than the gate
            # has places, all at once: each cancelled statement gave both back.
            t0 = time.monotonic()
            got = answers(h.port, key, n=12, conns=12, path=PATH)
            assert [s for s, _, _ in got] == [503] * 12
            assert time.monotonic() - t0 < 10
            # Routes that do not wait on the lock are answered meanwhile.
            assert Client(h.port).get("/api/v1/tenants", key).status == 200
        finally:
            release(pg, su, "finding_totals", holder)
        r, took = timed_get(h.port, PATH, key)
        assert r.status == 200 and r.json()["meta"]["total"] > 0
        assert_logged_once_per_request(h, 13, [key])
    finally:
        h.stop()
    check_error_log(h)


def test_a_key_lookup_held_on_a_lock_is_503_not_401(rundir, pg, su, two):  # noqa: F811
    """The key is not in the cache yet: its lookup is the statement that
    times out, and an unchecked key is neither refused nor let in."""
    h = server(rundir, pg, "query-timeout-auth", "PermafrostQueryTimeout 250ms")
    try:
        (_, key), _ = two
        holder = held(pg, su, "api_keys", 60)
        try:
            r, took = timed_get(h.port, "/api/v1/tenants", key)
            assert_unavailable(r, took, 2.0)
            # Whether the key is valid is not known: no rate-limit headers.
            assert r.header("X-RateLimit-Limit") is None
        finally:
            release(pg, su, "api_keys", holder)
        assert Client(h.port).get("/api/v1/tenants", key).status == 200
        assert_logged_once_per_request(h, 1, [key])
    finally:
        h.stop()
    check_error_log(h)


@pytest.mark.parametrize("setting,waits", [("", True), ("PermafrostQueryTimeout off", False)])
def test_default_and_off_against_the_connections_own_setting(rundir, pg, su, two, setting,
                                                              waits):  # noqa: F811
    """DBDParams asks for 200 ms. The module's default (5 s) replaces it,
    so the request waits out a 1.5 s lock and is answered; with off, the
    connection's own 200 ms stands and the request is answered 503."""
    h = server(rundir, pg, f"query-timeout-{'default' if waits else 'off'}",
               setting, options=200)
    try:
        (_, key), _ = two
        assert Client(h.port).get("/api/v1/tenants", key).status == 200
        holder = held(pg, su, "finding_totals", 1.5)
        result = {}
        t = threading.Thread(target=lambda: result.update(
            zip(("r", "took"), timed_get(h.port, PATH, key))))
        t.start()
        holder.communicate(timeout=30)
        t.join(timeout=60)
        if waits:
            assert result["r"].status == 200, result["r"].body
            assert result["took"] > 0.9
            assert "PF00047" not in h.error_log()
        else:
            assert_unavailable(result["r"], result["took"], 1.2)
            assert_logged_once_per_request(h, 1, [key])
    finally:
        h.stop()
    check_error_log(h)


@pytest.mark.parametrize("line,ok", [
    ("PermafrostQueryTimeout 1ms", True),
    ("PermafrostQueryTimeout 1", True),
    ("PermafrostQueryTimeout 3600", True),
    ("PermafrostQueryTimeout 60mi", True),
    ("PermafrostQueryTimeout 1h", True),
    ("PermafrostQueryTimeout OFF", True),
    ("PermafrostQueryTimeout 0", False),
    ("PermafrostQueryTimeout 0ms", False),
    ("PermafrostQueryTimeout 3601", False),
    ("PermafrostQueryTimeout 2h", False),
    ("PermafrostQueryTimeout -5", False),
    ("PermafrostQueryTimeout 5x", False),
    ("PermafrostQueryTimeout ms", False),
    ("PermafrostQueryTimeout 99999999999999999999", False),
    ("PermafrostQueryTimeout", False),
])
def test_the_directive(rundir, pg, line, ok):
    pfstack.assert_directive(os.path.join(rundir, "query-timeout-conf"), pg.dsn, line, ok,
                             "PermafrostQueryTimeout")


def test_the_directive_is_for_the_main_server_only(rundir, pg):
    pfstack.assert_directive(
        os.path.join(rundir, "query-timeout-vhost"), pg.dsn,
        "<VirtualHost 127.0.0.1:9>\nPermafrostQueryTimeout 500\n</VirtualHost>", False,
        "PermafrostQueryTimeout cannot occur within <VirtualHost> section")
