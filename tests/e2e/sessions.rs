//! Session tokens: invalidation on password and role change, forged and expired tokens.

use base64::Engine as _;
use identity_api::pb;
use identity_testkit::{TestApp, with_auth};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tonic::Code;

use crate::support::{Must as _, assert_violation, get_user, micros, now, reason, update_user};

const OLD_PASSWORD: &str = "first-password-123";
const NEW_PASSWORD: &str = "second-password-456";

both!(
    change_password_ends_sessions,
    role_change_ends_sessions,
    forged_and_expired_tokens_are_rejected
);

async fn change_password_ends_sessions(app: TestApp) {
    let admin = app.init_admin().await;
    let user = app.create_user(&admin, "henry", OLD_PASSWORD).await;
    let token = app.login("henry", OLD_PASSWORD).await;
    app.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &token))
        .await
        .must();

    // A standard user must give the current password, and the right one.
    let missing = app
        .users()
        .change_password(with_auth(
            pb::ChangePasswordRequest {
                user_id: user.id,
                current_password: None,
                new_password: NEW_PASSWORD.to_owned(),
            },
            &token,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    assert_violation(&missing, "current_password");
    let wrong = app
        .users()
        .change_password(with_auth(
            pb::ChangePasswordRequest {
                user_id: user.id,
                current_password: Some("not-my-password".to_owned()),
                new_password: NEW_PASSWORD.to_owned(),
            },
            &token,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    assert!(reason(&wrong).is_some());
    let weak = app
        .users()
        .change_password(with_auth(
            pb::ChangePasswordRequest {
                user_id: user.id,
                current_password: Some(OLD_PASSWORD.to_owned()),
                new_password: "short".to_owned(),
            },
            &token,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    assert_violation(&weak, "new_password");
    // None of the refused attempts changed anything.
    app.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &token))
        .await
        .must();
    app.login("henry", OLD_PASSWORD).await;

    app.users()
        .change_password(with_auth(
            pb::ChangePasswordRequest {
                user_id: user.id,
                current_password: Some(OLD_PASSWORD.to_owned()),
                new_password: NEW_PASSWORD.to_owned(),
            },
            &token,
        ))
        .await
        .must();
    // The earlier session is over; the old password is refused; the new one works.
    app.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &token))
        .await
        .must_fail(Code::Unauthenticated);
    app.users()
        .get_user(with_auth(get_user(user.id), &token))
        .await
        .must_fail(Code::Unauthenticated);
    app.auth()
        .login(pb::LoginRequest {
            identifier: "henry".to_owned(),
            password: OLD_PASSWORD.to_owned(),
        })
        .await
        .must_fail(Code::Unauthenticated);
    let fresh = app.login("henry", NEW_PASSWORD).await;
    let me = app
        .auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &fresh))
        .await
        .must();
    assert_eq!(
        me.principal.and_then(|p| p.user).map(|u| u.id),
        Some(user.id)
    );

    // An administrator may reset it without the current password; that ends sessions too.
    app.users()
        .change_password(with_auth(
            pb::ChangePasswordRequest {
                user_id: user.id,
                current_password: None,
                new_password: "third-password-789".to_owned(),
            },
            &admin,
        ))
        .await
        .must();
    app.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &fresh))
        .await
        .must_fail(Code::Unauthenticated);
    app.login("henry", "third-password-789").await;
    // The administrator's own session is untouched.
    app.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &admin))
        .await
        .must();
}

async fn role_change_ends_sessions(app: TestApp) {
    let admin = app.init_admin().await;
    let user = app.create_user(&admin, "ivy", OLD_PASSWORD).await;
    let token = app.login("ivy", OLD_PASSWORD).await;
    let before = app
        .auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &token))
        .await
        .must()
        .principal
        .unwrap_or_default();
    assert!(!before.is_admin);

    // An update that does not touch the role keeps the session.
    app.users()
        .update_user(with_auth(
            update_user(
                user.id,
                pb::UserUpdate {
                    display_name: "Ivy".to_owned(),
                    ..Default::default()
                },
                &["display_name"],
            ),
            &admin,
        ))
        .await
        .must();
    app.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &token))
        .await
        .must();

    let promoted = app
        .users()
        .update_user(with_auth(
            update_user(
                user.id,
                pb::UserUpdate {
                    global_role: pb::GlobalRole::Administrator.into(),
                    ..Default::default()
                },
                &["global_role"],
            ),
            &admin,
        ))
        .await
        .must()
        .user
        .unwrap_or_default();
    assert_eq!(promoted.global_role(), pb::GlobalRole::Administrator);
    app.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &token))
        .await
        .must_fail(Code::Unauthenticated);
    app.users()
        .list_users(with_auth(pb::ListUsersRequest::default(), &token))
        .await
        .must_fail(Code::Unauthenticated);

    let fresh = app.login("ivy", OLD_PASSWORD).await;
    let after = app
        .auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &fresh))
        .await
        .must()
        .principal
        .unwrap_or_default();
    assert!(after.is_admin, "the new session carries the new role");
    app.users()
        .list_users(with_auth(pb::ListUsersRequest::default(), &fresh))
        .await
        .must();

    // Demotion ends the administrator session as well.
    app.users()
        .update_user(with_auth(
            update_user(
                user.id,
                pb::UserUpdate {
                    global_role: pb::GlobalRole::Standard.into(),
                    ..Default::default()
                },
                &["global_role"],
            ),
            &admin,
        ))
        .await
        .must();
    app.users()
        .list_users(with_auth(pb::ListUsersRequest::default(), &fresh))
        .await
        .must_fail(Code::Unauthenticated);
    // The last administrator cannot demote itself.
    app.users()
        .update_user(with_auth(
            update_user(
                1,
                pb::UserUpdate {
                    global_role: pb::GlobalRole::Standard.into(),
                    ..Default::default()
                },
                &["global_role"],
            ),
            &admin,
        ))
        .await
        .must_fail(Code::FailedPrecondition);
}

/// Claims like the server's, for a user; `exp_offset` seconds from now.
fn claims(user: &pb::User, exp_offset: i64) -> serde_json::Value {
    let iat = now().timestamp();
    serde_json::json!({
        "sub": user.uid,
        "uid": user.id,
        "iss": "identity",
        "aud": "identity.v1",
        "iat": iat,
        "exp": iat + exp_offset,
        "jti": format!("test-{iat}-{exp_offset}"),
        "tia": user.token_issued_at.as_ref().map(micros).unwrap_or_default(),
        "fcp": false,
    })
}

/// An HS256 token over `claims` with `secret`, optionally naming a `kid`.
fn sign(secret: &str, claims: &serde_json::Value, kid: Option<String>) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid;
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_else(|e| panic!("signing a test token failed: {e}"))
}

async fn forged_and_expired_tokens_are_rejected(app: TestApp) {
    let admin = app.init_admin().await;
    let user = app.create_user(&admin, "jack", OLD_PASSWORD).await;
    let secret = app.jwt_secret().to_owned();

    // Control: a token signed with the server's own key (EdDSA, its `kid`) and a future expiry IS
    // accepted, so the rejections below are about the one thing each case changes.
    let valid = app.sign_token(&claims(&user, 600));
    let who = app
        .auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &valid))
        .await
        .must();
    assert_eq!(
        who.principal.and_then(|p| p.user).map(|u| u.id),
        Some(user.id)
    );

    // Expired (well past any leeway).
    let expired = app.sign_token(&claims(&user, -3600));
    app.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &expired))
        .await
        .must_fail(Code::Unauthenticated);
    app.auth()
        .authenticate(pb::AuthenticateRequest {
            credential: expired,
        })
        .await
        .must_fail(Code::Unauthenticated);

    // alg: none, with the valid claims.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = b64.encode(claims(&user, 600).to_string());
    for header in [
        r#"{"alg":"none","typ":"JWT"}"#,
        r#"{"alg":"None","typ":"JWT"}"#,
    ] {
        let unsigned = format!("{}.{payload}.", b64.encode(header));
        app.auth()
            .who_am_i(with_auth(pb::WhoAmIRequest {}, &unsigned))
            .await
            .must_fail(Code::Unauthenticated);
        app.auth()
            .authenticate(pb::AuthenticateRequest {
                credential: unsigned,
            })
            .await
            .must_fail(Code::Unauthenticated);
    }
    // The valid token's signature on different claims (a tampered payload).
    let (valid_header, signature) = {
        let mut parts = valid.split('.');
        (
            parts.next().unwrap_or_default(),
            parts.next_back().unwrap_or_default(),
        )
    };
    let mut promoted = claims(&user, 600);
    promoted["uid"] = serde_json::json!(1);
    let tampered = format!(
        "{valid_header}.{}.{signature}",
        b64.encode(promoted.to_string())
    );
    app.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &tampered))
        .await
        .must_fail(Code::Unauthenticated);

    // HS256 with another secret, and HS256 with the server's own secret (algorithm confusion:
    // the server signs with EdDSA, so the shared secret is no signing key), with and without the
    // server's `kid`.
    let kid = jsonwebtoken::decode_header(&valid)
        .unwrap_or_else(|e| panic!("header of the control token: {e}"))
        .kid;
    assert!(kid.is_some(), "the server's tokens name their key");
    for token in [
        sign(
            "another-secret-that-is-32-bytes-long!!",
            &claims(&user, 600),
            None,
        ),
        sign(&secret, &claims(&user, 600), None),
        sign(&secret, &claims(&user, 600), kid.clone()),
    ] {
        app.auth()
            .who_am_i(with_auth(pb::WhoAmIRequest {}, &token))
            .await
            .must_fail(Code::Unauthenticated);
    }

    // Wrong issuer or audience, and a stale token_issued_at.
    for (field, value) in [
        ("iss", serde_json::json!("someone-else")),
        ("aud", serde_json::json!("other.v1")),
        ("tia", serde_json::json!(1)),
    ] {
        let mut c = claims(&user, 600);
        c[field] = value;
        let token = app.sign_token(&c);
        app.auth()
            .who_am_i(with_auth(pb::WhoAmIRequest {}, &token))
            .await
            .must_fail(Code::Unauthenticated);
    }
    // A token for user 1 claiming jack's UUID as subject.
    let mut mixed = claims(&user, 600);
    mixed["uid"] = serde_json::json!(1);
    app.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &app.sign_token(&mixed)))
        .await
        .must_fail(Code::Unauthenticated);

    // The control token still works: nothing above changed the user.
    app.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &valid))
        .await
        .must();
}
