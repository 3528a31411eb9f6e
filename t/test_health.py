"""Health, the public routes, and the database going away and coming back."""
import time


def test_health_ok(client):
    r = client.get("/api/v1/health")
    assert r.status == 200
    body = r.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["version"]
    assert r.header("Content-Type") == "application/json; charset=utf-8"


def test_openapi_served_without_key(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status == 200
    assert r.json()["openapi"].startswith("3.1")
    assert r.header("ETag")
    r2 = client.get("/api/v1/openapi.json", headers={"If-None-Match": r.header("ETag")})
    assert r2.status == 304 and r2.body == b""


def test_database_down_gives_503_then_recovers(client, world, pg):
    cid = world.customer("Outage Co")
    key, _ = world.key(cid)
    assert client.get("/api/v1/tenants", key).status == 200
    pg.stop()
    try:
        started = time.time()
        seen = []
        for _ in range(6):
            r = client.get("/api/v1/tenants", key)
            seen.append(r.status)
            # Never a 401 for an outage, never a hang.
            assert r.status != 401
            if r.status == 503:
                assert r.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
                assert int(r.header("Retry-After")) >= 1
        assert time.time() - started < 30
        assert 503 in seen, seen
        h = client.get("/api/v1/health")
        assert h.status == 503 and h.json()["status"] == "degraded"
        assert h.header("Retry-After")
    finally:
        pg.start()
    deadline = time.time() + 30
    while time.time() < deadline:
        if client.get("/api/v1/tenants", key).status == 200:
            break
        time.sleep(0.5)
    assert client.get("/api/v1/health").status == 200
    # Every pooled connection went stale with the restart; none of them may
    # cost a client an error now that the database is back.
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        statuses = list(ex.map(lambda _: client.get("/api/v1/tenants", key).status, range(200)))
    assert set(statuses) == {200}, statuses


def test_openapi_document_is_valid_openapi_31():
    """The served document validates as OpenAPI 3.1 with an independent
    validator (@seriousme/openapi-schema-validator, from npm)."""
    import os
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = subprocess.run(["node", os.path.join(root, "t", "validate-openapi.mjs"),
                        os.path.join(root, "openapi", "openapi.json")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_served_document_is_the_source(client):
    import os
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "openapi", "openapi.json"), "rb") as f:
        assert client.get("/api/v1/openapi.json").body == f.read()
