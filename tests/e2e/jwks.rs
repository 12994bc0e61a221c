//! Offline-verifiable session tokens: the published JWK Set verifies a session token with no
//! secret (gRPC GetJwks and the gateway's `/.well-known/jwks.json` agree), a rotation keeps the
//! previous key working until its retirement and refuses its tokens after it, and HS256 remains
//! as a compatibility mode with nothing to publish.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use identity_api::pb;
use identity_testkit::{Backend, TestApp, spawn_app_with, spawn_replica, with_auth};
use jsonwebtoken::{DecodingKey, Validation, jwk::Jwk};
use tonic::Code;

use crate::support::Must as _;

both!(session_tokens_verify_offline_with_the_published_keys);

/// The published keys, as `jsonwebtoken` JWKs.
async fn published(app: &TestApp) -> Vec<Jwk> {
    app.auth()
        .get_jwks(pb::GetJwksRequest {})
        .await
        .must()
        .keys
        .into_iter()
        .map(|k| {
            let mut v = serde_json::json!({
                "kty": k.kty, "crv": k.crv, "x": k.x, "kid": k.kid, "alg": k.alg, "use": k.r#use,
            });
            if !k.y.is_empty() {
                v["y"] = serde_json::Value::String(k.y);
            }
            serde_json::from_value(v).unwrap_or_else(|e| panic!("not a JWK: {e}"))
        })
        .collect()
}

/// Verify `token` with `keys` only (no secret): the claims, or why not.
fn verify_offline(token: &str, keys: &[Jwk]) -> Result<serde_json::Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = keys
        .iter()
        .find(|k| k.common.key_id.as_deref() == Some(kid.as_str()))
        .ok_or("kid not published")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut v = Validation::new(header.alg);
    v.set_issuer(&["identity"]);
    v.set_audience(&["identity.v1"]);
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &v)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

async fn session_tokens_verify_offline_with_the_published_keys(app: TestApp) {
    let admin = app.init_admin().await;
    let keys = published(&app).await;
    assert_eq!(keys.len(), 1, "one key in force");
    let header = jsonwebtoken::decode_header(&admin).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        header.alg,
        jsonwebtoken::Algorithm::EdDSA,
        "EdDSA by default"
    );
    let claims = verify_offline(&admin, &keys).unwrap_or_else(|e| panic!("offline: {e}"));
    assert_eq!(claims["uid"], 1);
    // A tampered payload does not verify offline either.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts: Vec<String> = admin.split('.').map(str::to_owned).collect();
    let mut body = claims.clone();
    body["uid"] = serde_json::json!(2);
    parts[1] = b64.encode(body.to_string());
    assert!(verify_offline(&parts.join("."), &keys).is_err());

    // The gateway serves the same set, public members only.
    let http = app
        .http_addr
        .unwrap_or_else(|| panic!("the test server runs the gateway"));
    let resp = reqwest::get(format!("http://{http}/.well-known/jwks.json"))
        .await
        .unwrap_or_else(|e| panic!("GET jwks: {e}"));
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/jwk-set+json")
    );
    let set: serde_json::Value = resp.json().await.unwrap_or_else(|e| panic!("{e}"));
    let first = &set["keys"][0];
    assert_eq!(
        first["kid"],
        keys[0].common.key_id.clone().unwrap_or_default()
    );
    assert_eq!(first["kty"], "OKP");
    assert_eq!(first["crv"], "Ed25519");
    assert_eq!(first["use"], "sig");
    assert!(first.get("d").is_none(), "no private member: {set}");
    assert!(first.get("y").is_none(), "no empty member: {set}");
}

/// An Ed25519 PKCS#8 PEM file from a fixed seed.
fn ed25519_pem_file(dir: &Path, name: &str, seed: u8) -> PathBuf {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&[seed; 32]);
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n"),
    )
    .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_overlaps_then_retires_postgres() {
    key_rotation_overlaps_then_retires(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_overlaps_then_retires_sqlite() {
    key_rotation_overlaps_then_retires(Backend::Sqlite).await;
}

/// Replica A signs with key 1. After the rotation, replica B signs with key 2 and still accepts
/// (and publishes) key 1 until its retirement; replica C, past the retirement, refuses A's token
/// and no longer publishes key 1.
async fn key_rotation_overlaps_then_retires(backend: Backend) {
    let dir = std::env::temp_dir().join(format!("identity-jwks-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let (k1, k2) = (
        ed25519_pem_file(&dir, "k1.pem", 1),
        ed25519_pem_file(&dir, "k2.pem", 2),
    );
    let a = spawn_app_with(backend, |s| s.tokens.signing_key_file = Some(k1.clone())).await;
    let old_token = a.init_admin().await;
    let k1_kid = published(&a).await[0].common.key_id.clone();

    let rotated = |retires_at: chrono::DateTime<chrono::Utc>| {
        let (k1, k2) = (k1.clone(), k2.clone());
        move |s: &mut identity_server::Settings| {
            s.tokens.signing_key_file = Some(k2);
            s.tokens.previous_key_file = Some(k1);
            s.tokens.previous_key_retires_at = Some(retires_at);
        }
    };
    let b = spawn_replica(&a, rotated(chrono::Utc::now() + chrono::Duration::hours(1))).await;
    let keys = published(&b).await;
    assert_eq!(keys.len(), 2, "current and previous are published");
    assert_ne!(keys[0].common.key_id, k1_kid, "the new key comes first");
    assert_eq!(keys[1].common.key_id, k1_kid);
    b.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &old_token))
        .await
        .must();
    let new_token = b
        .login(
            identity_testkit::ADMIN_USERNAME,
            identity_testkit::ADMIN_PASSWORD,
        )
        .await;
    assert!(verify_offline(&new_token, &keys).is_ok());

    let c = spawn_replica(
        &a,
        rotated(chrono::Utc::now() - chrono::Duration::seconds(1)),
    )
    .await;
    let keys = published(&c).await;
    assert_eq!(keys.len(), 1, "the retired key is gone");
    assert!(verify_offline(&old_token, &keys).is_err());
    c.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &old_token))
        .await
        .must_fail(Code::Unauthenticated);
    c.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &new_token))
        .await
        .must();
    drop((b, c));
    drop(a);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hs256_compatibility_mode_publishes_nothing() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.tokens.algorithm = "HS256".to_owned()).await;
    let admin = app.init_admin().await;
    let header = jsonwebtoken::decode_header(&admin).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::HS256);
    assert!(published(&app).await.is_empty());
    app.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &admin))
        .await
        .must();
}

both!(api_keys_exchange_for_short_lived_tokens);

/// ExchangeApiKey and `POST /oauth/token`: a key becomes an RFC 9068 access token that verifies
/// offline, carries the key's scopes (or a requested subset) and lives at most 15 minutes; it is
/// no session; a session is not exchanged; a revoked key stops exchanging at once.
async fn api_keys_exchange_for_short_lived_tokens(app: TestApp) {
    let admin = app.init_admin().await;
    let (key_meta, key) = app
        .create_api_key(
            &admin,
            pb::CreateApiKeyRequest {
                scopes: vec!["read:x".to_owned(), "write:y".to_owned()],
                ..crate::support::key_request("exchange")
            },
        )
        .await;
    let exchange = |api_key: String, ttl_seconds: u32, scopes: Vec<String>| {
        let mut auth = app.auth();
        async move {
            auth.exchange_api_key(pb::ExchangeApiKeyRequest {
                api_key,
                ttl_seconds,
                scopes,
            })
            .await
        }
    };
    let t = exchange(key.clone(), 0, vec![]).await.must();
    assert!(
        t.expires_in > 890 && t.expires_in <= 900,
        "{}",
        t.expires_in
    );
    let header = jsonwebtoken::decode_header(&t.access_token).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let keys = published(&app).await;
    let claims = verify_offline(&t.access_token, &keys).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(claims["uid"], 1);
    assert_eq!(claims["scope"], "read:x write:y");
    assert_eq!(claims["client_id"], key_meta.uid);
    let lifetime =
        claims["exp"].as_i64().unwrap_or_default() - claims["iat"].as_i64().unwrap_or_default();
    assert!(lifetime <= 900, "{lifetime}");
    // A narrower token; a wider one or a longer life is refused.
    let narrow = exchange(key.clone(), 60, vec!["read:x".to_owned()])
        .await
        .must();
    assert_eq!(narrow.scopes, vec!["read:x".to_owned()]);
    assert!(narrow.expires_in <= 60);
    exchange(key.clone(), 0, vec!["admin:*".to_owned()])
        .await
        .must_fail(Code::InvalidArgument);
    exchange(key.clone(), 901, vec![])
        .await
        .must_fail(Code::InvalidArgument);
    // An access token is no session, and a session is not exchanged.
    app.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &t.access_token))
        .await
        .must_fail(Code::Unauthenticated);
    exchange(admin.clone(), 0, vec![])
        .await
        .must_fail(Code::Unauthenticated);

    // The same through the gateway (RFC 6749 §4.4 and §5).
    let http = app
        .http_addr
        .unwrap_or_else(|| panic!("the test server runs the gateway"));
    let url = format!("http://{http}/oauth/token");
    let client = reqwest::Client::new();
    let form = "application/x-www-form-urlencoded";
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("svc:{key}"));
    let resp = client
        .post(&url)
        .header("content-type", form)
        .header("authorization", format!("Basic {basic}"))
        .body("grant_type=client_credentials&scope=read%3Ax")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let body: serde_json::Value = resp.json().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "read:x");
    assert!(
        body["expires_in"]
            .as_i64()
            .is_some_and(|e| e > 0 && e <= 900)
    );
    let rest_token = body["access_token"].as_str().unwrap_or_default().to_owned();
    assert!(verify_offline(&rest_token, &keys).is_ok());
    let post = |body: String, content_type: &'static str| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let r = client
                .post(&url)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let status = r.status().as_u16();
            let www = r.headers().contains_key("www-authenticate");
            let v: serde_json::Value = r.json().await.unwrap_or_else(|e| panic!("{e}"));
            (
                status,
                v["error"].as_str().unwrap_or_default().to_owned(),
                www,
            )
        }
    };
    let with_secret = format!("grant_type=client_credentials&client_secret={key}");
    assert_eq!(post(with_secret.clone(), form).await.0, 200);
    assert_eq!(
        post(format!("grant_type=password&client_secret={key}"), form).await,
        (400, "unsupported_grant_type".to_owned(), false)
    );
    assert_eq!(
        post(format!("{with_secret}&scope=admin%3A%2A"), form).await,
        (400, "invalid_scope".to_owned(), false)
    );
    assert_eq!(
        post(
            "grant_type=client_credentials&client_secret=idk_wrong".to_owned(),
            form
        )
        .await,
        (401, "invalid_client".to_owned(), true)
    );
    assert_eq!(
        post(
            format!("{{\"grant_type\":\"client_credentials\",\"client_secret\":\"{key}\"}}"),
            "application/json"
        )
        .await,
        (400, "invalid_request".to_owned(), false)
    );

    // Revocation stops new exchanges at once.
    app.api_keys()
        .revoke_api_key(with_auth(
            pb::RevokeApiKeyRequest {
                key: crate::support::key_ref(key_meta.id),
            },
            &admin,
        ))
        .await
        .must();
    exchange(key.clone(), 0, vec![])
        .await
        .must_fail(Code::Unauthenticated);
    assert_eq!(post(with_secret, form).await.0, 401);
}
