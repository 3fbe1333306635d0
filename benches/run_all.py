#!/usr/bin/env python3
"""Runs every vexilla-proxy benchmark on this machine and prints one table.

    python3 benches/run_all.py            # a few minutes after the release build

Loopback only, each load bounded in time. Environment:
  VEXILLA_BENCH_SECONDS      seconds per HTTP load run (default 10)
  VEXILLA_BENCH_CONNECTIONS  wrk connections (default 64)
  VEXILLA_BENCH_ROUNDS       alternating baseline/proxy rounds, medians kept (default 3)
  FLAGR_URL                  a running Flagr holding the example flags (config/flags.json):
                             adds Flagr itself to the HTTP comparison
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where cargo builds: CARGO_TARGET_DIR when set (relative to the repository, as cargo runs here).
TARGET = os.path.join(ROOT, os.environ.get("CARGO_TARGET_DIR") or "target")
PROXY = os.path.join(TARGET, "release/vexilla-proxy")
BASELINE = os.path.join(TARGET, "release/examples/baseline_server")
# Every server started, stopped at the end whatever happened.
STARTED = []
SECONDS = int(os.environ.get("VEXILLA_BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("VEXILLA_BENCH_CONNECTIONS", "64"))
ROUNDS = int(os.environ.get("VEXILLA_BENCH_ROUNDS", "3"))
EVAL_BODY = '{"flagKey":"pricing-page","entityID":"user-42","entityContext":{"country":"US"}}'
BATCH_BODY = '{"entities":[{"entityID":"user-42","entityContext":{"country":"US","age":30}}],"flagTags":["bench"]}'


def run(command, **kwargs):
    return subprocess.run(command, check=True, cwd=ROOT, **kwargs)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read()


def wait_ready(admin, limit=60.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if get("http://127.0.0.1:%d/ready" % admin)[0] == 200:
                return
        except OSError:
            pass
        # Polled every millisecond: the cold start is measured to about that.
        time.sleep(0.001)
    raise SystemExit("the proxy never became ready")


class Proxy:
    def __init__(self, *args):
        self.port, self.admin = free_port(), free_port()
        command = [PROXY, "--listen", "127.0.0.1:%d" % self.port, "--admin-listen", "127.0.0.1:%d" % self.admin]
        self.started = time.monotonic()
        self.process = subprocess.Popen(command + list(args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        STARTED.append(self.process)

    def rss_kib(self, field="VmHWM"):
        with open("/proc/%d/status" % self.process.pid) as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)


def wrk(url, body, work):
    script = os.path.join(work, "post.lua")
    with open(script, "w") as handle:
        handle.write('wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n'
                     % json.dumps(body))
    output = subprocess.run(["wrk", "-t1", "-c%d" % CONNECTIONS, "-d%ds" % SECONDS, "--latency", "-s", script, url],
                            check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)

    def latency(percent):
        value, unit = re.search(r"^\s+%d%%\s+([\d.]+)(us|ms|s)" % percent, output, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {"rps": rate, "p50": latency(50), "p99": latency(99), "errors": int(errors.group(1)) if errors else 0}


def criterion_times():
    output = subprocess.run(["cargo", "bench", "--locked", "--bench", "engine", "--", "--warm-up-time", "1",
                             "--measurement-time", "3"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    times = {}
    for name, value, unit in re.findall(r"^(\S.*?)\s*\n?\s+time:\s+\[[\d.]+ \S+ ([\d.]+) (ns|µs|us|ms)", output, re.M):
        times[name.strip()] = float(value) * {"ns": 1.0, "µs": 1000.0, "us": 1000.0, "ms": 1e6}[unit]
    return times


def main():
    if not shutil.which("wrk"):
        run(["sh", "-c", "apt-get update -qq && apt-get install -y -qq wrk"])
    run(["cargo", "build", "--release", "--locked", "--bin", "vexilla-proxy", "--example", "baseline_server"])
    work = tempfile.mkdtemp(prefix="vexilla-bench-")
    rows = []
    try:
        # HTTP: the proxy against the bare stack answering the proxy's own bytes.
        proxy = Proxy()
        wait_ready(proxy.admin)
        idle_rss = proxy.rss_kib("VmRSS")
        request = urllib.request.Request("http://127.0.0.1:%d/api/v1/evaluation" % proxy.port, EVAL_BODY.encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as response:
            answer = response.read()
        body_file = os.path.join(work, "answer.json")
        with open(body_file, "wb") as handle:
            handle.write(answer)
        base_port = free_port()
        baseline = subprocess.Popen([BASELINE, "127.0.0.1:%d" % base_port, body_file])
        STARTED.append(baseline)
        time.sleep(0.5)
        # Alternating rounds, each side's median round kept: a noisy neighbour then costs
        # both sides alike.
        rounds = {"base": [], "ours": []}
        for _ in range(ROUNDS):
            rounds["base"].append(wrk("http://127.0.0.1:%d/api/v1/evaluation" % base_port, EVAL_BODY, work))
            rounds["ours"].append(wrk("http://127.0.0.1:%d/api/v1/evaluation" % proxy.port, EVAL_BODY, work))
        base, ours = (sorted(rounds[side], key=lambda r: r["rps"])[ROUNDS // 2] for side in ("base", "ours"))
        ratios = sorted(o["rps"] / b["rps"] for b, o in zip(rounds["base"], rounds["ours"]))
        baseline.terminate()
        proxy.stop()
        rows.append(("HTTP baseline (bare hyper, same bytes)", "%.0f req/s, p50 %.2f ms, p99 %.2f ms" % (base["rps"], base["p50"], base["p99"]), ""))
        rows.append(("HTTP proxy POST /api/v1/evaluation", "%.0f req/s, p50 %.2f ms, p99 %.2f ms, %d errors" % (ours["rps"], ours["p50"], ours["p99"], ours["errors"]), ""))
        rows.append(("  throughput proxy / baseline", "%.2f (rounds %s)" % (ours["rps"] / base["rps"], " ".join("%.2f" % r for r in ratios)), ">= 0.85"))
        rows.append(("  p99 proxy / baseline", "%.2f" % (ours["p99"] / base["p99"]), "<= 1.5"))
        if os.environ.get("FLAGR_URL"):
            flagr = wrk(os.environ["FLAGR_URL"].rstrip("/") + "/api/v1/evaluation", EVAL_BODY, work)
            rows.append(("HTTP Flagr", "%.0f req/s, p50 %.2f ms, p99 %.2f ms" % (flagr["rps"], flagr["p50"], flagr["p99"]), ""))
            rows.append(("  throughput proxy / Flagr", "%.2f" % (ours["rps"] / flagr["rps"]), ""))

        # Batch: one entity, 50 flags chosen by tag.
        tagged = os.path.join(work, "tagged.json")
        run([sys.executable, "benches/gen_flags.py", "50", tagged, "--tag", "bench"])
        proxy = Proxy("--flags-file", tagged)
        wait_ready(proxy.admin)
        batch = wrk("http://127.0.0.1:%d/api/v1/evaluation/batch" % proxy.port, BATCH_BODY, work)
        proxy.stop()
        rows.append(("HTTP batch, 1 entity x 50 flags by tag", "%.0f req/s, p50 %.2f ms, p99 %.2f ms, %d errors" % (batch["rps"], batch["p50"], batch["p99"], batch["errors"]), ""))

        # Memory.
        rows.append(("RSS idle, example flags", "%.1f MiB" % (idle_rss / 1024), "<= 10 MiB"))
        big = os.path.join(work, "big.json")
        run([sys.executable, "benches/gen_flags.py", "50000", big])
        proxy = Proxy("--flags-file", big)
        wait_ready(proxy.admin, 120)
        time.sleep(0.5)
        peak = proxy.rss_kib("VmHWM") * 1024
        settled = proxy.rss_kib("VmRSS") * 1024
        proxy.stop()
        size = os.path.getsize(big)
        rows.append(("50,000 flags: export size", "%.1f MiB" % (size / 2**20), ""))
        rows.append(("50,000 flags: RSS after load / peak", "%.1f / %.1f MiB (%.2f / %.2f x export)" % (settled / 2**20, peak / 2**20, settled / size, peak / size), "<= 3 x export"))

        # Cold start from a 10,000-flag snapshot with the upstream down.
        snapshot = os.path.join(work, "snapshot.json")
        run([sys.executable, "benches/gen_flags.py", "10000", snapshot, "--snapshot"])
        dead = free_port()
        starts = []
        for _ in range(11):
            proxy = Proxy("--upstream", "http://127.0.0.1:%d" % dead, "--snapshot-file", snapshot)
            wait_ready(proxy.admin)
            starts.append((time.monotonic() - proxy.started) * 1000)
            proxy.stop()
        starts.sort()
        rows.append(("cold start to /ready, 10,000-flag snapshot", "median %.0f ms (best %.0f) of 11" % (starts[5], starts[0]), "<= 50 ms"))

        # The engine (criterion) and the webhook path.
        for name, nanos in criterion_times().items():
            rows.append(("engine: %s" % name, "%.0f ns" % nanos, ""))
        webhook = subprocess.run(["cargo", "bench", "--locked", "--bench", "webhook_latency"], cwd=ROOT, check=True,
                                 capture_output=True, text=True).stdout
        ratio = re.search(r"ratio fresh / fetch\s+([\d.]+)\s+([\d.]+)", webhook)
        rows.append(("webhook to fresh answer / one fetch (p50, p99)", "%s, %s" % ratio.groups(), "p99 <= 1.5"))
    finally:
        for process in STARTED:
            if process.poll() is None:
                process.kill()
                process.wait()
        shutil.rmtree(work, ignore_errors=True)

    width = max(len(r[0]) for r in rows)
    print("vexilla-proxy benchmarks: %d cores, %d s per load, %d connections" % (os.cpu_count(), SECONDS, CONNECTIONS))
    for name, value, target in rows:
        print("%-*s  %-58s %s" % (width, name, value, ("target " + target) if target else ""))


if __name__ == "__main__":
    main()
