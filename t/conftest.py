"""Session fixtures: one private PostgreSQL cluster and one httpd with the
built module, on free loopback ports, for the whole run."""
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pfstack  # noqa: E402

ROOT = pfstack.ROOT


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body)


class Client:
    """Plain HTTP over loopback; every answer can be checked against the
    OpenAPI document."""

    def __init__(self, port, validator=None):
        self.port = port
        self.validator = validator

    def request(self, method, path, key=None, headers=None, body=None, validate=True):
        h = dict(headers or {})
        if key is not None:
            h["Authorization"] = f"Bearer {key}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            data = resp.read()
            r = Response(resp.status, resp.getheaders(), data)
        finally:
            conn.close()
        if validate and self.validator is not None:
            self.validator(method, path, r)
        return r

    def get(self, path, key=None, **kw):
        return self.request("GET", path, key=key, **kw)


@pytest.fixture(scope="session")
def rundir():
    d = tempfile.mkdtemp(prefix="pf-test-")
    os.chmod(d, 0o755)
    yield d
    if not os.environ.get("PF_KEEP_RUNDIR"):
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def pg(rundir):
    # pg_stat_statements counts the statements each request runs
    # (t/test_keycache.py).
    p = pfstack.Postgres(rundir, conf="shared_preload_libraries = 'pg_stat_statements'\n")
    p.init()
    p.start()
    p.create_database()
    subprocess.run([pfstack.admin_bin(), "--dsn", p.dsn, "migrate", "--sql-dir",
                    os.path.join(ROOT, "sql")], check=True, stdout=subprocess.DEVNULL)
    yield p
    p.stop()


@pytest.fixture(scope="session")
def admin_bin():
    return pfstack.admin_bin()


@pytest.fixture(scope="session")
def sql_dir():
    return os.path.join(ROOT, "sql")


@pytest.fixture(scope="session")
def admin(pg, admin_bin):
    def run(*args, check=None):
        p = subprocess.run([admin_bin, "--dsn", pg.dsn] + [str(a) for a in args],
                           capture_output=True, text=True)
        if check is not None:
            assert p.returncode == check, (args, p.returncode, p.stdout, p.stderr)
        return p
    return run


def _openapi_validator():
    import pfopenapi
    doc = pfopenapi.OpenAPI(os.path.join(ROOT, "openapi", "openapi.json"), ignore_headers=[])

    def check(method, path, r):
        doc.validate_response(method, path, r.status, dict(r.headers), r.body)
    return check


@pytest.fixture(scope="session")
def httpd(rundir, pg):
    h = pfstack.Httpd(rundir, pg.dsn)
    h.start()
    yield h
    h.stop()
    # Unexpected [error]/[crit]/[emerg] lines or crashes fail the run.
    log = h.error_log()
    bad = [l for l in log.splitlines()
           if any(t in l for t in (":crit]", ":emerg]", ":alert]", "Segmentation fault",
                                   "exit signal"))]
    assert not bad, "httpd logged:\n" + "\n".join(bad[:20])


@pytest.fixture(scope="session")
def client(httpd):
    return Client(httpd.port, _openapi_validator())


class World:
    """Customers, tenants and keys made through permafrost-admin."""

    def __init__(self, admin, pg):
        self.admin = admin
        self.pg = pg

    def customer(self, name="Acme"):
        p = self.admin("--json", "customer", "create", name, check=0)
        return json.loads(p.stdout)["id"]

    def tenant(self, customer, tenant_id, name, domain=None):
        args = ["--json", "tenant", "add", "--customer", customer, "--tenant-id", tenant_id,
                "--name", name]
        if domain:
            args += ["--domain", domain]
        self.admin(*args, check=0)
        return tenant_id

    def key(self, customer, scopes=("read:identities", "read:findings", "read:roles",
                                    "manage:webhooks"), expires=None, name="test key"):
        args = ["--json", "key", "create", "--customer", customer, "--name", name]
        for s in scopes:
            args += ["--scope", s]
        if expires:
            args += ["--expires", expires]
        p = self.admin(*args, check=0)
        d = json.loads(p.stdout)
        return d["key"], d["id"]


@pytest.fixture(scope="session")
def world(admin, pg):
    return World(admin, pg)
