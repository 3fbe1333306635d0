//! Drives the proxy with the client libraries real users have, unchanged: Flagr's generated
//! Python client (PyPI `flagr`) and TypeScript client (npm `flagr-client`). Each checks
//! health, single and batch evaluation against the example flags, and a pass-through call
//! (listing flags) to a fake Flagr. The packages are installed under Cargo's temporary
//! directory on first use.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

const PYTHON_CLIENT: &str = "flagr==1.1.10";
const NODE_CLIENT: &str = "flagr-client@1.1.13";

fn install_python_client(target: &Path) {
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
        .arg(PYTHON_CLIENT)
        .status()
        .expect("python3 with pip is installed (see the README)");
    assert!(status.success(), "pip could not install {PYTHON_CLIENT}");
}

fn install_node_client(prefix: &Path) {
    if prefix
        .join("node_modules/flagr-client/dist/index.js")
        .exists()
    {
        return;
    }
    std::fs::create_dir_all(prefix).expect("install folder");
    let status = Command::new("npm")
        .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
        .arg(prefix)
        .arg(NODE_CLIENT)
        .status()
        .expect("node with npm is installed (see the README)");
    assert!(status.success(), "npm could not install {NODE_CLIENT}");
}

/// A proxy on the example flags and one in front of a fake Flagr listing one flag.
async fn proxies() -> (
    vexilla_proxy::Proxy,
    vexilla_proxy::Proxy,
    common::FakeFlagr,
) {
    let embedded = common::start_proxy(&[]).await;
    let flagr = common::FakeFlagr::start(r#"{"Flags":[]}"#, Some(1)).await;
    let listed = json!([{"id": 1, "key": "listed-by-flagr", "description": "a flag Flagr lists", "enabled": true,
        "tags": [], "segments": [], "variants": [], "dataRecordsEnabled": false}]);
    flagr.route("/api/v1/flags", &listed.to_string());
    let url = flagr.url();
    let fronting = common::start_proxy(&["--upstream", &url]).await;
    (embedded, fronting, flagr)
}

fn run_check(mut command: Command) -> String {
    let output = command.output().expect("the client check runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "client check failed:\n{stdout}\n{stderr}"
    );
    stdout
}

fn tmp(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flagr_python_client_gets_correct_answers() {
    let site = tmp("pydeps");
    install_python_client(&site);
    let (embedded, fronting, flagr) = proxies().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/flagr_client_check.py");
    let mut command = Command::new("python3");
    command
        .arg(script)
        .arg(format!("http://{}", embedded.api_address))
        .arg(format!("http://{}", fronting.api_address))
        .env("PYTHONPATH", site);
    let stdout = tokio::task::spawn_blocking(move || run_check(command))
        .await
        .expect("join");
    assert!(
        stdout.contains("ok pass-through: flags listed by Flagr"),
        "all checks ran:\n{stdout}"
    );
    embedded.shutdown().await;
    fronting.shutdown().await;
    flagr.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flagr_typescript_client_gets_correct_answers() {
    let prefix = tmp("nodedeps");
    install_node_client(&prefix);
    let (embedded, fronting, flagr) = proxies().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node/flagr_client_check.js");
    let mut command = Command::new("node");
    command
        .arg(script)
        .arg(format!("http://{}", embedded.api_address))
        .arg(format!("http://{}", fronting.api_address))
        .env("NODE_PATH", prefix.join("node_modules"));
    let stdout = tokio::task::spawn_blocking(move || run_check(command))
        .await
        .expect("join");
    assert!(
        stdout.contains("ok pass-through: flags listed by Flagr"),
        "all checks ran:\n{stdout}"
    );
    embedded.shutdown().await;
    fronting.shutdown().await;
    flagr.stop();
}
