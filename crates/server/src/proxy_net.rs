//! Trusted proxies: addresses or CIDR networks (`10.0.0.0/8`, `fd00::/8`, `192.0.2.7`), the
//! peers whose `x-forwarded-for` the server believes (`IDENTITY_LOGIN_TRUSTED_PROXIES`).

use std::{fmt, net::IpAddr, str::FromStr};

use serde::Deserialize;

/// One address or network of trusted proxies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ProxyNet {
    addr: IpAddr,
    prefix: u8,
}

impl ProxyNet {
    /// Whether `ip` is in this network (IPv4-mapped IPv6 peers count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            (IpAddr::V4(_), IpAddr::V6(_)) | (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

impl FromStr for ProxyNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = addr
            .parse::<IpAddr>()
            .map_err(|e| format!("{s:?}: {e}"))?
            .to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0-{max}"))?,
            None => max,
        };
        Ok(Self { addr, prefix })
    }
}

impl From<IpAddr> for ProxyNet {
    /// The single address `ip`.
    fn from(ip: IpAddr) -> Self {
        let addr = ip.to_canonical();
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        Self { addr, prefix }
    }
}

impl TryFrom<String> for ProxyNet {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for ProxyNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Parse a comma-separated list (empty entries ignored).
pub fn parse_list(s: &str) -> Result<Vec<ProxyNet>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn addresses_and_networks_match_what_they_cover() -> Result<(), String> {
        let one: ProxyNet = "10.0.0.1".parse()?;
        assert!(one.contains(ip("10.0.0.1")));
        assert!(one.contains(ip("::ffff:10.0.0.1")));
        assert!(!one.contains(ip("10.0.0.2")));
        let net: ProxyNet = "10.1.0.0/16".parse()?;
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        let v6: ProxyNet = "fd00::/8".parse()?;
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("fe80::1")));
        assert!(!v6.contains(ip("10.1.0.1")));
        let all: ProxyNet = "0.0.0.0/0".parse()?;
        assert!(all.contains(ip("203.0.113.1")));
        assert!("10.0.0.0/33".parse::<ProxyNet>().is_err());
        assert!("nonsense".parse::<ProxyNet>().is_err());
        assert_eq!(parse_list(" 10.0.0.1, ,fd00::/8")?.len(), 2);
        Ok(())
    }
}
