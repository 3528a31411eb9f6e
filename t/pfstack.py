"""Starts and stops the real parts the tests, the demo and the benchmark use:
a private PostgreSQL cluster and an httpd with the built module, both on free
loopback ports. Usable as a library (tests) and from the shell:

    python3 t/pfstack.py up   RUNDIR   # prints shell variables
    python3 t/pfstack.py down RUNDIR
"""
import json
import os
import re
import pwd
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PGBIN = "/usr/lib/postgresql/15/bin"
APACHE = "/usr/sbin/apache2"
MODDIR = "/usr/lib/apache2/modules"
IS_ROOT = os.geteuid() == 0


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_pg_user(cmd):
    # PostgreSQL refuses to run as root: use the package's postgres user.
    return ["runuser", "-u", "postgres", "--"] + cmd if IS_ROOT else cmd


def _wait_port(port, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Postgres:
    def __init__(self, rundir, port=None, conf=""):
        self.dir = os.path.join(rundir, "pg")
        self.conf = conf  # extra postgresql.conf lines, for a new cluster
        self.data = os.path.join(self.dir, "data")
        self.port = port or free_port()
        self.dsn = f"host=127.0.0.1 port={self.port} dbname=permafrost user=permafrost"
        self.admin_dsn = f"host=127.0.0.1 port={self.port} dbname=postgres user=postgres"

    def init(self):
        os.makedirs(self.dir, exist_ok=True)
        if IS_ROOT:
            uid = pwd.getpwnam("postgres").pw_uid
            os.chown(self.dir, uid, -1)
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            subprocess.run(_as_pg_user([f"{PGBIN}/initdb", "-D", self.data, "--no-locale",
                                        "-E", "UTF8", "--auth=trust", "-U", "postgres"]),
                           check=True, stdout=subprocess.DEVNULL)
            with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
                f.write("\nlisten_addresses = '127.0.0.1'\n"
                        f"unix_socket_directories = '{self.dir}'\n"
                        "max_connections = 200\nfsync = off\nfull_page_writes = off\n"
                        "synchronous_commit = off\nshared_buffers = 256MB\n" + self.conf)

    def start(self):
        subprocess.run(_as_pg_user([f"{PGBIN}/pg_ctl", "-D", self.data, "-w", "-t", "60",
                                    "-o", f"-p {self.port}", "-l",
                                    os.path.join(self.dir, "server.log"), "start"]),
                       check=True, stdout=subprocess.DEVNULL)

    def stop(self, mode="fast"):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            subprocess.run(_as_pg_user([f"{PGBIN}/pg_ctl", "-D", self.data, "-w", "-m", mode,
                                        "stop"]), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)

    def psql(self, sql, dsn=None, check=True):
        p = subprocess.run(["psql", dsn or self.dsn, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
                           capture_output=True, text=True)
        if check and p.returncode != 0:
            raise RuntimeError(f"psql failed: {p.stderr.strip()}")
        return p.stdout.strip()

    def create_database(self):
        exists = self.psql("SELECT 1 FROM pg_roles WHERE rolname = 'permafrost'", self.admin_dsn)
        if not exists:
            self.psql("CREATE ROLE permafrost LOGIN", self.admin_dsn)
        if not self.psql("SELECT 1 FROM pg_database WHERE datname = 'permafrost'",
                         self.admin_dsn):
            self.psql("CREATE DATABASE permafrost OWNER permafrost", self.admin_dsn)


HTTPD_CONF = """
ServerRoot "{rundir}"
DefaultRuntimeDir "{rundir}"
PidFile "{rundir}/httpd.pid"
Listen 127.0.0.1:{port}
ServerName 127.0.0.1
{user}
LoadModule mpm_{mpm}_module {moddir}/mod_mpm_{mpm}.so
LoadModule authz_core_module {moddir}/mod_authz_core.so
LoadModule dbd_module {moddir}/mod_dbd.so
LoadModule permafrost_module {module}
ErrorLog "{rundir}/error.log"
LogLevel warn
LogFormat "%h %u %t \\"%r\\" %>s %b %D" pf
CustomLog "{rundir}/access.log" pf
DocumentRoot "{rundir}/htdocs"
<Directory />
    Require all denied
</Directory>
<Directory "{rundir}/htdocs">
    Require all granted
</Directory>
{mpm_conf}
DBDriver pgsql
DBDParams "{dsn} connect_timeout=3"
DBDMin 0
DBDKeep 8
DBDMax 32
DBDExptime 30
<Location "/api/v1">
    SetHandler permafrost
    Require all granted
</Location>
{extra}
"""

MPM_CONF = {
    "event": "StartServers 2\nServerLimit 4\nThreadsPerChild 16\nMinSpareThreads 8\n"
             "MaxSpareThreads 64\nMaxRequestWorkers 64\n",
    "worker": "StartServers 2\nServerLimit 4\nThreadsPerChild 16\nMinSpareThreads 8\n"
              "MaxSpareThreads 64\nMaxRequestWorkers 64\n",
    "prefork": "StartServers 4\nMinSpareServers 2\nMaxSpareServers 8\nMaxRequestWorkers 32\n",
}


class Httpd:
    def __init__(self, rundir, dsn, port=None, mpm="event", extra="", module=None):
        self.dir = os.path.join(rundir, "httpd")
        self.port = port or free_port()
        self.dsn = dsn
        self.mpm = mpm
        self.extra = extra
        self.module = module or os.path.join(ROOT, ".libs", "mod_permafrost.so")
        self.conf = os.path.join(self.dir, "httpd.conf")
        self.base = f"http://127.0.0.1:{self.port}"

    def write_conf(self):
        os.makedirs(os.path.join(self.dir, "htdocs"), exist_ok=True)
        user = "User www-data\nGroup www-data" if IS_ROOT else ""
        with open(self.conf, "w") as f:
            f.write(HTTPD_CONF.format(rundir=self.dir, port=self.port, user=user, mpm=self.mpm,
                                      moddir=MODDIR, module=self.module,
                                      mpm_conf=MPM_CONF[self.mpm], dsn=self.dsn,
                                      extra=self.extra))

    @staticmethod
    def env():
        # PF_HTTPD_PRELOAD (for example libasan.so) is given to httpd only,
        # for a run of the black-box tests against a sanitizer build.
        env = dict(os.environ)
        if os.environ.get("PF_HTTPD_PRELOAD"):
            env["LD_PRELOAD"] = os.environ["PF_HTTPD_PRELOAD"]
        return env

    def ctl(self, action):
        return subprocess.run([APACHE, "-f", self.conf, "-k", action], capture_output=True,
                              text=True, env=self.env())

    def pid(self):
        try:
            with open(os.path.join(self.dir, "httpd.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def start(self):
        self.write_conf()
        p = self.ctl("start")
        if p.returncode != 0:
            raise RuntimeError(f"httpd failed to start: {p.stdout}{p.stderr}\n"
                               + self.error_log()[-2000:])
        if not _wait_port(self.port):
            raise RuntimeError("httpd did not listen:\n" + self.error_log()[-2000:])
        # The port can answer before the pid file is written; stop() needs
        # it, and a stop right after a start found none and did nothing.
        end = time.time() + 10
        while self.pid() is None and time.time() < end:
            time.sleep(0.02)

    def stop(self):
        pid = self.pid()
        if pid is None:
            return
        self.ctl("stop")
        end = time.time() + 15
        while time.time() < end:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.unlink(os.path.join(self.dir, "httpd.pid"))
        except OSError:
            pass

    def configtest(self):
        """`apache2 -t` on this server's configuration: (accepted, output)."""
        self.write_conf()
        p = subprocess.run([APACHE, "-t", "-f", self.conf], capture_output=True, text=True,
                           env=self.env())
        return p.returncode == 0, p.stdout + p.stderr

    def graceful(self):
        p = self.ctl("graceful")
        if p.returncode != 0:
            raise RuntimeError(p.stderr)

    def error_log(self):
        try:
            with open(os.path.join(self.dir, "error.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def assert_directive(rundir, dsn, line, ok, said):
    """`apache2 -t` accepts line when ok; refuses it otherwise, with a
    message matching the regular expression said."""
    h = Httpd(rundir, dsn, mpm="prefork", extra=line)
    accepted, out = h.configtest()
    assert accepted == ok, out
    if not ok:
        assert re.search(said, out), out


def admin_bin():
    return os.path.join(ROOT, "permafrost-admin")


def up(rundir, httpd_port=None, pg_port=None):
    os.makedirs(rundir, exist_ok=True)
    pg = Postgres(rundir, pg_port)
    pg.init()
    pg.start()
    pg.create_database()
    subprocess.run([admin_bin(), "--dsn", pg.dsn, "migrate", "--sql-dir",
                    os.path.join(ROOT, "sql")], check=True, stdout=subprocess.DEVNULL)
    # Webhooks need the key that seals their signing secrets.
    key = os.path.join(rundir, "secret.key")
    if not os.path.exists(key):
        subprocess.run([admin_bin(), "secret-key", "generate", key], check=True,
                       stdout=subprocess.DEVNULL)
    h = Httpd(rundir, pg.dsn, httpd_port, extra=f'PermafrostSecretKeyFile "{key}"\n')
    h.start()
    state = {"pg_port": pg.port, "httpd_port": h.port, "dsn": pg.dsn, "base": h.base}
    with open(os.path.join(rundir, "state.json"), "w") as f:
        json.dump(state, f)
    return pg, h


def down(rundir):
    try:
        with open(os.path.join(rundir, "state.json")) as f:
            state = json.load(f)
    except OSError:
        state = {}
    h = Httpd(rundir, state.get("dsn", ""), state.get("httpd_port"))
    h.stop()
    Postgres(rundir, state.get("pg_port")).stop()


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("up", "down"):
        sys.exit("usage: pfstack.py up|down RUNDIR [HTTPD_PORT]")
    if sys.argv[1] == "up":
        port = int(sys.argv[3]) if len(sys.argv) > 3 else None
        pg, h = up(sys.argv[2], port)
        print(f"PF_DSN='{pg.dsn}'\nPF_BASE='{h.base}'\nPF_PG_PORT={pg.port}\n"
              f"PF_HTTPD_PORT={h.port}")
    else:
        down(sys.argv[2])
