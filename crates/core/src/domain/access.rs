//! What of a user is a privilege (set only by administrators) and what is private (shown only to
//! the user itself and to those who manage it).

use super::{GlobalRole, Preferences, User};

impl Preferences {
    /// Whether `other` grants exactly the product access these preferences grant. The Tyk flags
    /// `show_chat`, `show_portal` (the "Developer" role), `notifications_enabled` and
    /// `access_to_sso_config` are privileges that only administrators set; the theme colour and
    /// Portainer's `use_cache` are the user's own settings.
    pub fn same_privileges(&self, other: &Self) -> bool {
        let Self {
            theme_color: _,
            use_cache: _,
            show_chat,
            show_portal,
            notifications_enabled,
            access_to_sso_config,
        } = self;
        *show_chat == other.show_chat
            && *show_portal == other.show_portal
            && *notifications_enabled == other.notifications_enabled
            && *access_to_sso_config == other.access_to_sso_config
    }
}

impl User {
    /// The user as anyone in a shared organization may see it: ids, names and creation time.
    /// The e-mail and its verification, the role, the preferences, the password state and the
    /// session and modification times are cleared (the role reads as standard).
    pub fn public_profile(&self) -> User {
        User {
            id: self.id,
            uid: self.uid,
            username: self.username.clone(),
            email: None,
            display_name: self.display_name.clone(),
            global_role: GlobalRole::Standard,
            email_verified: false,
            password_hash: None,
            token_issued_at: self.created_at,
            preferences: Preferences::default(),
            created_at: self.created_at,
            updated_at: self.created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_product_flags_are_privileges() {
        let base = Preferences::default();
        let own = Preferences {
            theme_color: "dark".into(),
            use_cache: true,
            ..base.clone()
        };
        assert!(base.same_privileges(&own));
        for granted in [
            Preferences {
                show_portal: true,
                ..base.clone()
            },
            Preferences {
                access_to_sso_config: true,
                ..base.clone()
            },
            Preferences {
                show_chat: true,
                ..base.clone()
            },
            Preferences {
                notifications_enabled: true,
                ..base.clone()
            },
        ] {
            assert!(!base.same_privileges(&granted), "{granted:?}");
        }
    }
}
