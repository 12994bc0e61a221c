//! Session-token signing keys: Ed25519 (`EdDSA`, the default) or P-256 (`ES256`) key pairs named by
//! their RFC 7638 JWK thumbprint (`kid`), published as a JWK Set so that services verify tokens
//! offline; `HS256` with the shared secret is kept for compatibility only (nothing to publish).
//!
//! Rotation: the *current* key signs; a *previous* key still verifies, and is published, until
//! its retirement time (the overlap window); after it, tokens of that key are refused.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey,
    jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse},
};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

/// The signature algorithm of session tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SigningAlgorithm {
    /// Ed25519 (RFC 8037), the default.
    #[default]
    EdDsa,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// HMAC-SHA-256 with the shared secret: compatibility only, cannot be verified offline.
    Hs256,
}

impl SigningAlgorithm {
    /// Parse `EdDSA`, `ES256` or `HS256` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "EDDSA" => Some(Self::EdDsa),
            "ES256" => Some(Self::Es256),
            "HS256" => Some(Self::Hs256),
            _ => None,
        }
    }

    fn jwt(self) -> Algorithm {
        match self {
            Self::EdDsa => Algorithm::EdDSA,
            Self::Es256 => Algorithm::ES256,
            Self::Hs256 => Algorithm::HS256,
        }
    }
}

/// Where the signing keys come from.
#[derive(Debug, Clone, Default)]
pub struct KeyConfig {
    /// The algorithm.
    pub algorithm: SigningAlgorithm,
    /// The current private key, PEM (PKCS#8). `None` with `EdDsa`: derived from the shared secret,
    /// so every replica configured with the same secret signs with the same key.
    pub current_pem: Option<SecretString>,
    /// The previous private key, PEM: still verified and published until `previous_retires_at`.
    pub previous_pem: Option<SecretString>,
    /// End of the overlap window for the previous key (required with it).
    pub previous_retires_at: Option<DateTime<Utc>>,
}

/// One key that verifies tokens.
#[derive(Clone)]
pub(super) struct VerifyingKey {
    pub(super) kid: Option<String>,
    pub(super) algorithm: Algorithm,
    pub(super) decoding: DecodingKey,
    pub(super) jwk: Option<Jwk>,
    pub(super) retires_at: Option<DateTime<Utc>>,
}

/// The signing key and every key that verifies.
#[derive(Clone)]
pub(super) struct KeyRing {
    pub(super) algorithm: Algorithm,
    pub(super) kid: Option<String>,
    pub(super) encoding: EncodingKey,
    pub(super) verifying: Vec<VerifyingKey>,
}

/// PKCS#8 v1 prefix of an Ed25519 private key; the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

fn invalid(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("{what}: {e}"))
}

/// RFC 7638 thumbprint of a public JWK (base64url SHA-256 of its required members, in order).
// `AlgorithmParameters` is non-exhaustive: a wildcard is required.
#[allow(clippy::wildcard_enum_match_arm)]
fn thumbprint(jwk: &Jwk) -> Result<String> {
    let canonical = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) => {
            serde_json::json!({"crv": p.curve, "kty": "OKP", "x": p.x})
        }
        AlgorithmParameters::EllipticCurve(p) => {
            serde_json::json!({"crv": p.curve, "kty": "EC", "x": p.x, "y": p.y})
        }
        // RSA and symmetric keys are never published; the enum is non-exhaustive.
        _ => return Err(Error::Internal("unsupported signing key type".into())),
    };
    // serde_json keeps object keys sorted (no `preserve_order`), as RFC 7638 requires.
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest))
}

/// An asymmetric key pair from its encoding key: the verifying half, its public JWK and kid.
fn asymmetric(
    encoding: &EncodingKey,
    algorithm: Algorithm,
    retires_at: Option<DateTime<Utc>>,
) -> Result<VerifyingKey> {
    let mut jwk = Jwk::from_encoding_key(encoding, algorithm)
        .map_err(|e| invalid("deriving the public key", e))?;
    let kid = thumbprint(&jwk)?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_algorithm = Some(if algorithm == Algorithm::ES256 {
        KeyAlgorithm::ES256
    } else {
        KeyAlgorithm::EdDSA
    });
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| invalid("public key", e))?;
    Ok(VerifyingKey {
        kid: Some(kid),
        algorithm,
        decoding,
        jwk: Some(jwk),
        retires_at,
    })
}

fn encoding_from_pem(algorithm: SigningAlgorithm, pem: &SecretString) -> Result<EncodingKey> {
    let bytes = pem.expose_secret().as_bytes();
    match algorithm {
        SigningAlgorithm::EdDsa => EncodingKey::from_ed_pem(bytes),
        SigningAlgorithm::Es256 => EncodingKey::from_ec_pem(bytes),
        SigningAlgorithm::Hs256 => {
            return Err(Error::Internal(
                "HS256 signs with the shared secret, not a key file".into(),
            ));
        }
    }
    .map_err(|e| invalid("reading the signing key (PEM, PKCS#8)", e))
}

/// The Ed25519 key derived from the shared secret (domain-separated SHA-256 of it as the seed).
fn derived_ed25519(secret: &SecretString) -> EncodingKey {
    let mut h = Sha256::new();
    h.update(b"identity.v1 session signing key (Ed25519)\0");
    h.update(secret.expose_secret().as_bytes());
    let mut der = ED25519_PKCS8_PREFIX.to_vec();
    der.extend_from_slice(&h.finalize());
    EncodingKey::from_ed_der(&der)
}

impl KeyRing {
    pub(super) fn new(secret: &SecretString, config: &KeyConfig) -> Result<Self> {
        let algorithm = config.algorithm.jwt();
        if config.algorithm == SigningAlgorithm::Hs256 {
            if config.current_pem.is_some() || config.previous_pem.is_some() {
                return Err(Error::Internal(
                    "HS256 takes no key files; choose EdDSA or ES256 to use them".into(),
                ));
            }
            let s = secret.expose_secret().as_bytes();
            return Ok(Self {
                algorithm,
                kid: None,
                encoding: EncodingKey::from_secret(s),
                verifying: vec![VerifyingKey {
                    kid: None,
                    algorithm,
                    decoding: DecodingKey::from_secret(s),
                    jwk: None,
                    retires_at: None,
                }],
            });
        }
        let encoding = match (&config.current_pem, config.algorithm) {
            (Some(pem), alg) => encoding_from_pem(alg, pem)?,
            (None, SigningAlgorithm::EdDsa) => derived_ed25519(secret),
            (None, _) => {
                return Err(Error::Internal(
                    "ES256 needs a signing key file (PEM, PKCS#8, P-256)".into(),
                ));
            }
        };
        let current = asymmetric(&encoding, algorithm, None)?;
        let mut verifying = vec![current.clone()];
        if let Some(pem) = &config.previous_pem {
            let Some(retires_at) = config.previous_retires_at else {
                return Err(Error::Internal(
                    "a previous signing key needs its retirement time".into(),
                ));
            };
            let previous = asymmetric(
                &encoding_from_pem(config.algorithm, pem)?,
                algorithm,
                Some(retires_at),
            )?;
            if previous.kid == current.kid {
                return Err(Error::Internal(
                    "the previous signing key is the current one".into(),
                ));
            }
            verifying.push(previous);
        }
        Ok(Self {
            algorithm,
            kid: current.kid,
            encoding,
            verifying,
        })
    }

    /// The key that verifies a token with header `kid`/`alg` at `now`, if any.
    pub(super) fn verifier(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        now: DateTime<Utc>,
    ) -> Option<&VerifyingKey> {
        self.verifying.iter().find(|k| {
            k.algorithm == alg && k.kid.as_deref() == kid && k.retires_at.is_none_or(|r| now < r)
        })
    }

    /// The public keys in force at `now` (current first).
    pub(super) fn jwks(&self, now: DateTime<Utc>) -> JwkSet {
        JwkSet {
            keys: self
                .verifying
                .iter()
                .filter(|k| k.retires_at.is_none_or(|r| now < r))
                .filter_map(|k| k.jwk.clone())
                .collect(),
        }
    }
}
