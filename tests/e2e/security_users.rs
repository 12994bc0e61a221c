//! Security regressions about users' profiles and names, over gRPC on both backends: who sees
//! other members' private fields, who may add a member, what an e-mail change does to its
//! verification, who grants Tyk's product access, control characters in looked-up strings,
//! e-mail probing, and look-alike usernames. Each test is named after the issue item it closes.

use identity_api::pb;
use identity_testkit::{TestApp, email_of, with_auth};
use tonic::Code;

use crate::support::{Must as _, assert_violation, get_user, reason, update_user};

const PASSWORD: &str = "a-long-password-1234";

both!(
    member_lists_hide_other_members_emails_from_non_admins,
    adding_a_member_needs_consent_or_admin,
    email_change_clears_verification,
    standard_user_cannot_grant_itself_sso_or_portal_access,
    nul_byte_in_login_name_is_invalid_argument,
    email_registration_cannot_be_probed,
    confusable_usernames_are_refused,
);

fn list_request(org: &str) -> pb::ListMembersRequest {
    pb::ListMembersRequest {
        organization_id: org.to_owned(),
        page_size: 100,
        ..Default::default()
    }
}

async fn members(app: &TestApp, token: &str, req: pb::ListMembersRequest) -> Vec<pb::User> {
    app.orgs()
        .list_members(with_auth(req, token))
        .await
        .must()
        .members
        .into_iter()
        .filter_map(|m| m.user)
        .collect()
}

fn find(users: &[pb::User], id: i64) -> pb::User {
    users
        .iter()
        .find(|u| u.id == id)
        .cloned()
        .unwrap_or_else(|| panic!("user {id} not listed: {users:?}"))
}

/// Nothing private of `u` shows: no e-mail, role or flags; the public profile stays.
#[track_caller]
fn assert_public_only(u: &pb::User, username: &str) {
    assert_eq!(u.username, username);
    assert!(!u.handle.is_empty() && !u.uid.is_empty());
    assert_eq!(u.email, None, "{u:?}");
    assert_eq!(u.global_role(), pb::GlobalRole::Unspecified, "{u:?}");
    assert!(!u.email_verified && !u.has_password, "{u:?}");
    assert_eq!(u.preferences, None, "{u:?}");
    assert_eq!(u.token_issued_at, None, "{u:?}");
}

async fn member_lists_hide_other_members_emails_from_non_admins(app: TestApp) {
    let admin = app.init_admin().await;
    let org = app.default_organization(&admin).await.id;
    let alice = app.create_user(&admin, "alice", PASSWORD).await;
    let bob = app.create_user(&admin, "bob", PASSWORD).await;
    let carol = app.create_user(&admin, "carol", PASSWORD).await;
    let a = app.login("alice", PASSWORD).await;

    // A plain member of the default organization: others' profiles are public only.
    let seen = members(&app, &a, list_request(&org)).await;
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_public_only(&find(&seen, bob.id), "bob");
    assert_public_only(&find(&seen, 1), "admin");
    let me = find(&seen, alice.id);
    assert_eq!(me.email, Some(email_of("alice")));
    assert_eq!(me.global_role(), pb::GlobalRole::Standard);
    // The same through the handle filter and GetMember.
    let by_handle = members(
        &app,
        &a,
        pb::ListMembersRequest {
            user_handles: vec![bob.handle.clone()],
            ..list_request(&org)
        },
    )
    .await;
    assert_public_only(&find(&by_handle, bob.id), "bob");
    let got = app
        .orgs()
        .get_member(with_auth(
            pb::GetMemberRequest {
                organization_id: org.clone(),
                user_id: 1,
            },
            &a,
        ))
        .await
        .must()
        .member
        .and_then(|m| m.user)
        .unwrap_or_default();
    assert_public_only(&got, "admin");

    // Administrators and the organization's admins see everything.
    let seen = members(&app, &admin, list_request(&org)).await;
    assert_eq!(find(&seen, bob.id).email, Some(email_of("bob")));
    assert_eq!(find(&seen, 1).global_role(), pb::GlobalRole::Administrator);
    app.orgs()
        .update_member_role(with_auth(
            pb::UpdateMemberRoleRequest {
                organization_id: org.clone(),
                user_id: carol.id,
                role: pb::OrganizationRole::Admin.into(),
            },
            &admin,
        ))
        .await
        .must();
    let c = app.login("carol", PASSWORD).await;
    let seen = members(&app, &c, list_request(&org)).await;
    assert_eq!(find(&seen, bob.id).email, Some(email_of("bob")));
    assert_eq!(find(&seen, 1).global_role(), pb::GlobalRole::Administrator);
}

async fn adding_a_member_needs_consent_or_admin(app: TestApp) {
    let admin = app.init_admin().await;
    app.create_user(&admin, "mallory", PASSWORD).await;
    let victim = app.create_user(&admin, "victim", PASSWORD).await;
    let m = app.login("mallory", PASSWORD).await;
    let org = app
        .orgs()
        .create_organization(with_auth(
            pb::CreateOrganizationRequest {
                name: "mallory's".to_owned(),
            },
            &m,
        ))
        .await
        .must()
        .organization
        .unwrap_or_default()
        .id;
    let add = |token: String, user_id: i64| {
        let mut orgs = app.orgs();
        let org = org.clone();
        async move {
            orgs.add_member(with_auth(
                pb::AddMemberRequest {
                    organization_id: org,
                    user_id,
                    role: pb::OrganizationRole::Member.into(),
                },
                &token,
            ))
            .await
        }
    };
    // The owner of an organization cannot pull someone in (nor learn whether an id exists).
    for id in [victim.id, 1, 999_999] {
        let s = add(m.clone(), id).await.must_fail(Code::PermissionDenied);
        assert_eq!(reason(&s).as_deref(), Some("ADMIN_ONLY"), "{id}: {s:?}");
    }
    let victims_orgs = app
        .orgs()
        .list_user_organizations(with_auth(
            pb::ListUserOrganizationsRequest {
                user_id: Some(victim.id),
            },
            &admin,
        ))
        .await
        .must()
        .organizations;
    assert!(
        victims_orgs
            .iter()
            .all(|o| o.organization.as_ref().is_none_or(|x| x.id != org)),
        "{victims_orgs:?}"
    );
    // An administrator may.
    let added = add(admin.clone(), victim.id)
        .await
        .must()
        .member
        .and_then(|x| x.user)
        .unwrap_or_default();
    assert_eq!(
        (added.id, added.email),
        (victim.id, Some(email_of("victim")))
    );
}

async fn email_change_clears_verification(app: TestApp) {
    let admin = app.init_admin().await;
    let bob = app
        .create_user_with(
            &admin,
            pb::CreateUserRequest {
                username: "bob".to_owned(),
                email: Some(email_of("bob")),
                password: Some(PASSWORD.to_owned()),
                email_verified: true,
                ..Default::default()
            },
        )
        .await;
    assert!(bob.email_verified);
    let set_email = |token: String, id: i64, email: &str, paths: &'static [&'static str]| {
        let mut users = app.users();
        let change = pb::UserUpdate {
            email: Some(email.to_owned()),
            email_verified: true,
            ..Default::default()
        };
        async move {
            users
                .update_user(with_auth(update_user(id, change, paths), &token))
                .await
        }
    };
    // The user cannot change its own address (and so cannot keep a verification for it).
    let b = app.login("bob", PASSWORD).await;
    set_email(b.clone(), bob.id, "bob@elsewhere.example", &["email"])
        .await
        .must_fail(Code::PermissionDenied);
    // A case-only change is no change.
    let same = set_email(admin.clone(), bob.id, "BOB@example.com", &["email"])
        .await
        .must()
        .user
        .unwrap_or_default();
    assert!(same.email_verified, "{same:?}");
    // A new address is unverified...
    let moved = set_email(admin.clone(), bob.id, "bob@new.example", &["email"])
        .await
        .must()
        .user
        .unwrap_or_default();
    assert_eq!(moved.email.as_deref(), Some("bob@new.example"));
    assert!(!moved.email_verified, "{moved:?}");
    // ...unless an administrator vouches for it in the same update.
    let vouched = set_email(
        admin.clone(),
        bob.id,
        "bob@vouched.example",
        &["email", "email_verified"],
    )
    .await
    .must()
    .user
    .unwrap_or_default();
    assert!(vouched.email_verified, "{vouched:?}");
    // An administrator changing its own address loses its verification too.
    let me = set_email(admin.clone(), 1, "root@new.example", &["email"])
        .await
        .must()
        .user
        .unwrap_or_default();
    assert!(!me.email_verified, "{me:?}");
}

async fn standard_user_cannot_grant_itself_sso_or_portal_access(app: TestApp) {
    let admin = app.init_admin().await;
    let bob = app.create_user(&admin, "bob", PASSWORD).await;
    let b = app.login("bob", PASSWORD).await;
    let set = |token: String, prefs: pb::Preferences, paths: &[&'static str]| {
        let mut users = app.users();
        let change = pb::UserUpdate {
            preferences: Some(prefs),
            ..Default::default()
        };
        let id = bob.id;
        let paths = paths.to_vec();
        async move {
            users
                .update_user(with_auth(update_user(id, change, &paths), &token))
                .await
        }
    };
    let grants = [
        pb::Preferences {
            show_portal: true,
            ..Default::default()
        },
        pb::Preferences {
            access_to_sso_config: true,
            ..Default::default()
        },
        pb::Preferences {
            show_chat: true,
            ..Default::default()
        },
        pb::Preferences {
            notifications_enabled: true,
            ..Default::default()
        },
    ];
    for (prefs, path) in grants.into_iter().zip([
        "preferences.show_portal",
        "preferences.access_to_sso_config",
        "preferences.show_chat",
        "preferences.notifications_enabled",
    ]) {
        let s = set(b.clone(), prefs.clone(), &["preferences"])
            .await
            .must_fail(Code::PermissionDenied);
        assert_eq!(reason(&s).as_deref(), Some("ADMIN_ONLY"));
        set(b.clone(), prefs, &[path])
            .await
            .must_fail(Code::PermissionDenied);
    }
    let now = app
        .users()
        .get_user(with_auth(get_user(bob.id), &admin))
        .await
        .must()
        .user
        .and_then(|u| u.preferences)
        .unwrap_or_default();
    assert_eq!(now, pb::Preferences::default());
    // The user's own settings stay the user's.
    let own = pb::Preferences {
        theme_color: "dark".to_owned(),
        use_cache: true,
        ..Default::default()
    };
    set(b.clone(), own.clone(), &["preferences"]).await.must();
    set(b.clone(), own.clone(), &["preferences.theme_color"])
        .await
        .must();
    // An administrator grants portal access; the user keeps it when rewriting its settings, and
    // cannot take it away from itself either.
    let portal = pb::Preferences {
        show_portal: true,
        ..own.clone()
    };
    set(admin.clone(), portal.clone(), &["preferences.show_portal"])
        .await
        .must();
    set(b.clone(), portal, &["preferences"]).await.must();
    set(b.clone(), own, &["preferences"])
        .await
        .must_fail(Code::PermissionDenied);
}

async fn nul_byte_in_login_name_is_invalid_argument(app: TestApp) {
    let admin = app.init_admin().await;
    let org = app.default_organization(&admin).await.id;
    for identifier in ["ad\0min", "\0", "admin\u{7}", "a\0@example.com"] {
        let s = app
            .auth()
            .login(pb::LoginRequest {
                identifier: identifier.to_owned(),
                password: PASSWORD.to_owned(),
            })
            .await
            .must_fail(Code::InvalidArgument);
        assert_violation(&s, "identifier");
    }
    let s = app
        .users()
        .get_user(with_auth(
            pb::GetUserRequest {
                lookup: Some(pb::get_user_request::Lookup::Username("ad\0min".to_owned())),
            },
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    assert_violation(&s, "username");
    for (req, field) in [
        (
            pb::ListUsersRequest {
                emails: vec!["a\0@example.com".to_owned()],
                ..Default::default()
            },
            "emails[0]",
        ),
        (
            pb::ListUsersRequest {
                username: Some("ad\0min".to_owned()),
                ..Default::default()
            },
            "username",
        ),
        (
            pb::ListUsersRequest {
                search: Some("\0".to_owned()),
                ..Default::default()
            },
            "search",
        ),
    ] {
        let s = app
            .users()
            .list_users(with_auth(req, &admin))
            .await
            .must_fail(Code::InvalidArgument);
        assert_violation(&s, field);
    }
    let s = app
        .orgs()
        .list_members(with_auth(
            pb::ListMembersRequest {
                emails: vec!["x\0@example.com".to_owned()],
                ..list_request(&org)
            },
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
    assert_violation(&s, "emails[0]");
    // The service still answers.
    app.login(
        identity_testkit::ADMIN_USERNAME,
        identity_testkit::ADMIN_PASSWORD,
    )
    .await;
}

async fn email_registration_cannot_be_probed(app: TestApp) {
    let admin = app.init_admin().await;
    let org = app.default_organization(&admin).await.id;
    let alice = app.create_user(&admin, "alice", PASSWORD).await;
    let bob = app.create_user(&admin, "bob", PASSWORD).await;
    let b = app.login("bob", PASSWORD).await;
    let registered = email_of("alice");
    let unknown = "nobody@example.com".to_owned();

    // Member lists: a registered and an unknown address answer alike; only one's own matches.
    let by_email = |emails: Vec<String>, after: Option<String>| {
        let req = pb::ListMembersRequest {
            emails,
            after_user_handle: after,
            ..list_request(&org)
        };
        let b = b.clone();
        let app = &app;
        async move { members(app, &b, req).await }
    };
    assert!(by_email(vec![registered.clone()], None).await.is_empty());
    assert!(by_email(vec![unknown.clone()], None).await.is_empty());
    let admin_handle = app
        .users()
        .get_user(with_auth(get_user(1), &admin))
        .await
        .must()
        .user
        .unwrap_or_default()
        .handle;
    for email in [&registered, &unknown] {
        let after = Some(admin_handle.clone());
        assert!(by_email(vec![email.clone()], after).await.is_empty());
    }
    let mine = by_email(vec![registered.clone(), email_of("bob")], None).await;
    assert_eq!(mine.iter().map(|u| u.id).collect::<Vec<_>>(), vec![bob.id]);
    // The administrator's view still filters by any address.
    let found = members(
        &app,
        &admin,
        pb::ListMembersRequest {
            emails: vec![registered.clone()],
            ..list_request(&org)
        },
    )
    .await;
    assert_eq!(
        found.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![alice.id]
    );

    // Changing one's address to a taken or a free one: the same refusal.
    for email in [registered.clone(), unknown.clone()] {
        let s = app
            .users()
            .update_user(with_auth(
                update_user(
                    bob.id,
                    pb::UserUpdate {
                        email: Some(email.clone()),
                        ..Default::default()
                    },
                    &["email"],
                ),
                &b,
            ))
            .await
            .must_fail(Code::PermissionDenied);
        assert_eq!(reason(&s).as_deref(), Some("ADMIN_ONLY"), "{email}");
    }
    // The user list is for administrators (and team leaders) only.
    for email in [registered, unknown] {
        app.users()
            .list_users(with_auth(
                pb::ListUsersRequest {
                    emails: vec![email],
                    ..Default::default()
                },
                &b,
            ))
            .await
            .must_fail(Code::PermissionDenied);
    }
}

async fn confusable_usernames_are_refused(app: TestApp) {
    let admin = app.init_admin().await;
    app.create_user(&admin, "paypal", PASSWORD).await;
    let create = |username: &str| {
        let mut users = app.users();
        let req = pb::CreateUserRequest {
            username: username.to_owned(),
            password: Some(PASSWORD.to_owned()),
            ..Default::default()
        };
        let admin = admin.clone();
        async move { users.create_user(with_auth(req, &admin)).await }
    };
    // Look-alikes of a taken name are taken: Cyrillic а (either case), "rn" for "m".
    for name in [
        "p\u{0430}ypal",
        "P\u{0410}YPAL",
        "payp\u{0430}l",
        "\u{0430}dmin",
    ] {
        let s = create(name).await.must_fail(Code::AlreadyExists);
        assert_eq!(reason(&s).as_deref(), Some("USER_USERNAME_TAKEN"), "{name}");
    }
    create("modern").await.must();
    create("rnodern").await.must_fail(Code::AlreadyExists);
    // Invisible and text-direction characters are refused outright.
    for name in [
        "pay\u{200B}pal2",
        "zero\u{200D}width",
        "\u{202E}lapyap",
        "rtl\u{200F}mark",
        "iso\u{2066}late",
        "bom\u{FEFF}",
        "soft\u{00AD}hyphen",
    ] {
        let s = create(name).await.must_fail(Code::InvalidArgument);
        assert_violation(&s, "username");
    }
    // A rename to a look-alike is refused as well.
    let other = create("someone").await.must().user.unwrap_or_default();
    let s = app
        .users()
        .update_user(with_auth(
            update_user(
                other.id,
                pb::UserUpdate {
                    username: "p\u{0430}yp\u{0430}l".to_owned(),
                    ..Default::default()
                },
                &["username"],
            ),
            &admin,
        ))
        .await
        .must_fail(Code::AlreadyExists);
    assert_eq!(reason(&s).as_deref(), Some("USER_USERNAME_TAKEN"));
    // Distinct names still work, non-Latin ones included.
    create("pavel").await.must();
    create("\u{043f}\u{0430}\u{0432}\u{0435}\u{043b}")
        .await
        .must();
}
