//! Drives the proxy with Flagr's own generated client library (the PyPI package `flagr`):
//! health, single and batch evaluation decoded by the client and checked against the example
//! flags. The package is installed under Cargo's temporary directory on first use.

mod common;

use std::path::Path;
use std::process::Command;

const FLAGR_CLIENT: &str = "flagr==1.1.10";

fn install_client(target: &Path) {
    if target.join("flagr").join("__init__.py").exists() {
        return;
    }
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(target)
        .arg(FLAGR_CLIENT)
        .status()
        .expect("python3 with pip is installed (see the README)");
    assert!(status.success(), "pip could not install {FLAGR_CLIENT}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flagr_python_client_gets_correct_answers() {
    let site = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pydeps");
    install_client(&site);
    let proxy = common::start_proxy(&[]).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/flagr_client_check.py");
    let url = format!("http://{}", proxy.api_address);

    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg(url)
            .env("PYTHONPATH", site)
            .output()
            .expect("python3 runs")
    })
    .await
    .expect("the client check finishes");

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "client check failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("ok batch eu-1: new-checkout"),
        "all checks ran:\n{stdout}"
    );
    proxy.shutdown().await;
}
