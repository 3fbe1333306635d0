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

use crate::flag::{self, Flag, FlagSource, FlagrVersion};
use crate::json;
use crate::store::{FlagStore, SnapshotOrder};
use crate::sync::LoadError;
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
    #[error("the snapshot names a Flagr version this proxy does not know: {0:?}")]
    Version(String),
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
    load_as(path, store, None)
}

/// [`load`], compiling the flags for `configured` when the proxy's Flagr version is set
/// rather than detected (the snapshot may have been saved under another setting). Returns the
/// version the flags were compiled for.
pub fn load_as(
    path: &Path,
    store: &FlagStore,
    configured: Option<FlagrVersion>,
) -> Result<(usize, FlagrVersion), SnapshotError> {
    // Read whole, like an export from the upstream: parsing from memory is faster than from a
    // reader, and a start is when speed matters; the bytes go as soon as the flags are built.
    let bytes = fs::read(path)?;
    let saved = match header_of(&bytes)?.flagr_version.as_str() {
        "1.1" => FlagrVersion::V1_1,
        "1.2" => FlagrVersion::V1_2,
        other => return Err(SnapshotError::Version(other.to_owned())),
    };
    let version = configured.unwrap_or(saved);
    let flags =
        flag::compile_document(&bytes, version, FlagSource::Upstream).map_err(LoadError::from)?;
    drop(bytes);
    let count = flags.len();
    store.replace_all(flags, SnapshotOrder::Monotonic);
    Ok((count, version))
}

/// The header, which this proxy writes first: then only the document's start is parsed for
/// it. A document with the header elsewhere (an older layout) is parsed whole for it.
fn header_of(bytes: &[u8]) -> Result<Meta, SnapshotError> {
    const LEAD: &[u8] = b"{\"VexillaSnapshot\":";
    if let Some(rest) = bytes.strip_prefix(LEAD) {
        let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<Meta>();
        if let Some(Ok(meta)) = values.next() {
            return Ok(meta);
        }
    }
    Ok(serde_json::from_slice::<Header>(bytes)?.meta)
}

/// Writes `flags` to `path` atomically.
pub fn save(path: &Path, flags: &[Arc<Flag>], version: FlagrVersion) -> std::io::Result<()> {
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
        let mut file = std::io::BufWriter::with_capacity(1 << 16, File::create(&temporary)?);
        write_document(&mut file, flags, version)?;
        let file = file.into_inner().map_err(|error| error.into_error())?;
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
pub fn load_at_start(
    path: &Path,
    store: &FlagStore,
    configured: Option<FlagrVersion>,
) -> Option<FlagrVersion> {
    match load_as(path, store, configured) {
        Ok((count, version)) => {
            info!(path = %path.display(), flags = count, version = %version, "snapshot loaded; answering from it until the upstream syncs");
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

/// Writes the snapshot document, the header first and then the flags in the export format,
/// one flag at a time so a large store is never rendered whole in memory.
fn write_document(
    out: &mut impl Write,
    flags: &[Arc<Flag>],
    version: FlagrVersion,
) -> std::io::Result<()> {
    let mut buffer = Vec::with_capacity(4096);
    buffer.extend_from_slice(b"{\"VexillaSnapshot\":{\"FlagrVersion\":");
    json::write_string(&mut buffer, version.as_str());
    buffer.extend_from_slice(b",\"SavedAt\":");
    json::write_string(&mut buffer, &crate::response::timestamp_now());
    buffer.extend_from_slice(b"},\"Flags\":[");
    // One flag per line: a loader can split the list between lines without reading it.
    for (index, flag) in flags.iter().enumerate() {
        if index > 0 {
            buffer.extend_from_slice(b",\n");
        }
        write_flag(&mut buffer, flag);
        out.write_all(&buffer)?;
        buffer.clear();
    }
    buffer.extend_from_slice(b"]}");
    out.write_all(&buffer)
}

/// One flag as Flagr's export writes it.
fn write_flag(out: &mut Vec<u8>, flag: &Flag) {
    let number = |out: &mut Vec<u8>, name: &[u8], value: u64| {
        out.extend_from_slice(name);
        json::write_u64(out, value);
    };
    let text = |out: &mut Vec<u8>, name: &[u8], value: &str| {
        out.extend_from_slice(name);
        json::write_string(out, value);
    };
    let boolean = |out: &mut Vec<u8>, name: &[u8], value: bool| {
        out.extend_from_slice(name);
        out.extend_from_slice(if value { b"true" } else { b"false" });
    };
    number(out, b"{\"ID\":", flag.id);
    text(out, b",\"Key\":", &flag.key);
    boolean(out, b",\"Enabled\":", flag.enabled);
    number(out, b",\"SnapshotID\":", flag.snapshot_id);
    text(out, b",\"EntityType\":", &flag.entity_type);
    boolean(out, b",\"DataRecordsEnabled\":", flag.data_records_enabled);
    out.extend_from_slice(b",\"Segments\":[");
    for (index, segment) in flag.segments.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        number(out, b"{\"ID\":", segment.id);
        number(out, b",\"FlagID\":", flag.id);
        number(out, b",\"RolloutPercent\":", segment.rollout_percent);
        out.extend_from_slice(b",\"Constraints\":");
        out.extend_from_slice(
            segment
                .constraints_json
                .as_deref()
                .unwrap_or("[]")
                .as_bytes(),
        );
        out.extend_from_slice(b",\"Distributions\":[");
        let mut previous = 0;
        let shares = segment
            .distribution
            .variant_ids
            .iter()
            .zip(&segment.distribution.percents_accumulated);
        for (share, (variant_id, accumulated)) in shares.enumerate() {
            if share > 0 {
                out.push(b',');
            }
            number(out, b"{\"SegmentID\":", segment.id);
            number(out, b",\"VariantID\":", *variant_id);
            let key = flag.variant(*variant_id).map_or("", |v| v.key.as_str());
            text(out, b",\"VariantKey\":", key);
            number(
                out,
                b",\"Percent\":",
                accumulated.saturating_sub(previous) / 10,
            );
            out.push(b'}');
            previous = *accumulated;
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"],\"Variants\":[");
    for (index, variant) in flag.variants.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        number(out, b"{\"ID\":", variant.id);
        number(out, b",\"FlagID\":", flag.id);
        text(out, b",\"Key\":", &variant.key);
        out.extend_from_slice(b",\"Attachment\":");
        let attachment = variant.attachment.as_ref().map_or("null", |a| a.as_str());
        out.extend_from_slice(attachment.as_bytes());
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"Tags\":[");
    for (index, tag) in flag.tags.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        number(out, b"{\"ID\":", index as u64 + 1);
        text(out, b",\"Value\":", tag);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SnapshotOrder;
    use crate::sync;

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
    fn a_header_after_the_flags_is_found_too() {
        let path = temp("header-last.json");
        let text = r#"{"Flags":[{"ID":3,"Key":"k","Enabled":true}],"VexillaSnapshot":{"FlagrVersion":"1.1"}}"#;
        fs::write(&path, text).expect("written");
        let store = FlagStore::new();
        let loaded = load(&path, &store).expect("loads");
        assert_eq!(loaded, (1, FlagrVersion::V1_1));
        assert_eq!(store.get_by_key("k").map(|f| f.id), Some(3));
        let _ = fs::remove_file(path);
    }

    #[test]
    fn a_configured_version_outranks_the_saved_one() {
        let path = temp("configured.json");
        let text = r#"{"VexillaSnapshot":{"FlagrVersion":"1.1"},"Flags":[{"ID":3,"Key":"k",
            "Segments":[{"ID":1,"Constraints":[{"Property":"x","Operator":"EQ","Value":"1"}]}]}]}"#;
        fs::write(&path, text).expect("written");
        for (configured, expected) in [
            (None, FlagrVersion::V1_1),
            (Some(FlagrVersion::V1_2), FlagrVersion::V1_2),
        ] {
            let store = FlagStore::new();
            let (_, version) = load_as(&path, &store, configured).expect("loads");
            assert_eq!(version, expected);
            let flag = store.get_by_key("k").expect("loaded");
            let dialect = flag.segments[0].expression.as_ref().map(|e| e.dialect());
            assert_eq!(dialect, Some(expected.dialect()));
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
            (
                "unknown-version.json",
                "{\"VexillaSnapshot\":{\"FlagrVersion\":\"1.1.20\"},\"Flags\":[]}",
            ),
            (
                "unknown-version-last.json",
                "{\"Flags\":[],\"VexillaSnapshot\":{\"FlagrVersion\":\"2.0\"}}",
            ),
        ] {
            let path = temp(name);
            fs::write(&path, text).expect("written");
            assert!(load(&path, &store).is_err(), "{name}");
            assert!(load_at_start(&path, &store, None).is_none(), "{name}");
            let _ = fs::remove_file(path);
        }
        assert!(!store.is_loaded());
        store.replace_all(Vec::new(), SnapshotOrder::Monotonic);
    }
}
