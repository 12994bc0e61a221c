//! Redis entries are bound to the digest they are stored under and to the servers that wrote
//! them: each value is `HMAC-SHA256(entry key, "grant" ‖ digest ‖ row) ‖ row`. An entry copied
//! under another digest, edited, or written by anyone without the key fails [`open`], and the
//! cache treats it as a miss (and deletes it), never as a grant.

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};

/// Length of the tag in front of every value.
const TAG_LEN: usize = 32;
/// Domain separation of the tag (a future kind of entry gets its own label).
const LABEL: &[u8] = b"identity-cache grant v1\0";

/// The secret that seals Redis entries. Every replica sharing a Redis needs the same one (the
/// server derives it from its session-token secret).
#[derive(Clone)]
pub struct EntryKey([u8; 32]);

impl std::fmt::Debug for EntryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EntryKey(..)")
    }
}

impl EntryKey {
    /// A key derived from `secret` (SHA-256 with a label of its own, so it is not the secret).
    pub fn derive(secret: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(b"identity-cache entry key v1\0");
        h.update(secret);
        Self(h.finalize().into())
    }

    /// A random key (a cache whose Redis entries no other process can read or forge).
    pub fn random() -> Self {
        let a = uuid::Uuid::new_v4();
        let b = uuid::Uuid::new_v4();
        let mut bytes = Vec::with_capacity(32);
        bytes.extend_from_slice(a.as_bytes());
        bytes.extend_from_slice(b.as_bytes());
        Self::derive(&bytes)
    }

    /// The MAC state over an entry (`None` never happens: HMAC takes keys of any length).
    fn mac(&self, digest: &[u8; 32], row: &[u8]) -> Option<Hmac<Sha256>> {
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.0).ok()?;
        mac.update(LABEL);
        mac.update(digest);
        mac.update(row);
        Some(mac)
    }
}

/// The value to store for `row` under `digest`.
pub(crate) fn seal(key: &EntryKey, digest: &[u8; 32], row: &[u8]) -> Option<Vec<u8>> {
    let tag = key.mac(digest, row)?.finalize().into_bytes();
    let mut out = Vec::with_capacity(TAG_LEN + row.len());
    out.extend_from_slice(&tag);
    out.extend_from_slice(row);
    Some(out)
}

/// The row of a value read under `digest`, when its tag is right (checked in constant time).
pub(crate) fn open<'a>(key: &EntryKey, digest: &[u8; 32], value: &'a [u8]) -> Option<&'a [u8]> {
    if value.len() < TAG_LEN {
        return None;
    }
    let (tag, row) = value.split_at(TAG_LEN);
    key.mac(digest, row)?.verify_slice(tag).ok()?;
    Some(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_opens_only_under_its_digest_and_key() {
        let key = EntryKey::derive(b"secret");
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let sealed = seal(&key, &a, b"{\"row\":1}").unwrap_or_default();
        assert_eq!(open(&key, &a, &sealed), Some(&b"{\"row\":1}"[..]));
        assert_eq!(open(&key, &b, &sealed), None, "copied under another digest");
        assert_eq!(open(&EntryKey::derive(b"other"), &a, &sealed), None);
        let mut edited = sealed.clone();
        if let Some(last) = edited.last_mut() {
            *last ^= 1;
        }
        assert_eq!(open(&key, &a, &edited), None, "edited");
        assert_eq!(open(&key, &a, b"{\"row\":1}"), None, "unsealed");
        assert_eq!(open(&key, &a, b""), None);
    }
}
