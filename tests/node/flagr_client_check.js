// Drives a running vexilla-proxy through Flagr's generated TypeScript client (npm
// `flagr-client`), unchanged. Usage: node flagr_client_check.js EMBEDDED_URL PASSTHROUGH_URL
// EMBEDDED_URL serves the example flags of config/flags.json; PASSTHROUGH_URL fronts a fake
// Flagr whose GET /api/v1/flags lists one flag keyed "listed-by-flagr".
// Exits non-zero on the first difference; prints one line per check.
"use strict";
const flagr = require("flagr-client");

function crc32(text) {
  let crc = ~0;
  for (const byte of Buffer.from(text, "utf8")) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (~crc) >>> 0;
}
const bucket = (flagId, entity) => crc32(String(flagId) + entity) % 1000;

function expect(what, got, want) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    console.log(`FAIL ${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    process.exit(1);
  }
  console.log(`ok ${what}`);
}

function config(url) {
  const base = new flagr.ServerConfiguration(url.replace(/\/$/, "") + "/api/v1", {});
  return flagr.createConfiguration({ baseServer: base });
}

async function main() {
  const [embedded, passthrough] = process.argv.slice(2);
  const evaluation = new flagr.EvaluationApi(config(embedded));

  const health = await new flagr.HealthApi(config(embedded)).getHealth();
  expect("health", health.status, "OK");

  const entity = "js-user-3";
  const b = bucket(2, entity);
  const want = b < 340 ? "control" : b < 670 ? "annual-first" : "monthly-first";
  const single = await evaluation.postEvaluation({ entityID: entity, flagKey: "pricing-page", entityContext: {} });
  expect("single: flag id", single.flagID, 2);
  expect(`single: variant by bucket ${b}`, single.variantKey, want);
  expect("single: segment", single.segmentID, 2);
  expect("single: echoed entity", single.evalContext.entityID, entity);

  const unknown = await evaluation.postEvaluation({ entityID: "x", flagKey: "no-such-flag" });
  expect("unknown: message", unknown.evalDebugLog.msg, "flagID 0 not found or deleted");

  const batch = await evaluation.postEvaluationBatch({
    entities: [
      { entityID: "na-js", entityContext: { country: "CA" } },
      { entityID: "beta-js", entityContext: { groups: ["beta"] } },
    ],
    flagIDs: [3],
    flagKeys: ["new-checkout"],
  });
  const results = batch.evaluationResults;
  expect("batch: result count", results.length, 4);
  expect("batch: beta tester gets dark mode", results[2].variantKey, "enabled");
  const inRollout = 100 * bucket(1, "na-js") <= 999 * 50;
  expect("batch: new-checkout by rollout", results[1].variantKey || null, inRollout ? "on" : null);

  const flags = await new flagr.FlagApi(config(passthrough)).findFlags();
  expect("pass-through: flags listed by Flagr", flags.map((f) => f.key), ["listed-by-flagr"]);
}

main().catch((error) => {
  console.log(`FAIL ${error && error.stack ? error.stack : error}`);
  process.exit(1);
});
