//! The start-up checks of [`Settings`]: values that cannot work are refused with a message that
//! names the variable, before anything is bound or connected.

use anyhow::bail;

use crate::config::Settings;

impl Settings {
    /// Reject settings that cannot work, at start-up.
    pub fn validate(&self) -> anyhow::Result<()> {
        use secrecy::ExposeSecret as _;
        let url = self.database_url.expose_secret();
        if !(url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.starts_with("sqlite:"))
        {
            bail!("IDENTITY_DATABASE_URL must start with postgres://, postgresql:// or sqlite:");
        }
        if let Some(s) = &self.jwt_secret {
            if s.expose_secret().len() < 32 {
                bail!("IDENTITY_JWT_SECRET must be at least 32 bytes");
            }
            if let Some(why) = weak_secret(s.expose_secret()) {
                bail!("IDENTITY_JWT_SECRET {why}: generate one, e.g. `openssl rand -base64 48`");
            }
        }
        self.tokens.validate()?;
        // Above 64 KiB a REST body could exceed the services' decode caps (see `limits`).
        if !(1024..=64 * 1024).contains(&self.gateway_body_limit) {
            bail!("IDENTITY_GATEWAY_BODY_LIMIT must be between 1024 and 65536 bytes");
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            bail!("IDENTITY_TLS_CERT_FILE and IDENTITY_TLS_KEY_FILE go together");
        }
        if !(1..=3600).contains(&self.tls_reload_secs) {
            bail!("IDENTITY_TLS_RELOAD_SECS must be between 1 and 3600");
        }
        if self.gateway_deadline_ms == 0 || self.gateway_deadline_ms > 300_000 {
            bail!("IDENTITY_GATEWAY_DEADLINE_MS must be between 1 and 300000");
        }
        if self.session_ttl_secs == 0 || self.session_ttl_secs > 7 * 24 * 3600 {
            bail!("IDENTITY_SESSION_TTL_SECS must be between 1 and 604800");
        }
        if self.password_min_length == 0 || self.password_min_length > 256 {
            bail!("IDENTITY_PASSWORD_MIN_LENGTH must be between 1 and 256");
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!("IDENTITY_LOG_FORMAT must be \"text\" or \"json\"");
        }
        if self.cache_fresh_ms == 0 || self.cache_fresh_ms > 3_600_000 {
            bail!("IDENTITY_CACHE_FRESH_MS must be between 1 and 3600000");
        }
        if self.cache_namespace.is_empty() {
            bail!("IDENTITY_CACHE_NAMESPACE must not be empty");
        }
        if self.db_max_connections == 0 || self.max_concurrent_requests == 0 {
            bail!("connection and request limits must be positive");
        }
        if self.login_backoff_threshold > 0
            && (self.login_backoff_base_ms == 0
                || self.login_backoff_max_secs == 0
                || self.login_failure_window_secs * 1000 < self.login_backoff_base_ms)
        {
            bail!(
                "IDENTITY_LOGIN_BACKOFF_BASE_MS and _MAX_SECS must be positive and the failure \
                 window at least the base delay"
            );
        }
        if self.login_per_source_burst > 0 && self.login_per_source_per_minute == 0 {
            bail!("IDENTITY_LOGIN_PER_SOURCE_PER_MINUTE must be positive when the burst is");
        }
        if !(0..=19).contains(&self.hash_niceness) {
            bail!("IDENTITY_HASH_NICENESS must be between 0 and 19");
        }
        if self.login_max_sources == 0 {
            bail!("IDENTITY_LOGIN_MAX_SOURCES must be positive");
        }
        if self.idempotency_ttl_secs == 0 || self.idempotency_ttl_secs > 7 * 24 * 3600 {
            bail!("IDENTITY_IDEMPOTENCY_TTL_SECS must be between 1 and 604800");
        }
        if [self.http_header_read_timeout_ms, self.http_idle_timeout_ms]
            .iter()
            .chain(&[self.grpc_handshake_timeout_ms, self.grpc_keepalive_secs])
            .any(|v| *v == 0)
            || self.http_max_connections == 0
            || self.grpc_max_connections == 0
        {
            bail!("the HTTP and gRPC connection limits and timeouts must be positive");
        }
        if self.recent_login_secs > 7 * 24 * 3600 {
            bail!("IDENTITY_RECENT_LOGIN_SECS must be between 0 and 604800");
        }
        Ok(())
    }
}

/// Why `secret` is not fit to sign sessions although it is long enough: a placeholder left from
/// an example (`CHANGE-ME`, `changeme`, …) or a value with too little variety to be random.
fn weak_secret(secret: &str) -> Option<&'static str> {
    let folded: String = secret
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if ["changeme", "replaceme", "placeholder", "example"]
        .iter()
        .any(|p| folded.contains(p))
    {
        return Some("is a placeholder from an example configuration");
    }
    let distinct: std::collections::BTreeSet<char> = secret.chars().collect();
    if distinct.len() < 10 {
        return Some("has too few distinct characters to be random");
    }
    None
}
