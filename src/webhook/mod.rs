//! The `/webhook` listener: change events from Flagr 1.2's notifier or any signing sender,
//! verified on the raw bytes before anything is parsed, then handed to the `Refresher`, which
//! re-fetches just the flags they name.
//!
//! Limits come first (rate, body size, read time), then authentication, then the body. The
//! answer is 200 with a summary once the named flags are refreshed, or 202 when that takes
//! longer than the response deadline (the refresh goes on in the background).

pub mod event;
pub mod verify;

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use moka::sync::Cache;
use serde_json::json;
use tracing::debug;

use crate::http::{self, ProxyBody};
use crate::refresh::{Outcome, Refresher};
use crate::webhook::event::{Change, Target};
use crate::webhook::verify::{Sender, Verifier};

/// How long a Standard Webhooks message ID is remembered to drop repeats: longer than the
/// 10 minutes over which the ±5-minute timestamp window can accept the same message.
const SEEN_ID_TTL: Duration = Duration::from_secs(660);

/// The listener's limits.
#[derive(Debug, Clone, Copy)]
pub struct WebhookLimits {
    /// Largest body read, in bytes (413 past it).
    pub max_body_bytes: usize,
    /// Time allowed to receive the body (408 past it).
    pub read_timeout: Duration,
    /// Requests per second accepted on average; twice as many may come in a burst (429 past).
    pub rate_per_second: u32,
    /// How long the answer waits for the refresh before answering 202.
    pub response_deadline: Duration,
}

impl Default for WebhookLimits {
    fn default() -> WebhookLimits {
        WebhookLimits {
            max_body_bytes: 64 * 1024,
            read_timeout: Duration::from_secs(5),
            rate_per_second: 50,
            response_deadline: Duration::from_secs(2),
        }
    }
}

/// Webhook requests counted by outcome: applied, accepted (202), or turned away by reason.
#[derive(Debug, Default)]
pub struct Rejections {
    pub applied: AtomicU64,
    pub accepted: AtomicU64,
    pub unauthorized: AtomicU64,
    pub malformed: AtomicU64,
    pub stale: AtomicU64,
    pub too_large: AtomicU64,
    pub too_slow: AtomicU64,
    pub rate_limited: AtomicU64,
    pub duplicate: AtomicU64,
}

impl Rejections {
    /// `(outcome, reason, count)` rows for the metrics.
    pub fn rows(&self) -> Vec<(&'static str, &'static str, u64)> {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        vec![
            ("applied", "none", load(&self.applied)),
            ("accepted", "none", load(&self.accepted)),
            ("rejected", "unauthorized", load(&self.unauthorized)),
            ("rejected", "malformed", load(&self.malformed)),
            ("rejected", "stale", load(&self.stale)),
            ("rejected", "too_large", load(&self.too_large)),
            ("rejected", "too_slow", load(&self.too_slow)),
            ("rejected", "rate_limited", load(&self.rate_limited)),
            ("rejected", "duplicate", load(&self.duplicate)),
        ]
    }
}

/// The webhook endpoint.
pub struct Webhook {
    /// Replaced whole when the secret file changes (key rotation without a restart).
    verifier: RwLock<Arc<Verifier>>,
    refresher: Arc<Refresher>,
    limits: WebhookLimits,
    seen_ids: Cache<String, ()>,
    bucket: Mutex<TokenBucket>,
    pub rejections: Rejections,
}

impl Webhook {
    /// A webhook endpoint applying verified events through `refresher`.
    pub fn new(verifier: Verifier, refresher: Arc<Refresher>, limits: WebhookLimits) -> Webhook {
        let rate = f64::from(limits.rate_per_second.max(1));
        Webhook {
            verifier: RwLock::new(Arc::new(verifier)),
            refresher,
            limits,
            seen_ids: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(SEEN_ID_TTL)
                .build(),
            bucket: Mutex::new(TokenBucket::new(rate, rate * 2.0)),
            rejections: Rejections::default(),
        }
    }

    /// Puts new keys in force for the requests that follow.
    pub fn set_verifier(&self, verifier: Verifier) {
        *self
            .verifier
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(verifier);
    }

    /// Answers one request.
    pub async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
    ) -> Result<Response<ProxyBody>, Infallible> {
        Ok(self.answer(request).await)
    }

    async fn answer(&self, request: Request<Incoming>) -> Response<ProxyBody> {
        if request.uri().path().trim_end_matches('/') != "/webhook" {
            let message = format!(
                "path {} was not found; events go to POST /webhook",
                request.uri().path()
            );
            return reply(StatusCode::NOT_FOUND, json!({ "message": message }));
        }
        if request.method() != Method::POST {
            let mut response = reply(
                StatusCode::METHOD_NOT_ALLOWED,
                json!({ "message": format!("method {} is not allowed; send events with POST", request.method()) }),
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        let (parts, body) = request.into_parts();
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.limits.max_body_bytes as u64) {
            return self.too_large();
        }
        let read = Limited::new(body, self.limits.max_body_bytes).collect();
        let body = match tokio::time::timeout(self.limits.read_timeout, read).await {
            Err(_) => {
                count(&self.rejections.too_slow);
                let message = format!(
                    "the body did not arrive within {:?}",
                    self.limits.read_timeout
                );
                return reply(StatusCode::REQUEST_TIMEOUT, json!({ "message": message }));
            }
            Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
                return self.too_large()
            }
            Ok(Err(_)) => {
                count(&self.rejections.malformed);
                return reply(
                    StatusCode::BAD_REQUEST,
                    json!({ "message": "reading the body failed" }),
                );
            }
            Ok(Ok(collected)) => collected.to_bytes(),
        };

        let now = unix_now();
        let verifier = self
            .verifier
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let Some(sender) = verifier.verify(&parts.headers, &body, now) else {
            count(&self.rejections.unauthorized);
            debug!("webhook request refused: not authenticated");
            return reply(
                StatusCode::UNAUTHORIZED,
                json!({ "message": "unauthorized" }),
            );
        };
        // The rate limit counts authenticated senders only, so unauthenticated noise cannot
        // lock them out.
        if !self.take_token() {
            count(&self.rejections.rate_limited);
            let mut response = reply(
                StatusCode::TOO_MANY_REQUESTS,
                json!({ "message": "too many webhook requests; retry shortly" }),
            );
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
        if let Sender::StandardWebhooks { id } = sender {
            // Check and record in one step: two copies racing in cannot both pass.
            let first = self.seen_ids.entry(id).or_insert_with(|| ()).is_fresh();
            if !first {
                count(&self.rejections.duplicate);
                return reply(
                    StatusCode::OK,
                    json!({ "status": "duplicate", "message": "this webhook-id was already applied" }),
                );
            }
        }

        let event = match event::parse_event(&body) {
            Ok(event) => event,
            Err(error) => {
                count(&self.rejections.malformed);
                return reply(
                    StatusCode::BAD_REQUEST,
                    json!({ "message": error.to_string() }),
                );
            }
        };
        if event
            .signed_at
            .is_some_and(|at| !verify::within_tolerance(now, at))
        {
            count(&self.rejections.stale);
            let message = "event timestamp is more than 5 minutes from now; refused as a replay";
            return reply(StatusCode::BAD_REQUEST, json!({ "message": message }));
        }
        self.apply(event.changes).await
    }

    async fn apply(&self, changes: Vec<Change>) -> Response<ProxyBody> {
        let started = Instant::now();
        let work = changes.into_iter().map(|change| {
            let refresher = self.refresher.clone();
            let target = change.target.clone();
            // Each refresh runs on its own task, so it finishes even if this answer gives up.
            let task = tokio::spawn(async move { refresher.apply(change).await });
            async move { (target, task.await) }
        });
        let joined = futures_join(work.collect());
        match tokio::time::timeout(self.limits.response_deadline, joined).await {
            Ok(results) => {
                let flags: Vec<serde_json::Value> = results
                    .into_iter()
                    .map(|(target, outcome)| summary(&target, outcome.ok()))
                    .collect();
                count(&self.rejections.applied);
                debug!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    flags = flags.len(),
                    "webhook event applied"
                );
                reply(
                    StatusCode::OK,
                    json!({ "status": "applied", "flags": flags }),
                )
            }
            Err(_) => {
                count(&self.rejections.accepted);
                reply(
                    StatusCode::ACCEPTED,
                    json!({ "status": "accepted", "message": "the refresh is taking longer; it goes on in the background" }),
                )
            }
        }
    }

    fn too_large(&self) -> Response<ProxyBody> {
        count(&self.rejections.too_large);
        let message = format!("the body exceeds {} bytes", self.limits.max_body_bytes);
        reply(StatusCode::PAYLOAD_TOO_LARGE, json!({ "message": message }))
    }

    fn take_token(&self) -> bool {
        self.bucket
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take(Instant::now())
    }
}

/// Waits for every future, keeping their order.
async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut outputs = Vec::with_capacity(futures.len());
    // Refresh tasks already run concurrently; awaiting their handles in order only collects.
    for future in futures {
        outputs.push(future.await);
    }
    outputs
}

fn summary(target: &Target, outcome: Option<Outcome>) -> serde_json::Value {
    let flag = match target {
        Target::Id(id) => json!(id),
        Target::Key(key) => json!(key),
    };
    match outcome {
        Some(Outcome::Updated { id, snapshot_id }) => {
            json!({"flag": flag, "result": "updated", "flagID": id, "flagSnapshotID": snapshot_id})
        }
        Some(Outcome::AlreadyCurrent { id, snapshot_id }) => {
            json!({"flag": flag, "result": "current", "flagID": id, "flagSnapshotID": snapshot_id})
        }
        Some(Outcome::Removed { id }) => json!({"flag": flag, "result": "removed", "flagID": id}),
        Some(Outcome::NotFound) => json!({"flag": flag, "result": "not_found"}),
        Some(Outcome::Reloaded { flags }) => {
            json!({"flag": flag, "result": "file_reloaded", "flags": flags})
        }
        Some(Outcome::NoSource) => json!({"flag": flag, "result": "no_source"}),
        Some(Outcome::Failed { error }) => {
            json!({"flag": flag, "result": "failed", "error": error})
        }
        None => json!({"flag": flag, "result": "failed", "error": "the refresh task stopped"}),
    }
}

fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response<ProxyBody> {
    let mut bytes = body.to_string().into_bytes();
    bytes.push(b'\n');
    http::respond(status, "application/json", bytes)
}

/// A token bucket: `rate` tokens a second, holding at most `burst`.
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    updated: Option<Instant>,
}

impl TokenBucket {
    fn new(rate: f64, burst: f64) -> TokenBucket {
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            updated: None,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        if let Some(updated) = self.updated {
            let elapsed = now.saturating_duration_since(updated).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        }
        self.updated = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 20.0);
        let granted = (0..30).filter(|_| bucket.take(start)).count();
        assert_eq!(granted, 20);
        assert!(!bucket.take(start));
        assert!(bucket.take(start + Duration::from_millis(100)));
        assert!(!bucket.take(start + Duration::from_millis(100)));
    }
}
