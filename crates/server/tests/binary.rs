//! The real `identity-server` binary with no configuration at all: it serves on the default
//! 127.0.0.1:50051 with SQLite under `./data/`, stops cleanly on SIGTERM, and keeps its data
//! across a restart. Uses the fixed default ports (gRPC 50051, gateway 8080, admin 9090), so nextest runs it
//! alone (`.config/nextest.toml`).

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use identity_api::pb::{self, auth_service_client::AuthServiceClient};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const DEFAULT_ADDR: &str = "127.0.0.1:50051";
/// The in-process gateway's default address, which must be free as well.
const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
/// The default admin (metrics) address, also bound by a default start.
const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:9090";
const START_DEADLINE: Duration = Duration::from_secs(60);
const STOP_DEADLINE: Duration = Duration::from_secs(20);
const PASSWORD: &str = "binary-test-password";

/// A running server process; killed on drop if still running (e.g. when the test fails).
struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    fn start(dir: &Path, run: u32) -> Self {
        for addr in [DEFAULT_ADDR, DEFAULT_HTTP_ADDR, DEFAULT_ADMIN_ADDR] {
            assert!(
                std::net::TcpListener::bind(addr).is_ok(),
                "{addr} is in use by another process; this test needs the default ports"
            );
        }
        let log = dir.join(format!("server-{run}.log"));
        let out = File::create(&log).unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("cloning the log handle: {e}"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_identity-server"));
        command
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        // No configuration at all: the compiled-in defaults only.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("IDENTITY_") {
                command.env_remove(&name);
            }
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting identity-server: {e}"));
        Self { child, log }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Poll until the overall health status is SERVING; returns a channel to the server.
    async fn wait_until_serving(&mut self) -> Channel {
        let start = tokio::time::Instant::now();
        let endpoint = Endpoint::from_shared(format!("http://{DEFAULT_ADDR}"))
            .unwrap_or_else(|e| panic!("bad endpoint: {e}"))
            .connect_timeout(Duration::from_secs(2));
        loop {
            if let Some(status) = self.exited() {
                panic!(
                    "identity-server exited while starting ({status}); log:\n{}",
                    self.logs()
                );
            }
            if let Ok(channel) = endpoint.connect().await {
                let answer = HealthClient::new(channel.clone())
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await;
                if answer.is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32) {
                    return channel;
                }
            }
            assert!(
                start.elapsed() < START_DEADLINE,
                "identity-server not SERVING within {START_DEADLINE:?}; log:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Send SIGTERM and wait for the exit status.
    async fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(
            sent.as_ref().is_ok_and(ExitStatus::success),
            "kill -TERM {pid} failed: {sent:?}"
        );
        let start = tokio::time::Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(
                start.elapsed() < STOP_DEADLINE,
                "identity-server did not exit within {STOP_DEADLINE:?} of SIGTERM; log:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_binary_serves_stops_on_sigterm_and_keeps_its_data() {
    let dir =
        std::env::temp_dir().join(format!("identity-binary-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));

    // First run: a fresh installation.
    let mut server = Server::start(&dir, 1);
    let channel = server.wait_until_serving().await;
    let mut auth = AuthServiceClient::new(channel);
    let state = auth
        .get_setup_state(pb::GetSetupStateRequest {})
        .await
        .unwrap_or_else(|s| panic!("GetSetupState: {s:?}"))
        .into_inner();
    assert!(
        !state.admin_exists,
        "a fresh directory has no administrator"
    );
    let init = auth
        .init_admin(pb::InitAdminRequest {
            username: "admin".to_owned(),
            password: PASSWORD.to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("InitAdmin: {s:?}\nlog:\n{}", server.logs()))
        .into_inner();
    assert_eq!(init.user.map(|u| u.id), Some(1));
    // Close our connection so that draining has nothing to wait for.
    drop(auth);
    let status = server.terminate().await;
    assert!(
        status.success(),
        "exit status after SIGTERM: {status}; log:\n{}",
        server.logs()
    );
    assert!(
        dir.join("data").join("identity.db").is_file(),
        "the default database lives in ./data/identity.db"
    );

    // Second run in the same directory: the data is still there.
    let mut server = Server::start(&dir, 2);
    let channel = server.wait_until_serving().await;
    let mut auth = AuthServiceClient::new(channel);
    let state = auth
        .get_setup_state(pb::GetSetupStateRequest {})
        .await
        .unwrap_or_else(|s| panic!("GetSetupState after restart: {s:?}"))
        .into_inner();
    assert!(state.admin_exists, "the administrator survived the restart");
    assert!(state.default_organization.is_some_and(|o| o.is_default));
    let login = auth
        .login(pb::LoginRequest {
            identifier: "admin".to_owned(),
            password: PASSWORD.to_owned(),
        })
        .await
        .unwrap_or_else(|s| panic!("Login after restart: {s:?}"))
        .into_inner();
    assert!(!login.session_token.is_empty());
    drop(auth);
    let status = server.terminate().await;
    assert!(
        status.success(),
        "exit status after the second SIGTERM: {status}; log:\n{}",
        server.logs()
    );

    let _ = std::fs::remove_dir_all(&dir);
}

/// `identity-server migrate` applies the migrations to the configured database and exits 0,
/// idempotently; a database URL it cannot use makes it fail with a non-zero status.
#[test]
fn migrate_subcommand_creates_the_schema_and_exits() {
    let dir = std::env::temp_dir().join(format!("identity-migrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let db = dir.join("nested").join("identity.db");
    let run = |url: &str| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_identity-server"));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("IDENTITY_") {
                command.env_remove(&name);
            }
        }
        command
            .arg("migrate")
            .env("IDENTITY_DATABASE_URL", url)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running identity-server migrate: {e}"))
    };
    let url = format!("sqlite://{}?mode=rwc", db.display());
    for attempt in 1..=2 {
        let out = run(&url);
        assert!(
            out.status.success(),
            "migrate attempt {attempt} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // SQLite keeps each table's CREATE statement as text in the file (or, in WAL mode, in the
    // write-ahead log until a checkpoint).
    let mut bytes = std::fs::read(&db).unwrap_or_else(|e| panic!("reading {}: {e}", db.display()));
    bytes.extend(std::fs::read(dir.join("nested").join("identity.db-wal")).unwrap_or_default());
    let text = String::from_utf8_lossy(&bytes);
    for table in [
        "seaql_migrations",
        "users",
        "organizations",
        "memberships",
        "api_keys",
    ] {
        assert!(text.contains(table), "table {table} missing after migrate");
    }

    let bad = run("mysql://nowhere/identity");
    assert!(
        !bad.status.success(),
        "an unsupported database URL must fail"
    );
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("IDENTITY_DATABASE_URL"),
        "the error names the setting: {}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
