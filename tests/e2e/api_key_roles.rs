//! API key capabilities, expiry and the password check at creation.

use std::time::Duration;

use identity_api::pb;
use identity_testkit::{ADMIN_PASSWORD, TestApp, with_auth};
use tonic::Code;

use crate::support::{
    Must as _, assert_violation, get_user, key_ref, key_request, reason, timestamp_in, update_user,
};

const PASSWORD: &str = "keyholder-password-1";

both!(
    read_keys_only_read,
    write_keys_cannot_administer_or_escalate,
    key_expiry_and_password_check
);

async fn read_keys_only_read(app: TestApp) {
    let admin = app.init_admin().await;
    let user = app.create_user(&admin, "wendy", PASSWORD).await;
    let session = app.login("wendy", PASSWORD).await;
    let (read_key, read) = app
        .create_api_key(
            &session,
            pb::CreateApiKeyRequest {
                role: pb::ApiKeyRole::Read.into(),
                ..key_request("reader")
            },
        )
        .await;
    assert_eq!(read_key.role(), pb::ApiKeyRole::Read);
    let (other_key, _) = app.create_api_key(&session, key_request("other")).await;

    // Reads work.
    let principal = app
        .auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &read))
        .await
        .must()
        .principal
        .unwrap_or_default();
    assert!(principal.read_only);
    assert!(!principal.is_admin);
    app.users()
        .get_user(with_auth(get_user(user.id), &read))
        .await
        .must();
    let keys = app
        .api_keys()
        .list_api_keys(with_auth(pb::ListApiKeysRequest::default(), &read))
        .await
        .must();
    assert_eq!(keys.api_keys.len(), 2);
    app.api_keys()
        .get_api_key(with_auth(
            pb::GetApiKeyRequest {
                key: key_ref(other_key.id),
            },
            &read,
        ))
        .await
        .must();
    app.orgs()
        .list_user_organizations(with_auth(
            pb::ListUserOrganizationsRequest::default(),
            &read,
        ))
        .await
        .must();
    app.teams()
        .list_teams(with_auth(pb::ListTeamsRequest::default(), &read))
        .await
        .must();

    // Every mutation is refused.
    let denied = app
        .users()
        .update_user(with_auth(
            update_user(
                user.id,
                pb::UserUpdate {
                    display_name: "changed".to_owned(),
                    ..Default::default()
                },
                &["display_name"],
            ),
            &read,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    assert_eq!(reason(&denied).as_deref(), Some("READ_ONLY_CREDENTIAL"));
    app.api_keys()
        .create_api_key(with_auth(key_request("more"), &read))
        .await
        .must_fail(Code::PermissionDenied);
    app.api_keys()
        .create_api_key(with_auth(
            pb::CreateApiKeyRequest {
                role: pb::ApiKeyRole::Read.into(),
                ..key_request("more")
            },
            &read,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    app.api_keys()
        .revoke_api_key(with_auth(
            pb::RevokeApiKeyRequest {
                key: key_ref(other_key.id),
            },
            &read,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    app.api_keys()
        .roll_api_key(with_auth(
            pb::RollApiKeyRequest {
                target: Some(pb::roll_api_key_request::Target::Key(pb::ApiKeyRef {
                    key: Some(pb::api_key_ref::Key::Id(other_key.id)),
                })),
            },
            &read,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    app.users()
        .change_password(with_auth(
            pb::ChangePasswordRequest {
                user_id: user.id,
                current_password: Some(PASSWORD.to_owned()),
                new_password: "new-password-12345".to_owned(),
            },
            &read,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    app.orgs()
        .create_organization(with_auth(
            pb::CreateOrganizationRequest {
                name: "read-only org".to_owned(),
            },
            &read,
        ))
        .await
        .must_fail(Code::PermissionDenied);

    // Nothing changed.
    let after = app
        .users()
        .get_user(with_auth(get_user(user.id), &session))
        .await
        .must()
        .user
        .unwrap_or_default();
    assert_eq!(after.display_name, "");
    let keys = app
        .api_keys()
        .list_api_keys(with_auth(pb::ListApiKeysRequest::default(), &session))
        .await
        .must();
    assert_eq!(
        keys.api_keys.iter().map(|k| k.id).collect::<Vec<_>>(),
        vec![read_key.id, other_key.id]
    );
    app.login("wendy", PASSWORD).await;

    // An administrator's read key has no administrator rights.
    let (_, admin_read) = app
        .create_api_key(
            &admin,
            pb::CreateApiKeyRequest {
                role: pb::ApiKeyRole::Read.into(),
                ..key_request("admin reader")
            },
        )
        .await;
    let p = app
        .auth()
        .authenticate(pb::AuthenticateRequest {
            credential: admin_read.clone(),
        })
        .await
        .must()
        .principal
        .unwrap_or_default();
    assert!(!p.is_admin && p.read_only);
    app.users()
        .create_user(with_auth(
            pb::CreateUserRequest {
                username: "via-read-key".to_owned(),
                ..Default::default()
            },
            &admin_read,
        ))
        .await
        .must_fail(Code::PermissionDenied);
}

async fn write_keys_cannot_administer_or_escalate(app: TestApp) {
    let admin = app.init_admin().await;
    let (_, admin_write) = app
        .create_api_key(
            &admin,
            pb::CreateApiKeyRequest {
                role: pb::ApiKeyRole::Write.into(),
                ..key_request("admin writer")
            },
        )
        .await;
    let p = app
        .auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &admin_write))
        .await
        .must()
        .principal
        .unwrap_or_default();
    assert!(!p.is_admin, "WRITE keys drop global administration");
    assert!(!p.read_only);
    app.users()
        .create_user(with_auth(
            pb::CreateUserRequest {
                username: "via-write-key".to_owned(),
                ..Default::default()
            },
            &admin_write,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    // Writes on its own account work.
    app.users()
        .update_user(with_auth(
            update_user(
                1,
                pb::UserUpdate {
                    display_name: "Boss".to_owned(),
                    ..Default::default()
                },
                &["display_name"],
            ),
            &admin_write,
        ))
        .await
        .must();
    // It may mint keys of its own rank or lower, never INHERIT.
    app.api_keys()
        .create_api_key(with_auth(key_request("escalated"), &admin_write))
        .await
        .must_fail(Code::PermissionDenied);
    app.api_keys()
        .create_api_key(with_auth(
            pb::CreateApiKeyRequest {
                role: pb::ApiKeyRole::Owner.into(),
                ..key_request("escalated")
            },
            &admin_write,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    let minted = app
        .api_keys()
        .create_api_key(with_auth(
            pb::CreateApiKeyRequest {
                role: pb::ApiKeyRole::Read.into(),
                ..key_request("lesser")
            },
            &admin_write,
        ))
        .await
        .must();
    assert_eq!(minted.api_key.map(|k| k.role()), Some(pb::ApiKeyRole::Read));
    // The inheriting session still has everything.
    app.create_user(&admin, "xena", PASSWORD).await;
}

async fn key_expiry_and_password_check(app: TestApp) {
    let admin = app.init_admin().await;
    let user = app.create_user(&admin, "yuri", PASSWORD).await;
    let session = app.login("yuri", PASSWORD).await;

    // Expiry must be in the future.
    let status = app
        .api_keys()
        .create_api_key(with_auth(
            pb::CreateApiKeyRequest {
                expires_at: Some(timestamp_in(-60)),
                ..key_request("stale")
            },
            &session,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    assert_violation(&status, "expires_at");

    // The owner's password, when given, must be right.
    let status = app
        .api_keys()
        .create_api_key(with_auth(
            pb::CreateApiKeyRequest {
                password: Some("not-the-password".to_owned()),
                ..key_request("pw")
            },
            &session,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    assert_eq!(reason(&status).as_deref(), Some("WRONG_PASSWORD"));
    // An administrator creating a key for yuri must give yuri's password, not its own.
    app.api_keys()
        .create_api_key(with_auth(
            pb::CreateApiKeyRequest {
                user_id: Some(user.id),
                password: Some(ADMIN_PASSWORD.to_owned()),
                ..key_request("pw")
            },
            &admin,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    let none = app
        .api_keys()
        .list_api_keys(with_auth(pb::ListApiKeysRequest::default(), &session))
        .await
        .must();
    assert!(
        none.api_keys.is_empty(),
        "refused creations stored nothing: {:?}",
        none.api_keys
    );
    let (_, with_password) = app
        .create_api_key(
            &session,
            pb::CreateApiKeyRequest {
                password: Some(PASSWORD.to_owned()),
                ..key_request("pw")
            },
        )
        .await;
    app.auth()
        .authenticate(pb::AuthenticateRequest {
            credential: with_password,
        })
        .await
        .must();

    // A user without a password can never pass the check.
    let nopw = app
        .create_user_with(
            &admin,
            pb::CreateUserRequest {
                username: "nopw".to_owned(),
                ..Default::default()
            },
        )
        .await;
    app.api_keys()
        .create_api_key(with_auth(
            pb::CreateApiKeyRequest {
                user_id: Some(nopw.id),
                password: Some("anything-at-all-1".to_owned()),
                ..key_request("pw")
            },
            &admin,
        ))
        .await
        .must_fail(Code::PermissionDenied);

    // A key with an expiry works until then, and not after.
    let (short, short_plaintext) = app
        .create_api_key(
            &session,
            pb::CreateApiKeyRequest {
                expires_at: Some(timestamp_in(3)),
                ..key_request("short-lived")
            },
        )
        .await;
    assert!(short.expires_at.is_some());
    let p = app
        .auth()
        .authenticate(pb::AuthenticateRequest {
            credential: short_plaintext.clone(),
        })
        .await
        .must();
    assert!(
        p.principal.and_then(|p| p.expires_at).is_some(),
        "the principal carries the key's expiry"
    );
    tokio::time::sleep(Duration::from_millis(4_000)).await;
    app.auth()
        .authenticate(pb::AuthenticateRequest {
            credential: short_plaintext.clone(),
        })
        .await
        .must_fail(Code::Unauthenticated);
    app.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &short_plaintext))
        .await
        .must_fail(Code::Unauthenticated);
}
