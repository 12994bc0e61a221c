//! The real `identity-gateway` binary, on ports picked by the OS, with JSON logs and an upstream
//! nobody listens on: `/healthz` is 200, `/readyz` 503, the admin listener's `/metrics` counts
//! both probes by route, and SIGTERM stops it cleanly.

use std::{
    fs::File,
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(30);

struct Gateway {
    child: Child,
    log: PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Gateway {
    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The address field `field` of the JSON line whose message is `message`.
    fn logged_addr(&self, message: &str, field: &str) -> Option<SocketAddr> {
        self.logs().lines().find_map(|l| {
            let v: Value = serde_json::from_str(l).ok()?;
            if v["fields"]["message"] != message {
                return None;
            }
            v["fields"][field].as_str()?.parse().ok()
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_binary_serves_probes_and_metrics() {
    let dead_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("binding a probe port: {e}"));
        l.local_addr()
            .unwrap_or_else(|e| panic!("local_addr: {e}"))
            .port()
    };
    let log = std::env::temp_dir().join(format!("identity-gateway-{}.log", uuid::Uuid::new_v4()));
    let out = File::create(&log).unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
    let err = out
        .try_clone()
        .unwrap_or_else(|e| panic!("cloning the log handle: {e}"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_identity-gateway"));
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy();
        if n.starts_with("IDENTITY_") || n == "RUST_LOG" {
            command.env_remove(&name);
        }
    }
    let child = command
        .env("IDENTITY_HTTP_ADDR", "127.0.0.1:0")
        .env("IDENTITY_ADMIN_ADDR", "127.0.0.1:0")
        .env("IDENTITY_UPSTREAM", format!("http://127.0.0.1:{dead_port}"))
        .env("IDENTITY_LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("starting identity-gateway: {e}"));
    let mut gw = Gateway { child, log };

    let start = tokio::time::Instant::now();
    let (http, admin) = loop {
        if let Some(status) = gw.child.try_wait().ok().flatten() {
            panic!("identity-gateway exited ({status}):\n{}", gw.logs());
        }
        let found = (
            gw.logged_addr("identity-gateway listening", "addr"),
            gw.logged_addr("admin listening (GET /metrics)", "admin"),
        );
        if let (Some(h), Some(a)) = found {
            break (h, a);
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no listener lines within {DEADLINE:?}:\n{}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let client = reqwest::Client::new();
    let status = |path: &'static str| {
        let client = client.clone();
        async move {
            client
                .get(format!("http://{http}{path}"))
                .send()
                .await
                .unwrap_or_else(|e| panic!("GET {path}: {e}"))
                .status()
                .as_u16()
        }
    };
    assert_eq!(status("/healthz").await, 200);
    assert_eq!(status("/readyz").await, 503, "no upstream: not ready");
    let metrics = client
        .get(format!("http://{admin}/metrics"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET /metrics: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("reading /metrics: {e}"));
    for series in [
        r#"identity_http_requests_total{route="/healthz",method="GET",status="200"} 1"#,
        r#"identity_http_requests_total{route="/readyz",method="GET",status="503"} 1"#,
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }

    let pid = gw.child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
    let start = tokio::time::Instant::now();
    let exit = loop {
        if let Some(s) = gw.child.try_wait().ok().flatten() {
            break s;
        }
        assert!(start.elapsed() < DEADLINE, "no exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "exit status {exit}:\n{}", gw.logs());
}
