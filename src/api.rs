//! The evaluation API as Flagr serves it: `POST /api/v1/evaluation[/batch]` (and the `GET
//! ?json=` forms of Flagr 1.2.3), `GET /api/v1/health`, Flagr's statuses and error bodies for
//! bad requests, and the pass-through of every other request to the upstream Flagr.
//!
//! Evaluation itself is `eval`'s, decoding is `request`'s, the JSON written is `response`'s;
//! this module routes, reads bodies within limits, and picks statuses in one place.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use tracing::debug;

use crate::compat::Compat;
use crate::cors;
use crate::eval::{self, Crash, EvalContext, EvalOptions, EvalResult};
use crate::flag::{Flag, FlagrVersion};
use crate::http::{self, ProxyBody};
use crate::json::{self, Document};
use crate::request::{self, BatchRequest, RequestError};
use crate::response;
use crate::store::FlagStore;
use crate::telemetry::Telemetry;
use crate::upstream::Upstream;

/// Limits on what clients may send.
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    /// The largest request body read, in bytes (413 past it).
    pub max_body_bytes: usize,
    /// Flagr's `FLAGR_EVAL_BATCH_SIZE`: entities × selectors per batch; 0 means no limit.
    pub max_batch_size: usize,
    /// Flagr's `FLAGR_EVAL_GET_MAX_URL_BYTES` for the GET forms; 0 means no limit.
    pub max_get_query_bytes: usize,
    /// Time a client gets to send its body (408 past it).
    pub body_read_timeout: Duration,
    /// Most evaluations one batch may ask for (entities × flags), whatever Flagr's own limit.
    pub max_batch_evaluations: usize,
    /// Largest answer built, in bytes.
    pub max_response_bytes: usize,
}

impl Default for ApiLimits {
    fn default() -> ApiLimits {
        ApiLimits {
            max_body_bytes: 1024 * 1024,
            max_batch_size: 0,
            max_get_query_bytes: 8192,
            body_read_timeout: Duration::from_secs(10),
            max_batch_evaluations: 100_000,
            max_response_bytes: 32 * 1024 * 1024,
        }
    }
}

/// What the API needs to answer.
pub struct Api {
    pub store: Arc<FlagStore>,
    pub compat: Arc<Compat>,
    pub upstream: Option<Upstream>,
    pub limits: ApiLimits,
    /// Flagr's `FLAGR_EVAL_DEBUG_ENABLED`.
    pub debug_enabled: bool,
    pub telemetry: Arc<Telemetry>,
}

/// A local answer: status and JSON body.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

impl Answer {
    fn json(status: StatusCode, mut body: Vec<u8>) -> Answer {
        // Go's JSON encoder ends every document with a newline.
        body.push(b'\n');
        Answer { status, body }
    }

    /// go-openapi's framework error: `{"code":N,"message":"..."}`.
    fn framework(status: StatusCode, code: u16, message: &str) -> Answer {
        let mut body = format!("{{\"code\":{code},\"message\":").into_bytes();
        json::write_string(&mut body, message);
        body.push(b'}');
        Answer::json(status, body)
    }

    /// A handler error: `{"message":"..."}`.
    fn message(status: StatusCode, message: &str) -> Answer {
        let mut body = b"{\"message\":".to_vec();
        json::write_string(&mut body, message);
        body.push(b'}');
        Answer::json(status, body)
    }
}

/// Why a request got no evaluation.
enum Refusal {
    Answer(Answer),
    Crash(Crash),
}

impl From<Answer> for Refusal {
    fn from(answer: Answer) -> Refusal {
        Refusal::Answer(answer)
    }
}

impl From<Crash> for Refusal {
    fn from(crash: Crash) -> Refusal {
        Refusal::Crash(crash)
    }
}

/// Which of Flagr's request decodings a body goes through.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// POST: go-openapi binding, 400 with a code for JSON errors, 422 for schema errors.
    Post,
    /// GET `?json=`: the handler's own decoding, 400 with a message for both.
    Get,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Evaluation,
    Batch,
    Health,
}

impl Api {
    /// Answers one request.
    pub async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
    ) -> Result<Response<ProxyBody>, Infallible> {
        let path = request.uri().path();
        let route = match path.strip_suffix('/').unwrap_or(path) {
            "/api/v1/evaluation" => Some(Route::Evaluation),
            "/api/v1/evaluation/batch" => Some(Route::Batch),
            "/api/v1/health" => Some(Route::Health),
            _ => None,
        };
        let started = Instant::now();
        let Some(route) = route else {
            let response = self.pass_through(request).await;
            let status = response.status().as_u16();
            self.telemetry.request(3, status);
            let elapsed_us = started.elapsed().as_micros() as u64;
            debug!(
                route = "passthrough",
                status, elapsed_us, "request answered"
            );
            return Ok(response);
        };

        if let Some((status, headers)) = cors::preflight(request.method(), request.headers()) {
            let mut response = Response::new(http::full_body(Bytes::new()));
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            return Ok(response);
        }
        let cross_origin = cors::is_cross_origin(request.headers());

        let version = self.compat.version();
        let method = request.method().clone();
        let answer = match (route, &method) {
            (Route::Health, &Method::GET) => {
                Answer::json(StatusCode::OK, b"{\"status\":\"OK\"}".to_vec())
            }
            (Route::Health, _) => method_not_allowed(&method, "[GET]"),
            (_, &Method::POST) => self.post(route, request).await,
            (_, &Method::GET) if version == FlagrVersion::V1_2 => self.get(route, &request).await,
            (_, _) if version == FlagrVersion::V1_2 => method_not_allowed(&method, "[GET POST]"),
            (_, _) => method_not_allowed(&method, "[POST]"),
        };
        let mut response = local(answer);
        cors::decorate(cross_origin, &method, response.headers_mut());
        let (route_index, route_name) = match route {
            Route::Evaluation => (0, "evaluation"),
            Route::Batch => (1, "evaluation_batch"),
            Route::Health => (2, "health"),
        };
        let status = response.status().as_u16();
        let elapsed = started.elapsed();
        self.telemetry.request(route_index, status);
        self.telemetry.evaluation_latency(route_index, elapsed);
        debug!(
            route = route_name,
            status,
            elapsed_us = elapsed.as_micros() as u64,
            "request answered"
        );
        Ok(response)
    }

    async fn post(self: &Arc<Self>, route: Route, request: Request<Incoming>) -> Answer {
        // Judged now, before the body is taken; answered only for a non-empty body, as
        // go-openapi does.
        let refused_type = check_content_type(
            request
                .headers()
                .get(CONTENT_TYPE)
                .map(|value| String::from_utf8_lossy(value.as_bytes())),
        );
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.limits.max_body_bytes as u64) {
            let message = format!("request body exceeds {} bytes", self.limits.max_body_bytes);
            return Answer::framework(StatusCode::PAYLOAD_TOO_LARGE, 413, &message);
        }
        let mut read =
            std::pin::pin!(Limited::new(request.into_body(), self.limits.max_body_bytes).collect());
        // A small body usually came in with the headers: taken at once, it needs no timer.
        let at_once = std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
        let read = match at_once {
            Poll::Ready(read) => Ok(read),
            Poll::Pending => tokio::time::timeout(self.limits.body_read_timeout, read).await,
        };
        let Ok(read) = read else {
            let message = format!(
                "the request body did not arrive within {} ms",
                self.limits.body_read_timeout.as_millis()
            );
            return Answer::framework(StatusCode::REQUEST_TIMEOUT, 408, &message);
        };
        let body = match read {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                let message = format!("request body exceeds {} bytes", self.limits.max_body_bytes);
                return Answer::framework(StatusCode::PAYLOAD_TOO_LARGE, 413, &message);
            }
            Err(_) => {
                return Answer::framework(
                    StatusCode::BAD_REQUEST,
                    400,
                    "reading the request body failed",
                )
            }
        };
        if body.is_empty() {
            return Answer::framework(
                StatusCode::UNPROCESSABLE_ENTITY,
                602,
                "body in body is required",
            );
        }
        if let Some(answer) = refused_type {
            return answer;
        }
        let document = match json::parse_members(&body) {
            Ok(document) => document,
            Err(error) => {
                let message = format!("parsing body body from \"\" failed, because {error}");
                return Answer::framework(StatusCode::BAD_REQUEST, 400, &message);
            }
        };
        self.answer(route, document, Form::Post).await
    }

    async fn get(self: &Arc<Self>, route: Route, request: &Request<Incoming>) -> Answer {
        let query = request.uri().query().unwrap_or("");
        let limit = self.limits.max_get_query_bytes;
        if limit > 0 && query.len() > limit {
            let message = format!(
                "GET evaluation query length {} exceeds maximum of {limit}; use POST",
                query.len()
            );
            return Answer::message(StatusCode::BAD_REQUEST, &message);
        }
        let Some(text) = query_param(query, "json").filter(|text| !text.is_empty()) else {
            return Answer::framework(
                StatusCode::UNPROCESSABLE_ENTITY,
                602,
                "json in query is required",
            );
        };
        let what = match route {
            Route::Batch => "evaluationBatchRequest",
            _ => "evalContext",
        };
        let mut value = match json::parse_document(text.as_bytes()) {
            Ok(value) => value,
            Err(error) => {
                let message = format!("json is not valid {what}: {error}");
                return Answer::message(StatusCode::BAD_REQUEST, &message);
            }
        };
        request::numbers_as_float64(&mut value);
        self.answer(route, Document::from(value), Form::Get).await
    }

    async fn answer(self: &Arc<Self>, route: Route, document: Document, form: Form) -> Answer {
        if !self.store.is_loaded() {
            return Answer::message(
                StatusCode::SERVICE_UNAVAILABLE,
                "no flags are loaded yet; retry shortly",
            );
        }
        let outcome = match route {
            Route::Batch => match request::decode_batch(&document) {
                Err(error) => Err(refuse(error, form, "evaluationBatchRequest")),
                Ok(batch) if batch_work(&batch) <= INLINE_BATCH_WORK => self.evaluate_batch(&batch),
                // Big batches run on the blocking pool so they cannot stall the async workers
                // that serve every other request.
                Ok(batch) => {
                    let api = Arc::clone(self);
                    tokio::task::spawn_blocking(move || api.evaluate_batch(&batch))
                        .await
                        .unwrap_or(Err(Refusal::Crash(Crash("the batch evaluation stopped"))))
                }
            },
            _ => request::decode_eval_context(document)
                .map_err(|error| refuse(error, form, "evalContext"))
                .and_then(|context| self.evaluate_single(context)),
        };
        match outcome {
            Ok(body) => Answer::json(StatusCode::OK, body),
            Err(Refusal::Answer(answer)) => answer,
            Err(Refusal::Crash(Crash(reason))) => {
                debug!(reason, "request hits an input Flagr fails on");
                let message = format!("Flagr fails to evaluate this request: {reason}");
                Answer::framework(StatusCode::INTERNAL_SERVER_ERROR, 500, &message)
            }
        }
    }

    fn options(&self) -> EvalOptions {
        EvalOptions {
            version: self.compat.version(),
            debug_enabled: self.debug_enabled,
        }
    }

    fn evaluate_single(&self, context: EvalContext) -> Result<Vec<u8>, Refusal> {
        let options = self.options();
        let flag = self.lookup(&context);
        let result = eval::evaluate(flag.as_deref(), &context.flag_key, &context, options)?;
        let mut out = Vec::with_capacity(512);
        response::write_result(
            &mut out,
            &result,
            options.version,
            &response::timestamp_now(),
        );
        if out.len() > self.limits.max_response_bytes {
            let message = format!(
                "the result exceeds this proxy's limit of {} bytes (--max-response-bytes)",
                self.limits.max_response_bytes
            );
            return Err(Answer::message(StatusCode::BAD_REQUEST, &message).into());
        }
        Ok(out)
    }

    /// Flagr's `LookupFlag`: the flag ID (as text) tried as an ID then as a key, then the key.
    fn lookup(&self, context: &EvalContext) -> Option<Arc<Flag>> {
        self.store
            .get_by_id_or_its_text(context.flag_id)
            .or_else(|| {
                (!context.flag_key.is_empty())
                    .then(|| self.store.get_by_id_text_or_key(&context.flag_key))
                    .flatten()
            })
    }

    fn evaluate_batch(&self, batch: &BatchRequest) -> Result<Vec<u8>, Refusal> {
        let options = self.options();
        let (flag_ids, flag_keys) = selectors(batch, options.version);
        let tags = batch.flag_tags.as_deref().unwrap_or_default();
        let selector_count = flag_ids.len() + flag_keys.len() + usize::from(!tags.is_empty());

        let limit = self.limits.max_batch_size;
        let total = batch.entities.len() * selector_count;
        if limit > 0 && total > limit {
            let message =
                format!("batch evaluation size {total} exceeds maximum allowed size of {limit}");
            return Err(Answer::message(StatusCode::BAD_REQUEST, &message).into());
        }

        // The flags a tag selection matches do not depend on the entity: look them up once.
        let tagged = if tags.is_empty() {
            Vec::new()
        } else {
            let mut unique = tags.to_vec();
            unique.sort_unstable();
            unique.dedup();
            self.store.get_by_tags(&unique, batch.tag_operator())
        };
        let per_entity = flag_ids.len() + flag_keys.len() + tagged.len();
        let evaluations = batch.entities.len().saturating_mul(per_entity);
        if evaluations > self.limits.max_batch_evaluations {
            let message = format!(
                "batch of {evaluations} evaluations exceeds this proxy's limit of {} (--max-batch-evaluations)",
                self.limits.max_batch_evaluations
            );
            return Err(Answer::message(StatusCode::BAD_REQUEST, &message).into());
        }

        let timestamp = response::timestamp_now();
        let mut out = Vec::with_capacity((256 + 512 * evaluations).min(64 * 1024));
        out.extend_from_slice(b"{\"evaluationResults\":");
        let mut count = 0usize;
        let max_bytes = self.limits.max_response_bytes;
        // An entity's context is written once, then copied into each of its results.
        let mut rendered = Vec::new();
        let mut write = |out: &mut Vec<u8>,
                         result: &EvalResult<'_>,
                         rendered: &[u8]|
         -> Result<(), Refusal> {
            out.push(if count == 0 { b'[' } else { b',' });
            let rendered = result.context.entity_context.as_ref().map(|_| rendered);
            response::write_result_with(out, result, options.version, &timestamp, rendered);
            count += 1;
            if out.len() > max_bytes {
                let message = format!(
                    "batch result exceeds this proxy's limit of {max_bytes} bytes (--max-response-bytes); ask for fewer entities or flags"
                );
                return Err(Answer::message(StatusCode::BAD_REQUEST, &message).into());
            }
            Ok(())
        };
        // One context serves every evaluation: each selector's field is set only while its
        // flags are evaluated, as Flagr's per-evaluation contexts carry only their own selector.
        let mut context = EvalContext {
            enable_debug: batch.enable_debug,
            ..EvalContext::default()
        };
        let mut tag_list = tags.to_vec();
        let mut tag_operator = batch.flag_tags_operator.clone().unwrap_or_default();
        for entity in &batch.entities {
            if selector_count == 0 {
                continue;
            }
            let Some(entity) = entity else {
                return Err(Crash("a batch entity is null").into());
            };
            context.entity_context.clone_from(&entity.entity_context);
            rendered.clear();
            if let Some(entity_context) = &context.entity_context {
                crate::json::write_value(&mut rendered, entity_context);
            }
            context.entity_id.clone_from(&entity.entity_id);
            context.entity_type.clone_from(&entity.entity_type);
            if !tagged.is_empty() {
                std::mem::swap(&mut context.flag_tags, &mut tag_list);
                std::mem::swap(&mut context.flag_tags_operator, &mut tag_operator);
                for flag in &tagged {
                    let result = eval::evaluate(Some(flag), "", &context, options)?;
                    write(&mut out, &result, &rendered)?;
                }
                std::mem::swap(&mut context.flag_tags, &mut tag_list);
                std::mem::swap(&mut context.flag_tags_operator, &mut tag_operator);
            }
            for id in &flag_ids {
                context.flag_id = *id;
                let flag = self.lookup(&context);
                let result = eval::evaluate(flag.as_deref(), "", &context, options)?;
                write(&mut out, &result, &rendered)?;
            }
            context.flag_id = 0;
            for key in &flag_keys {
                context.flag_key.clone_from(key);
                let flag = self.lookup(&context);
                let result = eval::evaluate(flag.as_deref(), key, &context, options)?;
                write(&mut out, &result, &rendered)?;
            }
            context.flag_key.clear();
        }
        match (count, options.version) {
            (0, FlagrVersion::V1_1) => out.extend_from_slice(b"null"),
            (0, FlagrVersion::V1_2) => out.extend_from_slice(b"[]"),
            _ => out.push(b']'),
        }
        out.push(b'}');
        Ok(out)
    }

    async fn pass_through(&self, request: Request<Incoming>) -> Response<ProxyBody> {
        if request.method() == Method::CONNECT {
            let message = "CONNECT is not supported: this is not a forward proxy";
            return local(Answer::framework(
                StatusCode::METHOD_NOT_ALLOWED,
                405,
                message,
            ));
        }
        let Some(upstream) = &self.upstream else {
            return local(no_upstream_answer(request.method(), request.uri().path()));
        };
        match upstream.forward(request).await {
            Ok(response) => response,
            Err(error) => {
                debug!(error = %error, "pass-through to the upstream failed");
                let message = format!("upstream Flagr is unavailable: {error}");
                local(Answer::framework(StatusCode::BAD_GATEWAY, 502, &message))
            }
        }
    }
}

/// Batches up to this many entity × selector pairs are evaluated on the async worker.
const INLINE_BATCH_WORK: usize = 256;

/// A batch's size before tag expansion: entities × (IDs + keys + tags).
fn batch_work(batch: &BatchRequest) -> usize {
    let lists = batch.flag_ids.as_ref().map_or(0, Vec::len)
        + batch.flag_keys.as_ref().map_or(0, Vec::len)
        + batch.flag_tags.as_ref().map_or(0, Vec::len);
    batch.entities.len().saturating_mul(lists.max(1))
}

/// The flag IDs and keys a batch asks for: Flagr 1.2 drops repeats, keeping the first.
fn selectors(batch: &BatchRequest, version: FlagrVersion) -> (Vec<u64>, Vec<String>) {
    let mut ids: Vec<u64> = batch
        .flag_ids
        .iter()
        .flatten()
        .map(|id| id.unsigned_abs())
        .collect();
    let mut keys: Vec<String> = batch.flag_keys.clone().unwrap_or_default();
    if version == FlagrVersion::V1_2 {
        let mut seen = std::collections::HashSet::new();
        ids.retain(|id| seen.insert(*id));
        let mut seen = std::collections::HashSet::new();
        keys.retain(|key| seen.insert(key.clone()));
    }
    (ids, keys)
}

fn refuse(error: RequestError, form: Form, what: &str) -> Refusal {
    let answer = match (error, form) {
        (RequestError::Type(message), Form::Post) => {
            let message = format!("parsing body body from \"\" failed, because {message}");
            Answer::framework(StatusCode::BAD_REQUEST, 400, &message)
        }
        (RequestError::Invalid { code, message }, Form::Post) => {
            Answer::framework(StatusCode::UNPROCESSABLE_ENTITY, code, &message)
        }
        (RequestError::Type(message) | RequestError::Invalid { message, .. }, Form::Get) => {
            Answer::message(
                StatusCode::BAD_REQUEST,
                &format!("json is not valid {what}: {message}"),
            )
        }
    };
    Refusal::Answer(answer)
}

/// go-openapi's 415 for a body that is not declared as JSON.
fn check_content_type(header: Option<std::borrow::Cow<'_, str>>) -> Option<Answer> {
    let declared = header
        .as_deref()
        .map(|value| value.split(';').next().unwrap_or("").trim());
    if declared.is_some_and(|media_type| media_type.eq_ignore_ascii_case("application/json")) {
        return None;
    }
    let media_type = header
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|| "application/octet-stream".to_string());
    if media_type == "application/json" {
        return None;
    }
    let message =
        format!("unsupported media type {media_type:?}, only [application/json] are allowed");
    Some(Answer::framework(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        415,
        &message,
    ))
}

fn method_not_allowed(method: &Method, allowed: &str) -> Answer {
    let message = format!("method {method} is not allowed, but {allowed} are");
    Answer::framework(StatusCode::METHOD_NOT_ALLOWED, 405, &message)
}

/// Flagr routes that only an upstream can answer.
const UPSTREAM_ONLY_PREFIXES: [&str; 5] = [
    "/api/v1/flags",
    "/api/v1/export",
    "/api/v1/tags",
    "/api/v1/exposures",
    "/api/v1/datar",
];

fn no_upstream_answer(method: &Method, path: &str) -> Answer {
    let known = UPSTREAM_ONLY_PREFIXES
        .iter()
        .any(|prefix| path == *prefix || path.starts_with(&format!("{prefix}/")));
    if known {
        let message = format!(
            "{method} {path} is served by Flagr itself, and this proxy has no upstream Flagr configured (set --upstream)"
        );
        return Answer::framework(StatusCode::NOT_IMPLEMENTED, 501, &message);
    }
    Answer::framework(
        StatusCode::NOT_FOUND,
        404,
        &format!("path {path} was not found"),
    )
}

fn local(answer: Answer) -> Response<ProxyBody> {
    http::respond(answer.status, "application/json", answer.body)
}

/// The decoded value of the first `name=` parameter of a query string.
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key) == name).then(|| percent_decode(value))
    })
}

/// Decodes `%XX` escapes and `+` as a space, as Go's query parsing does.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        index += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query_parameters() {
        assert_eq!(
            query_param("json=%7B%22a%22%3A1%7D", "json").as_deref(),
            Some("{\"a\":1}")
        );
        assert_eq!(query_param("x=1&json=a+b", "json").as_deref(), Some("a b"));
        assert_eq!(query_param("x=1", "json"), None);
        assert_eq!(query_param("json=%zz%4", "json").as_deref(), Some("%zz%4"));
    }

    #[test]
    fn content_type_must_be_json() {
        assert!(check_content_type(Some("application/json".into())).is_none());
        assert!(check_content_type(Some("Application/JSON; charset=utf-8".into())).is_none());
        let answer = check_content_type(None).expect("refused");
        assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(
            String::from_utf8(answer.body).expect("utf-8"),
            "{\"code\":415,\"message\":\"unsupported media type \\\"application/octet-stream\\\", only [application/json] are allowed\"}\n"
        );
    }
}
