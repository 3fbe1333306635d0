//! Shared helpers for the integration tests: starting the proxy on `127.0.0.1:0`, a small HTTP
//! client, and an in-process fake Flagr whose answers a test can change.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use vexilla_proxy::config::{Cli, Config};
use vexilla_proxy::Proxy;

/// Starts the proxy in-process with these arguments plus `--listen 127.0.0.1:0` and
/// `--admin-listen 127.0.0.1:0`.
pub async fn start_proxy(args: &[&str]) -> Proxy {
    let mut argv = vec![
        "vexilla-proxy",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
    ];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).expect("test arguments parse");
    let config = Config::from_cli(cli).expect("test configuration is valid");
    vexilla_proxy::start(config).await.expect("proxy starts")
}

/// A fresh path under Cargo's temporary directory for integration tests.
pub fn temp_path(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    dir.join(format!(
        "{}-{}-{unique}-{name}",
        std::process::id(),
        name.len()
    ))
}

/// The path of a fixture file.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }
}

/// Sends one request and reads the whole answer.
pub async fn send(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Answer {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let mut builder = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("method"))
        .uri(format!("http://{address}{path}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(Full::new(Bytes::copy_from_slice(body.unwrap_or_default())))
        .expect("request builds");
    let response = tokio::time::timeout(Duration::from_secs(30), client.request(request))
        .await
        .expect("answer within 30 s")
        .expect("request succeeds");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body reads")
        .to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}

/// POSTs JSON.
pub async fn post_json(address: SocketAddr, path: &str, body: &str) -> Answer {
    send(
        address,
        "POST",
        path,
        &[("content-type", "application/json")],
        Some(body.as_bytes()),
    )
    .await
}

/// A request the fake Flagr received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// What the fake Flagr answers; tests change it while it runs.
#[derive(Default)]
pub struct FakeState {
    /// The eval-cache export body.
    pub export: Mutex<String>,
    /// `None` makes the max_id route 404, as Flagr before 1.2.0.
    pub max_id: Mutex<Option<u64>>,
    /// Fixed answers for other paths: (status, body).
    pub routes: Mutex<HashMap<String, (u16, String)>>,
    pub seen: Mutex<Vec<Seen>>,
    pub export_fetches: AtomicUsize,
    /// Milliseconds every answer waits before it is sent.
    pub delay_ms: std::sync::atomic::AtomicU64,
}

/// A fake Flagr on `127.0.0.1:0`.
pub struct FakeFlagr {
    pub address: SocketAddr,
    pub state: Arc<FakeState>,
    /// The accept loop and every connection task, so `stop` can end them all.
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl FakeFlagr {
    pub async fn start(export: &str, max_id: Option<u64>) -> FakeFlagr {
        let state = Arc::new(FakeState::default());
        *state.export.lock().expect("lock") = export.to_string();
        *state.max_id.lock().expect("lock") = max_id;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let fake = FakeFlagr {
            address,
            state,
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        fake.serve(listener);
        fake
    }

    fn serve(&self, listener: TcpListener) {
        let shared = self.state.clone();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                let connection = tokio::spawn(async move {
                    let service = service_fn(move |request| answer(state.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                tasks.lock().expect("lock").push(connection);
            }
        });
        self.tasks.lock().expect("lock").push(accept);
    }

    /// Stops listening and drops every open connection, like a crashed Flagr.
    pub fn stop(&self) {
        for task in self.tasks.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    /// Listens again on the same address after `stop`.
    pub async fn restart(&self) {
        let mut attempts = 0;
        let listener = loop {
            match TcpListener::bind(self.address).await {
                Ok(listener) => break listener,
                Err(error) => {
                    attempts += 1;
                    assert!(
                        attempts < 100,
                        "cannot listen on {} again: {error}",
                        self.address
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        self.serve(listener);
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn set_export(&self, export: &str) {
        *self.state.export.lock().expect("lock") = export.to_string();
    }

    pub fn set_max_id(&self, max_id: Option<u64>) {
        *self.state.max_id.lock().expect("lock") = max_id;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().expect("lock").clone()
    }

    /// How many requests for `path` (query ignored) the fake has received.
    pub fn count(&self, path: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.path_and_query.split('?').next() == Some(path))
            .count()
    }

    /// Serves `body` with status 200 at `path` (any query).
    pub fn route(&self, path: &str, body: &str) {
        self.state
            .routes
            .lock()
            .expect("lock")
            .insert(path.to_string(), (200, body.to_string()));
    }
}

async fn answer(
    state: Arc<FakeState>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().to_string();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or("/".to_string(), |pq| pq.to_string());
    let headers = request
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    state.seen.lock().expect("lock").push(Seen {
        method: method.clone(),
        path_and_query: path_and_query.clone(),
        headers,
        body: body.clone(),
    });

    let delay = state.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let path = path_and_query.split('?').next().unwrap_or("").to_string();
    let (status, text) = if path == "/api/v1/export/eval_cache/json" {
        state.export_fetches.fetch_add(1, Ordering::Relaxed);
        (200, state.export.lock().expect("lock").clone())
    } else if path == "/api/v1/flags/snapshots/max_id" {
        match *state.max_id.lock().expect("lock") {
            Some(id) => (200, format!("{{\"maxID\":{id}}}")),
            None => (
                404,
                "{\"code\":404,\"message\":\"path /api/v1/flags/snapshots/max_id was not found\"}"
                    .into(),
            ),
        }
    } else if let Some(route) = state.routes.lock().expect("lock").get(&path) {
        route.clone()
    } else if !path.starts_with("/api/v1/flags") {
        // What Flagr's router answers for a path it does not know.
        (
            404,
            format!("{{\"code\":404,\"message\":\"path {path} was not found\"}}"),
        )
    } else {
        let echo = serde_json::json!({
            "method": method,
            "pathAndQuery": path_and_query,
            "body": String::from_utf8_lossy(&body),
        });
        (200, echo.to_string())
    };
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = StatusCode::from_u16(status).expect("status");
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().expect("header"));
    response
        .headers_mut()
        .insert("x-fake-flagr", "1".parse().expect("header"));
    Ok(response)
}

/// Waits until `check` holds, polling; panics after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
