//! The bucketing, rollout and response vectors of `tests/fixtures/flagr-compat-vectors.json`,
//! computed with Go's CRC-32 and Flagr's formulas: bucket and rollout arithmetic checked
//! directly, and the Flagr 1.2.2+ response examples replayed through the HTTP API.

mod common;

use serde_json::Value as Json;

use vexilla_proxy::eval::{bucket, pick_variant};
use vexilla_proxy::flag::Distribution;
use vexilla_proxy::json::{self, Value};

fn vectors() -> Json {
    let bytes =
        std::fs::read(common::fixture("flagr-compat-vectors.json")).expect("vectors readable");
    serde_json::from_slice(&bytes).expect("vectors parse")
}

fn distribution(shares: &[Json]) -> Distribution {
    let mut result = Distribution::default();
    let mut total = 0;
    for share in shares {
        total += share["percent"].as_u64().expect("percent") * 10;
        result
            .variant_ids
            .push(share["variantID"].as_u64().expect("variant"));
        result.percents_accumulated.push(total);
    }
    result
}

#[test]
fn bucket_vectors() {
    let vectors = vectors();
    let cases = vectors["bucketVectors"].as_array().expect("bucket vectors");
    assert!(cases.len() >= 90);
    for case in cases {
        let salt = case["salt"].as_str().expect("salt");
        let entity = case["entityID"].as_str().expect("entity");
        assert_eq!(
            bucket(salt, entity),
            case["bucket"].as_u64().expect("bucket"),
            "{case}"
        );
    }
}

#[test]
fn rollout_vectors() {
    let vectors = vectors();
    let cases = vectors["rolloutVectors"]
        .as_array()
        .expect("rollout vectors");
    assert!(cases.len() >= 49);
    for case in cases {
        let salt = case["flagID"].to_string();
        let entity = case["entityID"].as_str().expect("entity");
        let expected_bucket = case["bucket"].as_u64().expect("bucket");
        assert_eq!(bucket(&salt, entity), expected_bucket, "{case}");

        let shares = distribution(case["distributions"].as_array().expect("shares"));
        let rollout = case["rolloutPercent"].as_u64().expect("rollout");
        let (variant, assigned) =
            pick_variant(&shares, expected_bucket, rollout).expect("in range");
        assert_eq!(
            variant,
            case["variantInRange"].as_u64().expect("variant"),
            "{case}"
        );
        assert_eq!(
            assigned,
            case["assigned"].as_bool().expect("assigned"),
            "{case}"
        );
    }
}

#[test]
fn bucket_by_num_and_rollout_from_flagr_tests() {
    let vectors = vectors();
    for test in vectors["fromFlagrTests"].as_array().expect("tests") {
        let source = test["source"].as_str().unwrap_or_default();
        let Some(accumulated) = test["percentsAccumulated"].as_array() else {
            continue;
        };
        let accumulated: Vec<u64> = accumulated.iter().filter_map(Json::as_u64).collect();
        let ids: Vec<u64> = test["variantIDs"]
            .as_array()
            .map(|ids| ids.iter().filter_map(Json::as_u64).collect())
            .unwrap_or_else(|| (1..=accumulated.len() as u64).collect());
        let shares = Distribution {
            variant_ids: ids.clone(),
            percents_accumulated: accumulated,
        };
        for case in test["cases"].as_array().into_iter().flatten() {
            let Some(items) = case.as_array() else {
                continue;
            };
            let bucket = items[0].as_u64().expect("bucket");
            if items.len() == 2 {
                let (variant, _) = pick_variant(&shares, bucket, 100).expect("in range");
                assert_eq!(
                    variant,
                    items[1].as_u64().expect("variant"),
                    "{source} {case}"
                );
            } else {
                let rollout = items[1].as_u64().expect("rollout");
                if rollout == 0 {
                    // A 0% rollout never reaches the bucket arithmetic (`eval::rollout` stops
                    // first); its own tests cover it.
                    continue;
                }
                let index = items[2].as_u64().expect("index") as usize;
                let (variant, in_rollout) =
                    pick_variant(&shares, bucket, rollout).expect("in range");
                assert_eq!(variant, ids[index], "{source} {case}");
                assert_eq!(
                    in_rollout,
                    items[3].as_bool().expect("in rollout"),
                    "{source} {case}"
                );
            }
        }
    }
}

/// The Go test fixture flag as an export document, with the mutation a vector's note names.
fn fixture_export(fixture: &Json, note: &str) -> String {
    let mut flag = fixture.clone();
    let tags: Vec<Json> = flag["Tags"]
        .as_array()
        .expect("tags")
        .iter()
        .enumerate()
        .map(|(i, tag)| serde_json::json!({"ID": i + 1, "Value": tag}))
        .collect();
    flag["Tags"] = Json::Array(tags);
    if note == "segment rollout 50" {
        flag["Segments"][0]["RolloutPercent"] = 50.into();
    }
    if note == "flag disabled" {
        flag["Enabled"] = false.into();
    }
    serde_json::json!({ "Flags": [flag] }).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_examples_for_flagr_1_2_2_and_later() {
    let vectors = vectors();
    let fixture = &vectors["fixtureFlag_pkg_entity_fixture_go"];
    let examples = vectors["responseExamples_flagr_1_2_2_plus"]
        .as_array()
        .expect("examples");
    assert_eq!(examples.len(), 10);

    for example in examples {
        let note = example["note"].as_str().unwrap_or_default();
        let path = common::temp_path("fixture-flag.json");
        std::fs::write(&path, fixture_export(fixture, note)).expect("written");
        let proxy = common::start_proxy(&[
            "--flags-file",
            path.to_str().expect("utf-8"),
            "--flagr-compat",
            "1.2",
        ])
        .await;

        let answer = common::post_json(
            proxy.api_address,
            "/api/v1/evaluation",
            &example["request"].to_string(),
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        let mut got = json::parse(&answer.body).expect("JSON");
        let mut want =
            json::parse(example["responseBody"].as_str().expect("body").as_bytes()).expect("JSON");
        for value in [&mut got, &mut want] {
            if let Value::Object(map) = value {
                assert!(
                    map.insert("timestamp".into(), Value::Null).is_some(),
                    "timestamp present"
                );
            }
        }
        assert_eq!(got, want, "request {}", example["request"]);
        proxy.shutdown().await;
    }
}
