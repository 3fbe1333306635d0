#!/usr/bin/env bash
# Builds the vexilla-proxy container image with buildah, from a static musl binary built here,
# and checks it: size, non-root user, image configuration, file ownership, that the binary
# inside starts and answers /api/v1/health, and that `healthcheck` exits 0 while it runs and
# non-zero once it has stopped.
#
# No Docker engine or image registry is needed. The binary is built the way the Dockerfile's
# build stage builds it (same cargo command, from exactly the files that stage copies), then the
# Dockerfile's final stage is built with its `COPY --from=build` lines pointed at that binary,
# so USER, ENV, EXPOSE, HEALTHCHECK and ENTRYPOINT are the Dockerfile's own. The container is
# run with `buildah run --isolation chroot`, which shares this machine's network: the three
# listeners are moved to free ports on 127.0.0.1 through the environment.
#
# Exits non-zero on any failed check; exits 0 with a SKIP line only when buildah is missing and
# cannot be installed. Storage is private to each run (vfs driver, under a temporary directory)
# and removed at the end, with the container and image it made.
set -euo pipefail
cd "$(dirname "$0")/.."
root_dir=$PWD

max_bytes=${VEXILLA_IMAGE_MAX_BYTES:-15000000}   # 15 MB, uncompressed
runtime_uid=65532

say() { printf 'check-image: %s\n' "$*"; }
fail() { printf 'check-image: FAIL: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/vexilla-image-check.XXXXXX")
log=$work/log
: >"$log"
# Runs a command with its output kept in the log; on failure shows the log's tail and stops.
quiet() {
  if ! "$@" >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    fail "$(printf '%q ' "$@")"
  fi
}

storage=$work/storage
bah() { buildah --root "$storage/root" --runroot "$storage/run" --storage-driver vfs "$@"; }
image=localhost/vexilla-proxy:check-$$
ctr=""
run_pid=""
proxy_pid=""
cleanup() {
  local status=$?
  set +e
  [ -n "$proxy_pid" ] && kill -TERM "$proxy_pid" 2>/dev/null
  [ -n "$run_pid" ] && { kill -TERM "$run_pid" 2>/dev/null; wait "$run_pid" 2>/dev/null; }
  if [ -d "$storage" ]; then
    [ -n "$ctr" ] && bah rm "$ctr" >/dev/null 2>&1
    bah rmi -f "$image" >/dev/null 2>&1
    # Nothing may still be mounted below the storage before it is deleted.
    awk -v s="$storage" 'index($5, s) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null; done
    if awk -v s="$storage" 'index($5, s) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
      echo "check-image: left $work in place: something is still mounted below it" >&2
      exit "$status"
    fi
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- buildah ------------------------------------------------------------------------------
if ! command -v buildah >/dev/null; then
  if ! { command -v apt-get >/dev/null && apt-get update -qq >>"$log" 2>&1 &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah >>"$log" 2>&1; }; then
    say "SKIP: buildah is not installed and could not be installed with apt-get"
    exit 0
  fi
fi
say "buildah $(buildah --version | awk '{print $3}'), vfs storage, chroot isolation"

# --- the static binary, built as the Dockerfile's build stage builds it --------------------
triple="$(uname -m)-unknown-linux-musl"
installed_targets=$(rustup target list --installed 2>/dev/null || true)
if ! grep -qx "$triple" <<<"$installed_targets"; then
  quiet rustup target add "$triple"
fi
if ! command -v musl-gcc >/dev/null && command -v apt-get >/dev/null; then
  quiet apt-get update -qq
  quiet env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools
fi

# The build stage's COPY sources, from the Dockerfile itself: a file the stage forgets to copy
# breaks this build as it would break `docker build`.
build_sources=$(awk '
  /^FROM / { stage++ }
  stage == 1 && /^COPY / { for (i = 2; i < NF; i++) if ($i !~ /^--/) print $i }
' Dockerfile)
[ -n "$build_sources" ] || fail "no COPY lines found in the Dockerfile's build stage"
context=$root_dir/target/image-check/context   # stable, so cargo rebuilds only what changed
rm -rf "$context"
mkdir -p "$context"
for src in $build_sources; do
  [ -e "$src" ] || fail "the Dockerfile copies $src, which does not exist"
  cp -a "$src" "$context/"
done
# The shared target directory reuses dependencies already compiled for this target.
cargo_json=$work/cargo.json
if ! (cd "$context" && CARGO_TARGET_DIR=$root_dir/target \
  cargo build --release --locked --target "$triple" --message-format=json-render-diagnostics \
  >"$cargo_json" 2>>"$log"); then
  tail -n 40 "$log" >&2
  fail "cargo build --release --locked --target $triple (from the Dockerfile's sources)"
fi
built=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "vexilla-proxy":
        print(m["executable"])
' "$cargo_json" | tail -n 1)
[ -x "$built" ] || fail "cargo reported no vexilla-proxy executable"

ctx=$work/ctx
mkdir -p "$ctx/out/rootfs/var/lib" "$ctx/out/data"
install -m 0755 "$built" "$ctx/out/rootfs/vexilla-proxy"
strip "$ctx/out/rootfs/vexilla-proxy"
dynamic=$(readelf -d "$ctx/out/rootfs/vexilla-proxy")
case "$dynamic" in
  *NEEDED*) fail "the binary is dynamically linked: $(awk '/NEEDED/ { printf "%s ", $NF }' <<<"$dynamic")" ;;
esac
quiet "$ctx/out/rootfs/vexilla-proxy" --check-config
say "binary: $triple, static, $(stat -c %s "$ctx/out/rootfs/vexilla-proxy") bytes stripped"

# --- the image: the Dockerfile's final stage, copying the binary built above -----------------
awk '/^FROM /{ buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' Dockerfile |
  sed -e 's#^COPY --from=build #COPY #' -e '/^COPY /s# /out/# out/#' >"$work/Containerfile"
head -n 1 "$work/Containerfile" | grep -Eq '^FROM (scratch|gcr\.io/distroless/static)' ||
  fail "the Dockerfile's final stage is not FROM scratch: $(head -n 1 "$work/Containerfile")"
if grep -q -- '--from=' "$work/Containerfile"; then
  fail "the final stage copies from a stage this check cannot stand in for"
fi
quiet bah build --format docker --quiet -f "$work/Containerfile" -t "$image" "$ctx"

inspect=$work/inspect.json
bah inspect --type image "$image" >"$inspect" 2>>"$log" || fail "buildah inspect $image"
# Prints the findings on the image's configuration; exits 1 on any problem.
python3 - "$inspect" "$max_bytes" "$runtime_uid" <<'PY' || fail "image configuration (above)"
import json, sys
info = json.load(open(sys.argv[1]))
max_bytes, uid = int(sys.argv[2]), sys.argv[3]
cfg = info["Docker"]["config"]
manifest = json.loads(info["Manifest"])
size = manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])
problems = []
def check(ok, what):
    if not ok:
        problems.append(what)
print(f"check-image: image size {size} bytes ({size / 1e6:.2f} MB uncompressed, "
      f"{len(manifest['layers'])} layer), limit {max_bytes / 1e6:.0f} MB")
check(size <= max_bytes, f"image is {size} bytes, over {max_bytes}")
user = cfg.get("User") or ""
user_id = user.split(":")[0]
print(f"check-image: user {user or '(none: root)'}")
check(user_id.isdigit() and user_id != "0", "the configured user is not a numeric non-root UID")
check(user_id == uid, f"the configured user is not {uid}")
env = dict(e.split("=", 1) for e in cfg.get("Env") or [])
for name, port in (("VEXILLA_LISTEN", 18000), ("VEXILLA_WEBHOOK_LISTEN", 18001), ("VEXILLA_ADMIN_LISTEN", 18002)):
    check(env.get(name) == f"0.0.0.0:{port}", f"{name} is {env.get(name)!r}, not 0.0.0.0:{port}")
ports = sorted(cfg.get("ExposedPorts") or {})
print(f"check-image: exposes {' '.join(ports)}; entrypoint {cfg.get('Entrypoint')}; "
      f"healthcheck {(cfg.get('Healthcheck') or {}).get('Test')}")
check(ports == ["18000/tcp", "18001/tcp", "18002/tcp"], f"exposed ports are {ports}")
check(cfg.get("Entrypoint") == ["/vexilla-proxy"], "the entrypoint is not /vexilla-proxy")
check((cfg.get("Healthcheck") or {}).get("Test") == ["CMD", "/vexilla-proxy", "healthcheck"],
      "the HEALTHCHECK is not /vexilla-proxy healthcheck")
for p in problems:
    print(f"check-image: FAIL: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
quiet bah push --quiet "$image" "oci-archive:$work/image.tar"
say "as a gzip-compressed OCI archive (about what a registry transfers): $(stat -c %s "$work/image.tar") bytes"

ctr=$(bah from --quiet "$image" 2>>"$log") || fail "buildah from $image"
rootfs=$(bah mount "$ctr" 2>>"$log") || fail "buildah mount"
contents=$(cd "$rootfs" && find . -mindepth 1 | sort | tr '\n' ' ')
[ "$contents" = "./var ./var/lib ./var/lib/vexilla-proxy ./vexilla-proxy " ] ||
  fail "unexpected image contents: $contents"
[ "$(stat -c '%u %a' "$rootfs/vexilla-proxy")" = "0 755" ] ||
  fail "/vexilla-proxy is $(stat -c 'owned by %u, mode %a' "$rootfs/vexilla-proxy"), not root's 755"
[ "$(stat -c %u "$rootfs/var/lib")" = 0 ] || fail "/var/lib is not owned by root"
[ "$(stat -c %u "$rootfs/var/lib/vexilla-proxy")" = "$runtime_uid" ] ||
  fail "/var/lib/vexilla-proxy is not owned by $runtime_uid"
say "contents: /vexilla-proxy (root, 755), /var/lib/vexilla-proxy (owned by $runtime_uid)"
quiet bah umount "$ctr"

# --- the binary inside starts, answers, passes its health check, stops on SIGTERM ------------
ports=$(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
')
read -r api_port webhook_port admin_port <<<"$ports"
# The image's own USER and environment, with the listeners on 127.0.0.1 free ports.
in_ctr() {
  bah run --isolation chroot \
    --env "VEXILLA_LISTEN=127.0.0.1:$api_port" \
    --env "VEXILLA_WEBHOOK_LISTEN=127.0.0.1:$webhook_port" \
    --env "VEXILLA_ADMIN_LISTEN=127.0.0.1:$admin_port" \
    "$ctr" -- "$@"
}
in_ctr /vexilla-proxy >"$work/proxy.log" 2>&1 &
run_pid=$!
health=""
for _ in $(seq 1 100); do
  health=$(curl -fsS --max-time 1 "http://127.0.0.1:$api_port/api/v1/health" 2>/dev/null) && break
  kill -0 "$run_pid" 2>/dev/null || break
  sleep 0.1
done
if [ "$health" != '{"status":"OK"}' ]; then
  tail -n 20 "$work/proxy.log" >&2
  fail "GET /api/v1/health on 127.0.0.1:$api_port answered ${health:-nothing} within 10 s"
fi
say "buildah run --isolation chroot: GET 127.0.0.1:$api_port/api/v1/health -> $health"

proxy_pid=$(ss -ltnpH "sport = :$api_port" | awk 'match($0, /pid=[0-9]+/) { print substr($0, RSTART + 4, RLENGTH - 4); exit }')
[ -n "$proxy_pid" ] || fail "no process found listening on 127.0.0.1:$api_port"
proc_uid=$(awk '/^Uid:/ { print $2 }' "/proc/$proxy_pid/status")
[ "$proc_uid" = "$runtime_uid" ] || fail "the proxy runs as UID $proc_uid, not $runtime_uid"
say "the proxy process runs as UID $proc_uid"

variant=$(curl -fsS --max-time 2 "http://127.0.0.1:$api_port/api/v1/evaluation" \
  -H 'content-type: application/json' \
  -d '{"flagKey":"pricing-page","entityID":"user-42","entityContext":{"country":"US"}}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["variantKey"])') ||
  fail "evaluating the built-in flag pricing-page failed"
say "POST /api/v1/evaluation pricing-page -> variantKey $variant"

if in_ctr /vexilla-proxy healthcheck >>"$log" 2>&1; then
  say "/vexilla-proxy healthcheck (admin 127.0.0.1:$admin_port) exits 0 while serving"
else
  fail "/vexilla-proxy healthcheck exited $? while the proxy was serving"
fi

kill -TERM "$proxy_pid"
proxy_pid=""
status=0
wait "$run_pid" || status=$?
run_pid=""
[ "$status" = 0 ] || { tail -n 20 "$work/proxy.log" >&2; fail "the proxy exited $status on SIGTERM"; }
if in_ctr /vexilla-proxy healthcheck >>"$log" 2>&1; then
  fail "/vexilla-proxy healthcheck exited 0 with no proxy running"
fi
say "SIGTERM: exit 0; healthcheck afterwards exits non-zero"
say "OK"
