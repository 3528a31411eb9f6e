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
    assert client.get("/api/v1/tenants", key).status == 200
    assert client.get("/api/v1/health").status == 200
