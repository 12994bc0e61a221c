//! Access rules between standard users, team leaders and administrators.

use identity_api::pb;
use identity_testkit::{TestApp, with_auth};
use tonic::Code;

use crate::support::{Must as _, get_user, key_ref, key_request, reason, update_user};

const PASSWORD: &str = "user-password-1234";
const DENIED_OR_HIDDEN: &[Code] = &[Code::PermissionDenied, Code::NotFound];

both!(
    standard_users_cannot_touch_others,
    team_leaders_list_standard_users_only,
    admin_powers_and_delete_preconditions
);

async fn standard_users_cannot_touch_others(app: TestApp) {
    let admin = app.init_admin().await;
    let alice = app.create_user(&admin, "alice", PASSWORD).await;
    let bob = app.create_user(&admin, "bob", PASSWORD).await;
    let alice_token = app.login("alice", PASSWORD).await;
    let bob_token = app.login("bob", PASSWORD).await;
    let (bob_key, bob_plaintext) = app
        .create_api_key(&bob_token, key_request("bob's key"))
        .await;

    // Alice can read and change herself...
    let me = app
        .users()
        .get_user(with_auth(get_user(alice.id), &alice_token))
        .await
        .must();
    assert_eq!(me.user.map(|u| u.username), Some("alice".to_owned()));
    let renamed = app
        .users()
        .update_user(with_auth(
            update_user(
                alice.id,
                pb::UserUpdate {
                    display_name: "Alice A.".to_owned(),
                    ..Default::default()
                },
                &["display_name"],
            ),
            &alice_token,
        ))
        .await
        .must();
    assert_eq!(
        renamed.user.map(|u| u.display_name),
        Some("Alice A.".to_owned())
    );

    // ...but not bob, by any lookup.
    app.users()
        .get_user(with_auth(get_user(bob.id), &alice_token))
        .await
        .must_fail_with_any(DENIED_OR_HIDDEN);
    for lookup in [
        pb::get_user_request::Lookup::Uid(bob.uid.clone()),
        pb::get_user_request::Lookup::Handle(bob.handle.clone()),
        pb::get_user_request::Lookup::Username("bob".to_owned()),
    ] {
        app.users()
            .get_user(with_auth(
                pb::GetUserRequest {
                    lookup: Some(lookup),
                },
                &alice_token,
            ))
            .await
            .must_fail_with_any(DENIED_OR_HIDDEN);
    }
    // A user that does not exist looks the same as one that does.
    app.users()
        .get_user(with_auth(get_user(9_999), &alice_token))
        .await
        .must_fail_with_any(DENIED_OR_HIDDEN);
    app.users()
        .update_user(with_auth(
            update_user(
                bob.id,
                pb::UserUpdate {
                    display_name: "pwned".to_owned(),
                    ..Default::default()
                },
                &["display_name"],
            ),
            &alice_token,
        ))
        .await
        .must_fail_with_any(DENIED_OR_HIDDEN);
    app.users()
        .delete_user(with_auth(
            pb::DeleteUserRequest { user_id: bob.id },
            &alice_token,
        ))
        .await
        .must_fail_with_any(DENIED_OR_HIDDEN);
    app.users()
        .change_password(with_auth(
            pb::ChangePasswordRequest {
                user_id: bob.id,
                current_password: Some(PASSWORD.to_owned()),
                new_password: "taken-over-1234".to_owned(),
            },
            &alice_token,
        ))
        .await
        .must_fail_with_any(DENIED_OR_HIDDEN);

    // Nor bob's keys.
    app.api_keys()
        .list_api_keys(with_auth(
            pb::ListApiKeysRequest {
                user_id: Some(bob.id),
                ..Default::default()
            },
            &alice_token,
        ))
        .await
        .must_fail_with_any(DENIED_OR_HIDDEN);
    app.api_keys()
        .get_api_key(with_auth(
            pb::GetApiKeyRequest {
                key: key_ref(bob_key.id),
            },
            &alice_token,
        ))
        .await
        .must_fail_with_any(DENIED_OR_HIDDEN);
    app.api_keys()
        .get_api_key(with_auth(
            pb::GetApiKeyRequest {
                key: Some(pb::ApiKeyRef {
                    key: Some(pb::api_key_ref::Key::Uid(bob_key.uid.clone())),
                }),
            },
            &alice_token,
        ))
        .await
        .must_fail_with_any(DENIED_OR_HIDDEN);
    app.api_keys()
        .revoke_api_key(with_auth(
            pb::RevokeApiKeyRequest {
                key: key_ref(bob_key.id),
            },
            &alice_token,
        ))
        .await
        .must_fail_with_any(DENIED_OR_HIDDEN);
    app.api_keys()
        .roll_api_key(with_auth(
            pb::RollApiKeyRequest {
                target: Some(pb::roll_api_key_request::Target::Key(pb::ApiKeyRef {
                    key: Some(pb::api_key_ref::Key::Id(bob_key.id)),
                })),
            },
            &alice_token,
        ))
        .await
        .must_fail_with_any(DENIED_OR_HIDDEN);
    app.api_keys()
        .roll_api_key(with_auth(
            pb::RollApiKeyRequest {
                target: Some(pb::roll_api_key_request::Target::PrimaryForUserId(bob.id)),
            },
            &alice_token,
        ))
        .await
        .must_fail_with_any(DENIED_OR_HIDDEN);
    // The failed revoke and rolls left bob's key working.
    let still = app
        .auth()
        .authenticate(pb::AuthenticateRequest {
            credential: bob_plaintext,
        })
        .await
        .must();
    assert_eq!(
        still.principal.and_then(|p| p.api_key).map(|k| k.id),
        Some(bob_key.id)
    );

    // No keys for other users.
    app.api_keys()
        .create_api_key(with_auth(
            pb::CreateApiKeyRequest {
                user_id: Some(bob.id),
                ..key_request("for bob")
            },
            &alice_token,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    let bobs = app.all_api_keys(&bob_token).await;
    assert_eq!(bobs.len(), 1, "no key was created for bob: {bobs:?}");

    // No self-promotion, no username change, no user listing, no user creation.
    let denied = app
        .users()
        .update_user(with_auth(
            update_user(
                alice.id,
                pb::UserUpdate {
                    global_role: pb::GlobalRole::Administrator.into(),
                    ..Default::default()
                },
                &["global_role"],
            ),
            &alice_token,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    assert!(reason(&denied).is_some());
    app.users()
        .update_user(with_auth(
            update_user(
                alice.id,
                pb::UserUpdate {
                    username: "root2".to_owned(),
                    ..Default::default()
                },
                &["username"],
            ),
            &alice_token,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    let after = app
        .users()
        .get_user(with_auth(get_user(alice.id), &admin))
        .await
        .must()
        .user
        .unwrap_or_default();
    assert_eq!(
        after.global_role(),
        pb::GlobalRole::Standard,
        "the role did not change"
    );
    assert_eq!(after.username, "alice");
    app.users()
        .list_users(with_auth(pb::ListUsersRequest::default(), &alice_token))
        .await
        .must_fail(Code::PermissionDenied);
    app.users()
        .create_user(with_auth(
            pb::CreateUserRequest {
                username: "carol".to_owned(),
                ..Default::default()
            },
            &alice_token,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    app.teams()
        .create_team(with_auth(
            pb::CreateTeamRequest {
                name: "mine".to_owned(),
            },
            &alice_token,
        ))
        .await
        .must_fail(Code::PermissionDenied);
}

async fn team_leaders_list_standard_users_only(app: TestApp) {
    let admin = app.init_admin().await;
    let leader = app.create_user(&admin, "leader", PASSWORD).await;
    let member = app.create_user(&admin, "member", PASSWORD).await;
    let second_admin = app
        .create_user_with(
            &admin,
            pb::CreateUserRequest {
                username: "admin2".to_owned(),
                password: Some(PASSWORD.to_owned()),
                global_role: pb::GlobalRole::Administrator.into(),
                ..Default::default()
            },
        )
        .await;
    let leader_token = app.login("leader", PASSWORD).await;
    let member_token = app.login("member", PASSWORD).await;
    app.users()
        .list_users(with_auth(pb::ListUsersRequest::default(), &leader_token))
        .await
        .must_fail(Code::PermissionDenied);

    let team = app
        .teams()
        .create_team(with_auth(
            pb::CreateTeamRequest {
                name: "platform".to_owned(),
            },
            &admin,
        ))
        .await
        .must()
        .team
        .unwrap_or_default();
    app.teams()
        .add_team_member(with_auth(
            pb::AddTeamMemberRequest {
                team_id: team.id,
                user_id: leader.id,
                role: pb::TeamRole::Leader.into(),
            },
            &admin,
        ))
        .await
        .must();
    app.teams()
        .add_team_member(with_auth(
            pb::AddTeamMemberRequest {
                team_id: team.id,
                user_id: member.id,
                role: 0,
            },
            &admin,
        ))
        .await
        .must();

    // Now the leader may list, and sees standard users only.
    let listed = app
        .users()
        .list_users(with_auth(pb::ListUsersRequest::default(), &leader_token))
        .await
        .must();
    let ids: Vec<i64> = listed.users.iter().map(|u| u.id).collect();
    assert!(
        listed
            .users
            .iter()
            .all(|u| u.global_role() == pb::GlobalRole::Standard),
        "only standard users: {ids:?}"
    );
    assert!(
        ids.contains(&leader.id) && ids.contains(&member.id),
        "standard users are listed: {ids:?}"
    );
    assert!(
        !ids.contains(&1) && !ids.contains(&second_admin.id),
        "administrators are hidden: {ids:?}"
    );

    // An ordinary team member still may not.
    app.users()
        .list_users(with_auth(pb::ListUsersRequest::default(), &member_token))
        .await
        .must_fail(Code::PermissionDenied);

    // The admin sees everyone.
    let everyone = app
        .users()
        .list_users(with_auth(pb::ListUsersRequest::default(), &admin))
        .await
        .must();
    let mut all: Vec<i64> = everyone.users.iter().map(|u| u.id).collect();
    all.sort_unstable();
    assert_eq!(all, vec![1, leader.id, member.id, second_admin.id]);
}

async fn admin_powers_and_delete_preconditions(app: TestApp) {
    let admin = app.init_admin().await;
    let bob = app.create_user(&admin, "bob", PASSWORD).await;
    let bob_token = app.login("bob", PASSWORD).await;
    let (bob_key, bob_plaintext) = app
        .create_api_key(&bob_token, key_request("bob's key"))
        .await;

    // The admin may read and change anyone and anyone's keys.
    let got = app
        .users()
        .get_user(with_auth(get_user(bob.id), &admin))
        .await
        .must();
    assert_eq!(got.user.map(|u| u.id), Some(bob.id));
    app.users()
        .get_user(with_auth(get_user(9_999), &admin))
        .await
        .must_fail(Code::NotFound);
    let updated = app
        .users()
        .update_user(with_auth(
            update_user(
                bob.id,
                pb::UserUpdate {
                    username: "robert".to_owned(),
                    display_name: "Robert".to_owned(),
                    ..Default::default()
                },
                &["username", "display_name"],
            ),
            &admin,
        ))
        .await
        .must()
        .user
        .unwrap_or_default();
    assert_eq!(
        (updated.username.as_str(), updated.display_name.as_str()),
        ("robert", "Robert")
    );
    let keys = app
        .api_keys()
        .list_api_keys(with_auth(
            pb::ListApiKeysRequest {
                user_id: Some(bob.id),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must();
    assert_eq!(
        keys.api_keys.iter().map(|k| k.id).collect::<Vec<_>>(),
        vec![bob_key.id]
    );
    let got_key = app
        .api_keys()
        .get_api_key(with_auth(
            pb::GetApiKeyRequest {
                key: key_ref(bob_key.id),
            },
            &admin,
        ))
        .await
        .must();
    assert_eq!(got_key.api_key.map(|k| k.user_id), Some(bob.id));
    let (admin_made, admin_made_plaintext) = app
        .create_api_key(
            &admin,
            pb::CreateApiKeyRequest {
                user_id: Some(bob.id),
                ..key_request("made by admin")
            },
        )
        .await;
    assert_eq!(
        admin_made.user_id, bob.id,
        "administrators may create keys for others"
    );
    let principal = app
        .auth()
        .authenticate(pb::AuthenticateRequest {
            credential: admin_made_plaintext,
        })
        .await
        .must();
    assert_eq!(
        principal.principal.and_then(|p| p.user).map(|u| u.id),
        Some(bob.id)
    );
    app.api_keys()
        .revoke_api_key(with_auth(
            pb::RevokeApiKeyRequest {
                key: key_ref(bob_key.id),
            },
            &admin,
        ))
        .await
        .must();
    app.auth()
        .authenticate(pb::AuthenticateRequest {
            credential: bob_plaintext.clone(),
        })
        .await
        .must_fail(Code::Unauthenticated);

    // Delete preconditions: user 1, self.
    let status = app
        .users()
        .delete_user(with_auth(pb::DeleteUserRequest { user_id: 1 }, &admin))
        .await
        .must_fail(Code::FailedPrecondition);
    assert!(reason(&status).is_some());
    let admin2 = app
        .create_user_with(
            &admin,
            pb::CreateUserRequest {
                username: "admin2".to_owned(),
                password: Some(PASSWORD.to_owned()),
                global_role: pb::GlobalRole::Administrator.into(),
                ..Default::default()
            },
        )
        .await;
    let admin2_token = app.login("admin2", PASSWORD).await;
    let bootstrap = app
        .users()
        .delete_user(with_auth(
            pb::DeleteUserRequest { user_id: 1 },
            &admin2_token,
        ))
        .await
        .must_fail(Code::FailedPrecondition);
    assert_eq!(
        reason(&bootstrap).as_deref(),
        Some("BOOTSTRAP_ADMIN_PROTECTED")
    );
    let own = app
        .users()
        .delete_user(with_auth(
            pb::DeleteUserRequest { user_id: admin2.id },
            &admin2_token,
        ))
        .await
        .must_fail(Code::FailedPrecondition);
    assert_eq!(reason(&own).as_deref(), Some("SELF_DELETE_FORBIDDEN"));
    app.users()
        .get_user(with_auth(get_user(1), &admin))
        .await
        .must();
    app.users()
        .get_user(with_auth(get_user(admin2.id), &admin))
        .await
        .must();

    // Deleting bob works, revokes his keys and ends his sessions.
    let (_, live_key) = app.create_api_key(&bob_token, key_request("live")).await;
    app.auth()
        .authenticate(pb::AuthenticateRequest {
            credential: live_key.clone(),
        })
        .await
        .must();
    app.users()
        .delete_user(with_auth(
            pb::DeleteUserRequest { user_id: bob.id },
            &admin2_token,
        ))
        .await
        .must();
    app.users()
        .get_user(with_auth(get_user(bob.id), &admin))
        .await
        .must_fail(Code::NotFound);
    app.auth()
        .authenticate(pb::AuthenticateRequest {
            credential: live_key,
        })
        .await
        .must_fail(Code::Unauthenticated);
    app.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &bob_token))
        .await
        .must_fail(Code::Unauthenticated);
    app.users()
        .delete_user(with_auth(pb::DeleteUserRequest { user_id: bob.id }, &admin))
        .await
        .must_fail(Code::NotFound);
}
