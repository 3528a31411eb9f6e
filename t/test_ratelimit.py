"""Contract section 8: per-key rate limits, against httpd servers of their own
with small limits: headers on every keyed answer, 429, exact counting across
child processes, window reset, separate counts per key and per server,
survival across a graceful restart, and a full counter table."""
import http.client
import os
import re
import threading
import time

import pytest

import pfstack
from conftest import Client, _openapi_validator

LIMIT = 20          # main server
SHORT = (3, 2)      # vhost 2: 3 requests per 2 seconds
GRACEFUL = 3        # vhost 3 before the graceful restart; 5 after
RL_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def rl_conf(d, p2, p3, graceful_limit):
    return f"""
PermafrostRateLimit {LIMIT} 600
LogFormat "%P %u %>s" pfrl
CustomLog "{d}/rl_access.log" pfrl
Listen 127.0.0.1:{p2}
Listen 127.0.0.1:{p3}
<VirtualHost 127.0.0.1:{p2}>
    PermafrostRateLimit {SHORT[0]} {SHORT[1]}
</VirtualHost>
<VirtualHost 127.0.0.1:{p3}>
    PermafrostRateLimit {graceful_limit} 600
</VirtualHost>
"""


def check_error_log(h):
    log = h.error_log()
    bad = [line for line in log.splitlines()
           if any(t in line for t in (":crit]", ":emerg]", ":alert]", "Segmentation fault",
                                      "exit signal", "PF00022", "PF00023", "PF00024"))]
    assert not bad, "httpd logged:\n" + "\n".join(bad[:20])


@pytest.fixture(scope="module")
def rl(rundir, pg):
    """prefork with at least 4 children; the main server and two vhosts on
    their own ports, each with its own limit."""
    h = pfstack.Httpd(os.path.join(rundir, "ratelimit"), pg.dsn, mpm="prefork")
    p2, p3 = pfstack.free_port(), pfstack.free_port()
    h.extra = rl_conf(h.dir, p2, p3, GRACEFUL)
    h.start()
    v = _openapi_validator()
    yield {"h": h, "main": Client(h.port, v), "short": Client(p2, v), "g": Client(p3, v),
           "p2": p2, "p3": p3}
    h.stop()
    check_error_log(h)


@pytest.fixture(scope="module")
def cust(world):
    return world.customer("Rate Co")


def rlh(r):
    return tuple(int(r.header(n)) for n in RL_HEADERS)


def no_rlh(r):
    return all(r.header(n) is None for n in RL_HEADERS)


def test_headers_on_every_keyed_answer(rl, world, cust):
    c = rl["main"]
    key, _ = world.key(cust, scopes=("read:findings",))
    t0 = int(time.time())
    answers = []
    r = c.get("/api/v1/findings", key)
    assert r.status == 200, r.body
    etag = r.header("ETag")
    answers.append(r)
    answers.append(c.get("/api/v1/findings", key, headers={"If-None-Match": etag}))
    answers.append(c.get("/api/v1/findings?bogus=1", key))
    answers.append(c.get("/api/v1/roles", key))           # scope missing
    answers.append(c.get("/api/v1/no-such-thing", key))
    answers.append(c.request("DELETE", "/api/v1/findings", key))
    assert [a.status for a in answers] == [200, 304, 400, 403, 404, 405]
    seen = [rlh(a) for a in answers]
    assert [s[0] for s in seen] == [LIMIT] * 6
    assert [s[1] for s in seen] == list(range(LIMIT - 1, LIMIT - 7, -1)), "Remaining decreases"
    reset = seen[0][2]
    assert all(s[2] == reset for s in seen), "one window, one reset time"
    assert t0 + 599 <= reset <= int(time.time()) + 600

    # 401 carries none of them, whatever the cause.
    for h in ({}, {"Authorization": "Bearer pfrost_nope"}):
        r = c.get("/api/v1/findings", headers=h)
        assert r.status == 401 and no_rlh(r)
    r = c.get("/api/v1/health")
    assert r.status == 200 and no_rlh(r), "no key, no rate limit"

    for i in range(LIMIT - 6):
        r = c.get("/api/v1/findings", key)
        assert r.status == 200 and rlh(r)[1] == LIMIT - 7 - i
    r = c.get("/api/v1/findings", key)
    assert r.status == 429, r.body
    assert r.json()["error"]["code"] == "RATE_LIMITED"
    assert rlh(r) == (LIMIT, 0, reset)
    retry = int(r.header("Retry-After"))
    assert 1 <= retry <= 600 and abs((reset - time.time()) - retry) <= 2
    assert r.header("Content-Type") == "application/json; charset=utf-8"

    # Over quota, answers decided before the rate limit stay what they are;
    # parameters are checked after it.
    assert c.get("/api/v1/no-such-thing", key).status == 404
    assert c.get("/api/v1/roles", key).status == 403
    assert c.request("DELETE", "/api/v1/findings", key).status == 405
    r = c.get("/api/v1/findings?bogus=1", key)
    assert r.status == 429 and rlh(r) == (LIMIT, 0, reset)
    r = c.get("/api/v1/findings", key, headers={"If-None-Match": etag})
    assert r.status == 429 and r.header("ETag") is None


def hammer(port, key, conns=20, per_conn=3):
    """conns connections opened first, then released at once; each thread
    sends per_conn requests, one connection each (an event MPM under load may
    close idle keep-alive connections, which would lose requests).
    Returns (status, X-RateLimit-Remaining) pairs."""
    barrier = threading.Barrier(conns)
    results, errors = [], []
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {key}", "Connection": "close"}

    def worker():
        try:
            for i in range(per_conn):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                try:
                    conn.connect()
                    if i == 0:
                        barrier.wait()
                    conn.request("GET", "/api/v1/tenants", headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                finally:
                    conn.close()
                with lock:
                    results.append((resp.status, resp.getheader("X-RateLimit-Remaining")))
        except Exception as e:  # noqa: BLE001 - reported below
            with lock:
                errors.append(repr(e))

    threads = [threading.Thread(target=worker) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(results) == conns * per_conn
    return results


def assert_exact(results, limit):
    ok = sorted(int(rem) for st, rem in results if st == 200)
    assert len(ok) == limit, sorted(results)
    assert ok == list(range(limit)), "every Remaining value exactly once"
    assert all(st == 429 and rem == "0" for st, rem in results if st != 200)


def served_by(log_path, key_id, n):
    """Child pids (%P) that logged the key's n requests."""
    deadline = time.time() + 5
    while time.time() < deadline:
        with open(log_path) as f:
            lines = [ln.split() for ln in f if f" {key_id} " in ln]
        if len(lines) >= n:
            return {ln[0] for ln in lines}
        time.sleep(0.1)
    return set()


def test_exact_under_concurrency_prefork(rl, world, cust):
    """3 x LIMIT requests on 20 connections at once, served by several prefork
    children: exactly LIMIT succeed, each Remaining value given once."""
    key, key_id = world.key(cust)
    assert_exact(hammer(rl["main"].port, key), LIMIT)
    pids = served_by(os.path.join(rl["h"].dir, "rl_access.log"), key_id, 3 * LIMIT)
    assert len(pids) >= 2, f"requests were served by child processes {pids}"


@pytest.fixture(scope="module")
def evt(rundir, pg):
    """event MPM: 2 processes of 16 threads each."""
    h = pfstack.Httpd(os.path.join(rundir, "ratelimit-event"), pg.dsn, mpm="event")
    h.extra = (f"PermafrostRateLimit {LIMIT} 600\nLogFormat \"%P %u %>s\" pfrl\n"
               f"CustomLog \"{h.dir}/rl_access.log\" pfrl\n")
    h.start()
    yield h
    h.stop()
    check_error_log(h)


def test_exact_under_concurrency_event(evt, world, cust):
    """The same with threads: 32 connections, 96 requests, exactly LIMIT."""
    key, key_id = world.key(cust)
    assert_exact(hammer(evt.port, key, conns=32), LIMIT)
    assert served_by(os.path.join(evt.dir, "rl_access.log"), key_id, 3 * 32)


def test_window_reset(rl, world, cust):
    c = rl["short"]
    key, _ = world.key(cust)
    # Start early in a second so the window (rounded down to the second) is
    # not about to end while the first requests are made.
    while time.time() % 1 > 0.5:
        time.sleep(0.05)
    got = [c.get("/api/v1/tenants", key) for _ in range(SHORT[0] + 1)]
    assert [r.status for r in got] == [200, 200, 200, 429]
    assert [rlh(r)[1] for r in got] == [2, 1, 0, 0]
    reset = rlh(got[0])[2]
    assert all(rlh(r)[2] == reset and rlh(r)[0] == SHORT[0] for r in got)
    assert 1 <= int(got[3].header("Retry-After")) <= SHORT[1]
    assert reset - time.time() <= SHORT[1]
    time.sleep(max(0.0, reset - time.time()) + 0.05)
    r = c.get("/api/v1/tenants", key)
    assert r.status == 200
    limit, remaining, reset2 = rlh(r)
    assert (limit, remaining) == (SHORT[0], SHORT[0] - 1), "a fresh window"
    assert reset2 >= reset + SHORT[1]


def test_keys_and_servers_count_separately(rl, world, cust):
    a, _ = world.key(cust)
    b, _ = world.key(cust)
    for i in range(5):
        assert rlh(rl["main"].get("/api/v1/tenants", a))[1] == LIMIT - 1 - i
    assert rlh(rl["main"].get("/api/v1/tenants", b))[1] == LIMIT - 1, "key b has its own count"
    r = rl["short"].get("/api/v1/tenants", a)
    assert rlh(r)[:2] == (SHORT[0], SHORT[0] - 1), "the vhost counts key a on its own"
    assert rlh(rl["main"].get("/api/v1/tenants", a))[1] == LIMIT - 6, "main count untouched"


def test_counters_survive_graceful_restart(rl, world, cust):
    """Runs last in this module: it restarts the server. The vhost's limit is
    raised from 3 to 5 by the restart: a key that used 3 (and was refused
    three times) then has exactly 2 left, which shows both that counts
    survive and that refused requests used nothing."""
    h, g, main = rl["h"], rl["g"], rl["main"]
    key, _ = world.key(cust)
    probe, _ = world.key(cust)
    other, _ = world.key(cust)
    assert [g.get("/api/v1/tenants", key).status for _ in range(6)] == [200] * 3 + [429] * 3
    for _ in range(5):
        main.get("/api/v1/tenants", other)

    h.extra = rl_conf(h.dir, rl["p2"], rl["p3"], 5)
    h.write_conf()
    h.graceful()
    deadline = time.time() + 15
    while True:
        try:
            r = g.get("/api/v1/tenants", probe)
            if r.status == 200 and rlh(r)[0] == 5:
                break
        except OSError:
            pass
        assert time.time() < deadline, "the new configuration never answered"
        time.sleep(0.1)

    # A child of the old generation may still answer once (with limit 3,
    # which this key has spent: a 429, which costs nothing).
    deadline = time.time() + 10
    while True:
        r = g.get("/api/v1/tenants", key)
        if rlh(r)[0] == 5:
            break
        assert r.status == 429 and time.time() < deadline
        time.sleep(0.1)
    assert r.status == 200 and rlh(r)[1] == 1, (r.status, rlh(r))
    r = g.get("/api/v1/tenants", key)
    assert r.status == 200 and rlh(r)[1] == 0
    assert g.get("/api/v1/tenants", key).status == 429
    r = main.get("/api/v1/tenants", other)
    assert r.status == 200 and rlh(r)[1] == LIMIT - 6, "the main server's count survived too"


@pytest.fixture(scope="module")
def tiny(rundir, pg):
    """A table of two slots, under the event MPM."""
    h = pfstack.Httpd(os.path.join(rundir, "ratelimit-tiny"), pg.dsn, mpm="event",
                      extra="PermafrostRateLimitSlots 2\nPermafrostRateLimit 5 600\n")
    h.start()
    yield h, Client(h.port, _openapi_validator())
    h.stop()
    check_error_log(h)


def test_full_table_fails_open(tiny, world, cust):
    h, c = tiny
    k1, _ = world.key(cust)
    k2, _ = world.key(cust)
    k3, _ = world.key(cust)
    assert rlh(c.get("/api/v1/tenants", k1))[:2] == (5, 4)
    assert rlh(c.get("/api/v1/tenants", k2))[:2] == (5, 4)
    # No slot for k3: served, not counted, headers as for a fresh window.
    for _ in range(8):
        r = c.get("/api/v1/tenants", k3)
        assert r.status == 200 and rlh(r)[:2] == (5, 4)
        assert int(time.time()) + 598 <= rlh(r)[2] <= int(time.time()) + 600
    r = c.get("/api/v1/tenants", k1)
    assert r.status == 200 and rlh(r)[:2] == (5, 3), "keys with a slot still count"
    for _ in range(3):
        c.get("/api/v1/tenants", k1)
    assert c.get("/api/v1/tenants", k1).status == 429, "and are still limited"
    time.sleep(0.2)
    log = h.error_log()
    assert len(re.findall(r"PF00021", log)) == 1, log[-2000:]
