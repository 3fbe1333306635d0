//! The command line as users meet it: the README's option table against `--help` (so they
//! cannot drift), precedence of flags over environment over the config file, and exit codes.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::CommandFactory;

use vexilla_proxy::config::Cli;

/// The rows of the README's configuration table: (flag, env, default cell).
fn readme_options() -> Vec<(String, String, String)> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README readable");
    let section = readme
        .split("## Configuration")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a Configuration section");
    section
        .lines()
        .filter(|line| line.starts_with("| `--"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let unquote = |cell: &str| cell.trim_matches('`').to_string();
            (unquote(cells[1]), unquote(cells[2]), cells[3].to_string())
        })
        .collect()
}

#[test]
fn the_readme_option_table_matches_help() {
    let rows = readme_options();
    let command = Cli::command();
    let mut documented = 0;
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else {
            continue;
        };
        let flag = format!("--{long}");
        let row = rows
            .iter()
            .find(|(name, _, _)| *name == flag)
            .unwrap_or_else(|| panic!("{flag} is missing from the README's option table"));
        let env = arg
            .get_env()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        assert_eq!(row.1, env, "{flag}: environment variable");
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|d| d.to_string_lossy().into_owned())
            .collect();
        if let Some(default) = defaults.first() {
            assert!(
                row.2.contains(&format!("`{default}`")),
                "{flag}: README default {:?}, --help {default:?}",
                row.2
            );
        }
        documented += 1;
    }
    assert_eq!(
        documented,
        rows.len(),
        "the README lists options --help does not have"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A started proxy, stopped when dropped, so a failing assertion leaves no process behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[String], env: &[(&str, String)]) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vexilla-proxy"));
    command
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    Running(command.spawn().expect("binary starts"))
}

/// `address` once it accepts connections, within a few seconds.
fn answering_at(address: std::net::SocketAddr) -> Option<std::net::SocketAddr> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(address).is_ok() {
            return Some(address);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Which of `ports` answers first, within a few seconds.
fn answering(ports: &[u16]) -> Option<u16> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(port) = ports
            .iter()
            .find(|p| TcpStream::connect(("127.0.0.1", **p)).is_ok())
        {
            return Some(*port);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn flags_beat_environment_which_beats_the_config_file() {
    let (file_port, env_port, flag_port) = (free_port(), free_port(), free_port());
    let config = std::env::temp_dir().join(format!("vexilla-cli-{}.toml", std::process::id()));
    let admin = free_port();
    std::fs::write(
        &config,
        format!("listen = \"127.0.0.1:{file_port}\"\nadmin_listen = \"127.0.0.1:{admin}\"\n"),
    )
    .expect("config written");
    let base = vec!["--config".to_string(), config.display().to_string()];
    // Each step waits for its own port only: a port of another step may meanwhile be reused
    // by a server of another test, and would answer for the wrong reason.

    let child = spawn(&base, &[]);
    assert_eq!(answering(&[file_port]), Some(file_port), "the file applies");
    drop(child);

    let child = spawn(
        &base,
        &[("VEXILLA_LISTEN", format!("127.0.0.1:{env_port}"))],
    );
    assert_eq!(
        answering(&[env_port]),
        Some(env_port),
        "the environment beats the file"
    );
    drop(child);

    let mut with_flag = base.clone();
    with_flag.extend(["--listen".to_string(), format!("127.0.0.1:{flag_port}")]);
    let child = spawn(
        &with_flag,
        &[("VEXILLA_LISTEN", format!("127.0.0.1:{env_port}"))],
    );
    assert_eq!(
        answering(&[flag_port]),
        Some(flag_port),
        "the flag beats the environment"
    );
    drop(child);
    let _ = std::fs::remove_file(config);
}

#[test]
fn exit_codes() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_vexilla-proxy"))
            .args(args)
            .output()
            .expect("binary runs")
    };
    assert_eq!(run(&["--help"]).status.code(), Some(0));
    assert_eq!(run(&["--check-config"]).status.code(), Some(0));
    assert_eq!(run(&["--listen", "nowhere"]).status.code(), Some(64));
    assert_eq!(run(&["--flagr-compat", "1.3"]).status.code(), Some(64));
    assert_eq!(
        run(&["--config", "/nonexistent/vexilla.toml"])
            .status
            .code(),
        Some(64)
    );
    let broken =
        std::env::temp_dir().join(format!("vexilla-cli-broken-{}.json", std::process::id()));
    std::fs::write(&broken, "[]").expect("written");
    let output = run(&[
        "--flags-file",
        broken.to_str().expect("utf-8"),
        "--check-config",
    ]);
    assert_eq!(output.status.code(), Some(65));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("Flags"),
        "the message names the problem"
    );
    let _ = std::fs::remove_file(broken);
}

#[test]
fn healthcheck_reports_readiness_for_images_without_a_shell() {
    let (api, admin) = (free_port(), free_port());
    let admin_arg = format!("127.0.0.1:{admin}");
    let probe = || {
        Command::new(env!("CARGO_BIN_EXE_vexilla-proxy"))
            .args(["--admin-listen", &admin_arg, "healthcheck"])
            .output()
            .expect("binary runs")
            .status
            .code()
    };
    assert_eq!(probe(), Some(1), "nothing listens yet");

    let child = spawn(
        &[
            "--listen".into(),
            format!("127.0.0.1:{api}"),
            "--admin-listen".into(),
            admin_arg.clone(),
        ],
        &[],
    );
    assert_eq!(answering(&[admin]), Some(admin));
    let deadline = Instant::now() + Duration::from_secs(20);
    while probe() != Some(0) {
        assert!(
            Instant::now() < deadline,
            "healthcheck never saw the proxy ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // With a config file in use, and the address after the subcommand.
    let config =
        std::env::temp_dir().join(format!("vexilla-cli-health-{}.toml", std::process::id()));
    std::fs::write(&config, "log_level = \"debug\"\n").expect("config written");
    let with_config = Command::new(env!("CARGO_BIN_EXE_vexilla-proxy"))
        .args([
            "--config",
            config.to_str().expect("utf-8"),
            "healthcheck",
            "--admin-listen",
            &admin_arg,
        ])
        .output()
        .expect("binary runs");
    let stderr = String::from_utf8_lossy(&with_config.stderr).into_owned();
    assert_eq!(with_config.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("ready"), "{stderr}");
    // The address from a config file named after the subcommand.
    std::fs::write(&config, format!("admin_listen = \"{admin_arg}\"\n")).expect("config written");
    let config_after = Command::new(env!("CARGO_BIN_EXE_vexilla-proxy"))
        .args(["healthcheck", "--config", config.to_str().expect("utf-8")])
        .output()
        .expect("binary runs");
    let stderr = String::from_utf8_lossy(&config_after.stderr).into_owned();
    assert_eq!(config_after.status.code(), Some(0), "{stderr}");
    let _ = std::fs::remove_file(config);
    drop(child);
}

#[test]
fn json_logs_are_one_object_per_line() {
    // Port 0 on both listeners: the addresses come from the logs, so no port picked in
    // advance can be taken by someone else first.
    let mut child = Command::new(env!("CARGO_BIN_EXE_vexilla-proxy"))
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .args(["--log-format", "json"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
    let mut events = Vec::new();
    let admin_address = loop {
        let mut line = String::new();
        let read = stderr.read_line(&mut line).expect("logs readable");
        assert!(
            read > 0,
            "the proxy stopped before its admin listener: {events:?}"
        );
        let event: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let admin = (event["fields"]["message"] == "admin listener on (/live, /ready, /metrics)")
            .then(|| event["fields"]["address"].as_str().map(str::to_owned))
            .flatten();
        events.push(event);
        if let Some(admin) = admin {
            break admin;
        }
    };
    let admin: std::net::SocketAddr = admin_address.parse().expect("an address");
    assert_eq!(answering_at(admin), Some(admin));
    child.kill().expect("kill");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).expect("logs readable");
    let _ = child.wait();
    for line in rest.lines() {
        events.push(serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")));
    }
    let listening = events
        .iter()
        .find(|event| event["fields"]["message"] == "evaluation API listening")
        .expect("the listening event");
    assert_eq!(listening["level"], "INFO");
    let api: std::net::SocketAddr = listening["fields"]["address"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("the API address");
    assert_eq!(api.ip(), std::net::Ipv4Addr::LOCALHOST);
    assert_ne!(api.port(), 0, "the bound port, not the configured 0");
}
