//! Portainer's JSON shapes (dialects.md §1.4), exactly as Portainer's Go structs emit them, and the
//! projections of `identity.v1` messages onto them.

use identity_api::pb;
use prost_types::Timestamp;
use serde::Serialize;

/// Theme colours Portainer (and its generated client's enum) accepts; `""` means "not set".
pub(crate) const THEME_COLORS: [&str; 5] = ["dark", "light", "highcontrast", "auto", ""];

/// How many characters of the raw key Portainer shows as the key's `prefix`.
pub(crate) const KEY_PREFIX_CHARS: usize = 7;

/// Unix seconds of a timestamp; 0 when absent.
pub(crate) fn unix(ts: Option<&Timestamp>) -> i64 {
    ts.map_or(0, |t| t.seconds)
}

/// Portainer's `UserRole`: 1 administrator, 2 standard; 0 when the server sent no role.
pub(crate) fn user_role(global_role: i32) -> i32 {
    match pb::GlobalRole::try_from(global_role) {
        Ok(pb::GlobalRole::Administrator) => 1,
        Ok(pb::GlobalRole::Standard) => 2,
        Ok(pb::GlobalRole::Unspecified) | Err(_) => 0,
    }
}

/// Portainer's `TeamMembership.Role`: 1 leader, 2 member.
fn team_role(role: i32) -> i32 {
    match pb::TeamRole::try_from(role) {
        Ok(pb::TeamRole::Leader) => 1,
        Ok(pb::TeamRole::Member) => 2,
        Ok(pb::TeamRole::Unspecified) | Err(_) => 0,
    }
}

/// `portainer.User.ThemeSettings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct ThemeSettings {
    pub(crate) color: String,
}

/// `portainer.User` with the password blanked (never sent, not even on admin init).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct User {
    #[serde(rename = "Id")]
    pub(crate) id: i64,
    #[serde(rename = "Username")]
    pub(crate) username: String,
    #[serde(rename = "Role")]
    pub(crate) role: i32,
    #[serde(rename = "TokenIssueAt")]
    pub(crate) token_issue_at: i64,
    #[serde(rename = "ThemeSettings")]
    pub(crate) theme_settings: ThemeSettings,
    #[serde(rename = "UseCache")]
    pub(crate) use_cache: bool,
    /// Deprecated and always `null` in Portainer CE; Go emits these capitalised names.
    #[serde(rename = "PortainerAuthorizations")]
    #[schema(value_type = Option<Object>, required = true)]
    pub(crate) portainer_authorizations: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(rename = "EndpointAuthorizations")]
    #[schema(value_type = Option<Object>, required = true)]
    pub(crate) endpoint_authorizations: Option<serde_json::Map<String, serde_json::Value>>,
}

impl From<&pb::User> for User {
    fn from(u: &pb::User) -> Self {
        let pb::User {
            id,
            uid: _,
            handle: _,
            username,
            email: _,
            display_name: _,
            global_role,
            email_verified: _,
            preferences,
            token_issued_at,
            created_at: _,
            updated_at: _,
            has_password: _,
        } = u;
        let prefs = preferences.clone().unwrap_or_default();
        // A colour set through another dialect that Portainer does not know reads as "not set":
        // the generated client rejects any value outside its enum.
        let color = if THEME_COLORS.contains(&prefs.theme_color.as_str()) {
            prefs.theme_color
        } else {
            String::new()
        };
        Self {
            id: *id,
            username: username.clone(),
            role: user_role(*global_role),
            token_issue_at: unix(token_issued_at.as_ref()),
            theme_settings: ThemeSettings { color },
            use_cache: prefs.use_cache,
            portainer_authorizations: None,
            endpoint_authorizations: None,
        }
    }
}

/// `GET /api/users/me`: the user plus `forceChangePassword`, flattened like Go's embedding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct CurrentUser {
    #[serde(flatten)]
    pub(crate) user: User,
    #[serde(rename = "forceChangePassword")]
    pub(crate) force_change_password: bool,
}

/// An item of `GET /api/users`: Portainer's `sanitizeUser` keeps only these three fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct UserListItem {
    #[serde(rename = "Id")]
    pub(crate) id: i64,
    #[serde(rename = "Username")]
    pub(crate) username: String,
    #[serde(rename = "Role")]
    pub(crate) role: i32,
}

impl From<&pb::User> for UserListItem {
    fn from(u: &pb::User) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            role: user_role(u.global_role),
        }
    }
}

/// `portainer.APIKey` without `digest`: this service never returns a key digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiKey {
    pub(crate) id: i64,
    pub(crate) user_id: i64,
    pub(crate) description: String,
    pub(crate) prefix: String,
    pub(crate) date_created: i64,
    pub(crate) last_used: i64,
}

impl From<&pb::ApiKey> for ApiKey {
    fn from(k: &pb::ApiKey) -> Self {
        let pb::ApiKey {
            id,
            uid: _,
            user_id,
            user_uid: _,
            name,
            description,
            prefix,
            role: _,
            scopes: _,
            organization_id: _,
            dataset_ids: _,
            organization_ids: _,
            expires_at: _,
            last_used_at,
            revoked_at: _,
            primary: _,
            created_at,
            updated_at: _,
        } = k;
        // Keys made through Portainer carry the description in both fields; keys made elsewhere
        // may only have a name.
        let description = if description.is_empty() {
            name.clone()
        } else {
            description.clone()
        };
        Self {
            id: *id,
            user_id: *user_id,
            description,
            prefix: prefix.chars().take(KEY_PREFIX_CHARS).collect(),
            date_created: unix(created_at.as_ref()),
            last_used: unix(last_used_at.as_ref()),
        }
    }
}

/// `users.accessTokenResponse`: the plaintext key (shown once) and its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct AccessTokenResponse {
    #[serde(rename = "rawAPIKey")]
    pub(crate) raw_api_key: String,
    #[serde(rename = "apiKey")]
    pub(crate) api_key: ApiKey,
}

/// `portainer.TeamMembership`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct TeamMembership {
    #[serde(rename = "Id")]
    pub(crate) id: i64,
    #[serde(rename = "UserID")]
    pub(crate) user_id: i64,
    #[serde(rename = "TeamID")]
    pub(crate) team_id: i64,
    #[serde(rename = "Role")]
    pub(crate) role: i32,
}

impl From<&pb::TeamMembership> for TeamMembership {
    fn from(m: &pb::TeamMembership) -> Self {
        let pb::TeamMembership {
            id,
            team_id,
            user_id,
            role,
            added_at: _,
        } = m;
        Self {
            id: *id,
            user_id: *user_id,
            team_id: *team_id,
            role: team_role(*role),
        }
    }
}

/// `auth.authenticateResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct AuthenticateResponse {
    pub(crate) jwt: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pb_user() -> pb::User {
        pb::User {
            id: 2,
            username: "bob".into(),
            global_role: pb::GlobalRole::Standard as i32,
            preferences: Some(pb::Preferences {
                theme_color: "dark".into(),
                use_cache: true,
                ..Default::default()
            }),
            token_issued_at: Some(Timestamp {
                seconds: 1_700_000_000,
                nanos: 5,
            }),
            has_password: true,
            ..Default::default()
        }
    }

    #[test]
    fn user_has_portainer_field_names_in_struct_order() -> Result<(), serde_json::Error> {
        let text = serde_json::to_string(&User::from(&pb_user()))?;
        assert_eq!(
            text,
            r#"{"Id":2,"Username":"bob","Role":2,"TokenIssueAt":1700000000,"ThemeSettings":{"color":"dark"},"UseCache":true,"PortainerAuthorizations":null,"EndpointAuthorizations":null}"#
        );
        Ok(())
    }

    #[test]
    fn unknown_theme_colours_read_as_unset() {
        let mut u = pb_user();
        u.preferences = Some(pb::Preferences {
            theme_color: "purple".into(),
            ..Default::default()
        });
        assert_eq!(User::from(&u).theme_settings.color, "");
    }

    #[test]
    fn me_adds_force_change_password() -> Result<(), serde_json::Error> {
        let v = serde_json::to_value(CurrentUser {
            user: User::from(&pb_user()),
            force_change_password: true,
        })?;
        assert_eq!(v["forceChangePassword"], json!(true));
        assert_eq!(v["Id"], json!(2));
        Ok(())
    }

    #[test]
    fn api_key_is_camel_case_without_digest() -> Result<(), serde_json::Error> {
        let k = pb::ApiKey {
            id: 7,
            user_id: 2,
            name: "ci".into(),
            description: "ci".into(),
            prefix: "idk_AbCdEfGh".into(),
            created_at: Some(Timestamp {
                seconds: 10,
                nanos: 0,
            }),
            last_used_at: None,
            ..Default::default()
        };
        let v = serde_json::to_value(ApiKey::from(&k))?;
        assert_eq!(
            v,
            json!({"id":7,"userId":2,"description":"ci","prefix":"idk_AbC","dateCreated":10,"lastUsed":0})
        );
        Ok(())
    }

    #[test]
    fn roles_map_to_portainer_numbers() {
        assert_eq!(user_role(pb::GlobalRole::Administrator as i32), 1);
        assert_eq!(user_role(pb::GlobalRole::Standard as i32), 2);
        assert_eq!(user_role(99), 0);
        let m = pb::TeamMembership {
            id: 1,
            team_id: 3,
            user_id: 2,
            role: pb::TeamRole::Leader as i32,
            added_at: None,
        };
        assert_eq!(
            TeamMembership::from(&m),
            TeamMembership {
                id: 1,
                user_id: 2,
                team_id: 3,
                role: 1
            }
        );
    }
}
