//! Role enums and their stable storage names.

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            /// The stable storage name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }

            /// Parse a storage name.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$v),)+ _ => None }
            }
        }
    };
}

string_enum! {
    /// Global role of a user.
    GlobalRole {
        /// Full rights.
        Administrator = "administrator",
        /// Ordinary user.
        Standard = "standard",
    }
}

string_enum! {
    /// Role in an organization, ordered by rights.
    OrgRole {
        /// Ordinary member.
        Member = "member",
        /// May manage members.
        Admin = "admin",
        /// Full rights over the organization.
        Owner = "owner",
    }
}

string_enum! {
    /// Role in a team.
    TeamRole {
        /// Leader.
        Leader = "leader",
        /// Member.
        Member = "member",
    }
}

string_enum! {
    /// Capability of an API key on top of its owner's rights.
    KeyRole {
        /// Everything the owner may do.
        Inherit = "inherit",
        /// Read-only; organization rights capped at member.
        Read = "read",
        /// Read and write; organization rights capped at member.
        Write = "write",
        /// Organization rights capped at admin.
        Admin = "admin",
        /// Organization rights capped at owner.
        Owner = "owner",
    }
}

impl KeyRole {
    /// The highest organization role a key of this role may use; `None` means no cap.
    pub fn org_cap(self) -> Option<OrgRole> {
        match self {
            KeyRole::Inherit => None,
            KeyRole::Read | KeyRole::Write => Some(OrgRole::Member),
            KeyRole::Admin => Some(OrgRole::Admin),
            KeyRole::Owner => Some(OrgRole::Owner),
        }
    }

    /// Whether the key keeps its owner's global administrator rights.
    pub fn keeps_global_admin(self) -> bool {
        match self {
            KeyRole::Inherit => true,
            KeyRole::Read | KeyRole::Write | KeyRole::Admin | KeyRole::Owner => false,
        }
    }

    /// Whether the key may only make read-only calls.
    pub fn read_only(self) -> bool {
        match self {
            KeyRole::Read => true,
            KeyRole::Inherit | KeyRole::Write | KeyRole::Admin | KeyRole::Owner => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_names_round_trip() {
        for r in [GlobalRole::Administrator, GlobalRole::Standard] {
            assert_eq!(GlobalRole::parse(r.as_str()), Some(r));
        }
        for r in [OrgRole::Member, OrgRole::Admin, OrgRole::Owner] {
            assert_eq!(OrgRole::parse(r.as_str()), Some(r));
        }
        for r in [
            KeyRole::Inherit,
            KeyRole::Read,
            KeyRole::Write,
            KeyRole::Admin,
            KeyRole::Owner,
        ] {
            assert_eq!(KeyRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(OrgRole::parse("superuser"), None);
    }

    #[test]
    fn org_roles_are_ordered_by_rights() {
        assert!(OrgRole::Member < OrgRole::Admin && OrgRole::Admin < OrgRole::Owner);
    }
}
