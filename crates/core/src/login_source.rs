//! Where a login attempt comes from, as the login protections count it.
//!
//! One source is one IPv4 address, or one IPv6 /64 (what one host usually gets); an
//! IPv4-mapped IPv6 address is its IPv4 address. The per-source attempt limit (in the server)
//! and the failed-login backoff (in [`Identity::login`](crate::service::Identity::login)) both
//! count by this, so an attacker's guesses never add up against somebody else's source.

use std::net::{IpAddr, Ipv6Addr};

/// The source of a login attempt (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LoginSource(IpAddr);

impl LoginSource {
    /// The source a client address belongs to.
    pub fn of(ip: IpAddr) -> Self {
        Self(match ip {
            IpAddr::V4(_) => ip,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
        })
    }

    /// The address that stands for the source (an IPv6 source as its /64's first address).
    pub fn addr(self) -> IpAddr {
        self.0
    }
}

/// The row key of failed logins of `identifier_key` (already trimmed and lower-cased) from
/// `source`: failures are counted per identifier *and* source, so a guesser backs off only
/// himself, never the account's owner elsewhere. Attempts of an unknown source share one
/// counter per identifier.
pub(crate) fn failure_key(identifier_key: &str, source: Option<LoginSource>) -> String {
    match source {
        Some(s) => format!("{}|{identifier_key}", s.addr()),
        None => format!("-|{identifier_key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_hosts_share_their_64_and_mapped_addresses_are_ipv4() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(
            LoginSource::of(ip("2001:db8:1:2::1")),
            LoginSource::of(ip("2001:db8:1:2::ffff"))
        );
        assert_ne!(
            LoginSource::of(ip("2001:db8:1:2::1")),
            LoginSource::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            LoginSource::of(ip("::ffff:192.0.2.1")),
            LoginSource::of(ip("192.0.2.1"))
        );
    }

    #[test]
    fn failures_are_keyed_by_source_and_identifier() {
        let a = Some(LoginSource::of(IpAddr::from([192, 0, 2, 1])));
        let b = Some(LoginSource::of(IpAddr::from([192, 0, 2, 2])));
        assert_eq!(failure_key("alice", a), "192.0.2.1|alice");
        assert_ne!(failure_key("alice", a), failure_key("alice", b));
        assert_eq!(failure_key("alice", None), "-|alice");
    }
}
