//! An evaluation allocates nothing: the flag is compiled once, the request's context is
//! parsed once, and evaluating plus writing the answer into a buffer that already has room
//! asks the allocator for no memory at all, from the second evaluation on a thread (the first
//! regex match on a thread builds that thread's search cache). A counting allocator checks it
//! per thread.

// A global allocator cannot be written without `unsafe`; nothing else here needs it.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use vexilla_proxy::eval::{self, EvalContext, EvalOptions};
use vexilla_proxy::flag::{self, Flag, FlagSource, FlagrVersion};
use vexilla_proxy::flagr;
use vexilla_proxy::json;
use vexilla_proxy::response;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is passed to the system allocator unchanged; the counter is a
// thread-local cell with a const initialiser and no destructor, so counting never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations_during(work: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    work();
    ALLOCATIONS.with(Cell::get) - before
}

const SIMPLE: &str = r#"{"Flags":[{"ID":1,"Key":"simple-1","Enabled":true,"SnapshotID":1,
    "Tags":[{"ID":1,"Value":"bench"}],
    "Segments":[{"ID":1,"RolloutPercent":100,"Constraints":[],
        "Distributions":[{"VariantID":1,"VariantKey":"on","Percent":100}]}],
    "Variants":[{"ID":1,"Key":"on","Attachment":{}}]}]}"#;

const CONSTRAINED: &str = r#"{"Flags":[{"ID":500,"Key":"constrained","Enabled":true,"SnapshotID":9,
    "Segments":[
        {"ID":1,"RolloutPercent":100,"Constraints":[
            {"Property":"country","Operator":"IN","Value":"[\"US\",\"CA\",\"GB\",\"DE\"]"},
            {"Property":"email","Operator":"EREG","Value":"\"@example[.]com$\""},
            {"Property":"age","Operator":"GTE","Value":"18"},
            {"Property":"plan","Operator":"NEQ","Value":"\"free\""},
            {"Property":"groups","Operator":"CONTAINS","Value":"\"beta\""}],
         "Distributions":[{"VariantID":1,"VariantKey":"a","Percent":25},
            {"VariantID":2,"VariantKey":"b","Percent":25},
            {"VariantID":3,"VariantKey":"c","Percent":25},
            {"VariantID":4,"VariantKey":"d","Percent":25}]},
        {"ID":2,"RolloutPercent":50,"Constraints":[
            {"Property":"name","Operator":"NOTIN","Value":"[\"x\",\"y\"]"},
            {"Property":"email","Operator":"NEREG","Value":"\"^admin\""}],
         "Distributions":[{"VariantID":2,"VariantKey":"b","Percent":100}]}],
    "Variants":[{"ID":1,"Key":"a","Attachment":{"color":"red","weights":[1,2.5,"x"]}},
        {"ID":2,"Key":"b","Attachment":{}},
        {"ID":3,"Key":"c","Attachment":{}},{"ID":4,"Key":"d","Attachment":{}}]}]}"#;

fn compile(document: &str) -> Arc<Flag> {
    let export = flagr::parse_export(document.as_bytes()).expect("valid export");
    flag::compile_flags(export, FlagrVersion::V1_2, FlagSource::Upstream)
        .expect("compiles")
        .remove(0)
}

fn context(entity: &[u8], entity_id: &str, flag: &Flag) -> EvalContext {
    EvalContext {
        entity_context: Some(Arc::new(json::parse(entity).expect("valid context"))),
        entity_id: entity_id.into(),
        flag_id: flag.id,
        ..EvalContext::default()
    }
}

const OPTIONS: EvalOptions = EvalOptions {
    version: FlagrVersion::V1_2,
    debug_enabled: true,
};

/// Evaluates and writes once to size the buffer, then counts what a second round allocates.
fn count_one(flag: &Flag, context: &EvalContext) -> (u64, Vec<u8>) {
    let timestamp = response::timestamp_now();
    let mut out = Vec::with_capacity(64 * 1024);
    let once = |out: &mut Vec<u8>| {
        out.clear();
        let result = eval::evaluate(Some(flag), "", context, OPTIONS).expect("no crash");
        response::write_result(out, &result, OPTIONS.version, &timestamp);
    };
    // The first match of a regex on a thread sets up that thread's search cache, once.
    once(&mut out);
    let warm = out.clone();
    let count = allocations_during(|| once(&mut out));
    // A generated entity id differs between the two; everything else is the same answer.
    if !context.entity_id.is_empty() {
        assert_eq!(
            String::from_utf8_lossy(&warm),
            String::from_utf8_lossy(&out),
            "the same evaluation answered twice differently"
        );
    }
    (count, out)
}

fn variant_of(body: &[u8]) -> String {
    let text = std::str::from_utf8(body).expect("utf-8 answer");
    let value: serde_json::Value = serde_json::from_str(text).expect("answer is JSON");
    value["variantKey"].as_str().unwrap_or("").to_owned()
}

#[test]
fn a_simple_flag_evaluates_without_allocating() {
    let flag = compile(SIMPLE);
    let context = context(br#"{"country":"CA"}"#, "user-12345", &flag);
    let (count, body) = count_one(&flag, &context);
    assert_eq!(variant_of(&body), "on");
    assert_eq!(count, 0, "allocations in one simple evaluation");
}

#[test]
fn a_generated_entity_id_needs_no_allocation() {
    let flag = compile(SIMPLE);
    let context = context(br#"{}"#, "", &flag);
    let (count, body) = count_one(&flag, &context);
    let text = String::from_utf8(body).expect("utf-8 answer");
    assert!(
        text.contains(r#""entityID":"randomly_generated_"#),
        "{text}"
    );
    assert_eq!(count, 0, "allocations with a generated entity id");
}

#[test]
fn a_constrained_flag_evaluates_without_allocating() {
    let flag = compile(CONSTRAINED);
    let entity = br#"{"country":"CA","email":"ana@example.com","age":34,"plan":"pro","groups":["beta","staff"]}"#;
    let matching = context(entity, "user-12345", &flag);
    let (count, body) = count_one(&flag, &matching);
    assert!(["a", "b", "c", "d"].contains(&variant_of(&body).as_str()));
    assert_eq!(count, 0, "allocations when the first segment matches");

    // The first segment fails on its regex; the second runs its NOTIN and NEREG.
    let falling_through = context(
        br#"{"country":"CA","email":"root@other.org","age":34,"plan":"pro","groups":["beta"],"name":"z"}"#,
        "entity-7",
        &flag,
    );
    let (count, _) = count_one(&flag, &falling_through);
    assert_eq!(
        count, 0,
        "allocations when evaluation falls through a segment"
    );
}

#[test]
fn a_missing_flag_answers_without_allocating() {
    let flag = compile(SIMPLE);
    let context = EvalContext {
        flag_id: 99,
        ..EvalContext::default()
    };
    let timestamp = response::timestamp_now();
    let mut out = Vec::with_capacity(4096);
    let count = allocations_during(|| {
        let result = eval::evaluate(None, "", &context, OPTIONS).expect("no crash");
        response::write_result(&mut out, &result, OPTIONS.version, &timestamp);
    });
    drop(flag);
    let text = String::from_utf8(out).expect("utf-8 answer");
    assert!(text.contains(r#""flagID":99"#), "{text}");
    assert_eq!(count, 0, "allocations for a flag that is not there");
}
