//! The admin listener (`--admin-listen`, default `127.0.0.1:18002`): `/live` (the process
//! answers), `/ready` (flags are loaded from some source; 503 before, with details either
//! way), and `/metrics` in Prometheus text format. It is meant for the kubelet and a scraper
//! on the same host, not for the network.

use std::convert::Infallible;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use crate::compat::Compat;
use crate::flag::FlagrVersion;
use crate::http::{self, ProxyBody};
use crate::store::FlagStore;
use crate::telemetry::Telemetry;
use crate::webhook::Webhook;

/// What the admin routes report on.
pub struct Admin {
    pub store: Arc<FlagStore>,
    pub compat: Arc<Compat>,
    pub telemetry: Arc<Telemetry>,
    pub webhook: Option<Arc<Webhook>>,
}

impl Admin {
    /// Answers one request.
    pub async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
    ) -> Result<Response<ProxyBody>, Infallible> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return Ok(reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "application/json",
                json!({"message": "use GET"}).to_string(),
            ));
        }
        let response = match request.uri().path() {
            "/live" => reply(StatusCode::OK, "application/json", json!({"status": "live"}).to_string()),
            "/ready" => self.ready(),
            "/metrics" => {
                let rows = self.webhook.as_ref().map(|w| w.rejections.rows()).unwrap_or_default();
                let text = self.telemetry.render(self.store.len(), &rows);
                reply(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", text)
            }
            path => reply(
                StatusCode::NOT_FOUND,
                "application/json",
                json!({"message": format!("path {path} was not found; try /live, /ready or /metrics")}).to_string(),
            ),
        };
        Ok(response)
    }

    fn ready(&self) -> Response<ProxyBody> {
        let loaded = self.store.is_loaded();
        // null until detected: answers meanwhile follow 1.2.
        let version = self.compat.known().map(FlagrVersion::as_str);
        let body = json!({
            "status": if loaded { "ready" } else { "not_ready" },
            "flags": self.store.len(),
            "source": self.telemetry.source(),
            "dataAgeSeconds": self.telemetry.data_age_seconds(),
            "flagrVersion": version,
        });
        let status = if loaded {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        reply(status, "application/json", body.to_string())
    }
}

/// Asks `/ready` on the admin address and returns whether it answered 200. An unspecified
/// listen address (`0.0.0.0`, `::`) is asked on loopback.
pub fn probe_ready(admin: std::net::SocketAddr, timeout: std::time::Duration) -> bool {
    let mut target = admin;
    if target.ip().is_unspecified() {
        target.set_ip(match admin {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&target, timeout) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let request = format!("GET /ready HTTP/1.1\r\nhost: {target}\r\nconnection: close\r\n\r\n");
    if std::io::Write::write_all(&mut stream, request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    std::io::Read::read_exact(&mut stream, &mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<ProxyBody> {
    http::respond(status, content_type, body)
}
