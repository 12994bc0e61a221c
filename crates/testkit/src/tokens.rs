//! Tokens made the way the test server makes them, for tests that forge or alter claims.

use identity_core::token::TokenService;
use secrecy::SecretString;

use crate::TestApp;

impl TestApp {
    /// A token service signing exactly like the server's (same secret, keys and lifetime).
    pub(crate) fn token_service(&self) -> TokenService {
        identity_server::startup::token_service(
            &self.settings,
            &SecretString::from(self.jwt_secret().to_owned()),
        )
        .unwrap_or_else(|e| panic!("the test server's token service: {e:#}"))
    }

    /// Sign `claims` with the server's current session-token key (same algorithm and `kid`).
    pub fn sign_token(&self, claims: &serde_json::Value) -> String {
        self.token_service()
            .sign(claims)
            .unwrap_or_else(|e| panic!("signing test claims: {e}"))
    }
}
