//! Flagr's evaluation of one flag for one entity, as pure functions with no I/O: the blank
//! results for missing, disabled and segment-less flags, segment matching, rollout and the
//! CRC-32 bucketing, and the debug log.
//!
//! Lookup of the flag is the caller's (`api`), and so is writing the result as JSON
//! (`response`). Where Flagr itself crashes on its own data or on a request (an HTTP 500), the
//! evaluation returns `Crash` so the caller can answer the same status.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use crate::expr::{self, EvalError};
use crate::flag::{Distribution, Flag, FlagrVersion, Segment, Variant};
use crate::json::Value;

/// Buckets an entity can fall into.
const TOTAL_BUCKETS: u64 = 1000;

/// The request context of one evaluation, as Flagr's `evalContext` model holds it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvalContext {
    pub enable_debug: bool,
    /// `None` when the request had no context or `null`. Shared, so the contexts of a batch's
    /// evaluations do not copy it.
    pub entity_context: Option<Arc<Value>>,
    pub entity_id: String,
    pub entity_type: String,
    /// Zero when absent.
    pub flag_id: u64,
    pub flag_key: String,
    pub flag_tags: Vec<String>,
    pub flag_tags_operator: String,
}

/// Settings that shape every evaluation.
#[derive(Debug, Clone, Copy)]
pub struct EvalOptions {
    pub version: FlagrVersion,
    /// Flagr's `FLAGR_EVAL_DEBUG_ENABLED`: debug logs are only given when this is on.
    pub debug_enabled: bool,
}

/// One entry of the per-segment debug log.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentLog {
    pub msg: String,
    pub segment_id: u64,
}

/// The flag a result names.
#[derive(Debug, Clone, Copy)]
pub enum FlagRef<'f> {
    Found(&'f Flag),
    /// No flag was found: the result echoes what the request asked for.
    Missing {
        id: u64,
        key: &'f str,
    },
}

/// The outcome of evaluating one flag for one entity. It borrows the request's context, so an
/// evaluation copies nothing from it.
#[derive(Debug, Clone)]
pub struct EvalResult<'f> {
    /// The request's context. Its entity ID and type are answered as `entity_id()` and
    /// `entity_type` give them, which evaluation may have filled in.
    pub context: &'f EvalContext,
    /// The ID made up for an entity that came without one.
    pub generated_entity_id: Option<GeneratedId>,
    /// The context's entity type, or the flag's when the flag names one.
    pub entity_type: &'f str,
    pub flag: FlagRef<'f>,
    /// `evalDebugLog.msg`; empty is omitted.
    pub msg: &'static str,
    /// The flag ID the message names (Flagr formats it into `msg`).
    pub msg_flag_id: u64,
    /// `None` is written as `null`.
    pub segment_logs: Option<Vec<SegmentLog>>,
    /// Zero is omitted.
    pub segment_id: u64,
    /// The assigned variant's ID and, when the flag lists it, the variant itself.
    pub variant: Option<(u64, Option<&'f Variant>)>,
}

impl EvalResult<'_> {
    /// The entity ID the answer's context carries.
    pub fn entity_id(&self) -> &str {
        match &self.generated_entity_id {
            Some(generated) => generated.as_str(),
            None => &self.context.entity_id,
        }
    }
}

/// Flagr's `randomly_generated_<rand.Int31()>`, held without allocating.
#[derive(Debug, Clone, Copy)]
pub struct GeneratedId {
    text: [u8; GeneratedId::CAPACITY],
    len: u8,
}

impl GeneratedId {
    const PREFIX: &'static [u8] = b"randomly_generated_";
    /// The prefix and the ten digits of the largest 31-bit number.
    const CAPACITY: usize = GeneratedId::PREFIX.len() + 10;

    /// A fresh random ID.
    pub fn random() -> GeneratedId {
        let mut text = [0; GeneratedId::CAPACITY];
        text[..GeneratedId::PREFIX.len()].copy_from_slice(GeneratedId::PREFIX);
        let mut buffer = [0; 20];
        let digits = crate::json::u64_digits(u64::from(random_u31()), &mut buffer);
        let len = GeneratedId::PREFIX.len() + digits.len();
        text[GeneratedId::PREFIX.len()..len].copy_from_slice(digits);
        GeneratedId {
            text,
            len: len as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.text[..usize::from(self.len)]).unwrap_or_default()
    }
}

/// Flagr crashed on this input (a Go panic, HTTP 500 with a plain-text body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crash(pub &'static str);

/// `evalDebugLog.msg` of a blank result.
pub const MSG_NOT_FOUND: &str = "not found or deleted";
/// `evalDebugLog.msg` of a disabled flag.
pub const MSG_DISABLED: &str = "is not enabled";
/// `evalDebugLog.msg` of a flag without segments.
pub const MSG_NO_SEGMENTS: &str = "has no segments";

/// Evaluates `flag` (already looked up, `None` when missing) for `context`.
pub fn evaluate<'f>(
    flag: Option<&'f Flag>,
    requested_key: &'f str,
    context: &'f EvalContext,
    options: EvalOptions,
) -> Result<EvalResult<'f>, Crash> {
    let Some(flag) = flag else {
        let id = context.flag_id;
        return Ok(blank(
            context,
            FlagRef::Missing {
                id,
                key: requested_key,
            },
            MSG_NOT_FOUND,
            id,
        ));
    };
    if !flag.enabled {
        return Ok(blank(context, FlagRef::Found(flag), MSG_DISABLED, flag.id));
    }
    if flag.segments.is_empty() {
        return Ok(blank(
            context,
            FlagRef::Found(flag),
            MSG_NO_SEGMENTS,
            flag.id,
        ));
    }

    let generated_entity_id = context.entity_id.is_empty().then(GeneratedId::random);
    let entity_id = match &generated_entity_id {
        Some(generated) => generated.as_str(),
        None => &context.entity_id,
    };
    let entity_type: &str = if flag.entity_type.is_empty() {
        &context.entity_type
    } else {
        &flag.entity_type
    };

    let debug = context.enable_debug && options.debug_enabled;
    let mut logs = Vec::new();
    let mut last_segment_id = 0;
    let mut assigned = None;
    for segment in &flag.segments {
        last_segment_id = segment.id;
        match match_segment(segment, context.entity_context.as_deref(), debug)? {
            SegmentMatch::No(msg) => {
                if debug {
                    logs.push(SegmentLog {
                        msg,
                        segment_id: segment.id,
                    });
                }
            }
            SegmentMatch::Yes => {
                let outcome = rollout(flag, segment, entity_id, debug)?;
                if debug {
                    let msg = format!("matched all constraints. {}", outcome.msg);
                    logs.push(SegmentLog {
                        msg,
                        segment_id: segment.id,
                    });
                }
                assigned = outcome.variant_id.map(|id| (segment.id, id));
                break;
            }
        }
    }

    let segment_logs = match (debug, options.version) {
        (true, _) => Some(logs),
        (false, FlagrVersion::V1_1) => Some(Vec::new()),
        (false, FlagrVersion::V1_2) => None,
    };
    let segment_id = match (assigned, options.version) {
        (Some((segment_id, _)), _) => segment_id,
        (None, FlagrVersion::V1_1) => last_segment_id,
        (None, FlagrVersion::V1_2) => 0,
    };
    Ok(EvalResult {
        context,
        generated_entity_id,
        entity_type,
        flag: FlagRef::Found(flag),
        msg: "",
        msg_flag_id: 0,
        segment_logs,
        segment_id,
        variant: assigned.map(|(_, id)| (id, flag.variant(id))),
    })
}

fn blank<'f>(
    context: &'f EvalContext,
    flag: FlagRef<'f>,
    msg: &'static str,
    msg_flag_id: u64,
) -> EvalResult<'f> {
    EvalResult {
        context,
        generated_entity_id: None,
        entity_type: &context.entity_type,
        flag,
        msg,
        msg_flag_id,
        segment_logs: None,
        segment_id: 0,
        variant: None,
    }
}

enum SegmentMatch {
    Yes,
    /// The debug message saying why not (empty when debug is off).
    No(String),
}

fn match_segment(
    segment: &Segment,
    entity_context: Option<&Value>,
    debug: bool,
) -> Result<SegmentMatch, Crash> {
    let Some(expression) = &segment.expression else {
        return Ok(SegmentMatch::Yes);
    };
    let Some(map) = entity_context.and_then(Value::as_object) else {
        let msg = if debug {
            format!(
                "constraints are present in the segment_id {}, but got invalid entity_context: {}.",
                segment.id,
                expr::spew_sdump(entity_context)
            )
        } else {
            String::new()
        };
        return Ok(SegmentMatch::No(msg));
    };
    match expression.evaluate(map) {
        Ok(true) => Ok(SegmentMatch::Yes),
        Ok(false) => {
            let msg = if debug {
                format!(
                    "constraint not match. constraint: {expression}, entity_context: {}.",
                    expr::go_sprint_map(map)
                )
            } else {
                String::new()
            };
            Ok(SegmentMatch::No(msg))
        }
        Err(EvalError::Crash(reason)) => Err(Crash(reason)),
        Err(error) => Ok(SegmentMatch::No(if debug {
            error.to_string()
        } else {
            String::new()
        })),
    }
}

/// The result of a segment's rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    pub variant_id: Option<u64>,
    /// The rollout half of the debug message (empty when debug is off).
    pub msg: String,
}

/// Flagr's rollout of `entity_id` over a segment's distributions, salted with the flag ID.
pub fn rollout(
    flag: &Flag,
    segment: &Segment,
    entity_id: &str,
    debug: bool,
) -> Result<Rollout, Crash> {
    let fixed = |msg: &str| Rollout {
        variant_id: None,
        msg: if debug {
            msg.to_string()
        } else {
            String::new()
        },
    };
    if entity_id.is_empty() {
        return Ok(fixed("rollout no. empty entityID"));
    }
    if segment.rollout_percent == 0 {
        return Ok(fixed("rollout no. 0% rolloutPercent"));
    }
    let distribution = &segment.distribution;
    if distribution.variant_ids.is_empty() {
        return Ok(fixed("rollout no. there's no distribution set"));
    }

    let bucket = flag.bucket(entity_id);
    let Some((variant_id, in_rollout)) =
        pick_variant(distribution, bucket, segment.rollout_percent)
    else {
        // Flagr indexes past the end of its distribution array here and panics.
        return Err(Crash("distribution percents sum to less than 100"));
    };

    let msg = if debug {
        format!(
            "rollout {}. {{BucketNum:{bucket} DistributionArray:{{VariantIDs:{} PercentsAccumulated:{}}} VariantID:{variant_id} RolloutPercent:{}}}",
            if in_rollout { "yes" } else { "no" },
            go_uint_slice(&distribution.variant_ids),
            go_uint_slice(&distribution.percents_accumulated),
            segment.rollout_percent,
        )
    } else {
        String::new()
    };
    Ok(Rollout {
        variant_id: in_rollout.then_some(variant_id),
        msg,
    })
}

/// `crc32(salt ++ entity_id) mod 1000`: the entity's bucket.
pub fn bucket(salt: &str, entity_id: &str) -> u64 {
    bucket_bytes(salt.as_bytes(), entity_id.as_bytes())
}

/// [`bucket`] over bytes.
pub fn bucket_bytes(salt: &[u8], entity_id: &[u8]) -> u64 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(salt);
    hasher.update(entity_id);
    u64::from(hasher.finalize()) % TOTAL_BUCKETS
}

/// The variant whose range holds `bucket`, and whether the bucket lies in the rolled-out
/// leading part of that range. `None` when the ranges end before the bucket.
pub fn pick_variant(
    distribution: &Distribution,
    bucket: u64,
    rollout_percent: u64,
) -> Option<(u64, bool)> {
    let accumulated = &distribution.percents_accumulated;
    let index = accumulated.partition_point(|&total| total < bucket + 1);
    let variant_id = *distribution.variant_ids.get(index)?;
    if rollout_percent == 100 {
        return Some((variant_id, true));
    }
    let min = if index == 0 {
        0
    } else {
        accumulated[index - 1]
    };
    let max = accumulated[index];
    let width = max.saturating_sub(min).saturating_sub(1);
    let in_rollout = 100 * (bucket - min) <= width.saturating_mul(rollout_percent);
    Some((variant_id, in_rollout))
}

/// Go's `%v` of a `[]uint`: `[300 301]`.
fn go_uint_slice(values: &[u64]) -> String {
    let items: Vec<String> = values.iter().map(u64::to_string).collect();
    format!("[{}]", items.join(" "))
}

thread_local! {
    static RANDOM: Cell<u64> = Cell::new(RandomState::new().build_hasher().finish() | 1);
}

/// A random number in `0..2^31`, like Go's `rand.Int31()`.
pub fn random_u31() -> u32 {
    // xorshift64*, seeded per thread from the standard library's random hash keys: the values
    // only need to be spread, not secret.
    let value = RANDOM.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    });
    ((value >> 33) & 0x7fff_ffff) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distribution(pairs: &[(u64, u64)]) -> Distribution {
        let mut total = 0;
        let mut result = Distribution::default();
        for (variant, percent) in pairs {
            total += percent * 10;
            result.variant_ids.push(*variant);
            result.percents_accumulated.push(total);
        }
        result
    }

    #[test]
    fn bucket_matches_known_crc() {
        assert_eq!(bucket("100", "entityID1"), 221);
        assert_eq!(bucket("100", "entity1"), 888);
    }

    #[test]
    fn rollout_takes_the_leading_part_of_each_range() {
        let halves = distribution(&[(1, 50), (2, 50)]);
        let check = |bucket, expected| {
            assert_eq!(
                pick_variant(&halves, bucket, 50),
                Some(expected),
                "bucket {bucket}"
            );
        };
        check(0, (1, true));
        check(249, (1, true));
        check(250, (1, false));
        check(499, (1, false));
        check(500, (2, true));
        check(749, (2, true));
        check(750, (2, false));
        check(999, (2, false));
    }

    #[test]
    fn short_distributions_have_no_variant_past_their_end() {
        let short = distribution(&[(1, 40)]);
        assert_eq!(pick_variant(&short, 399, 100), Some((1, true)));
        assert_eq!(pick_variant(&short, 400, 100), None);
    }

    #[test]
    fn random_ids_have_flagr_form() {
        for _ in 0..1000 {
            let generated = GeneratedId::random();
            let number: u64 = generated
                .as_str()
                .strip_prefix("randomly_generated_")
                .and_then(|n| n.parse().ok())
                .expect("flagr form");
            assert!(number < 1 << 31);
        }
    }
}
