//! Settings of session-token signing (`[tokens]` in the settings file, `IDENTITY_JWT_*` in the
//! environment): the algorithm, the key files, and the overlap window of a rotation.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use identity_core::token::{KeyConfig, SigningAlgorithm};
use secrecy::SecretString;
use serde::Deserialize;

use crate::config::env_var;

/// How session tokens are signed.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    /// `EdDSA` (default), `ES256` or `HS256` (compatibility: not verifiable offline)
    /// (`IDENTITY_JWT_ALGORITHM`).
    pub algorithm: String,
    /// PEM (PKCS#8) private key that signs (`IDENTITY_JWT_SIGNING_KEY_FILE`). Without it, EdDSA
    /// uses an Ed25519 key derived from `IDENTITY_JWT_SECRET` (the same on every replica).
    pub signing_key_file: Option<PathBuf>,
    /// The key that signed before the last rotation: still verified and published until
    /// `previous_key_retires_at` (`IDENTITY_JWT_PREVIOUS_KEY_FILE`).
    pub previous_key_file: Option<PathBuf>,
    /// End of the overlap, RFC 3339; at least the session lifetime after the rotation
    /// (`IDENTITY_JWT_PREVIOUS_KEY_RETIRES_AT`).
    pub previous_key_retires_at: Option<DateTime<Utc>>,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            algorithm: "EdDSA".to_owned(),
            signing_key_file: None,
            previous_key_file: None,
            previous_key_retires_at: None,
        }
    }
}

impl TokenSettings {
    pub(crate) fn apply_env(&mut self) -> anyhow::Result<()> {
        if let Some(v) = env_var("IDENTITY_JWT_ALGORITHM") {
            self.algorithm = v;
        }
        if let Some(v) = env_var("IDENTITY_JWT_SIGNING_KEY_FILE") {
            self.signing_key_file = Some(v.into());
        }
        if let Some(v) = env_var("IDENTITY_JWT_PREVIOUS_KEY_FILE") {
            self.previous_key_file = Some(v.into());
        }
        if let Some(v) = env_var("IDENTITY_JWT_PREVIOUS_KEY_RETIRES_AT") {
            self.previous_key_retires_at = Some(
                DateTime::parse_from_rfc3339(&v)
                    .with_context(|| format!("IDENTITY_JWT_PREVIOUS_KEY_RETIRES_AT: {v:?}"))?
                    .with_timezone(&Utc),
            );
        }
        Ok(())
    }

    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        let Some(algorithm) = SigningAlgorithm::parse(&self.algorithm) else {
            bail!("IDENTITY_JWT_ALGORITHM must be EdDSA, ES256 or HS256");
        };
        if self.previous_key_file.is_some() != self.previous_key_retires_at.is_some() {
            bail!(
                "IDENTITY_JWT_PREVIOUS_KEY_FILE and IDENTITY_JWT_PREVIOUS_KEY_RETIRES_AT go together"
            );
        }
        if algorithm == SigningAlgorithm::Es256 && self.signing_key_file.is_none() {
            bail!("IDENTITY_JWT_ALGORITHM=ES256 needs IDENTITY_JWT_SIGNING_KEY_FILE");
        }
        Ok(())
    }

    /// Read the key files into the core's key configuration.
    pub fn key_config(&self) -> anyhow::Result<KeyConfig> {
        let read = |path: &Option<PathBuf>| -> anyhow::Result<Option<SecretString>> {
            path.as_ref()
                .map(|p| {
                    std::fs::read_to_string(p)
                        .map(SecretString::from)
                        .with_context(|| format!("reading the signing key {}", p.display()))
                })
                .transpose()
        };
        Ok(KeyConfig {
            algorithm: SigningAlgorithm::parse(&self.algorithm).unwrap_or_default(),
            current_pem: read(&self.signing_key_file)?,
            previous_pem: read(&self.previous_key_file)?,
            previous_retires_at: self.previous_key_retires_at,
        })
    }
}
