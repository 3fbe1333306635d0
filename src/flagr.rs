//! Flagr's eval-cache export format (`{"Flags":[...]}`, Go field names in PascalCase), as served
//! by `GET /api/v1/export/eval_cache/json` and read by Flagr's `json_file` driver.
//!
//! This module only describes and parses the wire format; turning it into flags that can be
//! evaluated (validation, compiled constraints, bucket ranges) is `flag`'s job. Go matches field
//! names case-insensitively; these types accept the PascalCase Flagr writes plus the camelCase
//! and lowercase spellings people write by hand, and ignore unknown fields as Go does.

use std::fmt;

use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::json;

pub(crate) mod canonical;

/// The whole export document. It must be an object with a `Flags` member (any letter case;
/// `null` counts as no flags): a document of another shape is refused rather than read as
/// "no flags", which would silently drop every flag held.
#[derive(Debug, Clone, Default)]
pub struct Export {
    pub flags: Vec<ExportFlag>,
}

impl<'de> Deserialize<'de> for Export {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Export, D::Error> {
        deserializer.deserialize_map(ExportVisitor)
    }
}

struct ExportVisitor;

impl<'de> Visitor<'de> for ExportVisitor {
    type Value = Export;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a flags document: an object {\"Flags\": [...]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Export, A::Error> {
        let mut flags = None;
        while let Some(key) = map.next_key::<String>()? {
            if key.eq_ignore_ascii_case("flags") {
                if flags.is_some() {
                    return Err(A::Error::duplicate_field("Flags"));
                }
                flags = Some(
                    map.next_value::<Option<Vec<ExportFlag>>>()?
                        .unwrap_or_default(),
                );
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        let flags = flags.ok_or_else(|| A::Error::missing_field("Flags"))?;
        Ok(Export { flags })
    }
}

/// One flag as Flagr's evaluation cache holds it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ExportFlag {
    #[serde(rename = "ID", alias = "id", alias = "Id")]
    pub id: u64,
    #[serde(rename = "Key", alias = "key")]
    pub key: String,
    #[serde(rename = "Enabled", alias = "enabled")]
    pub enabled: bool,
    #[serde(
        rename = "Segments",
        alias = "segments",
        deserialize_with = "null_as_default"
    )]
    pub segments: Vec<ExportSegment>,
    #[serde(
        rename = "Variants",
        alias = "variants",
        deserialize_with = "null_as_default"
    )]
    pub variants: Vec<ExportVariant>,
    #[serde(rename = "Tags", alias = "tags", deserialize_with = "null_as_default")]
    pub tags: Vec<ExportTag>,
    #[serde(rename = "SnapshotID", alias = "snapshotID", alias = "snapshotId")]
    pub snapshot_id: u64,
    #[serde(rename = "DataRecordsEnabled", alias = "dataRecordsEnabled")]
    pub data_records_enabled: bool,
    #[serde(rename = "EntityType", alias = "entityType")]
    pub entity_type: String,
}

/// A segment: constraints that select entities, then a rollout over distributions.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ExportSegment {
    #[serde(rename = "ID", alias = "id", alias = "Id")]
    pub id: u64,
    #[serde(rename = "FlagID", alias = "flagID", alias = "flagId")]
    pub flag_id: u64,
    #[serde(rename = "Rank", alias = "rank")]
    pub rank: u64,
    #[serde(rename = "RolloutPercent", alias = "rolloutPercent")]
    pub rollout_percent: u64,
    #[serde(
        rename = "Constraints",
        alias = "constraints",
        deserialize_with = "null_as_default"
    )]
    pub constraints: Vec<ExportConstraint>,
    #[serde(
        rename = "Distributions",
        alias = "distributions",
        deserialize_with = "null_as_default"
    )]
    pub distributions: Vec<ExportDistribution>,
}

/// One constraint; `value` is raw expression text, not JSON.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ExportConstraint {
    #[serde(rename = "ID", alias = "id", alias = "Id")]
    pub id: u64,
    #[serde(rename = "Property", alias = "property")]
    pub property: String,
    #[serde(rename = "Operator", alias = "operator")]
    pub operator: String,
    #[serde(rename = "Value", alias = "value")]
    pub value: String,
}

/// A share of a segment's buckets given to one variant.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ExportDistribution {
    #[serde(rename = "ID", alias = "id", alias = "Id")]
    pub id: u64,
    #[serde(rename = "VariantID", alias = "variantID", alias = "variantId")]
    pub variant_id: u64,
    #[serde(rename = "VariantKey", alias = "variantKey")]
    pub variant_key: String,
    #[serde(rename = "Percent", alias = "percent")]
    pub percent: u64,
}

/// A variant and its attachment (any JSON object, or null).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ExportVariant {
    #[serde(rename = "ID", alias = "id", alias = "Id")]
    pub id: u64,
    #[serde(rename = "Key", alias = "key")]
    pub key: String,
    #[serde(rename = "Attachment", alias = "attachment")]
    pub attachment: Option<Attachment>,
}

/// A variant's attachment, kept as the JSON text Flagr answers with: Flagr decodes it into a
/// Go map without `UseNumber`, so every number becomes a float64 written back in Go's float
/// format (`1.0` as `1`, big integers rounded), keys come out sorted and a repeated key keeps
/// its last value. Written once here, answers copy the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment(Box<str>);

impl Attachment {
    /// The attachment as JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Attachment {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Attachment, D::Error> {
        // Only an object is an attachment; the value tree lives just long enough to be written.
        let value = deserializer.deserialize_map(GoValueVisitor)?;
        let mut out = Vec::new();
        json::write_value(&mut out, &value);
        let text = std::str::from_utf8(&out).map_err(D::Error::custom)?;
        // An exact-size copy: shrinking the working buffer in place can keep a larger block.
        Ok(Attachment(Box::from(text)))
    }
}

/// Reads any JSON value the way Go's decoder fills an `interface{}`: numbers as float64.
struct GoValueVisitor;

impl<'de> Visitor<'de> for GoValueVisitor {
    type Value = json::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_unit<E>(self) -> Result<json::Value, E> {
        Ok(json::Value::Null)
    }

    fn visit_bool<E>(self, value: bool) -> Result<json::Value, E> {
        Ok(json::Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<json::Value, E> {
        Ok(json::Value::Number(json::Number::from_i64(value)))
    }

    fn visit_u64<E>(self, value: u64) -> Result<json::Value, E> {
        Ok(json::Value::Number(json::Number::from_u64(value)))
    }

    fn visit_f64<E>(self, value: f64) -> Result<json::Value, E> {
        Ok(json::Value::Number(json::Number::from_f64(value)))
    }

    fn visit_str<E>(self, value: &str) -> Result<json::Value, E> {
        Ok(json::Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<json::Value, E> {
        Ok(json::Value::String(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<json::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(GoValueSeed)? {
            items.push(item);
        }
        Ok(json::Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<json::Value, A::Error> {
        let mut members = json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(GoValueSeed)?;
            members.insert(key, value);
        }
        Ok(json::Value::Object(members))
    }
}

/// A nested value of any type, read with [`GoValueVisitor`].
struct GoValueSeed;

impl<'de> DeserializeSeed<'de> for GoValueSeed {
    type Value = json::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<json::Value, D::Error> {
        deserializer.deserialize_any(GoValueVisitor)
    }
}

/// A tag on a flag.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ExportTag {
    #[serde(rename = "ID", alias = "id", alias = "Id")]
    pub id: u64,
    #[serde(rename = "Value", alias = "value")]
    pub value: String,
}

/// Parses an export document.
pub fn parse_export(bytes: &[u8]) -> Result<Export, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// Reads an export document flag by flag, handing each to `each` as soon as it is parsed, so
/// the whole document is never held as parsed flags. A second `Flags` member is refused.
///
/// Parsing stops at the first error of `each`, which is returned as `Err(Ok(error))`; a
/// document that is not valid JSON of the export format is `Err(Err(parse error))`.
pub fn read_export<'de, E>(
    text: impl serde_json::de::Read<'de>,
    mut each: impl FnMut(ExportFlag) -> Result<(), E>,
) -> Result<(), Result<E, serde_json::Error>> {
    let mut failure = None;
    let mut forward = |item| {
        each(item).map_err(|error| {
            failure = Some(error);
        })
    };
    let mut deserializer = serde_json::Deserializer::new(text);
    let parsed = DocumentSeed { each: &mut forward }
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    match (parsed, failure) {
        (_, Some(error)) => Err(Ok(error)),
        (Err(error), None) => Err(Err(error)),
        (Ok(()), None) => Ok(()),
    }
}

/// The document, read like [`ExportVisitor`] but handing flags over one by one.
struct DocumentSeed<'a> {
    each: &'a mut dyn FnMut(ExportFlag) -> Result<(), ()>,
}

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        ExportVisitor.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = false;
        while let Some(key) = map.next_key::<String>()? {
            if key.eq_ignore_ascii_case("flags") {
                if seen {
                    return Err(A::Error::duplicate_field("Flags"));
                }
                seen = true;
                map.next_value_seed(FlagListSeed {
                    each: &mut *self.each,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if !seen {
            return Err(A::Error::missing_field("Flags"));
        }
        Ok(())
    }
}

/// The `Flags` array (or `null`), each element handed over as it is read.
struct FlagListSeed<'a> {
    each: &'a mut dyn FnMut(ExportFlag) -> Result<(), ()>,
}

impl<'de> DeserializeSeed<'de> for FlagListSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for FlagListSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of flags")
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(flag) = seq.next_element::<ExportFlag>()? {
            if (self.each)(flag).is_err() {
                return Err(A::Error::custom("flag refused"));
            }
        }
        Ok(())
    }
}

/// Go leaves a slice nil for `null`; treat it as empty rather than refusing the document.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flagr_pascal_case_and_null_lists() {
        let text = br#"{"Flags":[{"ID":7,"Key":"k","Enabled":true,"SnapshotID":3,
            "Segments":[{"ID":1,"FlagID":7,"RolloutPercent":50,"Constraints":null,
              "Distributions":[{"ID":2,"VariantID":9,"VariantKey":"on","Percent":100}]}],
            "Variants":[{"ID":9,"Key":"on","Attachment":null}],"Tags":null,"Extra":1}]}"#;
        let export = parse_export(text).expect("valid export");
        let flag = &export.flags[0];
        assert_eq!((flag.id, flag.key.as_str(), flag.snapshot_id), (7, "k", 3));
        assert_eq!(flag.segments[0].rollout_percent, 50);
        assert!(flag.segments[0].constraints.is_empty());
        assert_eq!(flag.segments[0].distributions[0].variant_id, 9);
        assert!(flag.variants[0].attachment.is_none());
        assert!(flag.tags.is_empty());
    }

    #[test]
    fn accepts_camel_case_written_by_hand() {
        let text = br#"{"flags":[{"id":1,"key":"a","enabled":true,"segments":[],
            "variants":[{"id":2,"key":"on","attachment":{"x":1}}],"tags":[{"id":1,"value":"t"}]}]}"#;
        let export = parse_export(text).expect("valid export");
        assert_eq!(export.flags[0].variants[0].key, "on");
        let attachment = export.flags[0].variants[0].attachment.as_ref();
        assert_eq!(attachment.map(Attachment::as_str), Some(r#"{"x":1}"#));
        assert_eq!(export.flags[0].tags[0].value, "t");
    }

    #[test]
    fn attachments_are_written_as_go_writes_a_decoded_map() {
        let text = br#"{"Flags":[{"Variants":[{"Attachment":
            {"z":[1.50,{"y":null,"x":true}],"a":"<&>\u00e9","n":1e21,"a":"last"}}]}]}"#;
        let export = parse_export(text).expect("valid export");
        let attachment = export.flags[0].variants[0].attachment.as_ref();
        assert_eq!(
            attachment.map(Attachment::as_str),
            Some(r#"{"a":"last","n":1e+21,"z":[1.5,{"x":true,"y":null}]}"#)
        );
    }

    #[test]
    fn attachment_floats_are_read_correctly_rounded_as_go_reads_them() {
        // serde_json's default float parser can be one unit off in the last place here; Go's
        // ParseFloat, and so Flagr, rounds correctly, and a saved snapshot must read back the same.
        for number in [
            "2.5309047456883032e-278",
            "0.1",
            "1.7976931348623157e308",
            "5e-324",
        ] {
            let text =
                format!(r#"{{"Flags":[{{"Variants":[{{"Attachment":{{"x":{number}}}}}]}}]}}"#);
            let export = parse_export(text.as_bytes()).expect("valid export");
            let attachment = export.flags[0].variants[0].attachment.as_ref();
            let expected = format!(
                r#"{{"x":{}}}"#,
                json::format_float(number.parse().expect("a float"))
            );
            assert_eq!(attachment.map(Attachment::as_str), Some(expected.as_str()));
        }
        let written = json::format_float("2.5309047456883032e-278".parse().expect("a float"));
        assert_eq!(written, "2.5309047456883032e-278");
    }

    #[test]
    fn refuses_wrong_types_and_shapes() {
        let refused = |text: &str| parse_export(text.as_bytes()).err().map(|e| e.to_string());
        assert!(refused(r#"{"Flags":[{"ID":"1"}]}"#).is_some());
        assert!(refused(r#"{"Flags":{}}"#).is_some());
        assert!(refused("{\"Flags\":[").is_some());
        let missing = refused(r#"{"Flagz":[]}"#);
        assert!(
            missing
                .as_deref()
                .is_some_and(|e| e.contains("missing field `Flags`")),
            "{missing:?}"
        );
        assert!(refused("[]").is_some_and(|e| e.contains(r#"{"Flags": [...]}"#)));
        assert!(refused(r#"[{"ID":1}]"#).is_some());
        assert!(refused(r#"{"Flags":[{"Variants":[{"Attachment":[1]}]}]}"#).is_some());
        assert!(refused(r#"{"Flags":[{"Variants":[{"Attachment":"x"}]}]}"#).is_some());
        assert_eq!(
            parse_export(br#"{"flags":null,"other":1}"#)
                .expect("valid")
                .flags
                .len(),
            0
        );
    }
}
