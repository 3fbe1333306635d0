//! The `/webhook` listener end to end against an in-process fake Flagr: signed events refresh
//! exactly the named flags (new variant and snapshot ID in the next answer), deletions, burst
//! coalescing counted at the fake, replays and stale events refused, Flagr 1.2's payload with
//! a bearer token, every rejection path, and secrets kept out of the logs.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use vexilla_proxy::webhook::verify::{encode_base64, sign_hex, sign_standard};

use common::{post_json, send, start_proxy, FakeFlagr};

const SECRET: &str = "s3cret-key";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn rfc3339(unix: i64) -> String {
    vexilla_proxy::response::format_timestamp(unix.max(0) as u64)
}

/// A flag in Flagr's REST shape (camelCase), as its snapshots carry it.
fn rest_flag(id: u64, key: &str, variant: &str) -> serde_json::Value {
    json!({
        "id": id, "key": key, "enabled": true, "tags": [],
        "segments": [{"id": 10, "rank": 0, "rolloutPercent": 100, "constraints": [],
            "distributions": [{"id": 20, "percent": 100, "variantID": 30, "variantKey": variant}]}],
        "variants": [{"id": 30, "key": variant, "attachment": {}}]
    })
}

fn export(id: u64, key: &str, variant: &str, snapshot: u64) -> String {
    json!({"Flags": [{
        "ID": id, "Key": key, "Enabled": true, "SnapshotID": snapshot,
        "Segments": [{"ID": 10, "FlagID": id, "RolloutPercent": 100,
            "Distributions": [{"ID": 20, "VariantID": 30, "VariantKey": variant, "Percent": 100}]}],
        "Variants": [{"ID": 30, "Key": variant, "Attachment": {}}]
    }]})
    .to_string()
}

/// Makes flag `id` deleted in the fake Flagr: 404 on its flag route.
fn deleted_in_flagr(flagr: &FakeFlagr, id: u64) {
    let message = format!("{{\"message\":\"unable to find flag {id} in the database\"}}");
    flagr
        .state
        .routes
        .lock()
        .expect("lock")
        .insert(format!("/api/v1/flags/{id}"), (404, message));
}

/// Makes flag `id`'s latest snapshot `snapshot`, with `variant`.
fn set_snapshot(flagr: &FakeFlagr, id: u64, key: &str, variant: &str, snapshot: u64) {
    let body = json!([{"id": snapshot, "flag": rest_flag(id, key, variant), "updatedAt": "2026-12-04T00:00:00Z"}]);
    flagr.route(&format!("/api/v1/flags/{id}/snapshots"), &body.to_string());
    flagr.route(
        "/api/v1/flags",
        &json!([{"id": id, "key": key}]).to_string(),
    );
}

async fn start(flagr: &FakeFlagr, extra: &[&str]) -> vexilla_proxy::Proxy {
    start_with_secrets(flagr, SECRET, extra).await
}

async fn start_with_secrets(
    flagr: &FakeFlagr,
    secrets: &str,
    extra: &[&str],
) -> vexilla_proxy::Proxy {
    let url = flagr.url();
    let mut args = vec![
        "--upstream",
        url.as_str(),
        "--webhook-listen",
        "127.0.0.1:0",
        "--webhook-secret",
        secrets,
        "--refresh-interval",
        "1h",
        "--poll-interval",
        "1h",
    ];
    args.extend_from_slice(extra);
    let proxy = start_proxy(&args).await;
    common::eventually(Duration::from_secs(10), || {
        let store = proxy.store.clone();
        async move { store.is_loaded() }
    })
    .await;
    proxy
}

fn vexilla_event(event: &str, keys: &[&str], at: i64) -> String {
    json!({"event": event, "flag_keys": keys, "timestamp": rfc3339(at)}).to_string()
}

async fn send_signed(address: SocketAddr, body: &str) -> common::Answer {
    let signature = format!("sha256={}", sign_hex(SECRET.as_bytes(), body.as_bytes()));
    send(
        address,
        "POST",
        "/webhook",
        &[
            ("content-type", "application/json"),
            ("x-webhook-signature", &signature),
        ],
        Some(body.as_bytes()),
    )
    .await
}

async fn evaluate(address: SocketAddr, key: &str) -> serde_json::Value {
    let body = json!({"flagKey": key, "entityID": "e1"}).to_string();
    post_json(address, "/api/v1/evaluation", &body).await.json()
}

#[tokio::test]
async fn a_signed_event_refreshes_the_named_flag_at_once() {
    let flagr = FakeFlagr::start(&export(1, "k", "first", 1), Some(1)).await;
    let proxy = start(&flagr, &[]).await;
    let webhook = proxy.webhook_address.expect("webhook on");
    assert_eq!(
        evaluate(proxy.api_address, "k").await["variantKey"],
        "first"
    );

    set_snapshot(&flagr, 1, "k", "second", 7);
    let answer = send_signed(webhook, &vexilla_event("flag.updated", &["k"], now())).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let summary = answer.json();
    assert_eq!(summary["status"], "applied");
    assert_eq!(summary["flags"][0]["result"], "updated");
    assert_eq!(summary["flags"][0]["flagSnapshotID"], 7);

    let result = evaluate(proxy.api_address, "k").await;
    assert_eq!(result["variantKey"], "second");
    assert_eq!(result["flagSnapshotID"], 7);
    let metrics = send(proxy.admin_address, "GET", "/metrics", &[], None)
        .await
        .text();
    let applied = "vexilla_webhook_requests_total{outcome=\"applied\",reason=\"none\"} 1";
    assert!(metrics.lines().any(|line| line == applied), "{metrics}");
    // Only the named flag was fetched, not the export.
    assert_eq!(flagr.state.export_fetches.load(Ordering::Relaxed), 1);
    assert_eq!(flagr.count("/api/v1/flags/1/snapshots"), 1);
    proxy.shutdown().await;
    flagr.stop();
}

#[tokio::test]
async fn deletion_removes_the_flag_and_a_new_flag_is_found_by_key() {
    let flagr = FakeFlagr::start(&export(1, "k", "first", 1), Some(1)).await;
    let proxy = start(&flagr, &[]).await;
    let webhook = proxy.webhook_address.expect("webhook on");

    // A delete event for a flag Flagr still has is a refresh, not a removal (replays and
    // component deletes look like this).
    set_snapshot(&flagr, 1, "k", "first", 1);
    let answer = send_signed(webhook, &vexilla_event("flag.deleted", &["k"], now())).await;
    assert_ne!(
        answer.json()["flags"][0]["result"],
        "removed",
        "{}",
        answer.text()
    );
    assert_eq!(
        evaluate(proxy.api_address, "k").await["variantKey"],
        "first"
    );

    // Deleted in Flagr: its flag route answers 404, though its snapshots are still served.
    deleted_in_flagr(&flagr, 1);
    let answer = send_signed(webhook, &vexilla_event("flag.deleted", &["k"], now())).await;
    assert_eq!(answer.json()["flags"][0]["result"], "removed");
    let result = evaluate(proxy.api_address, "k").await;
    assert_eq!(
        result["evalDebugLog"]["msg"],
        "flagID 0 not found or deleted"
    );

    set_snapshot(&flagr, 2, "fresh", "on", 9);
    let answer = send_signed(webhook, &vexilla_event("flag.created", &["fresh"], now())).await;
    assert_eq!(
        answer.json()["flags"][0]["result"],
        "updated",
        "{}",
        answer.text()
    );
    let result = evaluate(proxy.api_address, "fresh").await;
    assert_eq!(
        (result["flagID"].clone(), result["variantKey"].clone()),
        (json!(2), json!("on"))
    );
    proxy.shutdown().await;
    flagr.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_for_one_flag_costs_at_most_two_fetches() {
    let flagr = FakeFlagr::start(&export(1, "k", "first", 1), Some(1)).await;
    let proxy = start(&flagr, &["--webhook-rate-limit", "1000"]).await;
    let webhook = proxy.webhook_address.expect("webhook on");
    set_snapshot(&flagr, 1, "k", "second", 2);
    // The whole burst has to land while the first fetch is in flight: a slow read leaves
    // room for 100 connections on a loaded machine (at 50 ms a third fetch was seen once,
    // for events that came in during the follow-up).
    flagr.state.delay_ms.store(400, Ordering::Relaxed);

    let body =
        json!({"operation": "update", "flag_id": 1, "flag_key": "k", "component_type": "segment"})
            .to_string();
    let signature = sign_hex(SECRET.as_bytes(), body.as_bytes());
    let sends = (0..100).map(|_| {
        let body = body.clone();
        let signature = signature.clone();
        tokio::spawn(async move {
            let headers = [
                ("content-type", "application/json"),
                ("x-webhook-signature", signature.as_str()),
            ];
            send(webhook, "POST", "/webhook", &headers, Some(body.as_bytes()))
                .await
                .status
        })
    });
    for task in sends.collect::<Vec<_>>() {
        assert_eq!(task.await.expect("send finishes"), 200);
    }
    let fetches = flagr.count("/api/v1/flags/1/snapshots");
    assert!(
        (1..=2).contains(&fetches),
        "{fetches} fetches for one burst"
    );
    assert_eq!(
        evaluate(proxy.api_address, "k").await["variantKey"],
        "second"
    );
    proxy.shutdown().await;
    flagr.stop();
}

#[tokio::test]
async fn replays_and_stale_events_are_refused() {
    let flagr = FakeFlagr::start(&export(1, "k", "first", 1), Some(1)).await;
    let key = b"standard-webhooks-key";
    let secret = format!("whsec_{}", encode_base64(key));
    // Key rotation: the hex scheme's key and a Standard Webhooks key side by side.
    let proxy = start_with_secrets(&flagr, &format!("{SECRET},{secret}"), &[]).await;
    let webhook = proxy.webhook_address.expect("webhook on");
    set_snapshot(&flagr, 1, "k", "second", 2);

    let body = vexilla_event("flag.updated", &["k"], now());
    let standard = |id: &str, at: i64| {
        let signature = sign_standard(key, id, at, body.as_bytes());
        vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("webhook-id".to_string(), id.to_string()),
            ("webhook-timestamp".to_string(), at.to_string()),
            ("webhook-signature".to_string(), signature),
        ]
    };
    let post = |headers: Vec<(String, String)>, body: String| async move {
        let refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        send(webhook, "POST", "/webhook", &refs, Some(body.as_bytes())).await
    };

    let first = post(standard("msg_1", now()), body.clone()).await;
    assert_eq!(first.json()["status"], "applied", "{}", first.text());
    let fetches = flagr.count("/api/v1/flags/1/snapshots");
    let again = post(standard("msg_1", now()), body.clone()).await;
    assert_eq!(
        (again.status, again.json()["status"].clone()),
        (200, json!("duplicate"))
    );
    assert_eq!(
        flagr.count("/api/v1/flags/1/snapshots"),
        fetches,
        "a replay is not applied twice"
    );

    let old = post(standard("msg_2", now() - 600), body.clone()).await;
    assert_eq!(old.status, 401);
    let future = post(standard("msg_3", now() + 600), body.clone()).await;
    assert_eq!(future.status, 401);

    let stale = send_signed(webhook, &vexilla_event("flag.updated", &["k"], now() - 600)).await;
    assert_eq!(stale.status, 400);
    assert!(stale.json()["message"]
        .as_str()
        .unwrap_or_default()
        .contains("replay"));
    let ahead = send_signed(webhook, &vexilla_event("flag.updated", &["k"], now() + 600)).await;
    assert_eq!(ahead.status, 400);
    proxy.shutdown().await;
    flagr.stop();
}

#[tokio::test]
async fn flagr_notifier_payload_with_a_bearer_token() {
    let flagr = FakeFlagr::start(&export(1, "k", "first", 1), Some(1)).await;
    let proxy = start(&flagr, &["--webhook-token", "notifier-token"]).await;
    let webhook = proxy.webhook_address.expect("webhook on");
    set_snapshot(&flagr, 1, "k", "second", 3);

    let body =
        json!({"operation": "update", "flag_id": 1, "flag_key": "k", "component_type": "flag",
        "timestamp": rfc3339(now())})
        .to_string();
    let headers = [
        ("content-type", "application/json"),
        ("authorization", "Bearer notifier-token"),
    ];
    let answer = send(webhook, "POST", "/webhook", &headers, Some(body.as_bytes())).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(evaluate(proxy.api_address, "k").await["flagSnapshotID"], 3);

    let wrong = [
        ("content-type", "application/json"),
        ("authorization", "Bearer not-the-token"),
    ];
    assert_eq!(
        send(webhook, "POST", "/webhook", &wrong, Some(body.as_bytes()))
            .await
            .status,
        401
    );

    // Deleting a segment refreshes the flag; it does not drop it.
    let segment = json!({"operation": "delete", "flag_id": 1, "component_type": "segment", "component_id": 10})
        .to_string();
    let answer = send(
        webhook,
        "POST",
        "/webhook",
        &headers,
        Some(segment.as_bytes()),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(evaluate(proxy.api_address, "k").await["flagSnapshotID"], 3);

    deleted_in_flagr(&flagr, 1);
    let delete = json!({"operation": "delete", "flag_id": 1, "flag_key": "k"}).to_string();
    let answer = send(
        webhook,
        "POST",
        "/webhook",
        &headers,
        Some(delete.as_bytes()),
    )
    .await;
    assert_eq!(answer.json()["flags"][0]["result"], "removed");
    // An update arriving after the delete cannot bring the flag back.
    let late = json!({"operation": "update", "flag_id": 1, "component_type": "flag"}).to_string();
    let answer = send(webhook, "POST", "/webhook", &headers, Some(late.as_bytes())).await;
    assert_eq!(
        answer.json()["flags"][0]["result"],
        "not_found",
        "{}",
        answer.text()
    );
    let result = evaluate(proxy.api_address, "k").await;
    assert_eq!(
        result["evalDebugLog"]["msg"],
        "flagID 0 not found or deleted"
    );

    // A stale Flagr stamp is refused as a replay.
    let old = json!({"operation": "update", "flag_id": 1, "timestamp": "2020-01-01T00:00:00Z"})
        .to_string();
    assert_eq!(
        send(webhook, "POST", "/webhook", &headers, Some(old.as_bytes()))
            .await
            .status,
        400
    );
    proxy.shutdown().await;
    flagr.stop();
}

#[tokio::test]
async fn every_rejection_has_its_status() {
    let flagr = FakeFlagr::start(&export(1, "k", "first", 1), Some(1)).await;
    let proxy = start(
        &flagr,
        &[
            "--webhook-max-body-bytes",
            "1024",
            "--webhook-read-timeout",
            "300ms",
            "--webhook-rate-limit",
            "2",
        ],
    )
    .await;
    let webhook = proxy.webhook_address.expect("webhook on");
    let body = vexilla_event("flag.updated", &["k"], now());

    let unsigned = send(
        webhook,
        "POST",
        "/webhook",
        &[("content-type", "application/json")],
        Some(body.as_bytes()),
    )
    .await;
    assert_eq!(
        (unsigned.status, unsigned.json()["message"].clone()),
        (401, json!("unauthorized"))
    );
    let forged = send(
        webhook,
        "POST",
        "/webhook",
        &[("x-webhook-signature", &sign_hex(b"other", body.as_bytes()))],
        Some(body.as_bytes()),
    )
    .await;
    assert_eq!(
        (forged.status, forged.json()["message"].clone()),
        (401, json!("unauthorized"))
    );
    let bad_json = send_signed(webhook, "{\"event\":").await;
    assert_eq!(bad_json.status, 400);
    assert!(bad_json.json()["message"]
        .as_str()
        .unwrap_or_default()
        .starts_with("body is not valid JSON"));

    // The rate limit (2/s, bursts of 4) is spent by now; wait for tokens before each probe.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let get = send(webhook, "GET", "/webhook", &[], None).await;
    assert_eq!(
        (get.status, get.headers["allow"].to_str().ok()),
        (405, Some("POST"))
    );
    let big = "x".repeat(2048);
    assert_eq!(send_signed(webhook, &big).await.status, 413);
    assert_eq!(
        send(webhook, "POST", "/elsewhere", &[], None).await.status,
        404
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let slow = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(webhook).expect("connect");
        stream
            .write_all(b"POST /webhook HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{")
            .expect("write");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    })
    .await
    .expect("slow client finishes");
    assert!(slow.starts_with("HTTP/1.1 408"), "{slow}");

    set_snapshot(&flagr, 1, "k", "second", 2);
    let burst = (0..8).map(|_| {
        let body = body.clone();
        tokio::spawn(async move { send_signed(webhook, &body).await.status })
    });
    let mut statuses = Vec::new();
    for task in burst.collect::<Vec<_>>() {
        statuses.push(task.await.expect("send finishes"));
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    proxy.shutdown().await;
    flagr.stop();
}

#[tokio::test]
async fn listener_stays_off_without_keys_and_files_are_reread() {
    let proxy = start_proxy(&["--webhook-listen", "127.0.0.1:0"]).await;
    assert!(proxy.webhook_address.is_none());
    proxy.shutdown().await;

    let path = common::temp_path("webhook-flags.json");
    std::fs::write(&path, export(1, "k", "first", 1)).expect("written");
    let proxy = start_proxy(&[
        "--flags-file",
        path.to_str().expect("utf-8"),
        "--poll-interval",
        "1h",
        "--webhook-listen",
        "127.0.0.1:0",
        "--webhook-secret",
        SECRET,
    ])
    .await;
    std::fs::write(&path, export(1, "k", "second", 2)).expect("written");
    let answer = send_signed(
        proxy.webhook_address.expect("on"),
        &vexilla_event("flag.updated", &["k"], now()),
    )
    .await;
    assert_eq!(
        answer.json()["flags"][0]["result"],
        "file_reloaded",
        "{}",
        answer.text()
    );
    assert_eq!(
        evaluate(proxy.api_address, "k").await["variantKey"],
        "second"
    );
    proxy.shutdown().await;
}

#[test]
fn secrets_never_reach_the_logs() {
    let port = |_: ()| {
        std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port()
    };
    let (api_port, webhook_port, admin_port) = (port(()), port(()), port(()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_vexilla-proxy"))
        .args([
            "--listen",
            &format!("127.0.0.1:{api_port}"),
            "--webhook-listen",
            &format!("127.0.0.1:{webhook_port}"),
            "--admin-listen",
            &format!("127.0.0.1:{admin_port}"),
        ])
        .env("VEXILLA_WEBHOOK_SECRET", "log-secret-AAAA")
        .env("VEXILLA_WEBHOOK_TOKEN", "log-token-BBBB")
        .env("RUST_LOG", "trace")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("binary starts");

    let body = vexilla_event("flag.updated", &["dark-mode"], now());
    let good = sign_hex(b"log-secret-AAAA", body.as_bytes());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let address: SocketAddr = format!("127.0.0.1:{webhook_port}").parse().expect("addr");
        common::eventually(Duration::from_secs(20), || async move {
            std::net::TcpStream::connect(address).is_ok()
        })
        .await;
        let attempts: [&[(&str, &str)]; 3] = [
            &[("x-webhook-signature", good.as_str())],
            &[("x-webhook-signature", "sha256=deadbeef")],
            &[("authorization", "Bearer log-token-BBBB-wrong")],
        ];
        for headers in attempts {
            send(address, "POST", "/webhook", headers, Some(body.as_bytes())).await;
        }
    });
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let mut logs = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut logs)
        .expect("logs read");
    let _ = child.wait();

    assert!(logs.contains("webhook listener on"), "{logs}");
    for secret in ["log-secret-AAAA", "log-token-BBBB", &good, "deadbeef"] {
        assert!(!logs.contains(secret), "{secret} appears in the logs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_flag_survives_a_lagging_full_sync() {
    let flagr = FakeFlagr::start(&export(1, "k", "first", 1), Some(1)).await;
    let url = flagr.url();
    let proxy = start_proxy(&[
        "--upstream",
        &url,
        "--webhook-listen",
        "127.0.0.1:0",
        "--webhook-secret",
        SECRET,
        "--poll-interval",
        "50ms",
    ])
    .await;
    common::eventually(Duration::from_secs(10), || {
        let store = proxy.store.clone();
        async move { store.is_loaded() }
    })
    .await;
    let webhook = proxy.webhook_address.expect("webhook on");

    set_snapshot(&flagr, 2, "fresh", "on", 9);
    let answer = send_signed(webhook, &vexilla_event("flag.created", &["fresh"], now())).await;
    assert_eq!(
        answer.json()["flags"][0]["result"],
        "updated",
        "{}",
        answer.text()
    );
    // Flagr's max_id moves, and its export still lags without the new flag.
    let fetches = flagr.state.export_fetches.load(Ordering::Relaxed);
    flagr.set_max_id(Some(9));
    common::eventually(Duration::from_secs(10), || async {
        flagr.state.export_fetches.load(Ordering::Relaxed) > fetches
    })
    .await;
    assert_eq!(
        evaluate(proxy.api_address, "fresh").await["variantKey"],
        "on"
    );
    proxy.shutdown().await;
    flagr.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_copies_of_one_message_apply_once_and_noise_spends_no_rate() {
    let flagr = FakeFlagr::start(&export(1, "k", "first", 1), Some(1)).await;
    let key = b"race-key";
    let secret = format!("whsec_{}", encode_base64(key));
    let secrets = format!("{SECRET},{secret}");
    let proxy = start_with_secrets(&flagr, &secrets, &["--webhook-rate-limit", "2"]).await;
    let webhook = proxy.webhook_address.expect("webhook on");
    set_snapshot(&flagr, 1, "k", "second", 2);

    // Unauthenticated noise well past the rate limit.
    for _ in 0..20 {
        let status = send(webhook, "POST", "/webhook", &[], Some(b"{}"))
            .await
            .status;
        assert_eq!(status, 401);
    }

    let body = vexilla_event("flag.updated", &["k"], now());
    let at = now().to_string();
    let signature = sign_standard(key, "msg_race", now(), body.as_bytes());
    let copies: Vec<_> = (0..4)
        .map(|_| {
            let (body, signature, at) = (body.clone(), signature.clone(), at.clone());
            tokio::spawn(async move {
                let headers = [
                    ("content-type", "application/json"),
                    ("webhook-id", "msg_race"),
                    ("webhook-timestamp", at.as_str()),
                    ("webhook-signature", signature.as_str()),
                ];
                send(webhook, "POST", "/webhook", &headers, Some(body.as_bytes()))
                    .await
                    .json()
            })
        })
        .collect();
    let mut applied = 0;
    for copy in copies {
        let answer = copy.await.expect("answered");
        if answer["status"] == "applied" {
            applied += 1;
        } else {
            assert_eq!(answer["status"], "duplicate", "{answer}");
        }
    }
    assert_eq!(
        applied, 1,
        "exactly one copy is applied; the noise took no rate tokens"
    );
    proxy.shutdown().await;
    flagr.stop();
}
