//! Where the memory and the time of loading a flags document go: reads an export, parses and
//! compiles it, and stores it, printing the time of each step, then exits at once after the
//! step named on the command line without freeing anything, so a heap profiler's "leaked"
//! figure is the live heap at that point.
//!
//!     cargo build --release --example load_profile
//!     heaptrack target/release/examples/load_profile FLAGS.json stored
//!
//! Steps: read, compiled, stored (the default).

use std::time::Instant;

use vexilla_proxy::flag::{compile_document, compile_file, FlagSource, FlagrVersion};
use vexilla_proxy::store::{FlagStore, SnapshotOrder};

/// The allocator the proxy ships with.
#[global_allocator]
static ALLOCATOR: vexilla_proxy::alloc::Allocator = vexilla_proxy::alloc::Allocator;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: load_profile FLAGS.json [STEP]");
    let last = args.next().unwrap_or_else(|| "stored".to_owned());
    let started = Instant::now();
    let step = |name: &str| {
        println!(
            "{name:<10} {:>8.1} ms",
            started.elapsed().as_secs_f64() * 1000.0
        );
        if name == last {
            std::process::exit(0);
        }
    };
    let flags = if std::env::var_os("LOAD_PROFILE_BYTES").is_some() {
        let bytes = std::fs::read(&path).expect("readable file");
        step("read");
        compile_document(&bytes, FlagrVersion::V1_2, FlagSource::Upstream)
    } else {
        compile_file(path.as_ref(), FlagrVersion::V1_2, FlagSource::Upstream)
    }
    .expect("a valid flags document");
    let count = flags.len();
    step("compiled");
    let store = FlagStore::new();
    store.replace_all(flags, SnapshotOrder::Authoritative);
    assert_eq!(store.len(), count);
    step("stored");
}
