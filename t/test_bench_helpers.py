"""The benchmark's own arithmetic that does not need a run: the time httpd
took per request, read from the access log (bench/RESULTS.md, "in httpd")."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import bench  # noqa: E402


def _line(us):
    # pfstack's LogFormat: "%h %u %t \"%r\" %>s %b %D"
    return (f'127.0.0.1 k_0123 [07/Dec/2026:22:00:00 +0000] "GET /api/v1/findings?limit=100 '
            f'HTTP/1.1" 200 39966 {us}\n')


def test_served_ms_reads_only_what_was_logged_after_the_start(tmp_path):
    log = tmp_path / "access.log"
    log.write_text("".join(_line(9_000_000) for _ in range(50)))  # an earlier case's
    start = os.path.getsize(log)
    # 1,000 requests of 1..1000 ms, logged out of order.
    with open(log, "a") as f:
        for ms in range(1000, 0, -1):
            f.write(_line(ms * 1000))
    p50, p99 = bench.served_ms(str(log), start)
    assert p50 == 501.0 and p99 == 991.0


def test_served_ms_of_nothing_logged(tmp_path):
    log = tmp_path / "access.log"
    log.write_text(_line(1234))
    assert bench.served_ms(str(log), os.path.getsize(log)) == (0.0, 0.0)
    assert bench.served_ms(str(log), 0) == (1.234, 1.234)
