#!/usr/bin/env bash
# Measures what one vexilla-proxy needs, to size a sidecar's resources: memory with the built-in
# example flags, memory with a generated 1000-flag export, then peak memory (VmHWM) and CPU
# under bounded local loads of single evaluations spread over all 1000 flags: a paced one (about
# 1000 requests/s), the same while the flags file is rewritten every second (each rewrite is a
# full reload, as a re-sync from Flagr is), and an unpaced one (as fast as one wrk thread goes).
#
#   scripts/measure-resources.sh [BINARY]    # default: the static musl release binary
#
# Everything listens on free ports of 127.0.0.1; each load phase is bounded in time
# (VEXILLA_MEASURE_SECONDS, default 15). Installs wrk from Debian if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${VEXILLA_MEASURE_SECONDS:-15}
triple="$(uname -m)-unknown-linux-musl"
bin=${1:-target/$triple/release/vexilla-proxy}
if [ $# -eq 0 ]; then
  cargo build --release --locked --target "$triple" --quiet
fi
[ -x "$bin" ] || { echo "measure: no binary at $bin" >&2; exit 1; }
if ! command -v wrk >/dev/null; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/vexilla-measure.XXXXXX")
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

# --- a 1000-flag export in Flagr's eval-cache format -----------------------------------------
python3 - "$work/flags.json" <<'PY'
import json, random, sys
rng = random.Random(1000)
stamp = "2026-12-01T00:00:00Z"
def base(i):
    return {"ID": i, "CreatedAt": stamp, "UpdatedAt": stamp, "DeletedAt": None}
countries = ["US", "CA", "GB", "DE", "FR", "JP", "BR", "IN"]
flags, ids = [], {"seg": 0, "con": 0, "dist": 0, "var": 0}
def nid(kind):
    ids[kind] += 1
    return ids[kind]
tags = [dict(base(t + 1), Value=f"team-{t}", Flags=None) for t in range(20)]
for i in range(1, 1001):
    variants = []
    for v in range(rng.choice([2, 2, 3, 4])):
        variants.append(dict(base(nid("var")), FlagID=i, Key=f"v{v}",
                             Attachment={"color": rng.choice(["red", "blue", "green"]), "size": v}))
    segments = []
    for rank in range(rng.choice([1, 2, 3])):
        seg = dict(base(nid("seg")), FlagID=i, Description=f"segment {rank}", Rank=rank,
                   RolloutPercent=rng.choice([10, 50, 100]))
        constraints = []
        kinds = [] if rank == 2 else rng.sample(["country", "age", "user", "plan"], rng.choice([1, 2]))
        for prop in kinds:
            if prop == "country":
                op, val = "IN", json.dumps(rng.sample(countries, 3))
            elif prop == "age":
                op, val = rng.choice(["GTE", "LT"]), str(rng.choice([18, 21, 30, 65]))
            elif prop == "user":
                op, val = "EREG", json.dumps(f"^user-{rng.randrange(10)}")
            else:
                op, val = rng.choice(["EQ", "NEQ"]), json.dumps(rng.choice(["free", "pro", "team"]))
            constraints.append(dict(base(nid("con")), SegmentID=seg["ID"], Property=prop,
                                    Operator=op, Value=val))
        seg["Constraints"] = constraints
        shares = [100 // len(variants)] * len(variants)
        shares[0] += 100 - sum(shares)
        seg["Distributions"] = [
            dict(base(nid("dist")), SegmentID=seg["ID"], VariantID=v["ID"], VariantKey=v["Key"],
                 Percent=p) for v, p in zip(variants, shares)]
        segments.append(seg)
    flags.append(dict(base(i), Key=f"flag-{i:04d}", Description=f"generated flag {i}",
                      CreatedBy="", UpdatedBy="", Enabled=True, Segments=segments,
                      Variants=variants, Tags=rng.sample(tags, rng.choice([0, 1, 2])),
                      SnapshotID=i, Notes="", DataRecordsEnabled=False, EntityType=""))
json.dump({"Flags": flags}, open(sys.argv[1], "w"))
PY
"$bin" --check-config --flags-file "$work/flags.json" 2>"$work/check.log" ||
  { cat "$work/check.log" >&2; exit 1; }

cat >"$work/eval.lua" <<'LUA'
-- Single evaluations over all 1000 flags with varied entities; pace(ms) spaces requests.
local countries = {"US", "CA", "GB", "DE", "FR", "JP", "BR", "IN"}
local plans = {"free", "pro", "team"}
local pause = tonumber(os.getenv("WRK_DELAY_MS") or "0")
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
function request()
  local body = string.format(
    '{"flagKey":"flag-%04d","entityID":"user-%d","entityContext":{"country":"%s","age":%d,"user":"user-%d","plan":"%s"}}',
    math.random(1, 1000), math.random(1, 100000), countries[math.random(#countries)],
    math.random(10, 80), math.random(1, 100000), plans[math.random(#plans)])
  return wrk.format(nil, nil, nil, body)
end
function delay() return pause end
LUA

free_ports() {
  python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))'
}
clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
start_proxy() {
  read -r port admin <<<"$(free_ports)"
  VEXILLA_LOG=warn,vexilla_proxy::sync=info "$bin" --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
    --webhook-listen 127.0.0.1:0 "$@" 2>>"$work/proxy.log" &
  pid=$!
  for _ in $(seq 1 100); do
    curl -fsS --max-time 1 "http://127.0.0.1:$admin/ready" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "measure: the proxy did not become ready" >&2
  cat "$work/proxy.log" >&2
  exit 1
}
stop_proxy() { kill -TERM "$pid"; wait "$pid" || true; pid=""; }
# phase NAME DELAY_MS CONNECTIONS: one bounded wrk run; prints rate, CPU and memory.
phase() {
  local t0 c0 t1 c1 out
  t0=$(date +%s.%N); c0=$(cpu_ticks "$pid")
  out=$(WRK_DELAY_MS=$2 wrk -t1 -c"$3" -d"${seconds}s" --latency -s "$work/eval.lua" \
    "http://127.0.0.1:$port/api/v1/evaluation")
  t1=$(date +%s.%N); c1=$(cpu_ticks "$pid")
  local rps p50 p99 errors
  rps=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' <<<"$out")
  p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
  p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/ { $1 = $1; printf "%s; ", $0 }' <<<"$out")
  awk -v name="$1" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" \
    -v clk="$clk" -v rss="$(kib "$pid" VmRSS)" -v hwm="$(kib "$pid" VmHWM)" -v err="${errors:-none}" \
    'BEGIN { printf "measure: %-9s %6d req/s, p50 %s p99 %s, CPU %.2f cores (%.1f ms per 1000 requests), RSS %.1f MiB, peak RSS %.1f MiB, errors: %s\n",
      name, rps, p50, p99, (c1 - c0) / clk / (t1 - t0), (c1 - c0) / clk * 1000 / (rps * (t1 - t0)) * 1000,
      rss / 1024, hwm / 1024, err }'
}

echo "measure: binary $bin ($(stat -c %s "$bin") bytes); $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
start_proxy
sleep 1
echo "measure: built-in example flags, idle: RSS $(( $(kib "$pid" VmRSS) / 1024 )) MiB, $(awk '/^Threads:/ { print $2 }' "/proc/$pid/status") threads"
stop_proxy

start_proxy --flags-file "$work/flags.json"
sleep 1
echo "measure: 1000 generated flags ($(stat -c %s "$work/flags.json") bytes of export), idle: RSS $(( $(kib "$pid" VmRSS) / 1024 )) MiB, peak so far $(( $(kib "$pid" VmHWM) / 1024 )) MiB"
phase paced 10 10
# Full reloads under load: the file is rewritten (new mtime, same flags) once a second.
( for _ in $(seq 1 "$seconds"); do sleep 1; cp "$work/flags.json" "$work/flags.new"; mv "$work/flags.new" "$work/flags.json"; done ) &
rewriter=$!
phase reloading 10 10
wait "$rewriter"
echo "measure: $(grep -c 'flags file reloaded' "$work/proxy.log" || true) full reloads of the 1000 flags during that phase"
phase unpaced 0 32
sleep 1
echo "measure: after the load: RSS $(( $(kib "$pid" VmRSS) / 1024 )) MiB, peak RSS $(( $(kib "$pid" VmHWM) / 1024 )) MiB"
stop_proxy
