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


# The split (the database on a core of its own): which processes get bound,
# binding itself, and the busy share read from /proc/stat.

def _kill_tree(p):
    import signal
    for pid in reversed(bench.process_tree(p.pid)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    p.wait()


def test_process_tree_holds_children_and_grandchildren_and_nothing_else():
    import subprocess
    # A shell whose child sleeps: root, child and grandchild.
    p = subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30; :"])
    other = subprocess.Popen(["sleep", "30"])
    try:
        import time
        end = time.time() + 5
        while len(bench.process_tree(p.pid)) < 3 and time.time() < end:
            time.sleep(0.05)
        tree = bench.process_tree(p.pid)
        assert tree[0] == p.pid and len(tree) == 3
        assert other.pid not in tree and os.getpid() not in tree
    finally:
        _kill_tree(p)
        other.kill()
        other.wait()


def test_pin_binds_every_thread_of_the_tree_and_later_children_inherit_it():
    import subprocess
    import time
    every = os.sched_getaffinity(0)
    if len(every) < 2:
        import pytest
        pytest.fail("the split needs two cores; this process may use one")
    one = {max(every)}
    p = subprocess.Popen(["sh", "-c", "sleep 30 & while :; do sleep 0.1; done"])
    try:
        time.sleep(0.3)
        bench.pin(p.pid, one)
        time.sleep(0.3)  # the loop forks new sleeps after the binding
        tree = bench.process_tree(p.pid)
        assert len(tree) >= 2
        for pid in tree:
            try:
                assert os.sched_getaffinity(pid) == one, pid
            except ProcessLookupError:
                pass  # a short sleep that ended meanwhile
        bench.pin(p.pid, every)
        assert os.sched_getaffinity(p.pid) == every
    finally:
        _kill_tree(p)


def test_busy_share_counts_only_the_named_cpus():
    before = {0: (100, 1000), 1: (500, 1000)}
    after = {0: (150, 1100), 1: (590, 1100)}  # cpu0 half busy, cpu1 90 %
    assert bench.busy_share(before, after, {0}) == 0.5
    assert bench.busy_share(before, after, {1}) == 0.9
    assert bench.busy_share(before, after, {0, 1}) == 0.7
    assert bench.busy_share(before, before, {0}) == 0.0


def test_cpu_ticks_reads_every_cpu_with_busy_within_all():
    t = bench.cpu_ticks()
    assert os.sched_getaffinity(0) <= set(t)
    assert all(0 <= busy <= total for busy, total in t.values())


def _side(rps, p99=5.0):
    return {"rps": rps, "p50": 1.0, "p99": p99, "db_busy": 0.99, "web_busy": 0.5,
            "all": [rps] * 3}


def test_split_targets_read_each_ratio_against_the_higher_pgbench_ceiling():
    sp = {"uncached_list_filtered": {"module": _side(3600), "pgbench": _side(1300),
                                     "pgbench_gate": _side(4000)},
          "finding_detail": {"module": _side(8500, 30.0), "pgbench": _side(10000),
                             "pgbench_gate": _side(9000)},
          "identity_detail": {"module": _side(8000), "pgbench": _side(9000),
                              "pgbench_gate": _side(20000)},
          "static_same_bytes": {"module": _side(7200)},
          "static_detail_bytes": {"module": _side(10000)}}
    line, = bench.split_targets(sp)
    # 3600 >= 3500; 3600/4000 = 90 % >= 80 %
    assert "3600 req/s (target 3,500) met, 90% of pgbench (target 80 %) met" in line
    # 8500/10000 = 85 %: met at the boundary; 8000/20000 = 40 %
    assert "finding detail 85% (target 85 %) met" in line
    assert "identity detail 40% MISSED" in line
    assert "filtered list 50%, finding detail 85%, identity detail 80%" in line
    assert "finding_detail 30.0 ms MISSED" in line and "static_" not in line.split("; p99")[1]
    table = "\n".join(bench.split_table(sp))
    assert "| static_detail_bytes | 10000 |" in table
    assert ("| finding_detail | 8500 | 1.00 | 30.00 | 99% | 50% | 10000 | 99% | 9000 | 99% "
            "| 50% | 85% | 94% |") in table
    # The model: static 10000/s at 50 % busy (50 us per request) and pgbench's
    # client 9000/s at 50 % (55.6 us): 1 / 105.6 us = 9474/s; 8500 of it 90 %.
    assert "finding_detail 9474/s, reached 90%" in line
    assert bench.split_targets(None) == [] and "not measured" in bench.split_table(None)[1]
