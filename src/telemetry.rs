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
pub const SOURCES: [&str; 5] = ["none", "upstream", "file", "snapshot", "embedded"];

/// Upper bounds, in seconds, of the latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 10] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05, 0.25,
];

/// Kinds of upstream reads counted.
pub const UPSTREAM_KINDS: [&str; 4] = ["export", "max_id", "flag", "other"];

/// A latency histogram with the fixed buckets of `LATENCY_BUCKETS`.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: std::time::Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(index) = LATENCY_BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[index].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

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
    /// Time to answer evaluation and batch requests locally.
    latency: [Histogram; 2],
    /// Upstream reads by kind: [ok, error].
    upstream: [[AtomicU64; 2]; 4],
}

/// A flag source, for `Telemetry::loaded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadedFrom {
    Upstream,
    File,
    Snapshot,
    /// The example flags built into the binary.
    Embedded,
}

impl Telemetry {
    /// Records that flags were loaded now.
    pub fn loaded(&self, from: LoadedFrom) {
        self.last_load_ms.store(unix_ms(), Ordering::Relaxed);
        let index = match from {
            LoadedFrom::Upstream => 1,
            LoadedFrom::File => 2,
            LoadedFrom::Snapshot => 3,
            LoadedFrom::Embedded => 4,
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

    /// Records how long an evaluation (route 0) or batch (route 1) took to answer.
    pub fn evaluation_latency(&self, route: usize, elapsed: std::time::Duration) {
        if let Some(histogram) = self.latency.get(route) {
            histogram.observe(elapsed);
        }
    }

    /// Counts one upstream read of a path, by its kind and outcome.
    pub fn upstream_read(&self, path: &str, ok: bool) {
        let kind = if path.starts_with("/api/v1/export/eval_cache") {
            0
        } else if path.starts_with("/api/v1/flags/snapshots/max_id") {
            1
        } else if path.starts_with("/api/v1/flags") {
            2
        } else {
            3
        };
        self.upstream[kind][usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
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
            "vexilla_upstream_requests_total",
            "counter",
            "Reads from the upstream Flagr by kind and outcome.",
        );
        for (kind, row) in UPSTREAM_KINDS.iter().zip(&self.upstream) {
            for (outcome, counter) in ["ok", "error"].iter().zip(row) {
                let value = counter.load(Ordering::Relaxed);
                let _ = writeln!(out, "vexilla_upstream_requests_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {value}");
            }
        }

        header(
            &mut out,
            "vexilla_evaluation_duration_seconds",
            "histogram",
            "Time to answer evaluation requests locally.",
        );
        for (route, histogram) in ["evaluation", "evaluation_batch"].iter().zip(&self.latency) {
            histogram.render(
                &mut out,
                "vexilla_evaluation_duration_seconds",
                &format!("route=\"{route}\""),
            );
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
        telemetry.evaluation_latency(0, std::time::Duration::from_micros(300));
        telemetry.upstream_read("/api/v1/flags/snapshots/max_id", true);
        telemetry.upstream_read("/api/v1/flags/7/snapshots?limit=1", false);
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
            "vexilla_evaluation_duration_seconds_bucket{route=\"evaluation\",le=\"0.00025\"} 0",
            "vexilla_evaluation_duration_seconds_bucket{route=\"evaluation\",le=\"0.0005\"} 1",
            "vexilla_evaluation_duration_seconds_count{route=\"evaluation\"} 1",
            "vexilla_upstream_requests_total{kind=\"max_id\",outcome=\"ok\"} 1",
            "vexilla_upstream_requests_total{kind=\"flag\",outcome=\"error\"} 1",
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
