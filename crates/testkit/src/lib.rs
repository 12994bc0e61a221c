//! `identity-testkit`: the end-to-end test harness.
//!
//! [`spawn_app`] starts the real server on port 0 against a fresh database (a new Postgres
//! database or a new SQLite file), waits until it answers and returns a [`TestApp`] with typed
//! clients and fixtures. Dropping the [`TestApp`] stops the server and deletes its database, also
//! when the test panics. [`start_tcp_proxy`] puts a cuttable proxy in front of any TCP service, so
//! that a test can take the database away from the server without touching the real one.
//!
//! The helpers panic with a descriptive message when something that should work fails: they are
//! for tests, where a panic is the failure report. Logs are printed only with `TEST_LOG=1`.

mod contract;
mod db;
mod proxy;
mod redis_env;
mod session;
mod sql;
mod tokens;

use std::{
    fmt,
    net::SocketAddr,
    sync::{Arc, LazyLock},
    time::Duration,
};

use identity_api::pb::{
    self, api_key_service_client::ApiKeyServiceClient, auth_service_client::AuthServiceClient,
    organization_service_client::OrganizationServiceClient, team_service_client::TeamServiceClient,
    user_service_client::UserServiceClient,
};
use identity_server::{Application, CacheCounters, CacheStats, config::Settings};
use secrecy::{ExposeSecret as _, SecretString};
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::{
    Request,
    metadata::MetadataValue,
    transport::{Channel, Endpoint},
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use uuid::Uuid;

pub use contract::all_rpcs;
pub use db::{TestDatabase, admin_database_url, postgres_server_addr, replace_database_addr};
pub use proxy::{ProxyHandle, start_tcp_proxy};
pub use redis_env::*; // purge_redis_namespace, redis_get/set, redis_server_addr, test_redis_url

/// Username of the administrator [`TestApp::init_admin`] creates (user 1).
pub const ADMIN_USERNAME: &str = "admin";
/// E-mail of that administrator.
pub const ADMIN_EMAIL: &str = "admin@example.com";
/// Password of that administrator.
pub const ADMIN_PASSWORD: &str = "admin-password-1234";

/// How long [`spawn_app`] waits for the server to answer health checks.
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

/// The database a [`TestApp`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A fresh database on the Postgres server of `TEST_DATABASE_URL`.
    Postgres,
    /// A fresh SQLite file in the temporary directory.
    Sqlite,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        })
    }
}

/// A running server on its own fresh database.
///
/// Dropping it signals the server to stop and deletes the database.
pub struct TestApp {
    /// The bound gRPC address (a real port on 127.0.0.1).
    pub grpc_addr: SocketAddr,
    /// The bound address of the in-process REST gateway, when it is enabled.
    pub http_addr: Option<SocketAddr>,
    /// The bound admin address serving `GET /metrics`, when it is enabled.
    pub admin_addr: Option<SocketAddr>,
    /// The database backend.
    pub backend: Backend,
    /// The settings the server was built with (after the test's adjustments).
    pub settings: Settings,
    channel: Channel,
    jwt_secret: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    cache: Arc<CacheStats>,
    hasher: identity_core::password::PasswordHasher,
    // Declared last so that it is dropped after the shutdown signal was sent. `None` for a
    // replica started by [`spawn_replica`], which does not own its database.
    _db: Option<TestDatabase>,
}

impl fmt::Debug for TestApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestApp")
            .field("grpc_addr", &self.grpc_addr)
            .field("http_addr", &self.http_addr)
            .field("admin_addr", &self.admin_addr)
            .field("backend", &self.backend)
            .field("db", &self._db)
            .finish_non_exhaustive()
    }
}

static TRACING: LazyLock<()> = LazyLock::new(|| {
    let enabled = std::env::var("TEST_LOG").is_ok_and(|v| !v.is_empty() && v != "0");
    if enabled {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        // Another harness in the same process may have installed one already: keep it.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
});

/// Settings for a test server: gRPC, gateway and admin listener on port 0, the cheapest argon2id, fast
/// readiness checks.
pub fn test_settings(database_url: String, jwt_secret: String) -> Settings {
    Settings {
        database_url: SecretString::from(database_url),
        grpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        admin_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        jwt_secret: Some(SecretString::from(jwt_secret)),
        argon2_memory_kib: 8,
        argon2_iterations: 1,
        argon2_parallelism: 1,
        readiness_interval_ms: 200,
        db_acquire_timeout_secs: 2,
        db_max_connections: 8,
        drain_timeout_secs: 2,
        // Every test client connects from 127.0.0.1: tests of the per-source login limit turn
        // it on themselves.
        login_per_source_burst: 0,
        ..Settings::default()
    }
}

/// Start a server on a fresh database of `backend` with the test settings.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Like [`spawn_app`], letting the test adjust the settings first. The database URL is already
/// set to the fresh database; the database is deleted on drop whatever the URL is changed to.
pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    LazyLock::force(&TRACING);
    let (db, url) = TestDatabase::create(backend)
        .await
        .unwrap_or_else(|e| panic!("creating a {backend} test database failed: {e:#}"));
    let secret = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    let mut settings = test_settings(url, secret);
    configure(&mut settings);
    start(backend, settings, Some(db)).await
}

/// Start another server (a second replica) on the database of `first`, with the same JWT
/// secret, letting the test adjust the settings (e.g. point Redis through a proxy). The replica
/// does not own the database: drop it before `first`, whose drop deletes the database.
pub async fn spawn_replica(first: &TestApp, configure: impl FnOnce(&mut Settings)) -> TestApp {
    LazyLock::force(&TRACING);
    let mut settings = test_settings(
        first.settings.database_url.expose_secret().to_owned(),
        first.jwt_secret.clone(),
    );
    settings.redis_url = first.settings.redis_url.clone();
    settings.cache_namespace = first.settings.cache_namespace.clone();
    settings.cache_fresh_ms = first.settings.cache_fresh_ms;
    configure(&mut settings);
    start(first.backend, settings, None).await
}

async fn start(backend: Backend, settings: Settings, db: Option<TestDatabase>) -> TestApp {
    let jwt_secret = settings
        .jwt_secret
        .as_ref()
        .map(|s| s.expose_secret().to_owned())
        .unwrap_or_default();

    let app = Application::build(settings.clone())
        .await
        .unwrap_or_else(|e| panic!("building the server on {backend} failed: {e:#}"));
    let grpc_addr = app.grpc_addr();
    let http_addr = app.http_addr();
    let admin_addr = app.admin_addr();
    let cache = app.cache_stats();
    let hasher = app.hasher();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        // A dropped sender stops the server too.
        let _ = rx.await;
    }));
    let channel = Endpoint::from_shared(format!("http://{grpc_addr}"))
        .unwrap_or_else(|e| panic!("bad endpoint {grpc_addr}: {e}"))
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy();
    let mut app = TestApp {
        grpc_addr,
        http_addr,
        admin_addr,
        backend,
        settings,
        channel,
        jwt_secret,
        shutdown: Some(tx),
        server: Some(server),
        cache,
        hasher,
        _db: db,
    };
    app.wait_until_serving().await;
    app
}

/// Attach `authorization: Bearer <credential>` (a session token or an API key) to a request.
pub fn with_auth<T>(message: T, credential: &str) -> Request<T> {
    with_metadata(message, "authorization", &format!("Bearer {credential}"))
}

/// Attach `x-api-key: <key>` to a request.
pub fn with_api_key_header<T>(message: T, key: &str) -> Request<T> {
    with_metadata(message, "x-api-key", key)
}

fn with_metadata<T>(message: T, name: &'static str, value: &str) -> Request<T> {
    let mut request = Request::new(message);
    let value = MetadataValue::try_from(value)
        .unwrap_or_else(|e| panic!("{name} value is not valid metadata: {e}"));
    request.metadata_mut().insert(name, value);
    request
}

/// The address a JSON log line of the real binary (`IDENTITY_LOG_FORMAT=json`) reports: the
/// first line whose message is `message`, its field `field` (e.g. `"gRPC listening"`, `"addr"`).
pub fn logged_addr(logs: &str, message: &str, field: &str) -> Option<SocketAddr> {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["message"] == message)?["fields"][field]
        .as_str()?
        .parse()
        .ok()
}

/// The e-mail address [`TestApp::create_user`] gives a user.
pub fn email_of(username: &str) -> String {
    format!("{username}@example.com")
}

impl TestApp {
    /// A channel to the server (cheap to clone).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// A `UserService` client.
    pub fn users(&self) -> UserServiceClient<Channel> {
        UserServiceClient::new(self.channel())
    }

    /// An `ApiKeyService` client.
    pub fn api_keys(&self) -> ApiKeyServiceClient<Channel> {
        ApiKeyServiceClient::new(self.channel())
    }

    /// An `AuthService` client.
    pub fn auth(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(self.channel())
    }

    /// An `OrganizationService` client.
    pub fn orgs(&self) -> OrganizationServiceClient<Channel> {
        OrganizationServiceClient::new(self.channel())
    }

    /// A `TeamService` client.
    pub fn teams(&self) -> TeamServiceClient<Channel> {
        TeamServiceClient::new(self.channel())
    }

    /// A `grpc.health.v1.Health` client.
    pub fn health(&self) -> HealthClient<Channel> {
        HealthClient::new(self.channel())
    }

    /// The server's cache counters now (database and Redis calls, hits, misses).
    pub fn cache_stats(&self) -> CacheCounters {
        self.cache.snapshot()
    }

    /// How many argon2 computations (hashes and verifies, dummy ones included) the server ran.
    pub fn hash_computations(&self) -> u64 {
        self.hasher.computations()
    }

    /// The HS256 secret the server signs session tokens with (for forging tokens in tests).
    pub fn jwt_secret(&self) -> &str {
        &self.jwt_secret
    }

    /// The health status of `service` ("" for the whole server).
    pub async fn health_status(&self, service: &str) -> Result<ServingStatus, tonic::Status> {
        let response = self
            .health()
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await?
            .into_inner();
        ServingStatus::try_from(response.status).map_err(|_| {
            tonic::Status::internal(format!("unknown serving status {}", response.status))
        })
    }

    /// Poll `service` until it reports `wanted`; returns how long it took. Panics after
    /// `deadline`, naming the last status seen.
    pub async fn wait_for_health(
        &self,
        service: &str,
        wanted: ServingStatus,
        deadline: Duration,
    ) -> Duration {
        let start = tokio::time::Instant::now();
        loop {
            let status = self.health_status(service).await;
            if status.as_ref().ok() == Some(&wanted) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < deadline,
                "{service:?} did not become {wanted:?} within {deadline:?}; last: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_until_serving(&mut self) {
        let deadline = tokio::time::Instant::now() + STARTUP_DEADLINE;
        loop {
            if self.server.as_ref().is_some_and(JoinHandle::is_finished) {
                let outcome = match self.server.take() {
                    Some(handle) => handle.await,
                    None => Ok(Ok(())),
                };
                panic!("the server stopped while starting: {outcome:?}");
            }
            match self.health_status("").await {
                Ok(ServingStatus::Serving) => return,
                other => {
                    if tokio::time::Instant::now() > deadline {
                        panic!(
                            "the server did not report SERVING within {STARTUP_DEADLINE:?}: {other:?}"
                        );
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Stop the server gracefully and wait for it (bounded); the database is deleted on drop.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.server.take() {
            Some(handle) => tokio::time::timeout(Duration::from_secs(30), handle).await??,
            None => Ok(()),
        }
    }

    /// Run InitAdmin with [`ADMIN_USERNAME`]/[`ADMIN_PASSWORD`] and log in; returns the session
    /// token of the new administrator.
    pub async fn init_admin(&self) -> String {
        self.auth()
            .init_admin(pb::InitAdminRequest {
                username: ADMIN_USERNAME.to_owned(),
                password: ADMIN_PASSWORD.to_owned(),
                email: Some(ADMIN_EMAIL.to_owned()),
                display_name: "Administrator".to_owned(),
                organization_name: String::new(),
            })
            .await
            .unwrap_or_else(|s| panic!("InitAdmin failed: {s:?}"));
        self.login(ADMIN_USERNAME, ADMIN_PASSWORD).await
    }

    /// Create a standard user with e-mail `<username>@example.com` and `password` (as the
    /// administrator whose token is given).
    pub async fn create_user(&self, admin_token: &str, username: &str, password: &str) -> pb::User {
        self.create_user_with(
            admin_token,
            pb::CreateUserRequest {
                username: username.to_owned(),
                email: Some(email_of(username)),
                password: Some(password.to_owned()),
                ..Default::default()
            },
        )
        .await
    }

    /// Run CreateUser with `request` as the given administrator.
    pub async fn create_user_with(
        &self,
        admin_token: &str,
        request: pb::CreateUserRequest,
    ) -> pb::User {
        let username = request.username.clone();
        self.users()
            .create_user(with_auth(request, admin_token))
            .await
            .unwrap_or_else(|s| panic!("CreateUser {username:?} failed: {s:?}"))
            .into_inner()
            .user
            .unwrap_or_else(|| panic!("CreateUser {username:?} returned no user"))
    }

    /// Log in and return the session token.
    pub async fn login(&self, identifier: &str, password: &str) -> String {
        self.auth()
            .login(pb::LoginRequest {
                identifier: identifier.to_owned(),
                password: password.to_owned(),
            })
            .await
            .unwrap_or_else(|s| panic!("Login as {identifier:?} failed: {s:?}"))
            .into_inner()
            .session_token
    }

    /// Run CreateApiKey with the given credential; returns the key's metadata and its plaintext.
    pub async fn create_api_key(
        &self,
        credential: &str,
        request: pb::CreateApiKeyRequest,
    ) -> (pb::ApiKey, String) {
        let name = request.name.clone();
        let response = self
            .api_keys()
            .create_api_key(with_auth(request, credential))
            .await
            .unwrap_or_else(|s| panic!("CreateApiKey {name:?} failed: {s:?}"))
            .into_inner();
        let key = response
            .api_key
            .unwrap_or_else(|| panic!("CreateApiKey {name:?} returned no metadata"));
        (key, response.plaintext)
    }

    /// Every API key `credential` may list, revoked ones included (one page of at most 100).
    pub async fn all_api_keys(&self, credential: &str) -> Vec<pb::ApiKey> {
        self.api_keys()
            .list_api_keys(with_auth(
                pb::ListApiKeysRequest {
                    include_revoked: true,
                    page_size: 100,
                    ..Default::default()
                },
                credential,
            ))
            .await
            .unwrap_or_else(|s| panic!("ListApiKeys failed: {s:?}"))
            .into_inner()
            .api_keys
    }

    /// Run GetOrganization for the default organization (`Org::Default(true)`) with the given
    /// credential; returns it.
    pub async fn default_organization(&self, credential: &str) -> pb::Organization {
        self.orgs()
            .get_organization(with_auth(
                pb::GetOrganizationRequest {
                    organization: Some(pb::OrganizationRef {
                        org: Some(pb::organization_ref::Org::Default(true)),
                    }),
                },
                credential,
            ))
            .await
            .unwrap_or_else(|s| panic!("GetOrganization of the default organization failed: {s:?}"))
            .into_inner()
            .organization
            .unwrap_or_else(|| panic!("GetOrganization of the default organization returned none"))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // `_db` is dropped next and deletes the database; Postgres' FORCE ends the server's
        // remaining connections.
    }
}
