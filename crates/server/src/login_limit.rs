//! Per-source limit on login attempts: a token bucket per client [`LoginSource`] (an IPv4
//! address, an IPv6 /64), in-process and with bounded memory.
//!
//! The client address is decided here, in [`LoginLimiter::source`]: the gRPC peer, unless the
//! peer is a configured trusted proxy (`IDENTITY_LOGIN_TRUSTED_PROXIES`, empty by default; a
//! loopback peer is not trusted for being loopback): then the right-most entry of its
//! `x-forwarded-for` metadata, which the proxy appended. The in-process gateway does not use the
//! header: its calls carry the client's socket peer as their peer (`startup::in_process`).

use std::{
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use identity_core::{Error, Limit, login_source::LoginSource};
use moka::future::Cache;

use crate::proxy_net::ProxyNet;

/// Settings of the per-source limiter.
#[derive(Debug, Clone)]
pub struct SourceLimit {
    /// Attempts a source may make at once; 0 disables the limit.
    pub burst: u32,
    /// Attempts regained per minute.
    pub per_minute: u32,
    /// Sources tracked at once (least recently used ones are forgotten).
    pub max_sources: u64,
    /// Peers whose `x-forwarded-for` is believed.
    pub trusted_proxies: Vec<ProxyNet>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The limiter.
#[derive(Clone)]
pub(crate) struct LoginLimiter {
    settings: Arc<SourceLimit>,
    buckets: Cache<LoginSource, Arc<Mutex<Bucket>>>,
}

impl std::fmt::Debug for LoginLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLimiter")
            .field("settings", &self.settings)
            .field("sources", &self.buckets.entry_count())
            .finish()
    }
}

impl LoginLimiter {
    pub(crate) fn new(settings: SourceLimit) -> Self {
        // An idle bucket is full again after burst / rate minutes: forgetting it then is exact.
        let refill = if settings.per_minute == 0 {
            Duration::from_secs(24 * 3600)
        } else {
            Duration::from_secs_f64(
                60.0 * f64::from(settings.burst.max(1)) / f64::from(settings.per_minute),
            )
        };
        Self {
            buckets: Cache::builder()
                .max_capacity(settings.max_sources.max(1))
                .time_to_idle(refill.max(Duration::from_secs(1)))
                .build(),
            settings: Arc::new(settings),
        }
    }

    /// The source of a request from `peer` with `forwarded_for` metadata: the header's
    /// right-most address only when `peer` is a configured trusted proxy, else the peer.
    pub(crate) fn source(
        &self,
        peer: Option<IpAddr>,
        forwarded_for: Option<&str>,
    ) -> Option<LoginSource> {
        let trusted = peer.is_some_and(|p| {
            self.settings
                .trusted_proxies
                .iter()
                .any(|net| net.contains(p))
        });
        if trusted
            && let Some(ip) = forwarded_for
                .and_then(|v| v.rsplit(',').next())
                .and_then(|last| last.trim().parse::<IpAddr>().ok())
        {
            return Some(LoginSource::of(ip));
        }
        peer.map(LoginSource::of)
    }

    /// Take one attempt from `source`'s bucket, or say when to come back.
    pub(crate) async fn check(&self, source: Option<LoginSource>) -> Result<(), Error> {
        let s = &self.settings;
        let Some(key) = source.filter(|_| s.burst > 0) else {
            return Ok(());
        };
        let burst = f64::from(s.burst);
        let bucket = self
            .buckets
            .get_with(key, async move {
                Arc::new(Mutex::new(Bucket {
                    tokens: burst,
                    at: Instant::now(),
                }))
            })
            .await;
        let per_sec = f64::from(s.per_minute) / 60.0;
        let mut b = bucket
            .lock()
            .map_err(|_| Error::Internal("login limiter lock poisoned".into()))?;
        let now = Instant::now();
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * per_sec).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let wait = if per_sec > 0.0 {
            ((1.0 - b.tokens) / per_sec).ceil()
        } else {
            3600.0
        };
        Err(Error::ResourceExhausted {
            retry_after_secs: (wait as u64).max(1),
            limit: Limit::LoginSource,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(burst: u32, per_minute: u32) -> LoginLimiter {
        LoginLimiter::new(SourceLimit {
            burst,
            per_minute,
            max_sources: 100,
            trusted_proxies: vec![ProxyNet::from(IpAddr::from([10, 0, 0, 1]))],
        })
    }

    #[tokio::test]
    async fn a_source_gets_its_burst_then_is_refused_others_are_not() -> Result<(), Error> {
        let l = limiter(3, 1);
        let a = Some(LoginSource::of(IpAddr::from([192, 0, 2, 1])));
        let b = Some(LoginSource::of(IpAddr::from([192, 0, 2, 2])));
        for _ in 0..3 {
            l.check(a).await?;
        }
        let refused = l.check(a).await;
        assert!(matches!(
            refused,
            Err(Error::ResourceExhausted {
                limit: Limit::LoginSource,
                retry_after_secs: 1..=60
            })
        ));
        l.check(b).await?;
        Ok(())
    }

    #[tokio::test]
    async fn ipv6_hosts_share_their_64() -> Result<(), Error> {
        let l = limiter(1, 1);
        let x: IpAddr = "2001:db8:1:2::1"
            .parse()
            .map_err(|_| Error::Internal("ip".into()))?;
        let y: IpAddr = "2001:db8:1:2::ffff"
            .parse()
            .map_err(|_| Error::Internal("ip".into()))?;
        l.check(Some(LoginSource::of(x))).await?;
        assert!(l.check(Some(LoginSource::of(y))).await.is_err());
        Ok(())
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let l = limiter(1, 1);
        let proxy = Some(IpAddr::from([10, 0, 0, 1]));
        let other = Some(IpAddr::from([10, 0, 0, 2]));
        let xff = Some("1.2.3.4, 198.51.100.7");
        let src = |ip: Option<IpAddr>| ip.map(LoginSource::of);
        assert_eq!(
            l.source(proxy, xff),
            src(Some(IpAddr::from([198, 51, 100, 7])))
        );
        assert_eq!(l.source(other, xff), src(other));
        assert_eq!(l.source(proxy, Some("garbage")), src(proxy));
        assert_eq!(l.source(proxy, None), src(proxy));
        // Loopback is not trusted for being loopback.
        let loopback = Some(IpAddr::from([127, 0, 0, 1]));
        assert_eq!(l.source(loopback, xff), src(loopback));
    }
}
