//! Session tokens: HS256 JWTs with issuer, audience and expiry checked against an explicit
//! algorithm list (RFC 8725). A token is valid only while its `tia` claim equals the user's
//! current `token_issued_at`, so a password or role change invalidates every earlier session.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::{Error, Result};

const ISSUER: &str = "identity";
const AUDIENCE: &str = "identity.v1";

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
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: chrono::Duration,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    /// A service signing with `secret` (at least 32 bytes) and tokens living `ttl`.
    pub fn new(secret: &SecretString, ttl: chrono::Duration) -> Result<Self> {
        let s = secret.expose_secret().as_bytes();
        if s.len() < 32 {
            return Err(Error::Internal(
                "the JWT secret must be at least 32 bytes".into(),
            ));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 5;
        validation.validate_nbf = true;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "iat"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(s),
            decoding: DecodingKey::from_secret(s),
            validation,
            ttl,
        })
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
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("JWT".into());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| Error::Internal(format!("jwt encode: {e}")))?;
        Ok((token, exp))
    }

    /// Check signature, algorithm, issuer, audience and expiry. Staleness against the user's
    /// `token_issued_at` is checked by the caller, which has the user.
    pub fn verify(&self, token: &str) -> Result<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|_| Error::Unauthenticated("invalid or expired session token"))
    }

    /// Whether a credential looks like a JWT (three dot-separated parts).
    pub fn looks_like_jwt(credential: &str) -> bool {
        credential.split('.').count() == 3
    }
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
}
