//! Start-up failures of the real binary end in one clean line on standard error and exit code 1:
//! no backtrace (even with `RUST_BACKTRACE=1`, as in CI and many pods), no panic, and never the
//! refused secret itself.

use std::{
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

const DEADLINE: Duration = Duration::from_secs(30);
const PLACEHOLDER: &str = "CHANGE-ME-to-at-least-32-random-bytes-0000000000";

/// Run `identity-server` with only the given `IDENTITY_*` variables on a fresh SQLite file and
/// wait (bounded) for it to exit.
fn run_server(env: &[(&str, &str)]) -> Output {
    let dir = std::env::temp_dir().join(format!("identity-startup-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_identity-server"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("IDENTITY_") {
            command.env_remove(&name);
        }
    }
    command
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("RUST_BACKTRACE", "1")
        .env(
            "IDENTITY_DATABASE_URL",
            format!("sqlite://{}/db.sqlite?mode=rwc", dir.display()),
        )
        .env("IDENTITY_GRPC_ADDR", "127.0.0.1:0")
        .env("IDENTITY_HTTP_ADDR", "127.0.0.1:0")
        .env("IDENTITY_ADMIN_ADDR", "off");
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("starting identity-server: {e}"));
    let started = Instant::now();
    while child.try_wait().ok().flatten().is_none() {
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("identity-server did not exit within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("collecting the output: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    )
}

/// Exit code 1 and exactly one line on stderr, which mentions every `needle`.
fn assert_one_clean_line(out: &Output, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "exit code; stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got:\n{stderr}");
    for forbidden in ["backtrace", "panicked", "Caused by", "Stack"] {
        assert!(!stderr.contains(forbidden), "{forbidden:?} in:\n{stderr}");
    }
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "{needle:?} not in {:?}",
            lines[0]
        );
    }
    lines[0].to_owned()
}

#[test]
fn placeholder_jwt_secret_refuses_to_start() {
    let out = run_server(&[("IDENTITY_JWT_SECRET", PLACEHOLDER)]);
    assert_one_clean_line(&out, &["IDENTITY_JWT_SECRET", "placeholder"]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(PLACEHOLDER), "the refused secret was printed");
    let low_variety = "a".repeat(40);
    let out = run_server(&[("IDENTITY_JWT_SECRET", &low_variety)]);
    assert_one_clean_line(&out, &["IDENTITY_JWT_SECRET", "distinct"]);
}

#[test]
fn address_in_use_is_one_clean_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("binding a port to occupy: {e}"));
    let addr = taken
        .local_addr()
        .unwrap_or_else(|e| panic!("local_addr: {e}"))
        .to_string();
    let out = run_server(&[("IDENTITY_GRPC_ADDR", &addr)]);
    let line = assert_one_clean_line(&out, &[&addr]);
    assert!(
        line.to_ascii_lowercase().contains("in use"),
        "the cause is named: {line}"
    );
}
