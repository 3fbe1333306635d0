//! Cross-origin headers on the routes the proxy answers itself, as Flagr's default CORS
//! settings give them (`FLAGR_CORS_ENABLED=true`, any origin, credentials allowed), so browser
//! SDKs can call the proxy as they call Flagr. Passed-through answers carry Flagr's own.

use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, StatusCode};

use crate::http;

/// Methods Flagr's CORS settings allow.
const ALLOWED_METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];
/// Request headers Flagr's CORS settings allow (compared case-insensitively).
const ALLOWED_HEADERS: [&str; 6] = [
    "origin",
    "accept",
    "content-type",
    "x-requested-with",
    "authorization",
    "time_zone",
];

/// The answer to a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`), or `None`
/// when the request is not one.
pub fn preflight(method: &Method, request: &HeaderMap) -> Option<(StatusCode, HeaderMap)> {
    let requested = request.get("access-control-request-method")?;
    if method != Method::OPTIONS {
        return None;
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        "vary",
        HeaderValue::from_static(
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        ),
    );
    let allowed = request.contains_key("origin")
        && requested
            .to_str()
            .is_ok_and(|m| ALLOWED_METHODS.contains(&m.to_ascii_uppercase().as_str()));
    let requested_headers = http::header_list(request, "access-control-request-headers");
    let headers_allowed = requested_headers
        .iter()
        .all(|name| ALLOWED_HEADERS.contains(&name.as_str()));
    if allowed && headers_allowed {
        let method = requested.to_str().unwrap_or_default().to_ascii_uppercase();
        headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
        if let Ok(value) = HeaderValue::from_str(&method) {
            headers.insert("access-control-allow-methods", value);
        }
        if !requested_headers.is_empty() {
            if let Ok(value) = HeaderValue::from_str(&requested_headers.join(", ")) {
                headers.insert("access-control-allow-headers", value);
            }
        }
        headers.insert(
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        );
        headers.insert("access-control-max-age", HeaderValue::from_static("600"));
    }
    Some((StatusCode::NO_CONTENT, headers))
}

/// Whether a request came from another origin (it has an `Origin` header).
pub fn is_cross_origin(request: &HeaderMap) -> bool {
    request.contains_key("origin")
}

/// Adds the headers of an answer to a request; `cross_origin` from [`is_cross_origin`].
pub fn decorate(cross_origin: bool, method: &Method, response: &mut HeaderMap) {
    response.append("vary", HeaderValue::from_static("Origin"));
    if !cross_origin || !ALLOWED_METHODS.contains(&method.as_str()) {
        return;
    }
    response.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    response.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("WWW-Authenticate"),
    );
    response.insert(
        "access-control-allow-credentials",
        HeaderValue::from_static("true"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| {
                (
                    hyper::header::HeaderName::from_static(n),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn answers_allowed_preflights() {
        let request = headers(&[
            ("origin", "https://app.example"),
            ("access-control-request-method", "post"),
            (
                "access-control-request-headers",
                "Content-Type, X-Requested-With",
            ),
        ]);
        let (status, answer) = preflight(&Method::OPTIONS, &request).expect("a preflight");
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(answer["access-control-allow-origin"], "*");
        assert_eq!(answer["access-control-allow-methods"], "POST");
        assert_eq!(
            answer["access-control-allow-headers"],
            "content-type, x-requested-with"
        );
        assert_eq!(answer["access-control-max-age"], "600");
    }

    #[test]
    fn refused_preflights_carry_no_grant() {
        let check = |pairs: &[(&'static str, &'static str)]| {
            let (_, answer) = preflight(&Method::OPTIONS, &headers(pairs)).expect("a preflight");
            assert!(
                !answer.contains_key("access-control-allow-origin"),
                "{pairs:?}"
            );
        };
        check(&[("origin", "o"), ("access-control-request-method", "TRACE")]);
        check(&[
            ("origin", "o"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "x-secret"),
        ]);
        check(&[("access-control-request-method", "POST")]);
        assert!(preflight(&Method::OPTIONS, &headers(&[("origin", "o")])).is_none());
    }

    #[test]
    fn decorates_cross_origin_answers() {
        let mut answer = HeaderMap::new();
        decorate(
            is_cross_origin(&headers(&[("origin", "o")])),
            &Method::POST,
            &mut answer,
        );
        assert_eq!(answer["access-control-allow-origin"], "*");
        assert_eq!(answer["vary"], "Origin");
        let mut answer = HeaderMap::new();
        decorate(
            is_cross_origin(&HeaderMap::new()),
            &Method::POST,
            &mut answer,
        );
        assert!(!answer.contains_key("access-control-allow-origin"));
    }
}
