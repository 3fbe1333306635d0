//! What the proxy counts about itself, and its Prometheus text rendering: flags held, the age
//! of the data, syncs by outcome, webhook events by outcome and reason, snapshot saves, and
//! requests by route and status class.
//!
//! Labels come only from the small fixed sets below, never from a flag key, entity ID, raw
//! path or peer address. Counters are plain atomics: recording one is a relaxed add.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Routes requests are counted by.
pub const ROUTES: [&str; 4] = ["evaluation", "evaluation_batch", "health", "passthrough"];
/// Status classes requests are counted by.
pub const STATUS_CLASSES: [&str; 4] = ["2xx", "4xx", "5xx", "other"];

/// Where the flags in force came from last.
pub const SOURCES: [&str; 4] = ["none", "upstream", "file", "snapshot"];

/// The proxy's counters and gauges.
#[derive(Debug, Default)]
pub struct Telemetry {
    /// Unix milliseconds of the last successful load of flags from any source; 0 before.
    last_load_ms: AtomicU64,
    /// Index into `SOURCES`.
    source: AtomicU64,
    pub syncs_ok: AtomicU64,
    pub syncs_failed: AtomicU64,
    pub snapshot_saves_ok: AtomicU64,
    pub snapshot_saves_failed: AtomicU64,
    requests: [[AtomicU64; 4]; 4],
}

/// A flag source, for `Telemetry::loaded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadedFrom {
    Upstream,
    File,
    Snapshot,
}

impl Telemetry {
    /// Records that flags were loaded now.
    pub fn loaded(&self, from: LoadedFrom) {
        self.last_load_ms.store(unix_ms(), Ordering::Relaxed);
        let index = match from {
            LoadedFrom::Upstream => 1,
            LoadedFrom::File => 2,
            LoadedFrom::Snapshot => 3,
        };
        self.source.store(index, Ordering::Relaxed);
    }

    /// Seconds since flags were last loaded, or `None` before the first load.
    pub fn data_age_seconds(&self) -> Option<f64> {
        let last = self.last_load_ms.load(Ordering::Relaxed);
        (last > 0).then(|| unix_ms().saturating_sub(last) as f64 / 1000.0)
    }

    /// Where the flags in force came from last.
    pub fn source(&self) -> &'static str {
        SOURCES[(self.source.load(Ordering::Relaxed) as usize).min(SOURCES.len() - 1)]
    }

    /// Counts one answered request.
    pub fn request(&self, route: usize, status: u16) {
        let class = match status {
            200..=299 => 0,
            400..=499 => 1,
            500..=599 => 2,
            _ => 3,
        };
        if let Some(row) = self.requests.get(route) {
            row[class].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The Prometheus text exposition of everything counted, plus `extra` lines.
    pub fn render(&self, flags: usize, webhook: &[(&str, &str, u64)]) -> String {
        let mut out = String::with_capacity(2048);
        gauge(&mut out, "vexilla_flags", "Flags held.", flags as f64);
        let age = self.data_age_seconds().unwrap_or(-1.0);
        gauge(
            &mut out,
            "vexilla_data_age_seconds",
            "Seconds since flags were last loaded from any source; -1 before the first load.",
            age,
        );
        let last = self.last_load_ms.load(Ordering::Relaxed) as f64 / 1000.0;
        gauge(
            &mut out,
            "vexilla_last_load_timestamp_seconds",
            "Unix time of the last load of flags.",
            last,
        );

        header(
            &mut out,
            "vexilla_flags_source",
            "gauge",
            "Where the flags in force came from (1 for the current source).",
        );
        let current = self.source();
        for source in SOURCES {
            let value = u8::from(source == current);
            let _ = writeln!(out, "vexilla_flags_source{{source=\"{source}\"}} {value}");
        }

        header(
            &mut out,
            "vexilla_upstream_syncs_total",
            "counter",
            "Full syncs from the upstream by outcome.",
        );
        let _ = writeln!(
            out,
            "vexilla_upstream_syncs_total{{outcome=\"ok\"}} {}",
            self.syncs_ok.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "vexilla_upstream_syncs_total{{outcome=\"error\"}} {}",
            self.syncs_failed.load(Ordering::Relaxed)
        );

        header(
            &mut out,
            "vexilla_snapshot_saves_total",
            "counter",
            "Snapshot file saves by outcome.",
        );
        let _ = writeln!(
            out,
            "vexilla_snapshot_saves_total{{outcome=\"ok\"}} {}",
            self.snapshot_saves_ok.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "vexilla_snapshot_saves_total{{outcome=\"error\"}} {}",
            self.snapshot_saves_failed.load(Ordering::Relaxed)
        );

        header(
            &mut out,
            "vexilla_requests_total",
            "counter",
            "Requests answered, by route and status class.",
        );
        for (route, row) in ROUTES.iter().zip(&self.requests) {
            for (class, counter) in STATUS_CLASSES.iter().zip(row) {
                let value = counter.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "vexilla_requests_total{{route=\"{route}\",status=\"{class}\"}} {value}"
                );
            }
        }

        header(
            &mut out,
            "vexilla_webhook_requests_total",
            "counter",
            "Webhook requests by outcome and reason.",
        );
        for (outcome, reason, value) in webhook {
            let _ = writeln!(out, "vexilla_webhook_requests_total{{outcome=\"{outcome}\",reason=\"{reason}\"}} {value}");
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    header(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text_with_fixed_labels() {
        let telemetry = Telemetry::default();
        assert_eq!(telemetry.data_age_seconds(), None);
        telemetry.loaded(LoadedFrom::Upstream);
        telemetry.syncs_ok.fetch_add(2, Ordering::Relaxed);
        telemetry.request(0, 200);
        telemetry.request(0, 422);
        telemetry.request(3, 502);
        let text = telemetry.render(6, &[("rejected", "unauthorized", 3)]);
        for line in [
            "vexilla_flags 6",
            "vexilla_flags_source{source=\"upstream\"} 1",
            "vexilla_flags_source{source=\"file\"} 0",
            "vexilla_upstream_syncs_total{outcome=\"ok\"} 2",
            "vexilla_requests_total{route=\"evaluation\",status=\"2xx\"} 1",
            "vexilla_requests_total{route=\"evaluation\",status=\"4xx\"} 1",
            "vexilla_requests_total{route=\"passthrough\",status=\"5xx\"} 1",
            "vexilla_webhook_requests_total{outcome=\"rejected\",reason=\"unauthorized\"} 3",
            "# TYPE vexilla_data_age_seconds gauge",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(telemetry
            .data_age_seconds()
            .is_some_and(|age| (0.0..5.0).contains(&age)));
    }
}
