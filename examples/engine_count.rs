//! Evaluates the engine bench's flags a given number of times, for instruction counts that a
//! noisy machine cannot blur: run it under callgrind with two counts and divide the
//! difference.
//!
//!     cargo build --release --example engine_count
//!     valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!         target/release/examples/engine_count simple 10000
//!
//! Cases: simple, constrained, debug.

use std::hint::black_box;
use std::sync::Arc;

use vexilla_proxy::eval::{self, EvalContext, EvalOptions};
use vexilla_proxy::flag::{self, FlagSource, FlagrVersion};
use vexilla_proxy::flagr;
use vexilla_proxy::json;
use vexilla_proxy::response;

/// The allocator the proxy ships with.
#[global_allocator]
static ALLOCATOR: vexilla_proxy::alloc::Allocator = vexilla_proxy::alloc::Allocator;

const SIMPLE: &str = r#"{"Flags":[{"ID":1,"Key":"simple-1","Enabled":true,"SnapshotID":1,
    "Tags":[{"ID":1,"Value":"bench"}],
    "Segments":[{"ID":1,"RolloutPercent":100,"Constraints":[],
        "Distributions":[{"VariantID":1,"VariantKey":"on","Percent":100}]}],
    "Variants":[{"ID":1,"Key":"on","Attachment":{}}]}]}"#;

const CONSTRAINED: &str = r#"{"Flags":[{"ID":500,"Key":"constrained","Enabled":true,"SnapshotID":9,
    "Segments":[{"ID":1,"RolloutPercent":100,"Constraints":[
        {"Property":"country","Operator":"IN","Value":"[\"US\",\"CA\",\"GB\",\"DE\"]"},
        {"Property":"email","Operator":"EREG","Value":"\"@example[.]com$\""},
        {"Property":"age","Operator":"GTE","Value":"18"},
        {"Property":"plan","Operator":"NEQ","Value":"\"free\""},
        {"Property":"groups","Operator":"CONTAINS","Value":"\"beta\""}],
        "Distributions":[{"VariantID":1,"VariantKey":"a","Percent":25},
            {"VariantID":2,"VariantKey":"b","Percent":25},
            {"VariantID":3,"VariantKey":"c","Percent":25},
            {"VariantID":4,"VariantKey":"d","Percent":25}]}],
    "Variants":[{"ID":1,"Key":"a","Attachment":{"color":"red"}},{"ID":2,"Key":"b","Attachment":{}},
        {"ID":3,"Key":"c","Attachment":{}},{"ID":4,"Key":"d","Attachment":{}}]}]}"#;

fn main() {
    let mut args = std::env::args().skip(1);
    let case = args.next().unwrap_or_else(|| "simple".to_owned());
    let count: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let (document, debug) = match case.as_str() {
        "simple" => (SIMPLE, false),
        "constrained" => (CONSTRAINED, false),
        "debug" => (CONSTRAINED, true),
        other => panic!("unknown case {other}"),
    };
    let export = flagr::parse_export(document.as_bytes()).expect("valid export");
    let flag = flag::compile_flags(export, FlagrVersion::V1_2, FlagSource::Upstream)
        .expect("compiles")
        .remove(0);
    let entity_context = json::parse(
        br#"{"country":"CA","email":"ana@example.com","age":34,"plan":"pro","groups":["beta","staff"]}"#,
    )
    .expect("valid context");
    let context = EvalContext {
        enable_debug: debug,
        entity_context: Some(Arc::new(entity_context)),
        entity_id: "user-12345".into(),
        flag_id: flag.id,
        ..EvalContext::default()
    };
    let options = EvalOptions {
        version: FlagrVersion::V1_2,
        debug_enabled: true,
    };
    let timestamp = response::timestamp_now();
    let mut out = Vec::with_capacity(4096);
    let mut total = 0;
    for _ in 0..count {
        let result =
            eval::evaluate(Some(black_box(&flag)), "", &context, options).expect("no crash");
        out.clear();
        response::write_result(&mut out, &result, options.version, &timestamp);
        total += black_box(&out).len();
    }
    println!("{count} evaluations, {total} bytes written");
}
