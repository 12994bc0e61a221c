//! Typed settings: compiled-in defaults, then an optional TOML file, then `IDENTITY_*` variables.

use std::{net::SocketAddr, path::Path, time::Duration};

use anyhow::Context as _;
use identity_core::password::Argon2Params;
use secrecy::SecretString;
use serde::Deserialize;

use crate::proxy_net::ProxyNet;

/// Default database: a SQLite file under `./data/`, created on first run.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/identity.db?mode=rwc";

/// All settings of the server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Database URL: `postgres://…` or `sqlite://…` (`IDENTITY_DATABASE_URL`).
    pub database_url: SecretString,
    /// gRPC listen address (`IDENTITY_GRPC_ADDR`).
    pub grpc_addr: SocketAddr,
    /// HTTP gateway listen address (`IDENTITY_HTTP_ADDR`).
    pub http_addr: SocketAddr,
    /// Serve the REST gateway in-process (`IDENTITY_GATEWAY_ENABLED`).
    pub gateway_enabled: bool,
    /// Admin listen address serving `GET /metrics` (`IDENTITY_ADMIN_ADDR`). Keep it off the
    /// public network: it needs no credential.
    pub admin_addr: SocketAddr,
    /// Serve the admin listener (`IDENTITY_ADMIN_ENABLED`; `IDENTITY_ADMIN_ADDR=off` also
    /// disables it).
    pub admin_enabled: bool,
    /// Optional Redis URL (`IDENTITY_REDIS_URL`): shared key cache and cross-replica
    /// invalidation. Without it the cache is in-process only (one replica).
    pub redis_url: Option<SecretString>,
    /// How long a cached key/user is served from memory, in ms (`IDENTITY_CACHE_FRESH_MS`): the
    /// bound on staleness when invalidation messages are lost.
    pub cache_fresh_ms: u64,
    /// Entries of each in-process cache (`IDENTITY_CACHE_MAX_ENTRIES`).
    pub cache_max_entries: u64,
    /// Entries of the negative cache of unknown keys (`IDENTITY_NEGATIVE_CACHE_MAX_ENTRIES`).
    pub negative_cache_max_entries: u64,
    /// Prefix of the Redis keys and of the invalidation channel (`IDENTITY_CACHE_NAMESPACE`).
    pub cache_namespace: String,
    /// HS256 secret for session tokens, ≥ 32 bytes (`IDENTITY_JWT_SECRET`). When absent a random
    /// one is generated at start, so sessions do not survive a restart.
    pub jwt_secret: Option<SecretString>,
    /// How session tokens are signed (`[tokens]`; `IDENTITY_JWT_ALGORITHM`, `…_SIGNING_KEY_FILE`,
    /// `…_PREVIOUS_KEY_FILE`, `…_PREVIOUS_KEY_RETIRES_AT`).
    pub tokens: crate::token_settings::TokenSettings,
    /// Gateway: largest REST request body in bytes, 1 KiB-64 KiB (`IDENTITY_GATEWAY_BODY_LIMIT`;
    /// the same variable as the standalone gateway's).
    pub gateway_body_limit: usize,
    /// Gateway: deadline of every upstream call in ms (`IDENTITY_GATEWAY_DEADLINE_MS`).
    pub gateway_deadline_ms: u64,
    /// TLS for the gRPC and gateway listeners: PEM certificate chain (`IDENTITY_TLS_CERT_FILE`)
    /// and private key (`IDENTITY_TLS_KEY_FILE`), both or neither; reloaded when they change.
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// See `tls_cert_file`.
    pub tls_key_file: Option<std::path::PathBuf>,
    /// How often the TLS files are checked for a rotation, in seconds (`IDENTITY_TLS_RELOAD_SECS`).
    pub tls_reload_secs: u64,
    /// Session lifetime in seconds (`IDENTITY_SESSION_TTL_SECS`).
    pub session_ttl_secs: u64,
    /// argon2id memory in KiB (`IDENTITY_ARGON2_MEMORY_KIB`).
    pub argon2_memory_kib: u32,
    /// argon2id iterations (`IDENTITY_ARGON2_ITERATIONS`).
    pub argon2_iterations: u32,
    /// argon2id lanes (`IDENTITY_ARGON2_PARALLELISM`).
    pub argon2_parallelism: u32,
    /// Hashes at once; 0 means one per core (`IDENTITY_HASH_CONCURRENCY`).
    pub hash_concurrency: usize,
    /// CPU niceness of the hashing threads, 0 (normal) to 19 (lowest); Linux only
    /// (`IDENTITY_HASH_NICENESS`).
    pub hash_niceness: i32,
    /// Minimum password length (`IDENTITY_PASSWORD_MIN_LENGTH`).
    pub password_min_length: usize,
    /// New users join the default organization (`IDENTITY_JOIN_DEFAULT_ORGANIZATION`).
    pub join_default_organization: bool,
    /// Run migrations at start (`IDENTITY_AUTO_MIGRATE`).
    pub auto_migrate: bool,
    /// Maximum database connections (`IDENTITY_DB_MAX_CONNECTIONS`).
    pub db_max_connections: u32,
    /// Seconds to wait for a database connection (`IDENTITY_DB_ACQUIRE_TIMEOUT_SECS`).
    pub db_acquire_timeout_secs: u64,
    /// Per-request deadline in seconds (`IDENTITY_REQUEST_TIMEOUT_SECS`).
    pub request_timeout_secs: u64,
    /// Seconds between readiness checks of the database (`IDENTITY_READINESS_INTERVAL_MS`, in ms).
    pub readiness_interval_ms: u64,
    /// Seconds to drain connections after SIGTERM (`IDENTITY_DRAIN_TIMEOUT_SECS`).
    pub drain_timeout_secs: u64,
    /// Maximum concurrent requests before load is shed (`IDENTITY_MAX_CONCURRENT_REQUESTS`).
    pub max_concurrent_requests: usize,
    /// Log format: "text" or "json" (`IDENTITY_LOG_FORMAT`).
    pub log_format: String,
    /// Failed logins of one identifier before its backoff starts; 0 disables the backoff
    /// (`IDENTITY_LOGIN_BACKOFF_THRESHOLD`).
    pub login_backoff_threshold: u32,
    /// First backoff delay in ms, doubled per further failure (`IDENTITY_LOGIN_BACKOFF_BASE_MS`).
    pub login_backoff_base_ms: u64,
    /// Longest backoff delay in seconds (`IDENTITY_LOGIN_BACKOFF_MAX_SECS`).
    pub login_backoff_max_secs: u64,
    /// Failures older than this many seconds are forgotten (`IDENTITY_LOGIN_FAILURE_WINDOW_SECS`).
    pub login_failure_window_secs: u64,
    /// Login attempts one client address may make at once; 0 disables the per-source limit
    /// (`IDENTITY_LOGIN_PER_SOURCE_BURST`).
    pub login_per_source_burst: u32,
    /// Login attempts a client address regains per minute (`IDENTITY_LOGIN_PER_SOURCE_PER_MINUTE`).
    pub login_per_source_per_minute: u32,
    /// Client addresses tracked at once (`IDENTITY_LOGIN_MAX_SOURCES`).
    pub login_max_sources: u64,
    /// Proxies whose `x-forwarded-for` names the client: comma-separated addresses or CIDR
    /// networks (`IDENTITY_LOGIN_TRUSTED_PROXIES`), empty by default. No peer is trusted for
    /// being loopback; the in-process gateway passes its client's address without a header.
    pub login_trusted_proxies: Vec<ProxyNet>,
    /// How long a CreateUser/CreateApiKey `request_id` is remembered, in seconds
    /// (`IDENTITY_IDEMPOTENCY_TTL_SECS`).
    pub idempotency_ttl_secs: u64,
    /// Gateway: longest wait for a request head, in ms (`IDENTITY_HTTP_HEADER_READ_TIMEOUT_MS`).
    pub http_header_read_timeout_ms: u64,
    /// Gateway: longest idle time of a connection, in ms (`IDENTITY_HTTP_IDLE_TIMEOUT_MS`).
    pub http_idle_timeout_ms: u64,
    /// Gateway: connections at once (`IDENTITY_HTTP_MAX_CONNECTIONS`).
    pub http_max_connections: usize,
    /// gRPC: connections at once (`IDENTITY_GRPC_MAX_CONNECTIONS`).
    pub grpc_max_connections: usize,
    /// gRPC: longest wait for the HTTP/2 preface, in ms (`IDENTITY_GRPC_HANDSHAKE_TIMEOUT_MS`).
    pub grpc_handshake_timeout_ms: u64,
    /// gRPC: HTTP/2 keepalive ping interval in seconds (`IDENTITY_GRPC_KEEPALIVE_SECS`).
    pub grpc_keepalive_secs: u64,
    /// How long after its login a session may create or roll API keys without the password, in
    /// seconds (`IDENTITY_RECENT_LOGIN_SECS`).
    pub recent_login_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        let argon = Argon2Params::default();
        Self {
            database_url: SecretString::from(DEFAULT_DATABASE_URL.to_owned()),
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            gateway_enabled: true,
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 9090)),
            admin_enabled: true,
            redis_url: None,
            cache_fresh_ms: 5000,
            cache_max_entries: 50_000,
            negative_cache_max_entries: 10_000,
            cache_namespace: "identity".to_owned(),
            jwt_secret: None,
            tokens: crate::token_settings::TokenSettings::default(),
            gateway_body_limit: 64 * 1024,
            gateway_deadline_ms: 10_000,
            tls_cert_file: None,
            tls_key_file: None,
            tls_reload_secs: 10,
            session_ttl_secs: 3600,
            argon2_memory_kib: argon.memory_kib,
            argon2_iterations: argon.iterations,
            argon2_parallelism: argon.parallelism,
            hash_concurrency: 0,
            hash_niceness: 10,
            password_min_length: 12,
            join_default_organization: true,
            auto_migrate: true,
            db_max_connections: 16,
            db_acquire_timeout_secs: 5,
            request_timeout_secs: 30,
            readiness_interval_ms: 2000,
            drain_timeout_secs: 20,
            max_concurrent_requests: 1024,
            log_format: "text".to_owned(),
            login_backoff_threshold: 5,
            login_backoff_base_ms: 1000,
            login_backoff_max_secs: 15 * 60,
            login_failure_window_secs: 3600,
            login_per_source_burst: 30,
            login_per_source_per_minute: 30,
            login_max_sources: 100_000,
            login_trusted_proxies: Vec::new(),
            idempotency_ttl_secs: 24 * 3600,
            http_header_read_timeout_ms: 10_000,
            http_idle_timeout_ms: 60_000,
            http_max_connections: 1024,
            grpc_max_connections: 1024,
            grpc_handshake_timeout_ms: 10_000,
            grpc_keepalive_secs: 30,
            recent_login_secs: identity_core::service::DEFAULT_RECENT_LOGIN.as_secs(),
        }
    }
}

pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn parse_env<T: std::str::FromStr>(name: &str, target: &mut T) -> anyhow::Result<()>
where
    T::Err: std::fmt::Display,
{
    if let Some(v) = env_var(name) {
        *target = v.parse().map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    }
    Ok(())
}

impl Settings {
    /// Defaults, then `file` (if given), then the environment; validated.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut s = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => Self::default(),
        };
        s.apply_env()?;
        s.validate()?;
        Ok(s)
    }

    fn apply_env(&mut self) -> anyhow::Result<()> {
        if let Some(v) = env_var("IDENTITY_DATABASE_URL") {
            self.database_url = SecretString::from(v);
        }
        if let Some(v) = env_var("IDENTITY_REDIS_URL") {
            self.redis_url = Some(SecretString::from(v));
        }
        if let Some(v) = env_var("IDENTITY_JWT_SECRET") {
            self.jwt_secret = Some(SecretString::from(v));
        }
        self.tokens.apply_env()?;
        parse_env("IDENTITY_GATEWAY_BODY_LIMIT", &mut self.gateway_body_limit)?;
        parse_env(
            "IDENTITY_GATEWAY_DEADLINE_MS",
            &mut self.gateway_deadline_ms,
        )?;
        if let Some(v) = env_var("IDENTITY_TLS_CERT_FILE") {
            self.tls_cert_file = Some(v.into());
        }
        if let Some(v) = env_var("IDENTITY_TLS_KEY_FILE") {
            self.tls_key_file = Some(v.into());
        }
        parse_env("IDENTITY_TLS_RELOAD_SECS", &mut self.tls_reload_secs)?;
        parse_env("IDENTITY_CACHE_FRESH_MS", &mut self.cache_fresh_ms)?;
        parse_env("IDENTITY_CACHE_MAX_ENTRIES", &mut self.cache_max_entries)?;
        parse_env(
            "IDENTITY_NEGATIVE_CACHE_MAX_ENTRIES",
            &mut self.negative_cache_max_entries,
        )?;
        parse_env("IDENTITY_CACHE_NAMESPACE", &mut self.cache_namespace)?;
        parse_env("IDENTITY_GRPC_ADDR", &mut self.grpc_addr)?;
        parse_env("IDENTITY_HTTP_ADDR", &mut self.http_addr)?;
        parse_env("IDENTITY_GATEWAY_ENABLED", &mut self.gateway_enabled)?;
        parse_env("IDENTITY_ADMIN_ENABLED", &mut self.admin_enabled)?;
        match env_var("IDENTITY_ADMIN_ADDR") {
            Some(v) if matches!(v.to_ascii_lowercase().as_str(), "off" | "none" | "disabled") => {
                self.admin_enabled = false;
            }
            Some(v) => {
                self.admin_addr = v
                    .parse()
                    .map_err(|e| anyhow::anyhow!("IDENTITY_ADMIN_ADDR: {e}"))?;
            }
            None => {}
        }
        parse_env("IDENTITY_SESSION_TTL_SECS", &mut self.session_ttl_secs)?;
        parse_env("IDENTITY_ARGON2_MEMORY_KIB", &mut self.argon2_memory_kib)?;
        parse_env("IDENTITY_ARGON2_ITERATIONS", &mut self.argon2_iterations)?;
        parse_env("IDENTITY_ARGON2_PARALLELISM", &mut self.argon2_parallelism)?;
        parse_env("IDENTITY_HASH_CONCURRENCY", &mut self.hash_concurrency)?;
        parse_env("IDENTITY_HASH_NICENESS", &mut self.hash_niceness)?;
        parse_env(
            "IDENTITY_PASSWORD_MIN_LENGTH",
            &mut self.password_min_length,
        )?;
        parse_env(
            "IDENTITY_JOIN_DEFAULT_ORGANIZATION",
            &mut self.join_default_organization,
        )?;
        parse_env("IDENTITY_AUTO_MIGRATE", &mut self.auto_migrate)?;
        parse_env("IDENTITY_DB_MAX_CONNECTIONS", &mut self.db_max_connections)?;
        parse_env(
            "IDENTITY_DB_ACQUIRE_TIMEOUT_SECS",
            &mut self.db_acquire_timeout_secs,
        )?;
        parse_env(
            "IDENTITY_REQUEST_TIMEOUT_SECS",
            &mut self.request_timeout_secs,
        )?;
        parse_env(
            "IDENTITY_READINESS_INTERVAL_MS",
            &mut self.readiness_interval_ms,
        )?;
        parse_env("IDENTITY_DRAIN_TIMEOUT_SECS", &mut self.drain_timeout_secs)?;
        parse_env(
            "IDENTITY_MAX_CONCURRENT_REQUESTS",
            &mut self.max_concurrent_requests,
        )?;
        parse_env("IDENTITY_LOG_FORMAT", &mut self.log_format)?;
        parse_env(
            "IDENTITY_LOGIN_BACKOFF_THRESHOLD",
            &mut self.login_backoff_threshold,
        )?;
        parse_env(
            "IDENTITY_LOGIN_BACKOFF_BASE_MS",
            &mut self.login_backoff_base_ms,
        )?;
        parse_env(
            "IDENTITY_LOGIN_BACKOFF_MAX_SECS",
            &mut self.login_backoff_max_secs,
        )?;
        parse_env(
            "IDENTITY_LOGIN_FAILURE_WINDOW_SECS",
            &mut self.login_failure_window_secs,
        )?;
        parse_env(
            "IDENTITY_LOGIN_PER_SOURCE_BURST",
            &mut self.login_per_source_burst,
        )?;
        parse_env(
            "IDENTITY_LOGIN_PER_SOURCE_PER_MINUTE",
            &mut self.login_per_source_per_minute,
        )?;
        parse_env("IDENTITY_LOGIN_MAX_SOURCES", &mut self.login_max_sources)?;
        if let Some(v) = env_var("IDENTITY_LOGIN_TRUSTED_PROXIES") {
            self.login_trusted_proxies = crate::proxy_net::parse_list(&v)
                .map_err(|e| anyhow::anyhow!("IDENTITY_LOGIN_TRUSTED_PROXIES: {e}"))?;
        }
        parse_env(
            "IDENTITY_IDEMPOTENCY_TTL_SECS",
            &mut self.idempotency_ttl_secs,
        )?;
        let t = &mut *self;
        parse_env(
            "IDENTITY_HTTP_HEADER_READ_TIMEOUT_MS",
            &mut t.http_header_read_timeout_ms,
        )?;
        parse_env("IDENTITY_HTTP_IDLE_TIMEOUT_MS", &mut t.http_idle_timeout_ms)?;
        parse_env("IDENTITY_HTTP_MAX_CONNECTIONS", &mut t.http_max_connections)?;
        parse_env("IDENTITY_GRPC_MAX_CONNECTIONS", &mut t.grpc_max_connections)?;
        parse_env(
            "IDENTITY_GRPC_HANDSHAKE_TIMEOUT_MS",
            &mut t.grpc_handshake_timeout_ms,
        )?;
        parse_env("IDENTITY_GRPC_KEEPALIVE_SECS", &mut t.grpc_keepalive_secs)?;
        parse_env("IDENTITY_RECENT_LOGIN_SECS", &mut self.recent_login_secs)?;
        Ok(())
    }

    /// The TLS certificate and key files, when TLS is configured.
    pub fn tls_files(&self) -> Option<identity_tls::TlsFiles> {
        Some(identity_tls::TlsFiles {
            cert: self.tls_cert_file.clone()?,
            key: self.tls_key_file.clone()?,
        })
    }

    /// argon2 parameters.
    pub fn argon2(&self) -> Argon2Params {
        Argon2Params {
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
            parallelism: self.argon2_parallelism,
        }
    }

    /// Settings of the key/user cache.
    pub fn cache(&self) -> identity_cache::CacheConfig {
        use secrecy::ExposeSecret as _;
        let fresh = Duration::from_millis(self.cache_fresh_ms.max(1));
        identity_cache::CacheConfig {
            redis_url: self
                .redis_url
                .as_ref()
                .map(|u| u.expose_secret().to_owned()),
            namespace: self.cache_namespace.clone(),
            fresh_ttl: fresh,
            max_entries: self.cache_max_entries,
            negative_max_entries: self.negative_cache_max_entries,
            negative_ttl: fresh,
            ..identity_cache::CacheConfig::default()
        }
    }

    /// Per-account login backoff.
    pub fn login_protection(&self) -> identity_core::service::LoginProtection {
        identity_core::service::LoginProtection {
            threshold: self.login_backoff_threshold,
            base_delay: Duration::from_millis(self.login_backoff_base_ms),
            max_delay: Duration::from_secs(self.login_backoff_max_secs),
            failure_window: Duration::from_secs(self.login_failure_window_secs),
        }
    }

    /// Per-source login limit.
    pub fn login_source_limit(&self) -> crate::login_limit::SourceLimit {
        crate::login_limit::SourceLimit {
            burst: self.login_per_source_burst,
            per_minute: self.login_per_source_per_minute,
            max_sources: self.login_max_sources,
            trusted_proxies: self.login_trusted_proxies.clone(),
        }
    }

    /// Limits of the gateway's HTTP listener.
    pub fn http_limits(&self) -> identity_gateway::ServeConfig {
        identity_gateway::ServeConfig {
            header_read_timeout: Duration::from_millis(self.http_header_read_timeout_ms),
            idle_timeout: Duration::from_millis(self.http_idle_timeout_ms),
            max_connections: self.http_max_connections,
        }
    }

    /// Per-request deadline.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_use_embedded_sqlite() -> anyhow::Result<()> {
        use secrecy::ExposeSecret as _;
        let s = Settings::default();
        s.validate()?;
        assert_eq!(s.database_url.expose_secret(), DEFAULT_DATABASE_URL);
        assert_eq!(s.grpc_addr.port(), 50051);
        assert_eq!(s.admin_addr.port(), 9090);
        assert!(s.admin_enabled);
        Ok(())
    }

    #[test]
    fn file_settings_are_parsed_and_unknown_keys_rejected() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("identity-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let good = dir.join("good.toml");
        std::fs::write(
            &good,
            "grpc_addr = \"127.0.0.1:6000\"\npassword_min_length = 8\n",
        )?;
        let s: Settings = toml::from_str(&std::fs::read_to_string(&good)?)?;
        assert_eq!(s.grpc_addr.port(), 6000);
        assert_eq!(s.password_min_length, 8);
        assert!(toml::from_str::<Settings>("no_such_key = 1").is_err());
        let short = Settings {
            jwt_secret: Some(SecretString::from("short".to_owned())),
            ..Settings::default()
        };
        assert!(short.validate().is_err());
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
