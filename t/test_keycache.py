"""The shared key cache (contract section 2: a revoked key stops working
within 60 seconds on every child process), against httpd servers of their
own: prefork with several children, one with a 60 s TTL, one with 2 s, one
with the cache off.

Statements are counted with pg_stat_statements (loaded by the test cluster,
see conftest.py), for a database role only these servers use; each row
names the prepared statement's label ("PREPARE pf_key_lookup ...")."""
import collections
import http.client
import os
import re
import threading
import time
import zlib

import pytest

import pfstack
from conftest import Client, _openapi_validator

ROLE = "pf_keycache_test"
SHORT_TTL = 2
# What one list request runs once its key is cached (README, "Statements
# per request").
LIST_STATEMENTS = {"pf_findings_list_q": 1}
TAG_HEADER = "X-Pf-Tag"


def superuser_with_role(pg, role):
    """A superuser connection to the test database, pg_stat_statements, and
    a role of the module's rights for servers of a test's own."""
    dsn = f"host=127.0.0.1 port={pg.port} dbname=permafrost user=postgres"
    pg.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", dsn)
    if not pg.psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'", dsn):
        pg.psql(f"CREATE ROLE {role} LOGIN IN ROLE permafrost", dsn)
    return dsn


@pytest.fixture(scope="module")
def su(pg):
    """superuser_with_role for the role the servers below connect as."""
    return superuser_with_role(pg, ROLE)


def statements(pg, su, role=ROLE):
    """Calls per statement label run by role so far. A pooled session's
    setup (its SETs, once per PostgreSQL backend before the first
    statement: mod_permafrost_db.c) is not counted, since it belongs to no
    one request; t/test_deep_pages.py checks what it does."""
    out = pg.psql("SELECT substring(query from '^PREPARE ([a-z_]+)'), sum(calls) "
                  f"FROM pg_stat_statements WHERE userid = '{role}'::regrole "
                  "AND query NOT LIKE 'SET %' GROUP BY 1", su)
    got = collections.Counter()
    for line in out.splitlines():
        label, n = line.split("|")
        got[label or "(other)"] += int(n)
    return got


def delta(after, before):
    return {k: after[k] - before[k] for k in after if after[k] != before[k]}


def start(rundir, pg, name, ttl_line):
    h = pfstack.Httpd(os.path.join(rundir, name), pg.dsn.replace("user=permafrost",
                                                                 f"user={ROLE}"),
                      mpm="prefork")
    # Statements per request are counted here: no list cache (it has its
    # own tests, t/test_listcache.py).
    h.extra = (f"{ttl_line}\nPermafrostListCache off\nLogLevel info\n"
               f"LogFormat \"%P %{{{TAG_HEADER}}}i %>s %{{msec}}t\" pfkc\n"
               f"CustomLog \"{h.dir}/kc_access.log\" pfkc\n")
    h.start()
    return h


def check_error_log(h):
    bad = [line for line in h.error_log().splitlines()
           if any(t in line for t in (":crit]", ":emerg]", ":alert]", "Segmentation fault",
                                      "exit signal", "PF00040", "PF00041", "PF00043"))]
    assert not bad, "httpd logged:\n" + "\n".join(bad[:20])


@pytest.fixture(scope="module")
def kc(rundir, pg, su):
    h = start(rundir, pg, "keycache-60", "PermafrostKeyCacheTTL 60")
    yield h
    h.stop()
    check_error_log(h)


@pytest.fixture(scope="module")
def short(rundir, pg, su):
    # Another lock mechanism than the default, set by the Mutex directive.
    h = start(rundir, pg, "keycache-short",
              f"PermafrostKeyCacheTTL {SHORT_TTL}\nMutex fcntl permafrost-keycache")
    yield h
    h.stop()
    check_error_log(h)


@pytest.fixture(scope="module")
def off(rundir, pg, su):
    h = start(rundir, pg, "keycache-off", "PermafrostKeyCacheTTL off")
    yield h
    h.stop()
    check_error_log(h)


@pytest.fixture(scope="module")
def cust(world):
    cid = world.customer("Key Cache Co")
    world.admin("demo-data", "--customer", cid, "--tenants", "2", "--identities", "30",
                "--findings", "60", check=0)
    return cid


def answers(port, key, n=24, conns=8, path="/api/v1/findings", headers=None):
    """n requests on conns threads, a new connection each, so prefork
    spreads them over its children. Returns (status, body, ETag) each."""
    got, errors = [], []
    lock = threading.Lock()
    h = {"Authorization": f"Bearer {key}", "Connection": "close", **(headers or {})}

    def worker(count):
        try:
            for _ in range(count):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                try:
                    conn.request("GET", path, headers=h)
                    resp = conn.getresponse()
                    body = resp.read()
                finally:
                    conn.close()
                with lock:
                    got.append((resp.status, body, resp.getheader("ETag")))
        except Exception as e:  # noqa: BLE001 - reported below
            with lock:
                errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(n // conns + (i < n % conns),))
               for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(got) == n
    return got


def burst(port, key, tag, n=24, conns=8, path="/api/v1/findings"):
    """The statuses of answers(), tagged for the access log."""
    return [a[0] for a in answers(port, key, n, conns, path, {TAG_HEADER: tag})]


def logged(h, tag, n):
    """(pid, status, request time in s) of the n requests tagged tag."""
    path = os.path.join(h.dir, "kc_access.log")
    deadline = time.time() + 5
    while True:
        with open(path) as f:
            rows = [ln.split() for ln in f if f" {tag} " in ln]
        if len(rows) >= n or time.time() > deadline:
            return [(r[0], int(r[2]), int(r[3]) / 1000.0) for r in rows]
        time.sleep(0.05)


def get(h, key, tag, path="/api/v1/findings"):
    return Client(h.port).get(path, key, headers={TAG_HEADER: tag}, validate=False)


def test_warm_requests_run_no_key_lookup(kc, pg, su, world, cust):
    key, _ = world.key(cust)
    tenant = pg.psql(f"SELECT tenant_id FROM permafrost.tenants WHERE customer_id = '{cust}' "
                     f"ORDER BY 1 LIMIT 1")
    s0 = statements(pg, su)
    assert get(kc, key, "warm-0").status == 200
    s1 = statements(pg, su)
    assert delta(s1, s0) == dict(LIST_STATEMENTS, pf_key_lookup=1), "the cold request"

    # 24 more, spread over the children: not one key lookup, whichever
    # child answers (they share one cache).
    assert burst(kc.port, key, "warm-1") == [200] * 24
    s2 = statements(pg, su)
    assert delta(s2, s1) == {k: 24 * v for k, v in LIST_STATEMENTS.items()}
    pids = {pid for pid, _, _ in logged(kc, "warm-1", 24)}
    assert len(pids) >= 2, f"requests were served by child processes {pids}"
    assert re.search(r"PF00042: key cache: 10000 entries in \d+ bytes", kc.error_log())

    # ?tenant= is checked by the same statement.
    assert burst(kc.port, key, "warm-2", n=6, conns=3,
                 path=f"/api/v1/findings?tenant={tenant}") == [200] * 6
    # (its own statement, planned on the tenant index)
    assert delta(statements(pg, su), s2) == {"pf_findings_list_t_q": 6}


@pytest.mark.parametrize("path,labels", [
    ("/api/v1/findings?severity=high&status=open,resolved", ["pf_findings_list_q"]),
    # Past the end, from the third page on: the head alone (total, tenant
    # check) answers, and the page is not read.
    ("/api/v1/findings?offset=10000000", ["pf_findings_head"]),
    ("/api/v1/findings?tenant=FOREIGN&offset=500", ["pf_findings_head_t"]),
    ("/api/v1/findings?tenant=TENANT&limit=1", ["pf_findings_list_t_q"]),
    ("/api/v1/findings?tenant=FOREIGN", ["pf_findings_list_t_q", "pf_findings_list_t"]),
    ("/api/v1/findings?limit=2&cursor=CURSOR", ["pf_findings_after_q"]),
    ("/api/v1/identities?type=user", ["pf_identities_list_q"]),
    ("/api/v1/identities?tenant=FOREIGN&type=user",
     ["pf_identities_list_t_q", "pf_identities_list_t"]),
    ("/api/v1/roles?offset=10000000", ["pf_roles_head"]),
    ("/api/v1/tenants", ["pf_tenants_list_q"]),
])
def test_one_statement_per_list_request(kc, pg, su, world, cust, path, labels):
    """Tenant check, total and page in one round trip (the quick form of
    the list). A page with no row takes a second, the complete form, which
    still answers 404 for a foreign tenant. A page from the third on past
    the end (or of a foreign tenant) is answered by the head alone, which
    still reports the total."""
    key, _ = world.key(cust)
    tenant = pg.psql(f"SELECT tenant_id FROM permafrost.tenants WHERE customer_id = '{cust}' "
                     f"ORDER BY 1 LIMIT 1")
    c = Client(kc.port, _openapi_validator())
    cursor = c.get("/api/v1/findings?limit=2", key).json()["meta"]["nextCursor"]
    path = path.replace("FOREIGN", "0a1b2c3d-0000-4000-8000-00000000000f")
    path = path.replace("TENANT", tenant).replace("CURSOR", cursor)
    s0 = statements(pg, su)
    r = c.get(path, key)
    assert delta(statements(pg, su), s0) == {label: 1 for label in labels}
    if "0a1b2c3d" in path:
        assert r.status == 404 and r.json()["error"]["message"] == "No such tenant."
        return
    assert r.status == 200, r.body
    body = r.json()
    route, _, query = path.partition("?")
    where = {"/api/v1/findings": "findings", "/api/v1/identities": "identities",
             "/api/v1/roles": "role_recommendations", "/api/v1/tenants": "tenants"}[route]
    cond = {"severity=high&status=open,resolved":
            " AND severity = 'high' AND status IN ('open', 'resolved')",
            "type=user": " AND type = 'user'",
            f"tenant={tenant}&limit=1": f" AND tenant_id = '{tenant}'"}.get(query, "")
    want = int(pg.psql(f"SELECT count(*) FROM permafrost.{where} WHERE customer_id = '{cust}'"
                       + cond))
    assert body["meta"]["total"] == want and want > 0
    if "offset=10000000" in path:
        assert body["data"] == [] and body["meta"]["nextCursor"] is None
    else:
        assert body["data"]


def test_one_statement_per_detail_request(kc, pg, su, world, cust):
    """A finding or an identity (with all its role assignments, or none)
    in one round trip; another customer's id is 404 in one too."""
    key, _ = world.key(cust)
    c = Client(kc.port, _openapi_validator())
    c.get("/api/v1/tenants", key)  # the key is cached from here on
    fid = pg.psql(f"SELECT id FROM permafrost.findings WHERE customer_id = '{cust}' LIMIT 1")
    many = pg.psql(f"SELECT identity_id FROM permafrost.role_assignments WHERE customer_id = "
                   f"'{cust}' GROUP BY 1 HAVING count(*) > 1 LIMIT 1")
    none = pg.psql(f"SELECT id FROM permafrost.identities i WHERE customer_id = '{cust}' AND "
                   f"NOT EXISTS (SELECT 1 FROM permafrost.role_assignments ra WHERE "
                   f"ra.customer_id = i.customer_id AND ra.identity_id = i.id) LIMIT 1")
    if not none:  # demo data gives everyone a role: take one away
        none = pg.psql(f"SELECT id FROM permafrost.identities WHERE customer_id = '{cust}' "
                       f"AND id <> '{many}' LIMIT 1")
        pg.psql(f"DELETE FROM permafrost.role_assignments WHERE customer_id = '{cust}' "
                f"AND identity_id = '{none}'")
    other = world.customer("Detail Other")
    world.admin("demo-data", "--customer", other, "--tenants", "1", "--identities", "5",
                "--findings", "5", check=0)
    foreign = pg.psql(f"SELECT id FROM permafrost.identities WHERE customer_id = '{other}' "
                      f"LIMIT 1")
    for path, label, status in [(f"/api/v1/findings/{fid}", "pf_finding_get", 200),
                                (f"/api/v1/identities/{many}", "pf_identity_get", 200),
                                (f"/api/v1/identities/{none}", "pf_identity_get", 200),
                                (f"/api/v1/identities/{foreign}", "pf_identity_get", 404)]:
        s0 = statements(pg, su)
        r = c.get(path, key)
        assert delta(statements(pg, su), s0) == {label: 1}, path
        assert r.status == status, (path, r.body)
    ident = c.get(f"/api/v1/identities/{many}", key).json()["data"]
    want = pg.psql(f"SELECT id FROM permafrost.role_assignments WHERE customer_id = '{cust}' "
                   f"AND identity_id = '{many}' ORDER BY role_name COLLATE \"C\", id")
    assert [a["id"] for a in ident["roleAssignments"]] == want.split()
    assert ident["id"] == many and len(want.split()) > 1
    assert c.get(f"/api/v1/identities/{none}", key).json()["data"]["roleAssignments"] == []


def test_off_looks_every_key_up(off, pg, su, world, cust):
    key, _ = world.key(cust)
    s0 = statements(pg, su)
    assert burst(off.port, key, "off-1", n=10, conns=2) == [200] * 10
    assert delta(statements(pg, su), s0)["pf_key_lookup"] == 10


def test_malformed_and_bad_checksum_keys_never_reach_the_database(off, pg, su, world, cust):
    """Section 2: the checksum lets a mistyped or invented key be refused
    without touching the database. On the server without the key cache, a
    valid key is looked up every time (test above); these are not."""
    key, _ = world.key(cust)
    body = key[len("pfrost_"):]
    typo = "pfrost_" + body[:10] + ("0" if body[10] != "0" else "1") + body[11:]
    wrong_sum = "pfrost_" + body[:40] + format(zlib.crc32(body[:40].encode()) ^ 1, "08x")
    bad = [typo, wrong_sum, key[:-1], key + "0", key.upper(), "pfrost_" + "0" * 48,
           "pfrost_" + "g" * 48, "pfx_" + body]
    s0 = statements(pg, su)
    for b in bad:
        assert burst(off.port, b, "badkey", n=3, conns=1) == [401] * 3, b
    assert delta(statements(pg, su), s0) == {}
    # the same server does look a valid key up
    assert burst(off.port, key, "goodkey", n=2, conns=1) == [200] * 2
    assert delta(statements(pg, su), s0)["pf_key_lookup"] == 2


def test_cache_changes_no_byte(kc, off, pg, world, cust):
    """The same requests with the cache cold, warm, and off: the same
    status, headers and body (but Date, and the rate-limit window's reset
    second, which depends on when each server saw the key first). Pages
    hold whole lists: a cursor is signed with a key of each server's own."""
    key, _ = world.key(cust, scopes=("read:findings", "read:identities"))
    fid = pg.psql(f"SELECT id FROM permafrost.findings WHERE customer_id = '{cust}' "
                  f"ORDER BY id LIMIT 1")
    requests = [("GET", "/api/v1/findings?limit=500", {}),
                ("GET", "/api/v1/findings?severity=high,low&status=open", {}),
                ("GET", f"/api/v1/findings/{fid}", {}),
                ("HEAD", "/api/v1/findings?limit=500", {}),
                ("GET", "/api/v1/identities?limit=500", {}),
                ("GET", "/api/v1/tenants", {}),
                ("GET", "/api/v1/roles", {}),                  # 403
                ("GET", "/api/v1/findings?limit=0", {}),       # 400
                ("DELETE", "/api/v1/findings", {}),            # 405
                ("GET", "/api/v1/nowhere", {}),                # 404
                ("GET", f"/api/v1/findings/{fid[:-1]}0", {})]  # 404 or 200
    v = _openapi_validator()

    def answers(h, k):
        c = Client(h.port, v)
        out = []
        for method, path, headers in requests:
            r = c.request(method, path, k, headers=headers)
            hs = sorted((n.lower(), val) for n, val in r.headers
                        if n.lower() not in ("date", "x-ratelimit-reset"))
            out.append((method, path, r.status, hs, r.body))
        etag = next(val for n, val in out[0][3] if n == "etag")
        r = c.request("GET", requests[0][1], k, headers={"If-None-Match": etag})
        out.append((r.status, r.body, r.header("ETag")))
        r = c.get("/api/v1/findings", "pfrost_" + "0" * 48)
        out.append((r.status, r.body, sorted((n.lower(), val) for n, val in r.headers
                                              if n.lower() != "date")))
        return out

    cold = answers(kc, key)
    warm = answers(kc, key)
    uncached = answers(off, key)
    assert cold[0][2] == 200 and cold[-2][0] == 304 and cold[-1][0] == 401
    assert b'"nextCursor":null' in cold[0][4] and len(cold[0][4]) > 10000
    # The rate-limit counts go on between the first two runs: compare the
    # off server's run (fresh counts) with the cold one, and the warm run
    # with the cold one after putting the counts aside.
    assert uncached == cold

    def no_remaining(run):
        return [(a[0], a[1], a[2], [h for h in a[3] if h[0] != "x-ratelimit-remaining"], a[4])
                if len(a) == 5 else a for a in run]
    assert no_remaining(warm) == no_remaining(cold)


def test_key_expiry_applies_inside_the_ttl(kc, pg, su, world, cust):
    """A cached key stops at its own expires_at, not TTL seconds later."""
    expires = int(time.time()) + 4
    key, _ = world.key(cust, expires=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires)))
    s0 = statements(pg, su)
    assert get(kc, key, "exp-0").status == 200
    assert burst(kc.port, key, "exp-1", n=6, conns=3) == [200] * 6
    assert delta(statements(pg, su), s0)["pf_key_lookup"] == 1, "the key was cached"
    while time.time() < expires + 0.05:
        time.sleep(0.05)
    assert burst(kc.port, key, "exp-2", n=8, conns=4) == [401] * 8


def poll_until_401(h, key, tag, bound):
    deadline = time.time() + bound
    while time.time() < deadline:
        if get(h, key, tag).status == 401:
            return True
        time.sleep(0.1)
    return False


def assert_stopped_within_ttl(h, key, tag_prefix, changed_at):
    """Polled requests, then a burst over the children: every request that
    arrived TTL seconds or more after the change was refused, the first one
    included, and later ones on several children too."""
    assert poll_until_401(h, key, f"{tag_prefix}-poll", SHORT_TTL + 10), "never refused"
    while time.time() < changed_at + SHORT_TTL + 0.2:
        time.sleep(0.05)
    assert burst(h.port, key, f"{tag_prefix}-after", n=24) == [401] * 24
    late = [r for r in logged(h, f"{tag_prefix}-poll", 1) + logged(h, f"{tag_prefix}-after", 24)
            if r[2] >= changed_at + SHORT_TTL]
    assert len(late) >= 24 and all(status == 401 for _, status, _ in late), late
    pids = {pid for pid, _, _ in logged(h, f"{tag_prefix}-after", 24)}
    assert len(pids) >= 2, f"requests were served by child processes {pids}"


def test_revoked_key_stops_within_ttl_on_every_child(short, world, cust):
    key, kid = world.key(cust)
    assert burst(short.port, key, "rev-0") == [200] * 24
    world.admin("key", "revoke", kid, check=0)
    revoked_at = time.time()
    assert_stopped_within_ttl(short, key, "rev", revoked_at)
    # and it never works again
    time.sleep(SHORT_TTL)
    assert burst(short.port, key, "rev-later", n=8) == [401] * 8


def test_key_expired_in_the_database_stops_within_ttl(short, pg, world, cust):
    key, kid = world.key(cust)
    assert burst(short.port, key, "sqlexp-0") == [200] * 24
    pg.psql(f"UPDATE permafrost.api_keys SET expires_at = now() - interval '1 second' "
            f"WHERE id = '{kid}'")
    changed_at = time.time()
    assert_stopped_within_ttl(short, key, "sqlexp", changed_at)


def test_graceful_restart_empties_the_cache(kc, pg, su, world, cust):
    """Runs last for this server: revoked, the key still answers from the
    cache (60 s TTL); a graceful restart ends that at once."""
    key, kid = world.key(cust)
    assert get(kc, key, "gr-0").status == 200
    world.admin("key", "revoke", kid, check=0)
    assert get(kc, key, "gr-1").status == 200, "served from the cache until its TTL"
    kc.graceful()
    # Children of the old generation may answer a little longer.
    assert poll_until_401(kc, key, "gr-2", 15)
    assert burst(kc.port, key, "gr-3", n=12) == [401] * 12
    other, _ = world.key(cust)
    assert get(kc, other, "gr-4").status == 200, "the new generation caches again"
    s0 = statements(pg, su)
    assert get(kc, other, "gr-5").status == 200
    assert "pf_key_lookup" not in delta(statements(pg, su), s0)


@pytest.mark.parametrize("line,ok", [
    ("PermafrostKeyCacheTTL 61", False), ("PermafrostKeyCacheTTL -1", False),
    ("PermafrostKeyCacheTTL 5s", False), ("PermafrostKeyCacheTTL", False),
    ("PermafrostKeyCacheTTL off", True), ("PermafrostKeyCacheTTL 0", True),
    ("PermafrostKeyCacheTTL 60", True), ("PermafrostKeyCacheTTL 1", True),
    ("PermafrostKeyCacheSlots 0", False), ("PermafrostKeyCacheSlots 4194305", False),
    ("PermafrostKeyCacheSlots 1", True),
    ("<VirtualHost 127.0.0.1:1>\nPermafrostKeyCacheSlots 5\n</VirtualHost>", False),
    ("<VirtualHost 127.0.0.1:1>\nPermafrostKeyCacheTTL 5\n</VirtualHost>", True),
])
def test_directives(rundir, pg, line, ok):
    pfstack.assert_directive(os.path.join(rundir, "keycache-conf"), pg.dsn, line, ok,
                             r"PermafrostKeyCache|not allowed|takes one argument")


def test_mutex_none_is_refused(rundir, pg):
    """Without a lock, processes could read half-written entries."""
    h = pfstack.Httpd(os.path.join(rundir, "keycache-nolock"), pg.dsn, mpm="prefork",
                      extra="Mutex none permafrost-keycache\n")
    try:
        with pytest.raises(RuntimeError, match="None is not allowed for mutex type "
                                               "permafrost-keycache"):
            h.start()
    finally:
        h.stop()
