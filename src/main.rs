//! The `vexilla-proxy` binary: parse the configuration, set up logging, run until SIGTERM or
//! SIGINT.

#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use tracing_subscriber::EnvFilter;

use vexilla_proxy::config::{self, ArgsError, Config};
use vexilla_proxy::store::FlagStore;

/// mimalloc rather than the C library's allocator: flags are millions of small objects, and
/// requests allocate and free small buffers all the time (measured in the README).
#[global_allocator]
static ALLOCATOR: vexilla_proxy::alloc::Allocator = vexilla_proxy::alloc::Allocator;

fn main() -> ExitCode {
    let cli = match config::parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(ArgsError::Clap(error)) => {
            // --help and --version end here too, successfully; every other parse error is a
            // configuration error.
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { 64 } else { 0 });
        }
        Err(error) => {
            eprintln!("vexilla-proxy: invalid configuration: {error}");
            return ExitCode::from(64);
        }
    };
    let config = match Config::from_cli(cli) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("vexilla-proxy: invalid configuration: {error}");
            return ExitCode::from(64);
        }
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log_filter));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_json {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::stderr().is_terminal()).init();
    }

    if config.healthcheck {
        let ready = vexilla_proxy::admin::probe_ready(config.admin_listen, Duration::from_secs(2));
        return if ready {
            eprintln!("vexilla-proxy: ready ({})", config.admin_listen);
            ExitCode::SUCCESS
        } else {
            let address = config.admin_listen;
            eprintln!("vexilla-proxy: not ready, or nothing answers /ready on {address}");
            ExitCode::FAILURE
        };
    }

    if config.check_only {
        if let Err(error) = vexilla_proxy::check_webhook(&config.webhook) {
            eprintln!("vexilla-proxy: {error}");
            return ExitCode::from(65);
        }
        return match vexilla_proxy::check_flags(&config, &FlagStore::new()) {
            Ok(count) => {
                let flags = count.map_or("flags come from the upstream".to_string(), |n| {
                    format!("{n} flags")
                });
                eprintln!("vexilla-proxy: configuration is valid ({flags})");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("vexilla-proxy: {error}");
                ExitCode::from(65)
            }
        };
    }

    // Request bodies may nest 10000 levels deep, as Flagr's decoder allows; dropping, cloning
    // and formatting such values recurses, so worker threads get room for it.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(16 * 1024 * 1024)
        .build()
        .expect("the tokio runtime starts on any supported OS");
    match runtime.block_on(vexilla_proxy::run(config, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error, "vexilla-proxy could not start");
            ExitCode::FAILURE
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(terminate) => terminate,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
