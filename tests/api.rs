//! The HTTP surface end to end on the real server: evaluation on the example flags, Flagr's
//! error answers, version-specific forms, the pass-through to an upstream Flagr, and sync from
//! an upstream and from a flags file.

mod common;

use std::time::Duration;

use common::{eventually, post_json, send, start_proxy, temp_path, FakeFlagr};

fn flag_export(id: u64, key: &str, variant: &str, snapshot: u64) -> String {
    serde_json::json!({"Flags": [{
        "ID": id, "Key": key, "Enabled": true, "SnapshotID": snapshot,
        "Tags": [{"ID": 1, "Value": "t"}],
        "Segments": [{"ID": 10, "FlagID": id, "RolloutPercent": 100, "Constraints": [],
            "Distributions": [{"ID": 20, "VariantID": 30, "VariantKey": variant, "Percent": 100}]}],
        "Variants": [{"ID": 30, "Key": variant, "Attachment": {}}]
    }]})
    .to_string()
}

#[tokio::test]
async fn answers_on_the_embedded_example_flags() {
    let proxy = start_proxy(&[]).await;
    let address = proxy.api_address;

    let health = send(address, "GET", "/api/v1/health", &[], None).await;
    assert_eq!(
        (health.status, health.text()),
        (200, "{\"status\":\"OK\"}\n".to_string())
    );

    let answer = post_json(
        address,
        "/api/v1/evaluation",
        r#"{"flagKey":"dark-mode","entityID":"u1","entityContext":{"groups":["beta"]}}"#,
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["content-type"], "application/json");
    let body = answer.json();
    assert_eq!(body["variantKey"], "enabled");
    assert_eq!(body["segmentID"], 3);
    assert_eq!(body["flagSnapshotID"], 35);
    assert_eq!(body["recordSource"], "evaluation");
    assert_eq!(body["flagTags"], serde_json::json!(["ui", "web"]));

    let preflight = send(
        address,
        "OPTIONS",
        "/api/v1/evaluation",
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ],
        None,
    )
    .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.headers["access-control-allow-methods"], "POST");
    let cross = send(
        address,
        "POST",
        "/api/v1/evaluation",
        &[
            ("origin", "https://app.example"),
            ("content-type", "application/json"),
        ],
        Some(br#"{"flagID":1,"entityID":"u1"}"#),
    )
    .await;
    assert_eq!(cross.status, 200);
    assert_eq!(cross.headers["access-control-allow-origin"], "*");

    let disabled = post_json(
        address,
        "/api/v1/evaluation",
        r#"{"flagID":5,"entityID":"u1"}"#,
    )
    .await
    .json();
    assert_eq!(disabled["evalDebugLog"]["msg"], "flagID 5 is not enabled");
    assert!(disabled.get("variantKey").is_none());
    proxy.shutdown().await;
}

#[tokio::test]
async fn refuses_bad_requests_as_flagr_does() {
    let proxy = start_proxy(&["--max-body-bytes", "2048"]).await;
    let address = proxy.api_address;
    let check = |status: u16, body: &str| (status, format!("{body}\n"));

    let answer = post_json(address, "/api/v1/evaluation", "{\"flagID\":").await;
    assert_eq!(
        (answer.status, answer.text()),
        check(
            400,
            r#"{"code":400,"message":"parsing body body from \"\" failed, because unexpected EOF"}"#
        )
    );
    let answer = send(
        address,
        "POST",
        "/api/v1/evaluation",
        &[("content-type", "text/plain")],
        Some(b"{}"),
    )
    .await;
    assert_eq!(answer.status, 415);
    let answer = post_json(
        address,
        "/api/v1/evaluation/batch",
        r#"{"entities":[{}],"flagIDs":[]}"#,
    )
    .await;
    assert_eq!(
        (answer.status, answer.text()),
        check(
            422,
            r#"{"code":612,"message":"flagIDs in body should have at least 1 items"}"#
        )
    );
    let big = format!("{{\"entityID\":\"{}\"}}", "x".repeat(4096));
    let answer = post_json(address, "/api/v1/evaluation", &big).await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.json()["code"], 413);

    // No upstream: Flagr's own routes say so, unknown paths are Flagr's 404.
    let answer = send(address, "GET", "/api/v1/flags", &[], None).await;
    assert_eq!(answer.status, 501);
    assert!(answer.json()["message"]
        .as_str()
        .unwrap_or_default()
        .contains("--upstream"));
    let answer = send(address, "GET", "/api/v1/nothing", &[], None).await;
    assert_eq!(
        (answer.status, answer.text()),
        check(
            404,
            r#"{"code":404,"message":"path /api/v1/nothing was not found"}"#
        )
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn version_1_2_serves_get_forms_and_dedups_batches() {
    let proxy = start_proxy(&["--flagr-compat", "1.2"]).await;
    let address = proxy.api_address;

    let query = "json=%7B%22flagID%22%3A2%2C%22entityID%22%3A%22g1%22%2C%22entityContext%22%3A%7B%22n%22%3A1.50%7D%7D";
    let answer = send(
        address,
        "GET",
        &format!("/api/v1/evaluation?{query}"),
        &[],
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(
        answer.text().contains("\"entityContext\":{\"n\":1.5}"),
        "{}",
        answer.text()
    );

    let answer = send(address, "GET", "/api/v1/evaluation?json=%7B", &[], None).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.json()["message"],
        "json is not valid evalContext: unexpected end of JSON input"
    );
    let answer = send(address, "GET", "/api/v1/evaluation", &[], None).await;
    assert_eq!(
        (answer.status, answer.json()["code"].clone()),
        (422, 602.into())
    );

    let batch = post_json(
        address,
        "/api/v1/evaluation/batch",
        r#"{"entities":[{"entityID":"b"}],"flagIDs":[2,2,1],"flagKeys":["dark-mode","dark-mode"]}"#,
    )
    .await;
    let results = batch.json()["evaluationResults"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(results.len(), 3);
    let empty = post_json(
        address,
        "/api/v1/evaluation/batch",
        r#"{"entities":[{"entityID":"b"}]}"#,
    )
    .await;
    assert_eq!(empty.text(), "{\"evaluationResults\":[]}\n");
    proxy.shutdown().await;
}

#[tokio::test]
async fn version_1_1_refuses_get_and_keeps_batch_repeats() {
    let proxy = start_proxy(&["--flagr-compat", "1.1"]).await;
    let address = proxy.api_address;
    let answer = send(address, "GET", "/api/v1/evaluation?json=%7B%7D", &[], None).await;
    assert_eq!(answer.status, 405);
    assert_eq!(
        answer.json()["message"],
        "method GET is not allowed, but [POST] are"
    );
    let batch = post_json(
        address,
        "/api/v1/evaluation/batch",
        r#"{"entities":[{"entityID":"b"}],"flagIDs":[2,2]}"#,
    )
    .await;
    assert_eq!(
        batch.json()["evaluationResults"].as_array().map(Vec::len),
        Some(2)
    );
    let empty = post_json(
        address,
        "/api/v1/evaluation/batch",
        r#"{"entities":[{"entityID":"b"}]}"#,
    )
    .await;
    assert_eq!(empty.text(), "{\"evaluationResults\":null}\n");
    proxy.shutdown().await;
}

#[tokio::test]
async fn passes_other_requests_through_unchanged() {
    let flagr = FakeFlagr::start(&flag_export(1, "k", "on", 1), Some(1)).await;
    let proxy = start_proxy(&["--upstream", &flagr.url()]).await;
    let address = proxy.api_address;

    let answer = send(
        address,
        "PUT",
        "/api/v1/flags/7/enabled?x=1&y=%20",
        &[
            ("authorization", "Bearer secret-token"),
            ("content-type", "application/json"),
            ("x-custom", "v"),
        ],
        Some(b"{\"enabled\":true}"),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["x-fake-flagr"], "1");
    let echo = answer.json();
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["pathAndQuery"], "/api/v1/flags/7/enabled?x=1&y=%20");
    assert_eq!(echo["body"], "{\"enabled\":true}");
    let seen = flagr.seen();
    let forwarded = seen.iter().find(|s| s.method == "PUT").expect("forwarded");
    let header = |name: &str| {
        forwarded
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        header("authorization").as_deref(),
        Some("Bearer secret-token")
    );
    assert_eq!(header("x-custom").as_deref(), Some("v"));

    flagr.state.routes.lock().expect("lock").insert(
        "/api/v1/flags/99".into(),
        (
            404,
            "{\"message\":\"unable to find flag 99 in the database\"}".into(),
        ),
    );
    let answer = send(address, "GET", "/api/v1/flags/99", &[], None).await;
    assert_eq!(
        (answer.status, answer.text()),
        (
            404,
            "{\"message\":\"unable to find flag 99 in the database\"}".to_string()
        )
    );
    proxy.shutdown().await;
    flagr.stop();
}

#[tokio::test]
async fn unreachable_upstream_gives_502_and_503_before_flags() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let upstream = format!("http://127.0.0.1:{port}");
    let proxy = start_proxy(&[
        "--upstream",
        &upstream,
        "--upstream-connect-timeout",
        "500ms",
    ])
    .await;
    let address = proxy.api_address;

    let answer = send(address, "GET", "/api/v1/flags", &[], None).await;
    assert_eq!(answer.status, 502);
    assert!(answer.json()["message"]
        .as_str()
        .unwrap_or_default()
        .starts_with("upstream Flagr is unavailable"));
    let answer = post_json(
        address,
        "/api/v1/evaluation",
        r#"{"flagID":1,"entityID":"x"}"#,
    )
    .await;
    assert_eq!(answer.status, 503);
    let health = send(address, "GET", "/api/v1/health", &[], None).await;
    assert_eq!(health.status, 200);
    proxy.shutdown().await;
}

#[tokio::test]
async fn follows_upstream_changes_and_keeps_flags_when_it_fails() {
    let flagr = FakeFlagr::start(&flag_export(1, "k", "first", 1), Some(1)).await;
    let proxy = start_proxy(&["--upstream", &flagr.url(), "--poll-interval", "50ms"]).await;
    let address = proxy.api_address;
    let variant = || async move {
        let answer = post_json(
            address,
            "/api/v1/evaluation",
            r#"{"flagKey":"k","entityID":"e"}"#,
        )
        .await;
        (
            answer.status,
            answer.json()["variantKey"].as_str().map(str::to_string),
        )
    };
    eventually(Duration::from_secs(10), || async {
        variant().await == (200, Some("first".into()))
    })
    .await;
    assert_eq!(
        proxy.compat.version(),
        vexilla_proxy::flag::FlagrVersion::V1_2
    );

    flagr.set_export(&flag_export(1, "k", "second", 2));
    flagr.set_max_id(Some(2));
    eventually(Duration::from_secs(10), || async {
        variant().await.1.as_deref() == Some("second")
    })
    .await;

    // Garbage from the upstream never replaces good flags.
    flagr.set_export("<html>oops</html>");
    flagr.set_max_id(Some(3));
    let fetches = flagr
        .state
        .export_fetches
        .load(std::sync::atomic::Ordering::Relaxed);
    eventually(Duration::from_secs(10), || async {
        flagr
            .state
            .export_fetches
            .load(std::sync::atomic::Ordering::Relaxed)
            > fetches
    })
    .await;
    assert_eq!(variant().await, (200, Some("second".into())));
    proxy.shutdown().await;
    flagr.stop();
}

#[tokio::test]
async fn rereads_the_flags_file_and_refuses_a_broken_one() {
    let path = temp_path("flags.json");
    std::fs::write(&path, flag_export(1, "k", "first", 1)).expect("written");
    let proxy = start_proxy(&[
        "--flags-file",
        path.to_str().expect("utf-8"),
        "--poll-interval",
        "50ms",
    ])
    .await;
    let address = proxy.api_address;
    let variant = || async move {
        let answer = post_json(
            address,
            "/api/v1/evaluation",
            r#"{"flagKey":"k","entityID":"e"}"#,
        )
        .await;
        answer.json()["variantKey"].as_str().map(str::to_string)
    };
    assert_eq!(variant().await.as_deref(), Some("first"));

    std::fs::write(&path, flag_export(1, "k", "second-version", 1)).expect("written");
    eventually(Duration::from_secs(10), || async {
        variant().await.as_deref() == Some("second-version")
    })
    .await;

    std::fs::write(&path, "{\"Flags\":[{\"ID\":1,\"Key\":\"k\",").expect("written");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(variant().await.as_deref(), Some("second-version"));
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_batches_and_contexts_are_bounded() {
    let proxy = start_proxy(&["--max-response-bytes", "1048576"]).await;
    let address = proxy.api_address;

    // 150 KB asking for 100 million evaluations.
    let entities = vec!["{}"; 10_000].join(",");
    let keys: Vec<String> = (0..10_000).map(|i| format!("\"k{i}\"")).collect();
    let keys = keys.join(",");
    let body = format!("{{\"entities\":[{entities}],\"flagKeys\":[{keys}]}}");
    let answer = post_json(address, "/api/v1/evaluation/batch", &body).await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(answer.json()["message"]
        .as_str()
        .unwrap_or_default()
        .contains("--max-batch-evaluations"));

    // Few evaluations, each echoing a big context: the answer would pass the byte limit.
    let context = format!("{{\"blob\":\"{}\"}}", "x".repeat(200_000));
    let body = format!(
        "{{\"entities\":[{{\"entityID\":\"e\",\"entityContext\":{context}}}],\"flagIDs\":[1,2,3,4,5,6]}}"
    );
    let answer = post_json(address, "/api/v1/evaluation/batch", &body).await;
    assert_eq!(
        answer.status,
        400,
        "{}",
        &answer.text()[..200.min(answer.text().len())]
    );
    assert!(answer.json()["message"]
        .as_str()
        .unwrap_or_default()
        .contains("--max-response-bytes"));

    // A deep non-object context with debug on: the go-spew dump is cut, not quadratic. (The
    // binary's workers have room for Go's full 10000 levels; this in-process server runs on
    // the test harness's smaller thread stacks.)
    let deep = "[".repeat(1500) + &"]".repeat(1500);
    let body = format!("{{\"flagKey\":\"dark-mode\",\"entityID\":\"e\",\"enableDebug\":true,\"entityContext\":{deep}}}");
    let answer = post_json(address, "/api/v1/evaluation", &body).await;
    assert_eq!(answer.status, 200);
    assert!(answer.body.len() < 300_000, "{} bytes", answer.body.len());
    assert!(answer.text().contains("truncated by vexilla-proxy"));
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_or_oversized_bodies_are_refused() {
    let proxy = start_proxy(&["--body-read-timeout", "300ms", "--max-body-bytes", "2048"]).await;
    let address = proxy.api_address;
    let exchange = move |request: &'static [u8]| {
        tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(address).expect("connect");
            std::io::Write::write_all(&mut stream, request).expect("write");
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            let mut answer = String::new();
            let _ = std::io::Read::read_to_string(&mut stream, &mut answer);
            answer
        })
    };
    let stalled = exchange(b"POST /api/v1/evaluation HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"flag");
    let answer = stalled.await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let declared = exchange(b"POST /api/v1/evaluation HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 999999\r\nconnection: close\r\n\r\n");
    let answer = declared.await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let connect = send(address, "CONNECT", "/", &[], None).await;
    assert_eq!(connect.status, 405);
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upstream_body_does_not_hang_the_client() {
    // An upstream that sends headers and half a body, then nothing.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let upstream = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                let _ = std::io::Read::read(&mut stream, &mut buffer);
                let _ = std::io::Write::write_all(
                    &mut stream,
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"half\":",
                );
                std::thread::sleep(Duration::from_secs(30));
            });
        }
    });
    let url = format!("http://{upstream}");
    let proxy = start_proxy(&["--upstream", &url, "--upstream-timeout", "500ms"]).await;
    let address = proxy.api_address;
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).expect("connect");
        std::io::Write::write_all(
            &mut stream,
            b"GET /api/v1/flags HTTP/1.1\r\nhost: x\r\n\r\n",
        )
        .expect("write");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let started = std::time::Instant::now();
        let mut answer = Vec::new();
        let result = std::io::Read::read_to_end(&mut stream, &mut answer);
        (
            result.is_ok(),
            started.elapsed() < Duration::from_secs(20),
            String::from_utf8_lossy(&answer).into_owned(),
        )
    })
    .await
    .expect("read");
    assert!(answer.1, "the client was left hanging: {}", answer.2);
    assert!(answer.2.starts_with("HTTP/1.1 200"), "{}", answer.2);
    assert!(
        !answer.2.ends_with('}'),
        "the answer is cut short, not completed: {}",
        answer.2
    );
    proxy.shutdown().await;
}

/// A batch writes each entity's context once and copies it into that entity's results: every
/// result must still be exactly the single evaluation of that entity and flag.
#[tokio::test]
async fn batch_results_equal_single_evaluations_entity_by_entity() {
    let proxy = start_proxy(&[]).await;
    let address = proxy.api_address;
    let entities = [
        r#"{"entityID":"u1","entityContext":{"groups":["beta"],"country":"CA","plan":"pro"}}"#,
        r#"{"entityID":"u2","entityContext":{"country":"US","note":"quote \" and \u2028"}}"#,
        r#"{"entityID":"u3"}"#,
        r#"{"entityID":"u4","entityContext":{"groups":["staff"],"age":42}}"#,
    ];
    let keys = ["dark-mode", "new-checkout", "pricing-page", "search-ranker"];
    let body = format!(
        r#"{{"entities":[{}],"flagKeys":{}}}"#,
        entities.join(","),
        serde_json::to_string(&keys).expect("keys")
    );
    let batch = post_json(address, "/api/v1/evaluation/batch", &body).await;
    assert_eq!(batch.status, 200);
    let results = batch.json()["evaluationResults"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(results.len(), entities.len() * keys.len());

    let without_timestamp = |mut value: serde_json::Value| {
        value
            .as_object_mut()
            .expect("a result object")
            .remove("timestamp");
        value
    };
    let mut index = 0;
    for entity in entities {
        for key in keys {
            let single: serde_json::Value = serde_json::from_str(entity).expect("entity JSON");
            let mut request = single.as_object().cloned().expect("entity object");
            request.insert("flagKey".into(), key.into());
            let request = serde_json::Value::Object(request).to_string();
            let answer = post_json(address, "/api/v1/evaluation", &request).await;
            assert_eq!(answer.status, 200, "{request}");
            let mut expected = without_timestamp(answer.json());
            // A batch's evaluation context names the selector it came from: the flag key here,
            // as the single request did.
            let got = without_timestamp(results[index].clone());
            expected["evalContext"]["flagKey"] = got["evalContext"]["flagKey"].clone();
            assert_eq!(got, expected, "entity {entity}, flag {key}");
            assert_eq!(got["evalContext"]["entityContext"], single["entityContext"]);
            index += 1;
        }
    }
    proxy.shutdown().await;
}
