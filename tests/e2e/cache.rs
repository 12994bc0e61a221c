//! The key cache: counters that prove the lookup path, revocation across two replicas sharing
//! Postgres and Redis, and Redis faults (through a proxy the test cuts; the machine's Redis is
//! never touched). Every test uses its own random Redis namespace and purges it at the end.
//! Nothing here is timed except "within" deadlines that the design promises.

use std::time::Duration;

use identity_api::pb;
use identity_server::health::READINESS_SERVICE;
use identity_testkit::{
    Backend, TestApp, purge_redis_namespace, redis_server_addr, spawn_app_with, spawn_replica,
    start_tcp_proxy, test_redis_url, with_auth,
};
use tonic::{Code, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use uuid::Uuid;

use crate::support::{Must as _, key_ref, key_request};

/// A namespace of Redis keys and channels that no other test shares.
fn namespace() -> String {
    format!("identity-test-{}", Uuid::new_v4().simple())
}

async fn authenticate(
    app: &TestApp,
    key: &str,
) -> Result<tonic::Response<pb::AuthenticateResponse>, Status> {
    app.auth()
        .authenticate(pb::AuthenticateRequest {
            credential: key.to_owned(),
        })
        .await
}

async fn revoke(app: &TestApp, admin: &str, id: i64) {
    app.api_keys()
        .revoke_api_key(with_auth(
            pb::RevokeApiKeyRequest { key: key_ref(id) },
            admin,
        ))
        .await
        .must();
}

/// Poll `authenticate(key)` on `app` until it is refused; returns how long that took. Panics
/// after `deadline`, or on any answer other than OK / UNAUTHENTICATED.
async fn wait_refused(app: &TestApp, key: &str, deadline: Duration) -> Duration {
    let start = tokio::time::Instant::now();
    loop {
        match authenticate(app, key).await {
            Err(s) if s.code() == Code::Unauthenticated => return start.elapsed(),
            Ok(_) => {}
            Err(s) => panic!("unexpected answer while waiting for a refusal: {s:?}"),
        }
        assert!(
            start.elapsed() < deadline,
            "the revoked key was still accepted after {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait until `app`'s invalidation subscription has (re)connected more than `before` times.
async fn wait_subscribed(app: &TestApp, before: u64) {
    let start = tokio::time::Instant::now();
    while app.cache_stats().subscriptions <= before {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no Redis subscription after 10 s: {:?}",
            app.cache_stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn with_redis(
    namespace: &str,
    redis_url: String,
    fresh_ms: u64,
) -> impl FnOnce(&mut identity_server::Settings) {
    let namespace = namespace.to_owned();
    move |s| {
        s.redis_url = Some(redis_url.into());
        s.cache_namespace = namespace;
        s.cache_fresh_ms = fresh_ms;
    }
}

async fn purge(namespace: &str) {
    if let Err(e) = purge_redis_namespace(namespace).await {
        eprintln!("could not purge Redis namespace {namespace}: {e:#}");
    }
}

// --- counters ---

/// A cached verify makes no database call; garbage never reaches Redis or the database; an
/// unknown well-formed key reaches the database once, then the negative cache answers.
async fn counters_prove_the_path(app: TestApp) {
    let admin = app.init_admin().await;
    let (_, key) = app.create_api_key(&admin, key_request("counted")).await;

    authenticate(&app, &key).await.must();
    // The first verify queues the key's use; the next batch writes it: let that land first.
    let start = tokio::time::Instant::now();
    while app.cache_stats().db_touches == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no touch recorded"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // With Redis, the setup's invalidations are delivered again a second later and evict the
    // admin's grants: measure in a window that no invalidation crossed (the first one, without
    // Redis).
    let mut measured = false;
    for _ in 0..30 {
        authenticate(&app, &key).await.must();
        let before = app.cache_stats();
        authenticate(&app, &key).await.must();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let after = app.cache_stats();
        if after.invalidations_received != before.invalidations_received {
            continue;
        }
        assert_eq!(
            after.db_lookups(),
            before.db_lookups(),
            "a cached verify made database lookups: {before:?} -> {after:?}"
        );
        assert_eq!(after.db_touches, before.db_touches, "nor a touch");
        assert_eq!(after.redis_calls, before.redis_calls, "nor a Redis call");
        // Key, owner and memberships come from one in-process grant.
        assert_eq!(after.local_hits, before.local_hits + 1, "{after:?}");
        measured = true;
        break;
    }
    assert!(
        measured,
        "no quiet window in 30 tries: {:?}",
        app.cache_stats()
    );

    // Garbage: not a key, a key with a broken checksum, a truncated key.
    let mut broken = key.clone();
    let last = broken.pop().unwrap_or('x');
    broken.push(if last == 'A' { 'B' } else { 'A' });
    let truncated = &key[..key.len() - 3];
    let before = app.cache_stats();
    for garbage in [
        "garbage",
        &broken,
        truncated,
        "idk_0000000000000000000000000000",
    ] {
        authenticate(&app, garbage)
            .await
            .must_fail(Code::Unauthenticated);
    }
    let after = app.cache_stats();
    assert_eq!(
        after, before,
        "garbage reached the cache, Redis or the database"
    );

    // A well-formed key (valid checksum) that does not exist.
    let unknown = identity_core::keys::generate().plaintext;
    let before = app.cache_stats();
    authenticate(&app, &unknown)
        .await
        .must_fail(Code::Unauthenticated);
    let mid = app.cache_stats();
    assert_eq!(mid.db_key_lookups, before.db_key_lookups + 1, "{mid:?}");
    for _ in 0..3 {
        authenticate(&app, &unknown)
            .await
            .must_fail(Code::Unauthenticated);
    }
    let after = app.cache_stats();
    assert_eq!(
        after.db_key_lookups, mid.db_key_lookups,
        "the negative cache answered"
    );
    assert_eq!(after.negative_hits, mid.negative_hits + 3);
    assert_eq!(after.redis_calls, mid.redis_calls, "negatives skip Redis");
}

both!(counters_prove_the_path);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_prove_the_path_with_redis() {
    let ns = namespace();
    let app = spawn_app_with(Backend::Postgres, with_redis(&ns, test_redis_url(), 30_000)).await;
    wait_subscribed(&app, 0).await;
    counters_prove_the_path(app).await;
    purge(&ns).await;
}

/// Concurrent verifies of one cold key make one lookup, and key uses are written in batches.
async fn cold_key_bursts_and_key_uses(app: TestApp) {
    let admin = app.init_admin().await;
    let mut keys = Vec::new();
    for i in 0..5 {
        keys.push(
            app.create_api_key(&admin, key_request(&format!("burst-{i}")))
                .await,
        );
    }
    let (_, cold) = &keys[0];
    let before = app.cache_stats();
    let burst: Vec<_> = (0..48)
        .map(|_| {
            let app_auth = app.auth();
            let key = cold.clone();
            tokio::spawn(async move {
                let mut client = app_auth;
                client
                    .authenticate(pb::AuthenticateRequest { credential: key })
                    .await
            })
        })
        .collect();
    for task in burst {
        match task.await {
            Ok(answer) => {
                answer.must();
            }
            Err(e) => panic!("verify task failed: {e}"),
        }
    }
    let after = app.cache_stats();
    assert_eq!(
        after.db_key_lookups,
        before.db_key_lookups + 1,
        "48 concurrent verifies of a cold key: {before:?} -> {after:?}"
    );
    eprintln!(
        "cold-key burst: 48 verifies, 1 database lookup, {} waited for it",
        after.coalesced - before.coalesced
    );

    // Every key used: the uses arrive in the database in fewer transactions than keys.
    for (_, key) in &keys[1..] {
        authenticate(&app, key).await.must();
    }
    let start = tokio::time::Instant::now();
    while app.cache_stats().db_touches < before.db_touches + 5 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "key uses not written within 10 s: {:?}",
            app.cache_stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let written = app.cache_stats();
    assert!(
        written.touch_batches - before.touch_batches < 5,
        "5 uses took {} transactions",
        written.touch_batches - before.touch_batches
    );
    let listed = app
        .api_keys()
        .list_api_keys(with_auth(pb::ListApiKeysRequest::default(), &admin))
        .await
        .must();
    let used = listed
        .api_keys
        .iter()
        .filter(|k| k.name.starts_with("burst-") && k.last_used_at.is_some())
        .count();
    assert_eq!(used, 5, "every used key shows last_used_at: {listed:?}");
}

both!(cold_key_bursts_and_key_uses);

// --- two replicas ---

/// Revoked through A: refused by A at once and by B within 1 s, although B's fresh TTL is long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reaches_every_replica() {
    let ns = namespace();
    let a = spawn_app_with(Backend::Postgres, with_redis(&ns, test_redis_url(), 30_000)).await;
    let b = spawn_replica(&a, |_| {}).await;
    wait_subscribed(&a, 0).await;
    wait_subscribed(&b, 0).await;
    let admin = a.init_admin().await;
    let (meta, key) = a.create_api_key(&admin, key_request("shared")).await;
    let (_, other) = a.create_api_key(&admin, key_request("other")).await;

    // Warm both replicas' caches (B: from Redis or the database, then in-process).
    for app in [&a, &b, &b] {
        authenticate(app, &key).await.must();
        authenticate(app, &other).await.must();
    }
    let warm = b.cache_stats();
    authenticate(&b, &key).await.must();
    assert_eq!(
        b.cache_stats().db_lookups(),
        warm.db_lookups(),
        "B serves from memory"
    );

    revoke(&a, &admin, meta.id).await;
    authenticate(&a, &key)
        .await
        .must_fail(Code::Unauthenticated);
    let took = wait_refused(&b, &key, Duration::from_secs(1)).await;
    eprintln!("B refused the revoked key {took:?} after the revocation");
    assert!(b.cache_stats().invalidations_received > 0);
    // The other key is unaffected on both.
    authenticate(&a, &other).await.must();
    authenticate(&b, &other).await.must();

    // A user change (role) reaches B too: B's cached user row is dropped.
    let before = b.cache_stats();
    let user = a.create_user(&admin, "carol", "carol-password-1234").await;
    let (_, carol_key) = a
        .create_api_key(
            &admin,
            pb::CreateApiKeyRequest {
                user_id: Some(user.id),
                ..key_request("carol")
            },
        )
        .await;
    let seen = authenticate(&b, &carol_key).await.must();
    let Some(membership) = seen
        .principal
        .and_then(|p| p.memberships.into_iter().next())
    else {
        panic!("carol joined no organization");
    };
    assert_eq!(membership.role, pb::OrganizationRole::Member as i32);
    // A membership change reaches B's cached grant (in memory and in Redis) within 1 s.
    a.orgs()
        .update_member_role(with_auth(
            pb::UpdateMemberRoleRequest {
                organization_id: membership.organization_id.clone(),
                user_id: user.id,
                role: pb::OrganizationRole::Admin as i32,
            },
            &admin,
        ))
        .await
        .must();
    let start = tokio::time::Instant::now();
    loop {
        let role = authenticate(&b, &carol_key)
            .await
            .must()
            .principal
            .and_then(|p| p.memberships.into_iter().next())
            .map(|m| m.role);
        if role == Some(pb::OrganizationRole::Admin as i32) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "B still shows carol's old role after 1 s: {role:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.users()
        .delete_user(with_auth(
            pb::DeleteUserRequest { user_id: user.id },
            &admin,
        ))
        .await
        .must();
    wait_refused(&b, &carol_key, Duration::from_secs(1)).await;
    assert!(b.cache_stats().invalidations_received > before.invalidations_received);

    drop(b);
    drop(a);
    purge(&ns).await;
}

/// With B's Redis connection (and so its subscription) cut, B still refuses a key revoked
/// through A within its fresh TTL, and keeps accepting the others meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_subscription_is_bounded_by_the_fresh_ttl() {
    const FRESH: Duration = Duration::from_millis(1500);
    let ns = namespace();
    let redis = redis_server_addr()
        .await
        .unwrap_or_else(|e| panic!("locating Redis: {e:#}"));
    let (proxy_addr, proxy) = start_tcp_proxy(redis).await;
    let a = spawn_app_with(Backend::Postgres, with_redis(&ns, test_redis_url(), 1500)).await;
    let b = spawn_replica(&a, |s| {
        s.redis_url = Some(format!("redis://{proxy_addr}").into());
    })
    .await;
    wait_subscribed(&b, 0).await;
    let admin = a.init_admin().await;
    let (meta, key) = a.create_api_key(&admin, key_request("shared")).await;
    let (_, other) = a.create_api_key(&admin, key_request("other")).await;
    authenticate(&b, &key).await.must();
    authenticate(&b, &other).await.must();

    proxy.cut();
    let before = b.cache_stats();
    revoke(&a, &admin, meta.id).await;
    let took = wait_refused(&b, &key, FRESH + Duration::from_millis(1000)).await;
    eprintln!("B refused the revoked key {took:?} after the revocation (fresh TTL {FRESH:?})");
    let during = b.cache_stats();
    assert_eq!(
        during.invalidations_received, before.invalidations_received,
        "B got no message: the cut was real"
    );
    // Redis being away never refuses a valid key.
    authenticate(&b, &other).await.must();

    proxy.restore();
    wait_subscribed(&b, during.subscriptions).await;
    authenticate(&b, &other).await.must();
    wait_refused(&b, &key, Duration::from_millis(1)).await;

    drop(b);
    drop(a);
    purge(&ns).await;
}

/// Redis cut for both replicas mid-test: valid keys keep verifying (no failed request) and
/// readiness stays SERVING; after the restore both resubscribe and revocation is immediate again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_faults_never_fail_a_valid_key() {
    let ns = namespace();
    let redis = redis_server_addr()
        .await
        .unwrap_or_else(|e| panic!("locating Redis: {e:#}"));
    let (proxy_a, cut_a) = start_tcp_proxy(redis).await;
    let (proxy_b, cut_b) = start_tcp_proxy(redis).await;
    // A short fresh TTL, so that the cut sends lookups to Redis (failing) and the database.
    let a = spawn_app_with(
        Backend::Postgres,
        with_redis(&ns, format!("redis://{proxy_a}"), 200),
    )
    .await;
    let b = spawn_replica(&a, |s| {
        s.redis_url = Some(format!("redis://{proxy_b}").into());
    })
    .await;
    wait_subscribed(&a, 0).await;
    wait_subscribed(&b, 0).await;
    let admin = a.init_admin().await;
    let mut keys = Vec::new();
    for i in 0..3 {
        keys.push(
            a.create_api_key(&admin, key_request(&format!("k{i}")))
                .await,
        );
    }
    for (_, k) in &keys {
        authenticate(&a, k).await.must();
        authenticate(&b, k).await.must();
    }

    cut_a.cut();
    cut_b.cut();
    let before = (a.cache_stats(), b.cache_stats());
    let mut requests = 0;
    let start = tokio::time::Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        for (_, k) in &keys {
            authenticate(&a, k).await.must();
            authenticate(&b, k).await.must();
            requests += 2;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    for app in [&a, &b] {
        assert_eq!(
            app.health_status(READINESS_SERVICE).await.ok(),
            Some(ServingStatus::Serving),
            "readiness does not depend on Redis"
        );
    }
    let after = (a.cache_stats(), b.cache_stats());
    eprintln!(
        "{requests} verifies while Redis was cut; A {:?}, B {:?}",
        after.0, after.1
    );
    for (b4, af) in [(before.0, after.0), (before.1, after.1)] {
        assert!(
            af.redis_errors + af.redis_skipped > b4.redis_errors + b4.redis_skipped,
            "Redis was tried and failed: {af:?}"
        );
        assert!(
            af.db_key_lookups > b4.db_key_lookups,
            "the database answered"
        );
    }
    // A revocation while Redis is away still takes effect locally at once.
    let (revoked, revoked_key) = &keys[0];
    revoke(&a, &admin, revoked.id).await;
    authenticate(&a, revoked_key)
        .await
        .must_fail(Code::Unauthenticated);

    cut_a.restore();
    cut_b.restore();
    wait_subscribed(&a, after.0.subscriptions).await;
    wait_subscribed(&b, after.1.subscriptions).await;
    // B refuses it too (its fresh TTL is short; Redis' copy was deleted on redelivery).
    wait_refused(&b, revoked_key, Duration::from_secs(2)).await;
    for (_, k) in &keys[1..] {
        authenticate(&a, k).await.must();
        authenticate(&b, k).await.must();
    }
    // And a new revocation reaches B through pub/sub again.
    let (meta, key) = &keys[1];
    authenticate(&b, key).await.must();
    revoke(&a, &admin, meta.id).await;
    wait_refused(&b, key, Duration::from_secs(1)).await;

    drop(b);
    drop(a);
    purge(&ns).await;
}
