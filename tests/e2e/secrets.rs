//! Secrets never leave the server; malformed input is refused field by field, never with a panic.

use identity_api::pb;
use identity_testkit::{ADMIN_PASSWORD, TestApp, with_auth};
use tonic::Code;

use crate::support::{
    Must as _, SecretScan, assert_violation, get_user, key_ref, key_request, update_user,
    violations,
};

const PASSWORD: &str = "secret-password-1234";

both!(
    responses_never_carry_hashes_digests_or_stale_plaintexts,
    malformed_input_is_invalid_argument,
    bad_ids_and_page_tokens_are_invalid_argument
);

async fn responses_never_carry_hashes_digests_or_stale_plaintexts(app: TestApp) {
    let mut scan = SecretScan::new();
    scan.forbid("the admin password", ADMIN_PASSWORD);
    scan.forbid("the user password", PASSWORD);

    let init = app
        .auth()
        .init_admin(pb::InitAdminRequest {
            username: "admin".to_owned(),
            password: ADMIN_PASSWORD.to_owned(),
            email: Some("admin@example.com".to_owned()),
            ..Default::default()
        })
        .await
        .must();
    scan.check("InitAdmin", &init);
    let login = app
        .auth()
        .login(pb::LoginRequest {
            identifier: "admin".to_owned(),
            password: ADMIN_PASSWORD.to_owned(),
        })
        .await
        .must();
    scan.check("Login", &login);
    let admin = login.session_token;

    let created = app
        .users()
        .create_user(with_auth(
            pb::CreateUserRequest {
                username: "dana".to_owned(),
                email: Some("dana@example.com".to_owned()),
                password: Some(PASSWORD.to_owned()),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must();
    scan.check("CreateUser", &created);
    let dana = created.user.unwrap_or_default();
    assert!(
        dana.has_password,
        "has_password says a password is set, without showing it"
    );
    let login = app
        .auth()
        .login(pb::LoginRequest {
            identifier: "dana".to_owned(),
            password: PASSWORD.to_owned(),
        })
        .await
        .must();
    scan.check("Login", &login);
    let dana_token = login.session_token;

    // The plaintext is in the create response only.
    let create = app
        .api_keys()
        .create_api_key(with_auth(
            pb::CreateApiKeyRequest {
                password: Some(PASSWORD.to_owned()),
                ..key_request("scan")
            },
            &dana_token,
        ))
        .await
        .must();
    scan.forbid_key_digest(&create.plaintext);
    scan.check("CreateApiKey", &create);
    let plaintext = create.plaintext.clone();
    assert!(!plaintext.is_empty());
    let key = create.api_key.unwrap_or_default();
    scan.forbid("the key plaintext", &plaintext);

    let got = app
        .api_keys()
        .get_api_key(with_auth(
            pb::GetApiKeyRequest {
                key: key_ref(key.id),
            },
            &dana_token,
        ))
        .await
        .must();
    scan.check("GetApiKey", &got);
    let listed = app
        .api_keys()
        .list_api_keys(with_auth(pb::ListApiKeysRequest::default(), &dana_token))
        .await
        .must();
    assert_eq!(listed.api_keys.len(), 1);
    scan.check("ListApiKeys", &listed);
    let admin_listed = app
        .api_keys()
        .list_api_keys(with_auth(
            pb::ListApiKeysRequest {
                user_id: Some(dana.id),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must();
    scan.check("ListApiKeys (admin)", &admin_listed);
    let authenticated = app
        .auth()
        .authenticate(pb::AuthenticateRequest {
            credential: plaintext.clone(),
        })
        .await
        .must();
    scan.check("Authenticate", &authenticated);
    let who = app
        .auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &plaintext))
        .await
        .must();
    scan.check("WhoAmI", &who);

    for (what, response) in [
        (
            "GetUser",
            app.users()
                .get_user(with_auth(get_user(dana.id), &admin))
                .await
                .must(),
        ),
        (
            "GetUser self",
            app.users()
                .get_user(with_auth(get_user(dana.id), &dana_token))
                .await
                .must(),
        ),
    ] {
        scan.check(what, &response);
    }
    let users = app
        .users()
        .list_users(with_auth(pb::ListUsersRequest::default(), &admin))
        .await
        .must();
    assert_eq!(users.users.len(), 2);
    scan.check("ListUsers", &users);
    let updated = app
        .users()
        .update_user(with_auth(
            update_user(
                dana.id,
                pb::UserUpdate {
                    display_name: "Dana".to_owned(),
                    ..Default::default()
                },
                &["display_name"],
            ),
            &dana_token,
        ))
        .await
        .must();
    scan.check("UpdateUser", &updated);
    let setup = app
        .auth()
        .get_setup_state(pb::GetSetupStateRequest {})
        .await
        .must();
    scan.check("GetSetupState", &setup);
    let orgs = app
        .orgs()
        .list_user_organizations(with_auth(
            pb::ListUserOrganizationsRequest::default(),
            &dana_token,
        ))
        .await
        .must();
    scan.check("ListUserOrganizations", &orgs);
    let default_org = setup.default_organization.unwrap_or_default();
    let members = app
        .orgs()
        .list_members(with_auth(
            pb::ListMembersRequest {
                organization_id: default_org.id.clone(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must();
    assert_eq!(members.members.len(), 2);
    scan.check("ListMembers", &members);
    let member = app
        .orgs()
        .get_member(with_auth(
            pb::GetMemberRequest {
                organization_id: default_org.id,
                user_id: dana.id,
            },
            &admin,
        ))
        .await
        .must();
    scan.check("GetMember", &member);

    // Error statuses carry no secret either.
    let wrong = app
        .api_keys()
        .create_api_key(with_auth(
            pb::CreateApiKeyRequest {
                password: Some("wrong-password-99".to_owned()),
                ..key_request("x")
            },
            &dana_token,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    scan.check_status("CreateApiKey with a wrong password", &wrong);
    let refused = app
        .auth()
        .login(pb::LoginRequest {
            identifier: "dana".to_owned(),
            password: "wrong-password-99".to_owned(),
        })
        .await
        .must_fail(Code::Unauthenticated);
    scan.check_status("Login with a wrong password", &refused);

    // Revoke shows metadata only; roll shows only the new plaintext.
    let revoked = app
        .api_keys()
        .revoke_api_key(with_auth(
            pb::RevokeApiKeyRequest {
                key: key_ref(key.id),
            },
            &dana_token,
        ))
        .await
        .must();
    scan.check("RevokeApiKey", &revoked);
    let (second, second_plaintext) = app.create_api_key(&dana_token, key_request("second")).await;
    scan.forbid_key_digest(&second_plaintext);
    let rolled = app
        .api_keys()
        .roll_api_key(with_auth(
            pb::RollApiKeyRequest {
                target: Some(pb::roll_api_key_request::Target::Key(pb::ApiKeyRef {
                    key: Some(pb::api_key_ref::Key::Id(second.id)),
                })),
            },
            &dana_token,
        ))
        .await
        .must();
    scan.forbid_key_digest(&rolled.plaintext);
    scan.forbid("the replaced key's plaintext", &second_plaintext);
    scan.check("RollApiKey", &rolled);
    assert!(rolled.plaintext.starts_with("idk_"));
    scan.forbid("the rolled key plaintext", &rolled.plaintext);
    let all = app
        .api_keys()
        .list_api_keys(with_auth(
            pb::ListApiKeysRequest {
                include_revoked: true,
                ..Default::default()
            },
            &dana_token,
        ))
        .await
        .must();
    assert_eq!(all.api_keys.len(), 3);
    scan.check("ListApiKeys (with revoked)", &all);
    assert!(scan.checked() >= 20, "the scan covered the flow");
}

async fn malformed_input_is_invalid_argument(app: TestApp) {
    let admin = app.init_admin().await;

    // Every bad field is reported at once.
    let status = app
        .users()
        .create_user(with_auth(
            pb::CreateUserRequest {
                username: "a b".to_owned(),
                email: Some("nope".to_owned()),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    assert_violation(&status, "username");
    assert_violation(&status, "email");
    let status = app
        .users()
        .create_user(with_auth(
            pb::CreateUserRequest {
                username: "shorty".to_owned(),
                password: Some("short".to_owned()),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    assert_eq!(
        violations(&status),
        vec!["password".to_owned()],
        "only the password is wrong"
    );

    // Hostile strings never crash the server.
    for username in [
        "",
        " ",
        "tab\there",
        "nul\0byte",
        "new\nline",
        &"x".repeat(10_000),
        "🦀\u{202e}",
    ] {
        let result = app
            .users()
            .create_user(with_auth(
                pb::CreateUserRequest {
                    username: username.to_owned(),
                    ..Default::default()
                },
                &admin,
            ))
            .await;
        match result {
            Ok(r) => assert!(
                !username.trim().is_empty() && !username.contains(char::is_whitespace),
                "accepted {username:?}: {r:?}"
            ),
            Err(s) => assert_violation(&s, "username"),
        }
    }
    let status = app
        .users()
        .create_user(with_auth(
            pb::CreateUserRequest {
                username: "ok-name".to_owned(),
                display_name: "d".repeat(300),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    assert_violation(&status, "display_name");

    // Duplicates are ALREADY_EXISTS, case-insensitively.
    app.create_user(&admin, "erin", PASSWORD).await;
    app.users()
        .create_user(with_auth(
            pb::CreateUserRequest {
                username: "ERIN".to_owned(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must_fail(Code::AlreadyExists);
    app.users()
        .create_user(with_auth(
            pb::CreateUserRequest {
                username: "erin2".to_owned(),
                email: Some("Erin@Example.com".to_owned()),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must_fail(Code::AlreadyExists);

    // API keys: name, scopes, id lists, expiry.
    let status = app
        .api_keys()
        .create_api_key(with_auth(
            pb::CreateApiKeyRequest {
                name: String::new(),
                scopes: vec![String::new()],
                dataset_ids: vec!["not-a-uuid".to_owned()],
                expires_at: Some(crate::support::timestamp_in(-3600)),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    for field in ["name", "scopes[0]", "dataset_ids[0]", "expires_at"] {
        assert_violation(&status, field);
    }

    // UpdateUser: empty and unknown masks.
    let status = app
        .users()
        .update_user(with_auth(
            pb::UpdateUserRequest {
                user_id: 1,
                user: Some(pb::UserUpdate::default()),
                update_mask: None,
            },
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    assert_violation(&status, "update_mask");
    let status = app
        .users()
        .update_user(with_auth(
            update_user(1, pb::UserUpdate::default(), &["password_hash"]),
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    assert_violation(&status, "update_mask");
    let status = app
        .users()
        .update_user(with_auth(
            update_user(
                1,
                pb::UserUpdate {
                    email: Some("not an email".to_owned()),
                    ..Default::default()
                },
                &["email"],
            ),
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    assert_violation(&status, "user.email");

    // Login with empty fields, organization with an empty name, a lookup with no key.
    let status = app
        .auth()
        .login(pb::LoginRequest {
            identifier: String::new(),
            password: String::new(),
        })
        .await
        .must_fail_with_any(&[Code::InvalidArgument, Code::Unauthenticated]);
    if status.code() == Code::InvalidArgument {
        assert_violation(&status, "identifier");
    }
    let status = app
        .orgs()
        .create_organization(with_auth(
            pb::CreateOrganizationRequest {
                name: String::new(),
            },
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    assert_violation(&status, "name");
    app.users()
        .get_user(with_auth(pb::GetUserRequest { lookup: None }, &admin))
        .await
        .must_fail(Code::InvalidArgument);
    app.api_keys()
        .get_api_key(with_auth(pb::GetApiKeyRequest { key: None }, &admin))
        .await
        .must_fail(Code::InvalidArgument);

    // The server is still healthy after all that.
    app.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &admin))
        .await
        .must();
}

async fn bad_ids_and_page_tokens_are_invalid_argument(app: TestApp) {
    let admin = app.init_admin().await;

    for token in ["garbage!", "djI6MQ", "%%%", "\u{1F980}"] {
        let status = app
            .users()
            .list_users(with_auth(
                pb::ListUsersRequest {
                    page_token: token.to_owned(),
                    ..Default::default()
                },
                &admin,
            ))
            .await
            .must_fail(Code::InvalidArgument);
        assert_violation(&status, "page_token");
    }
    let status = app
        .users()
        .list_users(with_auth(
            pb::ListUsersRequest {
                page_size: -1,
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    assert_violation(&status, "page_size");
    app.api_keys()
        .list_api_keys(with_auth(
            pb::ListApiKeysRequest {
                page_token: "garbage!".to_owned(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    app.teams()
        .list_teams(with_auth(
            pb::ListTeamsRequest {
                page_token: "garbage!".to_owned(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    let org = app
        .auth()
        .get_setup_state(pb::GetSetupStateRequest {})
        .await
        .must()
        .default_organization
        .unwrap_or_default();
    app.orgs()
        .list_members(with_auth(
            pb::ListMembersRequest {
                organization_id: org.id,
                page_token: "garbage!".to_owned(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);

    // Bad UUIDs and handles.
    let status = app
        .users()
        .get_user(with_auth(
            pb::GetUserRequest {
                lookup: Some(pb::get_user_request::Lookup::Uid("not-a-uuid".to_owned())),
            },
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    assert_violation(&status, "uid");
    let status = app
        .users()
        .get_user(with_auth(
            pb::GetUserRequest {
                lookup: Some(pb::get_user_request::Lookup::Handle("user-xyz".to_owned())),
            },
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    assert_violation(&status, "handle");
    app.api_keys()
        .get_api_key(with_auth(
            pb::GetApiKeyRequest {
                key: Some(pb::ApiKeyRef {
                    key: Some(pb::api_key_ref::Key::Uid("nope".to_owned())),
                }),
            },
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    app.orgs()
        .get_organization(with_auth(
            pb::GetOrganizationRequest {
                organization: Some(pb::OrganizationRef {
                    org: Some(pb::organization_ref::Org::Id("nope".to_owned())),
                }),
            },
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    for call in [
        app.orgs()
            .list_members(with_auth(
                pb::ListMembersRequest {
                    organization_id: "nope".to_owned(),
                    ..Default::default()
                },
                &admin,
            ))
            .await
            .map(|_| ()),
        app.orgs()
            .add_member(with_auth(
                pb::AddMemberRequest {
                    organization_id: "nope".to_owned(),
                    user_id: 1,
                    role: 0,
                },
                &admin,
            ))
            .await
            .map(|_| ()),
        app.orgs()
            .get_member(with_auth(
                pb::GetMemberRequest {
                    organization_id: "nope".to_owned(),
                    user_id: 1,
                },
                &admin,
            ))
            .await
            .map(|_| ()),
    ] {
        let status = call
            .err()
            .unwrap_or_else(|| tonic::Status::ok("unexpected success"));
        assert_violation(&status, "organization_id");
    }
    let status = app
        .api_keys()
        .create_api_key(with_auth(
            pb::CreateApiKeyRequest {
                organization_id: Some("nope".to_owned()),
                ..key_request("k")
            },
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    assert_violation(&status, "organization_id");
    let status = app
        .users()
        .create_user(with_auth(
            pb::CreateUserRequest {
                username: "frank".to_owned(),
                organization_id: Some("nope".to_owned()),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    assert_violation(&status, "organization_id");
    // Out-of-range enum numbers are refused, not stored.
    app.users()
        .create_user(with_auth(
            pb::CreateUserRequest {
                username: "gina".to_owned(),
                global_role: 42,
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    app.users()
        .get_user(with_auth(
            pb::GetUserRequest {
                lookup: Some(pb::get_user_request::Lookup::Username("gina".to_owned())),
            },
            &admin,
        ))
        .await
        .must_fail(Code::NotFound);
}
