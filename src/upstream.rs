//! The HTTP client to Flagr: reads for the flag sync, and the pass-through of every request
//! the proxy does not answer itself.
//!
//! Plain `http://` only: the proxy runs beside Flagr's clients, and a TLS hop to Flagr is the
//! job of a mesh or a TLS-terminating sidecar in front of Flagr.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderMap, HeaderName, HeaderValue, HOST};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use thiserror::Error;
use tokio::time::Sleep;

use crate::http::{self, BodyError, ProxyBody};
use crate::telemetry::Telemetry;

/// A Flagr base URL, split into what requests need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    /// `host:port`, also sent as the `Host` header.
    pub authority: String,
    /// The path prefix Flagr is served under (`FLAGR_WEB_PREFIX`), without a trailing slash.
    pub prefix: String,
}

/// Why an upstream URL was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("upstream must be an http:// URL (https is not supported), got {0:?}")]
    Scheme(String),
    #[error("upstream URL {0:?} has no host")]
    NoHost(String),
    #[error("upstream URL {0:?} must not carry a query or fragment")]
    Query(String),
}

impl UpstreamUrl {
    /// Parses `http://host[:port][/prefix]`.
    pub fn parse(text: &str) -> Result<UpstreamUrl, UrlError> {
        let rest = text
            .strip_prefix("http://")
            .ok_or_else(|| UrlError::Scheme(text.to_string()))?;
        if rest.contains(['?', '#']) {
            return Err(UrlError::Query(text.to_string()));
        }
        let (authority, path) = match rest.find('/') {
            Some(index) => rest.split_at(index),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.starts_with(':') {
            return Err(UrlError::NoHost(text.to_string()));
        }
        let authority = if authority.contains(':') && !authority.ends_with(']') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(UpstreamUrl {
            authority,
            prefix: path.trim_end_matches('/').to_string(),
        })
    }

    /// The absolute URI of `path_and_query` (which starts with `/`) on the upstream.
    fn uri(&self, path_and_query: &str) -> Result<Uri, hyper::http::Error> {
        Uri::builder()
            .scheme("http")
            .authority(self.authority.as_str())
            .path_and_query(format!("{}{path_and_query}", self.prefix))
            .build()
    }
}

/// Timeouts for calls to Flagr.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamTimeouts {
    pub connect: Duration,
    /// Until the response headers arrive (sync reads also bound the body by it).
    pub request: Duration,
}

/// Why an upstream call failed.
#[derive(Debug, Error)]
pub enum UpstreamError {
    #[error("invalid upstream request: {0}")]
    Request(#[from] hyper::http::Error),
    #[error("upstream unreachable: {0}")]
    Connect(#[source] hyper_util::client::legacy::Error),
    #[error("upstream did not answer within {0:?}")]
    Timeout(Duration),
    #[error("upstream answered HTTP {0}")]
    Status(StatusCode),
    #[error("reading the upstream body failed: {0}")]
    Body(#[source] hyper::Error),
    #[error("upstream body exceeds {0} bytes")]
    TooLarge(usize),
}

/// A client for one Flagr.
#[derive(Clone)]
pub struct Upstream {
    url: UpstreamUrl,
    timeouts: UpstreamTimeouts,
    telemetry: Option<Arc<Telemetry>>,
    client: Client<HttpConnector, ProxyBody>,
}

/// Headers that describe one hop, not the message, and are never forwarded.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The largest sync document accepted from Flagr.
pub const MAX_SYNC_BODY: usize = 256 * 1024 * 1024;

impl Upstream {
    /// A client for `url`.
    pub fn new(url: UpstreamUrl, timeouts: UpstreamTimeouts) -> Upstream {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeouts.connect));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Upstream {
            url,
            timeouts,
            telemetry: None,
            client,
        }
    }

    /// Counts this client's reads in `telemetry`.
    pub fn with_telemetry(mut self, telemetry: Arc<Telemetry>) -> Upstream {
        self.telemetry = Some(telemetry);
        self
    }

    /// The upstream's base URL.
    pub fn url(&self) -> &UpstreamUrl {
        &self.url
    }

    /// `GET path_and_query`, returning the status and whole body of a 2xx answer.
    pub async fn get(&self, path_and_query: &str) -> Result<Bytes, UpstreamError> {
        let request = Request::get(self.url.uri(path_and_query)?)
            .header(HOST, self.url.authority.as_str())
            .header("accept", "application/json")
            .body(http::full_body(Bytes::new()))?;
        let deadline = self.timeouts.request;
        let work = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(UpstreamError::Connect)?;
            let status = response.status();
            if !status.is_success() {
                return Err(UpstreamError::Status(status));
            }
            let body = http_body_util::Limited::new(response.into_body(), MAX_SYNC_BODY);
            match body.collect().await {
                Ok(collected) => Ok(collected.to_bytes()),
                Err(error) => match error.downcast::<hyper::Error>() {
                    Ok(error) => Err(UpstreamError::Body(*error)),
                    Err(_) => Err(UpstreamError::TooLarge(MAX_SYNC_BODY)),
                },
            }
        };
        let result = tokio::time::timeout(deadline, work)
            .await
            .map_err(|_| UpstreamError::Timeout(deadline))
            .and_then(|read| read);
        if let Some(telemetry) = &self.telemetry {
            telemetry.upstream_read(path_and_query, result.is_ok());
        }
        result
    }

    /// Forwards a client's request unchanged (method, path, query, headers, streamed body)
    /// and returns Flagr's response to stream back.
    pub async fn forward(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<ProxyBody>, UpstreamError> {
        let (parts, body) = request.into_parts();
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_string();
        let mut builder = Request::builder()
            .method(parts.method)
            .uri(self.url.uri(&path_and_query)?);
        if let Some(headers) = builder.headers_mut() {
            copy_end_to_end_headers(&parts.headers, headers);
            headers.insert(
                HOST,
                HeaderValue::from_str(&self.url.authority)
                    .unwrap_or_else(|_| HeaderValue::from_static("flagr")),
            );
        }
        let request = builder.body(body.map_err(BodyError::from).boxed_unsync())?;
        let deadline = self.timeouts.request;
        let mut response = tokio::time::timeout(deadline, self.client.request(request))
            .await
            .map_err(|_| UpstreamError::Timeout(deadline))?
            .map_err(UpstreamError::Connect)?;
        // A protocol switch would hand the client's connection to Flagr; this proxy does not.
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            return Err(UpstreamError::Status(response.status()));
        }
        strip_hop_by_hop(response.headers_mut());
        let idle = self.timeouts.request;
        Ok(response.map(|body| IdleTimeoutBody::new(body, idle).boxed_unsync()))
    }
}

/// A streamed upstream body that fails when no data arrives for `idle`, so a stalled Flagr
/// cannot hold a client's answer open forever (the client then sees the answer cut short).
struct IdleTimeoutBody {
    inner: Incoming,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl IdleTimeoutBody {
    fn new(inner: Incoming, idle: Duration) -> IdleTimeoutBody {
        IdleTimeoutBody {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }
}

impl Body for IdleTimeoutBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(context) {
            Poll::Ready(frame) => {
                let next = tokio::time::Instant::now() + this.idle;
                this.deadline.as_mut().reset(next);
                Poll::Ready(frame.map(|result| result.map_err(BodyError::from)))
            }
            Poll::Pending => match this.deadline.as_mut().poll(context) {
                Poll::Ready(()) => Poll::Ready(Some(Err(format!(
                    "the upstream body stalled for {} ms",
                    this.idle.as_millis()
                )
                .into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn copy_end_to_end_headers(from: &HeaderMap, to: &mut HeaderMap) {
    let listed = connection_listed(from);
    for (name, value) in from {
        if !is_hop_by_hop(name)
            && !listed.contains(&name.as_str().to_ascii_lowercase())
            && name != HOST
        {
            to.append(name.clone(), value.clone());
        }
    }
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed = connection_listed(headers);
    for name in HOP_BY_HOP.iter().map(|s| s.to_string()).chain(listed) {
        headers.remove(name.as_str());
    }
}

/// Header names a `Connection` header marks as hop-by-hop.
fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    http::header_list(headers, "connection")
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_urls() {
        let check = |text: &str, authority: &str, prefix: &str| {
            let url = UpstreamUrl::parse(text).expect(text);
            assert_eq!(
                (url.authority.as_str(), url.prefix.as_str()),
                (authority, prefix),
                "{text}"
            );
        };
        check("http://flagr:18000", "flagr:18000", "");
        check("http://flagr:18000/", "flagr:18000", "");
        check("http://flagr", "flagr:80", "");
        check("http://127.0.0.1:9/foo/", "127.0.0.1:9", "/foo");
        assert!(matches!(
            UpstreamUrl::parse("https://flagr"),
            Err(UrlError::Scheme(_))
        ));
        assert!(matches!(
            UpstreamUrl::parse("http://"),
            Err(UrlError::NoHost(_))
        ));
        assert!(matches!(
            UpstreamUrl::parse("http://a?b"),
            Err(UrlError::Query(_))
        ));
    }

    #[test]
    fn drops_hop_by_hop_headers_and_those_connection_names() {
        let mut from = HeaderMap::new();
        from.insert("authorization", HeaderValue::from_static("Bearer t"));
        from.insert("connection", HeaderValue::from_static("close, x-hop"));
        from.insert("x-hop", HeaderValue::from_static("1"));
        from.insert("te", HeaderValue::from_static("trailers"));
        from.insert("x-keep", HeaderValue::from_static("1"));
        let mut to = HeaderMap::new();
        copy_end_to_end_headers(&from, &mut to);
        let mut names: Vec<&str> = to.keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, vec!["authorization", "x-keep"]);
    }
}
