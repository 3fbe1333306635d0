//! The command line and its `VEXILLA_*` environment twins, validated once into a typed
//! `Config`. Nothing else in the crate reads the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use std::ffi::OsString;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser};
use thiserror::Error;

use crate::api::ApiLimits;
use crate::compat::CompatSetting;
use crate::flag::FlagrVersion;
use crate::secret::{Secret, SecretList};
use crate::sync::SyncTiming;
use crate::upstream::{UpstreamTimeouts, UpstreamUrl, UrlError};
use crate::webhook::verify::{KeyError, Verifier};
use crate::webhook::WebhookLimits;

/// vexilla-proxy: answers Flagr's evaluation API locally, exactly as Flagr would.
#[derive(Debug, Parser)]
#[command(name = "vexilla-proxy", version, about)]
pub struct Cli {
    /// TOML file with any of these options (keys as the long flags, `-` or `_`); flags and
    /// environment variables override it.
    #[arg(long, env = "VEXILLA_CONFIG", global = true)]
    pub config: Option<PathBuf>,

    /// Address of the evaluation API.
    #[arg(long, env = "VEXILLA_LISTEN", default_value = "127.0.0.1:18000")]
    pub listen: SocketAddr,

    /// Flagr base URL, e.g. http://flagr:18000 (plain http).
    #[arg(long, env = "VEXILLA_UPSTREAM")]
    pub upstream: Option<String>,

    /// Flags in Flagr's eval-cache export format ({"Flags":[...]}), re-read when it changes.
    /// Without it and without an upstream, the example flags built into the binary are used.
    #[arg(long, env = "VEXILLA_FLAGS_FILE", conflicts_with = "upstream")]
    pub flags_file: Option<PathBuf>,

    /// Flagr version to answer as: 1.1, 1.2, or auto (detected from the upstream; 1.2 for a
    /// flags file).
    #[arg(long, env = "VEXILLA_FLAGR_COMPAT", default_value = "auto")]
    pub flagr_compat: String,

    /// Full re-sync period from the upstream (e.g. 500ms, 10s, 5m; a bare number is seconds).
    #[arg(long, env = "VEXILLA_REFRESH_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub refresh_interval: Duration,

    /// Period of the cheap change check (Flagr 1.2's max_id) and of the flags-file check.
    #[arg(long, env = "VEXILLA_POLL_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub poll_interval: Duration,

    /// Time allowed to connect to the upstream.
    #[arg(long, env = "VEXILLA_UPSTREAM_CONNECT_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub upstream_connect_timeout: Duration,

    /// Time allowed for an upstream answer (sync reads include the body).
    #[arg(long, env = "VEXILLA_UPSTREAM_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub upstream_timeout: Duration,

    /// Largest request body accepted, in bytes (413 past it).
    #[arg(long, env = "VEXILLA_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Flagr's FLAGR_EVAL_BATCH_SIZE: most entities × flags in one batch; 0 means no limit.
    #[arg(long, env = "VEXILLA_EVAL_BATCH_SIZE", default_value_t = 0)]
    pub eval_batch_size: usize,

    /// Flagr's FLAGR_EVAL_DEBUG_ENABLED: whether enableDebug requests get debug logs.
    #[arg(long, env = "VEXILLA_EVAL_DEBUG_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub eval_debug_enabled: bool,

    /// Time in-flight requests get to finish after SIGTERM or SIGINT.
    #[arg(long, env = "VEXILLA_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Address of the webhook listener, its own port. It stays off unless a webhook secret or
    /// token is configured.
    #[arg(long, env = "VEXILLA_WEBHOOK_LISTEN", default_value = "0.0.0.0:18001")]
    pub webhook_listen: SocketAddr,

    /// HMAC-SHA256 key(s) for signed events, comma-separated for rotation; `whsec_<base64>`
    /// keys are decoded (Standard Webhooks).
    #[arg(long, env = "VEXILLA_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<SecretList>,

    /// File holding webhook keys, comma- or newline-separated; re-read when it changes.
    #[arg(long, env = "VEXILLA_WEBHOOK_SECRET_FILE")]
    pub webhook_secret_file: Option<PathBuf>,

    /// Static token for senders that cannot sign (Flagr 1.2's notifier), compared in constant
    /// time.
    #[arg(long, env = "VEXILLA_WEBHOOK_TOKEN", hide_env_values = true)]
    pub webhook_token: Option<Secret>,

    /// Header carrying the token: `authorization` expects `Bearer <token>`, any other header the
    /// bare token.
    #[arg(
        long,
        env = "VEXILLA_WEBHOOK_TOKEN_HEADER",
        default_value = "authorization"
    )]
    pub webhook_token_header: String,

    /// Largest webhook body accepted, in bytes (413 past it).
    #[arg(long, env = "VEXILLA_WEBHOOK_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub webhook_max_body_bytes: usize,

    /// Time a webhook sender gets to send its body (408 past it).
    #[arg(long, env = "VEXILLA_WEBHOOK_READ_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub webhook_read_timeout: Duration,

    /// Webhook requests accepted per second on average, twice that in a burst (429 past it).
    #[arg(long, env = "VEXILLA_WEBHOOK_RATE_LIMIT", default_value_t = 50)]
    pub webhook_rate_limit: u32,

    /// How long a webhook answer waits for the refresh before answering 202 Accepted.
    #[arg(long, env = "VEXILLA_WEBHOOK_RESPONSE_DEADLINE", default_value = "2s", value_parser = parse_duration)]
    pub webhook_response_deadline: Duration,

    /// Address of the admin listener: /live, /ready and /metrics.
    #[arg(
        long,
        env = "VEXILLA_ADMIN_LISTEN",
        default_value = "127.0.0.1:18002",
        global = true
    )]
    pub admin_listen: SocketAddr,

    /// File the flags in force are saved to after upstream syncs, and loaded from at start so
    /// the proxy answers while Flagr is down.
    #[arg(long, env = "VEXILLA_SNAPSHOT_FILE")]
    pub snapshot_file: Option<PathBuf>,

    /// How long changes settle before the snapshot file is written.
    #[arg(long, env = "VEXILLA_SNAPSHOT_DEBOUNCE", default_value = "1s", value_parser = parse_duration)]
    pub snapshot_debounce: Duration,

    /// Time a client gets to send a request body (408 past it).
    #[arg(long, env = "VEXILLA_BODY_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub body_read_timeout: Duration,

    /// Most evaluations (entities × flags) one batch may ask for; a guard beyond Flagr's own
    /// --eval-batch-size, which is off by default.
    #[arg(long, env = "VEXILLA_MAX_BATCH_EVALUATIONS", default_value_t = 100_000)]
    pub max_batch_evaluations: usize,

    /// Largest answer the proxy builds, in bytes; a request that would need more gets a 400.
    #[arg(long, env = "VEXILLA_MAX_RESPONSE_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_response_bytes: usize,

    /// Most client connections open at once on the evaluation API; more wait to be accepted.
    #[arg(long, env = "VEXILLA_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Log format on stderr: `pretty` for people, `json` for one object per line.
    #[arg(long, env = "VEXILLA_LOG_FORMAT", default_value = "pretty", value_parser = ["pretty", "json"])]
    pub log_format: String,

    /// Level of the proxy's own log events (error, warn, info, debug, trace); `RUST_LOG`, when
    /// set, replaces it with a full tracing filter.
    #[arg(long, env = "VEXILLA_LOG_LEVEL", default_value = "info", value_parser = ["error", "warn", "info", "debug", "trace"])]
    pub log_level: String,

    /// Validate the configuration (and the flags file, if any), then exit.
    #[arg(long)]
    pub check_config: bool,

    #[command(subcommand)]
    pub command: Option<Subcommand>,
}

/// What to do instead of running the proxy.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum Subcommand {
    /// Ask a running proxy's /ready on the admin address (exit 0 when ready, 1 otherwise), for
    /// container health checks in images without a shell.
    Healthcheck,
}

/// The webhook listener's settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub listen: SocketAddr,
    pub secrets: Vec<Secret>,
    pub secret_file: Option<PathBuf>,
    pub token: Option<Secret>,
    pub token_header: String,
    pub limits: WebhookLimits,
}

impl WebhookConfig {
    /// Builds the verifier from the configured secrets plus `file_secrets`.
    pub fn verifier(&self, file_secrets: &[Secret]) -> Result<Verifier, KeyError> {
        let mut secrets = self.secrets.clone();
        secrets.extend_from_slice(file_secrets);
        Verifier::new(&secrets, self.token.as_ref(), &self.token_header)
    }
}

/// Why the command line or the config file was refused.
#[derive(Debug, Error)]
pub enum ArgsError {
    /// A command-line or environment error, or `--help`/`--version` (clap prints those).
    #[error(transparent)]
    Clap(#[from] clap::Error),
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
}

/// Parses the command line and environment, then fills what they leave at its default from
/// the `--config` file: flags win over environment variables, which win over the file, which
/// wins over the defaults.
pub fn parse_args<I, T>(args: I) -> Result<Cli, ArgsError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let command = Cli::command();
    let matches = command.clone().try_get_matches_from(&args)?;
    let Some(path) = matches.get_one::<PathBuf>("config").cloned() else {
        return Ok(Cli::from_arg_matches(&matches)?);
    };
    let file_error = |message: String| ArgsError::File {
        path: path.clone(),
        message,
    };

    let text = std::fs::read_to_string(&path).map_err(|e| file_error(e.to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| file_error(e.to_string()))?;
    let mut merged = args.clone();
    let mut file_args: Vec<OsString> = Vec::new();
    for (key, value) in &table {
        let id = key.replace('-', "_");
        let settable = command
            .get_arguments()
            .find(|arg| arg.get_id() == id.as_str() && arg.get_long().is_some())
            .filter(|_| id != "config" && id != "check_config");
        let Some((arg, long)) = settable.and_then(|arg| Some((arg, arg.get_long()?))) else {
            return Err(file_error(format!("unknown key `{key}`")));
        };
        let text = match value {
            toml::Value::Array(items) => items
                .iter()
                .map(scalar_text)
                .collect::<Option<Vec<_>>>()
                .map(|parts| parts.join(",")),
            scalar => scalar_text(scalar),
        };
        let Some(text) = text else {
            let kind = value.type_str();
            return Err(file_error(format!(
                "key `{key}`: a {kind} is not a valid value here"
            )));
        };
        // Check the value alone so a bad one is reported with its key.
        let alone = clap::Command::new("config-file").arg(
            clap::Arg::new("value")
                .long("value")
                .value_parser(arg.get_value_parser().clone()),
        );
        if let Err(error) = alone.try_get_matches_from(["config-file", "--value", text.as_str()]) {
            let reason = error.to_string();
            let reason = reason.lines().next().unwrap_or("invalid value");
            let reason = reason
                .trim_start_matches("error: ")
                .replace("'--value <value>'", &format!("`{key}`"));
            return Err(file_error(format!("key `{key}`: {reason}")));
        }
        let given = matches!(
            matches.value_source(&id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        if !given {
            // Before everything the user typed, so a subcommand stays last.
            file_args.push(format!("--{long}").into());
            file_args.push(text.into());
        }
    }
    merged.splice(1..1, file_args);
    Ok(Cli::try_parse_from(merged)?)
}

/// A TOML string, integer or boolean as command-line text.
fn scalar_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(text) => Some(text.clone()),
        toml::Value::Integer(number) => Some(number.to_string()),
        toml::Value::Boolean(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// Where flags come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagsSource {
    Upstream(UpstreamUrl),
    File(PathBuf),
    /// The example flags built into the binary.
    Embedded,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub source: FlagsSource,
    pub compat: CompatSetting,
    pub timing: SyncTiming,
    pub upstream_timeouts: UpstreamTimeouts,
    pub limits: ApiLimits,
    pub debug_enabled: bool,
    pub shutdown_grace: Duration,
    pub webhook: WebhookConfig,
    pub admin_listen: SocketAddr,
    pub snapshot_file: Option<PathBuf>,
    pub snapshot_debounce: Duration,
    pub max_connections: usize,
    pub check_only: bool,
    pub healthcheck: bool,
    /// Logs as JSON lines rather than for people.
    pub log_json: bool,
    /// The default tracing filter: warnings from everything, `log_level` from the proxy.
    pub log_filter: String,
}

/// Why a configuration was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("--flagr-compat must be 1.1, 1.2 or auto, got {0:?}")]
    Compat(String),
    #[error("--upstream: {0}")]
    Upstream(#[from] UrlError),
    #[error("{0} must be greater than zero")]
    ZeroDuration(&'static str),
    #[error("--max-body-bytes must be at least 1024")]
    BodyLimit,
    #[error("webhook keys: {0}")]
    WebhookKeys(#[from] KeyError),
    #[error("--listen, --webhook-listen and --admin-listen must be three different addresses")]
    SharedPort,
    #[error("--webhook-max-body-bytes must be at least 256 and --webhook-rate-limit at least 1")]
    WebhookLimits,
}

impl Config {
    /// Validates parsed arguments.
    pub fn from_cli(cli: Cli) -> Result<Config, ConfigError> {
        let compat = match cli.flagr_compat.as_str() {
            "auto" => CompatSetting::Auto,
            "1.1" => CompatSetting::Fixed(FlagrVersion::V1_1),
            "1.2" => CompatSetting::Fixed(FlagrVersion::V1_2),
            other => return Err(ConfigError::Compat(other.to_string())),
        };
        let source = match (cli.upstream, cli.flags_file) {
            (Some(url), _) => FlagsSource::Upstream(UpstreamUrl::parse(&url)?),
            (None, Some(path)) => FlagsSource::File(path),
            (None, None) => FlagsSource::Embedded,
        };
        for (name, value) in [
            ("--refresh-interval", cli.refresh_interval),
            ("--poll-interval", cli.poll_interval),
            ("--upstream-connect-timeout", cli.upstream_connect_timeout),
            ("--upstream-timeout", cli.upstream_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::ZeroDuration(name));
            }
        }
        if cli.max_body_bytes < 1024 {
            return Err(ConfigError::BodyLimit);
        }
        let ports = [cli.listen, cli.webhook_listen, cli.admin_listen];
        let shared =
            (0..3).any(|i| (i + 1..3).any(|j| ports[i] == ports[j] && ports[i].port() != 0));
        if shared {
            return Err(ConfigError::SharedPort);
        }
        if cli.body_read_timeout.is_zero() {
            return Err(ConfigError::ZeroDuration("--body-read-timeout"));
        }
        if cli.webhook_max_body_bytes < 256 || cli.webhook_rate_limit == 0 {
            return Err(ConfigError::WebhookLimits);
        }
        if cli.webhook_read_timeout.is_zero() || cli.webhook_response_deadline.is_zero() {
            return Err(ConfigError::ZeroDuration(
                "--webhook-read-timeout and --webhook-response-deadline",
            ));
        }
        let webhook = WebhookConfig {
            listen: cli.webhook_listen,
            secrets: cli.webhook_secret.map(|list| list.0).unwrap_or_default(),
            secret_file: cli.webhook_secret_file,
            token: cli.webhook_token,
            token_header: cli.webhook_token_header,
            limits: WebhookLimits {
                max_body_bytes: cli.webhook_max_body_bytes,
                read_timeout: cli.webhook_read_timeout,
                rate_per_second: cli.webhook_rate_limit,
                response_deadline: cli.webhook_response_deadline,
            },
        };
        webhook.verifier(&[])?;
        Ok(Config {
            listen: cli.listen,
            source,
            compat,
            timing: SyncTiming {
                refresh_interval: cli.refresh_interval,
                poll_interval: cli.poll_interval,
            },
            upstream_timeouts: UpstreamTimeouts {
                connect: cli.upstream_connect_timeout,
                request: cli.upstream_timeout,
            },
            limits: ApiLimits {
                max_body_bytes: cli.max_body_bytes,
                max_batch_size: cli.eval_batch_size,
                body_read_timeout: cli.body_read_timeout,
                max_batch_evaluations: cli.max_batch_evaluations.max(1),
                max_response_bytes: cli.max_response_bytes.max(64 * 1024),
                ..ApiLimits::default()
            },
            debug_enabled: cli.eval_debug_enabled,
            shutdown_grace: cli.shutdown_grace,
            webhook,
            admin_listen: cli.admin_listen,
            snapshot_file: cli.snapshot_file,
            snapshot_debounce: cli.snapshot_debounce,
            max_connections: cli.max_connections.max(1),
            check_only: cli.check_config,
            healthcheck: cli.command == Some(Subcommand::Healthcheck),
            log_json: cli.log_format == "json",
            log_filter: format!("warn,vexilla_proxy={}", cli.log_level),
        })
    }

    /// The version flags are compiled and answered with before any upstream is asked: the
    /// fixed one, or 1.2 under `auto`.
    pub fn initial_version(&self) -> FlagrVersion {
        match self.compat {
            CompatSetting::Fixed(version) => version,
            CompatSetting::Auto => FlagrVersion::V1_2,
        }
    }
}

/// Parses `250ms`, `10s`, `5m`, `1h` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 10s, 5m or 1h"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(value),
        "" | "s" => Duration::from_secs(value),
        "m" => Duration::from_secs(value.saturating_mul(60)),
        "h" => Duration::from_secs(value.saturating_mul(3600)),
        _ => return Err(format!("{text:?} has an unknown unit; use ms, s, m or h")),
    };
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let mut argv = vec!["vexilla-proxy"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        Config::from_cli(cli).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_run_on_the_embedded_flags() {
        let config = parse(&[]).expect("defaults are valid");
        assert_eq!(config.listen, "127.0.0.1:18000".parse().expect("addr"));
        assert_eq!(config.source, FlagsSource::Embedded);
        assert_eq!(config.compat, CompatSetting::Auto);
        assert_eq!(config.initial_version(), FlagrVersion::V1_2);
        assert_eq!(config.timing.refresh_interval, Duration::from_secs(30));
    }

    #[test]
    fn reads_every_setting() {
        let config = parse(&[
            "--listen",
            "0.0.0.0:9000",
            "--upstream",
            "http://flagr:18000",
            "--flagr-compat",
            "1.1",
            "--refresh-interval",
            "500ms",
            "--eval-batch-size",
            "10",
            "--eval-debug-enabled",
            "false",
        ])
        .expect("valid");
        assert_eq!(config.compat, CompatSetting::Fixed(FlagrVersion::V1_1));
        assert!(
            matches!(config.source, FlagsSource::Upstream(ref url) if url.authority == "flagr:18000")
        );
        assert_eq!(config.timing.refresh_interval, Duration::from_millis(500));
        assert_eq!(config.limits.max_batch_size, 10);
        assert!(!config.debug_enabled);
    }

    #[test]
    fn refuses_bad_settings() {
        let check = |args: &[&str]| assert!(parse(args).is_err(), "{args:?}");
        check(&["--flagr-compat", "1.3"]);
        check(&["--upstream", "https://flagr"]);
        check(&["--upstream", "http://a", "--flags-file", "f.json"]);
        check(&["--refresh-interval", "0s"]);
        check(&["--refresh-interval", "ten"]);
        check(&["--listen", "nowhere"]);
        check(&["--max-body-bytes", "10"]);
        check(&["--webhook-secret", "whsec_not base64"]);
        check(&["--webhook-secret", " , "]);
        check(&[
            "--webhook-token",
            "t",
            "--webhook-token-header",
            "bad header",
        ]);
        check(&[
            "--listen",
            "127.0.0.1:9000",
            "--webhook-listen",
            "127.0.0.1:9000",
        ]);
    }

    #[test]
    fn webhook_settings_and_redaction() {
        let config = parse(&[
            "--webhook-secret",
            "old-key,new-key",
            "--webhook-token",
            "tok-123",
            "--webhook-listen",
            "127.0.0.1:9001",
            "--webhook-rate-limit",
            "5",
        ])
        .expect("valid");
        assert_eq!(config.webhook.secrets.len(), 2);
        assert_eq!(config.webhook.listen.port(), 9001);
        assert_eq!(config.webhook.limits.rate_per_second, 5);
        assert_eq!(config.webhook.limits.max_body_bytes, 64 * 1024);
        let printed = format!("{config:?}");
        for secret in ["old-key", "new-key", "tok-123"] {
            assert!(!printed.contains(secret), "{secret} leaked into {printed}");
        }
        let cli =
            Cli::try_parse_from(["vexilla-proxy", "--webhook-token", "tok-123"]).expect("parses");
        assert!(!format!("{cli:?}").contains("tok-123"));
    }

    fn config_file(name: &str, text: &str) -> std::path::PathBuf {
        // Tests run in parallel: every file gets its own name.
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let unique = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "vexilla-config-test-{}-{unique}-{name}",
            std::process::id()
        ));
        std::fs::write(&path, text).expect("config written");
        path
    }

    fn parse_with_file(text: &str, args: &[&str]) -> Result<Cli, String> {
        let path = config_file("options.toml", text);
        let mut argv = vec![
            "vexilla-proxy".to_string(),
            "--config".into(),
            path.display().to_string(),
        ];
        argv.extend(args.iter().map(|a| a.to_string()));
        let result = parse_args(argv).map_err(|e| e.to_string());
        let _ = std::fs::remove_file(path);
        result
    }

    #[test]
    fn the_config_file_fills_what_flags_leave_at_default() {
        let cli = parse_with_file(
            "listen = \"127.0.0.1:9100\"\nrefresh-interval = \"5s\"\nwebhook_secret = [\"a\", \"b\"]\neval_debug_enabled = false\n",
            &["--refresh-interval", "7s"],
        )
        .expect("valid");
        assert_eq!(cli.listen, "127.0.0.1:9100".parse().expect("addr"));
        assert_eq!(
            cli.refresh_interval,
            Duration::from_secs(7),
            "the flag wins over the file"
        );
        assert_eq!(cli.webhook_secret.map(|list| list.0.len()), Some(2));
        assert!(!cli.eval_debug_enabled);
    }

    #[test]
    fn the_example_config_file_is_valid_and_complete() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/vexilla.toml");
        let text = std::fs::read_to_string(&path).expect("example config");
        let cli = parse_args(["vexilla-proxy", "--config", path.to_str().expect("utf-8")])
            .expect("valid");
        Config::from_cli(cli).expect("a valid configuration");
        // Every option is in the example, set or commented out.
        for arg in Cli::command().get_arguments() {
            let id = arg.get_id().as_str();
            if id == "config" || id == "check_config" || arg.get_long().is_none() {
                continue;
            }
            assert!(
                text.contains(&format!("{id} =")),
                "config/vexilla.toml lacks {id}"
            );
        }
    }

    #[test]
    fn config_file_errors_name_the_key() {
        let check = |text: &str, needle: &str| {
            let error = parse_with_file(text, &[]).expect_err(text);
            assert!(error.contains(needle), "{error:?} should mention {needle}");
        };
        check("lisen = \"127.0.0.1:1\"", "unknown key `lisen`");
        check("listen = \"nowhere\"", "key `listen`");
        check("max_body_bytes = \"lots\"", "key `max_body_bytes`");
        check("refresh_interval = 1.5", "key `refresh_interval`");
        check("check_config = true", "unknown key `check_config`");
        check("listen = ", "config file");
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("1d").is_err());
        assert!(parse_duration("").is_err());
    }
}
