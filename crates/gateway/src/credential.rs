//! The caller's credential, as it is forwarded to the identity server.

use std::fmt;

/// A credential taken from a dialect's own headers, to be sent as gRPC metadata.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// Sent as `authorization: Bearer <token>` (a session JWT, or any credential the server takes
    /// in that form).
    Bearer(String),
    /// Sent as `x-api-key: <key>`.
    ApiKey(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Bearer(_) => f.write_str("Credential::Bearer(<redacted>)"),
            Credential::ApiKey(_) => f.write_str("Credential::ApiKey(<redacted>)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let s = format!(
            "{:?} {:?}",
            Credential::Bearer("jwt-secret".into()),
            Credential::ApiKey("key-secret".into())
        );
        assert!(!s.contains("secret"), "{s}");
    }
}
