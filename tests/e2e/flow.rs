//! The main flow: setup, login, users, API key issue / authenticate / revoke / roll.

use identity_api::pb;
use identity_testkit::{ADMIN_PASSWORD, ADMIN_USERNAME, TestApp, with_api_key_header, with_auth};
use tonic::{Code, Request};

use crate::support::{Must as _, key_ref, key_request, reason};

const PASSWORD: &str = "alice-password-123";

both!(
    setup_state_and_init_admin,
    key_lifecycle,
    roll_api_key,
    calls_without_credentials_are_unauthenticated
);

async fn setup_state_and_init_admin(app: TestApp) {
    let before = app
        .auth()
        .get_setup_state(pb::GetSetupStateRequest {})
        .await
        .must();
    assert!(
        !before.admin_exists,
        "a fresh database has no administrator"
    );
    assert!(
        before.default_organization.is_none(),
        "no default organization before InitAdmin"
    );

    let init = app
        .auth()
        .init_admin(pb::InitAdminRequest {
            username: "Root".to_owned(),
            password: ADMIN_PASSWORD.to_owned(),
            email: Some("root@example.com".to_owned()),
            display_name: "The Root".to_owned(),
            organization_name: "Acme".to_owned(),
        })
        .await
        .must();
    let admin = init.user.unwrap_or_default();
    assert_eq!(admin.id, 1, "the first administrator is user 1");
    assert_eq!(admin.username, "root", "usernames are stored lower-cased");
    assert_eq!(admin.global_role(), pb::GlobalRole::Administrator);
    assert!(admin.has_password);
    assert_eq!(admin.handle, format!("user-{}", admin.uid.replace('-', "")));
    let org = init.organization.unwrap_or_default();
    assert!(org.is_default);
    assert_eq!(org.name, "Acme");

    let after = app
        .auth()
        .get_setup_state(pb::GetSetupStateRequest {})
        .await
        .must();
    assert!(after.admin_exists);
    assert_eq!(after.default_organization.map(|o| o.id), Some(org.id));

    // A second InitAdmin is refused, even with a different, valid user.
    let again = app
        .auth()
        .init_admin(pb::InitAdminRequest {
            username: "mallory".to_owned(),
            password: "mallory-password-1".to_owned(),
            ..Default::default()
        })
        .await
        .must_fail(Code::AlreadyExists);
    assert!(reason(&again).is_some(), "errors carry an ErrorInfo reason");
    // ...also with a weak password: "already set up" wins over validation.
    app.auth()
        .init_admin(pb::InitAdminRequest {
            username: "mallory".to_owned(),
            password: "x".to_owned(),
            ..Default::default()
        })
        .await
        .must_fail(Code::AlreadyExists);
    app.auth()
        .login(pb::LoginRequest {
            identifier: "mallory".to_owned(),
            password: "mallory-password-1".to_owned(),
        })
        .await
        .must_fail(Code::Unauthenticated);

    // The administrator can log in by username (any case) and by e-mail.
    let by_name = app
        .auth()
        .login(pb::LoginRequest {
            identifier: "ROOT".to_owned(),
            password: ADMIN_PASSWORD.to_owned(),
        })
        .await
        .must();
    assert!(!by_name.session_token.is_empty());
    assert_eq!(by_name.user.map(|u| u.id), Some(1));
    let by_email = app
        .auth()
        .login(pb::LoginRequest {
            identifier: "root@example.com".to_owned(),
            password: ADMIN_PASSWORD.to_owned(),
        })
        .await
        .must();
    let me = app
        .auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &by_email.session_token))
        .await
        .must();
    let principal = me.principal.unwrap_or_default();
    assert_eq!(principal.user.as_ref().map(|u| u.id), Some(1));
    assert!(principal.is_admin);
    assert_eq!(principal.credential_kind(), pb::CredentialKind::Session);

    // Wrong password and unknown user get the same answer.
    let wrong = app
        .auth()
        .login(pb::LoginRequest {
            identifier: "root".to_owned(),
            password: "not-the-password".to_owned(),
        })
        .await
        .must_fail(Code::Unauthenticated);
    let unknown = app
        .auth()
        .login(pb::LoginRequest {
            identifier: "nobody".to_owned(),
            password: "not-the-password".to_owned(),
        })
        .await
        .must_fail(Code::Unauthenticated);
    assert_eq!(
        wrong.message(),
        unknown.message(),
        "unknown users must not be distinguishable"
    );
}

async fn key_lifecycle(app: TestApp) {
    let admin = app.init_admin().await;
    let alice = app.create_user(&admin, "alice", PASSWORD).await;
    assert_eq!(alice.global_role(), pb::GlobalRole::Standard);
    let session = app.login("alice", PASSWORD).await;

    let (key, plaintext) = app.create_api_key(&session, key_request("ci")).await;
    assert!(
        plaintext.starts_with("idk_"),
        "keys have the documented shape: {}",
        key.prefix
    );
    assert!(
        plaintext.starts_with(&key.prefix),
        "the display prefix is the start of the key"
    );
    assert_eq!(key.user_id, alice.id);
    assert_eq!(
        key.role(),
        pb::ApiKeyRole::Inherit,
        "UNSPECIFIED means INHERIT"
    );
    assert!(key.revoked_at.is_none());

    // Authenticate turns the key into alice's principal.
    let principal = app
        .auth()
        .authenticate(pb::AuthenticateRequest {
            credential: plaintext.clone(),
        })
        .await
        .must()
        .principal
        .unwrap_or_default();
    assert_eq!(principal.user.as_ref().map(|u| u.id), Some(alice.id));
    assert_eq!(
        principal.user.as_ref().map(|u| u.username.as_str()),
        Some("alice")
    );
    assert_eq!(principal.credential_kind(), pb::CredentialKind::ApiKey);
    assert_eq!(principal.api_key.as_ref().map(|k| k.id), Some(key.id));
    assert!(!principal.is_admin);
    assert!(!principal.read_only);

    // The key works as a credential, in both metadata forms.
    let who = app
        .auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &plaintext))
        .await
        .must();
    assert_eq!(
        who.principal.and_then(|p| p.user).map(|u| u.id),
        Some(alice.id)
    );
    let who = app
        .auth()
        .who_am_i(with_api_key_header(pb::WhoAmIRequest {}, &plaintext))
        .await
        .must();
    assert_eq!(
        who.principal.and_then(|p| p.user).map(|u| u.id),
        Some(alice.id)
    );
    let listed = app
        .api_keys()
        .list_api_keys(with_auth(pb::ListApiKeysRequest::default(), &plaintext))
        .await
        .must();
    assert_eq!(
        listed.api_keys.iter().map(|k| k.id).collect::<Vec<_>>(),
        vec![key.id]
    );

    // Revoke: the key stops working at once, everywhere.
    let revoked = app
        .api_keys()
        .revoke_api_key(with_auth(
            pb::RevokeApiKeyRequest {
                key: key_ref(key.id),
            },
            &session,
        ))
        .await
        .must()
        .api_key
        .unwrap_or_default();
    assert_eq!(revoked.id, key.id);
    assert!(
        revoked.revoked_at.is_some(),
        "the response shows the revocation"
    );
    app.auth()
        .authenticate(pb::AuthenticateRequest {
            credential: plaintext.clone(),
        })
        .await
        .must_fail(Code::Unauthenticated);
    app.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &plaintext))
        .await
        .must_fail(Code::Unauthenticated);
    app.auth()
        .who_am_i(with_api_key_header(pb::WhoAmIRequest {}, &plaintext))
        .await
        .must_fail(Code::Unauthenticated);
    app.users()
        .get_user(with_auth(crate::support::get_user(alice.id), &plaintext))
        .await
        .must_fail(Code::Unauthenticated);
    app.api_keys()
        .create_api_key(with_auth(key_request("from a revoked key"), &plaintext))
        .await
        .must_fail(Code::Unauthenticated);

    // Revoked keys are hidden from the list unless asked for.
    let active = app
        .api_keys()
        .list_api_keys(with_auth(pb::ListApiKeysRequest::default(), &session))
        .await
        .must();
    assert!(
        active.api_keys.is_empty(),
        "revoked keys are omitted: {:?}",
        active.api_keys
    );
    let all = app.all_api_keys(&session).await;
    assert_eq!(all.len(), 1);
    assert!(all[0].revoked_at.is_some());

    // Alice's session is unaffected by the revocation.
    app.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &session))
        .await
        .must();
}

async fn roll_api_key(app: TestApp) {
    let admin = app.init_admin().await;
    let bob = app.create_user(&admin, "bob", PASSWORD).await;
    let session = app.login("bob", PASSWORD).await;
    let (old, old_plaintext) = app
        .create_api_key(
            &session,
            pb::CreateApiKeyRequest {
                name: "deploy".to_owned(),
                description: "rolled in the test".to_owned(),
                role: pb::ApiKeyRole::Write.into(),
                scopes: vec!["GET /api/dataset".to_owned()],
                ..Default::default()
            },
        )
        .await;
    app.auth()
        .authenticate(pb::AuthenticateRequest {
            credential: old_plaintext.clone(),
        })
        .await
        .must();

    let rolled = app
        .api_keys()
        .roll_api_key(with_auth(
            pb::RollApiKeyRequest {
                target: Some(pb::roll_api_key_request::Target::Key(pb::ApiKeyRef {
                    key: Some(pb::api_key_ref::Key::Id(old.id)),
                })),
            },
            &session,
        ))
        .await
        .must();
    let new = rolled.api_key.unwrap_or_default();
    assert_eq!(rolled.revoked_key_id, Some(old.id));
    assert_ne!(new.id, old.id);
    assert_ne!(rolled.plaintext, old_plaintext);
    assert!(rolled.plaintext.starts_with(&new.prefix));
    assert_eq!(new.user_id, bob.id);
    assert_eq!(
        (new.name.as_str(), new.description.as_str()),
        ("deploy", "rolled in the test"),
        "the replacement copies the attributes"
    );
    assert_eq!(new.role(), pb::ApiKeyRole::Write);
    assert_eq!(new.scopes, vec!["GET /api/dataset".to_owned()]);

    // Old key refused, new key accepted.
    app.auth()
        .authenticate(pb::AuthenticateRequest {
            credential: old_plaintext.clone(),
        })
        .await
        .must_fail(Code::Unauthenticated);
    app.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &old_plaintext))
        .await
        .must_fail(Code::Unauthenticated);
    let principal = app
        .auth()
        .authenticate(pb::AuthenticateRequest {
            credential: rolled.plaintext.clone(),
        })
        .await
        .must()
        .principal
        .unwrap_or_default();
    assert_eq!(principal.api_key.map(|k| k.id), Some(new.id));
    assert_eq!(principal.user.map(|u| u.id), Some(bob.id));

    // A revoked key cannot be rolled again.
    app.api_keys()
        .roll_api_key(with_auth(
            pb::RollApiKeyRequest {
                target: Some(pb::roll_api_key_request::Target::Key(pb::ApiKeyRef {
                    key: Some(pb::api_key_ref::Key::Id(old.id)),
                })),
            },
            &session,
        ))
        .await
        .must_fail(Code::NotFound);

    // Rolling the primary key of a user without one creates it; rolling again replaces it.
    let first = app
        .api_keys()
        .roll_api_key(with_auth(
            pb::RollApiKeyRequest {
                target: Some(pb::roll_api_key_request::Target::PrimaryForUserId(bob.id)),
            },
            &session,
        ))
        .await
        .must();
    assert_eq!(first.revoked_key_id, None);
    assert!(first.api_key.as_ref().is_some_and(|k| k.primary));
    let second = app
        .api_keys()
        .roll_api_key(with_auth(
            pb::RollApiKeyRequest {
                target: Some(pb::roll_api_key_request::Target::PrimaryForUserId(bob.id)),
            },
            &session,
        ))
        .await
        .must();
    assert_eq!(second.revoked_key_id, first.api_key.as_ref().map(|k| k.id));
    app.auth()
        .authenticate(pb::AuthenticateRequest {
            credential: first.plaintext,
        })
        .await
        .must_fail(Code::Unauthenticated);
    app.auth()
        .authenticate(pb::AuthenticateRequest {
            credential: second.plaintext,
        })
        .await
        .must();
}

async fn calls_without_credentials_are_unauthenticated(app: TestApp) {
    let admin = app.init_admin().await;
    app.users()
        .list_users(pb::ListUsersRequest::default())
        .await
        .must_fail(Code::Unauthenticated);
    app.auth()
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .must_fail(Code::Unauthenticated);
    app.api_keys()
        .create_api_key(key_request("anonymous"))
        .await
        .must_fail(Code::Unauthenticated);
    app.teams()
        .list_teams(pb::ListTeamsRequest::default())
        .await
        .must_fail(Code::Unauthenticated);
    app.orgs()
        .create_organization(pb::CreateOrganizationRequest {
            name: "anon".to_owned(),
        })
        .await
        .must_fail(Code::Unauthenticated);

    // Garbage credentials of every shape are refused the same way.
    for bad in [
        "garbage",
        "idk_short_abcdef",
        "a.b.c",
        "idk_00000000000000000000000000000000_000000",
    ] {
        app.auth()
            .who_am_i(with_auth(pb::WhoAmIRequest {}, bad))
            .await
            .must_fail(Code::Unauthenticated);
        app.auth()
            .authenticate(pb::AuthenticateRequest {
                credential: bad.to_owned(),
            })
            .await
            .must_fail(Code::Unauthenticated);
    }
    let mut basic = Request::new(pb::WhoAmIRequest {});
    basic.metadata_mut().insert(
        "authorization",
        tonic::metadata::MetadataValue::from_static("Basic YWRtaW46YWRtaW4="),
    );
    app.auth()
        .who_am_i(basic)
        .await
        .must_fail(Code::Unauthenticated);

    // The public RPCs need none, and a valid token still works.
    app.auth()
        .get_setup_state(pb::GetSetupStateRequest {})
        .await
        .must();
    let who = app
        .auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &admin))
        .await
        .must();
    assert_eq!(
        who.principal.and_then(|p| p.user).map(|u| u.username),
        Some(ADMIN_USERNAME.to_owned())
    );
}
