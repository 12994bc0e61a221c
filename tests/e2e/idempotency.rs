//! Idempotent CreateUser and CreateApiKey: a retry with the same `request_id` returns the first
//! result and never creates a second user or key, even when the retries race.

use identity_api::pb;
use identity_testkit::{TestApp, with_auth};
use tonic::Code;

use crate::support::{Must as _, assert_violation, key_request, reason};

both!(
    create_user_retry_returns_the_same_user,
    create_api_key_retry_returns_the_same_key_without_its_secret,
    concurrent_retries_create_one_key_and_one_user,
    request_ids_are_scoped_to_the_caller_and_validated,
);

fn user_request(username: &str, request_id: &str) -> pb::CreateUserRequest {
    pb::CreateUserRequest {
        username: username.to_owned(),
        email: Some(identity_testkit::email_of(username)),
        password: Some("a-long-enough-password".to_owned()),
        request_id: Some(request_id.to_owned()),
        ..Default::default()
    }
}

fn keyed(name: &str, request_id: &str) -> pb::CreateApiKeyRequest {
    pb::CreateApiKeyRequest {
        request_id: Some(request_id.to_owned()),
        ..key_request(name)
    }
}

async fn key_count(app: &TestApp, credential: &str) -> usize {
    app.all_api_keys(credential).await.len()
}

async fn user_count(app: &TestApp, admin: &str) -> usize {
    app.users()
        .list_users(with_auth(
            pb::ListUsersRequest {
                page_size: 100,
                ..Default::default()
            },
            admin,
        ))
        .await
        .must()
        .users
        .len()
}

async fn create_user_retry_returns_the_same_user(app: TestApp) {
    let admin = app.init_admin().await;
    let first = app
        .users()
        .create_user(with_auth(user_request("erin", "create-erin-1"), &admin))
        .await
        .must()
        .user
        .unwrap_or_default();
    let users = user_count(&app, &admin).await;
    // The retry (e.g. after a lost response) is not ALREADY_EXISTS: it is the same answer.
    let retry = app
        .users()
        .create_user(with_auth(user_request("erin", "create-erin-1"), &admin))
        .await
        .must()
        .user
        .unwrap_or_default();
    assert_eq!(retry.id, first.id);
    assert_eq!(retry.uid, first.uid);
    assert_eq!(user_count(&app, &admin).await, users);

    // The same id for another request is refused, and creates nothing.
    let s = app
        .users()
        .create_user(with_auth(user_request("frank", "create-erin-1"), &admin))
        .await
        .must_fail(Code::FailedPrecondition);
    assert_eq!(reason(&s).as_deref(), Some("IDEMPOTENCY_KEY_REUSED"));
    assert_eq!(user_count(&app, &admin).await, users);

    // Without a request id, a second create is the usual clash.
    let mut plain = user_request("erin", "x");
    plain.request_id = None;
    app.users()
        .create_user(with_auth(plain, &admin))
        .await
        .must_fail(Code::AlreadyExists);
}

async fn create_api_key_retry_returns_the_same_key_without_its_secret(app: TestApp) {
    let admin = app.init_admin().await;
    let first = app
        .api_keys()
        .create_api_key(with_auth(keyed("ci", "key-1"), &admin))
        .await
        .must();
    assert!(!first.replayed);
    assert!(!first.plaintext.is_empty());
    let retry = app
        .api_keys()
        .create_api_key(with_auth(keyed("ci", "key-1"), &admin))
        .await
        .must();
    assert!(retry.replayed);
    assert!(retry.plaintext.is_empty(), "the secret is shown once only");
    let (a, b) = (
        first.api_key.unwrap_or_default(),
        retry.api_key.unwrap_or_default(),
    );
    assert_eq!(a.id, b.id);
    assert_eq!(a.uid, b.uid);
    assert_eq!(key_count(&app, &admin).await, 1, "not a second key");
    // The first plaintext is the key that exists.
    let who = app
        .auth()
        .authenticate(pb::AuthenticateRequest {
            credential: first.plaintext.clone(),
        })
        .await
        .must();
    assert_eq!(
        who.principal.and_then(|p| p.api_key).map(|k| k.id),
        Some(a.id)
    );

    let s = app
        .api_keys()
        .create_api_key(with_auth(keyed("other name", "key-1"), &admin))
        .await
        .must_fail(Code::FailedPrecondition);
    assert_eq!(reason(&s).as_deref(), Some("IDEMPOTENCY_KEY_REUSED"));
    assert_eq!(key_count(&app, &admin).await, 1);
}

async fn concurrent_retries_create_one_key_and_one_user(app: TestApp) {
    let admin = app.init_admin().await;
    let calls = (0..8).map(|_| {
        let mut c = app.api_keys();
        let req = with_auth(keyed("raced", "race-key"), &admin);
        async move { c.create_api_key(req).await }
    });
    let results = futures::future::join_all(calls).await;
    let mut ids = Vec::new();
    let mut secrets = 0;
    for r in results {
        let r = r.must();
        ids.push(r.api_key.unwrap_or_default().id);
        if !r.plaintext.is_empty() {
            secrets += 1;
        }
    }
    ids.dedup();
    assert_eq!(
        ids.len(),
        1,
        "every racing retry names the same key: {ids:?}"
    );
    assert_eq!(secrets, 1, "exactly one caller got the plaintext");
    assert_eq!(key_count(&app, &admin).await, 1);

    let users_before = user_count(&app, &admin).await;
    let calls = (0..6).map(|_| {
        let mut c = app.users();
        let req = with_auth(user_request("grace", "race-user"), &admin);
        async move { c.create_user(req).await }
    });
    let mut uids: Vec<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.must().user.unwrap_or_default().uid)
        .collect();
    uids.dedup();
    assert_eq!(uids.len(), 1, "{uids:?}");
    assert_eq!(user_count(&app, &admin).await, users_before + 1);
}

async fn request_ids_are_scoped_to_the_caller_and_validated(app: TestApp) {
    let admin = app.init_admin().await;
    app.create_user(&admin, "heidi", "a-long-enough-password")
        .await;
    let heidi = app.login("heidi", "a-long-enough-password").await;
    let a = app
        .api_keys()
        .create_api_key(with_auth(keyed("mine", "same-id"), &admin))
        .await
        .must();
    // Another caller's identical request id is another request.
    let b = app
        .api_keys()
        .create_api_key(with_auth(keyed("mine", "same-id"), &heidi))
        .await
        .must();
    assert!(!b.replayed);
    assert_ne!(
        a.api_key.unwrap_or_default().id,
        b.api_key.unwrap_or_default().id
    );

    for bad in ["", "has space", &"x".repeat(129)] {
        let s = app
            .api_keys()
            .create_api_key(with_auth(keyed("k", bad), &admin))
            .await
            .must_fail(Code::InvalidArgument);
        assert_violation(&s, "request_id");
        let s = app
            .users()
            .create_user(with_auth(user_request("ivan", bad), &admin))
            .await
            .must_fail(Code::InvalidArgument);
        assert_violation(&s, "request_id");
    }
}

both!(relative_expiry_is_exact_and_replays);

/// `expires_in_seconds` is resolved against the server's own creation time (so
/// `expires_at - created_at` is exact, as OpenAI's admin keys promise), excludes `expires_at`,
/// and a retry seconds later is still the same request.
async fn relative_expiry_is_exact_and_replays(app: TestApp) {
    let admin = app.init_admin().await;
    let request = |request_id: Option<String>| pb::CreateApiKeyRequest {
        expires_in_seconds: Some(3600),
        request_id,
        ..crate::support::key_request("relative")
    };
    let first = app
        .api_keys()
        .create_api_key(with_auth(request(Some("rel-1".to_owned())), &admin))
        .await
        .must()
        .api_key
        .unwrap_or_default();
    let (created, expires) = (
        crate::support::micros(&first.created_at.unwrap_or_default()),
        crate::support::micros(&first.expires_at.unwrap_or_default()),
    );
    assert_eq!(
        expires - created,
        3_600_000_000,
        "exactly one hour after creation"
    );
    // A retry after the clock moved on is the same request, not a reuse of the id.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let retry = app
        .api_keys()
        .create_api_key(with_auth(request(Some("rel-1".to_owned())), &admin))
        .await
        .must();
    assert!(retry.replayed);
    assert_eq!(retry.api_key.map(|k| k.id), Some(first.id));
    for bad in [
        pb::CreateApiKeyRequest {
            expires_at: Some(crate::support::timestamp_in(60)),
            ..request(None)
        },
        pb::CreateApiKeyRequest {
            expires_in_seconds: Some(0),
            ..request(None)
        },
    ] {
        let status = app
            .api_keys()
            .create_api_key(with_auth(bad, &admin))
            .await
            .must_fail(tonic::Code::InvalidArgument);
        crate::support::assert_violation(&status, "expires_in_seconds");
    }
}
