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
