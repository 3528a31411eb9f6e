"""PermafrostDatabaseConcurrency (README, "Database gate"): a child process
lets at most N requests run statements at once; the others wait their turn
in arrival order (the order itself is checked in t/unit/test_gate.c). Seen
from PostgreSQL: while list statements are held on a lock, only N of a
burst's requests reach the database; the rest arrive once those finish,
and every request is answered."""
import os
import threading
import time

import pytest

import pfstack
from conftest import Client
from test_keycache import ROLE, su, answers, check_error_log  # noqa: F401
from test_listcache import held_totals, read_once_rounds, start, two  # noqa: F401

# Connections opened (and their statements prepared) when the child starts:
# one opened during a burst would wait on the lock below while preparing.
ONE_CHILD = ("StartServers 1\nServerLimit 1\nThreadsPerChild 16\nMinSpareThreads 1\n"
             "MaxSpareThreads 16\nMaxRequestWorkers 16\nDBDMin 12\nDBDKeep 12\nDBDMax 16\n")
BURST = 8


def waiting_on_lock(pg, su):  # noqa: F811
    return int(pg.psql(f"SELECT count(*) FROM pg_stat_activity WHERE usename = '{ROLE}' "
                       f"AND wait_event_type = 'Lock'", su))


@pytest.mark.parametrize("setting,reach", [("2", 2), ("off", BURST)])
def test_only_n_requests_reach_the_database(rundir, pg, su, two, setting, reach):  # noqa: F811
    h = start(rundir, pg, f"dbgate-{setting}",
              f"PermafrostListCache off\nPermafrostDatabaseConcurrency {setting}",
              mpm="event", processes=ONE_CHILD)
    try:
        (_, key), _ = two
        assert Client(h.port).get("/api/v1/tenants", key, validate=False).status == 200
        holder = held_totals(pg, su, 2.5)
        got = []
        burst = threading.Thread(target=lambda: got.extend(
            answers(h.port, key, n=BURST, conns=BURST,
                    path="/api/v1/findings?severity=critical,high&limit=5")))
        burst.start()
        most, end = 0, time.time() + 1.8
        while time.time() < end:
            most = max(most, waiting_on_lock(pg, su))
            time.sleep(0.05)
        holder.communicate(timeout=30)
        burst.join(timeout=60)
        assert most == reach, f"{most} requests were in the database at once"
        assert [s for s, _, _ in got] == [200] * BURST
        assert len({body for _, body, _ in got}) == 1
    finally:
        h.stop()
    check_error_log(h)


def test_a_list_burst_with_the_cache_and_one_place(rundir, pg, su, two):  # noqa: F811
    """One place: followers of the list cache wait for a leader without
    holding it, so a burst for one page cannot deadlock; details queue for
    the same place."""
    h = start(rundir, pg, "dbgate-one", "PermafrostDatabaseConcurrency 1", mpm="event",
              processes=ONE_CHILD)
    try:
        (cid, key), _ = two
        holder = held_totals(pg, su, 1.0)
        got = answers(h.port, key, n=24, conns=12,
                      path="/api/v1/findings?severity=critical,medium&limit=9")
        holder.communicate(timeout=30)
        assert {s for s, _, _ in got} == {200} and len({b for _, b, _ in got}) == 1
        fid = pg.psql(f"SELECT id FROM permafrost.findings WHERE customer_id = '{cid}' LIMIT 1")
        got = answers(h.port, key, n=24, conns=12, path=f"/api/v1/findings/{fid}")
        assert {s for s, _, _ in got} == {200}
    finally:
        h.stop()
    check_error_log(h)


def test_a_burst_after_a_write_reads_the_page_once(rundir, pg, su, two):  # noqa: F811
    """The list cache's own test with one place: requests that waited in
    the gate while the leader read the page find its answer when their turn
    comes (they look at the cache again after reading the version), instead
    of each reading the page once more."""
    h = start(rundir, pg, "dbgate-listcache", "PermafrostDatabaseConcurrency 1", mpm="event",
              processes=ONE_CHILD)
    try:
        read_once_rounds(h, pg, su, two)
    finally:
        h.stop()
    check_error_log(h)


@pytest.mark.parametrize("line,ok", [
    ("PermafrostDatabaseConcurrency 0", False), ("PermafrostDatabaseConcurrency 10001", False),
    ("PermafrostDatabaseConcurrency many", False), ("PermafrostDatabaseConcurrency", False),
    ("PermafrostDatabaseConcurrency off", True), ("PermafrostDatabaseConcurrency 1", True),
    ("PermafrostDatabaseConcurrency 10000", True),
    ("<VirtualHost 127.0.0.1:1>\nPermafrostDatabaseConcurrency 4\n</VirtualHost>", False),
])
def test_directive(rundir, pg, line, ok):
    pfstack.assert_directive(os.path.join(rundir, "dbgate-conf"), pg.dsn, line, ok,
                             r"PermafrostDatabaseConcurrency|not allowed|takes one argument")
