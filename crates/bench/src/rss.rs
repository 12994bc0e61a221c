//! M1: the resident memory of the real `identity-server` binary, alone in its own process, idle
//! and at its peak under the heaviest mix the benchmark knows (cached key verifies from 16 tasks
//! while 4 × cores tasks log in with real argon2id parameters), against the design target of
//! 200 MiB. The other scenarios run their servers inside the benchmark process, where the load
//! generator's memory cannot be told apart from the server's.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use identity_api::pb::{self, auth_service_client::AuthServiceClient};
use identity_testkit::{Backend, TestDatabase, test_redis_url, with_auth};
use tonic::transport::{Channel, Endpoint};

use crate::extra;

/// The design target for the server's resident memory.
pub(crate) const TARGET_MIB: f64 = 200.0;

/// What the scenario saw.
#[derive(Debug, Clone)]
pub(crate) struct Rss {
    /// Resident memory right after start-up.
    pub(crate) started_mib: f64,
    /// Resident memory after creating 17 users (argon2 hashes) and 256 keys.
    pub(crate) bootstrapped_mib: f64,
    /// Resident memory after start-up and the first requests.
    pub(crate) idle_mib: f64,
    /// Peak resident memory (`VmHWM`) over the whole run.
    pub(crate) peak_mib: f64,
    /// Verifies answered during the mixed load.
    pub(crate) verifies: crate::Measured,
    /// Logins answered during the mixed load.
    pub(crate) logins: u64,
}

/// The server binary: `--server-bin`, or `identity-server` next to this executable (both are
/// built by `cargo build --release -p identity-server -p identity-bench`).
pub(crate) fn server_binary(explicit: Option<&Path>) -> Option<PathBuf> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()
            .ok()?
            .with_file_name("identity-server"),
    };
    path.is_file().then_some(path)
}

/// `VmRSS:` or `VmHWM:` of process `pid` (a number or `self`), in MiB.
pub(crate) fn status_mib(pid: impl std::fmt::Display, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// The child process, killed when dropped.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Server {
    fn start(
        bin: &Path,
        database_url: &str,
        redis_url: &str,
        namespace: &str,
    ) -> anyhow::Result<Self> {
        let log =
            std::env::temp_dir().join(format!("identity-bench-m1-{}.log", uuid::Uuid::new_v4()));
        let out =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let mut command = Command::new(bin);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("IDENTITY_") {
                command.env_remove(&name);
            }
        }
        let child = command
            .env("IDENTITY_DATABASE_URL", database_url)
            .env("IDENTITY_REDIS_URL", redis_url)
            .env("IDENTITY_CACHE_NAMESPACE", namespace)
            .env("IDENTITY_GRPC_ADDR", "127.0.0.1:0")
            .env("IDENTITY_HTTP_ADDR", "127.0.0.1:0")
            .env("IDENTITY_ADMIN_ADDR", "127.0.0.1:0")
            .env("IDENTITY_LOG_FORMAT", "json")
            .env(
                "IDENTITY_JWT_SECRET",
                format!(
                    "{}{}",
                    uuid::Uuid::new_v4().simple(),
                    uuid::Uuid::new_v4().simple()
                ),
            )
            // Per-source login limit off: every login of the flood comes from 127.0.0.1.
            .env("IDENTITY_LOGIN_PER_SOURCE_BURST", "0")
            .env("RUST_LOG", "warn,identity_server=info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Self { child, log })
    }

    /// The gRPC address from the "gRPC listening" log line, once it is there.
    async fn address(&mut self) -> anyhow::Result<SocketAddr> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "identity-server exited ({status}): {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            let logs = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(addr) = identity_testkit::logged_addr(&logs, "gRPC listening", "addr") {
                return Ok(addr);
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(30),
                "identity-server did not listen within 30 s: {logs}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn connect(addr: SocketAddr) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(format!("http://{addr}"))?
        .tcp_nodelay(true)
        .connect()
        .await?)
}

/// Run M1 against the binary at `bin` with `window` for the verify load.
pub(crate) async fn measure(bin: &Path, window: extra::Window) -> anyhow::Result<Rss> {
    let (db, url) = TestDatabase::create(Backend::Postgres).await?;
    let namespace = format!("identity-test-bench-m1-{}", uuid::Uuid::new_v4().simple());
    let mut server = Server::start(bin, &url, &test_redis_url(), &namespace)?;
    let pid = server.child.id();
    let addr = server.address().await?;
    let channel = connect(addr).await?;
    let started_mib = status_mib(pid, "VmRSS:").context("reading the server's VmRSS")?;

    // Bootstrap: the administrator, 16 login users and 256 keys.
    let mut auth = AuthServiceClient::new(channel.clone());
    let admin_password = "bench-admin-password-1";
    auth.init_admin(pb::InitAdminRequest {
        username: "admin".to_owned(),
        password: admin_password.to_owned(),
        ..Default::default()
    })
    .await
    .context("InitAdmin")?;
    let admin = auth
        .login(pb::LoginRequest {
            identifier: "admin".to_owned(),
            password: admin_password.to_owned(),
        })
        .await
        .context("Login")?
        .into_inner()
        .session_token;
    let mut users_client = pb::user_service_client::UserServiceClient::new(channel.clone());
    let mut users = Vec::new();
    for i in 0..16 {
        let name = format!("m1-login-{i}");
        users_client
            .create_user(with_auth(
                pb::CreateUserRequest {
                    username: name.clone(),
                    password: Some(crate::LOGIN_PASSWORD.to_owned()),
                    ..Default::default()
                },
                &admin,
            ))
            .await
            .context("CreateUser")?;
        users.push(name);
    }
    let mut keys_client = pb::api_key_service_client::ApiKeyServiceClient::new(channel.clone());
    let mut keys = Vec::new();
    for i in 0..256 {
        let created = keys_client
            .create_api_key(with_auth(
                pb::CreateApiKeyRequest {
                    name: format!("m1-{i}"),
                    ..Default::default()
                },
                &admin,
            ))
            .await
            .context("CreateApiKey")?
            .into_inner();
        keys.push(created.plaintext);
    }
    let keys = Arc::new(keys);
    let bootstrapped_mib = status_mib(pid, "VmRSS:").context("reading the server's VmRSS")?;
    // Every key verified once, then the idle figure.
    for k in keys.iter() {
        auth.authenticate(pb::AuthenticateRequest {
            credential: k.clone(),
        })
        .await
        .context("Authenticate")?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_mib = status_mib(pid, "VmRSS:").context("reading the server's VmRSS")?;

    // The heaviest mix: a login flood saturating argon2 and cached verifies at once.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let (stop, flood) = extra::login_flood(
        extra::login_call(
            channel.clone(),
            Arc::new(users),
            crate::LOGIN_PASSWORD,
            true,
        ),
        cores * 4,
    );
    let verifies = extra::load(window, extra::verify_call(channel, keys)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut logins = 0;
    for t in flood {
        logins += t.await.unwrap_or(0);
    }
    let verifies = verifies?;
    let peak_mib = status_mib(pid, "VmHWM:").context("reading the server's VmHWM")?;
    drop(server);
    drop(db);
    identity_testkit::purge_redis_namespace(&namespace).await?;
    Ok(Rss {
        started_mib,
        bootstrapped_mib,
        idle_mib,
        peak_mib,
        verifies,
        logins,
    })
}
