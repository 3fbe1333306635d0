//! Small HTTP pieces every listener shares: the body type of responses (local bytes or a
//! stream from the upstream), a response built from bytes, and comma-separated header lists.

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

/// The error a body can end with.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response, and of requests sent upstream.
pub type ProxyBody = UnsyncBoxBody<Bytes, BodyError>;

/// A body holding `bytes`.
pub fn full_body(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A response with this status, content type and body.
pub fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<ProxyBody> {
    let mut response = Response::new(full_body(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The lowercased, trimmed, non-empty items of every `name` header's comma-separated list.
pub fn header_list(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|item| item.trim().to_ascii_lowercase())
        .filter(|item| !item.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_header_lists() {
        let mut headers = HeaderMap::new();
        headers.append("connection", HeaderValue::from_static("Keep-Alive, X-Hop,"));
        headers.append("connection", HeaderValue::from_static(" close"));
        assert_eq!(
            header_list(&headers, "connection"),
            vec!["keep-alive", "x-hop", "close"]
        );
        assert!(header_list(&headers, "upgrade").is_empty());
    }
}
