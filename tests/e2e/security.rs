//! Security regression suite over gRPC: every RPC of `identity.v1` (the list comes from the
//! compiled descriptor set, so a new RPC without a case here fails the suite) is called by a
//! standard user against another user's resources or as an administrator-only function, and
//! must be refused; afterwards nothing of the victim changed. Page sizes are capped.
//! Token attacks (alg none, expired, wrong aud/iss, tampered) are in `sessions.rs`; hashes and
//! digests in responses in `secrets.rs`.

use std::collections::BTreeSet;

use identity_api::pb;
use identity_testkit::{TestApp, with_auth};
use tonic::Code;

use crate::support::{Must as _, get_user, key_ref, key_request, reason, update_user};

const PASSWORD: &str = "victim-password-1234";
const DENIED_OR_HIDDEN: &[Code] = &[Code::PermissionDenied, Code::NotFound];

both!(
    every_rpc_refuses_another_users_resources_and_admin_functions,
    page_sizes_are_capped,
);

/// The refusal of a call, or an OK status standing for "it was allowed".
fn fail<T>(r: Result<tonic::Response<T>, tonic::Status>) -> tonic::Status {
    match r {
        Ok(_) => tonic::Status::ok("unexpectedly allowed"),
        Err(s) => s,
    }
}

/// RPCs that are public or act on the caller only: there is no other user's resource to
/// reach. Each still gets a check below of what it may not do.
const SELF_OR_PUBLIC: &[&str] = &[
    "identity.v1.AuthService/Login",
    "identity.v1.AuthService/Authenticate",
    "identity.v1.AuthService/WhoAmI",
    "identity.v1.AuthService/GetSetupState",
    // The public keys that verify tokens: public by design (RFC 7517), nothing per user.
    "identity.v1.AuthService/GetJwks",
    // The key in the request is the credential (like Authenticate): it yields only that key's
    // own rights, narrowed; `jwks.rs` tests it.
    "identity.v1.AuthService/ExchangeApiKey",
    // Any user may create an organization (and owns it); teams are listed to everyone.
    "identity.v1.OrganizationService/CreateOrganization",
    "identity.v1.TeamService/ListTeams",
];

async fn every_rpc_refuses_another_users_resources_and_admin_functions(app: TestApp) {
    let admin = app.init_admin().await;
    let mallory = app.create_user(&admin, "mallory", PASSWORD).await;
    let victim = app.create_user(&admin, "victim", PASSWORD).await;
    let m = app.login("mallory", PASSWORD).await;
    let v = app.login("victim", PASSWORD).await;
    let (victim_key, victim_plaintext) = app.create_api_key(&v, key_request("victim's")).await;
    let org = app
        .orgs()
        .create_organization(with_auth(
            pb::CreateOrganizationRequest {
                name: "victim corp".to_owned(),
            },
            &admin,
        ))
        .await
        .must()
        .organization
        .unwrap_or_default();
    app.orgs()
        .add_member(with_auth(
            pb::AddMemberRequest {
                organization_id: org.id.clone(),
                user_id: victim.id,
                role: pb::OrganizationRole::Member as i32,
            },
            &admin,
        ))
        .await
        .must();
    let team = app
        .teams()
        .create_team(with_auth(
            pb::CreateTeamRequest {
                name: "victims".to_owned(),
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
                user_id: victim.id,
                role: pb::TeamRole::Member as i32,
            },
            &admin,
        ))
        .await
        .must();

    let mut covered: BTreeSet<String> = SELF_OR_PUBLIC.iter().map(|s| (*s).to_owned()).collect();
    let mut refused = |rpc: &str, result: tonic::Status| {
        assert!(
            DENIED_OR_HIDDEN.contains(&result.code()),
            "{rpc}: expected PERMISSION_DENIED or NOT_FOUND, got {:?} {:?} ({:?})",
            result.code(),
            result.message(),
            reason(&result)
        );
        covered.insert(format!("identity.v1.{rpc}"));
    };

    // --- UserService ---
    let users = || app.users();
    refused(
        "UserService/CreateUser",
        fail(
            users()
                .create_user(with_auth(
                    pb::CreateUserRequest {
                        username: "sockpuppet".to_owned(),
                        global_role: pb::GlobalRole::Administrator as i32,
                        ..Default::default()
                    },
                    &m,
                ))
                .await,
        ),
    );
    refused(
        "UserService/GetUser",
        fail(users().get_user(with_auth(get_user(victim.id), &m)).await),
    );
    refused(
        "UserService/ListUsers",
        fail(
            users()
                .list_users(with_auth(pb::ListUsersRequest::default(), &m))
                .await,
        ),
    );
    refused(
        "UserService/UpdateUser",
        fail(
            users()
                .update_user(with_auth(
                    update_user(
                        victim.id,
                        pb::UserUpdate {
                            display_name: "pwned".to_owned(),
                            ..Default::default()
                        },
                        &["display_name"],
                    ),
                    &m,
                ))
                .await,
        ),
    );
    // Mallory cannot make herself an administrator either (BFLA through her own record).
    refused(
        "UserService/UpdateUser",
        fail(
            users()
                .update_user(with_auth(
                    update_user(
                        mallory.id,
                        pb::UserUpdate {
                            global_role: pb::GlobalRole::Administrator as i32,
                            ..Default::default()
                        },
                        &["global_role"],
                    ),
                    &m,
                ))
                .await,
        ),
    );
    refused(
        "UserService/DeleteUser",
        fail(
            users()
                .delete_user(with_auth(pb::DeleteUserRequest { user_id: victim.id }, &m))
                .await,
        ),
    );
    refused(
        "UserService/ChangePassword",
        fail(
            users()
                .change_password(with_auth(
                    pb::ChangePasswordRequest {
                        user_id: victim.id,
                        current_password: None,
                        new_password: "mallory-owns-this-now".to_owned(),
                    },
                    &m,
                ))
                .await,
        ),
    );

    // --- ApiKeyService ---
    let keys = || app.api_keys();
    refused(
        "ApiKeyService/CreateApiKey",
        fail(
            keys()
                .create_api_key(with_auth(
                    pb::CreateApiKeyRequest {
                        user_id: Some(victim.id),
                        ..key_request("planted")
                    },
                    &m,
                ))
                .await,
        ),
    );
    refused(
        "ApiKeyService/ListApiKeys",
        fail(
            keys()
                .list_api_keys(with_auth(
                    pb::ListApiKeysRequest {
                        user_id: Some(victim.id),
                        ..Default::default()
                    },
                    &m,
                ))
                .await,
        ),
    );
    refused(
        "ApiKeyService/GetApiKey",
        fail(
            keys()
                .get_api_key(with_auth(
                    pb::GetApiKeyRequest {
                        key: key_ref(victim_key.id),
                    },
                    &m,
                ))
                .await,
        ),
    );
    refused(
        "ApiKeyService/GetApiKey",
        fail(
            keys()
                .get_api_key(with_auth(
                    pb::GetApiKeyRequest {
                        key: Some(pb::ApiKeyRef {
                            key: Some(pb::api_key_ref::Key::Uid(victim_key.uid.clone())),
                        }),
                    },
                    &m,
                ))
                .await,
        ),
    );
    refused(
        "ApiKeyService/RevokeApiKey",
        fail(
            keys()
                .revoke_api_key(with_auth(
                    pb::RevokeApiKeyRequest {
                        key: key_ref(victim_key.id),
                    },
                    &m,
                ))
                .await,
        ),
    );
    for target in [
        pb::roll_api_key_request::Target::Key(pb::ApiKeyRef {
            key: Some(pb::api_key_ref::Key::Id(victim_key.id)),
        }),
        pb::roll_api_key_request::Target::PrimaryForUserId(victim.id),
    ] {
        refused(
            "ApiKeyService/RollApiKey",
            fail(
                keys()
                    .roll_api_key(with_auth(
                        pb::RollApiKeyRequest {
                            target: Some(target),
                        },
                        &m,
                    ))
                    .await,
            ),
        );
    }

    // --- OrganizationService ---
    let orgs = || app.orgs();
    refused(
        "OrganizationService/GetOrganization",
        fail(
            orgs()
                .get_organization(with_auth(
                    pb::GetOrganizationRequest {
                        organization: Some(pb::OrganizationRef {
                            org: Some(pb::organization_ref::Org::Id(org.id.clone())),
                        }),
                    },
                    &m,
                ))
                .await,
        ),
    );
    refused(
        "OrganizationService/AddMember",
        fail(
            orgs()
                .add_member(with_auth(
                    pb::AddMemberRequest {
                        organization_id: org.id.clone(),
                        user_id: mallory.id,
                        role: pb::OrganizationRole::Owner as i32,
                    },
                    &m,
                ))
                .await,
        ),
    );
    refused(
        "OrganizationService/UpdateMemberRole",
        fail(
            orgs()
                .update_member_role(with_auth(
                    pb::UpdateMemberRoleRequest {
                        organization_id: org.id.clone(),
                        user_id: victim.id,
                        role: pb::OrganizationRole::Owner as i32,
                    },
                    &m,
                ))
                .await,
        ),
    );
    refused(
        "OrganizationService/RemoveMember",
        fail(
            orgs()
                .remove_member(with_auth(
                    pb::RemoveMemberRequest {
                        organization_id: org.id.clone(),
                        user_id: victim.id,
                    },
                    &m,
                ))
                .await,
        ),
    );
    refused(
        "OrganizationService/GetMember",
        fail(
            orgs()
                .get_member(with_auth(
                    pb::GetMemberRequest {
                        organization_id: org.id.clone(),
                        user_id: victim.id,
                    },
                    &m,
                ))
                .await,
        ),
    );
    refused(
        "OrganizationService/ListMembers",
        fail(
            orgs()
                .list_members(with_auth(
                    pb::ListMembersRequest {
                        organization_id: org.id.clone(),
                        ..Default::default()
                    },
                    &m,
                ))
                .await,
        ),
    );
    refused(
        "OrganizationService/ListUserOrganizations",
        fail(
            orgs()
                .list_user_organizations(with_auth(
                    pb::ListUserOrganizationsRequest {
                        user_id: Some(victim.id),
                    },
                    &m,
                ))
                .await,
        ),
    );

    // --- TeamService ---
    let teams = || app.teams();
    refused(
        "TeamService/CreateTeam",
        fail(
            teams()
                .create_team(with_auth(
                    pb::CreateTeamRequest {
                        name: "mallory's".to_owned(),
                    },
                    &m,
                ))
                .await,
        ),
    );
    refused(
        "TeamService/AddTeamMember",
        fail(
            teams()
                .add_team_member(with_auth(
                    pb::AddTeamMemberRequest {
                        team_id: team.id,
                        user_id: mallory.id,
                        role: pb::TeamRole::Leader as i32,
                    },
                    &m,
                ))
                .await,
        ),
    );
    refused(
        "TeamService/RemoveTeamMember",
        fail(
            teams()
                .remove_team_member(with_auth(
                    pb::RemoveTeamMemberRequest {
                        team_id: team.id,
                        user_id: victim.id,
                    },
                    &m,
                ))
                .await,
        ),
    );
    refused(
        "TeamService/ListUserTeamMemberships",
        fail(
            teams()
                .list_user_team_memberships(with_auth(
                    pb::ListUserTeamMembershipsRequest {
                        user_id: Some(victim.id),
                    },
                    &m,
                ))
                .await,
        ),
    );

    // --- AuthService ---
    // A second InitAdmin is refused to anyone, with or without a credential.
    let again = app
        .auth()
        .init_admin(with_auth(
            pb::InitAdminRequest {
                username: "mallory2".to_owned(),
                password: "mallory-admin-password".to_owned(),
                ..Default::default()
            },
            &m,
        ))
        .await
        .must_fail(Code::AlreadyExists);
    assert_eq!(reason(&again).as_deref(), Some("ADMINISTRATOR_SETUP_TAKEN"));
    covered.insert("identity.v1.AuthService/InitAdmin".to_owned());
    // WhoAmI and Authenticate describe the credential they get, nothing else.
    let me = app
        .auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &m))
        .await
        .must();
    let me = me.principal.unwrap_or_default();
    assert_eq!(me.user.map(|u| u.id), Some(mallory.id));
    assert!(!me.is_admin);

    let all = identity_testkit::all_rpcs();
    assert!(all.len() >= 29, "descriptor set lists {} RPCs", all.len());
    let missing: Vec<_> = all.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "RPCs without a security case: {missing:?}"
    );

    // Nothing of the victim changed.
    let after = app
        .users()
        .get_user(with_auth(get_user(victim.id), &admin))
        .await
        .must()
        .user
        .unwrap_or_default();
    assert_eq!(after.display_name, victim.display_name);
    assert_eq!(after.global_role, victim.global_role);
    app.login("victim", PASSWORD).await;
    let who = app
        .auth()
        .authenticate(pb::AuthenticateRequest {
            credential: victim_plaintext,
        })
        .await
        .must();
    assert_eq!(
        who.principal.and_then(|p| p.api_key).map(|k| k.id),
        Some(victim_key.id)
    );
    let keys_now = app.all_api_keys(&v).await;
    assert_eq!(keys_now.len(), 1, "no key planted, rolled or revoked");
    let member = app
        .orgs()
        .get_member(with_auth(
            pb::GetMemberRequest {
                organization_id: org.id.clone(),
                user_id: victim.id,
            },
            &admin,
        ))
        .await
        .must();
    assert_eq!(
        member.member.map(|x| x.role),
        Some(pb::OrganizationRole::Member as i32)
    );
    app.orgs()
        .get_member(with_auth(
            pb::GetMemberRequest {
                organization_id: org.id.clone(),
                user_id: mallory.id,
            },
            &admin,
        ))
        .await
        .must_fail(Code::NotFound);
    let mallory_now = app
        .users()
        .get_user(with_auth(get_user(mallory.id), &admin))
        .await
        .must()
        .user
        .unwrap_or_default();
    assert_eq!(mallory_now.global_role, pb::GlobalRole::Standard as i32);
}

async fn page_sizes_are_capped(app: TestApp) {
    let admin = app.init_admin().await;
    for i in 0..105 {
        app.create_user_with(
            &admin,
            pb::CreateUserRequest {
                username: format!("bulk{i:03}"),
                ..Default::default()
            },
        )
        .await;
    }
    for size in [101, 1000, i32::MAX] {
        let page = app
            .users()
            .list_users(with_auth(
                pb::ListUsersRequest {
                    page_size: size,
                    ..Default::default()
                },
                &admin,
            ))
            .await
            .must();
        assert_eq!(page.users.len(), 100, "page_size {size} is capped at 100");
        assert!(!page.next_page_token.is_empty());
    }
    app.users()
        .list_users(with_auth(
            pb::ListUsersRequest {
                page_size: -1,
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
}
