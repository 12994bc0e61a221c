//! API key format: `idk_<32 base62 random>_<6 base62 CRC-32>`.
//!
//! The random part carries ~190 bits. The checksum lets malformed or mistyped keys be rejected
//! before any cache or database access; a scanner can recognise keys by their shape. Only the
//! SHA-256 digest of the whole key is stored.

use sha2::{Digest, Sha256};

/// Prefix of every key this service issues.
pub const KEY_PREFIX: &str = "idk";
const RANDOM_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;
/// Length of a whole key.
pub const KEY_LEN: usize = KEY_PREFIX.len() + 1 + RANDOM_LEN + 1 + CHECKSUM_LEN;
/// Length of the non-secret display prefix (`idk_` and 8 random characters).
pub const DISPLAY_PREFIX_LEN: usize = KEY_PREFIX.len() + 1 + 8;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A freshly generated key: the plaintext (shown once) and what is stored.
#[derive(Clone)]
pub struct GeneratedKey {
    /// The plaintext; hand it to the caller once, never store or log it.
    pub plaintext: String,
    /// Display prefix.
    pub prefix: String,
    /// SHA-256 of the plaintext.
    pub digest: [u8; 32],
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A key that passed the format and checksum check.
#[derive(Clone, Copy)]
pub struct ParsedKey {
    digest: [u8; 32],
}

impl std::fmt::Debug for ParsedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ParsedKey(<redacted>)")
    }
}

impl ParsedKey {
    /// SHA-256 of the key, the lookup handle.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }
}

fn checksum(body: &str) -> String {
    let mut n = u64::from(crc32fast::hash(body.as_bytes()));
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// SHA-256 of a key.
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Generate a new key.
pub fn generate() -> GeneratedKey {
    let mut random = String::with_capacity(RANDOM_LEN);
    while random.len() < RANDOM_LEN {
        let mut buf = [0u8; 48];
        rand::fill(&mut buf);
        // Rejection sampling: 248 = 4 * 62 keeps every character equally likely.
        for b in buf {
            if random.len() == RANDOM_LEN {
                break;
            }
            if b < 248 {
                random.push(char::from(BASE62[usize::from(b % 62)]));
            }
        }
    }
    let body = format!("{KEY_PREFIX}_{random}");
    let plaintext = format!("{body}_{}", checksum(&body));
    GeneratedKey {
        prefix: plaintext[..DISPLAY_PREFIX_LEN].to_owned(),
        digest: digest(&plaintext),
        plaintext,
    }
}

/// Check a presented key's shape and checksum. `None` for anything that is not one of our keys.
pub fn parse(key: &str) -> Option<ParsedKey> {
    if key.len() != KEY_LEN || !key.is_ascii() {
        return None;
    }
    let (body, sum) = key.split_at(KEY_LEN - CHECKSUM_LEN - 1);
    let sum = sum.strip_prefix('_')?;
    let random = body.strip_prefix(KEY_PREFIX)?.strip_prefix('_')?;
    if !random.bytes().all(|b| b.is_ascii_alphanumeric())
        || !sum.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return None;
    }
    let expected = checksum(body);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        expected.as_bytes(),
        sum.as_bytes(),
    )) {
        return None;
    }
    Some(ParsedKey {
        digest: digest(key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_are_unique() {
        let a = generate();
        let b = generate();
        assert_ne!(a.plaintext, b.plaintext);
        assert_eq!(a.plaintext.len(), KEY_LEN);
        assert!(a.plaintext.starts_with("idk_"));
        assert!(a.plaintext.starts_with(&a.prefix));
        let p = parse(&a.plaintext).map(|p| p.digest());
        assert_eq!(p, Some(a.digest));
    }

    #[test]
    fn tampered_keys_fail_the_checksum() {
        let k = generate().plaintext;
        let mut chars: Vec<char> = k.chars().collect();
        chars[10] = if chars[10] == 'a' { 'b' } else { 'a' };
        let tampered: String = chars.into_iter().collect();
        assert!(parse(&tampered).is_none());
        assert!(parse("").is_none());
        assert!(parse("idk_short_abcdef").is_none());
        assert!(parse(&k.replace("idk_", "xyz_")).is_none());
        assert!(parse(&format!("{k}x")).is_none());
    }
}
