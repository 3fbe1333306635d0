//! Evaluation requests decoded from JSON the way Flagr's Go server decodes them: field names
//! matched case-insensitively, `null` leaving a field at its zero value, Go's type-error texts,
//! then the swagger validation with its error codes.
//!
//! Parsing the bytes is `json`'s job; choosing HTTP statuses is `api`'s.

use std::sync::Arc;

use crate::eval::EvalContext;
use crate::json::{Document, Number, Value};
use crate::store::TagOperator;

/// Why a request body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// Go's `json: cannot unmarshal ...` (HTTP 400 on POST).
    Type(String),
    /// A swagger validation failure: go-openapi's code (HTTP 422 on POST) and message.
    Invalid { code: u16, message: String },
}

/// A batch request (`evaluationBatchRequest`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchRequest {
    pub enable_debug: bool,
    /// `None` for an entity given as `null`.
    pub entities: Vec<Option<Entity>>,
    pub flag_ids: Option<Vec<i64>>,
    pub flag_keys: Option<Vec<String>>,
    pub flag_tags: Option<Vec<String>>,
    pub flag_tags_operator: Option<String>,
}

/// One entity of a batch request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entity {
    pub entity_context: Option<Arc<Value>>,
    pub entity_id: String,
    pub entity_type: String,
}

impl BatchRequest {
    /// How `flagTags` combine; Flagr's default is ANY.
    pub fn tag_operator(&self) -> TagOperator {
        match self.flag_tags_operator.as_deref() {
            Some("ALL") => TagOperator::All,
            _ => TagOperator::Any,
        }
    }
}

/// The JSON names of `evalContext`'s fields.
const EVAL_CONTEXT_FIELDS: [&str; 8] = [
    "enableDebug",
    "entityContext",
    "entityID",
    "entityType",
    "flagID",
    "flagKey",
    "flagTags",
    "flagTagsOperator",
];

/// The JSON names of `evaluationBatchRequest`'s fields.
const BATCH_FIELDS: [&str; 6] = [
    "enableDebug",
    "entities",
    "flagIDs",
    "flagKeys",
    "flagTags",
    "flagTagsOperator",
];

/// The JSON names of `evaluationEntity`'s fields.
const ENTITY_FIELDS: [&str; 3] = ["entityContext", "entityID", "entityType"];

/// Decodes and validates a single evaluation's `evalContext`.
pub fn decode_eval_context(document: Document) -> Result<EvalContext, RequestError> {
    let members = match document {
        Document::Object(members) => members,
        Document::Other(Value::Null) => return Ok(EvalContext::default()),
        Document::Other(other) => {
            return Err(RequestError::Type(top_level_error(
                &other,
                "models.EvalContext",
            )))
        }
    };

    let mut errors = TypeErrors::new("EvalContext");
    let mut context = EvalContext::default();
    let mut flag_id: i64 = 0;
    for (key, value) in members {
        match struct_field(&key, &EVAL_CONTEXT_FIELDS) {
            Some(name @ "enableDebug") => errors.bool(&value, name, &mut context.enable_debug),
            // Taken over, not copied: the request owns its context.
            Some("entityContext") => {
                context.entity_context = (!matches!(value, Value::Null)).then(|| Arc::new(value))
            }
            Some(name @ "entityID") => errors.string(&value, name, &mut context.entity_id),
            Some(name @ "entityType") => errors.string(&value, name, &mut context.entity_type),
            Some(name @ "flagID") => errors.int64(&value, name, &mut flag_id),
            Some(name @ "flagKey") => errors.string(&value, name, &mut context.flag_key),
            Some(name @ "flagTags") => {
                let mut tags = Some(std::mem::take(&mut context.flag_tags));
                errors.strings(&value, name, &mut tags);
                context.flag_tags = tags.unwrap_or_default();
            }
            Some(name @ "flagTagsOperator") => {
                errors.string(&value, name, &mut context.flag_tags_operator)
            }
            _ => {}
        }
    }
    errors.finish()?;

    if flag_id < 0 {
        return Err(minimum_error("flagID"));
    }
    context.flag_id = flag_id.unsigned_abs();
    check_operator(&context.flag_tags_operator)?;
    Ok(context)
}

/// Decodes and validates an `evaluationBatchRequest`.
pub fn decode_batch(document: &Document) -> Result<BatchRequest, RequestError> {
    let members = match document {
        Document::Object(members) => members.as_slice(),
        Document::Other(Value::Null) => &[],
        Document::Other(other) => {
            let message = top_level_error(other, "models.EvaluationBatchRequest");
            return Err(RequestError::Type(message));
        }
    };

    let mut errors = TypeErrors::new("EvaluationBatchRequest");
    let mut request = BatchRequest::default();
    let mut entities: Option<Vec<Option<Entity>>> = None;
    for (key, value) in members {
        match struct_field(key, &BATCH_FIELDS) {
            Some(name @ "enableDebug") => errors.bool(value, name, &mut request.enable_debug),
            Some(name @ "entities") => match value {
                Value::Null => entities = None,
                Value::Array(items) => {
                    entities = Some(
                        items
                            .iter()
                            .map(|item| decode_entity(item, &mut errors))
                            .collect(),
                    );
                }
                other => errors.add(other, name, "[]*models.EvaluationEntity"),
            },
            Some(name @ "flagIDs") => errors.int64s(value, name, &mut request.flag_ids),
            Some(name @ "flagKeys") => errors.strings(value, name, &mut request.flag_keys),
            Some(name @ "flagTags") => errors.strings(value, name, &mut request.flag_tags),
            Some(name @ "flagTagsOperator") => match value {
                Value::Null => {}
                _ => {
                    let mut operator = request.flag_tags_operator.take().unwrap_or_default();
                    errors.string(value, name, &mut operator);
                    request.flag_tags_operator = Some(operator);
                }
            },
            _ => {}
        }
    }
    errors.finish()?;

    let Some(entities) = entities else {
        return Err(RequestError::Invalid {
            code: 602,
            message: "entities in body is required".into(),
        });
    };
    request.entities = entities;
    if request.entities.is_empty() {
        return Err(min_items_error("entities"));
    }
    if let Some(ids) = &request.flag_ids {
        if ids.is_empty() {
            return Err(min_items_error("flagIDs"));
        }
        if let Some(index) = ids.iter().position(|id| *id < 1) {
            return Err(minimum_error(&format!("flagIDs.{index}")));
        }
    }
    for (name, list) in [
        ("flagKeys", &request.flag_keys),
        ("flagTags", &request.flag_tags),
    ] {
        if let Some(list) = list {
            if list.is_empty() {
                return Err(min_items_error(name));
            }
            if let Some(index) = list.iter().position(String::is_empty) {
                return Err(RequestError::Invalid {
                    code: 604,
                    message: format!("{name}.{index} in body should be at least 1 chars long"),
                });
            }
        }
    }
    if let Some(operator) = &request.flag_tags_operator {
        check_operator(operator)?;
    }
    Ok(request)
}

fn decode_entity(value: &Value, errors: &mut TypeErrors) -> Option<Entity> {
    let map = match value {
        Value::Null => return None,
        Value::Object(map) => map,
        other => {
            errors.add(other, "entities", "models.EvaluationEntity");
            return Some(Entity::default());
        }
    };
    let mut entity = Entity::default();
    let mut errors = errors.nested("EvaluationEntity", "entities");
    for (key, value) in map {
        match struct_field(key, &ENTITY_FIELDS) {
            Some("entityContext") => entity.entity_context = non_null(value),
            Some(name @ "entityID") => errors.string(value, name, &mut entity.entity_id),
            Some(name @ "entityType") => errors.string(value, name, &mut entity.entity_type),
            _ => {}
        }
    }
    Some(entity)
}

/// An `interface{}` field: `null` leaves it nil.
fn non_null(value: &Value) -> Option<Arc<Value>> {
    (!matches!(value, Value::Null)).then(|| Arc::new(value.clone()))
}

/// The struct field a JSON key sets, as Go's decoder picks it: the field of exactly that name,
/// else one whose name folds to the same letters.
fn struct_field(key: &str, fields: &[&'static str]) -> Option<&'static str> {
    if let Some(field) = fields.iter().find(|field| **field == key) {
        return Some(field);
    }
    let folded = go_fold(key);
    fields
        .iter()
        .find(|field| go_fold(field) == folded)
        .copied()
}

/// Go's case folding of field names: ASCII lowercased, other letters mapped to the lower case
/// of their upper case (so the Kelvin sign matches `k` and the long s matches `s`).
fn go_fold(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_ascii_lowercase()
            } else {
                let upper = single(c.to_uppercase()).unwrap_or(c);
                single(upper.to_lowercase()).unwrap_or(upper)
            }
        })
        .collect()
}

/// The only char of a case mapping, when it maps to exactly one.
fn single(mut mapping: impl Iterator<Item = char>) -> Option<char> {
    let first = mapping.next()?;
    mapping.next().is_none().then_some(first)
}

/// Go decodes numbers that `json.Unmarshal` (without `UseNumber`) reads as float64: the GET
/// forms of evaluation re-encode context numbers in Go's float format.
pub fn numbers_as_float64(value: &mut Value) {
    match value {
        Value::Number(number) => *number = Number::from_f64(number.as_f64()),
        Value::Array(items) => items.iter_mut().for_each(numbers_as_float64),
        Value::Object(map) => map.values_mut().for_each(numbers_as_float64),
        _ => {}
    }
}

fn check_operator(operator: &str) -> Result<(), RequestError> {
    match operator {
        "" | "ANY" | "ALL" => Ok(()),
        _ => Err(RequestError::Invalid {
            code: 606,
            message: "flagTagsOperator in body should be one of [ANY ALL]".into(),
        }),
    }
}

fn minimum_error(name: &str) -> RequestError {
    RequestError::Invalid {
        code: 609,
        message: format!("{name} in body should be greater than or equal to 1"),
    }
}

fn min_items_error(name: &str) -> RequestError {
    RequestError::Invalid {
        code: 612,
        message: format!("{name} in body should have at least 1 items"),
    }
}

fn top_level_error(value: &Value, type_name: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go value of type {type_name}",
        kind(value)
    )
}

/// Go's name for a JSON value's kind in type errors.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Collects Go's first type error; decoding goes on past it, as Go's does. A JSON `null`
/// leaves a scalar as it was and makes a list nil, as in Go.
struct TypeErrors {
    first: Option<String>,
    /// The Go struct being decoded, named in the message.
    place: &'static str,
    /// The path of fields leading to that struct (`entities` for a batch entity).
    prefix: &'static str,
}

impl TypeErrors {
    fn new(place: &'static str) -> TypeErrors {
        TypeErrors {
            first: None,
            place,
            prefix: "",
        }
    }

    /// The errors of a struct nested under `prefix`, recorded into `self`.
    fn nested(&mut self, place: &'static str, prefix: &'static str) -> NestedErrors<'_> {
        NestedErrors {
            outer: self,
            inner_place: place,
            inner_prefix: prefix,
        }
    }

    fn add(&mut self, value: &Value, field: &str, type_name: &str) {
        self.add_kind(kind(value), field, type_name);
    }

    fn add_kind(&mut self, what: &str, field: &str, type_name: &str) {
        if self.first.is_none() {
            let separator = if self.prefix.is_empty() { "" } else { "." };
            self.first = Some(format!(
                "json: cannot unmarshal {what} into Go struct field {}.{}{separator}{field} of type {type_name}",
                self.place, self.prefix
            ));
        }
    }

    fn finish(self) -> Result<(), RequestError> {
        self.first
            .map_or(Ok(()), |message| Err(RequestError::Type(message)))
    }

    fn bool(&mut self, value: &Value, field: &str, target: &mut bool) {
        match value {
            Value::Bool(flag) => *target = *flag,
            Value::Null => {}
            other => self.add(other, field, "bool"),
        }
    }

    fn string(&mut self, value: &Value, field: &str, target: &mut String) {
        match value {
            Value::String(text) => target.clone_from(text),
            Value::Null => {}
            other => self.add(other, field, "string"),
        }
    }

    fn int64(&mut self, value: &Value, field: &str, target: &mut i64) {
        match value {
            Value::Number(number) => match number.as_str().parse::<i64>() {
                Ok(parsed) => *target = parsed,
                Err(_) => {
                    let what = format!("number {}", number.as_str());
                    self.add_kind(&what, field, "int64");
                }
            },
            Value::Null => {}
            other => self.add(other, field, "int64"),
        }
    }

    fn strings(&mut self, value: &Value, field: &str, target: &mut Option<Vec<String>>) {
        match value {
            Value::Null => *target = None,
            Value::Array(items) => {
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    let mut text = String::new();
                    self.string(item, field, &mut text);
                    list.push(text);
                }
                *target = Some(list);
            }
            other => self.add(other, field, "[]string"),
        }
    }

    fn int64s(&mut self, value: &Value, field: &str, target: &mut Option<Vec<i64>>) {
        match value {
            Value::Null => *target = None,
            Value::Array(items) => {
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    let mut number = 0;
                    self.int64(item, field, &mut number);
                    list.push(number);
                }
                *target = Some(list);
            }
            other => self.add(other, field, "[]int64"),
        }
    }
}

/// Type errors inside a nested struct, named as Go names them: the inner struct's type and
/// the full field path (`EvaluationEntity.entities.entityID`).
struct NestedErrors<'o> {
    outer: &'o mut TypeErrors,
    inner_place: &'static str,
    inner_prefix: &'static str,
}

impl NestedErrors<'_> {
    fn with<T>(&mut self, work: impl FnOnce(&mut TypeErrors) -> T) -> T {
        let mut inner = TypeErrors {
            first: self.outer.first.take(),
            place: self.inner_place,
            prefix: self.inner_prefix,
        };
        let result = work(&mut inner);
        self.outer.first = inner.first;
        result
    }

    fn string(&mut self, value: &Value, field: &str, target: &mut String) {
        self.with(|errors| errors.string(value, field, target));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse_members;

    fn context(body: &str) -> Result<EvalContext, RequestError> {
        decode_eval_context(parse_members(body.as_bytes()).expect("valid JSON"))
    }

    fn batch(body: &str) -> Result<BatchRequest, RequestError> {
        decode_batch(&parse_members(body.as_bytes()).expect("valid JSON"))
    }

    fn type_error(message: &str) -> RequestError {
        RequestError::Type(message.to_string())
    }

    #[test]
    fn fields_match_case_insensitively_and_the_last_spelling_wins() {
        let decoded = context(r#"{"FLAGID":3,"flagid":4,"EntityID":"e","ENTITYCONTEXT":{"a":1}}"#)
            .expect("valid");
        assert_eq!(decoded.flag_id, 4);
        assert_eq!(decoded.entity_id, "e");
        assert!(decoded.entity_context.is_some());
        let decoded = context(r#"{"flagID":1,"flagID":3}"#).expect("valid");
        assert_eq!(decoded.flag_id, 3);
        // The Kelvin sign folds to k, as in Go.
        let decoded = context("{\"flag\u{212a}ey\":\"x\"}").expect("valid");
        assert_eq!(decoded.flag_key, "x");
    }

    #[test]
    fn null_keeps_scalars_and_clears_lists() {
        let decoded =
            context(r#"{"entityID":"e","entityID":null,"flagTags":["a"],"flagTags":null}"#)
                .expect("valid");
        assert_eq!(decoded.entity_id, "e");
        assert!(decoded.flag_tags.is_empty());
        assert_eq!(context("null").expect("valid"), EvalContext::default());
    }

    #[test]
    fn the_first_type_error_in_the_document_is_reported() {
        let check = |body: &str, message: &str| {
            assert_eq!(context(body), Err(type_error(message)), "{body}")
        };
        check(
            r#"{"flagID":"1","entityID":5}"#,
            "json: cannot unmarshal string into Go struct field EvalContext.flagID of type int64",
        );
        check(
            r#"{"entityID":5,"flagID":"1"}"#,
            "json: cannot unmarshal number into Go struct field EvalContext.entityID of type string",
        );
        check(
            r#"{"flagID":1.0}"#,
            "json: cannot unmarshal number 1.0 into Go struct field EvalContext.flagID of type int64",
        );
        check(
            r#"{"flagTags":"a"}"#,
            "json: cannot unmarshal string into Go struct field EvalContext.flagTags of type []string",
        );
        check(
            r#"[]"#,
            "json: cannot unmarshal array into Go value of type models.EvalContext",
        );
    }

    #[test]
    fn validation_codes() {
        let invalid = |code: u16, message: &str| RequestError::Invalid {
            code,
            message: message.to_string(),
        };
        assert_eq!(
            context(r#"{"flagID":-1}"#),
            Err(invalid(
                609,
                "flagID in body should be greater than or equal to 1"
            ))
        );
        assert_eq!(
            context(r#"{"flagTagsOperator":"any"}"#),
            Err(invalid(
                606,
                "flagTagsOperator in body should be one of [ANY ALL]"
            ))
        );
        assert_eq!(
            batch(r#"{}"#),
            Err(invalid(602, "entities in body is required"))
        );
        assert_eq!(
            batch(r#"{"entities":[]}"#),
            Err(invalid(
                612,
                "entities in body should have at least 1 items"
            ))
        );
        assert_eq!(
            batch(r#"{"entities":[{}],"flagIDs":[1,0]}"#),
            Err(invalid(
                609,
                "flagIDs.1 in body should be greater than or equal to 1"
            ))
        );
        assert_eq!(
            batch(r#"{"entities":[{}],"flagKeys":["a",""]}"#),
            Err(invalid(
                604,
                "flagKeys.1 in body should be at least 1 chars long"
            ))
        );
    }

    #[test]
    fn batch_entities_and_their_errors() {
        let decoded = batch(r#"{"entities":[{"entityID":"a","entityContext":{"x":1}},null],"flagIDs":[2],"flagTagsOperator":"ALL"}"#)
            .expect("valid");
        assert_eq!(decoded.entities.len(), 2);
        assert_eq!(
            decoded.entities[0].as_ref().map(|e| e.entity_id.as_str()),
            Some("a")
        );
        assert!(decoded.entities[1].is_none());
        assert_eq!(decoded.tag_operator(), TagOperator::All);
        assert_eq!(
            batch(r#"{"entities":[{"entityID":1}]}"#),
            Err(type_error("json: cannot unmarshal number into Go struct field EvaluationEntity.entities.entityID of type string"))
        );
        assert_eq!(
            batch(r#"{"entities":["x"]}"#),
            Err(type_error("json: cannot unmarshal string into Go struct field EvaluationBatchRequest.entities of type models.EvaluationEntity"))
        );
        assert_eq!(
            batch(r#"{"entities":[{}],"flagIDs":["1"]}"#),
            Err(type_error("json: cannot unmarshal string into Go struct field EvaluationBatchRequest.flagIDs of type int64"))
        );
    }
}
