//! Replays the corpus recorded from a real Flagr 1.1 server (`tests/fixtures/oracle/`) against
//! the proxy, once on a flags file and once behind a fake Flagr serving the same export, and
//! requires every answer to be identical: status, and JSON body compared field by field with
//! numbers by their exact text. Masked only where Flagr itself varies: the timestamp's value,
//! generated entity IDs, the order of tag-matched batch results, and the text of Flagr's crashes.

mod common;

use std::net::SocketAddr;

use vexilla_proxy::json::{self, Value};

use common::{send, start_proxy, temp_path, FakeFlagr};

struct Corpus {
    export: Value,
    cases: Vec<Value>,
}

fn load_corpus() -> Corpus {
    let bytes = std::fs::read(common::fixture("oracle/public-1.1.json")).expect("corpus readable");
    let Value::Object(mut doc) = json::parse(&bytes).expect("corpus parses") else {
        panic!("corpus is an object");
    };
    let export = doc
        .remove("export_eval_cache")
        .expect("corpus has the export");
    let Some(Value::Array(cases)) = doc.remove("cases") else {
        panic!("corpus has cases");
    };
    Corpus { export, cases }
}

fn field<'v>(case: &'v Value, name: &str) -> Option<&'v Value> {
    case.as_object().and_then(|map| map.get(name))
}

fn text<'v>(case: &'v Value, name: &str) -> &'v str {
    field(case, name)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn to_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    json::write_value(&mut out, value);
    out
}

/// Replays every case; returns the descriptions of those that differ.
async fn replay(address: SocketAddr, cases: &[Value]) -> Vec<String> {
    let mut mismatches = Vec::new();
    for case in cases {
        let name = text(case, "name");
        let body: Option<Vec<u8>> = match (field(case, "body_raw"), field(case, "request")) {
            (Some(Value::String(raw)), _) => Some(raw.as_bytes().to_vec()),
            (_, None | Some(Value::Null)) => None,
            (_, Some(request)) => Some(to_bytes(request)),
        };
        let headers: Vec<(String, String)> = match field(case, "headers") {
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect(),
            _ if body.is_some() => vec![("Content-Type".into(), "application/json".into())],
            _ => Vec::new(),
        };
        let header_refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let answer = send(
            address,
            text(case, "method"),
            text(case, "path"),
            &header_refs,
            body.as_deref(),
        )
        .await;
        if let Err(why) = compare(case, answer.status, &answer.body) {
            mismatches.push(format!("{name}: {why}"));
        }
    }
    mismatches
}

fn compare(case: &Value, status: u16, body: &[u8]) -> Result<(), String> {
    let expected_status = match field(case, "status") {
        Some(Value::Number(n)) => n.as_str().parse::<u16>().unwrap_or(0),
        _ => 0,
    };
    if status != expected_status {
        return Err(format!(
            "status {status}, expected {expected_status}; body {}",
            String::from_utf8_lossy(body)
        ));
    }
    if let Some(Value::String(crash)) = field(case, "response_text") {
        // Flagr crashed (a Go panic); only the status is its contract.
        assert!(crash.starts_with("PANIC:"), "only crash texts are recorded");
        return Ok(());
    }
    let mut got = json::parse(body)
        .map_err(|e| format!("body is not JSON ({e}): {}", String::from_utf8_lossy(body)))?;
    let mut expected = field(case, "response").cloned().unwrap_or(Value::Null);

    check_timestamps(&mut got)?;
    check_timestamps(&mut expected)?;
    if matches!(field(case, "random_entity_id"), Some(Value::Bool(true))) {
        mask_random_ids(&mut got)?;
        mask_random_ids(&mut expected)?;
    }
    if text(case, "path")
        .trim_end_matches('/')
        .ends_with("/evaluation/batch")
    {
        let request = match field(case, "body_raw") {
            Some(Value::String(raw)) => json::parse(raw.as_bytes()).ok(),
            _ => field(case, "request").cloned(),
        };
        sort_tag_groups(&mut expected, request.as_ref());
        sort_tag_groups(&mut got, request.as_ref());
    }
    if got != expected {
        return Err(format!(
            "body differs\n   got {}\n  want {}",
            String::from_utf8_lossy(&to_bytes(&got)),
            String::from_utf8_lossy(&to_bytes(&expected))
        ));
    }
    Ok(())
}

/// Checks every `timestamp` has Flagr's shape, then blanks its value.
fn check_timestamps(value: &mut Value) -> Result<(), String> {
    match value {
        Value::Object(map) => {
            if let Some(stamp) = map.get_mut("timestamp") {
                let Value::String(text) = stamp else {
                    return Err("timestamp is not a string".into());
                };
                let shaped = text.len() == 20
                    && text.bytes().enumerate().all(|(i, b)| match i {
                        4 | 7 => b == b'-',
                        10 => b == b'T',
                        13 | 16 => b == b':',
                        19 => b == b'Z',
                        _ => b.is_ascii_digit(),
                    });
                if !shaped {
                    return Err(format!(
                        "timestamp {text:?} is not shaped like 2006-01-02T15:04:05Z"
                    ));
                }
                *stamp = Value::Null;
            }
            for item in map.values_mut() {
                check_timestamps(item)?;
            }
        }
        Value::Array(items) => {
            for item in items {
                check_timestamps(item)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Replaces generated `randomly_generated_<n>` entity IDs after checking their form.
fn mask_random_ids(value: &mut Value) -> Result<(), String> {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(context)) = map.get_mut("evalContext") {
                if let Some(Value::String(id)) = context.get_mut("entityID") {
                    if let Some(number) = id.strip_prefix("randomly_generated_") {
                        let valid = number.parse::<u64>().is_ok_and(|n| n < 1 << 31);
                        if !valid {
                            return Err(format!(
                                "generated entity ID {id:?} is out of Flagr's form"
                            ));
                        }
                        *id = "randomly_generated_N".into();
                    }
                }
            }
            for item in map.values_mut() {
                mask_random_ids(item)?;
            }
        }
        Value::Array(items) => {
            for item in items {
                mask_random_ids(item)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Sorts each entity's block of tag-matched results, which Flagr emits in random order.
fn sort_tag_groups(response: &mut Value, request: Option<&Value>) {
    let Some(request) = request.and_then(Value::as_object) else {
        return;
    };
    let count = |name: &str| match request.get(name) {
        Some(Value::Array(items)) => items.len(),
        _ => 0,
    };
    let has_tags = count("flagTags") > 0;
    let entities = count("entities");
    let Some(Value::Array(results)) = response
        .as_object()
        .and_then(|m| m.get("evaluationResults"))
        .cloned()
        .map(Some)
        .unwrap_or(None)
    else {
        return;
    };
    if !has_tags || entities == 0 {
        return;
    }
    let fixed = count("flagIDs") + count("flagKeys");
    if results.len() < fixed * entities || (results.len() - fixed * entities) % entities != 0 {
        return;
    }
    let tagged = (results.len() - fixed * entities) / entities;
    let block = tagged + fixed;
    let mut sorted = Vec::with_capacity(results.len());
    for chunk in results.chunks(block) {
        let mut tags: Vec<Value> = chunk[..tagged].to_vec();
        tags.sort_by_key(to_bytes);
        sorted.extend(tags);
        sorted.extend_from_slice(&chunk[tagged..]);
    }
    if let Value::Object(map) = response {
        map.insert("evaluationResults".into(), Value::Array(sorted));
    }
}

fn report(mismatches: &[String], total: usize) {
    for line in mismatches.iter().take(25) {
        eprintln!("MISMATCH {line}");
    }
    eprintln!(
        "compat: {}/{total} cases identical",
        total - mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {total} oracle cases differ",
        mismatches.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_oracle_case_is_identical_from_a_flags_file() {
    let corpus = load_corpus();
    let path = temp_path("oracle-export.json");
    std::fs::write(&path, to_bytes(&corpus.export)).expect("export written");
    let proxy = start_proxy(&[
        "--flags-file",
        path.to_str().expect("utf-8 path"),
        "--flagr-compat",
        "1.1",
    ])
    .await;

    let mismatches = replay(proxy.api_address, &corpus.cases).await;
    report(&mismatches, corpus.cases.len());
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_oracle_case_is_identical_behind_a_fake_flagr_1_1() {
    let corpus = load_corpus();
    let export = String::from_utf8(to_bytes(&corpus.export)).expect("utf-8");
    // A Flagr 1.1 has no max_id route: the proxy detects 1.1 from that.
    let flagr = FakeFlagr::start(&export, None).await;
    let proxy = start_proxy(&["--upstream", &flagr.url()]).await;
    common::eventually(std::time::Duration::from_secs(20), || {
        let store = proxy.store.clone();
        async move { store.is_loaded() }
    })
    .await;
    assert_eq!(
        proxy.compat.version(),
        vexilla_proxy::flag::FlagrVersion::V1_1
    );

    let mismatches = replay(proxy.api_address, &corpus.cases).await;
    report(&mismatches, corpus.cases.len());
    proxy.shutdown().await;
    flagr.stop();
}
