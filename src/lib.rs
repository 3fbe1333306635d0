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

pub mod api;
pub mod compat;
pub mod config;
pub mod cors;
pub mod eval;
pub mod expr;
pub mod flag;
pub mod flagr;
pub mod json;
pub mod request;
pub mod response;
pub mod server;
pub mod store;
pub mod sync;
pub mod upstream;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

use crate::api::Api;
use crate::compat::Compat;
use crate::config::{Config, FlagsSource};
use crate::flag::FlagSource;
use crate::store::FlagStore;
use crate::sync::LoadError;
use crate::upstream::Upstream;

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
}

/// A running proxy.
pub struct Proxy {
    /// Where the evaluation API listens.
    pub api_address: SocketAddr,
    /// The flags in force.
    pub store: Arc<FlagStore>,
    /// The Flagr version answers follow.
    pub compat: Arc<Compat>,
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

/// Starts the proxy: initial flags, the listener, the sync task.
pub async fn start(config: Config) -> Result<Proxy, StartError> {
    let store = Arc::new(FlagStore::new());
    let compat = Arc::new(Compat::new(config.initial_version()));
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = Vec::new();

    if let Some(count) = check_flags(&config, &store)? {
        info!(flags = count, source = ?config.source, "flags loaded");
    }
    let upstream = match &config.source {
        FlagsSource::Upstream(url) => Some(Upstream::new(url.clone(), config.upstream_timeouts)),
        _ => None,
    };

    let listener = server::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            address: config.listen,
            source,
        })?;
    let api_address = listener.local_addr().map_err(|source| StartError::Bind {
        address: config.listen,
        source,
    })?;
    info!(address = %api_address, "evaluation API listening");

    match (&config.source, &upstream) {
        (FlagsSource::Upstream(_), Some(upstream)) => {
            tasks.push(tokio::spawn(sync::run_upstream(
                upstream.clone(),
                store.clone(),
                compat.clone(),
                config.compat,
                config.timing,
                shutdown_rx.clone(),
            )));
        }
        (FlagsSource::File(path), _) => {
            tasks.push(tokio::spawn(sync::run_file(
                path.clone(),
                store.clone(),
                config.initial_version(),
                config.timing.poll_interval,
                shutdown_rx.clone(),
            )));
        }
        _ => {}
    }

    let api = Arc::new(Api {
        store: store.clone(),
        compat: compat.clone(),
        upstream,
        limits: config.limits,
        debug_enabled: config.debug_enabled,
    });
    tasks.push(tokio::spawn(server::serve(
        listener,
        api,
        shutdown_rx,
        config.shutdown_grace,
    )));

    Ok(Proxy {
        api_address,
        store,
        compat,
        shutdown,
        tasks,
    })
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
