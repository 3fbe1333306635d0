//! Keeping the store's flags fresh: full syncs from Flagr's eval-cache export, change polling
//! through `GET /api/v1/flags/snapshots/max_id` where Flagr offers it (1.2.0+), Flagr version
//! detection, and the flags file re-read when it changes.
//!
//! A failed sync or a refused document never touches the flags already held. Replacing flags
//! is the store's (atomic per flag); deciding what to fetch and when is this module's.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use thiserror::Error;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::compat::{Compat, CompatSetting};
use crate::flag::{self, DocumentError, FlagError, FlagSource, FlagrVersion};
use crate::store::{FlagStore, ReplaceSummary, SnapshotOrder};
use crate::telemetry::{LoadedFrom, Telemetry};
use crate::upstream::{Upstream, UpstreamError};

/// Flagr's path of the eval-cache export.
pub const EXPORT_PATH: &str = "/api/v1/export/eval_cache/json";
/// Flagr's path of the newest snapshot ID (1.2.0+).
pub const MAX_ID_PATH: &str = "/api/v1/flags/snapshots/max_id";

/// How long Flagr's own evaluation cache (and so its export) may lag its database: its
/// default `FLAGR_EVALCACHE_REFRESHINTERVAL` of 3 s, plus a margin.
const EXPORT_LAG: Duration = Duration::from_millis(3500);

/// Why loading a document of flags failed.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("flags document is not valid JSON of the export format: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("flags document refused: {0}")]
    Invalid(#[from] FlagError),
    #[error("reading the flags file failed: {0}")]
    Io(#[from] std::io::Error),
}

impl From<DocumentError> for LoadError {
    fn from(error: DocumentError) -> LoadError {
        match error {
            DocumentError::Parse(error) => LoadError::Parse(error),
            DocumentError::Invalid(error) => LoadError::Invalid(error),
            DocumentError::Io(error) => LoadError::Io(error),
        }
    }
}

/// Timing of the upstream sync.
#[derive(Debug, Clone, Copy)]
pub struct SyncTiming {
    /// Full re-sync period, whatever change polling says.
    pub refresh_interval: Duration,
    /// Period of the cheap `max_id` change check (Flagr 1.2.0+).
    pub poll_interval: Duration,
}

/// Loads a flags document into the store; returns what changed.
pub fn load_document(
    bytes: &[u8],
    store: &FlagStore,
    version: FlagrVersion,
    source: FlagSource,
) -> Result<(usize, ReplaceSummary), LoadError> {
    let flags = flag::compile_document(bytes, version, source)?;
    Ok(store_all(flags, store, source))
}

/// Makes `flags` the store's whole content; returns the count and what changed.
fn store_all(
    flags: Vec<Arc<flag::Flag>>,
    store: &FlagStore,
    source: FlagSource,
) -> (usize, ReplaceSummary) {
    let count = flags.len();
    let order = match source {
        FlagSource::Upstream => SnapshotOrder::Monotonic,
        FlagSource::File => SnapshotOrder::Authoritative,
    };
    (count, store.replace_all(flags, order))
}

/// Keeps the store in step with an upstream Flagr until `shutdown` turns true.
pub async fn run_upstream(
    upstream: Upstream,
    store: Arc<FlagStore>,
    compat: Arc<Compat>,
    setting: CompatSetting,
    timing: SyncTiming,
    telemetry: Arc<Telemetry>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(timing.refresh_interval);
    let version = loop {
        match detect_version(&upstream, setting).await {
            Ok(version) => break version,
            Err(error) => {
                // Detection is a sync's first step: an upstream down from the start shows
                // as failed syncs.
                telemetry.syncs_failed.fetch_add(1, Ordering::Relaxed);
                backoff.failed("detecting the Flagr version failed", &error);
                if sleep_or_shutdown(backoff.delay(), &mut shutdown).await {
                    return;
                }
            }
        }
    };
    compat.set(version);
    let polls_max_id = version == FlagrVersion::V1_2;

    let mut last_full_sync = None;
    let mut last_max_id: Option<u64> = None;
    let mut follow_up_at: Option<tokio::time::Instant> = None;
    loop {
        let now = tokio::time::Instant::now();
        let mut due = last_full_sync
            .is_none_or(|at: tokio::time::Instant| now >= at + timing.refresh_interval);
        if follow_up_at.is_some_and(|at| now >= at) {
            follow_up_at = None;
            due = true;
        }
        if !due && polls_max_id {
            match fetch_max_id(&upstream).await {
                Ok(max_id) if Some(max_id) != last_max_id => {
                    debug!(max_id, "flagr snapshot changed");
                    due = last_max_id.is_some() || last_full_sync.is_none();
                    if last_max_id.is_some() {
                        // The export can still show the old flags right after a change.
                        follow_up_at = Some(now + EXPORT_LAG);
                    }
                    last_max_id = Some(max_id);
                }
                Ok(_) => {}
                Err(error) => backoff.failed("checking for flag changes failed", &error),
            }
        }

        if due {
            if polls_max_id && last_max_id.is_none() {
                last_max_id = fetch_max_id(&upstream).await.ok();
            }
            match sync_once(&upstream, &store, version).await {
                Ok((count, summary)) => {
                    if last_full_sync.is_none() {
                        info!(flags = count, version = %version, "first sync from flagr done");
                    } else {
                        debug!(
                            flags = count,
                            applied = summary.applied,
                            removed = summary.removed,
                            "sync done"
                        );
                    }
                    backoff.succeeded();
                    telemetry.syncs_ok.fetch_add(1, Ordering::Relaxed);
                    telemetry.loaded(LoadedFrom::Upstream);
                    last_full_sync = Some(tokio::time::Instant::now());
                }
                Err(error) => {
                    telemetry.syncs_failed.fetch_add(1, Ordering::Relaxed);
                    backoff.failed(
                        "syncing flags from flagr failed; serving the flags held",
                        &error,
                    );
                }
            }
        }

        let wait = if backoff.failing() {
            backoff.delay()
        } else if polls_max_id {
            timing.poll_interval
        } else {
            timing.refresh_interval
        };
        if sleep_or_shutdown(wait, &mut shutdown).await {
            return;
        }
    }
}

/// One full sync from the export.
pub async fn sync_once(
    upstream: &Upstream,
    store: &Arc<FlagStore>,
    version: FlagrVersion,
) -> Result<(usize, ReplaceSummary), LoadError> {
    let body = upstream.get(EXPORT_PATH).await?;
    let store = Arc::clone(store);
    // Parsing and compiling thousands of flags takes a while: off the async workers, so
    // answers do not wait for it.
    off_runtime(move || load_document(&body, &store, version, FlagSource::Upstream)).await
}

/// Runs a load on the blocking pool.
async fn off_runtime(
    load: impl FnOnce() -> Result<(usize, ReplaceSummary), LoadError> + Send + 'static,
) -> Result<(usize, ReplaceSummary), LoadError> {
    tokio::task::spawn_blocking(load)
        .await
        .unwrap_or_else(|join| {
            Err(LoadError::Io(std::io::Error::other(format!(
                "the load stopped: {join}"
            ))))
        })
}

/// Decides the Flagr version: 1.2.0+ answers the `max_id` route, older versions do not.
pub async fn detect_version(
    upstream: &Upstream,
    setting: CompatSetting,
) -> Result<FlagrVersion, UpstreamError> {
    if let CompatSetting::Fixed(version) = setting {
        return Ok(version);
    }
    let version = match upstream.get(MAX_ID_PATH).await {
        Ok(_) => FlagrVersion::V1_2,
        Err(UpstreamError::Status(status)) if status.as_u16() == 404 || status.as_u16() == 405 => {
            FlagrVersion::V1_1
        }
        Err(UpstreamError::Status(status)) => {
            warn!(
                status = status.as_u16(),
                "flagr version unclear from the max_id route; answering as 1.2"
            );
            FlagrVersion::V1_2
        }
        Err(error) => return Err(error),
    };
    info!(version = %version, "flagr version detected from the upstream");
    Ok(version)
}

async fn fetch_max_id(upstream: &Upstream) -> Result<u64, UpstreamError> {
    let body = upstream.get(MAX_ID_PATH).await?;
    // `{"maxID":N}`, or `{}` while Flagr has no snapshot yet.
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    Ok(value
        .get("maxID")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0))
}

/// Keeps the store in step with a flags file until `shutdown` turns true: the file is checked
/// every `interval` and re-read when its size or modification time changes.
pub async fn run_file(
    path: PathBuf,
    store: Arc<FlagStore>,
    version: FlagrVersion,
    interval: Duration,
    telemetry: Arc<Telemetry>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut seen = file_stamp(&path);
    loop {
        if sleep_or_shutdown(interval, &mut shutdown).await {
            return;
        }
        let stamp = file_stamp(&path);
        if stamp == seen {
            continue;
        }
        seen = stamp;
        let (file, shared) = (path.clone(), Arc::clone(&store));
        match off_runtime(move || load_file(&file, &shared, version)).await {
            Ok((count, _)) => {
                telemetry.loaded(LoadedFrom::File);
                info!(path = %path.display(), flags = count, "flags file reloaded");
            }
            Err(error) => {
                warn!(path = %path.display(), error = %error, "flags file refused; keeping the flags held")
            }
        }
    }
}

/// Reads and loads a flags file.
pub fn load_file(
    path: &std::path::Path,
    store: &FlagStore,
    version: FlagrVersion,
) -> Result<(usize, ReplaceSummary), LoadError> {
    let flags = flag::compile_file(path, version, FlagSource::File)?;
    Ok(store_all(flags, store, FlagSource::File))
}

fn file_stamp(path: &std::path::Path) -> Option<(u64, SystemTime)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.len(), metadata.modified().ok()?))
}

/// Sleeps for `duration`; returns true if shutdown was signalled first.
async fn sleep_or_shutdown(duration: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    if *shutdown.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(duration) => false,
        _ = shutdown.changed() => true,
    }
}

/// Exponential backoff with jitter between failed attempts, and one warning per outage.
struct Backoff {
    failures: u32,
    cap: Duration,
}

impl Backoff {
    fn new(cap: Duration) -> Backoff {
        Backoff {
            failures: 0,
            cap: cap.max(Duration::from_secs(1)),
        }
    }

    fn failing(&self) -> bool {
        self.failures > 0
    }

    fn failed(&mut self, message: &'static str, error: &dyn std::fmt::Display) {
        if self.failures == 0 {
            warn!(error = %error, "{message}");
        } else {
            debug!(error = %error, failures = self.failures, "{message}");
        }
        self.failures = self.failures.saturating_add(1);
    }

    fn succeeded(&mut self) {
        if self.failures > 0 {
            info!(failures = self.failures, "flagr reachable again");
        }
        self.failures = 0;
    }

    /// 250 ms doubled per failure up to the cap, then between half and all of that.
    fn delay(&self) -> Duration {
        let exponent = self.failures.saturating_sub(1).min(16);
        let base = Duration::from_millis(250)
            .saturating_mul(1 << exponent)
            .min(self.cap);
        let fraction = f64::from(crate::eval::random_u31()) / f64::from(1u32 << 31);
        base.mul_f64(0.5 + 0.5 * fraction)
    }
}
