"""The API served from virtual hosts: one that shares the main server's
mod_dbd configuration (no DBD directives of its own), and one with its own
(its own DBDParams, so its own connection pool). The module's statements
are registered once per mod_dbd configuration: each host finds them
prepared on its connections, and mod_dbd logs no conflict (AH02653, once per
statement and host, when they were registered again for a sharing host)."""
import os

import pfstack
from conftest import Client, _openapi_validator

APP = "pf_vhost_own_pool"


def test_every_host_has_its_statements_and_no_conflict_is_logged(rundir, pg, world):
    cid = world.customer("Virtual Hosts")
    world.tenant(cid, "7c1a0000-0000-4000-8000-0000000000a1", "VH tenant")
    key = world.key(cid)[0]
    shared, own = pfstack.free_port(), pfstack.free_port()
    h = pfstack.Httpd(os.path.join(rundir, "vhosts"), pg.dsn, mpm="event")
    h.extra = (f"Listen 127.0.0.1:{shared}\n<VirtualHost 127.0.0.1:{shared}>\n"
               "    PermafrostListCache off\n</VirtualHost>\n"
               f"Listen 127.0.0.1:{own}\n<VirtualHost 127.0.0.1:{own}>\n"
               f"    DBDParams \"{pg.dsn} application_name={APP} connect_timeout=3\"\n"
               "    DBDMin 1\n    DBDKeep 1\n    DBDMax 4\n</VirtualHost>\n")
    h.start()
    try:
        bodies = []
        for port in (h.port, shared, own):
            c = Client(port, _openapi_validator())
            r = c.get("/api/v1/tenants", key)
            assert r.status == 200, (port, r.body)
            bodies.append(r.json()["data"])
            r = c.get("/api/v1/findings?severity=critical,high&limit=3", key)
            assert r.status == 200, (port, r.body)
        assert bodies[0] == bodies[1] == bodies[2]
        assert len(bodies[0]) == 1 and "7c1a0000-0000-4000-8000-0000000000a1" in str(bodies[0])
        # The third host's requests ran on its own pool.
        assert int(pg.psql("SELECT count(*) FROM pg_stat_activity "
                           f"WHERE application_name = '{APP}'")) >= 1
    finally:
        h.stop()
    log = h.error_log()
    assert "AH02653" not in log, log[:3000]
    assert "PF00005" not in log and "PF00003" not in log, log[-3000:]
