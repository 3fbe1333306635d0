//! Refreshing single flags when a webhook says they changed: one fetch per flag in flight,
//! changes arriving meanwhile folded into one follow-up fetch, failures retried with backoff
//! while the flag held keeps answering.
//!
//! Flags come from Flagr's REST routes, which read its database, rather than from the
//! eval-cache export, which lags the database by Flagr's cache interval:
//! `GET /api/v1/flags/{id}/snapshots?limit=1&sort=DESC` gives the flag as of its latest
//! snapshot together with that snapshot's ID (the `flagSnapshotID` of answers). A key not held
//! yet is first resolved with `GET /api/v1/flags?key=`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::{watch, Semaphore};
use tracing::{debug, warn};

use crate::compat::Compat;
use crate::flag;
use crate::flagr::ExportFlag;
use crate::store::FlagStore;
use crate::sync;
use crate::upstream::{Upstream, UpstreamError};
use crate::webhook::event::{Change, Target};

/// Where refreshed flags come from.
pub enum RefreshSource {
    Upstream(Upstream),
    /// The flags file: any change re-reads it whole.
    File(PathBuf),
    /// The built-in example flags: nothing to refresh.
    Embedded,
}

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The flag now held has this snapshot ID.
    Updated { id: u64, snapshot_id: u64 },
    /// The store already held this snapshot of the flag or a newer one.
    AlreadyCurrent { id: u64, snapshot_id: u64 },
    /// The flag was dropped (deleted at the source).
    Removed { id: u64 },
    /// The source does not have the flag, and the store does not hold it either.
    NotFound,
    /// The flags file was read again.
    Reloaded { flags: usize },
    /// There is no source to refresh from (the built-in flags).
    NoSource,
    /// Every attempt failed; the flag held is unchanged.
    Failed { error: String },
}

/// Retry policy for failed fetches.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 6,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// Runs refreshes, at most one per flag at a time.
pub struct Refresher {
    source: RefreshSource,
    store: Arc<FlagStore>,
    compat: Arc<Compat>,
    retry: RetryPolicy,
    slots: Mutex<HashMap<Target, Slot>>,
    fetches: AtomicU64,
    fetch_slots: Semaphore,
}

/// Flags fetched from the upstream at once.
const CONCURRENT_FETCHES: usize = 16;

/// The refresh state of one flag: how many refreshes were asked for, and the last result.
struct Slot {
    requested: u64,
    results: watch::Sender<(u64, Option<Outcome>)>,
}

#[derive(Deserialize)]
struct Snapshot {
    id: u64,
    flag: ExportFlag,
}

#[derive(Deserialize)]
struct FlagId {
    id: u64,
}

impl Refresher {
    /// A refresher over `source`.
    pub fn new(
        source: RefreshSource,
        store: Arc<FlagStore>,
        compat: Arc<Compat>,
        retry: RetryPolicy,
    ) -> Refresher {
        Refresher {
            source,
            store,
            compat,
            retry,
            slots: Mutex::new(HashMap::new()),
            fetches: AtomicU64::new(0),
            fetch_slots: Semaphore::new(CONCURRENT_FETCHES),
        }
    }

    /// How many fetches from the source have started (for tests and metrics).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Applies a change and waits until a refresh that started after this call has finished.
    /// The refresh goes on if the caller stops waiting.
    pub async fn apply(self: &Arc<Self>, change: Change) -> Outcome {
        let (generation, mut results) = self.request(change);
        let outcome = match results.wait_for(|(done, _)| *done >= generation).await {
            Ok(result) => result.1.clone().unwrap_or(Outcome::NotFound),
            Err(_) => Outcome::Failed {
                error: "the refresh stopped".into(),
            },
        };
        outcome
    }

    fn request(self: &Arc<Self>, change: Change) -> (u64, watch::Receiver<(u64, Option<Outcome>)>) {
        // A flags file is refreshed whole, so all its changes share one slot; a key the store
        // holds shares the slot of its flag's ID.
        let target = match (&self.source, change.target) {
            (RefreshSource::Upstream(_), Target::Key(key)) => match self.store.get_by_key(&key) {
                Some(flag) => Target::Id(flag.id),
                None => Target::Key(key),
            },
            (RefreshSource::Upstream(_), target) => target,
            _ => Target::Key(String::new()),
        };
        let mut slots = self.lock();
        let start = !slots.contains_key(&target);
        let slot = slots.entry(target.clone()).or_insert_with(|| Slot {
            requested: 0,
            results: watch::channel((0, None)).0,
        });
        slot.requested += 1;
        let generation = slot.requested;
        let results = slot.results.subscribe();
        drop(slots);

        if start {
            let refresher = self.clone();
            tokio::spawn(async move { refresher.run_slot(target).await });
        }
        (generation, results)
    }

    /// Serves one flag's slot until no refresh is pending: each round covers every request
    /// made before it started.
    async fn run_slot(self: Arc<Self>, target: Target) {
        loop {
            let Some(generation) = self.lock().get(&target).map(|s| s.requested) else {
                return;
            };
            let outcome = self.execute_with_retries(&target).await;

            let mut slots = self.lock();
            let Some(slot) = slots.get_mut(&target) else {
                return;
            };
            slot.results.send_replace((generation, Some(outcome)));
            if slot.requested == generation {
                slots.remove(&target);
                return;
            }
        }
    }

    async fn execute_with_retries(&self, target: &Target) -> Outcome {
        let mut delay = self.retry.first_delay;
        let mut attempt = 1;
        loop {
            match self.execute(target).await {
                Ok(outcome) => return outcome,
                Err(error) if attempt >= self.retry.attempts || !error.is_transient() => {
                    warn!(target = ?target, error = %error, attempts = attempt, "refreshing a flag failed; keeping the flag held");
                    return Outcome::Failed {
                        error: error.to_string(),
                    };
                }
                Err(error) => {
                    debug!(target = ?target, error = %error, attempt, "refreshing a flag failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.retry.max_delay);
                    attempt += 1;
                }
            }
        }
    }

    async fn execute(&self, target: &Target) -> Result<Outcome, RefreshError> {
        let upstream = match &self.source {
            RefreshSource::Embedded => return Ok(Outcome::NoSource),
            RefreshSource::File(path) => {
                self.fetches.fetch_add(1, Ordering::Relaxed);
                let (flags, _) = sync::load_file(path, &self.store, self.compat.version())?;
                return Ok(Outcome::Reloaded { flags });
            }
            RefreshSource::Upstream(upstream) => upstream,
        };
        // A bounded number of fetches at once, however many flags an event names.
        let _permit = self.fetch_slots.acquire().await;

        let held = match target {
            Target::Id(id) => Some(*id).filter(|id| self.store.get_by_id(*id).is_some()),
            Target::Key(key) => self.store.get_by_key(key).map(|flag| flag.id),
        };
        let id = match (target, held) {
            (_, Some(id)) => id,
            (Target::Id(id), None) => *id,
            (Target::Key(key), None) => match self.find_id(upstream, key).await? {
                Some(id) => id,
                None => return Ok(Outcome::NotFound),
            },
        };

        // Whatever the event said, Flagr decides: the flag route answers 404 for a deleted
        // flag (whose snapshots Flagr still serves), so a replayed or out-of-order event can
        // neither hide a live flag nor bring back a deleted one. Both reads go out together.
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let flag_path = format!("/api/v1/flags/{id}");
        let snapshot_path = format!("/api/v1/flags/{id}/snapshots?limit=1&sort=DESC");
        let (exists, latest) = tokio::join!(upstream.get(&flag_path), upstream.get(&snapshot_path));
        match exists {
            Err(UpstreamError::Status(status)) if status.as_u16() == 404 => {
                return Ok(if self.store.remove(id) {
                    Outcome::Removed { id }
                } else {
                    Outcome::NotFound
                });
            }
            Err(error) => return Err(error.into()),
            Ok(_) => {}
        }
        let snapshots: Vec<Snapshot> = serde_json::from_slice(&latest?)?;
        let Some(snapshot) = snapshots.into_iter().next() else {
            return Ok(Outcome::NotFound);
        };

        let mut flag = snapshot.flag;
        flag.snapshot_id = snapshot.id;
        if flag.id == 0 {
            flag.id = id;
        }
        let held_snapshot = self.store.get_by_id(id).map(|f| f.snapshot_id);
        if held_snapshot.is_some_and(|held| held >= snapshot.id) {
            let snapshot_id = held_snapshot.unwrap_or_default();
            return Ok(Outcome::AlreadyCurrent { id, snapshot_id });
        }
        let compiled = flag::compile_flag(flag, self.compat.version())?;
        let snapshot_id = compiled.snapshot_id;
        Ok(if self.store.upsert(Arc::new(compiled)) {
            Outcome::Updated { id, snapshot_id }
        } else {
            Outcome::NotFound
        })
    }

    async fn find_id(&self, upstream: &Upstream, key: &str) -> Result<Option<u64>, RefreshError> {
        let path = format!("/api/v1/flags?key={}&limit=1", encode_query(key));
        let body = upstream.get(&path).await?;
        let flags: Vec<FlagId> = serde_json::from_slice(&body)?;
        Ok(flags.first().map(|flag| flag.id))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Target, Slot>> {
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Why one refresh attempt failed.
#[derive(Debug, thiserror::Error)]
enum RefreshError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("flagr answered JSON of an unexpected shape: {0}")]
    Shape(#[from] serde_json::Error),
    #[error(transparent)]
    Flag(#[from] flag::FlagError),
    #[error(transparent)]
    Load(#[from] sync::LoadError),
}

impl RefreshError {
    /// Whether trying again may help: not when Flagr's data itself is refused.
    fn is_transient(&self) -> bool {
        !matches!(
            self,
            RefreshError::Flag(_) | RefreshError::Load(sync::LoadError::Invalid(_))
        )
    }
}

/// Percent-encodes a query value.
fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte))
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_query_values() {
        assert_eq!(encode_query("dark-mode"), "dark-mode");
        assert_eq!(encode_query("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}
