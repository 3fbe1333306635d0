//! The flags in force, held in moka caches with lookups by ID, by key and by tag.
//!
//! Each flag is an `Arc<Flag>` swapped in as a whole, so a reader sees the old flag or the new
//! one, never a mix. Writers (full syncs, single-flag refreshes) are serialised by one mutex
//! that also guards the membership needed to keep the key and tag indexes right. A flag never
//! goes back to an older snapshot ID than the one held. The caches have no capacity bound and
//! no expiry: flags leave only when their source says they are gone.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::sync::Cache;
use tokio::sync::watch;

use crate::flag::Flag;

/// How a batch's `flagTags` select flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagOperator {
    /// Flags carrying at least one of the tags.
    Any,
    /// Flags carrying every one of the tags.
    All,
}

/// Whether a replacement may take a flag back to an older snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotOrder {
    /// Upstream data: a flag never goes back to an older snapshot ID than the one held.
    Monotonic,
    /// A flags file: what the file says is in force, whatever its snapshot IDs.
    Authoritative,
}

/// What a replacement changed, for logs and metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReplaceSummary {
    pub applied: usize,
    pub removed: usize,
    pub kept_newer: usize,
}

/// The flag store.
pub struct FlagStore {
    by_id: Cache<u64, Arc<Flag>>,
    by_key: Cache<String, Arc<Flag>>,
    by_tag: Cache<String, Arc<[u64]>>,
    writer: Mutex<Membership>,
    /// Set once flags have been loaded from any source; never cleared.
    loaded: AtomicBool,
    /// Whether a flag has ID 0 or key "0": what a request without a flag ID looks up first.
    /// Almost never true, so such requests usually skip two lookups.
    zero_held: AtomicBool,
    /// Flags removed on a delete event, with the snapshot ID they had: for a while a copy of
    /// Flagr's export that lags the deletion must not bring them back.
    tombstones: Cache<u64, u64>,
    /// Whether a tombstone was ever set: until then, loads skip looking for one.
    tombstoned: AtomicBool,
    /// Bumped after every change, for whoever keeps a copy (the snapshot file).
    generation: watch::Sender<u64>,
    /// Flags just refreshed one by one, newer than any export that may still lag them: a full
    /// sync that does not list them yet does not remove them.
    fresh: Cache<u64, ()>,
}

/// How long a singly refreshed flag outlives an export that does not list it.
const FRESH_TTL: Duration = Duration::from_secs(15);

/// How long a deleted flag's tombstone is kept: far longer than Flagr's export can lag.
const TOMBSTONE_TTL: Duration = Duration::from_secs(600);

/// What the writer needs to know to update the indexes; readers never touch it.
#[derive(Default)]
struct Membership {
    flags: HashMap<u64, Arc<Flag>>,
    tags: BTreeMap<String, BTreeSet<u64>>,
}

impl Default for FlagStore {
    fn default() -> FlagStore {
        FlagStore::new()
    }
}

impl FlagStore {
    /// An empty store.
    pub fn new() -> FlagStore {
        FlagStore {
            by_id: Cache::builder().build(),
            by_key: Cache::builder().build(),
            by_tag: Cache::builder().build(),
            writer: Mutex::new(Membership::default()),
            loaded: AtomicBool::new(false),
            zero_held: AtomicBool::new(false),
            tombstoned: AtomicBool::new(false),
            tombstones: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(TOMBSTONE_TTL)
                .build(),
            generation: watch::channel(0).0,
            fresh: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(FRESH_TTL)
                .build(),
        }
    }

    /// The flag with this ID.
    pub fn get_by_id(&self, id: u64) -> Option<Arc<Flag>> {
        self.by_id.get(&id)
    }

    /// The flag with this key.
    pub fn get_by_key(&self, key: &str) -> Option<Arc<Flag>> {
        self.by_key.get(key)
    }

    /// Flagr's `GetByFlagKeyOrID` given a flag ID: the flag with that ID, else the flag whose
    /// key is the ID in decimal.
    pub fn get_by_id_or_its_text(&self, id: u64) -> Option<Arc<Flag>> {
        if id == 0 && !self.zero_held.load(Ordering::Acquire) {
            return None;
        }
        if let Some(flag) = self.by_id.get(&id) {
            return Some(flag);
        }
        let mut digits = [0; 20];
        let text = crate::json::u64_digits(id, &mut digits);
        // Digits are ASCII.
        std::str::from_utf8(text)
            .ok()
            .and_then(|text| self.by_key.get(text))
    }

    /// Flagr's `GetByFlagKeyOrID`: the text is tried as a decimal flag ID first, then as a key.
    pub fn get_by_id_text_or_key(&self, text: &str) -> Option<Arc<Flag>> {
        if let Some(id) = canonical_decimal(text) {
            if let Some(flag) = self.by_id.get(&id) {
                return Some(flag);
            }
        }
        self.by_key.get(text)
    }

    /// Flags selected by tags, in no particular order (Flagr's order is random too).
    pub fn get_by_tags(&self, tags: &[String], operator: TagOperator) -> Vec<Arc<Flag>> {
        let mut ids: BTreeSet<u64> = BTreeSet::new();
        match operator {
            TagOperator::Any => {
                for tag in tags {
                    if let Some(members) = self.by_tag.get(tag.as_str()) {
                        ids.extend(members.iter().copied());
                    }
                }
            }
            TagOperator::All => {
                for (index, tag) in tags.iter().enumerate() {
                    let members = self.by_tag.get(tag.as_str());
                    let members: BTreeSet<u64> = members
                        .map(|m| m.iter().copied().collect())
                        .unwrap_or_default();
                    ids = if index == 0 {
                        members
                    } else {
                        ids.intersection(&members).copied().collect()
                    };
                    if ids.is_empty() {
                        break;
                    }
                }
            }
        }
        ids.into_iter()
            .filter_map(|id| self.by_id.get(&id))
            .collect()
    }

    /// A receiver that sees a new value after every change to the flags.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    fn changed(&self) {
        let zero = self.by_id.contains_key(&0) || self.by_key.contains_key("0");
        self.zero_held.store(zero, Ordering::Release);
        self.generation.send_modify(|generation| *generation += 1);
    }

    /// Whether flags have been loaded from any source (an empty document counts).
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// How many flags are held.
    pub fn len(&self) -> usize {
        self.lock().flags.len()
    }

    /// Whether no flag is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every flag held, in ID order.
    pub fn flags(&self) -> Vec<Arc<Flag>> {
        let membership = self.lock();
        let mut flags: Vec<Arc<Flag>> = membership.flags.values().cloned().collect();
        flags.sort_by_key(|flag| flag.id);
        flags
    }

    /// Makes `flags` the whole content of the store: every flag is swapped in and flags absent
    /// from `flags` are removed. Under `SnapshotOrder::Monotonic` a held flag with a newer
    /// snapshot than the incoming one is kept.
    pub fn replace_all(&self, flags: Vec<Arc<Flag>>, order: SnapshotOrder) -> ReplaceSummary {
        let mut membership = self.lock();
        let mut summary = ReplaceSummary::default();
        // Where each ID last appears: a repeated ID takes its last flag. Flags are then taken
        // in document order, which is also the order they were built in memory.
        let last: HashMap<u64, usize> = flags
            .iter()
            .enumerate()
            .map(|(index, flag)| (flag.id, index))
            .collect();
        membership.flags.reserve(last.len());

        let gone: Vec<u64> = membership
            .flags
            .keys()
            .filter(|id| !last.contains_key(id))
            .filter(|id| order == SnapshotOrder::Authoritative || !self.fresh.contains_key(*id))
            .copied()
            .collect();
        // Flags are swapped in before anything is taken out, and a key a flag gave up is
        // dropped only after every flag had the chance to take it over: a key that moves from
        // one flag to another always finds one of them. Tag member lists are republished once
        // at the end, not once per flag (a tag shared by thousands of flags would otherwise be
        // rebuilt thousands of times).
        let mut touched = BTreeSet::new();
        let mut given_up = Vec::new();
        let mut applied = Vec::with_capacity(last.len());
        let latest = flags
            .into_iter()
            .enumerate()
            .filter(|(index, flag)| last.get(&flag.id) == Some(index))
            .map(|(_, flag)| flag);
        for flag in latest {
            match self.upsert_locked(&mut membership, flag, order, &mut touched, &mut given_up) {
                Upsert::Applied(flag) => applied.push(flag),
                Upsert::KeptNewer => summary.kept_newer += 1,
            }
        }
        summary.applied = applied.len();
        self.index(&applied);
        for id in gone {
            self.remove_locked(&mut membership, id, &mut touched);
            summary.removed += 1;
        }
        self.drop_given_up_keys(given_up);
        self.publish_tags(&mut membership, touched);
        self.loaded.store(true, Ordering::Release);
        if summary.applied > 0 || summary.removed > 0 {
            self.changed();
        }
        summary
    }

    /// Swaps in one flag, unless the store holds a newer snapshot of it. Returns whether it
    /// was applied.
    pub fn upsert(&self, flag: Arc<Flag>) -> bool {
        let id = flag.id;
        let mut membership = self.lock();
        let mut touched = BTreeSet::new();
        let mut given_up = Vec::new();
        let applied = match self.upsert_locked(
            &mut membership,
            flag,
            SnapshotOrder::Monotonic,
            &mut touched,
            &mut given_up,
        ) {
            Upsert::Applied(flag) => {
                self.index(&[flag]);
                true
            }
            Upsert::KeptNewer => false,
        };
        self.drop_given_up_keys(given_up);
        self.publish_tags(&mut membership, touched);
        if applied {
            self.fresh.insert(id, ());
            self.changed();
        }
        applied
    }

    /// Removes the flag with this ID because its source deleted it. Returns whether one was
    /// held. Until its tombstone expires, upstream data no newer than the deleted flag cannot
    /// bring it back.
    pub fn remove(&self, id: u64) -> bool {
        let mut membership = self.lock();
        let snapshot_id = membership.flags.get(&id).map_or(0, |flag| flag.snapshot_id);
        self.tombstones.insert(id, snapshot_id);
        self.tombstoned.store(true, Ordering::Release);
        let mut touched = BTreeSet::new();
        let removed = self.remove_locked(&mut membership, id, &mut touched);
        self.publish_tags(&mut membership, touched);
        if removed {
            self.changed();
        }
        removed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Membership> {
        // A panic while holding the lock cannot leave the indexes half-written in a way that
        // matters to readers (each cache entry is replaced whole), so recover the guard.
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn upsert_locked(
        &self,
        membership: &mut Membership,
        flag: Arc<Flag>,
        order: SnapshotOrder,
        touched: &mut BTreeSet<String>,
        given_up: &mut Vec<(String, u64)>,
    ) -> Upsert {
        if order == SnapshotOrder::Monotonic
            && self.tombstoned.load(Ordering::Acquire)
            && self
                .tombstones
                .get(&flag.id)
                .is_some_and(|deleted| deleted >= flag.snapshot_id)
        {
            return Upsert::KeptNewer;
        }
        let previous = membership.flags.get(&flag.id).cloned();
        if let Some(previous) = &previous {
            if order == SnapshotOrder::Monotonic && previous.snapshot_id > flag.snapshot_id {
                return Upsert::KeptNewer;
            }
            if previous.key != flag.key {
                given_up.push((previous.key.clone(), previous.id));
            }
        }

        // A flag has a handful of tags: plain scans find what it left and what it joined.
        let old_tags: &[String] = previous.as_ref().map_or(&[], |p| &p.tags);
        if *old_tags != *flag.tags {
            for tag in old_tags.iter().filter(|tag| !flag.tags.contains(tag)) {
                if let Some(members) = membership.tags.get_mut(tag.as_str()) {
                    members.remove(&flag.id);
                }
                if !touched.contains(tag.as_str()) {
                    touched.insert(tag.clone());
                }
            }
            for tag in flag.tags.iter().filter(|tag| !old_tags.contains(tag)) {
                match membership.tags.get_mut(tag.as_str()) {
                    Some(members) => {
                        members.insert(flag.id);
                    }
                    None => {
                        membership
                            .tags
                            .insert(tag.clone(), BTreeSet::from([flag.id]));
                    }
                }
                if !touched.contains(tag.as_str()) {
                    touched.insert(tag.clone());
                }
            }
        }
        membership.flags.insert(flag.id, flag.clone());
        Upsert::Applied(flag)
    }

    /// Makes `flags`, just applied, the ones the ID and key indexes answer with. A large set
    /// fills the two indexes on two threads at once.
    fn index(&self, flags: &[Arc<Flag>]) {
        let by_id = || {
            for flag in flags {
                self.by_id.insert(flag.id, flag.clone());
            }
        };
        let by_key = || {
            for flag in flags.iter().filter(|flag| !flag.key.is_empty()) {
                self.by_key.insert(flag.key.clone(), flag.clone());
            }
        };
        if flags.len() < PARALLEL_INDEXING {
            by_id();
            by_key();
            return;
        }
        std::thread::scope(|scope| {
            scope.spawn(by_key);
            by_id();
        });
    }

    fn remove_locked(
        &self,
        membership: &mut Membership,
        id: u64,
        touched: &mut BTreeSet<String>,
    ) -> bool {
        let Some(previous) = membership.flags.remove(&id) else {
            return false;
        };
        self.by_id.invalidate(&id);
        if self
            .by_key
            .get(&previous.key)
            .is_some_and(|held| held.id == id)
        {
            self.by_key.invalidate(&previous.key);
        }
        for tag in &previous.tags {
            if let Some(members) = membership.tags.get_mut(tag) {
                members.remove(&id);
            }
            touched.insert(tag.clone());
        }
        true
    }

    /// Drops keys their flags gave up, unless another flag took them over meanwhile.
    fn drop_given_up_keys(&self, given_up: Vec<(String, u64)>) {
        for (key, id) in given_up {
            if self.by_key.get(&key).is_some_and(|held| held.id == id) {
                self.by_key.invalidate(&key);
            }
        }
    }

    fn publish_tags(&self, membership: &mut Membership, tags: BTreeSet<String>) {
        for tag in tags {
            match membership.tags.get(&tag) {
                Some(members) if !members.is_empty() => {
                    let ids: Arc<[u64]> = members.iter().copied().collect();
                    self.by_tag.insert(tag, ids);
                }
                _ => {
                    membership.tags.remove(&tag);
                    self.by_tag.invalidate(&tag);
                }
            }
        }
    }
}

enum Upsert {
    /// Applied to the membership; the ID and key indexes are still to be updated.
    Applied(Arc<Flag>),
    KeptNewer,
}

/// From this many flags on, the two indexes are filled on two threads.
const PARALLEL_INDEXING: usize = 2048;

/// The ID a text names when it is a decimal number written the way Go writes one.
fn canonical_decimal(text: &str) -> Option<u64> {
    let id: u64 = text.parse().ok()?;
    let canonical = text.len() == 1 || !text.starts_with('0');
    (canonical && !text.starts_with('+')).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(id: u64, key: &str, snapshot_id: u64, tags: &[&str]) -> Arc<Flag> {
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        Arc::new(Flag {
            members: crate::response::FlagMembers::new(id, key, snapshot_id, &tags),
            id,
            key: key.into(),
            enabled: true,
            snapshot_id,
            entity_type: "".into(),
            data_records_enabled: false,
            tags: tags.into(),
            segments: Box::new([]),
            variants: Box::new([]),
        })
    }

    fn ids(flags: Vec<Arc<Flag>>) -> Vec<u64> {
        let mut ids: Vec<u64> = flags.iter().map(|f| f.id).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn keys_moving_between_flags_are_always_found() {
        let store = Arc::new(FlagStore::new());
        let count = 200u64;
        let generation = |reversed: bool| -> Vec<Arc<Flag>> {
            (1..=count)
                .map(|id| {
                    let key = if reversed { count + 1 - id } else { id };
                    flag(id, &format!("k{key}"), 1, &[])
                })
                .collect()
        };
        store.replace_all(generation(false), SnapshotOrder::Authoritative);
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut misses = 0;
                while !stop.load(Ordering::Relaxed) {
                    for key in ["k1", "k100", "k200"] {
                        misses += usize::from(store.get_by_key(key).is_none());
                    }
                }
                misses
            })
        };
        for round in 0..100 {
            store.replace_all(generation(round % 2 == 0), SnapshotOrder::Authoritative);
        }
        stop.store(true, Ordering::Relaxed);
        assert_eq!(reader.join().ok(), Some(0));
        let final_owner = store.get_by_key("k1").map(|f| f.id);
        assert_eq!(final_owner, Some(1));
    }

    #[test]
    fn an_id_is_tried_as_an_id_then_as_a_key_zero_included() {
        let store = FlagStore::new();
        store.replace_all(
            vec![flag(7, "one", 1, &[]), flag(8, "7000", 1, &[])],
            SnapshotOrder::Authoritative,
        );
        let found = |id| store.get_by_id_or_its_text(id).map(|f| f.id);
        assert_eq!(
            (found(7), found(7000), found(0), found(9)),
            (Some(7), Some(8), None, None)
        );
        store.upsert(flag(9, "0", 2, &[]));
        assert_eq!(found(0), Some(9));
        store.upsert(flag(0, "zero", 2, &[]));
        assert_eq!(found(0), Some(0));
        store.remove(0);
        store.remove(9);
        assert_eq!(found(0), None);
    }

    #[test]
    fn looks_up_by_id_key_and_numeric_key_as_id() {
        let store = FlagStore::new();
        store.replace_all(
            vec![
                flag(1, "one", 1, &[]),
                flag(123, "abc", 1, &[]),
                flag(2, "123", 1, &[]),
            ],
            SnapshotOrder::Monotonic,
        );
        assert_eq!(store.get_by_id(1).map(|f| f.id), Some(1));
        assert_eq!(store.get_by_key("one").map(|f| f.id), Some(1));
        assert_eq!(store.get_by_id_text_or_key("123").map(|f| f.id), Some(123));
        assert_eq!(store.get_by_id_text_or_key("0123").map(|f| f.id), None);
        assert_eq!(store.get_by_id_text_or_key("abc").map(|f| f.id), Some(123));
        assert!(store.get_by_id_text_or_key("missing").is_none());
    }

    #[test]
    fn selects_by_tags_any_and_all() {
        let store = FlagStore::new();
        store.replace_all(
            vec![
                flag(1, "a", 1, &["x", "y"]),
                flag(2, "b", 1, &["x"]),
                flag(3, "c", 1, &["z"]),
            ],
            SnapshotOrder::Monotonic,
        );
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            ids(store.get_by_tags(&tags(&["x", "z"]), TagOperator::Any)),
            vec![1, 2, 3]
        );
        assert_eq!(
            ids(store.get_by_tags(&tags(&["x", "y"]), TagOperator::All)),
            vec![1]
        );
        assert_eq!(
            ids(store.get_by_tags(&tags(&["x", "nope"]), TagOperator::All)),
            Vec::<u64>::new()
        );
        assert_eq!(
            ids(store.get_by_tags(&tags(&["nope"]), TagOperator::Any)),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn a_repeated_id_or_key_in_one_replacement_goes_to_the_later_flag() {
        let store = FlagStore::new();
        let summary = store.replace_all(
            vec![
                flag(1, "first", 1, &["a"]),
                flag(2, "shared", 1, &[]),
                flag(1, "second", 1, &["b"]),
                flag(3, "shared", 1, &[]),
            ],
            SnapshotOrder::Authoritative,
        );
        assert_eq!(summary.applied, 3);
        assert_eq!(
            store.get_by_id(1).map(|f| f.key.clone()).as_deref(),
            Some("second")
        );
        assert!(store.get_by_key("first").is_none());
        assert_eq!(store.get_by_key("shared").map(|f| f.id), Some(3));
        assert!(store
            .get_by_tags(&["a".to_owned()], TagOperator::Any)
            .is_empty());
        assert_eq!(
            ids(store.get_by_tags(&["b".to_owned()], TagOperator::Any)),
            vec![1]
        );
    }

    #[test]
    fn replace_all_removes_missing_and_updates_indexes() {
        let store = FlagStore::new();
        let monotonic = SnapshotOrder::Monotonic;
        store.replace_all(
            vec![flag(1, "a", 1, &["x"]), flag(2, "b", 1, &["x"])],
            monotonic,
        );
        let summary = store.replace_all(vec![flag(1, "renamed", 2, &["y"])], monotonic);
        assert_eq!(
            summary,
            ReplaceSummary {
                applied: 1,
                removed: 1,
                kept_newer: 0
            }
        );
        assert!(store.get_by_id(2).is_none());
        assert!(store.get_by_key("a").is_none());
        assert_eq!(store.get_by_key("renamed").map(|f| f.id), Some(1));
        let x = vec!["x".to_string()];
        let y = vec!["y".to_string()];
        assert!(store.get_by_tags(&x, TagOperator::Any).is_empty());
        assert_eq!(ids(store.get_by_tags(&y, TagOperator::Any)), vec![1]);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn never_goes_back_to_an_older_snapshot() {
        let store = FlagStore::new();
        store.upsert(flag(1, "a", 5, &[]));
        assert!(!store.upsert(flag(1, "old", 4, &[])));
        assert_eq!(
            store.get_by_id(1).map(|f| f.key.clone()),
            Some("a".to_string())
        );
        assert!(store.upsert(flag(1, "new", 6, &[])));
        assert_eq!(
            store.get_by_id(1).map(|f| f.key.clone()),
            Some("new".to_string())
        );
        let summary = store.replace_all(
            vec![flag(1, "edited", 2, &[])],
            SnapshotOrder::Authoritative,
        );
        assert_eq!(summary.applied, 1);
        assert_eq!(
            store.get_by_id(1).map(|f| f.key.clone()),
            Some("edited".to_string())
        );
        assert!(store.get_by_key("new").is_none());
        assert!(store.remove(1));
        assert!(store.get_by_id(1).is_none());
        assert!(!store.remove(1));
    }

    #[test]
    fn a_lagging_export_does_not_remove_a_just_refreshed_flag() {
        let store = FlagStore::new();
        store.replace_all(vec![flag(1, "a", 1, &[])], SnapshotOrder::Monotonic);
        assert!(store.upsert(flag(2, "created", 1, &[])));
        let summary = store.replace_all(vec![flag(1, "a", 1, &[])], SnapshotOrder::Monotonic);
        assert_eq!(summary.removed, 0);
        assert!(store.get_by_key("created").is_some());
        // A flags file is what it says, fresh or not.
        store.replace_all(vec![flag(1, "a", 1, &[])], SnapshotOrder::Authoritative);
        assert!(store.get_by_key("created").is_none());
    }

    #[test]
    fn deleted_flags_stay_deleted_until_a_newer_snapshot() {
        let store = FlagStore::new();
        store.upsert(flag(1, "a", 5, &[]));
        assert!(store.remove(1));
        // A lagging export still lists the flag as it was.
        let summary = store.replace_all(vec![flag(1, "a", 5, &[])], SnapshotOrder::Monotonic);
        assert_eq!(summary.kept_newer, 1);
        assert!(store.get_by_id(1).is_none());
        // Restored in Flagr: a new snapshot.
        assert!(store.upsert(flag(1, "a", 6, &[])));
        assert!(store.get_by_id(1).is_some());
    }
}
