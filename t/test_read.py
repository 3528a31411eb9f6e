"""Contract sections 3 to 6 and 12: the read API against real data.

Two customers get demo data of the same shape plus hand-made look-alike rows
(same names, same types); every route is checked for isolation, order,
pagination, filters, validation and conditional requests."""
import json
import subprocess
import urllib.parse
import uuid

import pytest

SEV_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
TENANT_A = "aaaaaaaa-0000-4000-8000-000000000001"
TENANT_B = "bbbbbbbb-0000-4000-8000-000000000001"
TRICKY = ['Quote "Q" O\'Brien', "Back\\slash", "Tab\tand\nnewline", "Zoë 🚀",
          "محمد عبد الله", "\u202eRTL override", "NUL-free \u0001 control"]


@pytest.fixture(scope="module")
def data(world, pg):
    a = world.customer("Look Alike A")
    b = world.customer("Look Alike B")
    for cid, tid in ((a, TENANT_A), (b, TENANT_B)):
        world.admin("demo-data", "--customer", cid, "--tenants", "2", "--identities", "240",
                    "--findings", "900", check=0)
        world.tenant(cid, tid, "Shared Name Tenant", "shared.example")
        for i, name in enumerate(TRICKY):
            iid = str(uuid.uuid4())
            pg.psql(f"INSERT INTO permafrost.identities (id, customer_id, tenant_id, type, "
                    f"display_name, object_id) VALUES ('{iid}', '{cid}', '{tid}', 'user', "
                    f"$${name}$$, gen_random_uuid())")
            pg.psql(f"INSERT INTO permafrost.findings (customer_id, tenant_id, identity_id, "
                    f"severity, finding_type, title, evidence) VALUES ('{cid}', '{tid}', "
                    f"'{iid}', 'high', 'look,alike', $${name}$$, "
                    f"$j${json.dumps({'note': name, 'n': i})}$j$)")
    ka, _ = world.key(a)
    kb, _ = world.key(b)
    return {"a": a, "b": b, "ka": ka, "kb": kb}


def rows(pg, sql):
    out = pg.psql(f"SELECT coalesce(json_agg(x), '[]') FROM ({sql}) x")
    return json.loads(out)


def fetch_all(client, key, path, params, limit):
    """Pages of a list, one after another, and the totals each reported."""
    got, totals, offset = [], set(), 0
    while True:
        q = dict(params, limit=limit, offset=offset)
        r = client.get(path + "?" + urllib.parse.urlencode(q, safe=","), key)
        assert r.status == 200, r.body
        body = r.json()
        totals.add(body["meta"]["total"])
        assert body["meta"]["limit"] == limit and body["meta"]["offset"] == offset
        got.extend(body["data"])
        if len(body["data"]) < limit:
            break
        offset += limit
    return got, totals


def expected_findings(pg, cid, where=""):
    rs = rows(pg, f"SELECT id::text, severity, "
                  f"to_char(first_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') fs "
                  f"FROM permafrost.findings WHERE customer_id = '{cid}' {where}")
    # Order computed here, independently of the module's SQL.
    rs.sort(key=lambda x: x["id"])
    rs.sort(key=lambda x: x["fs"], reverse=True)
    rs.sort(key=lambda x: SEV_RANK[x["severity"]])
    return [x["id"] for x in rs]


@pytest.mark.parametrize("params,where", [
    ({}, ""),
    ({"severity": "critical,high", "status": "open"},
     "AND severity IN ('critical','high') AND status = 'open'"),
    ({"status": "resolved,suppressed"}, "AND status <> 'open'"),
    ({"tenant": "DEMO"}, "AND tenant_id = 'DEMO'"),
    ({"findingType": "look,alike"}, "AND finding_type IN ('look', 'alike')"),
    ({"findingType": "look%2Calike"}, None),
])
def test_findings_pages_concatenate(client, pg, data, params, where):
    if where is None:
        # %2C is a literal comma: one value "look,alike"
        r = client.get("/api/v1/findings?findingType=look%2Calike&limit=500", data["ka"])
        assert r.status == 200
        assert r.json()["meta"]["total"] == len(TRICKY)
        return
    if params.get("tenant") == "DEMO":
        demo = pg.psql(f"SELECT tenant_id FROM permafrost.tenants WHERE customer_id = "
                       f"'{data['a']}' AND tenant_id <> '{TENANT_A}' ORDER BY 1 LIMIT 1")
        params = dict(params, tenant=demo)
        where = where.replace("DEMO", demo)
    want = expected_findings(pg, data["a"], where)
    got, totals = fetch_all(client, data["ka"], "/api/v1/findings", params, 97)
    assert [g["id"] for g in got] == want
    assert totals == {len(want)}
    assert len(want) > 97 or params.get("findingType")


def test_identities_pages_and_filter(client, pg, data):
    for params, where in [({}, ""), ({"type": "servicePrincipal,group"},
                                     "AND type IN ('servicePrincipal', 'group')")]:
        rs = rows(pg, f"SELECT id::text, display_name FROM permafrost.identities "
                      f"WHERE customer_id = '{data['a']}' {where}")
        rs.sort(key=lambda x: (x["display_name"].encode(), x["id"]))
        got, totals = fetch_all(client, data["ka"], "/api/v1/identities", params, 19)
        assert [g["id"] for g in got] == [x["id"] for x in rs]
        assert totals == {len(rs)}
        assert len(rs) > 2 * 19


def test_roles_and_tenants_pages(client, pg, data):
    rs = rows(pg, f"SELECT id::text, to_char(created_at AT TIME ZONE 'UTC', "
                  f"'YYYY-MM-DD HH24:MI:SS.US') c FROM permafrost.role_recommendations "
                  f"WHERE customer_id = '{data['a']}'")
    rs.sort(key=lambda x: x["id"])
    rs.sort(key=lambda x: x["c"], reverse=True)
    got, totals = fetch_all(client, data["ka"], "/api/v1/roles", {}, 10)
    assert [g["id"] for g in got] == [x["id"] for x in rs] and len(rs) > 20
    one = got[0]["identity"]["id"]
    r = client.get(f"/api/v1/roles?identityId={one}&limit=500", data["ka"])
    assert r.status == 200
    assert all(x["identity"]["id"] == one for x in r.json()["data"])
    assert r.json()["meta"]["total"] == int(pg.psql(
        f"SELECT count(*) FROM permafrost.role_recommendations WHERE customer_id = "
        f"'{data['a']}' AND identity_id = '{one}'"))
    ts = rows(pg, f"SELECT tenant_id::text id, display_name FROM permafrost.tenants "
                  f"WHERE customer_id = '{data['a']}'")
    ts.sort(key=lambda x: (x["display_name"].encode(), x["id"]))
    got, totals = fetch_all(client, data["ka"], "/api/v1/tenants", {}, 1)
    assert [g["id"] for g in got] == [x["id"] for x in ts]


def test_isolation_lists(client, pg, data):
    b_ids = set(pg.psql(f"SELECT id::text FROM permafrost.findings WHERE customer_id = "
                        f"'{data['b']}' UNION ALL SELECT id::text FROM permafrost.identities "
                        f"WHERE customer_id = '{data['b']}' UNION ALL SELECT id::text FROM "
                        f"permafrost.role_recommendations WHERE customer_id = '{data['b']}'"
                        ).split())
    for path in ["/api/v1/findings", "/api/v1/identities", "/api/v1/roles", "/api/v1/tenants"]:
        got, totals = fetch_all(client, data["ka"], path, {}, 500)
        ids = {g["id"] for g in got}
        assert not ids & b_ids, path
        assert TENANT_B not in {g.get("tenantId", g["id"]) for g in got}


def _same_answer(r1, r2):
    assert r1.status == r2.status
    h1 = {k.lower(): v for k, v in r1.headers if k.lower() not in ("date",)}
    h2 = {k.lower(): v for k, v in r2.headers if k.lower() not in ("date",)}
    for h in (h1, h2):
        for k in ("x-ratelimit-remaining", "x-ratelimit-reset"):
            h.pop(k, None)
    assert h1 == h2
    assert r1.body == r2.body


def test_foreign_ids_answer_like_random_ones(client, pg, data):
    bf = pg.psql(f"SELECT id FROM permafrost.findings WHERE customer_id='{data['b']}' LIMIT 1")
    bi = pg.psql(f"SELECT id FROM permafrost.identities WHERE customer_id='{data['b']}' LIMIT 1")
    for path, foreign in [("/api/v1/findings/", bf), ("/api/v1/identities/", bi)]:
        r_foreign = client.get(path + foreign, data["ka"])
        r_random = client.get(path + str(uuid.uuid4()), data["ka"])
        assert r_foreign.status == 404
        _same_answer(r_foreign, r_random)
        assert client.get(path + foreign, data["kb"]).status == 200
    for path in ["/api/v1/findings", "/api/v1/identities", "/api/v1/roles", "/api/v1/tenants",
                 f"/api/v1/findings/{bf}", f"/api/v1/identities/{bi}"]:
        r_foreign = client.get(f"{path}?tenant={TENANT_B}", data["ka"])
        r_random = client.get(f"{path}?tenant={uuid.uuid4()}", data["ka"])
        assert r_foreign.status == 404, path
        _same_answer(r_foreign, r_random)


def test_tenant_filter_meta(client, data):
    r = client.get(f"/api/v1/identities?tenant={TENANT_A.upper()}", data["ka"])
    assert r.status == 200
    assert r.json()["meta"]["tenant"] == TENANT_A
    assert all(x["tenantId"] == TENANT_A for x in r.json()["data"])
    r = client.get("/api/v1/identities", data["ka"])
    assert "tenant" not in r.json()["meta"]


def test_detail_shapes(client, pg, data):
    fid = pg.psql(f"SELECT id FROM permafrost.findings WHERE customer_id='{data['a']}' AND "
                  f"finding_type = 'look,alike' ORDER BY title LIMIT 1")
    r = client.get(f"/api/v1/findings/{fid}", data["ka"])
    assert r.status == 200
    d = r.json()["data"]
    assert "meta" not in r.json()
    stored = json.loads(pg.psql(f"SELECT evidence FROM permafrost.findings WHERE id='{fid}'"))
    assert d["evidence"] == stored
    assert d["identity"]["id"] == d["identityId"] and d["identity"]["type"] == "user"
    assert d["title"] == d["identity"]["displayName"]
    # ?tenant= on a detail: right tenant answers, the other tenant hides it
    assert client.get(f"/api/v1/findings/{fid}?tenant={TENANT_A}", data["ka"]).status == 200
    other = pg.psql(f"SELECT tenant_id FROM permafrost.tenants WHERE customer_id='{data['a']}' "
                    f"AND tenant_id <> '{TENANT_A}' LIMIT 1")
    assert client.get(f"/api/v1/findings/{fid}?tenant={other}", data["ka"]).status == 404
    iid = pg.psql(f"SELECT identity_id FROM permafrost.role_assignments WHERE customer_id="
                  f"'{data['a']}' GROUP BY identity_id HAVING count(*) > 1 LIMIT 1")
    r = client.get(f"/api/v1/identities/{iid}", data["ka"])
    ra = r.json()["data"]["roleAssignments"]
    assert len(ra) > 1
    assert [(x["roleName"].encode(), x["id"]) for x in ra] == sorted(
        (x["roleName"].encode(), x["id"]) for x in ra)
    # ?tenant= on an identity: its own tenant answers the same identity with
    # every assignment; the customer's other tenant hides it
    own = pg.psql(f"SELECT tenant_id FROM permafrost.identities WHERE id = '{iid}'")
    other = pg.psql(f"SELECT tenant_id FROM permafrost.tenants WHERE customer_id='{data['a']}' "
                    f"AND tenant_id <> '{own}' LIMIT 1")
    same = client.get(f"/api/v1/identities/{iid}?tenant={own}", data["ka"])
    assert same.status == 200 and same.json() == r.json()
    assert client.get(f"/api/v1/identities/{iid}?tenant={other}", data["ka"]).status == 404


def test_detail_evidence_exact(client, pg, data):
    """Evidence is answered as PostgreSQL stores it: an integer past 64 bits
    and reals keep their digits (they once went through jansson, which
    refused the first, so the whole evidence read {}, and rewrote 0.1 as
    0.10000000000000001); strings keep their escapes and UTF-8."""
    tid = TENANT_A
    ev = ('{"big": 1180591620717411303424, "ratio": 0.1, "scale": 2.50, "exp": 1.5e300, '
          '"s": "tab\\t nl\\n \\u0001 \\"q\\" é 😀", "nested": {"a": [1, null, true, false, []]}}')
    fid = pg.psql(f"INSERT INTO permafrost.findings (customer_id, tenant_id, severity, "
                  f"finding_type, title, evidence) VALUES ('{data['a']}', '{tid}', 'low', "
                  f"'exact,evidence', 'exact', $j${ev}$j$) RETURNING id").splitlines()[0]
    r = client.get(f"/api/v1/findings/{fid}", data["ka"])
    assert r.status == 200
    text = r.body.decode("utf-8")
    stored = pg.psql(f"SELECT evidence FROM permafrost.findings WHERE id='{fid}'")
    assert json.loads(text)["data"]["evidence"] == json.loads(stored)
    for piece in ['"big":1180591620717411303424', '"ratio":0.1,', '"scale":2.50',
                  '"nested":{"a":[1,null,true,false,[]]}', '\\u0001 \\"q\\" é 😀']:
        assert piece in text, piece
    assert json.loads(text)["data"]["identity"] is None
    # An identity without assignments has an empty list, not a missing one.
    iid = pg.psql(f"INSERT INTO permafrost.identities (customer_id, tenant_id, type, "
                  f"display_name, object_id) VALUES ('{data['a']}', '{tid}', 'group', "
                  f"'no assignments', gen_random_uuid()) RETURNING id").splitlines()[0]
    r = client.get(f"/api/v1/identities/{iid}", data["ka"])
    assert r.status == 200 and r.json()["data"]["roleAssignments"] == []
    assert r.json()["data"]["displayName"] == "no assignments"
    # The other customer's key sees neither.
    assert client.get(f"/api/v1/findings/{fid}", data["kb"]).status == 404
    assert client.get(f"/api/v1/identities/{iid}", data["kb"]).status == 404


def test_unicode_round_trip(client, pg, data):
    r = client.get(f"/api/v1/identities?tenant={TENANT_A}&limit=500", data["ka"])
    names = {x["displayName"] for x in r.json()["data"]}
    for n in TRICKY:
        assert n in names, n
    assert r.body.decode("utf-8")  # valid UTF-8 on the wire


@pytest.mark.parametrize("query,field", [
    ("limit=0", "limit"), ("limit=501", "limit"), ("limit=abc", "limit"), ("offset=-1", "offset"),
    ("offset=10000001", "offset"), ("severity=urgent", "severity"), ("severity=", "severity"),
    ("severity=high,", "severity"), ("status=closed", "status"), ("tenant=nope", "tenant"),
    ("tenant=", "tenant"), ("bogus=1", "bogus"), ("limit=1&limit=2", "limit"),
    ("severity=high&severity=low", "severity"), ("status=open&status=open", "status"),
    ("findingType=", "findingType"), ("findingType=a,,b", "findingType"),
    ("findingType=%zz", "findingType"), ("type=user", "type"),
])
def test_findings_parameter_errors(client, data, query, field):
    r = client.get("/api/v1/findings?" + query, data["ka"])
    assert r.status == 400, (query, r.body)
    err = r.json()["error"]
    assert err["code"] == "INVALID_PARAMETER"
    assert err["details"][0]["field"] == field


def test_other_routes_parameter_errors(client, data):
    fid = str(uuid.uuid4())
    for path, query, field in [("/api/v1/identities", "type=robot", "type"),
                               ("/api/v1/identities", "severity=high", "severity"),
                               ("/api/v1/roles", "identityId=x", "identityId"),
                               ("/api/v1/tenants", "type=user", "type"),
                               (f"/api/v1/findings/{fid}", "limit=5", "limit"),
                               (f"/api/v1/identities/{fid}", "offset=0", "offset")]:
        r = client.get(f"{path}?{query}", data["ka"])
        assert r.status == 400, (path, query)
        assert r.json()["error"]["details"][0]["field"] == field


def test_offset_past_the_end(client, data):
    r = client.get("/api/v1/findings?offset=10000000", data["ka"])
    body = r.json()
    assert r.status == 200 and body["data"] == [] and body["meta"]["total"] > 0


def test_limit_and_offset_defaults(client, data):
    """Section 5: limit 100 and offset 0 when left out, on every list."""
    for path in ("/api/v1/findings", "/api/v1/identities", "/api/v1/roles", "/api/v1/tenants",
                 "/api/v1/webhooks"):
        r = client.get(path, data["ka"])
        assert r.status == 200, (path, r.body)
        body = r.json()
        assert body["meta"]["limit"] == 100 and body["meta"]["offset"] == 0, path
        assert len(body["data"]) == min(100, body["meta"]["total"]), path
    # findings and identities have more than 100 rows: the default page is full
    assert len(client.get("/api/v1/findings", data["ka"]).json()["data"]) == 100
    assert len(client.get("/api/v1/identities", data["ka"]).json()["data"]) == 100


def test_conditional_requests(client, pg, data, world):
    url = f"/api/v1/findings?tenant={TENANT_A}&limit=3"
    r = client.get(url, data["ka"])
    tag = r.header("ETag")
    assert tag and tag.startswith('"') and not tag.startswith("W/")
    for inm in (tag, f'"nope", {tag}', "*", "W/" + tag):
        r2 = client.get(url, data["ka"], headers={"If-None-Match": inm})
        assert r2.status == 304 and r2.body == b"", inm
        assert r2.header("ETag") == tag
    assert client.get(url, data["ka"], headers={"If-None-Match": '"nope"'}).status == 200
    # Preconditions apply only where the answer would be 200: a 404, 400,
    # 401, 403 or 405 stays exactly that, with its error body.
    star = {"If-None-Match": "*"}
    nofind, _ = world.key(data["a"], scopes=("read:identities",), name="no findings")
    for path, key, method, status in (
            (f"/api/v1/findings/{uuid.uuid4()}", data["ka"], "GET", 404),
            ("/api/v1/findings?limit=0", data["ka"], "GET", 400),
            ("/api/v1/findings?limit=3", "pfrost_" + "0" * 48, "GET", 401),
            ("/api/v1/findings?limit=3", nofind, "GET", 403),
            ("/api/v1/findings?limit=3", data["ka"], "DELETE", 405)):
        r = client.request(method, path, key, headers=star)
        assert r.status == status, (path, method, r.status)
        assert r.json()["error"]["code"], path
    # the tag follows the body
    pg.psql(f"UPDATE permafrost.findings SET title = title || '!' WHERE customer_id = "
            f"'{data['a']}' AND tenant_id = '{TENANT_A}'")
    r3 = client.get(url, data["ka"], headers={"If-None-Match": tag})
    assert r3.status == 200 and r3.header("ETag") != tag


def test_detail_conditional_requests(client, pg, data):
    """Section 12 on the detail routes, which write their answer as text:
    a strong ETag, 304 for a matching tag (no body, the same tag), and a
    new tag once the body changes, for a finding's evidence as for an
    identity's assignments."""
    fid = pg.psql(f"SELECT id FROM permafrost.findings WHERE customer_id = '{data['a']}' "
                  f"ORDER BY id LIMIT 1")
    iid = pg.psql(f"SELECT identity_id FROM permafrost.role_assignments WHERE customer_id = "
                  f"'{data['a']}' ORDER BY identity_id LIMIT 1")
    changes = {
        f"/api/v1/findings/{fid}":
            f"UPDATE permafrost.findings SET evidence = evidence || '{{\"seen\": 1.50}}' "
            f"WHERE id = '{fid}'",
        f"/api/v1/identities/{iid}":
            f"INSERT INTO permafrost.role_assignments (customer_id, identity_id, role_name, "
            f"role_definition_id, scope, assignment_type) VALUES ('{data['a']}', '{iid}', "
            f"'Zz Etag Role', gen_random_uuid(), '/', 'active')",
    }
    for url, change in changes.items():
        r = client.get(url, data["ka"])
        tag = r.header("ETag")
        assert r.status == 200 and tag and tag.startswith('"') and len(tag) == 34, url
        assert client.get(url, data["ka"]).header("ETag") == tag, url
        for inm in (tag, f'"nope", {tag}', "*"):
            r2 = client.get(url, data["ka"], headers={"If-None-Match": inm})
            assert r2.status == 304 and r2.body == b"" and r2.header("ETag") == tag, (url, inm)
        pg.psql(change)
        r3 = client.get(url, data["ka"], headers={"If-None-Match": tag})
        assert r3.status == 200 and r3.header("ETag") != tag, url
        assert r3.body != r.body, url


def walk_cursor(client, key, path, params, limit):
    got, cur = [], None
    while True:
        q = dict(params, limit=limit)
        if cur:
            q["cursor"] = cur
        r = client.get(path + "?" + urllib.parse.urlencode(q, safe=","), key)
        assert r.status == 200, r.body
        body = r.json()
        got.extend(body["data"])
        cur = body["meta"]["nextCursor"]
        if cur is None:
            return got, body
        assert len(body["data"]) == limit


@pytest.mark.parametrize("path,params", [
    ("/api/v1/findings", {}), ("/api/v1/findings", {"severity": "critical,high",
                                                    "status": "open"}),
    ("/api/v1/identities", {}), ("/api/v1/identities", {"type": "user"}),
    ("/api/v1/roles", {}), ("/api/v1/tenants", {}),
])
def test_cursor_walk_equals_offset_walk(client, data, path, params):
    by_offset, _ = fetch_all(client, data["ka"], path, params, 37)
    by_cursor, last = walk_cursor(client, data["ka"], path, params, 37)
    assert [x["id"] for x in by_cursor] == [x["id"] for x in by_offset]
    assert last["meta"]["total"] == len(by_offset)


def test_cursor_null_on_exactly_full_last_page(client, data):
    total = client.get("/api/v1/tenants", data["ka"]).json()["meta"]["total"]
    r = client.get(f"/api/v1/tenants?limit={total}", data["ka"]).json()
    assert len(r["data"]) == total and r["meta"]["nextCursor"] is None
    r = client.get(f"/api/v1/tenants?limit={total - 1}", data["ka"]).json()
    assert r["meta"]["nextCursor"] is not None


def test_cursor_misuse_is_400(client, pg, data):
    k = data["ka"]
    page = client.get("/api/v1/findings?severity=high&limit=5", k).json()
    cur = page["meta"]["nextCursor"]
    assert cur
    ok = client.get(f"/api/v1/findings?severity=high&limit=5&cursor={cur}", k)
    assert ok.status == 200
    flipped = cur[:-2] + ("A" if cur[-2] != "A" else "B") + cur[-1]
    for q in [f"severity=low&cursor={cur}",            # other filters
              f"cursor={cur}",                          # filter dropped
              f"severity=high&offset=0&cursor={cur}",  # with offset
              f"severity=high&cursor={flipped}",        # altered
              "severity=high&cursor=garbage",           # malformed
              "severity=high&cursor="]:                 # empty
        r = client.get("/api/v1/findings?" + q, k)
        assert r.status == 400, q
        assert r.json()["error"]["details"][0]["field"] == "cursor", q
    # another customer's cursor, another list's: refused, naming the cursor
    icur = client.get("/api/v1/identities?limit=2", k).json()["meta"]["nextCursor"]
    for q, key in ((f"severity=high&limit=5&cursor={cur}", data["kb"]),
                   (f"cursor={icur}", k)):
        r = client.get("/api/v1/findings?" + q, key)
        assert r.status == 400, q
        e = r.json()["error"]
        assert e["code"] == "INVALID_PARAMETER" and e["details"][0]["field"] == "cursor", q
    # a tenant's cursor replayed for another tenant of the same customer, or
    # for all of them
    other = pg.psql(f"SELECT tenant_id FROM permafrost.tenants WHERE customer_id = "
                    f"'{data['a']}' AND tenant_id <> '{TENANT_A}' ORDER BY 1 LIMIT 1")
    tcur = client.get(f"/api/v1/findings?tenant={TENANT_A}&limit=2", k).json()["meta"][
        "nextCursor"]
    assert tcur
    assert client.get(f"/api/v1/findings?tenant={TENANT_A}&limit=2&cursor={tcur}",
                      k).status == 200
    for q in (f"tenant={other}&limit=2&cursor={tcur}", f"limit=2&cursor={tcur}"):
        r = client.get("/api/v1/findings?" + q, k)
        assert r.status == 400, q
        assert r.json()["error"]["details"][0]["field"] == "cursor", q
    # detail routes do not take it
    fid = page["data"][0]["id"]
    assert client.get(f"/api/v1/findings/{fid}?cursor={cur}", k).status == 400


def test_cursor_continues_after_inserts(client, pg, data):
    k = data["ka"]
    first = client.get(f"/api/v1/findings?tenant={TENANT_A}&limit=3", k).json()
    cur = first["meta"]["nextCursor"]
    before = client.get(f"/api/v1/findings?tenant={TENANT_A}&limit=100&cursor={cur}", k).json()
    # a new critical finding sorts before everything already paged
    pg.psql(f"INSERT INTO permafrost.findings (customer_id, tenant_id, severity, finding_type, "
            f"title) VALUES ('{data['a']}', '{TENANT_A}', 'critical', 'new', 'new one')")
    after = client.get(f"/api/v1/findings?tenant={TENANT_A}&limit=100&cursor={cur}", k).json()
    assert [x["id"] for x in after["data"]] == [x["id"] for x in before["data"]]
    assert after["meta"]["total"] == before["meta"]["total"] + 1


def seeded(world, pg, name, tenants, findings):
    """A customer with demo data, a key, and its first two tenants."""
    cid = world.customer(name)
    key, _ = world.key(cid)
    world.admin("demo-data", "--customer", cid, "--tenants", tenants, "--identities", "20",
                "--findings", findings, check=0)
    t1, t2 = pg.psql(f"SELECT tenant_id FROM permafrost.tenants WHERE customer_id = '{cid}' "
                     f"ORDER BY 1 LIMIT 2").split()
    return cid, key, t1, t2


def test_totals_stay_exact_through_writes(client, world, pg):
    cid, key, t1, t2 = seeded(world, pg, "Counting Co", 3, 600)
    combos = [("", ""), ("severity=critical,high&status=open",
                         "severity IN ('critical','high') AND status = 'open'"),
              (f"tenant={t1}&status=resolved", f"tenant_id = '{t1}' AND status = 'resolved'"),
              ("status=suppressed", "status = 'suppressed'")]
    ftype = pg.psql(f"SELECT finding_type FROM permafrost.findings WHERE customer_id = '{cid}' "
                    f"GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
    combos.append((f"findingType={ftype}&severity=high,medium",
                   f"finding_type = '{ftype}' AND severity IN ('high','medium')"))

    def check():
        assert_totals(client, pg, key, cid, "findings", combos)
    check()
    pg.psql(f"UPDATE permafrost.findings SET status = 'resolved', resolved_at = now() "
            f"WHERE customer_id = '{cid}' AND severity = 'high' AND status = 'open'")
    check()
    pg.psql(f"DELETE FROM permafrost.findings WHERE customer_id = '{cid}' AND severity = 'low'")
    check()
    world.admin("analyzer-pass", "--customer", cid, "--tenant-id", t1, "--new-findings", "40",
                check=0)
    check()
    pg.psql(f"DELETE FROM permafrost.tenants WHERE customer_id = '{cid}' AND tenant_id = '{t2}'")
    check()
    # demo-data replaces everything: counts follow
    world.admin("demo-data", "--customer", cid, "--tenants", "2", "--identities", "20",
                "--findings", "100", check=0)
    combos = [c for c in combos if "tenant=" not in c[0]]  # t1 may be gone now
    check()
    assert client.get("/api/v1/findings", key).json()["meta"]["total"] == 100


def assert_totals(client, pg, key, cid, table, combos, path=None):
    """Each (query, SQL condition): the list's meta.total is what count(*)
    finds; then the count tables hold what the tables hold."""
    for q, where in combos:
        want = int(pg.psql(f"SELECT count(*) FROM permafrost.{table} WHERE customer_id = "
                           f"'{cid}'" + (f" AND {where}" if where else "")))
        r = client.get(f"/api/v1/{path or table}?{q}", key)
        assert r.status == 200, (q, r.body)
        assert r.json()["meta"]["total"] == want, q
    assert_counts_match(pg, cid)


def assert_counts_match(pg, cid):
    """The count tables (sql/002, sql/006 for findings, sql/009 for
    identities, sql/010 for role recommendations) hold exactly what the tables they count hold for the
    customer, with no zero rows left behind."""
    w = f"WHERE customer_id = '{cid}'"
    for src, table, cols in (
            ("findings", "finding_counts",
             "customer_id, tenant_id, severity, status, finding_type"),
            ("findings", "finding_totals", "customer_id, severity, status, finding_type"),
            ("identities", "identity_counts", "customer_id, tenant_id, type"),
            ("identities", "identity_totals", "customer_id, type"),
            ("role_recommendations", "role_counts", "customer_id, tenant_id"),
            ("role_recommendations", "role_totals", "customer_id")):
        diff = pg.psql(f"(SELECT {cols}, count(*) FROM permafrost.{src} {w} GROUP BY {cols} "
                       f"EXCEPT SELECT {cols}, n FROM permafrost.{table} {w}) UNION ALL "
                       f"(SELECT {cols}, n FROM permafrost.{table} {w} EXCEPT "
                       f"SELECT {cols}, count(*) FROM permafrost.{src} {w} GROUP BY {cols})")
        assert diff == "", (table, diff)


def test_identity_totals_stay_exact_through_writes(client, world, pg):
    cid, key, t1, t2 = seeded(world, pg, "Identity Counting Co", 3, 50)
    combos = [("", ""), ("type=user", "type = 'user'"),
              ("type=group,servicePrincipal", "type IN ('group', 'servicePrincipal')"),
              (f"tenant={t1}", f"tenant_id = '{t1}'"),
              (f"tenant={t2}&type=user", f"tenant_id = '{t2}' AND type = 'user'")]

    def check(combos):
        assert_totals(client, pg, key, cid, "identities", combos)
    check(combos)
    pg.psql(f"INSERT INTO permafrost.identities (customer_id, tenant_id, type, display_name) "
            f"SELECT '{cid}', '{t1}', 'agentIdentity', 'agent ' || g "
            f"FROM generate_series(1, 7) g")
    check(combos + [("type=agentIdentity", "type = 'agentIdentity'")])
    pg.psql(f"UPDATE permafrost.identities SET type = 'group' "
            f"WHERE customer_id = '{cid}' AND type = 'user' AND tenant_id = '{t2}'")
    check(combos)
    pg.psql(f"UPDATE permafrost.identities SET display_name = display_name || ' (renamed)' "
            f"WHERE customer_id = '{cid}'")
    check(combos)
    pg.psql(f"DELETE FROM permafrost.identities WHERE customer_id = '{cid}' AND type = 'group'")
    check(combos)
    pg.psql(f"DELETE FROM permafrost.tenants WHERE customer_id = '{cid}' AND tenant_id = '{t2}'")
    check([c for c in combos if t2 not in c[0]])
    world.admin("demo-data", "--customer", cid, "--tenants", "2", "--identities", "33",
                "--findings", "10", check=0)
    check([c for c in combos if "tenant=" not in c[0]])
    assert client.get("/api/v1/identities", key).json()["meta"]["total"] == 33
    pg.psql(f"DELETE FROM permafrost.customers WHERE id = '{cid}'")
    assert pg.psql(f"SELECT count(*) FROM permafrost.identity_totals "
                   f"WHERE customer_id = '{cid}'") == "0"


def test_role_totals_stay_exact_through_writes(client, world, pg):
    cid, key, t1, t2 = seeded(world, pg, "Role Counting Co", 2, 20)
    world.admin("demo-data", "--customer", cid, "--tenants", "2", "--identities", "300",
                "--findings", "20", check=0)
    t1, t2 = pg.psql(f"SELECT tenant_id FROM permafrost.tenants WHERE customer_id = '{cid}' "
                     f"ORDER BY 1").split()
    i1, i2 = pg.psql(f"SELECT identity_id FROM permafrost.role_recommendations "
                     f"WHERE customer_id = '{cid}' AND tenant_id = '{t1}' "
                     f"GROUP BY 1 ORDER BY 1 LIMIT 2").split()
    combos = [("", ""), (f"tenant={t1}", f"tenant_id = '{t1}'"),
              (f"tenant={t2}", f"tenant_id = '{t2}'"),
              (f"identityId={i1},{i2}", f"identity_id IN ('{i1}', '{i2}')"),
              (f"tenant={t2}&identityId={i1}", f"tenant_id = '{t2}' AND identity_id = '{i1}'"),
              (f"tenant={t1}&identityId={i2}", f"tenant_id = '{t1}' AND identity_id = '{i2}'")]

    def check(combos):
        assert_totals(client, pg, key, cid, "role_recommendations", combos, "roles")
    check(combos)
    assert client.get(f"/api/v1/roles?identityId={i1},{i2}", key).json()["meta"]["total"] > 0
    pg.psql(f"INSERT INTO permafrost.role_recommendations (customer_id, tenant_id, identity_id, "
            f"current_role_name, recommended_role_name, scope) "
            f"SELECT '{cid}', '{t1}', '{i1}', 'Owner', 'Reader', '/sub/' || g "
            f"FROM generate_series(1, 9) g")
    check(combos)
    pg.psql(f"UPDATE permafrost.role_recommendations SET identity_id = '{i2}' "
            f"WHERE customer_id = '{cid}' AND identity_id = '{i1}' AND scope LIKE '/sub/%'")
    check(combos)
    pg.psql(f"DELETE FROM permafrost.role_recommendations WHERE customer_id = '{cid}' "
            f"AND identity_id = '{i2}'")
    check(combos)
    pg.psql(f"DELETE FROM permafrost.identities WHERE customer_id = '{cid}' AND id = '{i1}'")
    check(combos)
    pg.psql(f"DELETE FROM permafrost.tenants WHERE customer_id = '{cid}' AND tenant_id = '{t2}'")
    check([c for c in combos if t2 not in c[0]])
    world.admin("demo-data", "--customer", cid, "--tenants", "2", "--identities", "25",
                "--findings", "10", check=0)
    check([("", "")])
    pg.psql(f"DELETE FROM permafrost.customers WHERE id = '{cid}'")
    assert pg.psql(f"SELECT count(*) FROM permafrost.role_totals "
                   f"WHERE customer_id = '{cid}'") == "0"


def test_truncate_empties_the_counts(client, world, pg):
    """TRUNCATE fires no row or statement trigger of INSERT, UPDATE or
    DELETE: the counts must go with the findings all the same (checked in a
    transaction rolled back, so the other tests' data stays)."""
    cid, key, _, _ = seeded(world, pg, "Truncate Co", 2, 50)
    assert client.get("/api/v1/findings", key).json()["meta"]["total"] == 50
    out = pg.psql("BEGIN; TRUNCATE permafrost.findings CASCADE; "
                  "SELECT (SELECT count(*) FROM permafrost.finding_counts) || ' ' || "
                  "(SELECT count(*) FROM permafrost.finding_totals); ROLLBACK;")
    assert "0 0" in out.splitlines(), out
    for table, counts in (("identities", "identity"), ("role_recommendations", "role")):
        out = pg.psql(f"BEGIN; TRUNCATE permafrost.{table} CASCADE; "
                      f"SELECT (SELECT count(*) FROM permafrost.{counts}_counts) || ' ' || "
                      f"(SELECT count(*) FROM permafrost.{counts}_totals); ROLLBACK;")
        assert "0 0" in out.splitlines(), (table, out)
    assert_counts_match(pg, cid)
    assert client.get("/api/v1/findings", key).json()["meta"]["total"] == 50


def test_totals_stay_exact_with_concurrent_writers(client, world, pg):
    """Two transactions writing findings and identities of different tenants
    of one customer at once both land in the customer-wide totals (neither
    lost nor deadlocked), and deleting the customer leaves no totals
    behind."""
    cid, key, t1, t2 = seeded(world, pg, "Concurrent Co", 2, 200)
    before = client.get("/api/v1/findings?severity=critical", key).json()["meta"]["total"]
    users = client.get("/api/v1/identities?type=user", key).json()["meta"]["total"]

    def writer(tenant, n):
        sql = (f"BEGIN; INSERT INTO permafrost.findings (customer_id, tenant_id, severity, "
               f"finding_type, title) SELECT '{cid}', '{tenant}', 'critical', 'concurrent', "
               f"'w' || g FROM generate_series(1, {n}) g; "
               f"INSERT INTO permafrost.identities (customer_id, tenant_id, type, display_name) "
               f"SELECT '{cid}', '{tenant}', 'user', 'w' || g FROM generate_series(1, {n}) g; "
               f"SELECT pg_sleep(0.5); "
               f"UPDATE permafrost.findings SET status = 'resolved', resolved_at = now() "
               f"WHERE customer_id = '{cid}' AND tenant_id = '{tenant}' AND title = 'w1'; "
               f"COMMIT;")
        return subprocess.Popen(["psql", pg.dsn, "-v", "ON_ERROR_STOP=1", "-Atq", "-c", sql],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs = [writer(t1, 30), writer(t2, 45)]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    r = client.get("/api/v1/findings?severity=critical", key).json()
    assert r["meta"]["total"] == before + 75
    r = client.get("/api/v1/findings?severity=critical&status=resolved&findingType=concurrent",
                   key).json()
    assert r["meta"]["total"] == 2
    r = client.get("/api/v1/identities?type=user", key).json()
    assert r["meta"]["total"] == users + 75
    assert_counts_match(pg, cid)
    pg.psql(f"DELETE FROM permafrost.customers WHERE id = '{cid}'")
    assert pg.psql(f"SELECT count(*) FROM permafrost.finding_totals "
                   f"WHERE customer_id = '{cid}'") == "0"
    assert_counts_match(pg, cid)


@pytest.mark.parametrize("path,table,column,where", [
    (f"/api/v1/identities?tenant={TENANT_A}&limit=3", "identities", "display_name",
     f"tenant_id = '{TENANT_A}'"),
    ("/api/v1/roles?limit=3", "role_recommendations", "rationale", "true"),
    ("/api/v1/tenants", "tenants", "display_name", f"tenant_id = '{TENANT_A}'"),
])
def test_list_etags_follow_their_bodies(client, pg, data, path, table, column, where):
    """Section 12 on the other lists: 304 while the body is the same, a new
    tag with the new body once it changes."""
    k = data["ka"]
    r = client.get(path, k)
    tag = r.header("ETag")
    assert r.status == 200 and tag
    assert client.get(path, k, headers={"If-None-Match": tag}).status == 304
    pg.psql(f"UPDATE permafrost.{table} SET {column} = {column} || '!' "
            f"WHERE customer_id = '{data['a']}' AND {where}")
    try:
        r2 = client.get(path, k, headers={"If-None-Match": tag})
        assert r2.status == 200 and r2.header("ETag") != tag
        assert r2.body != r.body and b"!" in r2.body
    finally:
        pg.psql(f"UPDATE permafrost.{table} SET {column} = left({column}, -1) "
                f"WHERE customer_id = '{data['a']}' AND {where}")
    r3 = client.get(path, k, headers={"If-None-Match": tag})
    assert r3.status == 304 and r3.header("ETag") == tag


def test_a_detail_path_with_a_trailing_slash_is_404(client, pg, data):
    fid = pg.psql(f"SELECT id FROM permafrost.findings WHERE customer_id = '{data['a']}' "
                  f"LIMIT 1")
    iid = pg.psql(f"SELECT id FROM permafrost.identities WHERE customer_id = '{data['a']}' "
                  f"LIMIT 1")
    for path in (f"/api/v1/findings/{fid}", f"/api/v1/identities/{iid}"):
        assert client.get(path, data["ka"]).status == 200, path
        r = client.get(path + "/", data["ka"])
        assert r.status == 404 and r.json()["error"]["code"] == "NOT_FOUND", path
