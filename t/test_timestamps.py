"""Timestamps are selected as UTC wall-clock time and written as RFC 3339 by
the module (pf_ts_rfc3339), not by to_char on every row: every value must
still read exactly as to_char(... 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') prints
it, through lists (role recommendations too), details, cursors, and
sessions whose DateStyle is not ISO."""
import urllib.parse

import pytest

import pfstack
from conftest import Client

TENANT = "7d1c40a4-1b4c-4c51-9c3f-0a5e2d7c9e11"
FMT = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"
# first_seen_at, last_seen_at, resolved_at: whole seconds, trailing zeros,
# one microsecond, a zone other than UTC, a year past 9999, before the
# common era, and infinity where the API allows null.
TIMES = [
    ("2026-12-06 20:45:00+00", "2026-12-06 20:45:00.12+00", None),
    ("2026-12-06 20:45:00.000001+00", "2026-12-06 20:45:00.1+05:30", "infinity"),
    ("2026-12-06 20:45:00.999999-03", "2026-12-06 23:59:59.999999+00", "-infinity"),
    ("12000-01-01 00:00:00+00", "2026-01-01 00:00:00+00", "2026-02-28 12:00:00.5+00"),
    ("0044-03-15 12:00:00.5+00 BC", "1970-01-01 00:00:00+00", None),
    ("2026-12-06 20:45:00.12+00", "2026-12-06 20:45:00.120001+00", None),
]


@pytest.fixture(scope="module")
def times(world, pg):
    cid = world.customer("Clock Co")
    world.tenant(cid, TENANT, "Clock Tenant")
    key, _ = world.key(cid)
    values = ", ".join(
        f"('{cid}', '{TENANT}', 'critical', 'open', 'clock', 'finding {i}', "
        f"'{a}'::timestamptz, '{b}'::timestamptz, {'NULL' if c is None else repr(c)}::timestamptz)"
        for i, (a, b, c) in enumerate(TIMES))
    pg.psql("INSERT INTO permafrost.findings (customer_id, tenant_id, severity, status, "
            "finding_type, title, first_seen_at, last_seen_at, resolved_at) VALUES " + values)
    pg.psql(f"INSERT INTO permafrost.identities (customer_id, tenant_id, type, display_name, "
            f"created_at, last_sign_in_at) VALUES ('{cid}', '{TENANT}', 'user', 'Clock User', "
            f"'2026-12-06 20:45:00.5+00', 'infinity')")
    # Role recommendations created at the findings' first_seen_at values.
    values = ", ".join(f"('{a}'::timestamptz)" for a, _, _ in TIMES)
    pg.psql("INSERT INTO permafrost.role_recommendations (customer_id, tenant_id, identity_id, "
            "current_role_name, recommended_role_name, scope, created_at) "
            f"SELECT '{cid}', '{TENANT}', i.id, 'Owner', 'Reader', '/', v.t "
            f"FROM permafrost.identities i, (VALUES {values}) v(t) "
            f"WHERE i.customer_id = '{cid}'")
    return cid, key


def expected(pg, table, cid, cols):
    sel = ", ".join(f"to_char({c} AT TIME ZONE 'UTC', {FMT})" for c in cols)
    out = pg.psql(f"SELECT id, {sel} FROM permafrost.{table} WHERE customer_id = '{cid}'")
    return {line.split("|")[0]: [v or None for v in line.split("|")[1:]]
            for line in out.splitlines()}


# A year past 9999 is outside RFC 3339 and the contract's pattern, printed
# by to_char as it is by the module: these answers are compared with the
# database's, not with the schema.
def check_findings(c, pg, cid, key):
    want = expected(pg, "findings", cid, ["first_seen_at", "last_seen_at", "resolved_at"])
    r = c.get("/api/v1/findings?limit=100", key, validate=False)
    assert r.status == 200, r.body
    got = {f["id"]: [f["firstSeenAt"], f["lastSeenAt"], f["resolvedAt"]]
           for f in r.json()["data"]}
    assert got == want and len(got) == len(TIMES)
    for fid, w in want.items():
        r = c.get(f"/api/v1/findings/{fid}", key, validate=False)
        assert r.status == 200, r.body
        d = r.json()["data"]
        assert [d["firstSeenAt"], d["lastSeenAt"], d["resolvedAt"]] == w
    return want


def check_roles(c, pg, cid, key):
    want = expected(pg, "role_recommendations", cid, ["created_at"])
    r = c.get("/api/v1/roles?limit=100", key, validate=False)
    assert r.status == 200, r.body
    assert {x["id"]: [x["createdAt"]] for x in r.json()["data"]} == want
    assert len(want) == len(TIMES)
    flat = [v for w in want.values() for v in w]
    assert "0044-03-15T12:00:00.500000Z" in flat and "2026-12-06T23:45:00.999999Z" in flat


def test_list_and_detail_read_as_to_char_prints(client, pg, times):
    cid, key = times
    want = check_findings(client, pg, cid, key)
    # The cases above are really there: a zone, the BC year, an infinity.
    flat = [v for w in want.values() for v in w]
    assert "0044-03-15T12:00:00.500000Z" in flat and "12000-01-01T00:00:00.000000Z" in flat
    assert "2026-12-06T15:15:00.100000Z" in flat and "2026-12-06T23:45:00.999999Z" in flat
    idn = expected(pg, "identities", cid, ["created_at", "last_sign_in_at"])
    r = client.get("/api/v1/identities", key)
    assert r.status == 200, r.body
    assert {i["id"]: [i["createdAt"], i["lastSignInAt"]] for i in r.json()["data"]} == idn
    (iid, (created, signin)), = idn.items()
    assert created == "2026-12-06T20:45:00.500000Z" and signin is None
    r = client.get(f"/api/v1/identities/{iid}", key)
    assert r.status == 200 and r.json()["data"]["createdAt"] == created
    check_roles(client, pg, cid, key)


def page_by_cursor(c, key, route="/api/v1/findings"):
    """The cursor keeps the last row's first_seen_at (a role's created_at)
    as selected: a page at a time by cursor gives the same rows as one
    page, whatever the value."""
    r = c.get(route + "?limit=100", key, validate=False)
    whole = [f["id"] for f in r.json()["data"]]
    got, cursor = [], None
    for _ in range(len(TIMES) + 2):
        q = {"limit": 1}
        if cursor:
            q["cursor"] = cursor
        r = c.get(route + "?" + urllib.parse.urlencode(q), key, validate=False)
        assert r.status == 200, r.body
        got += [f["id"] for f in r.json()["data"]]
        cursor = r.json()["meta"]["nextCursor"]
        if not cursor:
            break
    assert got == whole and len(got) == len(TIMES)


def test_cursor_pages_cross_odd_timestamps(client, times):
    page_by_cursor(client, times[1])
    page_by_cursor(client, times[1], "/api/v1/roles")


@pytest.fixture(scope="module")
def hooks(world, pg):
    """Subscriptions created at the findings' first_seen_at values, and as
    many deliveries of the first one, created and delivered at the same
    odd times; one still pending, due in the year 12000."""
    cid = world.customer("Hook Clock Co")
    key, _ = world.key(cid)
    values = ", ".join(f"(gen_random_uuid(), '{cid}', 'clock {i}', "
                       f"'https://example.invalid/{i}', 'generic', "
                       f"ARRAY['finding_critical'], '\\x00', '{a}'::timestamptz)"
                       for i, (a, _, _) in enumerate(TIMES))
    pg.psql("INSERT INTO permafrost.webhooks (id, customer_id, name, webhook_url, webhook_type, "
            "event_types, secret_sealed, created_at) VALUES " + values)
    wid = pg.psql(f"SELECT id FROM permafrost.webhooks WHERE customer_id = '{cid}' "
                  f"AND name = 'clock 0'")
    values = ", ".join(
        f"('{cid}', '{wid}', 'ping', '{'pending' if i == 0 else 'succeeded'}', "
        f"'{a}'::timestamptz, {'NULL' if i == 0 else repr(b)}::timestamptz, "
        f"'12000-01-01 00:00:00+00'::timestamptz)"
        for i, (a, b, _) in enumerate(TIMES))
    pg.psql("INSERT INTO permafrost.webhook_deliveries (customer_id, webhook_id, event_type, "
            "status, created_at, delivered_at, next_attempt_at) VALUES " + values)
    return cid, key, wid


def test_webhooks_api_reads_as_to_char_prints(client, pg, hooks):
    """The webhooks API selects UTC wall-clock time too (no to_char left in
    the answers); cursors cross the same odd times, and a cursor's time
    written the old way (to_char's text, with "Z") reads the same."""
    cid, key, wid = hooks
    want = expected(pg, "webhooks", cid, ["created_at"])
    r = client.get("/api/v1/webhooks?limit=100", key, validate=False)
    assert r.status == 200, r.body
    assert {w["id"]: [w["createdAt"]] for w in r.json()["data"]} == want
    assert len(want) == len(TIMES)
    r = client.get(f"/api/v1/webhooks/{wid}", key, validate=False)
    assert [r.json()["data"]["createdAt"]] == want[wid]
    want = expected(pg, "webhook_deliveries", cid, ["created_at", "delivered_at"])
    r = client.get(f"/api/v1/webhooks/{wid}/deliveries?limit=100", key, validate=False)
    assert r.status == 200, r.body
    got = r.json()["data"]
    assert {d["id"]: [d["createdAt"], d["deliveredAt"]] for d in got} == want
    assert len(want) == len(TIMES)
    flat = [v for w in want.values() for v in w]
    assert "0044-03-15T12:00:00.500000Z" in flat and "2026-12-06T15:15:00.100000Z" in flat
    assert sorted(d["nextAttemptAt"] for d in got if d["nextAttemptAt"]) == \
        ["12000-01-01T00:00:00.000000Z"]
    page_by_cursor(client, key, "/api/v1/webhooks")
    page_by_cursor(client, key, f"/api/v1/webhooks/{wid}/deliveries")
    assert pg.psql("SET TimeZone = 'America/St_Johns'; SELECT "
                   "('2026-12-06T20:45:00.120000Z'::timestamp AT TIME ZONE 'UTC') = "
                   "('2026-12-06 20:45:00.12'::timestamp AT TIME ZONE 'UTC') AND "
                   "('2026-12-06 20:45:00.12'::timestamp AT TIME ZONE 'UTC') = "
                   "'2026-12-06 20:45:00.12+00'::timestamptz").splitlines()[-1] == "t"


def test_sessions_in_another_datestyle_and_zone(rundir, pg, times, hooks):
    """A database whose sessions print dates in another style and live in
    another time zone: the module sets its own sessions to ISO and reads
    UTC, so answers and cursors are unchanged."""
    cid, key = times
    pg.psql("ALTER DATABASE permafrost SET DateStyle = 'SQL, DMY'", pg.admin_dsn)
    pg.psql("ALTER DATABASE permafrost SET TimeZone = 'America/St_Johns'", pg.admin_dsn)
    try:
        assert pg.psql("SELECT '2026-12-06 20:45:00+00'::timestamptz::text") \
            == "06/12/2026 17:15:00 NST"
        h = pfstack.Httpd(f"{rundir}/datestyle", pg.dsn)
        h.start()
        try:
            check_findings(Client(h.port), pg, cid, key)
            check_roles(Client(h.port), pg, cid, key)
            page_by_cursor(Client(h.port), key)
            page_by_cursor(Client(h.port), key, "/api/v1/roles")
            _, hkey, wid = hooks
            page_by_cursor(Client(h.port), hkey, "/api/v1/webhooks")
            page_by_cursor(Client(h.port), hkey, f"/api/v1/webhooks/{wid}/deliveries")
        finally:
            h.stop()
    finally:
        pg.psql("ALTER DATABASE permafrost RESET DateStyle", pg.admin_dsn)
        pg.psql("ALTER DATABASE permafrost RESET TimeZone", pg.admin_dsn)
