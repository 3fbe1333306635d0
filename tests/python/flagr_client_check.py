"""Drives a running vexilla-proxy through Flagr's own generated Python client (PyPI `flagr`).

Usage: flagr_client_check.py BASE_URL PASSTHROUGH_URL

BASE_URL serves the example flags in config/flags.json; PASSTHROUGH_URL fronts a fake Flagr
whose GET /api/v1/flags lists one flag keyed "listed-by-flagr". Every check compares what the
client decoded with what those flags and Flagr's rules give; the script exits non-zero on the
first difference and prints one line per check otherwise.
"""
import sys
import zlib

import flagr
from flagr.api.evaluation_api import EvaluationApi
from flagr.api.flag_api import FlagApi
from flagr.api.health_api import HealthApi


def bucket(flag_id, entity_id):
    return zlib.crc32((str(flag_id) + entity_id).encode()) % 1000


def expect(what, got, want):
    if got != want:
        print("FAIL %s: got %r, want %r" % (what, got, want))
        sys.exit(1)
    print("ok %s" % what)


def main():
    config = flagr.Configuration()
    config.host = sys.argv[1].rstrip("/") + "/api/v1"
    client = flagr.ApiClient(config)
    evaluation = EvaluationApi(client)

    expect("health", HealthApi(client).get_health().status, "OK")

    # pricing-page (flag 2): 34/33/33 over control, annual-first, monthly-first, 100% rollout.
    entity = "client-user-7"
    b = bucket(2, entity)
    want = "control" if b < 340 else "annual-first" if b < 670 else "monthly-first"
    result = evaluation.post_evaluation(
        flagr.EvalContext(entity_id=entity, flag_key="pricing-page", entity_context={})
    )
    expect("single: flag id", result.flag_id, 2)
    expect("single: variant by bucket %d" % b, result.variant_key, want)
    expect("single: segment", result.segment_id, 2)
    expect("single: attachment layout", result.variant_attachment["layout"],
           "classic" if want == "control" else "cards")
    expect("single: echoed entity", result.eval_context.entity_id, entity)

    # dark-mode (flag 3): beta testers always get "enabled".
    result = evaluation.post_evaluation(
        flagr.EvalContext(entity_id="tester-1", flag_id=3, entity_context={"groups": ["beta"]},
                          enable_debug=True)
    )
    expect("debug: variant", result.variant_key, "enabled")
    expect("debug: log entries", len(result.eval_debug_log.segment_debug_logs), 1)

    # Unknown flag: Flagr's blank result, not an error.
    result = evaluation.post_evaluation(flagr.EvalContext(entity_id="x", flag_key="no-such-flag"))
    expect("unknown: message", result.eval_debug_log.msg, "flagID 0 not found or deleted")
    expect("unknown: no variant", result.variant_key, None)

    # Batch: two entities × (tag "checkout" + flag 2 by ID).
    batch = evaluation.post_evaluation_batch(
        flagr.EvaluationBatchRequest(
            entities=[
                flagr.EvaluationEntity(entity_id="na-1", entity_context={"country": "US"}),
                flagr.EvaluationEntity(entity_id="eu-1", entity_context={"country": "FR"}),
            ],
            flag_tags=["checkout"],
            flag_i_ds=[2],
        )
    )
    results = batch.evaluation_results
    expect("batch: result count", len(results), 6)
    by_entity = {}
    for r in results:
        by_entity.setdefault(r.eval_context.entity_id, []).append(r)
    for entity_id, country in (("na-1", "US"), ("eu-1", "FR")):
        rs = {r.flag_key: r for r in by_entity[entity_id]}
        expect("batch %s: flags" % entity_id, sorted(rs),
               ["new-checkout", "payments-kill-switch", "pricing-page"])
        expect("batch %s: kill switch disabled" % entity_id,
               rs["payments-kill-switch"].eval_debug_log.msg, "flagID 5 is not enabled")
        b = bucket(1, entity_id)
        in_rollout = country == "US" and 100 * b <= 999 * 50
        expect("batch %s: new-checkout (bucket %d)" % (entity_id, b),
               rs["new-checkout"].variant_key, "on" if in_rollout else None)

    upstream = flagr.Configuration()
    upstream.host = sys.argv[2].rstrip("/") + "/api/v1"
    flags = FlagApi(flagr.ApiClient(upstream)).find_flags()
    expect("pass-through: flags listed by Flagr", [f.key for f in flags], ["listed-by-flagr"])


if __name__ == "__main__":
    main()
