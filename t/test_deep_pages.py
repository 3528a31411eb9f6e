"""Offset pages of findings from the third on run the ids-first statement
(pf_sql.c, FINDING_PAGE; README, "Benchmark"), answer exactly what the
first form answers, and no statement of the module is ever JIT-compiled
(mod_permafrost_db.c, session_setup).

Against an httpd of its own, connected as a role whose sessions would
JIT-compile every statement (jit_above_cost = 0): only the module's own
session setup turns that off. Statements are counted with
pg_stat_statements, as t/test_keycache.py does."""
import collections
import os
import urllib.parse

import pytest

import pfstack
from conftest import Client, _openapi_validator
from test_keycache import delta, statements, superuser_with_role

ROLE = "pf_deep_pages_test"


@pytest.fixture(scope="module")
def su(pg):
    dsn = superuser_with_role(pg, ROLE)
    pg.psql(f"ALTER ROLE {ROLE} SET jit = on; ALTER ROLE {ROLE} SET jit_above_cost = 0", dsn)
    return dsn


@pytest.fixture(scope="module")
def deep(rundir, pg, su):
    h = pfstack.Httpd(os.path.join(rundir, "deep-pages"),
                      pg.dsn.replace("user=permafrost", f"user={ROLE}"))
    # Every request reads its page: no kept answers.
    h.extra = "PermafrostListCache off\n"
    h.start()
    h.client = Client(h.port, _openapi_validator())
    yield h
    h.stop()


@pytest.fixture(scope="module")
def cust(world, pg):
    cid = world.customer("Deep Pages Co")
    world.admin("demo-data", "--customer", cid, "--tenants", "2", "--identities", "40",
                "--findings", "400", check=0)
    tenant = pg.psql(f"SELECT tenant_id FROM permafrost.tenants WHERE customer_id = '{cid}' "
                     "ORDER BY tenant_id LIMIT 1")
    return {"id": cid, "key": world.key(cid)[0], "tenant": tenant}


def get(h, key, **params):
    return h.client.get("/api/v1/findings?" + urllib.parse.urlencode(params, safe=","), key)


@pytest.mark.parametrize("params,ran", [
    ({"limit": 50}, ["pf_findings_list_q"]),
    ({"limit": 50, "offset": 50}, ["pf_findings_list_q"]),
    ({"limit": 50, "offset": 99}, ["pf_findings_list_q"]),
    # From the third page on: the head (total, tenant check), then the page.
    ({"limit": 50, "offset": 100}, ["pf_findings_head", "pf_findings_deep_q"]),
    ({"limit": 10, "offset": 40, "severity": "critical,high"},
     ["pf_findings_head", "pf_findings_deep_q"]),
    ({"limit": 10, "offset": 20, "tenant": "T"}, ["pf_findings_head_t", "pf_findings_deep_t_q"]),
    # Past the end: the head answers, and the page is not read.
    ({"limit": 10, "offset": 5000}, ["pf_findings_head"]),
    ({"limit": 10, "offset": 5000, "tenant": "T"}, ["pf_findings_head_t"]),
    ({"limit": 10, "offset": 5000, "severity": "critical", "status": "open"},
     ["pf_findings_head"]),
    # A second page past the end is not deep: the quick form finds no row,
    # and the complete form answers.
    ({"limit": 500, "offset": 500}, ["pf_findings_list_q", "pf_findings_list"]),
])
def test_the_third_page_on_reads_ids_first(pg, su, deep, cust, params, ran):
    if params.get("tenant") == "T":
        params = dict(params, tenant=cust["tenant"])
    before = statements(pg, su, ROLE)
    r = get(deep, cust["key"], **params)
    assert r.status == 200, r.body
    after = statements(pg, su, ROLE)
    ran_now = {k: after[k] - before[k] for k in after
               if after[k] != before[k] and k.startswith("pf_findings")}
    assert ran_now == dict(collections.Counter(ran))


@pytest.mark.parametrize("filters", [{}, {"severity": "critical,high", "status": "open"},
                                     {"tenant": "T"}, {"tenant": "T", "status": "resolved"}])
def test_deep_pages_answer_what_the_first_page_shows(deep, cust, filters):
    if filters.get("tenant") == "T":
        filters = dict(filters, tenant=cust["tenant"])
    whole = get(deep, cust["key"], limit=500, **filters).json()
    rows, total = whole["data"], whole["meta"]["total"]
    assert total == len(rows) and 20 < total <= 400, total
    # Every one from its third page on (offset >= 2 x limit).
    for limit, offset in ((10, 20), (7, 21), (25, 50), (10, total - 10), (10, total - 3),
                          (10, total), (5, total + 40)):
        page = get(deep, cust["key"], limit=limit, offset=offset, **filters).json()
        assert page["data"] == rows[offset:offset + limit], (limit, offset)
        assert page["meta"]["total"] == total
        assert page["meta"]["offset"] == offset
        assert (page["meta"]["nextCursor"] is not None) == (offset + limit < total)


@pytest.mark.parametrize("filters", [{}, {"status": "open"}, {"tenant": "T"}])
def test_a_deep_pages_cursor_continues_after_its_last_row(deep, cust, filters):
    """Contract section 12: the cursor of any page, an offset page read
    ids first included, continues right after that page's last row."""
    if filters.get("tenant") == "T":
        filters = dict(filters, tenant=cust["tenant"])
    rows = get(deep, cust["key"], limit=500, **filters).json()["data"]
    page = get(deep, cust["key"], limit=8, offset=24, **filters).json()
    assert page["data"] == rows[24:32]
    after = get(deep, cust["key"], limit=8, cursor=page["meta"]["nextCursor"], **filters)
    assert after.status == 200, after.body
    assert after.json()["data"] == rows[32:40]


def test_a_foreign_tenant_on_a_deep_page_is_404(deep, cust, world):
    other = world.customer("Deep Pages Other")
    world.admin("demo-data", "--customer", other, "--tenants", "1", "--identities", "5",
                "--findings", "20", check=0)
    theirs = world.pg.psql(f"SELECT tenant_id FROM permafrost.tenants "
                           f"WHERE customer_id = '{other}' LIMIT 1")
    r = get(deep, cust["key"], limit=10, offset=300, tenant=theirs)
    assert r.status == 404, r.body
    assert r.json()["error"]["code"] == "NOT_FOUND"


@pytest.fixture(scope="module")
def lists(world, pg):
    """A customer with at least three rows in every list, webhooks and
    deliveries included (written directly: nothing here is delivered)."""
    cid = world.customer("Deep Pages Lists")
    world.admin("demo-data", "--customer", cid, "--tenants", "3", "--identities", "40",
                "--findings", "30", check=0)
    wid = pg.psql(
        "WITH w AS (INSERT INTO permafrost.webhooks"
        " (id, customer_id, name, webhook_url, webhook_type, event_types, secret_sealed)"
        f" SELECT gen_random_uuid(), '{cid}', 'hook ' || n, 'https://hooks.example.invalid/'"
        " || n, 'generic', ARRAY['finding_critical'], '\\x00'::bytea"
        " FROM generate_series(1, 3) n RETURNING id)"
        " SELECT min(id::text) FROM w")
    pg.psql("INSERT INTO permafrost.webhook_deliveries"
            " (customer_id, webhook_id, event_type, status, next_attempt_at)"
            f" SELECT '{cid}', '{wid}', 'ping', 'succeeded', NULL FROM generate_series(1, 4)")
    tenant = pg.psql(f"SELECT tenant_id FROM permafrost.tenants WHERE customer_id = '{cid}' "
                     "ORDER BY tenant_id LIMIT 1")
    return {"key": world.key(cid)[0], "tenant": tenant, "webhook": wid}


@pytest.mark.parametrize("path,head", [
    ("/api/v1/tenants?", "pf_tenants_head"),
    ("/api/v1/identities?", "pf_identities_head"),
    ("/api/v1/identities?tenant=T&", "pf_identities_head_t"),
    ("/api/v1/findings?status=open&", "pf_findings_head"),
    ("/api/v1/findings?tenant=T&", "pf_findings_head_t"),
    ("/api/v1/roles?", "pf_roles_head"),
    ("/api/v1/webhooks?", "pf_webhooks_head"),
    ("/api/v1/webhooks/W/deliveries?", "pf_deliveries_head"),
])
def test_a_deep_page_past_the_end_reads_only_its_head(pg, su, deep, lists, path, head):
    """Every list: an offset page from the third on whose offset is at or
    past the total is answered by the head statement alone (version,
    tenant check, total); one with a row left reads the head, then its
    page. Both answer what the whole list shows."""
    path = path.replace("=T&", f"={lists['tenant']}&").replace("/W/", f"/{lists['webhook']}/")
    whole = deep.client.get(path + "limit=500", lists["key"])
    assert whole.status == 200, whole.body
    rows, meta = whole.json()["data"], whole.json()["meta"]
    total = meta["total"]
    assert total == len(rows) and total >= 3, (path, total)
    for offset, ran in ((total - 1, 2), (total, 1), (total + 7, 1), (10_000_000, 1)):
        before = statements(pg, su, ROLE)
        r = deep.client.get(path + f"limit=1&offset={offset}", lists["key"])
        assert r.status == 200, r.body
        ran_now = {k: v for k, v in delta(statements(pg, su, ROLE), before).items()
                   if k != "pf_data_version" and k != "pf_webhook_get"}
        assert ran_now.get(head) == 1 and sum(ran_now.values()) == ran, (offset, ran_now)
        page = r.json()
        assert page["data"] == rows[offset:offset + 1], offset
        assert page["meta"] == dict(meta, limit=1, offset=offset, nextCursor=None), offset


def test_a_foreign_tenant_past_the_end_is_404(deep, cust, world, lists):
    theirs = lists["tenant"]
    r = get(deep, cust["key"], limit=10, offset=10_000_000, tenant=theirs)
    assert r.status == 404, r.body
    assert r.json()["error"]["code"] == "NOT_FOUND"


@pytest.fixture(scope="module")
def cached(rundir, pg, su):
    """One child with the list cache on: every request shares its answers."""
    h = pfstack.Httpd(os.path.join(rundir, "deep-pages-cached"),
                      pg.dsn.replace("user=permafrost", f"user={ROLE}"), mpm="event")
    h.extra = ("StartServers 1\nServerLimit 1\nThreadsPerChild 8\nMinSpareThreads 1\n"
               "MaxSpareThreads 8\nMaxRequestWorkers 8\n")
    h.start()
    h.client = Client(h.port, _openapi_validator())
    yield h
    h.stop()


def test_a_kept_answer_past_the_end_is_read_again_after_a_write(cached, world, pg, su):
    """With the list cache on, a page past the end is kept at the data
    version its head read; findings written afterwards move the version,
    so the same request then shows them."""
    client = cached.client
    cid = world.customer("Deep Pages Growing")
    world.admin("demo-data", "--customer", cid, "--tenants", "1", "--identities", "5",
                "--findings", "30", check=0)
    key = world.key(cid)[0]
    total = client.get("/api/v1/findings?limit=1", key).json()["meta"]["total"]
    path = f"/api/v1/findings?limit=5&offset={total}"
    ran = []
    for _ in range(2):
        before = statements(pg, su, ROLE)
        r = client.get(path, key)
        assert r.status == 200 and r.json()["data"] == [], r.body
        assert r.json()["meta"]["total"] == total
        # (the webhook drainer runs statements of its own)
        ran.append({k: v for k, v in delta(statements(pg, su, ROLE), before).items()
                    if k.startswith(("pf_findings", "pf_data_version"))})
    # The head answered once; then the kept answer, after a version check.
    assert ran[0].get("pf_findings_head") == 1, ran
    assert ran[1] == {"pf_data_version": 1}, ran
    pg.psql("INSERT INTO permafrost.findings (customer_id, tenant_id, severity, status, "
            "finding_type, title, first_seen_at, last_seen_at) "
            f"SELECT customer_id, tenant_id, 'low', 'open', 'late', 'late ' || n, "
            f"'1990-01-01'::timestamptz - n * interval '1 day', now() "
            f"FROM permafrost.tenants, generate_series(1, 3) n WHERE customer_id = '{cid}'")
    r = client.get(path, key).json()
    assert r["meta"]["total"] == total + 3
    # The oldest low findings sort last: the three new ones fill the page.
    assert [f["title"] for f in r["data"]] == ["late 1", "late 2", "late 3"]


def jit_functions(pg, su, where):
    out = pg.psql("SELECT coalesce(sum(calls), 0), coalesce(sum(jit_functions), 0) "
                  f"FROM pg_stat_statements WHERE userid = '{ROLE}'::regrole AND {where}", su)
    return tuple(int(x) for x in out.split("|"))


def test_no_statement_is_jit_compiled(pg, su, deep, cust):
    """ROLE's sessions start with jit_above_cost 0: any statement would be
    compiled, as the control below shows. The module's sessions turn JIT
    off before their first statement, and again on a session that replaces
    a lost one."""
    role_dsn = pg.dsn.replace("user=permafrost", f"user={ROLE}")
    pg.psql(f"SELECT count(*) FROM permafrost.findings WHERE customer_id = '{cust['id']}'",
            role_dsn)
    n, compiled = jit_functions(pg, su, "query LIKE 'SELECT count(*) FROM permafrost.findings%'")
    assert n >= 1 and compiled > 0, "control: a session of this role compiles with JIT"

    def requests():
        for params in ({"limit": 20}, {"limit": 20, "offset": 200},
                       {"limit": 20, "offset": 200, "tenant": cust["tenant"]}):
            assert get(deep, cust["key"], **params).status == 200

    def backends():
        return int(pg.psql("SELECT count(*) FROM pg_stat_activity "
                           f"WHERE usename = '{ROLE}' AND backend_type = 'client backend'", su))

    before = jit_functions(pg, su, "query LIKE 'PREPARE pf_%'")
    setups = jit_functions(pg, su, "query LIKE 'SET jit%'")[0]
    requests()
    # Lost sessions: libpq resets them on the next use, with new backends.
    sessions = backends()
    pg.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{ROLE}'",
            su)
    for _ in range(10):
        requests()
    sessions += backends()
    after = jit_functions(pg, su, "query LIKE 'PREPARE pf_%'")
    assert after[0] - before[0] >= 33, (before, after)
    assert after[1] == before[1], f"JIT-compiled functions: {before[1]} -> {after[1]}"
    # Once per session, not per statement.
    setups = jit_functions(pg, su, "query LIKE 'SET jit%'")[0] - setups
    assert 1 <= setups <= sessions, (setups, sessions)
    assert "PF00045" not in deep.error_log()
