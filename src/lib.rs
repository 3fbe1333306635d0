//! vexilla-proxy answers Flagr's evaluation API locally, exactly as Flagr would, from flags it
//! holds in memory and keeps in step with Flagr.
//!
//! Layout:
//! - `config`: the command line and environment, validated into a `Config`.
//! - `flagr`: Flagr's eval-cache export format; `flag`: flags compiled for evaluation.
//! - `expr`: Flagr's constraint language (both the 1.1 and 1.2 dialects).
//! - `json`: JSON read and written exactly as Flagr's Go server does.
//! - `store`: the flags in force (moka), by ID, key and tag.
//! - `eval`: evaluation of one flag for one entity; `request` / `response`: its JSON forms.
//! - `api`: the HTTP routes, with `cors` for browser callers; `server`: the accept loop; `upstream`: the client to Flagr.
//! - `sync`: full sync, change polling and flags-file reloads; `compat`: the version in force.
//! - `admin`: `/live`, `/ready`, `/metrics`; `telemetry`: the counters behind them;
//!   `snapshot`: the flags saved for a cold start without Flagr.
//! - `alloc`: the global allocator (mimalloc), the crate's only unsafe code.
//! - `webhook`: the `/webhook` listener (verification, event parsing); `refresh`: the
//!   per-flag re-fetch behind it; `secret`: keys and tokens that never print.

#![deny(unsafe_code)]

pub mod admin;
pub mod alloc;
pub mod api;
pub mod compat;
pub mod config;
pub mod cors;
pub mod eval;
pub mod expr;
pub mod flag;
pub mod flagr;
pub mod http;
pub mod json;
pub mod refresh;
pub mod request;
pub mod response;
pub mod secret;
pub mod server;
pub mod snapshot;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod upstream;
pub mod webhook;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::admin::Admin;
use crate::api::Api;
use crate::compat::{Compat, CompatSetting};
use crate::config::{Config, FlagsSource, WebhookConfig};
use crate::flag::FlagSource;
use crate::refresh::{RefreshSource, Refresher, RetryPolicy};
use crate::secret::Secret;
use crate::store::FlagStore;
use crate::sync::LoadError;
use crate::telemetry::{LoadedFrom, Telemetry};
use crate::upstream::Upstream;
use crate::webhook::verify::KeyError;
use crate::webhook::Webhook;

/// The example flags built into the binary (`config/flags.json`).
pub const EMBEDDED_FLAGS: &[u8] = include_bytes!("../config/flags.json");

/// Why the proxy could not start.
#[derive(Debug, Error)]
pub enum StartError {
    #[error("loading flags failed: {0}")]
    Flags(#[from] LoadError),
    #[error("binding {address} failed: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the webhook secret file {path} failed: {source}")]
    SecretFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("webhook keys: {0}")]
    WebhookKeys(#[from] KeyError),
}

/// A running proxy.
pub struct Proxy {
    /// Where the evaluation API listens.
    pub api_address: SocketAddr,
    /// The flags in force.
    pub store: Arc<FlagStore>,
    /// The Flagr version answers follow.
    pub compat: Arc<Compat>,
    /// Where the admin listener listens.
    pub admin_address: SocketAddr,
    /// The proxy's counters.
    pub telemetry: Arc<Telemetry>,
    /// Where the webhook listener listens, when it is on.
    pub webhook_address: Option<SocketAddr>,
    /// The webhook endpoint, when it is on.
    pub webhook: Option<Arc<Webhook>>,
    /// The per-flag refresher behind the webhook.
    pub refresher: Arc<Refresher>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Proxy {
    /// Stops accepting, drains connections within the grace period and stops syncing.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Loads the initial flags the configuration names, without starting anything. Used by
/// `--check-config` and at start.
pub fn check_flags(config: &Config, store: &FlagStore) -> Result<Option<usize>, LoadError> {
    let version = config.initial_version();
    let loaded = match &config.source {
        FlagsSource::Embedded => {
            sync::load_document(EMBEDDED_FLAGS, store, version, FlagSource::File)?
        }
        FlagsSource::File(path) => sync::load_file(path, store, version)?,
        FlagsSource::Upstream(_) => return Ok(None),
    };
    Ok(Some(loaded.0))
}

/// Starts the proxy: initial flags, the listeners, the sync and snapshot tasks.
pub async fn start(config: Config) -> Result<Proxy, StartError> {
    let store = Arc::new(FlagStore::new());
    let compat = Arc::new(match (&config.source, config.compat) {
        (FlagsSource::Upstream(_), CompatSetting::Auto) => Compat::undecided(),
        _ => Compat::new(config.initial_version()),
    });
    let telemetry = Arc::new(Telemetry::default());
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = Vec::new();

    if let Some(count) = check_flags(&config, &store)? {
        match &config.source {
            FlagsSource::File(path) => {
                telemetry.loaded(LoadedFrom::File);
                info!(flags = count, source = "file", path = %path.display(), "flags loaded");
            }
            _ => {
                telemetry.loaded(LoadedFrom::Embedded);
                info!(flags = count, source = "embedded", "flags loaded");
            }
        }
    }
    let upstream = match &config.source {
        FlagsSource::Upstream(url) => Some(
            Upstream::new(url.clone(), config.upstream_timeouts).with_telemetry(telemetry.clone()),
        ),
        _ => None,
    };
    if let (Some(path), Some(_)) = (&config.snapshot_file, &upstream) {
        let configured = match config.compat {
            CompatSetting::Fixed(version) => Some(version),
            CompatSetting::Auto => None,
        };
        if let Some(version) = snapshot::load_at_start(path, &store, configured) {
            telemetry.loaded(LoadedFrom::Snapshot);
            if config.compat == CompatSetting::Auto {
                compat.set(version);
            }
        }
    }

    let listener = bind(config.listen).await?;
    let api_address = local_address(&listener, config.listen)?;
    info!(address = %api_address, "evaluation API listening");

    match (&config.source, &upstream) {
        (FlagsSource::Upstream(_), Some(upstream)) => {
            tasks.push(tokio::spawn(sync::run_upstream(
                upstream.clone(),
                store.clone(),
                compat.clone(),
                config.compat,
                config.timing,
                telemetry.clone(),
                shutdown_rx.clone(),
            )));
            if let Some(path) = &config.snapshot_file {
                let version_source = compat.clone();
                tasks.push(tokio::spawn(snapshot::run_saver(
                    path.clone(),
                    store.clone(),
                    move || version_source.version(),
                    telemetry.clone(),
                    config.snapshot_debounce,
                    shutdown_rx.clone(),
                )));
            }
        }
        (FlagsSource::File(path), _) => {
            tasks.push(tokio::spawn(sync::run_file(
                path.clone(),
                store.clone(),
                config.initial_version(),
                config.timing.poll_interval,
                telemetry.clone(),
                shutdown_rx.clone(),
            )));
        }
        _ => {}
    }

    let refresh_source = match (&config.source, &upstream) {
        (FlagsSource::Upstream(_), Some(upstream)) => RefreshSource::Upstream(upstream.clone()),
        (FlagsSource::File(path), _) => RefreshSource::File(path.clone()),
        _ => RefreshSource::Embedded,
    };
    let refresher = Arc::new(Refresher::new(
        refresh_source,
        store.clone(),
        compat.clone(),
        RetryPolicy::default(),
    ));

    let api = Arc::new(Api {
        store: store.clone(),
        compat: compat.clone(),
        upstream,
        limits: config.limits,
        debug_enabled: config.debug_enabled,
        telemetry: telemetry.clone(),
    });
    let handler = move |request| api.clone().handle(request);
    tasks.push(tokio::spawn(server::serve(
        "api",
        listener,
        handler,
        config.max_connections,
        shutdown_rx.clone(),
        config.shutdown_grace,
    )));

    let (webhook, webhook_address) = start_webhook(
        &config.webhook,
        refresher.clone(),
        &shutdown_rx,
        config.shutdown_grace,
        &mut tasks,
    )
    .await?;

    let admin_listener = bind(config.admin_listen).await?;
    let admin_address = local_address(&admin_listener, config.admin_listen)?;
    info!(address = %admin_address, "admin listener on (/live, /ready, /metrics)");
    let admin = Arc::new(Admin {
        store: store.clone(),
        compat: compat.clone(),
        telemetry: telemetry.clone(),
        webhook: webhook.clone(),
    });
    let handler = move |request| admin.clone().handle(request);
    tasks.push(tokio::spawn(server::serve(
        "admin",
        admin_listener,
        handler,
        ADMIN_CONNECTIONS,
        shutdown_rx.clone(),
        config.shutdown_grace,
    )));

    Ok(Proxy {
        api_address,
        admin_address,
        store,
        compat,
        telemetry,
        webhook_address,
        webhook,
        refresher,
        shutdown,
        tasks,
    })
}

/// Connections the admin and webhook listeners take at once: their callers are few.
const ADMIN_CONNECTIONS: usize = 64;
const WEBHOOK_CONNECTIONS: usize = 256;

async fn bind(address: SocketAddr) -> Result<tokio::net::TcpListener, StartError> {
    server::bind(address)
        .await
        .map_err(|source| StartError::Bind { address, source })
}

fn local_address(
    listener: &tokio::net::TcpListener,
    asked: SocketAddr,
) -> Result<SocketAddr, StartError> {
    listener.local_addr().map_err(|source| StartError::Bind {
        address: asked,
        source,
    })
}

/// Starts the webhook listener when a key or token is configured.
async fn start_webhook(
    config: &WebhookConfig,
    refresher: Arc<Refresher>,
    shutdown: &watch::Receiver<bool>,
    grace: Duration,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<(Option<Arc<Webhook>>, Option<SocketAddr>), StartError> {
    let file_secrets = match &config.secret_file {
        Some(path) => read_secret_file(path)?,
        None => Vec::new(),
    };
    let verifier = config.verifier(&file_secrets)?;
    if !verifier.is_configured() {
        info!("webhook listener off: no --webhook-secret, --webhook-secret-file or --webhook-token is set");
        return Ok((None, None));
    }

    let listener = bind(config.listen).await?;
    let address = local_address(&listener, config.listen)?;
    info!(address = %address, "webhook listener on");

    let webhook = Arc::new(Webhook::new(verifier, refresher, config.limits));
    let endpoint = webhook.clone();
    let handler = move |request| endpoint.clone().handle(request);
    tasks.push(tokio::spawn(server::serve(
        "webhook",
        listener,
        handler,
        WEBHOOK_CONNECTIONS,
        shutdown.clone(),
        grace,
    )));
    if let Some(path) = &config.secret_file {
        tasks.push(tokio::spawn(watch_secret_file(
            path.clone(),
            config.clone(),
            webhook.clone(),
            shutdown.clone(),
        )));
    }
    Ok((Some(webhook), Some(address)))
}

/// Checks the webhook keys the configuration names, the secret file included, without
/// starting anything. Used by `--check-config`.
pub fn check_webhook(config: &WebhookConfig) -> Result<(), StartError> {
    let file_secrets = match &config.secret_file {
        Some(path) => read_secret_file(path)?,
        None => Vec::new(),
    };
    config.verifier(&file_secrets)?;
    Ok(())
}

fn read_secret_file(path: &std::path::Path) -> Result<Vec<Secret>, StartError> {
    let text = std::fs::read_to_string(path).map_err(|source| StartError::SecretFile {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(secret::split_secrets(&text))
}

/// Puts the keys of the secret file in force again whenever the file changes.
async fn watch_secret_file(
    path: PathBuf,
    config: WebhookConfig,
    webhook: Arc<Webhook>,
    mut shutdown: watch::Receiver<bool>,
) {
    let stamp = |path: &std::path::Path| -> Option<(u64, SystemTime)> {
        let metadata = std::fs::metadata(path).ok()?;
        Some((metadata.len(), metadata.modified().ok()?))
    };
    let mut seen = stamp(&path);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
        let now = stamp(&path);
        if now == seen {
            continue;
        }
        seen = now;
        let verifier = read_secret_file(&path).and_then(|secrets| Ok(config.verifier(&secrets)?));
        match verifier {
            Ok(verifier) => {
                webhook.set_verifier(verifier);
                info!(path = %path.display(), "webhook keys reloaded");
            }
            Err(error) => {
                warn!(path = %path.display(), error = %error, "webhook secret file refused; keeping the keys in force")
            }
        }
    }
}

/// Runs the proxy until `signal` completes, then shuts it down gracefully.
pub async fn run(config: Config, signal: impl Future<Output = ()>) -> Result<(), StartError> {
    let proxy = start(config).await?;
    signal.await;
    info!("shutdown signal received");
    proxy.shutdown().await;
    info!("shutdown done");
    Ok(())
}
