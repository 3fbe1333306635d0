//! The snapshot file: the flags in force, saved after upstream syncs so that a proxy starting
//! while Flagr is down answers exactly as it did before.
//!
//! The file is Flagr's eval-cache export format plus a `VexillaSnapshot` header naming the
//! Flagr version the flags were compiled for. Saves are atomic (temporary file in the same
//! directory, fsync, rename, fsync of the directory), so a crash mid-save leaves the previous
//! snapshot whole; they are debounced so a burst of changes costs one write.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::flag::{Flag, FlagSource, FlagrVersion};
use crate::json::{self, Map, Number, Value};
use crate::store::FlagStore;
use crate::sync::{self, LoadError};
use crate::telemetry::Telemetry;

/// Why a snapshot could not be read.
#[derive(Debug, Error)]
pub enum SnapshotError {
    #[error("reading the snapshot failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the snapshot is not a vexilla-proxy snapshot: {0}")]
    Header(#[from] serde_json::Error),
    #[error("the snapshot's flags are refused: {0}")]
    Flags(#[from] LoadError),
}

#[derive(Deserialize)]
struct Header {
    #[serde(rename = "VexillaSnapshot")]
    meta: Meta,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(rename = "FlagrVersion")]
    flagr_version: String,
}

/// Loads a snapshot into the store; returns the flag count and the version it was saved for.
pub fn load(path: &Path, store: &FlagStore) -> Result<(usize, FlagrVersion), SnapshotError> {
    let bytes = fs::read(path)?;
    let header: Header = serde_json::from_slice(&bytes)?;
    let version = match header.meta.flagr_version.as_str() {
        "1.1" => FlagrVersion::V1_1,
        _ => FlagrVersion::V1_2,
    };
    let (count, _) = sync::load_document(&bytes, store, version, FlagSource::Upstream)?;
    Ok((count, version))
}

/// Writes `flags` to `path` atomically.
pub fn save(path: &Path, flags: &[Arc<Flag>], version: FlagrVersion) -> std::io::Result<()> {
    let document = render(flags, version);
    let directory = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = directory.join(format!(".{file_name}.tmp-{}", std::process::id()));

    let result = (|| {
        let mut file = File::create(&temporary)?;
        file.write_all(&document)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temporary, path)?;
        // The rename is durable only once the directory entry is.
        File::open(directory)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

/// Keeps the snapshot file in step with the store until `shutdown`, then saves a last time.
pub async fn run_saver(
    path: PathBuf,
    store: Arc<FlagStore>,
    version: impl Fn() -> FlagrVersion + Send + 'static,
    telemetry: Arc<Telemetry>,
    debounce: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut changes = store.changes();
    let mut saved = *changes.borrow_and_update();
    loop {
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
                // Let a burst of changes settle into one write.
                tokio::select! {
                    _ = tokio::time::sleep(debounce) => {}
                    _ = shutdown.changed() => {}
                }
            }
            _ = shutdown.changed() => {}
        }
        let generation = *changes.borrow_and_update();
        let stopping = *shutdown.borrow();
        if generation != saved && store.is_loaded() {
            save_now(&path, &store, version(), &telemetry).await;
            saved = generation;
        }
        if stopping {
            return;
        }
    }
}

async fn save_now(path: &Path, store: &FlagStore, version: FlagrVersion, telemetry: &Telemetry) {
    let flags = store.flags();
    let path = path.to_path_buf();
    let count = flags.len();
    let result =
        tokio::task::spawn_blocking(move || save(&path, &flags, version).map(|()| path)).await;
    match result {
        Ok(Ok(path)) => {
            telemetry.snapshot_saves_ok.fetch_add(1, Ordering::Relaxed);
            debug!(path = %path.display(), flags = count, "snapshot saved");
        }
        Ok(Err(save_error)) => {
            telemetry
                .snapshot_saves_failed
                .fetch_add(1, Ordering::Relaxed);
            error!(error = %save_error, "saving the snapshot file failed");
        }
        Err(join_error) => {
            telemetry
                .snapshot_saves_failed
                .fetch_add(1, Ordering::Relaxed);
            error!(error = %join_error, "saving the snapshot file failed");
        }
    }
}

/// Loads the snapshot at start, reporting (never failing on) a missing or bad file.
pub fn load_at_start(path: &Path, store: &FlagStore) -> Option<FlagrVersion> {
    match load(path, store) {
        Ok((count, version)) => {
            info!(path = %path.display(), flags = count, version = ?version, "snapshot loaded; answering from it until the upstream syncs");
            Some(version)
        }
        Err(SnapshotError::Io(io)) if io.kind() == std::io::ErrorKind::NotFound => {
            info!(path = %path.display(), "no snapshot file yet");
            None
        }
        Err(problem) => {
            warn!(path = %path.display(), error = %problem, "snapshot file ignored");
            None
        }
    }
}

/// The snapshot document: the export format plus the version header.
fn render(flags: &[Arc<Flag>], version: FlagrVersion) -> Vec<u8> {
    let version = match version {
        FlagrVersion::V1_1 => "1.1",
        FlagrVersion::V1_2 => "1.2",
    };
    let mut meta = Map::new();
    meta.insert("FlagrVersion".into(), Value::String(version.into()));
    meta.insert(
        "SavedAt".into(),
        Value::String(crate::response::timestamp_now()),
    );
    let mut document = Map::new();
    document.insert("VexillaSnapshot".into(), Value::Object(meta));
    document.insert(
        "Flags".into(),
        Value::Array(flags.iter().map(|f| flag_value(f)).collect()),
    );
    let mut out = Vec::with_capacity(flags.len() * 1024);
    json::write_value(&mut out, &Value::Object(document));
    out
}

fn number(value: u64) -> Value {
    Value::Number(Number::from_valid_text(&value.to_string()))
}

fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn flag_value(flag: &Flag) -> Value {
    let segments = flag.segments.iter().map(|segment| {
        let constraints = segment.constraints.iter().map(|c| {
            object([
                ("ID", number(c.id)),
                ("SegmentID", number(segment.id)),
                ("Property", Value::String(c.property.clone())),
                ("Operator", Value::String(c.operator.clone())),
                ("Value", Value::String(c.value.clone())),
            ])
        });
        let mut previous = 0;
        let distributions = segment
            .distribution
            .variant_ids
            .iter()
            .zip(&segment.distribution.percents_accumulated)
            .map(|(variant_id, accumulated)| {
                let percent = accumulated.saturating_sub(previous) / 10;
                previous = *accumulated;
                let key = flag
                    .variant(*variant_id)
                    .map(|v| v.key.clone())
                    .unwrap_or_default();
                object([
                    ("SegmentID", number(segment.id)),
                    ("VariantID", number(*variant_id)),
                    ("VariantKey", Value::String(key)),
                    ("Percent", number(percent)),
                ])
            });
        object([
            ("ID", number(segment.id)),
            ("FlagID", number(flag.id)),
            ("RolloutPercent", number(segment.rollout_percent)),
            ("Constraints", Value::Array(constraints.collect())),
            ("Distributions", Value::Array(distributions.collect())),
        ])
    });
    let variants = flag.variants.iter().map(|variant| {
        object([
            ("ID", number(variant.id)),
            ("FlagID", number(flag.id)),
            ("Key", Value::String(variant.key.clone())),
            (
                "Attachment",
                variant
                    .attachment
                    .as_ref()
                    .and_then(|text| json::parse(text.as_str().as_bytes()).ok())
                    .unwrap_or(Value::Null),
            ),
        ])
    });
    let tags = flag.tags.iter().enumerate().map(|(index, tag)| {
        object([
            ("ID", number(index as u64 + 1)),
            ("Value", Value::String(tag.clone())),
        ])
    });
    object([
        ("ID", number(flag.id)),
        ("Key", Value::String(flag.key.clone())),
        ("Enabled", Value::Bool(flag.enabled)),
        ("SnapshotID", number(flag.snapshot_id)),
        ("EntityType", Value::String(flag.entity_type.clone())),
        ("DataRecordsEnabled", Value::Bool(flag.data_records_enabled)),
        ("Segments", Value::Array(segments.collect())),
        ("Variants", Value::Array(variants.collect())),
        ("Tags", Value::Array(tags.collect())),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SnapshotOrder;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "vexilla-snapshot-test-{}-{name}",
            std::process::id()
        ))
    }

    #[test]
    fn a_saved_snapshot_loads_back_identical() {
        let store = FlagStore::new();
        let (count, _) = sync::load_document(
            crate::EMBEDDED_FLAGS,
            &store,
            FlagrVersion::V1_1,
            FlagSource::File,
        )
        .expect("example flags load");
        let path = temp("round-trip.json");
        save(&path, &store.flags(), FlagrVersion::V1_1).expect("saved");

        let restored = FlagStore::new();
        let (loaded, version) = load(&path, &restored).expect("loads");
        assert_eq!((loaded, version), (count, FlagrVersion::V1_1));
        for (before, after) in store.flags().iter().zip(restored.flags()) {
            assert_eq!(
                format!("{before:?}"),
                format!("{after:?}"),
                "flag {}",
                before.key
            );
        }
        let _ = fs::remove_file(path);
    }

    #[test]
    fn missing_truncated_or_foreign_files_are_refused_cleanly() {
        let store = FlagStore::new();
        assert!(matches!(
            load(&temp("absent.json"), &store),
            Err(SnapshotError::Io(_))
        ));
        for (name, text) in [
            (
                "truncated.json",
                "{\"VexillaSnapshot\":{\"FlagrVersion\":\"1.2\"},\"Flags\":[{\"ID\":1,",
            ),
            ("foreign.json", "{\"Flags\":[]}"),
            ("garbage.json", "\u{0}\u{1}binary"),
        ] {
            let path = temp(name);
            fs::write(&path, text).expect("written");
            assert!(load(&path, &store).is_err(), "{name}");
            assert!(load_at_start(&path, &store).is_none(), "{name}");
            let _ = fs::remove_file(path);
        }
        assert!(!store.is_loaded());
        store.replace_all(Vec::new(), SnapshotOrder::Monotonic);
    }
}
