//! Cursor pagination: page-size clamping and opaque page tokens.

use base64::Engine as _;

use crate::{Error, Result};

/// Default page size.
pub const DEFAULT_PAGE_SIZE: u64 = 20;
/// Largest page size; larger requests are capped.
pub const MAX_PAGE_SIZE: u64 = 100;

/// A validated page request: return rows with key strictly greater than `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Last key of the previous page.
    pub after: Option<i64>,
    /// Rows to return.
    pub limit: u64,
}

impl PageRequest {
    /// Parse `page_size` and `page_token`.
    pub fn parse(page_size: i32, page_token: &str) -> Result<Self> {
        let limit = match page_size {
            n if n < 0 => return Err(Error::invalid("page_size", "must not be negative")),
            0 => DEFAULT_PAGE_SIZE,
            n => u64::try_from(n).unwrap_or(MAX_PAGE_SIZE).min(MAX_PAGE_SIZE),
        };
        let after = if page_token.is_empty() {
            None
        } else {
            Some(decode(page_token)?)
        };
        Ok(Self { after, limit })
    }
}

/// Encode the cursor after `last`.
pub fn encode(last: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1:{last}"))
}

fn decode(token: &str) -> Result<i64> {
    let bad = || Error::invalid("page_token", "is not a token from a previous response");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let s = std::str::from_utf8(&raw).map_err(|_| bad())?;
    s.strip_prefix("v1:")
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(bad)
}

/// Build the next-page token from a page fetched with `limit + 1` rows: trims the extra row.
pub fn next_token<T>(rows: &mut Vec<T>, limit: u64, key: impl Fn(&T) -> i64) -> String {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| encode(key(r))).unwrap_or_default()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_defaulted_and_capped() -> Result<()> {
        assert_eq!(PageRequest::parse(0, "")?.limit, DEFAULT_PAGE_SIZE);
        assert_eq!(PageRequest::parse(1000, "")?.limit, MAX_PAGE_SIZE);
        assert!(PageRequest::parse(-1, "").is_err());
        Ok(())
    }

    #[test]
    fn tokens_round_trip_and_garbage_is_rejected() -> Result<()> {
        assert_eq!(PageRequest::parse(5, &encode(42))?.after, Some(42));
        assert!(PageRequest::parse(5, "garbage!").is_err());
        assert!(
            PageRequest::parse(
                5,
                &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("v2:1")
            )
            .is_err()
        );
        Ok(())
    }

    #[test]
    fn next_token_trims_the_lookahead_row() {
        let mut rows = vec![1, 2, 3];
        assert_eq!(next_token(&mut rows, 2, |r| *r), encode(2));
        assert_eq!(rows, vec![1, 2]);
        let mut rows = vec![1];
        assert_eq!(next_token(&mut rows, 2, |r| *r), "");
    }
}
