//! Session tokens issued in the past, for tests of rules that depend on a session's age (the
//! recent-login rule of key creation).

use std::time::Duration;

use crate::TestApp;
use identity_api::pb;

impl TestApp {
    /// A valid session token of `user` (as its current `token_issued_at` stands) whose login was
    /// `age` ago, signed like the server's own; it expires a session lifetime after that login.
    pub fn session_issued_ago(&self, user: &pb::User, age: Duration) -> String {
        let tokens = self.token_service();
        let tia = user
            .token_issued_at
            .as_ref()
            .and_then(|t| {
                chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
            })
            .unwrap_or_else(|| panic!("user {} has no token_issued_at", user.id));
        let uid = user
            .uid
            .parse()
            .unwrap_or_else(|e| panic!("user {} has a bad uid: {e}", user.id));
        let age = chrono::Duration::from_std(age).unwrap_or_else(|e| panic!("bad age: {e}"));
        #[allow(clippy::disallowed_methods)]
        let issued = chrono::Utc::now() - age;
        let (token, _) = tokens
            .issue(uid, user.id, tia, false, issued)
            .unwrap_or_else(|e| panic!("issuing a test token failed: {e}"));
        token
    }
}
