//! Validated strings: usernames, e-mails, names and passwords.

use secrecy::{ExposeSecret, SecretString};

const MAX_USERNAME: usize = 128;
const MAX_EMAIL: usize = 254;
/// Upper bound on password length, so that hashing cost stays bounded.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Check a string that is looked up or stored as it is (login identifiers, filters, search text):
/// no control characters, NUL included. Every such input passes here before it reaches storage.
pub fn check_text(s: &str) -> Result<(), String> {
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// The confusable skeleton of a stored username key (see [`Username::skeleton`]); also what a
/// migration computes for rows stored before skeletons were.
pub fn username_skeleton(key: &str) -> String {
    super::lookalike::skeleton(key)
}

/// A username: 1-128 characters, no whitespace, control, invisible or bidi characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Validate a username as given (case kept).
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        if s.chars().count() > MAX_USERNAME {
            return Err(format!("must be at most {MAX_USERNAME} characters"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces or control characters".into());
        }
        if s.chars().any(super::lookalike::is_invisible) {
            return Err("must not contain invisible or text-direction characters".into());
        }
        Ok(Self(s.to_owned()))
    }

    /// The confusable skeleton (UTS #39) of the case-insensitive key: two usernames that look
    /// alike have the same skeleton, and at most one user may have each (a unique index).
    pub fn skeleton(&self) -> String {
        username_skeleton(&self.key())
    }

    /// The name lower-cased, as stored on creation.
    pub fn lowercased(&self) -> Self {
        Self(self.0.to_lowercase())
    }

    /// Case-insensitive comparison key.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address (lightly checked: one `@`, non-empty parts, no whitespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Validate an address.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.len() > MAX_EMAIL {
            return Err(format!("must be at most {MAX_EMAIL} characters"));
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err("must be an e-mail address".into());
        };
        if local.is_empty()
            || domain.is_empty()
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || s.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err("must be an e-mail address".into());
        }
        Ok(Self(s.to_owned()))
    }

    /// Case-insensitive comparison key.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A free-form name (display names, key names, organization and team names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// Validate: trimmed length within `min..=max` characters, no control characters.
    pub fn parse(s: &str, min: usize, max: usize) -> Result<Self, String> {
        let t = s.trim();
        let n = t.chars().count();
        if n < min {
            return Err(if min == 1 {
                "must not be empty".into()
            } else {
                format!("must be at least {min} characters")
            });
        }
        if n > max {
            return Err(format!("must be at most {max} characters"));
        }
        if t.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(t.to_owned()))
    }

    /// The name.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Password rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Minimum length in characters.
    pub min_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        // Portainer's default, and above NIST SP 800-63B's floor of 8.
        Self { min_length: 12 }
    }
}

/// A password that satisfied a policy (or one presented for verification).
#[derive(Clone)]
pub struct Password(SecretString);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// Validate a new password against `policy`.
    pub fn parse_new(s: &str, policy: PasswordPolicy) -> Result<Self, String> {
        if s.chars().count() < policy.min_length {
            return Err(format!("must be at least {} characters", policy.min_length));
        }
        Self::parse_presented(s)
    }

    /// Accept a password presented for verification (only the size bound applies).
    pub fn parse_presented(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        if s.len() > MAX_PASSWORD_BYTES {
            return Err(format!("must be at most {MAX_PASSWORD_BYTES} bytes"));
        }
        Ok(Self(SecretString::from(s.to_owned())))
    }

    /// The secret.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether the password is shorter than `policy` asks.
    pub fn below(&self, policy: PasswordPolicy) -> bool {
        self.expose().chars().count() < policy.min_length
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(Username::parse("alice").is_ok());
        assert!(Username::parse("").is_err());
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse("a\tb").is_err());
        assert!(Username::parse(&"x".repeat(129)).is_err());
        assert_eq!(
            Username::parse("AliCe").map(|u| u.key()),
            Ok("alice".to_owned())
        );
        for bad in ["a\u{200B}b", "\u{202E}nimda", "ad\u{2066}min", "x\u{FEFF}"] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
        let skeleton = |s: &str| Username::parse(s).map(|u| u.skeleton());
        assert_eq!(skeleton("\u{0410}dmin"), skeleton("admin"));
        assert_ne!(skeleton("alice"), skeleton("alicia"));
    }

    #[test]
    fn text_without_control_characters() {
        assert!(check_text("a@example.com").is_ok());
        assert!(check_text("ad\0min").is_err());
        assert!(check_text("a\u{7F}").is_err());
    }

    #[test]
    fn emails() {
        assert!(Email::parse("a@example.com").is_ok());
        for bad in ["", "a", "a@", "@b.c", "a@b", "a@@b.c", "a b@c.d", "a@.com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Email::parse("A@Example.COM").map(|e| e.key()),
            Ok("a@example.com".to_owned())
        );
    }

    #[test]
    fn passwords() {
        let p = PasswordPolicy { min_length: 12 };
        assert!(Password::parse_new("short", p).is_err());
        assert!(Password::parse_new("long-enough-pw", p).is_ok());
        assert!(Password::parse_presented(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse_presented("secret").ok()),
            "Some(Password(<redacted>))"
        );
    }

    #[test]
    fn names() {
        assert_eq!(
            Name::parse("  team  ", 1, 10).map(Name::into_inner),
            Ok("team".into())
        );
        assert!(Name::parse("   ", 1, 10).is_err());
        assert!(Name::parse("abcdefghijk", 1, 10).is_err());
    }
}
