//! Tyk AI Studio's user shapes (dialects.md §3.4): `UserResponse` out, `UserInput` in.

use identity_api::pb;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::TykError;

/// The id Tyk treats as the Super Admin (when it is an administrator).
pub(crate) const SUPER_ADMIN_ID: i64 = 1;

/// `{"data": …}`: every success body.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Data<T> {
    pub(crate) data: T,
}

/// `UserResponse`: `{"type":"users","id":"<id>","attributes":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct UserResponse {
    /// Always `users`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub(crate) kind: &'static str,
    pub(crate) id: String,
    pub(crate) attributes: UserAttributes,
}

/// The attributes of a user. `groups` is never sent: this service has no Tyk groups, and Tyk
/// omits an empty list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct UserAttributes {
    pub(crate) email: String,
    pub(crate) name: String,
    pub(crate) is_admin: bool,
    pub(crate) show_chat: bool,
    pub(crate) show_portal: bool,
    pub(crate) email_verified: bool,
    /// `""` except in the roll response: only digests are stored.
    pub(crate) api_key: String,
    pub(crate) notifications_enabled: bool,
    pub(crate) access_to_sso_config: bool,
    /// `Super Admin`, `Admin`, `Developer` or `Chat user`.
    #[schema(value_type = String)]
    pub(crate) role: &'static str,
}

/// Tyk's `GetRole()`.
pub(crate) fn role(id: i64, is_admin: bool, show_portal: bool) -> &'static str {
    match (is_admin, show_portal) {
        (true, _) if id == SUPER_ADMIN_ID => "Super Admin",
        (true, _) => "Admin",
        (false, true) => "Developer",
        (false, false) => "Chat user",
    }
}

impl UserResponse {
    /// The projection of `u`, with `api_key` set to `key` (`""` unless just rolled).
    pub(crate) fn new(u: &pb::User, key: String) -> Self {
        let prefs = u.preferences.clone().unwrap_or_default();
        let is_admin = u.global_role == pb::GlobalRole::Administrator as i32;
        let name = if u.display_name.is_empty() {
            u.username.clone()
        } else {
            u.display_name.clone()
        };
        Self {
            kind: "users",
            id: u.id.to_string(),
            attributes: UserAttributes {
                email: u.email.clone().unwrap_or_default(),
                name,
                is_admin,
                show_chat: prefs.show_chat,
                show_portal: prefs.show_portal,
                email_verified: u.email_verified,
                api_key: key,
                notifications_enabled: prefs.notifications_enabled,
                access_to_sso_config: prefs.access_to_sso_config,
                role: role(u.id, is_admin, prefs.show_portal),
            },
        }
    }
}

impl From<&pb::User> for UserResponse {
    fn from(u: &pb::User) -> Self {
        Self::new(u, String::new())
    }
}

/// `UserInput`: `{"data":{"type","attributes":{…}}}`; `type` is not checked, unknown keys are
/// ignored, absent values are zero values (Go semantics).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct UserInputEnvelope {
    #[serde(default)]
    data: Option<UserInputData>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct UserInputData {
    #[serde(default)]
    attributes: Option<UserInput>,
}

/// The attributes of `UserInput`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub(crate) struct UserInput {
    #[serde(default)]
    pub(crate) email: Option<String>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) password: Option<String>,
    #[serde(default)]
    pub(crate) is_admin: Option<bool>,
    #[serde(default)]
    pub(crate) show_chat: Option<bool>,
    #[serde(default)]
    pub(crate) show_portal: Option<bool>,
    #[serde(default)]
    pub(crate) email_verified: Option<bool>,
    #[serde(default)]
    pub(crate) notifications_enabled: Option<bool>,
    #[serde(default)]
    pub(crate) access_to_sso_config: Option<bool>,
    #[serde(default)]
    pub(crate) groups: Option<Vec<u64>>,
}

impl UserInput {
    /// Parse a request body; a wrong shape or JSON type is 400.
    pub(crate) fn parse(value: Value) -> Result<Self, TykError> {
        let envelope: UserInputEnvelope = serde_json::from_value(value)
            .map_err(|e| TykError::bad_request(format!("invalid request body: {e}")))?;
        let input = envelope
            .data
            .and_then(|d| d.attributes)
            .ok_or_else(|| TykError::bad_request("data.attributes is required"))?;
        input.validate()?;
        Ok(input)
    }

    /// Tyk's own rules before anything is sent.
    fn validate(&self) -> Result<(), TykError> {
        let admin = self.is_admin.unwrap_or(false);
        if !admin && self.notifications_enabled.unwrap_or(false) {
            return Err(TykError::bad_request(
                "notifications can only be enabled for admin users",
            ));
        }
        if !admin && self.access_to_sso_config.unwrap_or(false) {
            return Err(TykError::bad_request(
                "access to SSO config can only be granted to admin users",
            ));
        }
        if self.groups.as_ref().is_some_and(|g| !g.is_empty()) {
            // This service has no Tyk groups, so any group id is unknown.
            return Err(TykError::bad_request("groups not found"));
        }
        Ok(())
    }

    /// The e-mail, trimmed; `""` when absent.
    pub(crate) fn email(&self) -> String {
        self.email.as_deref().unwrap_or("").trim().to_owned()
    }

    /// The global role the input asks for.
    pub(crate) fn global_role(&self) -> pb::GlobalRole {
        if self.is_admin.unwrap_or(false) {
            pb::GlobalRole::Administrator
        } else {
            pb::GlobalRole::Standard
        }
    }

    /// The Tyk preferences (the other dialects' preferences are the caller's to keep).
    pub(crate) fn preferences(&self) -> pb::Preferences {
        pb::Preferences {
            theme_color: String::new(),
            use_cache: false,
            show_chat: self.show_chat.unwrap_or(false),
            show_portal: self.show_portal.unwrap_or(false),
            notifications_enabled: self.notifications_enabled.unwrap_or(false),
            access_to_sso_config: self.access_to_sso_config.unwrap_or(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn roles_are_derived_like_tyk() {
        assert_eq!(role(1, true, false), "Super Admin");
        assert_eq!(role(1, false, true), "Developer");
        assert_eq!(role(2, true, true), "Admin");
        assert_eq!(role(3, false, true), "Developer");
        assert_eq!(role(3, false, false), "Chat user");
    }

    #[test]
    fn response_shape() -> Result<(), serde_json::Error> {
        let u = pb::User {
            id: 5,
            username: "dev".into(),
            email: Some("dev@example.com".into()),
            global_role: pb::GlobalRole::Standard as i32,
            email_verified: true,
            preferences: Some(pb::Preferences {
                show_chat: true,
                show_portal: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = serde_json::to_value(Data {
            data: UserResponse::new(&u, "k".into()),
        })?;
        assert_eq!(
            v,
            json!({"data":{"type":"users","id":"5","attributes":{"email":"dev@example.com","name":"dev","is_admin":false,"show_chat":true,"show_portal":true,"email_verified":true,"api_key":"k","notifications_enabled":false,"access_to_sso_config":false,"role":"Developer"}}})
        );
        Ok(())
    }

    #[test]
    fn input_rules() {
        let ok = UserInput::parse(
            json!({"data":{"type":"x","attributes":{"email":"a@b.c","is_admin":true,"notifications_enabled":true,"extra":1}}}),
        );
        assert!(ok.is_ok());
        for bad in [
            json!([]),
            json!({"data": {}}),
            json!({"data":{"attributes":{"is_admin":"yes"}}}),
            json!({"data":{"attributes":{"notifications_enabled":true}}}),
            json!({"data":{"attributes":{"access_to_sso_config":true}}}),
            json!({"data":{"attributes":{"groups":[1]}}}),
        ] {
            let e = UserInput::parse(bad.clone())
                .err()
                .map(|e| e.status().as_u16());
            assert_eq!(e, Some(400), "{bad}");
        }
    }
}
