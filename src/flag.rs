//! Flags ready to evaluate: built once from the export format, with constraint expressions
//! parsed, regexes compiled and bucket ranges accumulated, so a request only reads them.
//!
//! `compile_flags` also applies the checks Flagr applies to the same input: every version
//! refuses a document with an invalid constraint (Flagr's cache reload fails on one), and for
//! flags files in 1.2 mode the `json_file` validator and ID normalisation of Flagr 1.2 run
//! first. A refused document is refused whole.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use thiserror::Error;

use crate::expr::{self, Constraint, Dialect, Expr};
use crate::flagr::{Attachment, Export, ExportConstraint, ExportFlag};

/// Which Flagr release line the proxy answers as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagrVersion {
    /// Flagr 1.1.11 to 1.1.20.
    V1_1,
    /// Flagr 1.2.x (1.2.2 and later for the result fields that changed within 1.2).
    V1_2,
}

impl FlagrVersion {
    /// The constraint-language dialect this version evaluates with.
    pub fn dialect(self) -> Dialect {
        match self {
            FlagrVersion::V1_1 => Dialect::Flagr11,
            FlagrVersion::V1_2 => Dialect::Flagr12,
        }
    }
}

/// Where a document of flags came from; Flagr validates flags files but not its own database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagSource {
    /// Flagr's eval-cache export, already checked by Flagr's API when the flags were written.
    Upstream,
    /// A flags file, read like Flagr's `json_file` driver reads one.
    File,
}

/// Why a document of flags was refused.
#[derive(Debug, Error)]
pub enum FlagError {
    #[error("flag {flag_key:?} (id {flag_id}): {reason}")]
    Invalid {
        flag_id: u64,
        flag_key: String,
        reason: String,
    },
    #[error(
        "flag {flag_key:?} (id {flag_id}), segment {segment_id}: invalid constraint: {source}"
    )]
    Constraint {
        flag_id: u64,
        flag_key: String,
        segment_id: u64,
        #[source]
        source: expr::InvalidConstraint,
    },
}

/// A flag as the evaluator uses it.
#[derive(Debug)]
pub struct Flag {
    pub id: u64,
    pub key: String,
    pub enabled: bool,
    pub snapshot_id: u64,
    pub entity_type: String,
    pub data_records_enabled: bool,
    /// Tag values in the order Flagr lists them (tag ID order).
    pub tags: Vec<String>,
    /// Segments in evaluation order: the order of the document, which Flagr does not re-sort.
    pub segments: Vec<Segment>,
    pub variants: Vec<Variant>,
    /// The flag ID in decimal, prefixed to the entity ID when bucketing.
    pub salt: String,
}

/// One segment, compiled.
#[derive(Debug)]
pub struct Segment {
    pub id: u64,
    pub rollout_percent: u64,
    /// The segment's constraints as one expression; `None` when it has none.
    pub expression: Option<Expr>,
    /// The constraints as the source gave them, kept to write the flag back out (snapshots).
    pub constraints: Vec<ExportConstraint>,
    pub distribution: Distribution,
}

/// A segment's distributions as Flagr prepares them: variant IDs in document order and the
/// running sum of their percents times ten, so a bucket in 0..1000 maps to a variant.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Distribution {
    pub variant_ids: Vec<u64>,
    pub percents_accumulated: Vec<u64>,
}

/// A variant and its attachment (`None` when the document had `null` or nothing).
#[derive(Debug)]
pub struct Variant {
    pub id: u64,
    pub key: String,
    pub attachment: Option<Attachment>,
}

impl Flag {
    /// The variant with this ID, if the flag has one.
    pub fn variant(&self, id: u64) -> Option<&Variant> {
        self.variants.iter().find(|variant| variant.id == id)
    }
}

/// Compiles every flag of a document, or refuses the document whole.
pub fn compile_flags(
    mut export: Export,
    version: FlagrVersion,
    source: FlagSource,
) -> Result<Vec<Arc<Flag>>, FlagError> {
    if version == FlagrVersion::V1_2 && source == FlagSource::File {
        validate_flags(&export)?;
        normalize_ids(&mut export);
    }
    export
        .flags
        .iter()
        .map(|flag| compile_flag(flag, version).map(Arc::new))
        .collect()
}

/// Compiles one flag.
pub fn compile_flag(flag: &ExportFlag, version: FlagrVersion) -> Result<Flag, FlagError> {
    let segments =
        flag.segments
            .iter()
            .map(|segment| {
                let constraints = constraints_of(segment);
                let expression = if constraints.is_empty() {
                    None
                } else {
                    let compiled = expr::compile_segment(&constraints, version.dialect()).map_err(
                        |source| FlagError::Constraint {
                            flag_id: flag.id,
                            flag_key: flag.key.clone(),
                            segment_id: segment.id,
                            source,
                        },
                    )?;
                    Some(compiled)
                };
                Ok(Segment {
                    id: segment.id,
                    rollout_percent: segment.rollout_percent,
                    expression,
                    constraints: segment.constraints.clone(),
                    distribution: accumulate(segment),
                })
            })
            .collect::<Result<Vec<_>, FlagError>>()?;

    let variants = flag
        .variants
        .iter()
        .map(|variant| Variant {
            id: variant.id,
            key: variant.key.clone(),
            attachment: variant.attachment.clone(),
        })
        .collect();

    Ok(Flag {
        id: flag.id,
        key: flag.key.clone(),
        enabled: flag.enabled,
        snapshot_id: flag.snapshot_id,
        entity_type: flag.entity_type.clone(),
        data_records_enabled: flag.data_records_enabled,
        tags: flag.tags.iter().map(|tag| tag.value.clone()).collect(),
        segments,
        variants,
        salt: flag.id.to_string(),
    })
}

/// A segment's constraints as the expression compiler takes them.
fn constraints_of(segment: &crate::flagr::ExportSegment) -> Vec<Constraint<'_>> {
    segment
        .constraints
        .iter()
        .map(|constraint| Constraint {
            property: &constraint.property,
            operator: &constraint.operator,
            value: &constraint.value,
        })
        .collect()
}

fn accumulate(segment: &crate::flagr::ExportSegment) -> Distribution {
    let mut total = 0u64;
    let mut distribution = Distribution::default();
    for share in &segment.distributions {
        total = total.saturating_add(share.percent.saturating_mul(10));
        distribution.variant_ids.push(share.variant_id);
        distribution.percents_accumulated.push(total);
    }
    distribution
}

/// The checks Flagr 1.2's `json_file` driver runs before accepting a document.
fn validate_flags(export: &Export) -> Result<(), FlagError> {
    let mut keys = HashSet::new();
    for flag in &export.flags {
        let invalid = |reason: String| FlagError::Invalid {
            flag_id: flag.id,
            flag_key: flag.key.clone(),
            reason,
        };
        if flag.key.is_empty() {
            return Err(invalid("flag key is empty".into()));
        }
        if !keys.insert(flag.key.as_str()) {
            return Err(invalid("duplicate flag key".into()));
        }

        let mut variant_keys = HashSet::new();
        for variant in &flag.variants {
            if variant.key.is_empty() {
                return Err(invalid("variant key is empty".into()));
            }
            if !variant_keys.insert(variant.key.as_str()) {
                return Err(invalid(format!("duplicate variant key {:?}", variant.key)));
            }
        }

        for segment in &flag.segments {
            if segment.rollout_percent > 100 {
                return Err(invalid(format!(
                    "segment {} rollout percent {} exceeds 100",
                    segment.id, segment.rollout_percent
                )));
            }
            let mut sum = 0u64;
            for share in &segment.distributions {
                if share.percent > 100 {
                    return Err(invalid(format!(
                        "segment {} distribution percent {} exceeds 100",
                        segment.id, share.percent
                    )));
                }
                sum += share.percent;
                if share.variant_key.is_empty() && share.variant_id == 0 {
                    return Err(invalid(format!(
                        "segment {} has a distribution without a variant",
                        segment.id
                    )));
                }
                if !share.variant_key.is_empty()
                    && !variant_keys.contains(share.variant_key.as_str())
                {
                    return Err(invalid(format!(
                        "segment {} distribution names unknown variant {:?}",
                        segment.id, share.variant_key
                    )));
                }
            }
            if !segment.distributions.is_empty() && sum != 100 {
                return Err(invalid(format!(
                    "segment {} distributions sum to {sum}, not 100",
                    segment.id
                )));
            }
            let constraints = constraints_of(segment);
            if !constraints.is_empty() {
                expr::compile_segment(&constraints, Dialect::Flagr12).map_err(|source| {
                    FlagError::Constraint {
                        flag_id: flag.id,
                        flag_key: flag.key.clone(),
                        segment_id: segment.id,
                        source,
                    }
                })?;
            }
        }
    }
    Ok(())
}

/// Flagr 1.2's ID normalisation for flags files: missing IDs are numbered after the largest
/// one of their kind, children point at their parents, and distributions naming a variant by
/// key get its ID.
fn normalize_ids(export: &mut Export) {
    let flags = &export.flags;
    let segments = || flags.iter().flat_map(|f| f.segments.iter());
    let mut next_flag = next_id(flags.iter().map(|f| f.id));
    let mut next_segment = next_id(segments().map(|s| s.id));
    let mut next_constraint = next_id(segments().flat_map(|s| s.constraints.iter().map(|c| c.id)));
    let mut next_distribution =
        next_id(segments().flat_map(|s| s.distributions.iter().map(|d| d.id)));
    let mut next_variant = next_id(flags.iter().flat_map(|f| f.variants.iter().map(|v| v.id)));
    let mut next_tag = next_id(flags.iter().flat_map(|f| f.tags.iter().map(|t| t.id)));

    for flag in &mut export.flags {
        take_next(&mut flag.id, &mut next_flag);
        for variant in &mut flag.variants {
            take_next(&mut variant.id, &mut next_variant);
        }
        for tag in &mut flag.tags {
            take_next(&mut tag.id, &mut next_tag);
        }
        let variant_ids: HashMap<&str, u64> = flag
            .variants
            .iter()
            .map(|variant| (variant.key.as_str(), variant.id))
            .collect();
        for segment in &mut flag.segments {
            take_next(&mut segment.id, &mut next_segment);
            segment.flag_id = flag.id;
            for constraint in &mut segment.constraints {
                take_next(&mut constraint.id, &mut next_constraint);
            }
            for share in &mut segment.distributions {
                take_next(&mut share.id, &mut next_distribution);
                if share.variant_id == 0 {
                    if let Some(id) = variant_ids.get(share.variant_key.as_str()) {
                        share.variant_id = *id;
                    }
                }
            }
        }
    }
}

/// The ID after the largest of `ids`.
fn next_id(ids: impl Iterator<Item = u64>) -> u64 {
    ids.max().unwrap_or(0) + 1
}

fn take_next(id: &mut u64, next: &mut u64) {
    if *id == 0 {
        *id = *next;
        *next += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flagr::parse_export;

    fn compile(
        text: &str,
        version: FlagrVersion,
        source: FlagSource,
    ) -> Result<Vec<Arc<Flag>>, FlagError> {
        compile_flags(
            parse_export(text.as_bytes()).expect("parses"),
            version,
            source,
        )
    }

    #[test]
    fn accumulates_percents_in_document_order() {
        let flags = compile(
            r#"{"Flags":[{"ID":5,"Key":"k","Segments":[{"ID":1,"RolloutPercent":100,
               "Distributions":[{"VariantID":2,"Percent":30},{"VariantID":1,"Percent":70}]}]}]}"#,
            FlagrVersion::V1_1,
            FlagSource::Upstream,
        )
        .expect("compiles");
        let distribution = &flags[0].segments[0].distribution;
        assert_eq!(distribution.variant_ids, vec![2, 1]);
        assert_eq!(distribution.percents_accumulated, vec![300, 1000]);
        assert_eq!(flags[0].salt, "5");
    }

    #[test]
    fn attachment_numbers_take_go_float_form() {
        let flags = compile(
            r#"{"Flags":[{"ID":1,"Key":"k","Variants":[{"ID":1,"Key":"a",
               "Attachment":{"a":1.0,"b":9007199254740993,"c":1e-7,"d":[2.50]}}]}]}"#,
            FlagrVersion::V1_1,
            FlagSource::Upstream,
        )
        .expect("compiles");
        assert_eq!(
            flags[0].variants[0]
                .attachment
                .as_ref()
                .map(Attachment::as_str),
            Some(r#"{"a":1,"b":9007199254740992,"c":1e-7,"d":[2.5]}"#)
        );
    }

    #[test]
    fn file_validation_in_1_2_refuses_bad_documents() {
        let cases = [
            r#"{"Flags":[{"ID":1,"Key":""}]}"#,
            r#"{"Flags":[{"ID":1,"Key":"a"},{"ID":2,"Key":"a"}]}"#,
            r#"{"Flags":[{"ID":1,"Key":"a","Segments":[{"RolloutPercent":101}]}]}"#,
            r#"{"Flags":[{"ID":1,"Key":"a","Variants":[{"Key":"on"}],
               "Segments":[{"RolloutPercent":100,"Distributions":[{"VariantKey":"on","Percent":50}]}]}]}"#,
            r#"{"Flags":[{"ID":1,"Key":"a","Variants":[{"Key":"on"}],
               "Segments":[{"RolloutPercent":100,"Distributions":[{"VariantKey":"off","Percent":100}]}]}]}"#,
            r#"{"Flags":[{"ID":1,"Key":"a","Segments":[{"Constraints":[{"Property":"x","Operator":"EQ","Value":"unquoted"}]}]}]}"#,
        ];
        for text in cases {
            assert!(
                compile(text, FlagrVersion::V1_2, FlagSource::File).is_err(),
                "{text}"
            );
        }
    }

    #[test]
    fn file_normalisation_in_1_2_fills_ids_and_variant_ids() {
        let flags = compile(
            r#"{"Flags":[{"ID":4,"Key":"a"},{"Key":"b","Variants":[{"Key":"on"},{"ID":3,"Key":"off"}],
               "Segments":[{"RolloutPercent":100,"Distributions":[{"VariantKey":"on","Percent":100}]}]}]}"#,
            FlagrVersion::V1_2,
            FlagSource::File,
        )
        .expect("compiles");
        assert_eq!(flags[1].id, 5);
        assert_eq!(flags[1].salt, "5");
        assert_eq!(flags[1].variants[0].id, 4);
        assert_eq!(flags[1].segments[0].id, 1);
        assert_eq!(flags[1].segments[0].distribution.variant_ids, vec![4]);
    }

    #[test]
    fn invalid_constraint_refuses_the_document_in_every_version() {
        let text = r#"{"Flags":[{"ID":1,"Key":"a","Segments":[{"ID":2,"Constraints":[
            {"Property":"x","Operator":"LIKE","Value":"\"a\""}]}]}]}"#;
        for version in [FlagrVersion::V1_1, FlagrVersion::V1_2] {
            assert!(compile(text, version, FlagSource::Upstream).is_err());
        }
    }
}
