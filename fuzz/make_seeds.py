#!/usr/bin/env python3
"""Writes seed inputs for every fuzz target into fuzz/corpus/<target>/ from the project's own
fixtures (config/flags.json and tests/fixtures/). Run from anywhere: python3 fuzz/make_seeds.py"""

import hashlib
import json
import pathlib

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent
ORACLE = json.loads((ROOT / "tests/fixtures/oracle/public-1.1.json").read_text())
VECTORS = json.loads((ROOT / "tests/fixtures/flagr-compat-vectors.json").read_text())
MESSAGES = json.loads((ROOT / "tests/fixtures/flagr-1.1-constraint-messages.json").read_text())


def write(target, data, limit=None):
    if isinstance(data, str):
        data = data.encode()
    directory = FUZZ / "corpus" / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / ("seed-" + hashlib.sha1(data).hexdigest()[:16])).write_bytes(data)


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# eval_request: request bodies as sent to Flagr (raw bodies kept byte for byte).
bodies = set()
for case in ORACLE["cases"]:
    if "body_raw" in case:
        bodies.add(case["body_raw"])
    elif case["request"] is not None:
        bodies.add(compact(case["request"]))
for body in sorted(bodies)[:150]:
    write("eval_request", body)
for extra in ['{"a":1e400,"b":-0.0,"c":"\\ud800\\u2028"}', "[1.5e-7,123456789012345678901234567890]", " null "]:
    write("eval_request", extra)

# constraint: property \0 operator \0 value [...] \0 context.
def constraint_input(constraints, context_text):
    fields = [field for c in constraints for field in c]
    return "\0".join(fields + [context_text])

for message in MESSAGES["messages"][:120]:
    write("constraint", constraint_input(message["constraints"], message["context"] or "null"))
for crash in MESSAGES["crashes"][:20]:
    for flag in crash["flags"]:
        for segment in flag["segments"]:
            write("constraint", constraint_input(segment["constraints"], crash["context"] or "null"))
for vector in VECTORS["constraintVectors"]:
    constraints = [[c["property"], c["operator"], c["value"]] for c in vector["constraints"]]
    write("constraint", constraint_input(constraints, compact(vector["entityContext"])))

# webhook: header lines, an empty line, the body.
events = [
    '{"event":"flag.updated","flag_keys":["a","b"],"timestamp":"2026-12-04T15:04:05Z"}',
    '{"event":"flag.deleted","flag_keys":["a"],"timestamp":"2026-12-04T15:04:05.123+01:00"}',
    '{"operation":"update","flag_id":7,"flag_key":"k"}',
    '{"operation":"delete","flag_key":"k"}',
]
headers = [
    "x-webhook-signature: sha256=" + "ab" * 32,
    "webhook-id: msg_1\nwebhook-timestamp: 1796396640\nwebhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= v2,abc",
    "authorization: Bearer fuzz-token",
    "x-flagr-token: fuzz-token",
    "",
]
for event in events:
    for header in headers:
        write("webhook", (header + "\n\n" if header else "") + event)

# export: whole documents, and each flag alone.
write("export", (ROOT / "config/flags.json").read_bytes())
write("export", compact(ORACLE["export_eval_cache"]))
write("export", compact({"flags": ORACLE["flags"]}))
for flag in ORACLE["export_eval_cache"]["Flags"][:30]:
    write("export", compact({"Flags": [flag]}))
for flag in ORACLE["flags"][:10]:
    write("export", compact({"flags": [flag]}))


# Nesting at and past the 10,000-level limit Go's scanner enforces.
for depth in (10_000, 10_001):
    write("eval_request", "[" * depth + "]" * depth)
    write("eval_request", '{"entityContext":' + '{"a":' * (depth - 2) + "{}" + "}" * (depth - 1))
write("constraint", "\0".join(["a", "EQ", "(" * 257 + "1" + ")" * 257, "{}"]))
write("constraint", "\0".join(["a", "IN", "[" + ",".join(str(i) for i in range(300)) + "]", "[" * 200 + "]" * 200]))

for target in ("eval_request", "constraint", "webhook", "export"):
    print(target, len(list((FUZZ / "corpus" / target).iterdir())))
