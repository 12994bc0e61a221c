//! ListMembers addressed by user handle: `user_handles` and `after_user_handle`.

use identity_api::pb;
use identity_testkit::{TestApp, with_auth};
use tonic::Code;

use crate::support::Must as _;

both!(members_by_handle);

async fn list(
    app: &TestApp,
    token: &str,
    request: pb::ListMembersRequest,
) -> Result<tonic::Response<pb::ListMembersResponse>, tonic::Status> {
    app.orgs().list_members(with_auth(request, token)).await
}

fn handles(r: &pb::ListMembersResponse) -> Vec<String> {
    r.members
        .iter()
        .filter_map(|m| m.user.as_ref().map(|u| u.handle.clone()))
        .collect()
}

async fn members_by_handle(app: TestApp) {
    let admin = app.init_admin().await;
    let org = app.default_organization(&admin).await;
    let mut users = Vec::new();
    for name in ["ann", "bob", "cid"] {
        users.push(
            app.create_user_with(
                &admin,
                pb::CreateUserRequest {
                    username: name.to_owned(),
                    email: Some(format!("{name}@example.com")),
                    ..Default::default()
                },
            )
            .await,
        );
    }
    let me = app
        .auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &admin))
        .await
        .must()
        .principal
        .and_then(|p| p.user)
        .unwrap_or_default();

    // After the administrator (user 1): the next two members, then the last one.
    let first = list(
        &app,
        &admin,
        pb::ListMembersRequest {
            organization_id: org.id.clone(),
            page_size: 2,
            after_user_handle: Some(me.handle.clone()),
            ..Default::default()
        },
    )
    .await
    .must();
    assert_eq!(
        handles(&first),
        vec![users[0].handle.clone(), users[1].handle.clone()]
    );
    assert!(!first.next_page_token.is_empty());
    let rest = list(
        &app,
        &admin,
        pb::ListMembersRequest {
            organization_id: org.id.clone(),
            page_size: 2,
            after_user_handle: Some(users[1].handle.clone()),
            ..Default::default()
        },
    )
    .await
    .must();
    assert_eq!(handles(&rest), vec![users[2].handle.clone()]);
    assert!(rest.next_page_token.is_empty());

    // Selection by handle; unknown handles match nothing; the e-mail filter still applies.
    let unknown = format!("user-{}", "0".repeat(32));
    let picked = list(
        &app,
        &admin,
        pb::ListMembersRequest {
            organization_id: org.id.clone(),
            user_handles: vec![
                users[2].handle.clone(),
                unknown.clone(),
                users[0].handle.clone(),
            ],
            ..Default::default()
        },
    )
    .await
    .must();
    assert_eq!(
        handles(&picked),
        vec![users[0].handle.clone(), users[2].handle.clone()],
        "ascending user id order"
    );
    let paged = list(
        &app,
        &admin,
        pb::ListMembersRequest {
            organization_id: org.id.clone(),
            user_handles: vec![users[2].handle.clone(), users[0].handle.clone()],
            page_size: 1,
            ..Default::default()
        },
    )
    .await
    .must();
    assert_eq!(handles(&paged), vec![users[0].handle.clone()]);
    assert!(!paged.next_page_token.is_empty());
    let filtered = list(
        &app,
        &admin,
        pb::ListMembersRequest {
            organization_id: org.id.clone(),
            user_handles: vec![users[0].handle.clone()],
            emails: vec!["BOB@example.com".to_owned()],
            ..Default::default()
        },
    )
    .await
    .must();
    assert!(filtered.members.is_empty());

    // Bad input.
    for request in [
        pb::ListMembersRequest {
            organization_id: org.id.clone(),
            after_user_handle: Some(unknown.clone()),
            ..Default::default()
        },
        pb::ListMembersRequest {
            organization_id: org.id.clone(),
            after_user_handle: Some("user_abc".to_owned()),
            ..Default::default()
        },
        pb::ListMembersRequest {
            organization_id: org.id.clone(),
            user_handles: vec!["nope".to_owned()],
            ..Default::default()
        },
        pb::ListMembersRequest {
            organization_id: org.id.clone(),
            after_user_handle: Some(me.handle.clone()),
            page_token: first.next_page_token.clone(),
            ..Default::default()
        },
    ] {
        list(&app, &admin, request)
            .await
            .must_fail(Code::InvalidArgument);
    }

    // Outsiders of an organization learn nothing, whatever the handles.
    app.create_user(&admin, "sam", "member-password-1234").await;
    app.create_user(&admin, "kim", "member-password-1234").await;
    let sam = app.login("sam", "member-password-1234").await;
    let kim = app.login("kim", "member-password-1234").await;
    let acme = app
        .orgs()
        .create_organization(with_auth(
            pb::CreateOrganizationRequest {
                name: "acme".to_owned(),
            },
            &sam,
        ))
        .await
        .must()
        .organization
        .unwrap_or_default();
    list(
        &app,
        &kim,
        pb::ListMembersRequest {
            organization_id: acme.id.clone(),
            user_handles: vec![unknown.clone()],
            after_user_handle: Some(unknown),
            ..Default::default()
        },
    )
    .await
    .must_fail_with_any(&[Code::NotFound, Code::PermissionDenied]);
}
