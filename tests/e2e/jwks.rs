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
