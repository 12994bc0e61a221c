//! The Redis the cache tests use: `TEST_REDIS_URL`, or the local server on 6379. Tests put a
//! random namespace on every key and channel and purge it at the end.

use std::net::SocketAddr;

use anyhow::Context as _;

/// Redis URL used when `TEST_REDIS_URL` is not set.
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The Redis URL for tests: `TEST_REDIS_URL`, or the local server.
pub fn test_redis_url() -> String {
    std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_REDIS_URL.to_owned())
}

/// The socket address of that Redis server (to put a proxy in front of it).
pub async fn redis_server_addr() -> anyhow::Result<SocketAddr> {
    let url = test_redis_url();
    let rest = url.find("://").map_or(url.as_str(), |i| &url[i + 3..]);
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let target = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:6379")
    };
    tokio::net::lookup_host(&target)
        .await
        .with_context(|| format!("resolving {target}"))?
        .next()
        .with_context(|| format!("{target} resolves to nothing"))
}

/// Delete every key under `<namespace>:` (only a test's own random namespace).
pub async fn purge_redis_namespace(namespace: &str) -> anyhow::Result<u64> {
    anyhow::ensure!(
        namespace.starts_with("identity-test-"),
        "refusing to purge {namespace}"
    );
    let client = redis::Client::open(test_redis_url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let pattern = format!("{namespace}:*");
    let mut cursor: u64 = 0;
    let mut deleted = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(500)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            let n: u64 = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await?;
            deleted += n;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

/// Refuse keys outside a test's own namespace.
fn test_key(key: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        key.starts_with("identity-test-"),
        "refusing to touch {key}: not a test namespace"
    );
    Ok(())
}

/// GET `key` (only under a test namespace `identity-test-…`).
pub async fn redis_get(key: &str) -> anyhow::Result<Option<Vec<u8>>> {
    test_key(key)?;
    let client = redis::Client::open(test_redis_url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    Ok(redis::cmd("GET").arg(key).query_async(&mut conn).await?)
}

/// SET `key` to `value` for `ttl_secs` (only under a test namespace `identity-test-…`).
pub async fn redis_set(key: &str, value: &[u8], ttl_secs: u64) -> anyhow::Result<()> {
    test_key(key)?;
    let client = redis::Client::open(test_redis_url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .arg("EX")
        .arg(ttl_secs)
        .query_async(&mut conn)
        .await?;
    Ok(())
}
