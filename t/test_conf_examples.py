"""The configuration examples an operator copies (conf/permafrost.conf, and
the Debian a2enmod files in conf/debian/) load into a real httpd and serve
the API, with only the paths and the database address of this machine
swapped in. So an edit that breaks an example fails here, not on a
customer's front."""
import os
import subprocess

import pytest

import pfstack
from conftest import Client

CONF = os.path.join(pfstack.ROOT, "conf")
INSTALLED_MODULE = "/usr/lib/apache2/modules/mod_permafrost.so"
EXAMPLE_DB = "host=127.0.0.1 port=5432 dbname=permafrost user=permafrost"
EXAMPLE_KEY = "/etc/permafrost/secret.key"

BASE = """ServerRoot "{d}"
DefaultRuntimeDir "{d}"
PidFile "{d}/httpd.pid"
Listen 127.0.0.1:{port}
ServerName 127.0.0.1
{user}
ErrorLog "{d}/error.log"
LoadModule mpm_event_module {moddir}/mod_mpm_event.so
LoadModule authz_core_module {moddir}/mod_authz_core.so
"""


def read(*path):
    with open(os.path.join(CONF, *path)) as f:
        return f.read()


def localize(text, pg, keyfile):
    """The example with this machine's module, database and key file; each
    of those must be in it (an example that lost one fails here)."""
    for marker in (EXAMPLE_DB, EXAMPLE_KEY):
        assert marker in text, f"the example no longer names {marker}"
    return (text.replace(INSTALLED_MODULE, os.path.join(pfstack.ROOT, ".libs",
                                                         "mod_permafrost.so"))
            .replace(EXAMPLE_DB, pg.dsn).replace(EXAMPLE_KEY, keyfile)
            .replace("#PermafrostSecretKeyFile", "PermafrostSecretKeyFile"))


class Example(pfstack.Httpd):
    def __init__(self, rundir, pg, body):
        super().__init__(rundir, pg.dsn)
        self.body = body

    def write_conf(self):
        os.makedirs(self.dir, exist_ok=True)
        user = "User www-data\nGroup www-data" if pfstack.IS_ROOT else ""
        with open(self.conf, "w") as f:
            f.write(BASE.format(d=self.dir, port=self.port, user=user, moddir=pfstack.MODDIR)
                    + self.body)


def stand_alone(pg, keyfile):
    text = read("permafrost.conf")
    assert INSTALLED_MODULE in text
    return localize(text, pg, keyfile)


def debian(pg, keyfile):
    """What `a2enmod dbd permafrost` links into mods-enabled: dbd.load, then
    permafrost.load and permafrost.conf."""
    load = read("debian", "permafrost.load")
    assert INSTALLED_MODULE in load
    return (f"LoadModule dbd_module {pfstack.MODDIR}/mod_dbd.so\n"
            + load.replace(INSTALLED_MODULE, os.path.join(pfstack.ROOT, ".libs",
                                                          "mod_permafrost.so"))
            + localize(read("debian", "permafrost.conf"), pg, keyfile))


@pytest.mark.parametrize("name,build", [("stand-alone", stand_alone), ("debian", debian)])
def test_example_serves_the_api(rundir, pg, world, name, build):
    keyfile = os.path.join(rundir, f"example-{name}.key")
    subprocess.run([pfstack.admin_bin(), "secret-key", "generate", keyfile], check=True,
                   stdout=subprocess.DEVNULL)
    os.chmod(keyfile, 0o644)  # the test's httpd children run as www-data
    h = Example(os.path.join(rundir, f"example-{name}"), pg, build(pg, keyfile))
    ok, out = h.configtest()
    assert ok, out
    h.start()
    try:
        cid = world.customer(f"Example {name}")
        world.admin("demo-data", "--customer", cid, "--tenants", "1", "--identities", "5",
                    "--findings", "12", check=0)
        key, _ = world.key(cid)
        c = Client(h.port)
        assert c.get("/api/v1/health", None, validate=False).status == 200
        r = c.get("/api/v1/findings?limit=5", key, validate=False)
        assert r.status == 200, r.body
        assert r.json()["meta"]["total"] == 12
        assert c.get("/api/v1/findings", "pfrost_" + "0" * 48,
                     validate=False).status == 401
    finally:
        h.stop()
    bad = [line for line in h.error_log().splitlines()
           if any(t in line for t in (":emerg]", ":alert]", ":crit]", ":error]"))]
    assert not bad, bad
