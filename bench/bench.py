"""Benchmark driver (see bench/run). Every figure comes from one run on this
machine; ratios are against ceilings measured in the same run."""
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "t"))
import pfstack  # noqa: E402

ROOT = pfstack.ROOT
QUICK = "--quick" in sys.argv
# Pairs of rate limit off / on runs, and their length.
RL_PAIRS, RL_DURATION = 8, "4s"
# Requests after the first in the two callgrind runs of each side (the rate
# limit's cost in instructions).
CG_REQUESTS = (20, 120) if QUICK else (50, 450)
# Each case runs RUNS times and the figures are their medians: this machine
# is shared, and one run's p99 swings with whatever else is scheduled.
DURATION = "2s" if QUICK else "5s"
RUNS = 3
CONNS = 32
BIG = 100_000 if QUICK else 1_000_000
SMALL = 10_000
OTHERS = 18
OTHER_EACH = (BIG - SMALL) // OTHERS
# The main server runs without the limit; a second port (a vhost) with a
# limit too high to reach, so the cost of counting is measured side by side.
RL_PORT = pfstack.free_port()
# A third port without the key cache: what authentication costs without it.
NOCACHE_PORT = pfstack.free_port()
# A fourth without the list cache: every list request reads its page (the
# database's work per request, and what a request for a page nobody asked
# for recently costs).
UNCACHED_PORT = pfstack.free_port()
SOAK = 30 if QUICK else 300
# Steady state: both children and their pooled connections exist before
# the first request (no child spawned, no connection opened mid-run), and
# no pooled connection is closed for being idle: mod_dbd closes any idle
# longer than DBDExptime when it next comes up, and reopening it (a new
# backend, every statement prepared again) mid-run showed as 200-300 ms
# p99 spikes on the details.
# The database gate lets 4 requests per child (8 in all on 2 cores) run
# statements at once, the others in arrival order (README, "Database gate").
CHILDREN, GATE = 2, 4
GATE_TOTAL = CHILDREN * GATE  # the most statements the module runs at once
TUNING = (f"StartServers {CHILDREN}\nServerLimit {CHILDREN}\nThreadsPerChild 32\n"
          "MinSpareThreads 16\n"
          f"MaxSpareThreads 64\nMaxRequestWorkers {CHILDREN * 32}\nDBDMin 32\nDBDKeep 32\n"
          f"DBDMax 32\nDBDExptime 3600\nPermafrostDatabaseConcurrency {GATE}\n"
          # The static ceiling as httpd serves files best on this machine:
          # the 40 KB page at 1,500-2,000 req/s mapped, 4,300-4,500 read,
          # 4,900 by sendfile (wrk, 32 connections, 2026-12-07).
          "EnableMMAP Off\nEnableSendfile On\n")
# PF_BENCH_EXTRA_CONF (experiments only) replaces all of it; the labels in
# RESULTS.md still describe the configuration above.
EXTRA = os.environ.get("PF_BENCH_EXTRA_CONF", TUNING + "PermafrostRateLimit off\n"
                       f"Listen 127.0.0.1:{RL_PORT}\n<VirtualHost 127.0.0.1:{RL_PORT}>\n"
                       "    PermafrostRateLimit 1000000000 900\n</VirtualHost>\n"
                       f"Listen 127.0.0.1:{NOCACHE_PORT}\n"
                       f"<VirtualHost 127.0.0.1:{NOCACHE_PORT}>\n"
                       "    PermafrostRateLimit off\n    PermafrostKeyCacheTTL off\n"
                       "</VirtualHost>\n"
                       f"Listen 127.0.0.1:{UNCACHED_PORT}\n"
                       f"<VirtualHost 127.0.0.1:{UNCACHED_PORT}>\n"
                       "    PermafrostRateLimit off\n    PermafrostListCache off\n"
                       "</VirtualHost>")


def sh(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}): {p.stderr[-2000:]}")
    return p.stdout


def admin(dsn, *args):
    return sh([pfstack.admin_bin(), "--dsn", dsn] + [str(a) for a in args])


def served_ms(log, start):
    """p50 and p99, ms, of the time httpd itself took (%D, the access log's
    last field: from reading the request to logging it) for the requests
    logged after byte start of log."""
    with open(log, "rb") as f:
        f.seek(start)
        us = sorted(int(line.rsplit(None, 1)[-1]) for line in f.read().splitlines()
                    if line.strip())
    if not us:
        return 0.0, 0.0
    return us[len(us) // 2] / 1000, us[min(len(us) - 1, len(us) * 99 // 100)] / 1000


def on_cpus(cmd, cpus):
    return ["taskset", "-c", ",".join(map(str, sorted(cpus)))] + cmd if cpus else cmd


def wrk(url, key=None, duration=DURATION, log=None, cpus=None):
    # wrk drops answers slower than its timeout (2 s by default) from the
    # figures; deep offset pages take longer under load, so allow 10 s.
    cmd = ["wrk", "-t2", f"-c{CONNS}", f"-d{duration}", "--timeout", "10s", "--latency", url]
    if key:
        cmd[1:1] = ["-H", f"Authorization: Bearer {key}"]
    cmd = on_cpus(cmd, cpus)
    start = os.path.getsize(log) if log else 0
    out = sh(cmd)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(label):
        m = re.search(rf"\s{label}\s+([\d.]+)(us|ms|s)\b", out)
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    timeouts = re.search(r"timeout (\d+)", out)
    res = {"rps": rps, "p50": ms("50%"), "p99": ms("99%"),
           "errors": (int(non2xx.group(1)) if non2xx else 0)
           + (int(timeouts.group(1)) if timeouts else 0)}
    if log:
        time.sleep(0.2)  # the last answers' lines: logged just after they are sent
        res["in_p50"], res["in_p99"] = served_ms(log, start)
    return res


def wrk_median(url, key=None, duration=DURATION, log=None):
    runs = [wrk(url, key, duration, log) for _ in range(RUNS)]
    keys = ("rps", "p50", "p99") + (("in_p50", "in_p99") if log else ())
    med = {m: statistics.median(x[m] for x in runs) for m in keys}
    return dict(med, errors=sum(x["errors"] for x in runs), p99s=[x["p99"] for x in runs])


def process_tree(root):
    """root and every process descended from it (from /proc's parent links)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                # The command name is in parentheses and may hold spaces.
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def pin(root, cpus):
    """Bind every thread of root's process tree to cpus. Processes forked
    later inherit it (a new backend from the postmaster)."""
    for pid in process_tree(root):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                os.sched_setaffinity(int(tid), cpus)
            except OSError:
                pass  # the thread ended meanwhile


def cpu_ticks():
    """Per CPU: (busy, all) clock ticks since boot, from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            m = re.match(r"cpu(\d+)\s+(.*)", line)
            if m:
                v = [int(x) for x in m.group(2).split()]
                # idle and iowait are the 4th and 5th fields
                out[int(m.group(1))] = (sum(v) - v[3] - v[4], sum(v))
    return out


def busy_share(before, after, cpus):
    """The share of the time cpus were busy between two cpu_ticks()."""
    busy = sum(after[c][0] - before[c][0] for c in cpus)
    total = sum(after[c][1] - before[c][1] for c in cpus)
    return busy / total if total else 0.0


def split_cores(pg, h, cases, seconds):
    """The same requests with the database bound to one core and httpd and
    the load (wrk, or pgbench's client) to the other(s), so the database's
    limit is a core of its own rather than whatever the HTTP side leaves it.
    cases: (name, url, key, (pgbench script, defs) or None for a static
    file). Each case alternates the module, pgbench at CONNS clients and
    pgbench at GATE_TOTAL clients (what the database gate lets the module
    run at once), RUNS times; for each run also the share of time each
    side's cores were busy."""
    # The cores this process may use (a container's cpuset may not start at 0).
    every = os.sched_getaffinity(0)
    if len(every) < 2:
        return None
    db = {max(every)}
    web = every - db
    with open(os.path.join(pg.data, "postmaster.pid")) as f:
        postmaster = int(f.readline())
    pin(postmaster, db)  # the pool's backends too: they are its children
    pin(h.pid(), web)
    out = {}
    try:
        for name, url, key, sql in cases:
            settle(pg)
            wrk(url, key, "2s", cpus=web)
            runs = {"module": [], "pgbench": [], "pgbench_gate": []} if sql else {"module": []}
            for _ in range(RUNS):
                for side, got in runs.items():
                    settle(pg)
                    t0 = cpu_ticks()
                    if side == "module":
                        r = wrk(url, key, f"{seconds}s", cpus=web)
                    else:
                        r = pgbench(pg, *sql, seconds,
                                    CONNS if side == "pgbench" else GATE_TOTAL, cpus=web)
                    t1 = cpu_ticks()
                    r["db_busy"], r["web_busy"] = busy_share(t0, t1, db), busy_share(t0, t1, web)
                    got.append(r)
            out[name] = {side: {m: statistics.median(r[m] for r in got)
                                for m in got[0] if m != "errors"}
                         | {"all": [r["rps"] for r in got]}
                         for side, got in runs.items()}
            out[name]["module"]["errors"] = sum(r["errors"] for r in runs["module"])
    finally:
        pin(postmaster, every)
        pin(h.pid(), every)
    return out


def settle(pg, limit=60):
    """Wait until no statement of an earlier case is still running (a deep
    offset page outlives the wrk that asked for it), so each case starts on
    an idle database."""
    t0 = time.time()
    while time.time() - t0 < limit:
        busy = int(pg.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = 'permafrost' "
                           "AND state = 'active' AND pid <> pg_backend_pid()"))
        if busy == 0:
            return
        time.sleep(0.5)


def sql_statements():
    out = sh([os.path.join(ROOT, "bench", "pf_sqldump")])
    return dict(line.split("\t", 1) for line in out.splitlines())


def pgbench_script(stmts, calls):
    """The module's own statements for one request, NULL arguments written
    in, the others passed as pgbench variables (prepared mode). Every
    argument is varchar, as apr_dbd's pgsql driver declares them, so
    PostgreSQL casts exactly what it casts for the module."""
    lines, defs, n = [], {}, 0
    for label, args in calls:
        sql = stmts[label]
        for i in range(len(args), 0, -1):
            v = args[i - 1]
            if v is None:
                sql = sql.replace(f"%{i}", "NULL::varchar")
            else:
                n += 1
                defs[f"v{n}"] = v
                sql = sql.replace(f"%{i}", f":v{n}::varchar")
        # pgbench reads ":MI" as a variable; a quoted colon is the same
        # format for to_char and invisible to pgbench.
        lines.append(sql.replace("HH24:MI:SS", 'HH24":"MI":"SS') + ";")
    return "\n".join(lines) + "\n", defs


def pgbench(pg, script, defs, seconds, clients=CONNS, cpus=None):
    path = os.path.join(pg.dir, "bench.sql")
    with open(path, "w") as f:
        f.write(script)
    cmd = ["/usr/lib/postgresql/15/bin/pgbench", "-n", "-M", "prepared", "-c", str(clients),
           "-j", "2", "-T", str(seconds), "-f", path, "-r"]
    for k, v in defs.items():
        cmd += ["-D", f"{k}={v}"]
    out = sh(on_cpus(cmd + [pg.dsn], cpus))
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    lat = float(re.search(r"latency average = ([\d.]+) ms", out).group(1))
    return {"rps": tps, "avg_ms": lat}


def rss_of_children(h):
    pid = h.pid()
    out = sh(["ps", "--ppid", str(pid), "-o", "rss="])
    return sum(int(x) for x in out.split())


def rss_by_child(h):
    out = sh(["ps", "--ppid", str(h.pid()), "-o", "pid=,rss="])
    return {int(a): int(b) for a, b in (line.split() for line in out.splitlines() if line.strip())}


def soak(h, url, key, seconds):
    """wrk for `seconds` while the children's resident memory is sampled
    every 10 s; returns the samples (seconds, {pid: KiB})."""
    cmd = ["wrk", "-t2", f"-c{CONNS}", f"-d{seconds}s", "-H", f"Authorization: Bearer {key}",
           url]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    samples = []
    while p.poll() is None:
        samples.append((time.time() - t0, rss_by_child(h)))
        time.sleep(10)
    out = p.stdout.read()
    samples.append((time.time() - t0, rss_by_child(h)))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return samples, rps


def callgrind_total(rundir, dsn, side, key, path, n):
    """Instructions httpd executes for n keep-alive requests after a first
    one, counted by callgrind: one process (httpd -X), counting only inside
    ap_process_async_request (the request's hooks, the handler, the answer
    written)."""
    rl = "PermafrostRateLimit 1000000000 900" if side == "on" else "PermafrostRateLimit off"
    h = pfstack.Httpd(os.path.join(rundir, f"cg-{side}-{n}"), dsn, mpm="event",
                      extra=f"DBDMin 1\nDBDKeep 1\nDBDMax 2\nDBDExptime 3600\n{rl}\n")
    h.write_conf()
    # httpd -X runs as User, which writes the counts at exit.
    out = os.path.join(h.dir, "callgrind.out")
    os.chmod(h.dir, 0o777)
    open(out, "w").close()
    os.chmod(out, 0o666)
    p = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                          "--toggle-collect=ap_process_async_request", pfstack.APACHE, "-X",
                          "-f", h.conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    headers = {"Authorization": f"Bearer {key}"}
    try:
        for _ in range(240):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=120)
                conn.request("GET", path, headers=headers)
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("httpd under callgrind did not start")
        for i in range(n + 1):
            if i:
                conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                raise RuntimeError(f"callgrind run ({side}): {r.status}")
        conn.close()
    finally:
        p.terminate()
        p.wait(timeout=300)
    # Every function's own count; memcpy's apart, since valgrind counts
    # each byte `rep movsb` copies as an instruction.
    text = sh(["callgrind_annotate", "--threshold=100", out])
    total = copy = 0
    for count, where in re.findall(r"^\s*([\d,]+)\s+(?:\([\d.]+%\)\s+)?(\S.*)$", text, re.M):
        n = int(count.replace(",", ""))
        if "PROGRAM TOTALS" in where:
            total = n
        elif re.search(r"memcpy|memmove", where):
            copy += n
    return total, copy


def instructions_per_request(rundir, dsn, side, key, path):
    """Per warm request: two runs differ only in how many requests follow the
    first (cold: key lookup, page read), so their difference is that many
    warm requests. Unlike wall-clock figures on this shared machine, the
    count does not move with what else runs; it leaves out the kernel, the
    MPM's event loop and the database."""
    few, more = CG_REQUESTS
    (t1, c1), (t0, c0) = (callgrind_total(rundir, dsn, side, key, path, n) for n in (more, few))
    return {"all": (t1 - t0) / (more - few), "copy": (c1 - c0) / (more - few)}


def main():
    rundir = "/var/tmp/pf-bench"
    shutil.rmtree(rundir, ignore_errors=True)
    os.makedirs(rundir)
    os.chmod(rundir, 0o755)
    pg = pfstack.Postgres(rundir)
    pg.init()
    pg.start()
    pg.create_database()
    sh([pfstack.admin_bin(), "--dsn", pg.dsn, "migrate", "--sql-dir", os.path.join(ROOT, "sql")])
    t0 = time.time()
    big = json.loads(admin(pg.dsn, "--json", "customer", "create", "Big Customer"))["id"]
    admin(pg.dsn, "demo-data", "--customer", big, "--tenants", "5", "--identities", "20000",
          "--findings", BIG)
    small = json.loads(admin(pg.dsn, "--json", "customer", "create", "Small Customer"))["id"]
    admin(pg.dsn, "demo-data", "--customer", small, "--tenants", "3", "--identities", "2000",
          "--findings", SMALL)
    for i in range(OTHERS):
        c = json.loads(admin(pg.dsn, "--json", "customer", "create", f"Other {i}"))["id"]
        admin(pg.dsn, "demo-data", "--customer", c, "--tenants", "3", "--identities", "2000",
              "--findings", OTHER_EACH, "--seed", i + 2)
    pg.psql("VACUUM ANALYZE")
    # Write the load out now, so no checkpoint of it lands in the middle of a
    # measured case.
    pg.psql("CHECKPOINT", pg.admin_dsn)
    load_s = time.time() - t0
    total = int(pg.psql("SELECT count(*) FROM permafrost.findings"))

    def key(cid):
        return json.loads(admin(pg.dsn, "--json", "key", "create", "--customer", cid, "--name",
                                "bench", "--scope", "read:findings", "--scope",
                                "read:identities", "--scope", "read:roles"))["key"]
    kbig, ksmall = key(big), key(small)
    tenant = pg.psql(f"SELECT tenant_id FROM permafrost.tenants WHERE customer_id='{big}' "
                     f"ORDER BY 1 LIMIT 1")
    fid = pg.psql(f"SELECT id FROM permafrost.findings WHERE customer_id='{big}' LIMIT 1 "
                  f"OFFSET 777")
    iid = pg.psql(f"SELECT id FROM permafrost.identities WHERE customer_id='{big}' LIMIT 1 "
                  f"OFFSET 777")
    h = pfstack.Httpd(rundir, pg.dsn, mpm="event", extra=EXTRA)
    h.start()
    base = h.base + "/api/v1"
    ubase = f"http://127.0.0.1:{UNCACHED_PORT}/api/v1"
    filt = "severity=critical,high&status=open"

    def get(url, k):
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {k}"})
        with urllib.request.urlopen(req) as r:
            return r.read()

    page_body = get(f"{base}/findings?{filt}&limit=100", kbig)
    deep_offset = min(100_000, BIG // 2)
    deep = json.loads(get(f"{base}/findings?limit=100&offset={deep_offset - 200}", kbig))
    cursor1000 = deep["meta"]["nextCursor"]
    with open(os.path.join(h.dir, "htdocs", "page.json"), "wb") as f:
        f.write(page_body)
    detail_body = get(f"{base}/findings/{fid}", kbig)
    with open(os.path.join(h.dir, "htdocs", "detail.json"), "wb") as f:
        f.write(detail_body)
    matching = json.loads(page_body)["meta"]["total"]

    rss0 = rss_of_children(h)
    res = {}
    cases = [
        ("list", f"{base}/findings?limit=100", kbig),
        ("list_filtered", f"{base}/findings?{filt}&limit=100", kbig),
        ("list_tenant", f"{base}/findings?tenant={tenant}&limit=100", kbig),
        ("list_deep_offset", f"{base}/findings?limit=100&offset={deep_offset}", kbig),
        ("list_cursor_deep", f"{base}/findings?limit=100&cursor={cursor1000}", kbig),
        ("finding_detail", f"{base}/findings/{fid}", kbig),
        ("identity_detail", f"{base}/identities/{iid}", kbig),
        ("small_list_filtered", f"{base}/findings?{filt}&limit=100", ksmall),
        ("uncached_list", f"{ubase}/findings?limit=100", kbig),
        ("uncached_list_filtered", f"{ubase}/findings?{filt}&limit=100", kbig),
        ("uncached_list_tenant", f"{ubase}/findings?tenant={tenant}&limit=100", kbig),
        # Each of these takes seconds under load: runs long enough to finish some.
        ("uncached_list_deep_offset", f"{ubase}/findings?limit=100&offset={deep_offset}", kbig,
         "5s" if QUICK else "20s"),
        ("uncached_list_cursor_deep", f"{ubase}/findings?limit=100&cursor={cursor1000}", kbig),
        # Past the end of the filtered list: answered by the list's head alone.
        ("uncached_list_past_end", f"{ubase}/findings?{filt}&limit=100&offset=10000000", kbig),
        ("uncached_small_list_filtered", f"{ubase}/findings?{filt}&limit=100", ksmall),
        # The other lists of the big customer (20,000 identities), first page.
        ("uncached_identities", f"{ubase}/identities?limit=100", kbig),
        ("uncached_roles", f"{ubase}/roles?limit=100", kbig),
        ("static_same_bytes", f"{h.base}/page.json", None),
        ("static_detail_bytes", f"{h.base}/detail.json", None),
    ]
    access_log = os.path.join(h.dir, "access.log")
    for name, url, k, *duration in cases:
        settle(pg)
        wrk(url, k, "2s")  # warm caches and connection pools
        settle(pg)
        res[name] = wrk_median(url, k, *duration, log=access_log)
    rss1 = rss_of_children(h)
    # Rate limit off / on in pairs, each pair's order the reverse of the one
    # before (off-on, on-off, ...): the machine's drift then weighs on both
    # sides alike, and each pair's ratio compares runs a few seconds apart.
    off, on = [], []
    for i in range(RL_PAIRS):
        settle(pg)
        for side in (("off", "on") if i % 2 == 0 else ("on", "off")):
            url = (f"http://127.0.0.1:{RL_PORT}/api/v1" if side == "on" else base) + \
                f"/findings?{filt}&limit=100"
            (on if side == "on" else off).append(wrk(url, kbig, RL_DURATION)["rps"])
    res["ratelimit"] = {"off": off, "on": on}
    nocache = []
    for _ in range(3):
        nocache.append(wrk(f"http://127.0.0.1:{NOCACHE_PORT}/api/v1/findings?{filt}&limit=100",
                           kbig)["rps"])
    res["ratelimit"]["nocache"] = nocache
    cg_path = f"/api/v1/findings?{filt}&limit=100"
    res["ratelimit"]["ir"] = {side: instructions_per_request(rundir, pg.dsn, side, kbig, cg_path)
                              for side in ("off", "on")}
    # The soak reads the page from the database on every request: the
    # longer path (statement, rows, JSON writer) is the one that could grow.
    res["soak"] = soak(h, f"{ubase}/findings?{filt}&limit=100", kbig, SOAK)

    stmts = sql_statements()
    filt_args = [big, None, None, "{critical,high}", "{critical,high}", "{open}", "{open}",
                 None, None]
    # What one request runs with its key in the key cache: one statement
    # for a list, its quick form (tenant check, total and page; the filters
    # twice).
    list_calls = [("pf_findings_list_q", [big, big, None, None] + filt_args + filt_args
                   + ["101", "0"])]
    secs = 5 if QUICK else 15
    res["pg_list_filtered"] = pgbench(pg, *pgbench_script(stmts, list_calls), secs)
    # What a list request answered from the list cache runs.
    res["pg_data_version"] = pgbench(pg, *pgbench_script(stmts, [("pf_data_version", [big])]),
                                     secs)
    det_calls = [("pf_finding_get", [big, fid, None, None])]
    res["pg_finding_detail"] = pgbench(pg, *pgbench_script(stmts, det_calls), secs)
    idet_calls = [("pf_identity_get", [big, iid, None, None])]
    res["pg_identity_detail"] = pgbench(pg, *pgbench_script(stmts, idet_calls), secs)
    res["split"] = split_cores(pg, h, [
        ("uncached_list_filtered", f"{ubase}/findings?{filt}&limit=100", kbig,
         pgbench_script(stmts, list_calls)),
        ("finding_detail", f"{base}/findings/{fid}", kbig, pgbench_script(stmts, det_calls)),
        ("identity_detail", f"{base}/identities/{iid}", kbig,
         pgbench_script(stmts, idet_calls)),
        # httpd's own limit on its core, for the same bytes.
        ("static_same_bytes", f"{h.base}/page.json", None, None),
        ("static_detail_bytes", f"{h.base}/detail.json", None, None)], 2 if QUICK else 5)
    h.stop()
    pg.stop()
    write_results(res, load_s, total, matching, len(page_body), len(detail_body), rss0, rss1)


def split_table(sp):
    if not sp:
        return ["", "The database on a core of its own: not measured (one core)."]
    lines = ["", f"The database on a core of its own (same run, after the cases above): "
             f"PostgreSQL and its backends bound to the last core, httpd and the client (wrk, "
             f"or pgbench's) to the other; each case alternates the module, pgbench at {CONNS} "
             f"clients and pgbench at {GATE_TOTAL} (the most statements the module's database "
             f"gate runs at once), {RUNS} times, medians; \"busy\" is the share of the run "
             f"the core(s) were busy (/proc/stat):", "",
             "| case | module req/s | p50 ms | p99 ms | db core busy | other busy | "
             f"pgbench {CONNS} /s | db busy | pgbench {GATE_TOTAL} /s | db busy | other busy | "
             f"module / pgbench {CONNS} | module / pgbench {GATE_TOTAL} |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, v in sp.items():
        m = v["module"]
        if "pgbench" not in v:
            lines.append(f"| {name} | {m['rps']:.0f} | {m['p50']:.2f} | {m['p99']:.2f} | "
                         f"{m['db_busy']:.0%} | {m['web_busy']:.0%} | | | | | | | |")
            continue
        a, g = v["pgbench"], v["pgbench_gate"]
        lines.append(f"| {name} | {m['rps']:.0f} | {m['p50']:.2f} | {m['p99']:.2f} | "
                     f"{m['db_busy']:.0%} | {m['web_busy']:.0%} | {a['rps']:.0f} | "
                     f"{a['db_busy']:.0%} | {g['rps']:.0f} | {g['db_busy']:.0%} | "
                     f"{g['web_busy']:.0%} | "
                     f"{m['rps'] / a['rps']:.0%} | {m['rps'] / g['rps']:.0%} |")
    lines += ["", "Each run, req/s: " + "; ".join(
        f"{name} " + ", ".join(f"{side} " + ", ".join(f"{x:.0f}" for x in r["all"])
                               for side, r in v.items())
        for name, v in sp.items())]
    return lines


def split_targets(sp):
    """The issue's targets read against the split's ceilings."""
    if not sp:
        return []
    ratio = lambda name: min(sp[name]["module"]["rps"] / sp[name][k]["rps"]  # noqa: E731
                             for k in ("pgbench", "pgbench_gate"))
    ok = lambda x, t: "met" if x >= t else "MISSED"  # noqa: E731
    lst = sp["uncached_list_filtered"]["module"]["rps"]
    # What httpd serves the same bytes at on the same core(s), and its share
    static = lambda name, st: sp[name]["module"]["rps"] / sp[st]["module"]["rps"]  # noqa: E731

    def model(name, st):
        g = sp[name]["pgbench_gate"]
        return 1 / (sp[st]["module"]["web_busy"] / sp[st]["module"]["rps"]
                    + g["web_busy"] / g["rps"])
    return [f"- with the database on a core of its own (the table above; each ratio against "
            f"the higher of the two pgbench ceilings): filtered list without the list cache "
            f"{lst:.0f} req/s (target 3,500) {ok(lst, 3500)}, "
            f"{ratio('uncached_list_filtered'):.0%} of pgbench (target 80 %) "
            f"{ok(ratio('uncached_list_filtered'), 0.80)}; finding detail "
            f"{ratio('finding_detail'):.0%} (target 85 %) {ok(ratio('finding_detail'), 0.85)}; "
            f"identity detail {ratio('identity_detail'):.0%} {ok(ratio('identity_detail'), 0.85)}"
            f"; against the static file of the same bytes on httpd's core (the HTTP side's "
            f"own limit): filtered list {static('uncached_list_filtered', 'static_same_bytes'):.0%}"
            f", finding detail {static('finding_detail', 'static_detail_bytes'):.0%}, identity "
            f"detail {static('identity_detail', 'static_detail_bytes'):.0%} (the finding's "
            f"bytes)"
            f"; a model of that side's ceiling (httpd core time per request of the static "
            f"file, plus pgbench's client time per statement at {GATE_TOTAL} clients: its core's "
            f"busy share over its rate; what a module adding no work of its own could reach "
            f"there): " + ", ".join(
                f"{k} {model(k, st):.0f}/s, reached {sp[k]['module']['rps'] / model(k, st):.0%}"
                for k, st in (("uncached_list_filtered", "static_same_bytes"),
                              ("finding_detail", "static_detail_bytes"),
                              ("identity_detail", "static_detail_bytes")))
            + "; p99 " + ", ".join(f"{k} {v['module']['p99']:.1f} ms "
                                  f"{'ok' if v['module']['p99'] < 25 else 'MISSED'}"
                                  for k, v in sp.items() if "pgbench" in v)]


def write_results(res, load_s, total, matching, page_bytes, detail_bytes, rss0, rss1):
    mem = sh(["free", "-g"]).splitlines()[1].split()[1]
    ver = sh(["/usr/sbin/apache2", "-v"]).splitlines()[0]
    pgv = sh(["/usr/lib/postgresql/15/bin/postgres", "--version"]).strip()
    lines = [
        "# Benchmark results", "",
        f"Run: `./bench/run{' --quick' if QUICK else ''}` on "
        f"{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores, {mem} GiB, "
        f"{platform.platform()}; {ver}; {pgv}; wrk 2 threads, {CONNS} connections, "
        f"{RUNS} runs of {DURATION} per case after a 2 s warm-up, each case started once the "
        f"database is idle (figures: medians of the runs); httpd event MPM, {CHILDREN} children x 32 threads, "
        f"32 pooled connections each (opened at start, none closed for idling: DBDMin = DBDKeep "
        f"= DBDMax = 32, DBDExptime 3600); `PermafrostDatabaseConcurrency {GATE}` (statements "
        f"of at most {GATE} requests per child in flight); key cache and list cache "
        f"on; rate limit off on the main port, on (never reached) on a second port; "
        f"`uncached_*` cases on a port with `PermafrostListCache off`; static files served "
        f"with `EnableMMAP Off` and `EnableSendfile On`.", "",
        f"Data: {total:,} findings in all, the big customer {BIG:,}; the filtered page "
        f"(`severity=critical,high&status=open`) matches {matching:,} and is {page_bytes:,} "
        f"bytes; the finding detail is {detail_bytes:,} bytes. Load time (demo-data for 20 customers + VACUUM ANALYZE): {load_s:.0f} s.", "",
        "p50 and p99 are wrk's (from sending a request to reading its answer). \"In httpd\" "
        "is the time httpd itself took for the same requests, from the access log's `%D` "
        "(from reading the request to logging it, after the answer is written; the "
        "database's part included, the wait in the MPM's queues and the kernel's and "
        "wrk's not).", "",
        "| case | req/s | p50 ms | p99 ms | p99 ms of each run | in httpd p50 ms | "
        "in httpd p99 ms | non-2xx or timed out |",
        "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for k, v in res.items():
        if "p50" in v and "rps" in v:
            lines.append(f"| {k} | {v['rps']:.0f} | {v['p50']:.2f} | {v['p99']:.2f} | "
                         + ", ".join(f"{x:.1f}" for x in v["p99s"])
                         + f" | {v['in_p50']:.2f} | {v['in_p99']:.2f} | {v['errors']} |")
    lines += ["", "pgbench, the module's own SQL for the same request (prepared, "
              f"{CONNS} clients, as run with the key cache warm):", "",
              "| case | statements groups/s | avg ms |", "|---|---:|---:|"]
    for k, v in res.items():
        if "avg_ms" in v and "rps" in v:
            lines.append(f"| {k} | {v['rps']:.0f} | {v['avg_ms']:.2f} |")
    lines += split_table(res.get("split"))
    r = res
    rl = res["ratelimit"]
    pairs = sorted(a / b for a, b in zip(rl["on"], rl["off"]))
    rl["paired"] = statistics.median(pairs)
    rl["quartiles"] = statistics.quantiles(pairs, n=4)[::2]
    lines += ["", f"Rate limit cost (filtered list, key cache warm, same run, {RL_PAIRS} pairs "
              f"of {RL_DURATION} runs, each pair's order the reverse of the one before): off "
              + ", ".join(f"{x:.0f}" for x in rl["off"]) + " req/s; on "
              + ", ".join(f"{x:.0f}" for x in rl["on"]) + " req/s; on/off of each pair, "
              "sorted: " + ", ".join(f"{x:.3f}" for x in pairs) + f"; median {rl['paired']:.3f}, "
              f"quartiles {rl['quartiles'][0]:.3f}-{rl['quartiles'][1]:.3f}. "
              "Key cache off (every request looks its key up; limit off): "
              + ", ".join(f"{x:.0f}" for x in rl["nocache"]) + " req/s; median cache off / on = "
              f"{statistics.median(rl['nocache']) / statistics.median(rl['off']):.3f}"]
    ir = rl["ir"]
    added = ir["on"]["all"] - ir["off"]["all"]
    with open("/proc/cpuinfo") as f:
        mhz = float(re.search(r"cpu MHz\s*:\s*([\d.]+)", f.read()).group(1))
    rl["ir_ratio"] = ir["on"]["all"] / ir["off"]["all"]
    rl["ir_ratio_nocopy"] = ((ir["on"]["all"] - ir["on"]["copy"])
                             / (ir["off"]["all"] - ir["off"]["copy"]))
    lines += ["", "Rate limit cost in instructions (callgrind, httpd -X, the filtered list "
              "answered from the list cache, key cache warm; counted inside "
              "ap_process_async_request, per request: the difference of a run of "
              f"{CG_REQUESTS[1]} requests and one of {CG_REQUESTS[0]}, after a first): off "
              f"{ir['off']['all']:,.0f}, on {ir['on']['all']:,.0f}, so the limit adds "
              f"{added:,.0f} (on/off {rl['ir_ratio']:.3f}). "
              f"Of these, {ir['off']['copy']:,.0f} are memcpy, mostly the kept answer's copy, "
              "which valgrind counts byte by byte (`rep movsb`) though the processor copies "
              f"it in far fewer steps; without memcpy on/off is {rl['ir_ratio_nocopy']:.3f}. "
              "Neither count includes the kernel (loopback TCP both ways), the MPM's event "
              "loop, the database or wrk, which share the same 2 cores: at the main run's "
              f"{res['list_filtered']['rps']:,.0f} req/s a request costs "
              f"{2e6 / res['list_filtered']['rps']:.0f} us of the machine's CPU in all, and "
              f"the limit's {added:,.0f} instructions, at {mhz:,.0f} MHz and one to two "
              f"instructions per cycle (no hardware counters here to measure it), "
              f"{added / mhz / 2:.1f}-{added / mhz:.1f} us of it "
              f"({added / mhz / 2 / (2e6 / res['list_filtered']['rps']):.1%}-"
              f"{added / mhz / (2e6 / res['list_filtered']['rps']):.1%})."]
    samples, soak_rps = res["soak"]
    base_t, base = next(((t, m) for t, m in samples if t >= 60), samples[0])
    end_t, end = samples[-1]
    common = sorted(set(base) & set(end))
    growth = [(end[p] - base[p]) / base[p] for p in common if base[p]]
    lines += ["", f"Memory soak: the filtered list for {SOAK} s at {CONNS} connections "
              f"({soak_rps:.0f} req/s); httpd children's resident memory, KiB:", "",
              "| seconds | " + " | ".join(f"pid {p}" for p in sorted(samples[-1][1])) + " |",
              "|---:|" + "---:|" * len(samples[-1][1])]
    for t, m in samples:
        lines.append(f"| {t:.0f} | " + " | ".join(str(m.get(p, "")) for p in
                                                   sorted(samples[-1][1])) + " |")
    worst = max(growth) if growth else 0.0
    lines += ["", f"Growth per child from {base_t:.0f} s to {end_t:.0f} s: "
              + ", ".join(f"{g:+.1%}" for g in growth)
              + f"; target within 10 %: {'met' if worst <= 0.10 else 'MISSED'}"]
    ratio = lambda a, b: a / b if b else 0  # noqa: E731
    lines += ["", "Ratios and targets (issue 6):", "",
              f"- filtered list: {r['list_filtered']['rps']:.0f} req/s with the list cache, "
              f"{r['uncached_list_filtered']['rps']:.0f} req/s without (target 3,500): "
              f"{'met' if r['list_filtered']['rps'] >= 3500 else 'MISSED'} with the cache, "
              f"{'met' if r['uncached_list_filtered']['rps'] >= 3500 else 'MISSED'} without",
              f"- list vs pgbench ceiling of the list statement (target 80 %): without the "
              f"cache {ratio(r['uncached_list_filtered']['rps'], r['pg_list_filtered']['rps']):.0%}"
              f", with it {ratio(r['list_filtered']['rps'], r['pg_list_filtered']['rps']):.0%}"
              f"; with the cache against the ceiling of what it runs (pf_data_version, "
              f"{r['pg_data_version']['rps']:.0f}/s): "
              f"{ratio(r['list_filtered']['rps'], r['pg_data_version']['rps']):.0%}",
              f"- finding detail vs pgbench: "
              f"{ratio(r['finding_detail']['rps'], r['pg_finding_detail']['rps']):.0%} "
              f"(target 85 %)",
              f"- identity detail vs pgbench: "
              f"{ratio(r['identity_detail']['rps'], r['pg_identity_detail']['rps']):.0%} "
              f"(target 85 %)",
              f"- filtered list vs static file of the same bytes: "
              f"{ratio(r['list_filtered']['rps'], r['static_same_bytes']['rps']):.0%}",
              f"- finding detail vs static file of the same bytes (httpd's own ceiling for "
              f"that answer): "
              f"{ratio(r['finding_detail']['rps'], r['static_detail_bytes']['rps']):.0%}; the "
              f"static file vs the finding detail's pgbench: "
              f"{ratio(r['static_detail_bytes']['rps'], r['pg_finding_detail']['rps']):.0%}",
              "- both ceilings on the same 2 cores (a model, not a measurement: the machine's "
              "time per request of the static file plus that of the statement under pgbench, "
              "whose client does what the module's database client does; what a module "
              "adding no work of its own could reach): " + ", ".join(
                  f"{k} {1 / (1 / r[st]['rps'] + 1 / r[pgk]['rps']):.0f}/s, reached "
                  f"{r[k]['rps'] * (1 / r[st]['rps'] + 1 / r[pgk]['rps']):.0%}"
                  for k, st, pgk in (("finding_detail", "static_detail_bytes", "pg_finding_detail"),
                                     ("identity_detail", "static_detail_bytes",
                                      "pg_identity_detail"),
                                     ("uncached_list_filtered", "static_same_bytes",
                                      "pg_list_filtered"))),
              *split_targets(res.get("split")),
              "- p99 under 25 ms: " + ", ".join(
                  f"{k} {'ok' if 0 < v['p99'] < 25 else 'MISSED'}" for k, v in r.items()
                  if "p99" in v and not k.startswith("static_")),
              f"- authentication and rate limiting under 5 % (limit on/off, key cache warm, "
              f"median of the pairs): {rl['paired']:.3f}, "
              f"{'met' if rl['paired'] >= 0.95 else 'MISSED'}; the pairs' middle half spans "
              f"{(rl['quartiles'][1] - rl['quartiles'][0]) * 100:.1f} points; httpd's "
              f"instructions per request (callgrind, above): +{rl['ir_ratio'] - 1:.1%}, "
              f"+{rl['ir_ratio_nocopy'] - 1:.1%} without memcpy",
              "- p99 of the static files, for scale: " + ", ".join(
                  f"{k} {v['p99']:.1f} ms" for k, v in r.items() if k.startswith("static_")),
              "- p99 in httpd (the access log's %D; not the target, which is wrk's p99, "
              "but where the time goes): " + ", ".join(
                  f"{k} {v['in_p99']:.1f} ms" for k, v in r.items()
                  if "in_p99" in v and not k.startswith("static_")),
              f"- flat with size: p50 filtered first page, 1M-finding customer / 10k-finding "
              f"customer = {ratio(r['uncached_list_filtered']['p50'], r['uncached_small_list_filtered']['p50']):.2f}"
              f" without the list cache, "
              f"{ratio(r['list_filtered']['p50'], r['small_list_filtered']['p50']):.2f} with it"
              f" (target < 2)",
              f"- cursor page {min(100_000, BIG // 2) // 100:,} / page 1 p50, without the list "
              f"cache = {ratio(r['uncached_list_cursor_deep']['p50'], r['uncached_list']['p50']):.2f}"
              f" (target < 2); offset {min(100_000, BIG // 2):,} / page 1 p50 = "
              f"{ratio(r['uncached_list_deep_offset']['p50'], r['uncached_list']['p50']):.2f}",
              f"- httpd children RSS: {rss0 / 1024:.0f} MiB before the cases, "
              f"{rss1 / 1024:.0f} MiB after them (the soak is below)",
              ""]
    out = os.path.join(ROOT, "bench", "RESULTS.md")
    with open(out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
