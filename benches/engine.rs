//! The evaluation engine without HTTP: one evaluation (flag already looked up, result written
//! as JSON) of a simple flag, of a 5-constraint flag with a regex and an IN list over 4
//! variants, of that flag with debug on, and a batch of 100 flags for one entity.
//!
//! `cargo bench --bench engine`; criterion prints the time per iteration.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;

use vexilla_proxy::eval::{self, EvalContext, EvalOptions};
use vexilla_proxy::flag::{self, Flag, FlagSource, FlagrVersion};
use vexilla_proxy::flagr;
use vexilla_proxy::json::{self as go_json};
use vexilla_proxy::response;

/// The allocator the proxy ships with.
#[global_allocator]
static ALLOCATOR: vexilla_proxy::alloc::Allocator = vexilla_proxy::alloc::Allocator;

fn compile(document: serde_json::Value) -> Vec<Arc<Flag>> {
    let export = flagr::parse_export(document.to_string().as_bytes()).expect("valid export");
    flag::compile_flags(export, FlagrVersion::V1_2, FlagSource::Upstream).expect("compiles")
}

fn simple_flag(id: u64) -> serde_json::Value {
    json!({"ID": id, "Key": format!("simple-{id}"), "Enabled": true, "SnapshotID": 1,
        "Tags": [{"ID": 1, "Value": "bench"}],
        "Segments": [{"ID": id, "RolloutPercent": 100, "Constraints": [],
            "Distributions": [{"VariantID": 1, "VariantKey": "on", "Percent": 100}]}],
        "Variants": [{"ID": 1, "Key": "on", "Attachment": {}}]})
}

fn constrained_flag() -> serde_json::Value {
    let constraint = |property: &str, operator: &str, value: &str| json!({"Property": property, "Operator": operator, "Value": value});
    json!({"ID": 500, "Key": "constrained", "Enabled": true, "SnapshotID": 9,
        "Segments": [{"ID": 1, "RolloutPercent": 100, "Constraints": [
                constraint("country", "IN", r#"["US","CA","GB","DE"]"#),
                constraint("email", "EREG", r#""@example[.]com$""#),
                constraint("age", "GTE", "18"),
                constraint("plan", "NEQ", r#""free""#),
                constraint("groups", "CONTAINS", r#""beta""#)],
            "Distributions": [
                {"VariantID": 1, "VariantKey": "a", "Percent": 25},
                {"VariantID": 2, "VariantKey": "b", "Percent": 25},
                {"VariantID": 3, "VariantKey": "c", "Percent": 25},
                {"VariantID": 4, "VariantKey": "d", "Percent": 25}]}],
        "Variants": [
            {"ID": 1, "Key": "a", "Attachment": {"color": "red"}},
            {"ID": 2, "Key": "b", "Attachment": {}},
            {"ID": 3, "Key": "c", "Attachment": {}},
            {"ID": 4, "Key": "d", "Attachment": {}}]})
}

fn context(flag_id: u64, debug: bool) -> EvalContext {
    let entity_context = go_json::parse(
        br#"{"country":"CA","email":"ana@example.com","age":34,"plan":"pro","groups":["beta","staff"]}"#,
    )
    .expect("valid context");
    EvalContext {
        enable_debug: debug,
        entity_context: Some(Arc::new(entity_context)),
        entity_id: "user-12345".into(),
        flag_id,
        ..EvalContext::default()
    }
}

fn evaluate_and_write(flag: &Flag, context: &EvalContext, out: &mut Vec<u8>, timestamp: &str) {
    let options = EvalOptions {
        version: FlagrVersion::V1_2,
        debug_enabled: true,
    };
    let result = eval::evaluate(Some(flag), "", context, options).expect("no crash");
    out.clear();
    response::write_result(out, &result, options.version, timestamp);
}

fn engine(c: &mut Criterion) {
    let timestamp = response::timestamp_now();
    let simple = compile(json!({"Flags": [simple_flag(1)]})).remove(0);
    let constrained = compile(json!({"Flags": [constrained_flag()]})).remove(0);
    let many = compile(json!({"Flags": (1..=100).map(simple_flag).collect::<Vec<_>>()}));
    let mut out = Vec::with_capacity(64 * 1024);

    let mut group = c.benchmark_group("evaluation");
    group.throughput(Throughput::Elements(1));
    let plain = context(1, false);
    group.bench_function("simple flag", |b| {
        b.iter(|| evaluate_and_write(black_box(&simple), &plain, &mut out, &timestamp))
    });
    let rich = context(500, false);
    group.bench_function("5 constraints, regex and IN, 4 variants", |b| {
        b.iter(|| evaluate_and_write(black_box(&constrained), &rich, &mut out, &timestamp))
    });
    let debug = context(500, true);
    group.bench_function("5 constraints with debug", |b| {
        b.iter(|| evaluate_and_write(black_box(&constrained), &debug, &mut out, &timestamp))
    });
    group.finish();

    let mut group = c.benchmark_group("batch");
    group.throughput(Throughput::Elements(100));
    group.bench_function("100 flags for one entity", |b| {
        // As a batch by tag does: one context, naming the tag, for every flag.
        let tagged = EvalContext {
            flag_id: 0,
            flag_tags: vec!["bench".into()],
            flag_tags_operator: "ANY".into(),
            ..plain.clone()
        };
        let options = EvalOptions {
            version: FlagrVersion::V1_2,
            debug_enabled: true,
        };
        let mut rendered = Vec::with_capacity(256);
        b.iter(|| {
            // As the batch handler does: the entity's context written once, every result
            // appended to one answer.
            out.clear();
            rendered.clear();
            if let Some(entity_context) = &tagged.entity_context {
                go_json::write_value(&mut rendered, entity_context);
            }
            for flag in &many {
                let result =
                    eval::evaluate(Some(black_box(flag)), "", &tagged, options).expect("no crash");
                out.push(b',');
                response::write_result_with(
                    &mut out,
                    &result,
                    options.version,
                    &timestamp,
                    Some(&rendered),
                );
            }
        })
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
