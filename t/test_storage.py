"""API paths name no file: httpd's directory and file walk (a stat of every
path element, a look for .htaccess in each directory) is skipped for them,
and kept for everything else the server serves."""
import os

import pytest

import pfstack
from conftest import Client


@pytest.fixture(scope="module")
def walked(rundir, pg):
    """An httpd whose document root allows .htaccess files, with a broken one
    on the API's path and a denying one in a directory of real files."""
    d = os.path.join(rundir, "storage")
    h = pfstack.Httpd(d, pg.dsn, extra=f"""
<Directory "{d}/httpd/htdocs">
    AllowOverride All
</Directory>
""")
    h.write_conf()
    htdocs = os.path.join(h.dir, "htdocs")
    os.makedirs(os.path.join(htdocs, "api", "v1"), exist_ok=True)
    with open(os.path.join(htdocs, "api", "v1", ".htaccess"), "w") as f:
        f.write("ThisIsNotADirective on\n")
    os.makedirs(os.path.join(htdocs, "private"), exist_ok=True)
    with open(os.path.join(htdocs, "private", ".htaccess"), "w") as f:
        f.write("Require all denied\n")
    with open(os.path.join(htdocs, "private", "file.txt"), "w") as f:
        f.write("not for you\n")
    with open(os.path.join(htdocs, "public.txt"), "w") as f:
        f.write("hello\n")
    h.start()
    yield h
    h.stop()


def test_api_paths_skip_the_directory_walk(walked, world):
    """The broken .htaccess under htdocs/api/v1 would make every API request
    a 500 if httpd looked for it."""
    c = Client(walked.port)
    key, _ = world.key(world.customer("Storage Co"))
    assert c.get("/api/v1/health", validate=False).status == 200
    r = c.get("/api/v1/tenants", key, validate=False)
    assert r.status == 200, r.body
    assert c.get("/api/v1/tenants", validate=False).status == 401
    assert "ThisIsNotADirective" not in walked.error_log()


def test_other_paths_keep_the_walk(walked):
    """Files outside the API are still subject to .htaccess (and so to
    <Directory> and <Files>): the module changes nothing for them."""
    c = Client(walked.port)
    assert c.get("/public.txt", validate=False).status == 200
    assert c.get("/private/file.txt", validate=False).status == 403
