//! Regressions of the key items of the security review, over gRPC on both backends:
//! - a restricted key minted an unrestricted one (item 2);
//! - an organization-bound key listed, revoked and rolled its owner's other keys (item 3);
//! - a stolen session minted keys without the password, and they outlived a password change
//!   (item 8);
//! - another administrator made keys for, and demoted, the bootstrap administrator (low).

use std::time::Duration;

use identity_api::pb;
use identity_testkit::{TestApp, with_auth};
use tonic::{Code, Status};

use crate::support::{
    Must as _, get_user, key_ref, key_request, reason, timestamp_in, update_user,
};

const PASSWORD: &str = "keyholder-password-1";
const NEW_PASSWORD: &str = "keyholder-password-2";

both!(
    restricted_key_cannot_mint_a_wider_key,
    bound_key_acts_only_inside_its_binding,
    stolen_session_cannot_mint_keys_without_recent_login_or_password,
    password_change_revokes_keys_minted_by_sessions,
    only_the_bootstrap_admin_keys_itself
);

#[track_caller]
fn assert_denied(status: &Status, why: &str) {
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(reason(status).as_deref(), Some(why), "{status:?}");
}

async fn try_create(
    app: &TestApp,
    credential: &str,
    request: pb::CreateApiKeyRequest,
) -> Result<tonic::Response<pb::CreateApiKeyResponse>, Status> {
    app.api_keys()
        .create_api_key(with_auth(request, credential))
        .await
}

async fn try_roll(
    app: &TestApp,
    credential: &str,
    target: pb::roll_api_key_request::Target,
) -> Result<tonic::Response<pb::RollApiKeyResponse>, Status> {
    app.api_keys()
        .roll_api_key(with_auth(
            pb::RollApiKeyRequest {
                target: Some(target),
            },
            credential,
        ))
        .await
}

fn roll_key(id: i64) -> pb::roll_api_key_request::Target {
    pb::roll_api_key_request::Target::Key(pb::ApiKeyRef {
        key: Some(pb::api_key_ref::Key::Id(id)),
    })
}

async fn works(app: &TestApp, key: &str) -> bool {
    app.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, key))
        .await
        .is_ok()
}

async fn restricted_key_cannot_mint_a_wider_key(app: TestApp) {
    let admin = app.init_admin().await;
    app.create_user(&admin, "rita", PASSWORD).await;
    let session = app.login("rita", PASSWORD).await;
    let org = app.default_organization(&session).await;
    let dataset = uuid::Uuid::new_v4().to_string();
    let (parent, restricted) = app
        .create_api_key(
            &session,
            pb::CreateApiKeyRequest {
                role: pb::ApiKeyRole::Write.into(),
                scopes: vec!["datasets:read".into(), "chunks:read".into()],
                dataset_ids: vec![dataset.clone()],
                organization_ids: vec![org.id.clone()],
                expires_at: Some(timestamp_in(3600)),
                ..key_request("restricted")
            },
        )
        .await;
    // The owner's primary key, at the same role but without restrictions.
    let (unrestricted, _) = app
        .create_api_key(
            &session,
            pb::CreateApiKeyRequest {
                role: pb::ApiKeyRole::Write.into(),
                primary: true,
                ..key_request("wide")
            },
        )
        .await;
    // Children at the parent's role, so that only the restrictions are judged.
    let key_request = |name: &str| pb::CreateApiKeyRequest {
        role: pb::ApiKeyRole::Write.into(),
        ..key_request(name)
    };

    // The attack: a child with none of the limits and a new scope.
    let wider = [
        pb::CreateApiKeyRequest {
            scopes: vec!["admin:*".into()],
            ..key_request("escalated")
        },
        pb::CreateApiKeyRequest {
            dataset_ids: vec![dataset.clone(), uuid::Uuid::new_v4().to_string()],
            ..key_request("more datasets")
        },
        pb::CreateApiKeyRequest {
            organization_ids: vec![uuid::Uuid::new_v4().to_string()],
            ..key_request("other organizations")
        },
        pb::CreateApiKeyRequest {
            expires_at: Some(timestamp_in(7200)),
            ..key_request("longer lived")
        },
    ];
    for request in wider {
        let name = request.name.clone();
        let s = try_create(&app, &restricted, request)
            .await
            .must_fail(Code::PermissionDenied);
        assert_denied(&s, "KEY_RESTRICTIONS_EXCEEDED");
        assert!(
            !app.all_api_keys(&session)
                .await
                .iter()
                .any(|k| k.name == name),
            "{name} was created"
        );
    }
    let s = try_create(
        &app,
        &restricted,
        pb::CreateApiKeyRequest {
            role: pb::ApiKeyRole::Owner.into(),
            ..key_request("above its role")
        },
    )
    .await
    .must_fail(Code::PermissionDenied);
    assert_denied(&s, "ROLE_TOO_LOW");

    // A child that names no limit gets the parent's; a narrower one is fine.
    let child = try_create(&app, &restricted, key_request("inherits"))
        .await
        .must()
        .api_key
        .unwrap_or_default();
    assert_eq!(child.scopes, parent.scopes);
    assert_eq!(child.dataset_ids, parent.dataset_ids);
    assert_eq!(child.organization_ids, parent.organization_ids);
    assert_eq!(child.expires_at, parent.expires_at);
    assert_eq!(child.role(), pb::ApiKeyRole::Write);
    try_create(
        &app,
        &restricted,
        pb::CreateApiKeyRequest {
            role: pb::ApiKeyRole::Read.into(),
            scopes: vec!["chunks:read".into()],
            expires_at: Some(timestamp_in(600)),
            ..key_request("narrower")
        },
    )
    .await
    .must();

    // Rolling is minting: the restricted key cannot roll the owner's unrestricted key, by id or
    // as the primary key.
    let s = try_roll(&app, &restricted, roll_key(unrestricted.id))
        .await
        .must_fail(Code::PermissionDenied);
    assert_denied(&s, "KEY_RESTRICTIONS_EXCEEDED");
    let s = try_roll(
        &app,
        &restricted,
        pb::roll_api_key_request::Target::PrimaryForUserId(parent.user_id),
    )
    .await
    .must_fail(Code::PermissionDenied);
    assert_denied(&s, "KEY_RESTRICTIONS_EXCEEDED");
    let keys = app.all_api_keys(&session).await;
    assert!(keys.iter().all(|k| k.revoked_at.is_none()), "{keys:?}");
    // Its own restrictions it may roll.
    let rolled = try_roll(&app, &restricted, roll_key(child.id)).await.must();
    assert_eq!(
        rolled.api_key.map(|k| k.scopes).unwrap_or_default(),
        parent.scopes
    );
}

async fn bound_key_acts_only_inside_its_binding(app: TestApp) {
    let admin = app.init_admin().await;
    let bob = app.create_user(&admin, "bob", PASSWORD).await;
    let session = app.login("bob", PASSWORD).await;
    let default_org = app.default_organization(&session).await;
    let acme = app
        .orgs()
        .create_organization(with_auth(
            pb::CreateOrganizationRequest {
                name: "acme".into(),
            },
            &session,
        ))
        .await
        .must()
        .organization
        .unwrap_or_default();
    let bound_to = |org: &str, name: &str| pb::CreateApiKeyRequest {
        role: pb::ApiKeyRole::Owner.into(),
        organization_id: Some(org.to_owned()),
        ..key_request(name)
    };
    let (unbound, unbound_key) = app.create_api_key(&session, key_request("unbound")).await;
    let (bound, bound_key) = app
        .create_api_key(&session, bound_to(&default_org.id, "admin key"))
        .await;
    let (sibling, _) = app
        .create_api_key(&session, bound_to(&default_org.id, "sibling"))
        .await;
    let (other, _) = app
        .create_api_key(&session, bound_to(&acme.id, "acme key"))
        .await;

    // It lists only the keys of its organization.
    let listed: Vec<i64> = app
        .api_keys()
        .list_api_keys(with_auth(pb::ListApiKeysRequest::default(), &bound_key))
        .await
        .must()
        .api_keys
        .iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(listed, vec![bound.id, sibling.id]);
    let s = app
        .api_keys()
        .list_api_keys(with_auth(
            pb::ListApiKeysRequest {
                organization_id: Some(acme.id.clone()),
                ..Default::default()
            },
            &bound_key,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    assert_denied(&s, "ORGANIZATION_SCOPE");

    // Keys outside its organization do not exist for it.
    for id in [unbound.id, other.id] {
        app.api_keys()
            .get_api_key(with_auth(
                pb::GetApiKeyRequest { key: key_ref(id) },
                &bound_key,
            ))
            .await
            .must_fail(Code::NotFound);
        app.api_keys()
            .revoke_api_key(with_auth(
                pb::RevokeApiKeyRequest { key: key_ref(id) },
                &bound_key,
            ))
            .await
            .must_fail(Code::NotFound);
        try_roll(&app, &bound_key, roll_key(id))
            .await
            .must_fail(Code::NotFound);
    }
    // Rolling the owner's (unbound) primary key would hand out an unbound key.
    try_roll(
        &app,
        &bound_key,
        pb::roll_api_key_request::Target::PrimaryForUserId(bob.id),
    )
    .await
    .must_fail(Code::PermissionDenied);
    let keys = app.all_api_keys(&session).await;
    assert!(keys.iter().all(|k| k.revoked_at.is_none()), "{keys:?}");
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert!(works(&app, &unbound_key).await);

    // Inside its organization it acts: a roll stays bound, a revoke works.
    let rolled = try_roll(&app, &bound_key, roll_key(sibling.id))
        .await
        .must()
        .api_key
        .unwrap_or_default();
    assert_eq!(
        rolled.organization_id.as_deref(),
        Some(default_org.id.as_str())
    );
    app.api_keys()
        .revoke_api_key(with_auth(
            pb::RevokeApiKeyRequest {
                key: key_ref(rolled.id),
            },
            &bound_key,
        ))
        .await
        .must();
}

async fn stolen_session_cannot_mint_keys_without_recent_login_or_password(app: TestApp) {
    let admin = app.init_admin().await;
    let victim = app.create_user(&admin, "vic", PASSWORD).await;
    // A session that is still valid, but whose login is 11 minutes old (the thief's copy).
    let stolen = app.session_issued_ago(&victim, Duration::from_secs(11 * 60));
    assert!(works(&app, &stolen).await, "the stolen session is valid");

    let s = try_create(&app, &stolen, key_request("thief"))
        .await
        .must_fail(Code::PermissionDenied);
    assert_denied(&s, "RECENT_LOGIN_REQUIRED");
    let s = try_roll(
        &app,
        &stolen,
        pb::roll_api_key_request::Target::PrimaryForUserId(victim.id),
    )
    .await
    .must_fail(Code::PermissionDenied);
    assert_denied(&s, "RECENT_LOGIN_REQUIRED");
    let s = try_create(
        &app,
        &stolen,
        pb::CreateApiKeyRequest {
            password: Some("not-the-password".into()),
            ..key_request("thief")
        },
    )
    .await
    .must_fail(Code::PermissionDenied);
    assert_denied(&s, "WRONG_PASSWORD");
    assert!(app.all_api_keys(&stolen).await.is_empty());

    // The owner: with the password, or right after logging in.
    try_create(
        &app,
        &stolen,
        pb::CreateApiKeyRequest {
            password: Some(PASSWORD.into()),
            ..key_request("with the password")
        },
    )
    .await
    .must();
    let recent = app.session_issued_ago(&victim, Duration::from_secs(9 * 60));
    try_create(&app, &recent, key_request("recent login"))
        .await
        .must();
    let fresh = app.login("vic", PASSWORD).await;
    let (_, key) = app.create_api_key(&fresh, key_request("fresh login")).await;
    // API keys are judged by their restrictions, not by a login.
    try_create(&app, &key, key_request("by a key")).await.must();
    assert_eq!(app.all_api_keys(&fresh).await.len(), 4);
}

async fn password_change_revokes_keys_minted_by_sessions(app: TestApp) {
    let admin = app.init_admin().await;
    let pat = app.create_user(&admin, "pat", PASSWORD).await;
    let session = app.login("pat", PASSWORD).await;
    let with_password = |name: &str| pb::CreateApiKeyRequest {
        password: Some(PASSWORD.into()),
        ..key_request(name)
    };
    // Minted by the bare session, and by a key that was.
    let (_, by_session) = app.create_api_key(&session, key_request("session")).await;
    let (_, by_session_key) = app
        .create_api_key(&by_session, key_request("laundered"))
        .await;
    // Minted with the password, by such a key, and rolled by such a key.
    let (_, by_password) = app
        .create_api_key(&session, with_password("password"))
        .await;
    let (_, by_key) = app
        .create_api_key(&by_password, key_request("by a key"))
        .await;
    let (to_roll, _) = app.create_api_key(&session, with_password("to roll")).await;
    let rolled = try_roll(&app, &by_key, roll_key(to_roll.id))
        .await
        .must()
        .plaintext;
    // A bare session's roll of a clean key is revoked too.
    let (session_rolled, _) = app.create_api_key(&session, with_password("rolled")).await;
    let rolled_by_session = try_roll(&app, &session, roll_key(session_rolled.id))
        .await
        .must()
        .plaintext;
    // The administrator's key (minted by its own session) is not pat's: untouched.
    let (_, admin_key) = app.create_api_key(&admin, key_request("admin")).await;
    for k in [
        &by_session,
        &by_session_key,
        &by_password,
        &by_key,
        &rolled,
        &rolled_by_session,
        &admin_key,
    ] {
        assert!(works(&app, k).await, "every key works before the change");
    }

    app.users()
        .change_password(with_auth(
            pb::ChangePasswordRequest {
                user_id: pat.id,
                current_password: Some(PASSWORD.into()),
                new_password: NEW_PASSWORD.into(),
            },
            &by_password,
        ))
        .await
        .must();

    for k in [&by_session, &by_session_key, &rolled_by_session] {
        assert!(!works(&app, k).await, "a session-minted key survived");
    }
    for k in [&by_password, &by_key, &rolled, &admin_key] {
        assert!(works(&app, k).await, "a key minted with the password died");
    }
    let revoked = app
        .all_api_keys(&by_password)
        .await
        .into_iter()
        .filter(|k| k.revoked_at.is_some())
        .count();
    // The three session-minted keys and the two keys the rolls replaced.
    assert_eq!(revoked, 5);

    // The same when an administrator resets the password.
    let session = app.login("pat", NEW_PASSWORD).await;
    let (_, again) = app.create_api_key(&session, key_request("again")).await;
    app.users()
        .change_password(with_auth(
            pb::ChangePasswordRequest {
                user_id: pat.id,
                current_password: None,
                new_password: PASSWORD.into(),
            },
            &admin,
        ))
        .await
        .must();
    assert!(!works(&app, &again).await);
    assert!(works(&app, &by_key).await);
}

async fn only_the_bootstrap_admin_keys_itself(app: TestApp) {
    let admin = app.init_admin().await;
    let second = app
        .create_user_with(
            &admin,
            pb::CreateUserRequest {
                username: "second".into(),
                password: Some(PASSWORD.into()),
                global_role: pb::GlobalRole::Administrator.into(),
                ..Default::default()
            },
        )
        .await;
    let other = app.login("second", PASSWORD).await;
    let (_, other_key) = app
        .create_api_key(
            &other,
            pb::CreateApiKeyRequest {
                password: Some(PASSWORD.into()),
                ..key_request("second's key")
            },
        )
        .await;
    let (bootstrap_key, _) = app.create_api_key(&admin, key_request("mine")).await;

    for credential in [&other, &other_key] {
        let s = try_create(
            &app,
            credential,
            pb::CreateApiKeyRequest {
                user_id: Some(1),
                ..key_request("backdoor")
            },
        )
        .await
        .must_fail(Code::PermissionDenied);
        assert_denied(&s, "BOOTSTRAP_ADMIN_SELF_ONLY");
        let s = try_roll(
            &app,
            credential,
            pb::roll_api_key_request::Target::PrimaryForUserId(1),
        )
        .await
        .must_fail(Code::PermissionDenied);
        assert_denied(&s, "BOOTSTRAP_ADMIN_SELF_ONLY");
        let s = try_roll(&app, credential, roll_key(bootstrap_key.id))
            .await
            .must_fail(Code::PermissionDenied);
        assert_denied(&s, "BOOTSTRAP_ADMIN_SELF_ONLY");
        let s = app
            .users()
            .update_user(with_auth(
                update_user(
                    1,
                    pb::UserUpdate {
                        global_role: pb::GlobalRole::Standard.into(),
                        ..Default::default()
                    },
                    &["global_role"],
                ),
                credential,
            ))
            .await
            .must_fail(Code::PermissionDenied);
        assert_denied(&s, "BOOTSTRAP_ADMIN_SELF_ONLY");
    }
    let keys = app.all_api_keys(&admin).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys.iter().all(|k| k.revoked_at.is_none()));
    let user1 = app
        .users()
        .get_user(with_auth(get_user(1), &admin))
        .await
        .must()
        .user
        .unwrap_or_default();
    assert_eq!(user1.global_role(), pb::GlobalRole::Administrator);

    // The bootstrap administrator itself may; and still administers the others' keys and roles.
    try_roll(
        &app,
        &admin,
        pb::roll_api_key_request::Target::PrimaryForUserId(1),
    )
    .await
    .must();
    try_create(
        &app,
        &admin,
        pb::CreateApiKeyRequest {
            user_id: Some(second.id),
            ..key_request("for the second admin")
        },
    )
    .await
    .must();
    app.users()
        .update_user(with_auth(
            update_user(
                second.id,
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
}
