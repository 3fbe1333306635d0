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
use crate::flagr::canonical::Stop;
use crate::flagr::{Attachment, Export, ExportConstraint, ExportFlag};
use crate::json;
use crate::response::FlagMembers;

/// Which Flagr release line the proxy answers as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagrVersion {
    /// Flagr 1.1.11 to 1.1.20.
    V1_1,
    /// Flagr 1.2.x (1.2.2 and later for the result fields that changed within 1.2).
    V1_2,
}

impl std::fmt::Display for FlagrVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FlagrVersion {
    /// The version as Flagr's releases name it: `1.1` or `1.2`.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagrVersion::V1_1 => "1.1",
            FlagrVersion::V1_2 => "1.2",
        }
    }

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
    pub entity_type: Box<str>,
    pub data_records_enabled: bool,
    /// Tag values in the order Flagr lists them (tag ID order).
    pub tags: Box<[String]>,
    /// Segments in evaluation order: the order of the document, which Flagr does not re-sort.
    pub segments: Box<[Segment]>,
    pub variants: Box<[Variant]>,
    /// The ID, key, snapshot ID and tags as an evaluation result writes them: the same for
    /// every answer, so written once.
    pub members: FlagMembers,
}

/// One segment, compiled.
#[derive(Debug)]
pub struct Segment {
    pub id: u64,
    pub rollout_percent: u64,
    /// The segment's constraints as one expression; `None` when it has none.
    pub expression: Option<Expr>,
    /// The constraints as the source gave them, as the JSON array a snapshot holds (one
    /// string rather than a dozen small ones); kept only to write the flag back out.
    pub constraints_json: Option<Box<str>>,
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
    /// The entity's bucket in this flag: `crc32(flag ID in decimal ++ entity ID) mod 1000`.
    pub fn bucket(&self, entity_id: &str) -> u64 {
        let mut digits = [0; 20];
        let salt = json::u64_digits(self.id, &mut digits);
        crate::eval::bucket_bytes(salt, entity_id.as_bytes())
    }

    /// The variant with this ID, if the flag has one.
    pub fn variant(&self, id: u64) -> Option<&Variant> {
        self.variants.iter().find(|variant| variant.id == id)
    }
}

/// Why a document could not be turned into flags.
#[derive(Debug, Error)]
pub enum DocumentError {
    #[error(transparent)]
    Parse(#[from] serde_json::Error),
    #[error(transparent)]
    Invalid(#[from] FlagError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Parses and compiles a whole document, or refuses it whole.
///
/// Flags are compiled as they are parsed, so the parsed form of the whole document is never
/// held beside the compiled one. A 1.2 flags file that leaves IDs to be numbered is the
/// exception: numbering needs every flag first, so such a file is parsed whole, then numbered.
pub fn compile_document(
    bytes: &[u8],
    version: FlagrVersion,
    source: FlagSource,
) -> Result<Vec<Arc<Flag>>, DocumentError> {
    let whole = || Ok(crate::flagr::parse_export(bytes)?);
    // Flags files keep to one reader: their checks span the whole document.
    if source == FlagSource::Upstream {
        let halves = split_point(bytes).and_then(|split| compile_halves(bytes, split, version));
        if let Some(compiled) = halves {
            return Ok(compiled?);
        }
    }
    // Text checked as UTF-8 once, in one pass, is parsed without checking each string again.
    // A document that is not UTF-8 is parsed as bytes, so its error says where it breaks.
    match std::str::from_utf8(bytes) {
        Ok(text) => compile_text(
            Some(text),
            serde_json::de::StrRead::new(text),
            whole,
            version,
            source,
        ),
        Err(_) => compile_text(
            None,
            serde_json::de::SliceRead::new(bytes),
            whole,
            version,
            source,
        ),
    }
}

/// [`compile_document`] for a file, read as it is parsed rather than held whole.
pub fn compile_file(
    path: &std::path::Path,
    version: FlagrVersion,
    source: FlagSource,
) -> Result<Vec<Arc<Flag>>, DocumentError> {
    let open = || -> std::io::Result<_> {
        Ok(std::io::BufReader::with_capacity(
            1 << 16,
            std::fs::File::open(path)?,
        ))
    };
    compile_text(
        None,
        serde_json::de::IoRead::new(open()?),
        || Ok(serde_json::from_reader(open()?)?),
        version,
        source,
    )
}

/// Where a document is split to be read and compiled as two halves at once: the start of the
/// first line past its middle. This proxy saves a snapshot one flag per line (JSON strings
/// cannot hold a line break), so that is where a flag starts; a document of another layout
/// has no such line, or the split is found not to fall between flags, and is read whole.
fn split_point(bytes: &[u8]) -> Option<usize> {
    let middle = bytes.len() / 2;
    let line = middle + bytes.get(middle..)?.iter().position(|&b| b == b'\n')? + 1;
    (bytes.get(line) == Some(&b'{')).then_some(line)
}

/// Reads and compiles the flags before `split` on this thread and the rest on another, each
/// half checked as UTF-8 on its own thread (the split is at an ASCII byte, so two valid halves
/// make a valid whole); `None` when a half is not UTF-8, the direct reader leaves the document
/// to serde, or `split` is not between flags. The first refusal in document order is the one
/// reported, as a single reader reports it.
fn compile_halves(
    bytes: &[u8],
    split: usize,
    version: FlagrVersion,
) -> Option<Result<Vec<Arc<Flag>>, FlagError>> {
    let (first, second) = bytes.split_at(split);
    std::thread::scope(|scope| {
        let second = scope.spawn(|| {
            let Ok(text) = std::str::from_utf8(second) else {
                return Half::Unsupported;
            };
            compile_half(version, |each| {
                crate::flagr::canonical::read_export_from(text, 0, each)
            })
        });
        let text = std::str::from_utf8(first).ok()?;
        let mut flags = match compile_half(version, |each| {
            crate::flagr::canonical::read_export_before(text, split, each)
        }) {
            Half::Read(flags) => flags,
            Half::Refused(refusal) => return Some(Err(refusal)),
            Half::Unsupported => return None,
        };
        match second.join().ok()? {
            Half::Read(rest) => {
                flags.extend(rest);
                Some(Ok(flags))
            }
            Half::Refused(refusal) => Some(Err(refusal)),
            Half::Unsupported => None,
        }
    })
}

/// How one half of a document ended.
enum Half {
    Read(Vec<Arc<Flag>>),
    Refused(FlagError),
    /// Left to serde, or not a half (the split did not fall between flags).
    Unsupported,
}

/// Compiles the flags `read` hands over, stopping at the first refusal.
fn compile_half(
    version: FlagrVersion,
    read: impl FnOnce(&mut dyn FnMut(ExportFlag) -> Result<(), ()>) -> Result<(), Stop>,
) -> Half {
    let mut flags = Vec::new();
    let mut refusal = None;
    let read = read(&mut |flag| match compile_flag(flag, version) {
        Ok(flag) => {
            flags.push(Arc::new(flag));
            Ok(())
        }
        Err(error) => {
            refusal = Some(error);
            Err(())
        }
    });
    match (read, refusal) {
        (Ok(()), _) => Half::Read(flags),
        (Err(Stop::Refused), Some(refusal)) => Half::Refused(refusal),
        _ => Half::Unsupported,
    }
}

/// Flags handed from the parsing thread to the compiling one at a time.
const PIPELINE_BATCH: usize = 64;

/// What the parsing thread hands the compiling one.
enum Handoff {
    Flags(Vec<ExportFlag>),
    /// The direct reader gave up: forget the flags so far, serde reads the document again.
    Restart,
}

/// Compiles a document as it is read from `text`; `whole` parses it again, whole, when IDs
/// must be numbered. With `direct`, the same document as text, it is first read with
/// [`canonical`](crate::flagr::canonical), which yields the flags serde would, faster.
///
/// Parsing and compiling run on two threads, the parser handing flags over in small batches,
/// so a large document loads in about the time of the slower of the two. Errors are reported
/// as a single thread would meet them: the first problem in document order.
fn compile_text<'de>(
    direct: Option<&str>,
    text: impl serde_json::de::Read<'de> + Send,
    whole: impl FnOnce() -> Result<Export, DocumentError>,
    version: FlagrVersion,
    source: FlagSource,
) -> Result<Vec<Arc<Flag>>, DocumentError> {
    let file_rules = version == FlagrVersion::V1_2 && source == FlagSource::File;
    let mut flags = Vec::new();
    let mut keys = HashSet::new();
    let mut numbering = false;
    let mut refusal = None;
    let parsed = std::thread::scope(|scope| {
        let (sender, batches) = std::sync::mpsc::sync_channel::<Handoff>(8);
        let parser = scope.spawn(move || {
            let mut batch = Vec::with_capacity(PIPELINE_BATCH);
            let hand_over = |batch: &mut Vec<ExportFlag>, item| {
                batch.push(item);
                if batch.len() == PIPELINE_BATCH {
                    let full = std::mem::replace(batch, Vec::with_capacity(PIPELINE_BATCH));
                    // The compiling side hung up: it refused a flag, so stop reading.
                    sender.send(Handoff::Flags(full)).map_err(|_| ())?;
                }
                Ok(())
            };
            if let Some(direct) = direct {
                match crate::flagr::canonical::read_export(direct, |item| {
                    hand_over(&mut batch, item)
                }) {
                    Ok(()) => {
                        if !batch.is_empty() {
                            let _ = sender.send(Handoff::Flags(batch));
                        }
                        return Ok(());
                    }
                    Err(Stop::Refused) => return Err(Ok(())),
                    // Only the halves of a split read stop where they were asked to.
                    Err(Stop::Unsupported | Stop::Reached) => {
                        batch.clear();
                        if sender.send(Handoff::Restart).is_err() {
                            return Err(Ok(()));
                        }
                    }
                }
            }
            let parsed = crate::flagr::read_export(text, |item| hand_over(&mut batch, item));
            if !batch.is_empty() {
                let _ = sender.send(Handoff::Flags(batch));
            }
            parsed
        });

        'batches: for handoff in batches.iter() {
            let batch = match handoff {
                Handoff::Flags(batch) => batch,
                Handoff::Restart => {
                    flags.clear();
                    keys.clear();
                    numbering = false;
                    continue;
                }
            };
            for flag in batch {
                let step = (|| {
                    if file_rules {
                        // The constraints are checked by compiling them, just below.
                        validate_flag(&flag, &mut keys, false)?;
                        numbering = numbering || needs_numbering(&flag);
                    }
                    if !numbering {
                        flags.push(Arc::new(compile_flag(flag, version)?));
                    }
                    Ok::<(), FlagError>(())
                })();
                if let Err(error) = step {
                    refusal = Some(error);
                    break 'batches;
                }
            }
        }
        drop(batches);
        parser.join()
    });
    if let Some(error) = refusal {
        return Err(error.into());
    }
    match parsed {
        Err(_) => Err(std::io::Error::other("the flags parser stopped").into()),
        Ok(Err(Err(error))) => Err(error.into()),
        // Only a refusal, handled above, stops the parser from the other side.
        Ok(Err(Ok(()))) => Err(std::io::Error::other("the flags parser was stopped").into()),
        Ok(Ok(())) if numbering => {
            drop(flags);
            Ok(compile_flags(whole()?, version, source)?)
        }
        Ok(Ok(())) if source == FlagSource::File => {
            check_unique_ids(&flags)?;
            Ok(flags)
        }
        Ok(Ok(())) => Ok(flags),
    }
}

/// A flags file naming two flags by one ID is refused: only one of them could be looked up.
fn check_unique_ids(flags: &[Arc<Flag>]) -> Result<(), FlagError> {
    let mut seen = HashSet::with_capacity(flags.len());
    for flag in flags {
        if !seen.insert(flag.id) {
            return Err(FlagError::Invalid {
                flag_id: flag.id,
                flag_key: flag.key.clone(),
                reason: "another flag of the file has the same ID".into(),
            });
        }
    }
    Ok(())
}

/// Compiles every flag of a parsed document, or refuses the document whole.
pub fn compile_flags(
    mut export: Export,
    version: FlagrVersion,
    source: FlagSource,
) -> Result<Vec<Arc<Flag>>, FlagError> {
    if version == FlagrVersion::V1_2 && source == FlagSource::File {
        let mut keys = HashSet::new();
        for flag in &export.flags {
            validate_flag(flag, &mut keys, true)?;
        }
        normalize_ids(&mut export);
    }
    let flags = export
        .flags
        .into_iter()
        .map(|flag| compile_flag(flag, version).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    if source == FlagSource::File {
        check_unique_ids(&flags)?;
    }
    Ok(flags)
}

/// Compiles one flag, taking its strings over.
pub fn compile_flag(flag: ExportFlag, version: FlagrVersion) -> Result<Flag, FlagError> {
    let mut segments = Vec::with_capacity(flag.segments.len());
    for segment in flag.segments {
        let expression = segment_expression(flag.id, &flag.key, &segment, version.dialect())?;
        let distribution = accumulate(&segment);
        segments.push(Segment {
            id: segment.id,
            rollout_percent: segment.rollout_percent,
            expression,
            constraints_json: constraints_json(segment.id, &segment.constraints),
            distribution,
        });
    }

    // Lists come from the parser with room to grow; a flag keeps them in blocks of their exact
    // size (new ones: a list shrunk in place can keep the allocator's larger block).
    let mut variants = Vec::with_capacity(flag.variants.len());
    variants.extend(flag.variants.into_iter().map(|variant| Variant {
        id: variant.id,
        key: variant.key,
        attachment: variant.attachment,
    }));
    let mut tags = Vec::with_capacity(flag.tags.len());
    tags.extend(flag.tags.into_iter().map(|tag| tag.value));

    Ok(Flag {
        members: FlagMembers::new(flag.id, &flag.key, flag.snapshot_id, &tags),
        id: flag.id,
        key: flag.key,
        enabled: flag.enabled,
        snapshot_id: flag.snapshot_id,
        entity_type: flag.entity_type.as_str().into(),
        data_records_enabled: flag.data_records_enabled,
        // Built at their exact capacity, so boxing them moves nothing.
        tags: tags.into_boxed_slice(),
        segments: segments.into_boxed_slice(),
        variants: variants.into_boxed_slice(),
    })
}

/// A segment's constraints as a snapshot writes them; `None` for none.
fn constraints_json(segment_id: u64, constraints: &[ExportConstraint]) -> Option<Box<str>> {
    if constraints.is_empty() {
        return None;
    }
    // The parts, their names and room for a few escapes.
    let size = constraints
        .iter()
        .map(|c| c.property.len() + c.operator.len() + c.value.len() + 96)
        .sum();
    let mut out = Vec::with_capacity(size);
    out.push(b'[');
    for (index, constraint) in constraints.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"ID\":");
        json::write_u64(&mut out, constraint.id);
        out.extend_from_slice(b",\"SegmentID\":");
        json::write_u64(&mut out, segment_id);
        out.extend_from_slice(b",\"Property\":");
        json::write_string(&mut out, &constraint.property);
        out.extend_from_slice(b",\"Operator\":");
        json::write_string(&mut out, &constraint.operator);
        out.extend_from_slice(b",\"Value\":");
        json::write_string(&mut out, &constraint.value);
        out.push(b'}');
    }
    out.push(b']');
    // Every piece written is UTF-8. Copied into a block of its exact size: shrinking the
    // working buffer in place can leave the allocator's larger block behind it.
    std::str::from_utf8(&out).ok().map(Box::from)
}

/// Whether Flagr 1.2's numbering would change anything a compiled flag keeps: a flag,
/// variant, segment or constraint ID left out, or a distribution naming its variant by key
/// only. (Tag and distribution IDs are numbered too, each kind on its own counter, but no
/// compiled flag keeps them.)
fn needs_numbering(flag: &ExportFlag) -> bool {
    flag.id == 0
        || flag.variants.iter().any(|variant| variant.id == 0)
        || flag.segments.iter().any(|segment| {
            segment.id == 0
                || segment.constraints.iter().any(|c| c.id == 0)
                || segment
                    .distributions
                    .iter()
                    .any(|share| share.variant_id == 0)
        })
}

/// A segment's constraints compiled into one expression for `dialect`; `None` for none.
fn segment_expression(
    flag_id: u64,
    flag_key: &str,
    segment: &crate::flagr::ExportSegment,
    dialect: Dialect,
) -> Result<Option<Expr>, FlagError> {
    let constraints = constraints_of(segment);
    if constraints.is_empty() {
        return Ok(None);
    }
    expr::compile_segment(&constraints, dialect)
        .map(Some)
        .map_err(|source| FlagError::Constraint {
            flag_id,
            flag_key: flag_key.to_owned(),
            segment_id: segment.id,
            source,
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
    let count = segment.distributions.len();
    let mut distribution = Distribution {
        variant_ids: Vec::with_capacity(count),
        percents_accumulated: Vec::with_capacity(count),
    };
    for share in &segment.distributions {
        total = total.saturating_add(share.percent.saturating_mul(10));
        distribution.variant_ids.push(share.variant_id);
        distribution.percents_accumulated.push(total);
    }
    distribution
}

/// The checks Flagr 1.2's `json_file` driver runs on each flag before accepting a document;
/// `keys` holds the keys of the flags before this one. Constraints are parsed only when
/// `constraints` is set.
fn validate_flag(
    flag: &ExportFlag,
    keys: &mut HashSet<String>,
    constraints: bool,
) -> Result<(), FlagError> {
    {
        let invalid = |reason: String| FlagError::Invalid {
            flag_id: flag.id,
            flag_key: flag.key.clone(),
            reason,
        };
        if flag.key.is_empty() {
            return Err(invalid("flag key is empty".into()));
        }
        if !keys.insert(flag.key.clone()) {
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
            if constraints {
                segment_expression(flag.id, &flag.key, segment, Dialect::Flagr12)?;
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

    #[test]
    fn a_document_that_is_not_utf8_is_refused_where_it_breaks() {
        let bytes = b"{\"Flags\":[{\"ID\":1,\"Key\":\"caf\xe9\",\"Enabled\":true}]}";
        let error =
            compile_document(bytes, FlagrVersion::V1_2, FlagSource::Upstream).expect_err("refused");
        let text = error.to_string();
        assert!(text.contains("line 1 column 29"), "{text}");

        // The same document in UTF-8 compiles, through the text path.
        let fixed = "{\"Flags\":[{\"ID\":1,\"Key\":\"caf\u{e9}\",\"Enabled\":true}]}";
        let flags = compile(fixed, FlagrVersion::V1_2, FlagSource::Upstream).expect("compiles");
        assert_eq!(flags[0].key, "caf\u{e9}");
    }

    /// Compiles through both paths, streamed and whole, and checks they agree.
    fn compile(
        text: &str,
        version: FlagrVersion,
        source: FlagSource,
    ) -> Result<Vec<Arc<Flag>>, FlagError> {
        let whole = compile_flags(
            parse_export(text.as_bytes()).expect("parses"),
            version,
            source,
        );
        let streamed = compile_document(text.as_bytes(), version, source);
        match (&whole, streamed) {
            (Ok(whole), Ok(streamed)) => {
                assert_eq!(format!("{whole:?}"), format!("{streamed:?}"), "{text}");
            }
            (Err(_), Err(DocumentError::Invalid(_))) => {}
            (whole, streamed) => panic!("{text}: whole {whole:?}, streamed {streamed:?}"),
        }
        whole
    }

    #[test]
    fn a_repeated_flags_member_or_flag_id_is_refused() {
        let twice = r#"{"Flags":[{"ID":1,"Key":"a"}],"x":[],"flags":[{"ID":2,"Key":"b"}]}"#;
        assert!(parse_export(twice.as_bytes()).is_err());
        let same_id = r#"{"Flags":[{"ID":1,"Key":"a"},{"ID":1,"Key":"b"}]}"#;
        let unnumbered = r#"{"Flags":[{"Key":"a"},{"Key":"b"}]}"#;
        for version in [FlagrVersion::V1_1, FlagrVersion::V1_2] {
            for source in [FlagSource::Upstream, FlagSource::File] {
                let streamed = compile_document(twice.as_bytes(), version, source);
                assert!(matches!(streamed, Err(DocumentError::Parse(_))));
            }
            assert!(compile(same_id, version, FlagSource::File).is_err());
        }
        // 1.2 numbers missing IDs; 1.1 leaves them all 0.
        assert!(compile(unnumbered, FlagrVersion::V1_2, FlagSource::File).is_ok());
        assert!(compile(unnumbered, FlagrVersion::V1_1, FlagSource::File).is_err());
    }

    #[test]
    fn the_first_problem_in_document_order_is_reported() {
        let flag = |id: usize, constraint: &str| {
            format!(
                r#"{{"ID":{id},"Key":"k{id}","Segments":[{{"ID":{id},"Constraints":[{constraint}]}}]}}"#
            )
        };
        let good = r#"{"Property":"x","Operator":"EQ","Value":"\"a\""}"#;
        let bad = r#"{"Property":"x","Operator":"LIKE","Value":"\"a\""}"#;
        let document = |bad_at: usize, broken_at: usize| {
            let flags: Vec<String> = (1..=300)
                .map(|id| match id {
                    _ if id == broken_at => "{\"ID\":".to_owned(),
                    _ if id == bad_at => flag(id, bad),
                    _ => flag(id, good),
                })
                .collect();
            format!(r#"{{"Flags":[{}]}}"#, flags.join(","))
        };
        let outcome = |text: &str| match compile_document(
            text.as_bytes(),
            FlagrVersion::V1_2,
            FlagSource::Upstream,
        ) {
            Ok(flags) => format!("{} flags", flags.len()),
            Err(DocumentError::Invalid(FlagError::Constraint { flag_id, .. })) => {
                format!("constraint in {flag_id}")
            }
            Err(DocumentError::Parse(_)) => "parse".to_owned(),
            Err(other) => format!("{other}"),
        };
        assert_eq!(outcome(&document(0, 0)), "300 flags");
        assert_eq!(outcome(&document(200, 0)), "constraint in 200");
        assert_eq!(outcome(&document(100, 250)), "constraint in 100");
        assert_eq!(outcome(&document(250, 100)), "parse");
        assert_eq!(outcome(&document(0, 299)), "parse");
    }

    /// The flag whose constraint refuses `text`, compiled from the export for 1.2.
    fn refused_at(text: &str) -> u64 {
        match compile_document(text.as_bytes(), FlagrVersion::V1_2, FlagSource::Upstream) {
            Err(DocumentError::Invalid(FlagError::Constraint { flag_id, .. })) => flag_id,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_document_the_direct_reader_gives_up_on_midway_is_read_again_by_serde() {
        // An escaped member name is left to serde; by flag 200 three batches were handed over.
        let flag = |id: usize, key_name: &str, operator: &str| {
            format!(
                r#"{{"ID":{id},"{key_name}":"k{id}","Segments":[{{"ID":{id},"Constraints":
                [{{"Property":"x","Operator":"{operator}","Value":"\"a\""}}]}}]}}"#
            )
        };
        let document = |escaped_at: usize, bad_at: usize| {
            let flags: Vec<String> = (1..=300)
                .map(|id| {
                    let key_name = if id == escaped_at { r"K\u0065y" } else { "Key" };
                    let operator = if id == bad_at { "LIKE" } else { "EQ" };
                    flag(id, key_name, operator)
                })
                .collect();
            format!(r#"{{"Flags":[{}]}}"#, flags.join(","))
        };

        let flags =
            compile(&document(200, 0), FlagrVersion::V1_2, FlagSource::Upstream).expect("compiles");
        let keys: Vec<&str> = flags.iter().map(|flag| flag.key.as_str()).collect();
        let expected: Vec<String> = (1..=300).map(|id| format!("k{id}")).collect();
        assert_eq!(keys, expected);

        assert_eq!(refused_at(&document(250, 100)), 100);
        assert_eq!(refused_at(&document(100, 250)), 250);
    }

    #[test]
    fn a_document_of_one_flag_per_line_is_read_in_two_halves_like_a_whole() {
        let flag = |id: usize, operator: &str| {
            format!(
                r#"{{"ID":{id},"Key":"k{id}","Segments":[{{"ID":{id},"Constraints":
                [{{"Property":"x","Operator":"{operator}","Value":"\"a\""}}]}}],
                "Variants":[{{"ID":{id},"Key":"v","Attachment":{{"n":{id}}}}}]}}"#
            )
            .replace('\n', "")
        };
        let document = |bad_at: &[usize], tail: &str| {
            let flags: Vec<String> = (1..=200)
                .map(|id| flag(id, if bad_at.contains(&id) { "LIKE" } else { "EQ" }))
                .collect();
            format!(r#"{{"Flags":[{}]{tail}}}"#, flags.join(",\n"))
        };

        let text = document(&[], "");
        let split = split_point(text.as_bytes()).expect("a line past the middle");
        assert!(compile_halves(text.as_bytes(), split, FlagrVersion::V1_2).is_some());
        let flags = compile(&text, FlagrVersion::V1_2, FlagSource::Upstream).expect("compiles");
        let ids: Vec<u64> = flags.iter().map(|flag| flag.id).collect();
        assert_eq!(ids, (1..=200).collect::<Vec<u64>>());
        assert!(compile(
            &document(&[], r#","Other":{"a":[1]}"#),
            FlagrVersion::V1_1,
            FlagSource::Upstream
        )
        .is_ok());

        // The first refusal in document order, whichever half meets it.
        assert_eq!(refused_at(&document(&[30, 170], "")), 30);
        assert_eq!(refused_at(&document(&[170], "")), 170);
        assert_eq!(refused_at(&document(&[190, 20], "")), 20);

        // A byte that is not UTF-8 in either half: read again whole, as bytes, and refused.
        for key in ["k20", "k170"] {
            let mut bytes = text.clone().into_bytes();
            let at = text.find(&format!("\"{key}\"")).expect("the key") + 2;
            bytes[at] = 0xE9;
            let error = compile_document(&bytes, FlagrVersion::V1_2, FlagSource::Upstream)
                .expect_err("refused");
            assert!(matches!(error, DocumentError::Parse(_)), "{error}");
        }

        // A second flag list after the split is refused, as a whole read refuses it.
        let twice = document(&[], r#","flags":[]"#);
        assert!(matches!(
            compile_document(twice.as_bytes(), FlagrVersion::V1_2, FlagSource::Upstream),
            Err(DocumentError::Parse(_))
        ));
    }

    #[test]
    fn a_line_that_does_not_start_a_flag_is_no_split() {
        // Pretty-printed: the line past the middle starts inside a flag.
        let pretty = r#"{"Flags": [
{"ID": 1, "Key": "a", "Segments": [
{"ID": 2, "RolloutPercent": 100},
{"ID": 3, "RolloutPercent": 100}
]}]}"#;
        let split = split_point(pretty.as_bytes());
        if let Some(split) = split {
            assert!(compile_halves(pretty.as_bytes(), split, FlagrVersion::V1_2).is_none());
        }
        let flags = compile(pretty, FlagrVersion::V1_2, FlagSource::Upstream).expect("compiles");
        assert_eq!(flags.len(), 1);
        assert_eq!(flags[0].segments.len(), 2);
        assert_eq!(split_point(br#"{"Flags":[]}"#), None);
    }

    #[test]
    fn a_file_reads_like_its_bytes() {
        let path = std::env::temp_dir().join(format!("vexilla-flag-test-{}", std::process::id()));
        std::fs::write(&path, crate::EMBEDDED_FLAGS).expect("written");
        for version in [FlagrVersion::V1_1, FlagrVersion::V1_2] {
            let from_file = compile_file(&path, version, FlagSource::File).expect("compiles");
            let from_bytes = compile_document(crate::EMBEDDED_FLAGS, version, FlagSource::File)
                .expect("compiles");
            assert!(!from_file.is_empty());
            assert_eq!(format!("{from_file:?}"), format!("{from_bytes:?}"));
        }
        let _ = std::fs::remove_file(&path);
        assert!(matches!(
            compile_file(&path, FlagrVersion::V1_2, FlagSource::File),
            Err(DocumentError::Io(_))
        ));
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
        assert_eq!(
            flags[0].bucket("entityID1"),
            crate::eval::bucket("5", "entityID1")
        );
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
        assert_eq!(flags[1].bucket("e"), crate::eval::bucket("5", "e"));
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
