//! Session tokens: JWTs signed with Ed25519 (`EdDSA`, the default), P-256 (`ES256`) or, for
//! compatibility, HS256; issuer, audience and expiry checked against the one algorithm of the key
//! named by the token's `kid` (RFC 8725: never the algorithm the token asks for). The public keys
//! are published as a JWK Set ([`TokenService::jwks`]) so that services verify tokens offline. A
//! token is valid only while its `tia` claim equals the user's current `token_issued_at`, so a
//! password or role change invalidates every earlier session.

mod keys;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Header, Validation, jwk::JwkSet};
pub use keys::{KeyConfig, SigningAlgorithm};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::{Error, Result};

/// The `iss` of every token.
pub const ISSUER: &str = "identity";
/// The `aud` of every token.
pub const AUDIENCE: &str = "identity.v1";
const SESSION_TYP: &str = "JWT";
const ACCESS_TYP: &str = "at+jwt";

/// Claims of a session token.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Claims {
    /// Subject: the user's UUID.
    pub sub: String,
    /// Numeric user id.
    pub uid: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Issued at (seconds).
    pub iat: i64,
    /// Expiry (seconds).
    pub exp: i64,
    /// Token id.
    pub jti: String,
    /// The user's `token_issued_at` in microseconds when the token was issued.
    pub tia: i64,
    /// The password used for login was below the policy.
    #[serde(default)]
    pub fcp: bool,
}

/// Signs and checks session tokens.
#[derive(Clone)]
pub struct TokenService {
    keys: keys::KeyRing,
    ttl: chrono::Duration,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("algorithm", &self.keys.algorithm)
            .field("kid", &self.keys.kid)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    /// A service signing with the Ed25519 key derived from `secret` (at least 32 bytes), tokens
    /// living `ttl`.
    pub fn new(secret: &SecretString, ttl: chrono::Duration) -> Result<Self> {
        Self::with_keys(secret, ttl, &KeyConfig::default())
    }

    /// A service signing as `config` says (`secret` serves HS256 and the derived Ed25519 key).
    pub fn with_keys(
        secret: &SecretString,
        ttl: chrono::Duration,
        config: &KeyConfig,
    ) -> Result<Self> {
        if secret.expose_secret().len() < 32 {
            return Err(Error::Internal(
                "the JWT secret must be at least 32 bytes".into(),
            ));
        }
        Ok(Self {
            keys: keys::KeyRing::new(secret, config)?,
            ttl,
        })
    }

    /// The public keys that verify tokens now (current first, then a previous key still in its
    /// overlap window); empty with HS256.
    pub fn jwks(&self) -> JwkSet {
        self.keys.jwks(Utc::now())
    }

    /// The `kid` new tokens carry (`None` with HS256).
    pub fn current_kid(&self) -> Option<&str> {
        self.keys.kid.as_deref()
    }

    /// Issue a token for a user.
    pub fn issue(
        &self,
        user_uid: Uuid,
        user_id: i64,
        token_issued_at: DateTime<Utc>,
        force_change_password: bool,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>)> {
        let exp = now + self.ttl;
        let claims = Claims {
            sub: user_uid.to_string(),
            uid: user_id,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now.timestamp(),
            exp: exp.timestamp(),
            jti: Uuid::new_v4().to_string(),
            tia: token_issued_at.timestamp_micros(),
            fcp: force_change_password,
        };
        Ok((self.sign(&claims)?, exp))
    }

    /// Sign any claims with the current key (its `alg` and `kid` in the header), as a session
    /// token (`typ: JWT`).
    pub fn sign<C: serde::Serialize>(&self, claims: &C) -> Result<String> {
        self.sign_typed(claims, SESSION_TYP)
    }

    /// Sign `claims` as an RFC 9068 access token (`typ: at+jwt`), which is never accepted as a
    /// session.
    pub fn sign_access_token<C: serde::Serialize>(&self, claims: &C) -> Result<String> {
        self.sign_typed(claims, ACCESS_TYP)
    }

    fn sign_typed<C: serde::Serialize>(&self, claims: &C, typ: &str) -> Result<String> {
        let mut header = Header::new(self.keys.algorithm);
        header.typ = Some(typ.into());
        header.kid.clone_from(&self.keys.kid);
        jsonwebtoken::encode(&header, claims, &self.keys.encoding)
            .map_err(|e| Error::Internal(format!("jwt encode: {e}")))
    }

    /// Check signature, algorithm, issuer, audience and expiry with the key the token's `kid`
    /// names (a retired or unknown key, or another algorithm than that key's, is refused).
    /// Staleness against the user's `token_issued_at` is checked by the caller, which has the user.
    pub fn verify(&self, token: &str) -> Result<Claims> {
        const REFUSED: Error = Error::Unauthenticated("invalid or expired session token");
        let header = jsonwebtoken::decode_header(token).map_err(|_| REFUSED)?;
        // An access token (or anything else typed) is no session, whatever its claims.
        if header
            .typ
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case(SESSION_TYP))
        {
            return Err(REFUSED);
        }
        let key = self
            .keys
            .verifier(header.kid.as_deref(), header.alg, Utc::now())
            .ok_or(REFUSED)?;
        jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation(key.algorithm))
            .map(|d| d.claims)
            .map_err(|_| REFUSED)
    }

    /// Whether a credential looks like a JWT (three dot-separated parts).
    pub fn looks_like_jwt(credential: &str) -> bool {
        credential.split('.').count() == 3
    }
}

/// The checks of every token: exactly `algorithm`, issuer, audience, expiry and not-before.
fn validation(algorithm: Algorithm) -> Validation {
    let mut v = Validation::new(algorithm);
    v.algorithms = vec![algorithm];
    v.leeway = 5;
    v.validate_nbf = true;
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[AUDIENCE]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub", "iat"]);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn svc() -> Result<TokenService> {
        TokenService::new(
            &SecretString::from("0123456789abcdef0123456789abcdef".to_owned()),
            chrono::Duration::hours(1),
        )
    }

    #[test]
    fn issue_and_verify() -> Result<()> {
        let s = svc()?;
        let now = Utc::now();
        let (t, _) = s.issue(Uuid::new_v4(), 7, now, false, now)?;
        assert_eq!(s.verify(&t)?.uid, 7);
        Ok(())
    }

    #[test]
    fn expired_and_alg_none_are_rejected() -> Result<()> {
        let s = svc()?;
        let past = Utc::now() - chrono::Duration::hours(3);
        let (t, _) = s.issue(Uuid::new_v4(), 7, past, false, past)?;
        assert!(s.verify(&t).is_err());

        let now = Utc::now();
        let (good, _) = s.issue(Uuid::new_v4(), 7, now, false, now)?;
        let payload = good.split('.').nth(1).unwrap_or_default();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!(
            "{}.{payload}.",
            b64.encode(br#"{"alg":"none","typ":"JWT"}"#)
        );
        assert!(s.verify(&none).is_err());
        let other = TokenService::new(
            &SecretString::from("another-secret-of-32-bytes-length!!".to_owned()),
            chrono::Duration::hours(1),
        )?;
        assert!(other.verify(&good).is_err());
        Ok(())
    }

    /// An Ed25519 private key as PKCS#8 PEM, from a fixed seed.
    pub(super) fn ed25519_pem(seed: u8) -> SecretString {
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&[seed; 32]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        SecretString::from(format!(
            "-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n"
        ))
    }

    fn secret() -> SecretString {
        SecretString::from("0123456789abcdef0123456789abcdef".to_owned())
    }

    fn with(config: &KeyConfig) -> Result<TokenService> {
        TokenService::with_keys(&secret(), chrono::Duration::hours(1), config)
    }

    fn token_of(s: &TokenService) -> Result<String> {
        let now = Utc::now();
        Ok(s.issue(Uuid::new_v4(), 7, now, false, now)?.0)
    }

    #[test]
    fn tokens_name_their_key_and_the_jwks_verifies_them() -> Result<()> {
        let s = svc()?;
        let token = token_of(&s)?;
        let header =
            jsonwebtoken::decode_header(&token).map_err(|e| Error::Internal(e.to_string()))?;
        assert_eq!(header.alg, Algorithm::EdDSA);
        let jwks = s.jwks();
        assert_eq!(jwks.keys.len(), 1);
        let jwk = jwks
            .find(header.kid.as_deref().unwrap_or_default())
            .ok_or_else(|| Error::Internal("kid not in the JWKS".into()))?;
        // The published key alone (no secret) verifies the token.
        let key =
            jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| Error::Internal(e.to_string()))?;
        let claims = jsonwebtoken::decode::<Claims>(&token, &key, &validation(Algorithm::EdDSA))
            .map_err(|e| Error::Internal(e.to_string()))?;
        assert_eq!(claims.claims.uid, 7);
        // The JWKS holds public members only.
        let json = serde_json::to_string(&jwks).map_err(|e| Error::Internal(e.to_string()))?;
        assert!(!json.contains("\"d\""), "{json}");
        Ok(())
    }

    #[test]
    fn an_hs256_token_signed_with_the_secret_is_refused_when_keys_are_asymmetric() -> Result<()> {
        let s = svc()?;
        let good = token_of(&s)?;
        let claims = s.verify(&good)?;
        let mut header = Header::new(Algorithm::HS256);
        header.kid = s.current_kid().map(str::to_owned);
        let confused = jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret().expose_secret().as_bytes()),
        )
        .map_err(|e| Error::Internal(e.to_string()))?;
        assert!(s.verify(&confused).is_err());
        Ok(())
    }

    #[test]
    fn hs256_is_kept_for_compatibility() -> Result<()> {
        let s = with(&KeyConfig {
            algorithm: SigningAlgorithm::Hs256,
            ..KeyConfig::default()
        })?;
        let token = token_of(&s)?;
        assert_eq!(s.verify(&token)?.uid, 7);
        assert!(s.jwks().keys.is_empty(), "nothing to publish");
        assert!(svc()?.verify(&token).is_err(), "EdDSA mode refuses HS256");
        Ok(())
    }

    #[test]
    fn a_previous_key_verifies_until_it_retires() -> Result<()> {
        let old = with(&KeyConfig {
            current_pem: Some(ed25519_pem(1)),
            ..KeyConfig::default()
        })?;
        let old_token = token_of(&old)?;
        let rotated = |retires_at| {
            with(&KeyConfig {
                current_pem: Some(ed25519_pem(2)),
                previous_pem: Some(ed25519_pem(1)),
                previous_retires_at: Some(retires_at),
                ..KeyConfig::default()
            })
        };
        let overlap = rotated(Utc::now() + chrono::Duration::minutes(10))?;
        assert_eq!(overlap.verify(&old_token)?.uid, 7);
        assert_eq!(overlap.jwks().keys.len(), 2);
        assert_ne!(overlap.current_kid(), old.current_kid());
        // New tokens are signed by the new key, which the old service does not know.
        assert!(old.verify(&token_of(&overlap)?).is_err());
        let retired = rotated(Utc::now() - chrono::Duration::seconds(1))?;
        assert!(retired.verify(&old_token).is_err());
        assert_eq!(retired.jwks().keys.len(), 1);
        // The same key file gives the same kid on every replica.
        assert_eq!(rotated(Utc::now())?.current_kid(), retired.current_kid());
        Ok(())
    }

    #[test]
    fn es256_keys_sign_and_publish() -> Result<()> {
        use p256::pkcs8::EncodePrivateKey as _;
        let key =
            p256::SecretKey::from_slice(&[7u8; 32]).map_err(|e| Error::Internal(e.to_string()))?;
        let pem = key
            .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let s = with(&KeyConfig {
            algorithm: SigningAlgorithm::Es256,
            current_pem: Some(SecretString::from(pem.to_string())),
            ..KeyConfig::default()
        })?;
        let token = token_of(&s)?;
        assert_eq!(s.verify(&token)?.uid, 7);
        let jwks = serde_json::to_value(s.jwks()).map_err(|e| Error::Internal(e.to_string()))?;
        assert_eq!(jwks["keys"][0]["kty"], "EC");
        assert_eq!(jwks["keys"][0]["crv"], "P-256");
        assert_eq!(jwks["keys"][0]["alg"], "ES256");
        // ES256 needs its key file; a mismatched previous key or HS256 with files is refused.
        assert!(
            with(&KeyConfig {
                algorithm: SigningAlgorithm::Es256,
                ..KeyConfig::default()
            })
            .is_err()
        );
        assert!(
            with(&KeyConfig {
                algorithm: SigningAlgorithm::Hs256,
                current_pem: Some(ed25519_pem(1)),
                ..KeyConfig::default()
            })
            .is_err()
        );
        Ok(())
    }
}
