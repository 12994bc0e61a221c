//! The public side of token signing: the JWK Set that lets services verify tokens offline.

use super::Identity;

/// One public verification key, as the JWK members every transport prints.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PublicJwk {
    /// `kty`: "OKP" or "EC".
    pub kty: String,
    /// `crv`: "Ed25519" or "P-256".
    pub crv: String,
    /// `x` (base64url).
    pub x: String,
    /// `y` (base64url; EC only, else empty).
    pub y: String,
    /// `kid`: the RFC 7638 thumbprint.
    pub kid: String,
    /// `alg`: "EdDSA" or "ES256".
    pub alg: String,
}

impl Identity {
    /// The public keys that verify tokens now, current first (none in HS256 mode).
    pub fn jwks(&self) -> Vec<PublicJwk> {
        let set = serde_json::to_value(self.tokens.jwks()).unwrap_or_default();
        let field = |k: &serde_json::Value, name: &str| {
            k.get(name)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        set.get("keys")
            .and_then(serde_json::Value::as_array)
            .map(|keys| {
                keys.iter()
                    .map(|k| PublicJwk {
                        kty: field(k, "kty"),
                        crv: field(k, "crv"),
                        x: field(k, "x"),
                        y: field(k, "y"),
                        kid: field(k, "kid"),
                        alg: field(k, "alg"),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Longest life of an exchanged access token.
pub const MAX_ACCESS_TOKEN_SECS: u32 = 900;

/// A short-lived access token for an API key.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The signed JWT (`typ: at+jwt`).
    pub token: String,
    /// Its expiry.
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// Seconds from now to the expiry.
    pub expires_in: i64,
    /// The scopes it carries.
    pub scopes: Vec<String>,
    /// The organization the key is bound to, if any.
    pub organization_id: Option<uuid::Uuid>,
}

/// The claims of an access token (RFC 9068 names, plus the numeric user id).
#[derive(Debug, serde::Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: String,
    uid: i64,
    client_id: String,
    iat: i64,
    exp: i64,
    jti: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    org: Option<String>,
}

impl Identity {
    /// Exchange an API key for an access token of at most `ttl_secs` (0: the maximum, 900 s),
    /// never outliving the key, carrying the key's scopes — or `scopes`, which must be a subset —
    /// and its organization binding. A revoked, expired or unknown key is UNAUTHENTICATED at once
    /// (the same lookup as Authenticate, whose cache every revocation clears).
    pub async fn exchange_api_key(
        &self,
        api_key: &str,
        ttl_secs: u32,
        scopes: &[String],
    ) -> crate::Result<AccessToken> {
        use crate::{Error, principal::Credential};
        if ttl_secs > MAX_ACCESS_TOKEN_SECS {
            return Err(Error::invalid(
                "ttl_seconds",
                format!("at most {MAX_ACCESS_TOKEN_SECS}"),
            ));
        }
        if scopes.len() > 64 {
            return Err(Error::invalid("scopes", "at most 64 scopes"));
        }
        let api_key = api_key.trim();
        // Only an API key: a session token is not exchanged.
        if crate::keys::parse(api_key).is_none() {
            return Err(Error::Unauthenticated("invalid API key"));
        }
        let p = self.authenticate(api_key).await?;
        let Credential::ApiKey(key) = &p.credential else {
            return Err(Error::Unauthenticated("invalid API key"));
        };
        let granted = if scopes.is_empty() {
            key.scopes.clone()
        } else {
            if let Some(extra) = scopes.iter().find(|s| !key.scopes.contains(s)) {
                return Err(Error::invalid(
                    "scopes",
                    format!("{extra:?} is not a scope of this key"),
                ));
            }
            scopes.to_vec()
        };
        let now = self.clock.now();
        let ttl = if ttl_secs == 0 {
            MAX_ACCESS_TOKEN_SECS
        } else {
            ttl_secs
        };
        let mut expires_at = now + chrono::Duration::seconds(i64::from(ttl));
        if let Some(e) = key.expires_at {
            expires_at = expires_at.min(e);
        }
        let claims = AccessClaims {
            iss: crate::token::ISSUER,
            aud: crate::token::AUDIENCE,
            sub: p.user.uid.to_string(),
            uid: p.user.id,
            client_id: key.uid.to_string(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
            scope: granted.join(" "),
            org: key.organization_id.map(|o| o.to_string()),
        };
        Ok(AccessToken {
            token: self.tokens.sign_access_token(&claims)?,
            expires_at,
            expires_in: (expires_at - now).num_seconds(),
            scopes: granted,
            organization_id: key.organization_id,
        })
    }
}
