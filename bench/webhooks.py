"""Webhook delivery figures, measured in one run against the real stack: a
private PostgreSQL cluster, httpd with the built module (event MPM) and a
receiver on 127.0.0.1.

- Throughput: 20 subscriptions and one analyzer pass with 10,000 new
  critical findings queue 2,000 deliveries of 100 findings each; the figure
  is deliveries per second from the pass's commit to the last arrival.
- Latency: one finding per pass, one subscription; the time from the
  pass's completed_at (taken from the database clock, the same machine's
  clock) to the receiver's arrival, median and p99, with the default
  PermafrostWebhookInterval of 2 s.

Writes its section into bench/RESULTS.md (between markers, replacing an
earlier one). Run through ./bench/run (after the API benchmark) or alone:
./bench/run --webhooks-only.
"""
import datetime
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "t"))
import pfstack  # noqa: E402
from pfreceiver import Receiver  # noqa: E402

BEGIN, END = "<!-- webhooks:begin -->", "<!-- webhooks:end -->"
SUBSCRIPTIONS = int(os.environ.get("PF_BENCH_WH_SUBSCRIPTIONS", "20"))
FINDINGS = 10000
LATENCY_SAMPLES = int(os.environ.get("PF_BENCH_WH_SAMPLES", "60"))
CONF = """
PermafrostSecretKeyFile "{key}"
PermafrostWebhookAllowPrivateNetworks On
PermafrostWebhookAllowHTTP On
PermafrostRateLimit off
LogLevel warn
"""


def admin(dsn, *args):
    p = subprocess.run([pfstack.admin_bin(), "--dsn", dsn, "--json"] + list(args), check=True,
                       capture_output=True, text=True)
    return json.loads(p.stdout) if p.stdout.strip() else None


def post(port, key, path, body=None):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", path, body=json.dumps(body) if body is not None else None,
              headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    assert r.status in (201, 202), (r.status, data)
    return json.loads(data)["data"]


def pass_sql(customer, tenant, n):
    pid = str(uuid.uuid4())
    return pid, (
        f"INSERT INTO permafrost.analyzer_passes (id, customer_id, tenant_id) "
        f"VALUES ('{pid}', '{customer}', '{tenant}');"
        f"INSERT INTO permafrost.findings (customer_id, tenant_id, severity, finding_type, title,"
        f" first_seen_pass_id, first_seen_at) SELECT '{customer}', '{tenant}', 'critical',"
        f" 'bench', 'Bench finding ' || i, '{pid}', now() - make_interval(secs => i)"
        f" FROM generate_series(1, {n}) i;"
        f"UPDATE permafrost.analyzer_passes SET completed_at = clock_timestamp()"
        f" WHERE id = '{pid}';")


def pct(values, p):
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]


def main():
    rundir = tempfile.mkdtemp(prefix="pf-bench-wh-")
    os.chmod(rundir, 0o755)
    pg = pfstack.Postgres(rundir)
    pg.init()
    pg.start()
    h = None
    rx = Receiver()
    try:
        pg.create_database()
        subprocess.run([pfstack.admin_bin(), "--dsn", pg.dsn, "migrate", "--sql-dir",
                        os.path.join(ROOT, "sql")], check=True, stdout=subprocess.DEVNULL)
        keyfile = os.path.join(rundir, "secret.key")
        subprocess.run([pfstack.admin_bin(), "secret-key", "generate", keyfile], check=True)
        h = pfstack.Httpd(rundir, pg.dsn, extra=CONF.format(key=keyfile))
        h.start()
        cust = admin(pg.dsn, "customer", "create", "Bench")["id"]
        tenant = str(uuid.uuid4())
        admin(pg.dsn, "tenant", "add", "--customer", cust, "--tenant-id", tenant, "--name", "B")
        key = admin(pg.dsn, "key", "create", "--customer", cust, "--name", "bench", "--scope",
                    "manage:webhooks")["key"]

        # Throughput.
        for i in range(SUBSCRIPTIONS):
            post(h.port, key, "/api/v1/webhooks",
                 {"name": f"bench {i}", "webhookUrl": rx.url(f"/ok/tp{i}"),
                  "webhookType": "generic", "eventTypes": ["finding_critical"]})
        expected = SUBSCRIPTIONS * (FINDINGS // 100)
        _, sql = pass_sql(cust, tenant, FINDINGS)
        t0 = time.time()
        pg.psql(sql)
        committed = time.time()
        got = rx.wait_for("/ok/tp", expected, timeout=600)
        last = max(r["t"] for r in got)
        ids = {r["headers"]["x-permafrost-delivery"] for r in got}
        body_bytes = statistics.median(len(r["body"]) for r in got)
        tp = {"deliveries": len(got), "distinct": len(ids), "expected": expected,
              "seconds": last - committed, "per_s": len(got) / (last - committed),
              "insert_s": committed - t0, "body": body_bytes}

        # Latency: one delivery at a time, default interval (2 s).
        w = post(h.port, key, "/api/v1/webhooks",
                 {"name": "latency", "webhookUrl": rx.url("/ok/lat"),
                  "webhookType": "generic", "eventTypes": ["finding_high"]})
        lat = []
        for i in range(LATENCY_SAMPLES):
            pid = str(uuid.uuid4())
            before = len(rx.received("/ok/lat"))
            pg.psql(f"INSERT INTO permafrost.analyzer_passes (id, customer_id, tenant_id) "
                    f"VALUES ('{pid}', '{cust}', '{tenant}');"
                    f"INSERT INTO permafrost.findings (customer_id, tenant_id, severity,"
                    f" finding_type, title, first_seen_pass_id) VALUES ('{cust}', '{tenant}',"
                    f" 'high', 'bench', 'latency {i}', '{pid}');"
                    f"UPDATE permafrost.analyzer_passes SET completed_at = clock_timestamp()"
                    f" WHERE id = '{pid}';")
            done = pg.psql(f"SELECT extract(epoch FROM completed_at) FROM "
                           f"permafrost.analyzer_passes WHERE id = '{pid}'")
            got = rx.wait_for("/ok/lat", before + 1, timeout=30)
            arrival = got[-1]["t"]
            lat.append((arrival - float(done)) * 1000.0)
            # A random pause decouples the next pass from the drainer's
            # schedule; a fixed one would always land at the same phase.
            time.sleep(random.uniform(0.0, 2.0))
        del w
        res = {"tp": tp, "lat_ms": lat}
    finally:
        if h:
            h.stop()
        rx.close()
        pg.stop()
    write(res)
    print(json.dumps({"throughput": res["tp"],
                      "latency_ms": {"p50": statistics.median(res["lat_ms"]),
                                     "p99": pct(res["lat_ms"], 99)}}, indent=1))


def write(res):
    tp, lat = res["tp"], res["lat_ms"]
    now = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")
    ncpu = os.cpu_count()
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    lines = [
        BEGIN,
        "## Webhook delivery",
        "",
        f"Run: `./bench/run --webhooks-only` (also the last step of `./bench/run`) on {now}; "
        f"{ncpu} cores, {mem_kb // 1048576} GiB, {platform.platform()}. One httpd (event MPM, "
        "defaults: PermafrostWebhookConcurrency 16, PermafrostWebhookInterval 2, timeout 10 s), "
        "a Python receiver (ThreadingHTTPServer) on 127.0.0.1 answering 200 at once, the "
        "database on the same 2 cores.",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| deliveries queued by one pass ({SUBSCRIPTIONS} subscriptions x {FINDINGS:,} new "
        f"critical findings / 100) | {tp['expected']:,} |",
        f"| deliveries received (distinct ids) | {tp['deliveries']:,} ({tp['distinct']:,}) |",
        f"| median body size | {int(tp['body']):,} bytes |",
        f"| from the pass's commit to the last arrival | {tp['seconds']:.1f} s |",
        f"| **deliveries per second** | **{tp['per_s']:.0f}** |",
        f"| completed_at to receiver, one delivery, median ({len(lat)} samples) | "
        f"{statistics.median(lat):.0f} ms |",
        f"| completed_at to receiver, p99 | {pct(lat, 99):.0f} ms |",
        f"| completed_at to receiver, min / max | {min(lat):.0f} / {max(lat):.0f} ms |",
        "",
        "The latency is dominated by the polling interval: a pass waits for the next look at "
        "the queue (up to 2 s with the default, about 1 s on average; passes are spaced by a "
        "random 0-2 s so they land at every phase of it). A shorter "
        "PermafrostWebhookInterval trades database polls (one small indexed query per "
        "interval per httpd) for latency.",
        END,
    ]
    path = os.path.join(ROOT, "bench", "RESULTS.md")
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        text = "# Benchmark results\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + "\n".join(lines) + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
