"""The list cache (README, "List cache"): a child process keeps list answers
and serves one again only after the database confirms the customer's data
version (sql/005) is still the one it was read at. So a repeated list costs
one primary-key read, and an answer is never stale: every write to a
customer's data is seen by the very next request, on every child.

Against a prefork httpd of its own (several child processes, each with its
own cache), counting statements with pg_stat_statements as
t/test_keycache.py does."""
import json
import os
import subprocess
import time

import pytest

import pfstack
from conftest import Client
from test_keycache import ROLE, su, statements, delta, check_error_log, answers  # noqa: F401

PATH = "/api/v1/findings?severity=critical,high,medium&limit=20"


# Four prefork children, never more: each keeps its own answers.
PREFORK4 = ("StartServers 4\nMinSpareServers 1\nMaxSpareServers 4\nServerLimit 4\n"
            "MaxRequestWorkers 4\n")


def start(rundir, pg, name, extra="", mpm="prefork", processes=PREFORK4):
    h = pfstack.Httpd(os.path.join(rundir, name),
                      pg.dsn.replace("user=permafrost", f"user={ROLE}"), mpm=mpm)
    h.extra = processes + extra
    h.start()
    return h


@pytest.fixture(scope="module")
def lc(rundir, pg, su):  # noqa: F811 - the fixture imported above
    h = start(rundir, pg, "listcache-on")
    yield h
    h.stop()
    check_error_log(h)


@pytest.fixture(scope="module")
def nolc(rundir, pg, su):  # noqa: F811
    h = start(rundir, pg, "listcache-off", "PermafrostListCache off")
    yield h
    h.stop()
    check_error_log(h)


@pytest.fixture(scope="module")
def two(world):
    """Two customers with look-alike data."""
    out = []
    for name in ("List Cache A", "List Cache B"):
        cid = world.customer(name)
        world.admin("demo-data", "--customer", cid, "--tenants", "2", "--identities", "30",
                    "--findings", "80", check=0)
        out.append((cid, world.key(cid)[0]))
    return out


def burst(port, key, n=24, conns=8, path=PATH, headers=None):
    return answers(port, key, n, conns, path, headers)


def warm(port, key, pg, su):  # noqa: F811
    """Bursts until two in a row read no page: every child keeps the answer.
    Returns how many requests that took."""
    quiet = sent = 0
    for _ in range(10):
        s0 = statements(pg, su)
        burst(port, key, n=24)
        sent += 24
        quiet = quiet + 1 if "pf_findings_list_q" not in delta(statements(pg, su), s0) else 0
        if quiet == 2:
            return sent
    raise AssertionError("the children never all kept the answer")


def test_a_repeated_list_reads_only_the_version(lc, pg, su, two):  # noqa: F811
    (cid, key), _ = two
    first = Client(lc.port).get(PATH, key, validate=False)
    assert first.status == 200
    s0 = statements(pg, su)
    got = burst(lc.port, key, n=40)
    d = delta(statements(pg, su), s0)
    assert {status for status, _, _ in got} == {200}
    assert {body for _, body, _ in got} == {first.body}, "every answer is the same bytes"
    assert {etag for _, _, etag in got} == {first.header("ETag")}
    # Each request ran exactly one statement: the version check when its
    # child had the answer, the list when it did not (once per child).
    assert d.get("pf_data_version", 0) + d.get("pf_findings_list_q", 0) == 40, d
    assert d.get("pf_findings_list_q", 0) <= 8, d
    assert d.get("pf_data_version", 0) >= 32, d
    assert set(d) <= {"pf_data_version", "pf_findings_list_q", "pf_key_lookup"}, d


def test_a_write_is_seen_by_the_next_request_on_every_child(lc, pg, su, two):  # noqa: F811
    (cid, key), _ = two
    burst(lc.port, key, n=24)  # every child keeps the answer
    page = json.loads(Client(lc.port).get(PATH, key, validate=False).body)
    victim, total = page["data"][0], page["meta"]["total"]

    pg.psql(f"UPDATE permafrost.findings SET title = 'renamed by the list cache test' "
            f"WHERE customer_id = '{cid}' AND id = '{victim['id']}'", su)
    for status, body, _ in burst(lc.port, key, n=24):
        row = json.loads(body)["data"][0]
        assert status == 200 and row["id"] == victim["id"]
        assert row["title"] == "renamed by the list cache test"

    # A finding gone: the total and the page move at once, everywhere.
    pg.psql(f"DELETE FROM permafrost.findings WHERE customer_id = '{cid}' "
            f"AND id = '{victim['id']}'", su)
    for status, body, _ in burst(lc.port, key, n=24):
        d = json.loads(body)
        assert d["meta"]["total"] == total - 1
        assert victim["id"] not in [f["id"] for f in d["data"]]

    # A tenant renamed: the tenants list follows too.
    tenant = pg.psql(f"SELECT tenant_id FROM permafrost.tenants WHERE customer_id = '{cid}' "
                     f"ORDER BY 1 LIMIT 1", su)
    burst(lc.port, key, n=8, path="/api/v1/tenants")
    pg.psql(f"UPDATE permafrost.tenants SET display_name = 'AAA renamed' "
            f"WHERE customer_id = '{cid}' AND tenant_id = '{tenant}'", su)
    for _, body, _ in burst(lc.port, key, n=16, path="/api/v1/tenants"):
        first = json.loads(body)["data"][0]
        assert (first["id"], first["displayName"]) == (tenant, "AAA renamed")


def test_customers_never_share_an_answer(lc, pg, su, two):  # noqa: F811
    (a, ka), (b, kb) = two
    for _ in range(2):  # the second round is answered from the caches
        for cid, key in ((a, ka), (b, kb)):
            for status, body, _ in burst(lc.port, key, n=12):
                ids = [f["id"] for f in json.loads(body)["data"]]
                owners = pg.psql("SELECT DISTINCT customer_id FROM permafrost.findings "
                                 f"WHERE id IN ({', '.join(repr(i) for i in ids)})", su)
                assert status == 200 and owners == cid


def test_another_customers_write_keeps_the_answer(lc, pg, su, two):  # noqa: F811
    (a, ka), (b, kb) = two
    warm(lc.port, ka, pg, su)
    pg.psql(f"UPDATE permafrost.findings SET title = title || '.' WHERE customer_id = '{b}'", su)
    s0 = statements(pg, su)
    burst(lc.port, ka, n=24)
    d = delta(statements(pg, su), s0)
    assert d == {"pf_data_version": 24}, d


def test_a_kept_answer_still_answers_304(lc, two):
    (_, key), _ = two
    etag = burst(lc.port, key, n=8)[0][2]
    for status, body, got in burst(lc.port, key, n=16, headers={"If-None-Match": etag}):
        assert (status, body, got) == (304, b"", etag)


def test_a_kept_answer_carries_every_header_and_serves_head(lc, pg, su, world):  # noqa: F811
    """Contract sections 6 and 12 for answers served from the cache: the
    rate-limit headers count this request, ETag and Cache-Control are the
    same as when the page is read, and HEAD gives the headers only."""
    cid = world.customer("List Cache Headers")
    world.admin("demo-data", "--customer", cid, "--tenants", "1", "--identities", "5",
                "--findings", "12", check=0)
    key = world.key(cid)[0]
    c = Client(lc.port)
    first = c.get(PATH, key, validate=False)
    used = 1 + warm(lc.port, key, pg, su)
    s0 = statements(pg, su)
    again = c.get(PATH, key, validate=False)
    head = c.request("HEAD", PATH, key, validate=False)
    assert delta(statements(pg, su), s0) == {"pf_data_version": 2}, "both were kept answers"
    assert again.status == head.status == 200 and again.body == first.body and head.body == b""
    for r in (again, head):
        for name in ("ETag", "Cache-Control", "Content-Type", "X-Content-Type-Options"):
            assert r.header(name) == first.header(name), name
        assert r.header("Content-Length") == str(len(first.body))
        assert r.header("X-RateLimit-Limit") == first.header("X-RateLimit-Limit")
    assert int(again.header("X-RateLimit-Remaining")) == int(first.header("X-RateLimit-Limit")) \
        - used - 1
    assert int(head.header("X-RateLimit-Remaining")) == int(again.header("X-RateLimit-Remaining")) - 1


@pytest.fixture(scope="module")
def threaded(rundir, pg, su):  # noqa: F811
    """One child with 16 threads: the requests below share one cache."""
    h = start(rundir, pg, "listcache-threads", mpm="event",
              processes="StartServers 1\nServerLimit 1\nThreadsPerChild 16\n"
                        "MinSpareThreads 1\nMaxSpareThreads 16\nMaxRequestWorkers 16\n")
    yield h
    h.stop()
    check_error_log(h)


LOCKED = ("FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = '{}' "
          "AND l.mode = 'AccessExclusiveLock' AND l.granted")


def held(pg, su, table, seconds):  # noqa: F811
    """A session holding permafrost.<table> under an exclusive lock for
    `seconds` (or until release() cancels it): statements that read it wait."""
    p = subprocess.Popen(["psql", su, "-v", "ON_ERROR_STOP=1", "-Atq", "-c",
                          f"BEGIN; LOCK TABLE permafrost.{table} IN ACCESS EXCLUSIVE MODE; "
                          f"SELECT pg_sleep({seconds}); COMMIT;"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(100):
        if pg.psql("SELECT count(*) " + LOCKED.format(table), su) == "1":
            return p
        time.sleep(0.05)
    p.kill()
    raise AssertionError("could not take the lock")


def release(pg, su, table, p):  # noqa: F811
    pg.psql("SELECT pg_cancel_backend(l.pid) " + LOCKED.format(table), su)
    p.communicate(timeout=30)


def held_totals(pg, su, seconds):  # noqa: F811
    """finding_totals is read by every customer-wide findings list: the
    first list statement to run waits for it, so every request of a burst
    arrives while the page is being read."""
    return held(pg, su, "finding_totals", seconds)


def test_a_page_is_read_once_while_a_burst_waits_for_it(threaded, pg, su, two):  # noqa: F811
    """12 requests at once for a page nobody keeps yet, then for the same
    page after a write: each time one request reads the page and the others
    wait for its answer (one list statement, not twelve)."""
    read_once_rounds(threaded, pg, su, two)


def read_once_rounds(threaded, pg, su, two):  # noqa: F811
    (cid, key), _ = two
    path = "/api/v1/findings?severity=critical,high&limit=7"
    assert Client(threaded.port).get("/api/v1/tenants", key, validate=False).status == 200
    for round_ in ("nothing kept", "kept, then a write"):
        if round_ != "nothing kept":
            # Every row the page can show (about one customer in sixty has
            # no critical finding among its 80: a write to critical rows
            # alone changed nothing there, and nothing was read again).
            pg.psql(f"UPDATE permafrost.findings SET title = title || '.' "
                    f"WHERE customer_id = '{cid}' AND severity IN ('critical', 'high')", su)
        s0 = statements(pg, su)
        holder = held_totals(pg, su, 1.5)
        got = answers(threaded.port, key, n=12, conns=12, path=path)
        holder.communicate(timeout=30)
        d = delta(statements(pg, su), s0)
        assert {status for status, _, _ in got} == {200}, (round_, got[:1])
        assert len({body for _, body, _ in got}) == 1, round_
        assert d.get("pf_findings_list_q", 0) == 1, (round_, d)
        want = int(pg.psql(f"SELECT count(*) FROM permafrost.findings WHERE customer_id = "
                           f"'{cid}' AND severity IN ('critical', 'high')", su))
        body = json.loads(got[0][1])
        assert body["meta"]["total"] == want
        if round_ != "nothing kept":  # the answer is the page after the write
            titles = [f["title"] for f in body["data"]]
            assert titles and all(t.endswith(".") for t in titles), titles


def test_cache_off_reads_every_page(nolc, pg, su, two):  # noqa: F811
    (_, key), _ = two
    Client(nolc.port).get(PATH, key, validate=False)
    s0 = statements(pg, su)
    burst(nolc.port, key, n=16)
    assert delta(statements(pg, su), s0) == {"pf_findings_list_q": 16}


@pytest.mark.parametrize("table,sql", [
    ("tenants", "UPDATE permafrost.tenants SET status = status WHERE customer_id = '{c}'"),
    ("identities", "UPDATE permafrost.identities SET enabled = enabled WHERE customer_id = '{c}'"),
    ("role_assignments",
     "DELETE FROM permafrost.role_assignments WHERE id IN (SELECT id FROM "
     "permafrost.role_assignments WHERE customer_id = '{c}' LIMIT 1)"),
    ("role_recommendations",
     "UPDATE permafrost.role_recommendations SET scope = scope WHERE customer_id = '{c}'"),
    ("findings", "UPDATE permafrost.findings SET status = status WHERE customer_id = '{c}'"),
])
def test_every_write_moves_only_its_customers_version(pg, su, two, table, sql):  # noqa: F811
    (a, _), (b, _) = two

    def versions():
        return pg.psql("SELECT customer_id || '=' || version FROM permafrost.data_versions "
                       f"WHERE customer_id IN ('{a}', '{b}') ORDER BY 1", su)
    before = dict(x.split("=") for x in versions().splitlines())
    pg.psql(sql.format(c=a), su)
    after = dict(x.split("=") for x in versions().splitlines())
    assert int(after[a]) > int(before[a]), table
    assert after[b] == before[b], table


def test_a_rolled_back_write_moves_nothing(pg, su, two):  # noqa: F811
    (a, _), _ = two
    q = f"SELECT version FROM permafrost.data_versions WHERE customer_id = '{a}'"
    before = pg.psql(q, su)
    pg.psql(f"BEGIN; UPDATE permafrost.findings SET title = 'x' WHERE customer_id = '{a}'; "
            "ROLLBACK", su)
    assert pg.psql(q, su) == before


@pytest.mark.parametrize("line,ok", [
    ("PermafrostListCache off", True), ("PermafrostListCache On", True),
    ("PermafrostListCache 5", False), ("PermafrostListCacheSize 0", True),
    ("PermafrostListCacheSize 4096", True), ("PermafrostListCacheSize 4097", False),
    ("PermafrostListCacheSize -1", False), ("PermafrostListCacheSize 16M", False),
    ("<VirtualHost 127.0.0.1:1>\nPermafrostListCacheSize 5\n</VirtualHost>", False),
    ("<VirtualHost 127.0.0.1:1>\nPermafrostListCache off\n</VirtualHost>", True),
])
def test_directives(rundir, pg, line, ok):
    pfstack.assert_directive(os.path.join(rundir, "listcache-conf"), pg.dsn, line, ok,
                             r"PermafrostListCache|not allowed|takes one argument|On or Off")


def test_size_zero_keeps_nothing(rundir, pg, su, two):  # noqa: F811
    (_, key), _ = two
    h = start(rundir, pg, "listcache-zero", "PermafrostListCacheSize 0")
    try:
        Client(h.port).get(PATH, key, validate=False)
        s0 = statements(pg, su)
        burst(h.port, key, n=12)
        assert delta(statements(pg, su), s0) == {"pf_findings_list_q": 12}
    finally:
        h.stop()
    check_error_log(h)
