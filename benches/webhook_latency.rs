//! Webhook to fresh answer: the time from the start of a signed webhook request to the first
//! evaluation that shows the change, over many events, next to the time of one plain fetch of
//! the same flag from the (fake, in-process) Flagr, and their ratio. Loopback only, bounded.
//!
//! `cargo bench --bench webhook_latency`; `VEXILLA_BENCH_EVENTS` (default 200) and
//! `VEXILLA_BENCH_UPSTREAM_DELAY_MS` (default 5, the fake Flagr's answer time) adjust it.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

use vexilla_proxy::upstream::{Upstream, UpstreamTimeouts, UpstreamUrl};
use vexilla_proxy::webhook::verify::sign_hex;

const SECRET: &str = "bench-secret";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn set_snapshot(flagr: &common::FakeFlagr, variant: &str, snapshot: u64) {
    let flag = json!({
        "id": 1, "key": "k", "enabled": true, "tags": [],
        "segments": [{"id": 10, "rank": 0, "rolloutPercent": 100, "constraints": [],
            "distributions": [{"id": 20, "percent": 100, "variantID": 30, "variantKey": variant}]}],
        "variants": [{"id": 30, "key": variant, "attachment": {}}]
    });
    let body = json!([{"id": snapshot, "flag": flag, "updatedAt": "2026-12-04T00:00:00Z"}]);
    flagr.route("/api/v1/flags/1/snapshots", &body.to_string());
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// POSTs on a kept-alive connection, as an SDK would; returns the status and body.
async fn post(
    client: &HttpClient,
    url: String,
    headers: &[(&str, &str)],
    body: Bytes,
) -> (u16, Bytes) {
    let mut request = Request::post(url).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(body)).expect("request");
    let response = client.request(request).await.expect("answer");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, body)
}

async fn snapshot_seen(client: &HttpClient, api: SocketAddr) -> u64 {
    let url = format!("http://{api}/api/v1/evaluation");
    let body = Bytes::from_static(br#"{"flagID":1,"entityID":"e"}"#);
    let (_, answer) = post(client, url, &[], body).await;
    let value: serde_json::Value = serde_json::from_slice(&answer).expect("JSON");
    value["flagSnapshotID"].as_u64().unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let events = env_number("VEXILLA_BENCH_EVENTS", 200).max(10) as usize;
    let delay = env_number("VEXILLA_BENCH_UPSTREAM_DELAY_MS", 5);

    let export = json!({"Flags": [{"ID": 1, "Key": "k", "Enabled": true, "SnapshotID": 1,
        "Segments": [{"ID": 10, "FlagID": 1, "RolloutPercent": 100,
            "Distributions": [{"ID": 20, "VariantID": 30, "VariantKey": "v1", "Percent": 100}]}],
        "Variants": [{"ID": 30, "Key": "v1", "Attachment": {}}]}]});
    let flagr = common::FakeFlagr::start(&export.to_string(), Some(1)).await;
    let url = flagr.url();
    let proxy = common::start_proxy(&[
        "--upstream",
        &url,
        "--webhook-listen",
        "127.0.0.1:0",
        "--webhook-secret",
        SECRET,
        "--refresh-interval",
        "1h",
        "--poll-interval",
        "1h",
        "--webhook-rate-limit",
        "100000",
    ])
    .await;
    while !proxy.store.is_loaded() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    flagr.state.delay_ms.store(delay, Ordering::Relaxed);
    let webhook = proxy.webhook_address.expect("webhook listener on");

    // One plain fetch of the flag with the proxy's own client (kept-alive connection), straight
    // from the fake Flagr.
    let timeouts = UpstreamTimeouts {
        connect: Duration::from_secs(2),
        request: Duration::from_secs(10),
    };
    let client = Upstream::new(UpstreamUrl::parse(&url).expect("fake Flagr URL"), timeouts);
    let mut fetches = Vec::with_capacity(events);
    for _ in 0..events {
        let started = Instant::now();
        client
            .get("/api/v1/flags/1/snapshots?limit=1&sort=DESC")
            .await
            .expect("fetch");
        fetches.push(started.elapsed());
    }

    let sdk: HttpClient = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let sender_client = sdk.clone();
    let mut refreshes = Vec::with_capacity(events);
    for event in 0..events {
        let snapshot = 2 + event as u64;
        set_snapshot(&flagr, &format!("v{snapshot}"), snapshot);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let body = json!({"event": "flag.updated", "flag_keys": ["k"],
            "timestamp": vexilla_proxy::response::format_timestamp(now)})
        .to_string();
        let signature = sign_hex(SECRET.as_bytes(), body.as_bytes());

        let started = Instant::now();
        let client = sender_client.clone();
        let sender = tokio::spawn(async move {
            let headers = [("x-webhook-signature", signature.as_str())];
            let url = format!("http://{webhook}/webhook");
            post(&client, url, &headers, Bytes::from(body)).await.0
        });
        while snapshot_seen(&sdk, proxy.api_address).await != snapshot {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "change never reached the answers"
            );
        }
        refreshes.push(started.elapsed());
        assert_eq!(sender.await.expect("webhook answered"), 200);
    }

    fetches.sort();
    refreshes.sort();
    let (fetch_p50, fetch_p99) = (percentile(&fetches, 0.5), percentile(&fetches, 0.99));
    let (fresh_p50, fresh_p99) = (percentile(&refreshes, 0.5), percentile(&refreshes, 0.99));
    println!("webhook to fresh answer, {events} events, fake Flagr answering in {delay} ms");
    println!("{:<34} {:>10} {:>10}", "", "p50 ms", "p99 ms");
    println!(
        "{:<34} {:>10.2} {:>10.2}",
        "one upstream fetch of the flag",
        ms(fetch_p50),
        ms(fetch_p99)
    );
    println!(
        "{:<34} {:>10.2} {:>10.2}",
        "webhook start to fresh answer",
        ms(fresh_p50),
        ms(fresh_p99)
    );
    println!(
        "{:<34} {:>10.2} {:>10.2}   (target: p99 <= 1.5)",
        "ratio fresh / fetch",
        ms(fresh_p50) / ms(fetch_p50),
        ms(fresh_p99) / ms(fetch_p99)
    );
    println!(
        "fetches made by the refresher: {}",
        proxy.refresher.fetch_count()
    );
    proxy.shutdown().await;
    flagr.stop();
}
