//! Dependability end to end: readiness before and after flags arrive, answering through an
//! upstream outage and upstream garbage, a cold start from the snapshot file with Flagr down,
//! snapshots that survive being killed mid-save, draining on shutdown, and saturation with
//! slow clients among well-behaved ones. Loops are bounded in count and time; nothing here
//! asserts a duration.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

use vexilla_proxy::json::{self, Value};
use vexilla_proxy::store::FlagStore;

use common::{eventually, post_json, send, start_proxy, temp_path, FakeFlagr};

fn export(variant: &str, snapshot: u64) -> String {
    json!({"Flags": [{
        "ID": 1, "Key": "k", "Enabled": true, "SnapshotID": snapshot,
        "Segments": [{"ID": 10, "FlagID": 1, "RolloutPercent": 100,
            "Distributions": [{"ID": 20, "VariantID": 30, "VariantKey": variant, "Percent": 100}]}],
        "Variants": [{"ID": 30, "Key": variant, "Attachment": {}}]
    }]})
    .to_string()
}

async fn ready(admin: SocketAddr) -> (u16, serde_json::Value) {
    let answer = send(admin, "GET", "/ready", &[], None).await;
    (answer.status, answer.json())
}

#[tokio::test]
async fn readiness_waits_for_flags_and_shows_their_age() {
    let flagr = FakeFlagr::start(&export("first", 1), Some(1)).await;
    flagr.stop();
    let url = flagr.url();
    let proxy = start_proxy(&[
        "--upstream",
        &url,
        "--upstream-connect-timeout",
        "200ms",
        "--refresh-interval",
        "1s",
    ])
    .await;
    let admin = proxy.admin_address;

    assert_eq!(send(admin, "GET", "/live", &[], None).await.status, 200);
    let (status, detail) = ready(admin).await;
    assert_eq!(
        (status, detail["status"].clone()),
        (503, json!("not_ready"))
    );
    assert_eq!(detail["dataAgeSeconds"], serde_json::Value::Null);
    assert_eq!(detail["flagrVersion"], serde_json::Value::Null, "{detail}");
    let metrics = send(admin, "GET", "/metrics", &[], None).await.text();
    let failed_syncs = |metrics: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("vexilla_upstream_syncs_total{outcome=\"error\"} "))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no failed-sync count in {metrics}"))
    };
    assert!(failed_syncs(&metrics) >= 1, "{metrics}");
    let early = post_json(
        proxy.api_address,
        "/api/v1/evaluation",
        r#"{"flagKey":"k","entityID":"e"}"#,
    )
    .await;
    assert_eq!(early.status, 503);
    assert!(early.json()["message"]
        .as_str()
        .unwrap_or_default()
        .contains("no flags"));

    flagr.restart().await;
    eventually(Duration::from_secs(15), || async {
        ready(admin).await.0 == 200
    })
    .await;
    let (_, detail) = ready(admin).await;
    assert_eq!(detail["flags"], 1);
    assert_eq!(detail["source"], "upstream");
    assert_eq!(detail["flagrVersion"], "1.2");
    assert!(
        detail["dataAgeSeconds"]
            .as_f64()
            .is_some_and(|age| age < 60.0),
        "{detail}"
    );
    let metrics = send(admin, "GET", "/metrics", &[], None).await.text();
    assert!(metrics.lines().any(|l| l == "vexilla_flags 1"), "{metrics}");
    assert!(metrics.contains("vexilla_data_age_seconds "), "{metrics}");
    assert!(failed_syncs(&metrics) >= 1, "{metrics}");
    proxy.shutdown().await;
    flagr.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_and_garbage_never_fail_an_evaluation_and_recovery_converges() {
    let flagr = FakeFlagr::start(&export("first", 1), Some(1)).await;
    let url = flagr.url();
    let proxy = start_proxy(&[
        "--upstream",
        &url,
        "--poll-interval",
        "50ms",
        "--refresh-interval",
        "1s",
        "--upstream-connect-timeout",
        "200ms",
        "--upstream-timeout",
        "1s",
    ])
    .await;
    let api = proxy.api_address;
    eventually(Duration::from_secs(10), || {
        let store = proxy.store.clone();
        async move { store.is_loaded() }
    })
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let load = {
        let (stop, total, failures) = (stop.clone(), total.clone(), failures.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let answer = post_json(
                    api,
                    "/api/v1/evaluation",
                    r#"{"flagKey":"k","entityID":"e"}"#,
                )
                .await;
                let variant = answer.json()["variantKey"].as_str().map(str::to_string);
                if answer.status != 200 || !matches!(variant.as_deref(), Some("first" | "second")) {
                    failures.lock().expect("lock").push(format!(
                        "{} {}",
                        answer.status,
                        answer.text()
                    ));
                }
                total.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    tokio::time::sleep(Duration::from_millis(300)).await;
    flagr.stop();
    tokio::time::sleep(Duration::from_secs(3)).await;
    flagr.restart().await;
    for garbage in [
        "<html>502 Bad Gateway</html>",
        "{\"Flags\":[{\"ID\":1,",
        "[]",
        "{\"Flags\":{}}",
    ] {
        flagr.set_export(garbage);
        let max_id = flagr.state.max_id.lock().expect("lock").unwrap_or(1) + 1;
        flagr.set_max_id(Some(max_id));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    flagr.set_export(&export("second", 9));
    flagr.set_max_id(Some(100));
    eventually(Duration::from_secs(15), || async {
        let answer = post_json(
            api,
            "/api/v1/evaluation",
            r#"{"flagKey":"k","entityID":"e"}"#,
        )
        .await;
        answer.json()["variantKey"] == "second"
    })
    .await;

    stop.store(true, Ordering::Relaxed);
    load.await.expect("load loop ends");
    let failures = failures.lock().expect("lock").clone();
    assert!(
        failures.is_empty(),
        "{} failed evaluations: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    assert!(
        total.load(Ordering::Relaxed) > 100,
        "the load kept going through the outage"
    );
    proxy.shutdown().await;
    flagr.stop();
}

/// The oracle corpus's successful single evaluations with a fixed entity ID: requests whose
/// answers depend only on the flags.
fn deterministic_requests() -> Vec<String> {
    let bytes = std::fs::read(common::fixture("oracle/public-1.1.json")).expect("corpus");
    let Value::Object(corpus) = json::parse(&bytes).expect("parses") else {
        panic!("corpus is an object");
    };
    let Some(Value::Array(cases)) = corpus.get("cases") else {
        panic!("cases");
    };
    cases
        .iter()
        .filter_map(Value::as_object)
        .filter(|case| case.get("path").and_then(Value::as_str) == Some("/api/v1/evaluation"))
        .filter(|case| case.get("random_entity_id").is_none() && case.get("body_raw").is_none())
        .filter(|case| matches!(case.get("status"), Some(Value::Number(n)) if n.as_str() == "200"))
        .filter_map(|case| case.get("request"))
        .map(|request| {
            let mut out = Vec::new();
            json::write_value(&mut out, request);
            String::from_utf8(out).expect("utf-8")
        })
        .collect()
}

fn corpus_export() -> String {
    let bytes = std::fs::read(common::fixture("oracle/public-1.1.json")).expect("corpus");
    let Value::Object(corpus) = json::parse(&bytes).expect("parses") else {
        panic!("corpus is an object");
    };
    let mut out = Vec::new();
    json::write_value(&mut out, corpus.get("export_eval_cache").expect("export"));
    String::from_utf8(out).expect("utf-8")
}

async fn answers(api: SocketAddr, requests: &[String]) -> Vec<String> {
    let mut bodies = Vec::with_capacity(requests.len());
    for request in requests {
        let answer = post_json(api, "/api/v1/evaluation", request).await;
        assert_eq!(answer.status, 200, "{request}");
        let mut value = json::parse(&answer.body).expect("JSON");
        if let Value::Object(map) = &mut value {
            map.remove("timestamp");
        }
        let mut out = Vec::new();
        json::write_value(&mut out, &value);
        bodies.push(String::from_utf8(out).expect("utf-8"));
    }
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_with_flagr_down_answers_as_before_from_the_snapshot() {
    let requests = deterministic_requests();
    assert!(requests.len() > 200, "{} requests", requests.len());
    let snapshot = temp_path("cold-start-snapshot.json");
    let snapshot_arg = snapshot.to_str().expect("utf-8").to_string();

    // A Flagr 1.1 (no max_id route): the snapshot must bring the version back too.
    let flagr = FakeFlagr::start(&corpus_export(), None).await;
    let url = flagr.url();
    let first = start_proxy(&[
        "--upstream",
        &url,
        "--snapshot-file",
        &snapshot_arg,
        "--snapshot-debounce",
        "10ms",
    ])
    .await;
    eventually(Duration::from_secs(15), || {
        let telemetry = first.telemetry.clone();
        async move { telemetry.snapshot_saves_ok.load(Ordering::Relaxed) > 0 }
    })
    .await;
    let before = answers(first.api_address, &requests).await;
    first.shutdown().await;
    flagr.stop();

    let second = start_proxy(&[
        "--upstream",
        &url,
        "--snapshot-file",
        &snapshot_arg,
        "--upstream-connect-timeout",
        "200ms",
    ])
    .await;
    let (status, detail) = ready(second.admin_address).await;
    assert_eq!(
        (
            status,
            detail["source"].clone(),
            detail["flagrVersion"].clone()
        ),
        (200, json!("snapshot"), json!("1.1"))
    );
    let after = answers(second.api_address, &requests).await;
    for (index, (was, now)) in before.iter().zip(&after).enumerate() {
        assert_eq!(was, now, "request {}", requests[index]);
    }
    second.shutdown().await;
}

#[tokio::test]
async fn a_missing_or_corrupt_snapshot_is_ignored() {
    let flagr = FakeFlagr::start(&export("first", 1), Some(1)).await;
    let url = flagr.url();
    for content in [
        None,
        Some("{\"VexillaSnapshot\":{\"FlagrVersion\":\"1.2\"},\"Flags\":[{\"ID\":1,"),
        Some("not json"),
    ] {
        let path = temp_path("bad-snapshot.json");
        if let Some(content) = content {
            std::fs::write(&path, content).expect("written");
        }
        let proxy = start_proxy(&[
            "--upstream",
            &url,
            "--snapshot-file",
            path.to_str().expect("utf-8"),
        ])
        .await;
        eventually(Duration::from_secs(10), || async {
            ready(proxy.admin_address).await.0 == 200
        })
        .await;
        let answer = post_json(
            proxy.api_address,
            "/api/v1/evaluation",
            r#"{"flagKey":"k","entityID":"e"}"#,
        )
        .await;
        assert_eq!(answer.json()["variantKey"], "first");
        proxy.shutdown().await;
    }
    flagr.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_at_shutdown_are_answered() {
    let proxy = start_proxy(&[]).await;
    let api = proxy.api_address;
    let body = br#"{"flagKey":"pricing-page","entityID":"drain-1"}"#;

    let mut stream = TcpStream::connect(api).expect("connect");
    let head = format!(
        "POST /api/v1/evaluation HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("head");
    stream.write_all(&body[..10]).expect("half the body");
    tokio::time::sleep(Duration::from_millis(100)).await;

    let shutdown = tokio::spawn(proxy.shutdown());
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.write_all(&body[10..]).expect("rest of the body");
    let answer = tokio::task::spawn_blocking(move || {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    })
    .await
    .expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"variantKey\""), "{answer}");
    shutdown.await.expect("shutdown finishes");
    assert!(TcpStream::connect(api).is_err(), "no longer accepting");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn spawn_binary(args: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_vexilla-proxy"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts")
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_saves_the_snapshot_and_exits_zero() {
    let flagr = FakeFlagr::start(&export("first", 1), Some(1)).await;
    let snapshot = temp_path("sigterm-snapshot.json");
    let api_port = free_port();
    let mut child = spawn_binary(&[
        "--listen".into(),
        format!("127.0.0.1:{api_port}"),
        "--admin-listen".into(),
        format!("127.0.0.1:{}", free_port()),
        "--upstream".into(),
        flagr.url(),
        "--snapshot-file".into(),
        snapshot.to_str().expect("utf-8").into(),
        "--snapshot-debounce".into(),
        "1h".into(),
    ]);
    let api: SocketAddr = format!("127.0.0.1:{api_port}").parse().expect("addr");
    eventually(Duration::from_secs(20), || async move {
        TcpStream::connect(api).is_ok()
            && post_json(
                api,
                "/api/v1/evaluation",
                r#"{"flagKey":"k","entityID":"e"}"#,
            )
            .await
            .status
                == 200
    })
    .await;

    let body = br#"{"flagKey":"k","entityID":"e"}"#;
    let mut stream = TcpStream::connect(api).expect("connect");
    let head = format!(
        "POST /api/v1/evaluation HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("head");
    stream.write_all(&body[..5]).expect("part of the body");
    tokio::time::sleep(Duration::from_millis(100)).await;
    signal(&child, "TERM");
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.write_all(&body[5..]).expect("rest of the body");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success(), "{status:?}");
    // The debounce is an hour: only the save on shutdown can have written the snapshot.
    let store = FlagStore::new();
    let (count, _) =
        vexilla_proxy::snapshot::load(&snapshot, &store).expect("snapshot saved on shutdown");
    assert_eq!(count, 1);
    flagr.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_process_mid_save_never_corrupts_the_snapshot() {
    let flagr = Arc::new(FakeFlagr::start(&corpus_export(), None).await);
    let snapshot = temp_path("kill-snapshot.json");
    let stop = Arc::new(AtomicBool::new(false));
    // Keep the flags changing so the proxy saves again and again.
    let churn = {
        let (flagr, stop) = (flagr.clone(), stop.clone());
        tokio::spawn(async move {
            let base = corpus_export();
            let mut generation = 0u64;
            while !stop.load(Ordering::Relaxed) {
                generation += 1;
                let changed = if generation % 2 == 0 {
                    base.clone()
                } else {
                    base.replace("\"Enabled\":true", "\"Enabled\":false")
                };
                flagr.set_export(&changed);
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        })
    };

    let mut checked = 0;
    for round in 0..12u64 {
        let mut child = spawn_binary(&[
            "--listen".into(),
            format!("127.0.0.1:{}", free_port()),
            "--admin-listen".into(),
            format!("127.0.0.1:{}", free_port()),
            "--upstream".into(),
            flagr.url(),
            "--flagr-compat".into(),
            "1.1".into(),
            "--refresh-interval".into(),
            "20ms".into(),
            "--snapshot-file".into(),
            snapshot.to_str().expect("utf-8").into(),
            "--snapshot-debounce".into(),
            "0ms".into(),
        ]);
        tokio::time::sleep(Duration::from_millis(150 + 37 * round)).await;
        signal(&child, "KILL");
        let _ = tokio::task::spawn_blocking(move || child.wait()).await;
        if Path::new(&snapshot).exists() {
            let store = FlagStore::new();
            vexilla_proxy::snapshot::load(&snapshot, &store)
                .unwrap_or_else(|e| panic!("round {round}: snapshot unreadable after a kill: {e}"));
            checked += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    churn.await.expect("churn ends");
    assert!(
        checked >= 6,
        "only {checked} rounds had a snapshot to check"
    );
    flagr.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturation_with_slow_clients_fails_no_well_behaved_request() {
    let proxy = start_proxy(&[]).await;
    let api = proxy.api_address;

    // Slow clients: headers a byte at a time, then nothing.
    let slow: Vec<TcpStream> = (0..60)
        .filter_map(|_| {
            let mut stream = TcpStream::connect(api).ok()?;
            stream
                .write_all(b"POST /api/v1/evaluation HTTP/1.1\r\nho")
                .ok()?;
            Some(stream)
        })
        .collect();

    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..300)
        .map(|client| {
            let (ok, failed) = (ok.clone(), failed.clone());
            tokio::spawn(async move {
                let http: Client<HttpConnector, Full<Bytes>> =
                    Client::builder(TokioExecutor::new()).build(HttpConnector::new());
                for request in 0..20 {
                    let body = format!(
                        r#"{{"flagKey":"pricing-page","entityID":"load-{client}-{request}"}}"#
                    );
                    let call = hyper::Request::post(format!("http://{api}/api/v1/evaluation"))
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(body)))
                        .expect("request");
                    let status = match http.request(call).await {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let body = response.into_body().collect().await.map(|b| b.to_bytes());
                            (
                                status,
                                body.is_ok_and(|b| b.starts_with(b"{\"evalContext\"")),
                            )
                        }
                        Err(_) => (0, false),
                    };
                    if status == (200, true) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for client in clients {
        client.await.expect("client finishes");
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert_eq!(ok.load(Ordering::Relaxed), 300 * 20);
    drop(slow);
    proxy.shutdown().await;
}
