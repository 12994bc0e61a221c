//! Organizations, members and teams.

use identity_api::pb;
use identity_testkit::{TestApp, with_auth};
use tonic::Code;

use crate::support::Must as _;

const PASSWORD: &str = "member-password-1234";

both!(
    default_organization_and_membership,
    organization_roles,
    teams
);

fn id_ref(id: &str) -> Option<pb::OrganizationRef> {
    Some(pb::OrganizationRef {
        org: Some(pb::organization_ref::Org::Id(id.to_owned())),
    })
}

async fn role_of(app: &TestApp, token: &str, org: &str, user: i64) -> pb::OrganizationRole {
    app.orgs()
        .get_member(with_auth(
            pb::GetMemberRequest {
                organization_id: org.to_owned(),
                user_id: user,
            },
            token,
        ))
        .await
        .must()
        .member
        .unwrap_or_default()
        .role()
}

async fn default_organization_and_membership(app: TestApp) {
    let admin = app.init_admin().await;
    let org = app.default_organization(&admin).await;
    assert!(org.is_default);
    assert_eq!(
        org.name, "Default",
        "the default name when InitAdmin gives none"
    );
    assert_eq!(org.handle, format!("org-{}", org.id.replace('-', "")));
    for by in [
        id_ref(&org.id),
        Some(pb::OrganizationRef {
            org: Some(pb::organization_ref::Org::Handle(org.handle.clone())),
        }),
    ] {
        let same = app
            .orgs()
            .get_organization(with_auth(
                pb::GetOrganizationRequest { organization: by },
                &admin,
            ))
            .await
            .must();
        assert_eq!(same.organization.map(|o| o.id), Some(org.id.clone()));
    }
    assert_eq!(
        role_of(&app, &admin, &org.id, 1).await,
        pb::OrganizationRole::Owner,
        "the administrator owns the default organization"
    );

    // New users join it as members.
    let kim = app.create_user(&admin, "kim", PASSWORD).await;
    assert_eq!(
        role_of(&app, &admin, &org.id, kim.id).await,
        pb::OrganizationRole::Member
    );
    let kim_token = app.login("kim", PASSWORD).await;
    let mine = app
        .orgs()
        .list_user_organizations(with_auth(
            pb::ListUserOrganizationsRequest::default(),
            &kim_token,
        ))
        .await
        .must();
    assert_eq!(mine.organizations.len(), 1);
    assert_eq!(
        mine.organizations[0]
            .organization
            .as_ref()
            .map(|o| o.id.clone()),
        Some(org.id.clone())
    );
    assert_eq!(mine.organizations[0].role(), pb::OrganizationRole::Member);
    // Members may read their organization; the principal lists the membership.
    let seen = app.default_organization(&kim_token).await;
    assert_eq!(seen.id, org.id);
    let principal = app
        .auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, &kim_token))
        .await
        .must()
        .principal
        .unwrap_or_default();
    assert!(
        principal
            .memberships
            .iter()
            .any(|m| m.organization_id == org.id && m.role() == pb::OrganizationRole::Member),
        "{:?}",
        principal.memberships
    );
    // Others' organizations: self or administrator only.
    app.orgs()
        .list_user_organizations(with_auth(
            pb::ListUserOrganizationsRequest { user_id: Some(1) },
            &kim_token,
        ))
        .await
        .must_fail_with_any(&[Code::PermissionDenied, Code::NotFound]);
    let hers = app
        .orgs()
        .list_user_organizations(with_auth(
            pb::ListUserOrganizationsRequest {
                user_id: Some(kim.id),
            },
            &admin,
        ))
        .await
        .must();
    assert_eq!(hers.organizations.len(), 1);

    // A user placed elsewhere does not join the default organization.
    let other = app
        .orgs()
        .create_organization(with_auth(
            pb::CreateOrganizationRequest {
                name: "Elsewhere".to_owned(),
            },
            &admin,
        ))
        .await
        .must()
        .organization
        .unwrap_or_default();
    let placed = app
        .create_user_with(
            &admin,
            pb::CreateUserRequest {
                username: "placed".to_owned(),
                organization_id: Some(other.id.clone()),
                organization_role: pb::OrganizationRole::Admin.into(),
                ..Default::default()
            },
        )
        .await;
    let orgs = app
        .orgs()
        .list_user_organizations(with_auth(
            pb::ListUserOrganizationsRequest {
                user_id: Some(placed.id),
            },
            &admin,
        ))
        .await
        .must();
    let ids: Vec<(String, pb::OrganizationRole)> = orgs
        .organizations
        .iter()
        .map(|o| {
            (
                o.organization
                    .as_ref()
                    .map(|x| x.id.clone())
                    .unwrap_or_default(),
                o.role(),
            )
        })
        .collect();
    assert_eq!(ids, vec![(other.id.clone(), pb::OrganizationRole::Admin)]);
    app.orgs()
        .get_member(with_auth(
            pb::GetMemberRequest {
                organization_id: org.id.clone(),
                user_id: placed.id,
            },
            &admin,
        ))
        .await
        .must_fail(Code::NotFound);
}

async fn organization_roles(app: TestApp) {
    let admin = app.init_admin().await;
    let mut users = Vec::new();
    for name in ["olga", "pete", "quin", "rita", "sam"] {
        users.push(app.create_user(&admin, name, PASSWORD).await);
    }
    let (olga, pete, quin, rita, sam) = (&users[0], &users[1], &users[2], &users[3], &users[4]);
    let olga_t = app.login("olga", PASSWORD).await;
    let pete_t = app.login("pete", PASSWORD).await;
    let quin_t = app.login("quin", PASSWORD).await;
    let sam_t = app.login("sam", PASSWORD).await;

    // A standard user creates an organization and owns it.
    let acme = app
        .orgs()
        .create_organization(with_auth(
            pb::CreateOrganizationRequest {
                name: "Acme".to_owned(),
            },
            &olga_t,
        ))
        .await
        .must()
        .organization
        .unwrap_or_default();
    assert!(!acme.is_default);
    assert_eq!(
        role_of(&app, &olga_t, &acme.id, olga.id).await,
        pb::OrganizationRole::Owner
    );
    let olga_orgs = app
        .orgs()
        .list_user_organizations(with_auth(
            pb::ListUserOrganizationsRequest::default(),
            &olga_t,
        ))
        .await
        .must();
    assert!(
        olga_orgs.organizations.iter().any(|o| o
            .organization
            .as_ref()
            .is_some_and(|x| x.id == acme.id)
            && o.role() == pb::OrganizationRole::Owner),
        "{olga_orgs:?}"
    );
    app.orgs()
        .create_organization(with_auth(
            pb::CreateOrganizationRequest {
                name: "Acme".to_owned(),
            },
            &pete_t,
        ))
        .await
        .must_fail(Code::AlreadyExists);

    // Non-members cannot see it.
    app.orgs()
        .get_organization(with_auth(
            pb::GetOrganizationRequest {
                organization: id_ref(&acme.id),
            },
            &sam_t,
        ))
        .await
        .must_fail_with_any(&[Code::NotFound, Code::PermissionDenied]);
    app.orgs()
        .list_members(with_auth(
            pb::ListMembersRequest {
                organization_id: acme.id.clone(),
                ..Default::default()
            },
            &sam_t,
        ))
        .await
        .must_fail_with_any(&[Code::NotFound, Code::PermissionDenied]);
    app.orgs()
        .add_member(with_auth(
            pb::AddMemberRequest {
                organization_id: acme.id.clone(),
                user_id: sam.id,
                role: 0,
            },
            &sam_t,
        ))
        .await
        .must_fail_with_any(&[Code::NotFound, Code::PermissionDenied]);

    // The owner cannot pull other users in without their consent: an administrator adds them
    // (UNSPECIFIED means MEMBER).
    app.orgs()
        .add_member(with_auth(
            pb::AddMemberRequest {
                organization_id: acme.id.clone(),
                user_id: pete.id,
                role: 0,
            },
            &olga_t,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    for u in [pete, quin, rita] {
        let added = app
            .orgs()
            .add_member(with_auth(
                pb::AddMemberRequest {
                    organization_id: acme.id.clone(),
                    user_id: u.id,
                    role: 0,
                },
                &admin,
            ))
            .await
            .must()
            .member
            .unwrap_or_default();
        assert_eq!(added.role(), pb::OrganizationRole::Member);
        assert_eq!(added.user.map(|x| x.id), Some(u.id));
    }
    app.orgs()
        .add_member(with_auth(
            pb::AddMemberRequest {
                organization_id: acme.id.clone(),
                user_id: pete.id,
                role: 0,
            },
            &admin,
        ))
        .await
        .must_fail(Code::AlreadyExists);

    // A member can neither change others nor raise itself.
    app.orgs()
        .update_member_role(with_auth(
            pb::UpdateMemberRoleRequest {
                organization_id: acme.id.clone(),
                user_id: quin.id,
                role: pb::OrganizationRole::Member.into(),
            },
            &pete_t,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    app.orgs()
        .update_member_role(with_auth(
            pb::UpdateMemberRoleRequest {
                organization_id: acme.id.clone(),
                user_id: pete.id,
                role: pb::OrganizationRole::Admin.into(),
            },
            &pete_t,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    app.orgs()
        .add_member(with_auth(
            pb::AddMemberRequest {
                organization_id: acme.id.clone(),
                user_id: sam.id,
                role: 0,
            },
            &pete_t,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    assert_eq!(
        role_of(&app, &olga_t, &acme.id, pete.id).await,
        pb::OrganizationRole::Member
    );

    // The owner makes pete an admin; an admin cannot grant owner, but can grant admin.
    app.orgs()
        .update_member_role(with_auth(
            pb::UpdateMemberRoleRequest {
                organization_id: acme.id.clone(),
                user_id: pete.id,
                role: pb::OrganizationRole::Admin.into(),
            },
            &olga_t,
        ))
        .await
        .must();
    app.orgs()
        .update_member_role(with_auth(
            pb::UpdateMemberRoleRequest {
                organization_id: acme.id.clone(),
                user_id: quin.id,
                role: pb::OrganizationRole::Owner.into(),
            },
            &pete_t,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    app.orgs()
        .update_member_role(with_auth(
            pb::UpdateMemberRoleRequest {
                organization_id: acme.id.clone(),
                user_id: pete.id,
                role: pb::OrganizationRole::Owner.into(),
            },
            &pete_t,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    app.orgs()
        .add_member(with_auth(
            pb::AddMemberRequest {
                organization_id: acme.id.clone(),
                user_id: sam.id,
                role: pb::OrganizationRole::Owner.into(),
            },
            &pete_t,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    // ...nor touch the owner.
    app.orgs()
        .update_member_role(with_auth(
            pb::UpdateMemberRoleRequest {
                organization_id: acme.id.clone(),
                user_id: olga.id,
                role: pb::OrganizationRole::Member.into(),
            },
            &pete_t,
        ))
        .await
        // Refused either for the rank or because olga is the last owner; what matters is below.
        .must_fail_with_any(&[Code::PermissionDenied, Code::FailedPrecondition]);
    let quin_admin = app
        .orgs()
        .update_member_role(with_auth(
            pb::UpdateMemberRoleRequest {
                organization_id: acme.id.clone(),
                user_id: quin.id,
                role: pb::OrganizationRole::Admin.into(),
            },
            &pete_t,
        ))
        .await
        .must()
        .member
        .unwrap_or_default();
    assert_eq!(quin_admin.role(), pb::OrganizationRole::Admin);
    assert_eq!(
        role_of(&app, &quin_t, &acme.id, quin.id).await,
        pb::OrganizationRole::Admin
    );
    assert_eq!(
        role_of(&app, &olga_t, &acme.id, olga.id).await,
        pb::OrganizationRole::Owner,
        "the refused demotion changed nothing"
    );

    // The last owner cannot step down.
    app.orgs()
        .update_member_role(with_auth(
            pb::UpdateMemberRoleRequest {
                organization_id: acme.id.clone(),
                user_id: olga.id,
                role: pb::OrganizationRole::Admin.into(),
            },
            &olga_t,
        ))
        .await
        .must_fail(Code::FailedPrecondition);
    app.orgs()
        .remove_member(with_auth(
            pb::RemoveMemberRequest {
                organization_id: acme.id.clone(),
                user_id: olga.id,
            },
            &olga_t,
        ))
        .await
        .must_fail(Code::FailedPrecondition);

    // ListMembers pages: olga, pete, quin, rita by ascending id, 3 then 1.
    let first = app
        .orgs()
        .list_members(with_auth(
            pb::ListMembersRequest {
                organization_id: acme.id.clone(),
                page_size: 3,
                ..Default::default()
            },
            &pete_t,
        ))
        .await
        .must();
    assert_eq!(first.members.len(), 3);
    assert!(!first.next_page_token.is_empty());
    let second = app
        .orgs()
        .list_members(with_auth(
            pb::ListMembersRequest {
                organization_id: acme.id.clone(),
                page_size: 3,
                page_token: first.next_page_token,
                ..Default::default()
            },
            &pete_t,
        ))
        .await
        .must();
    assert!(second.next_page_token.is_empty());
    let ids: Vec<i64> = first
        .members
        .iter()
        .chain(&second.members)
        .filter_map(|m| m.user.as_ref().map(|u| u.id))
        .collect();
    assert_eq!(ids, vec![olga.id, pete.id, quin.id, rita.id]);
    assert!(
        first
            .members
            .iter()
            .chain(&second.members)
            .all(|m| m.organization_id == acme.id)
    );
    let by_email = app
        .orgs()
        .list_members(with_auth(
            pb::ListMembersRequest {
                organization_id: acme.id.clone(),
                emails: vec!["RITA@example.com".to_owned()],
                ..Default::default()
            },
            &pete_t,
        ))
        .await
        .must();
    assert_eq!(
        by_email
            .members
            .iter()
            .filter_map(|m| m.user.as_ref().map(|u| u.id))
            .collect::<Vec<_>>(),
        vec![rita.id]
    );

    // Members may leave; admins may remove members; the global administrator may do anything.
    app.orgs()
        .remove_member(with_auth(
            pb::RemoveMemberRequest {
                organization_id: acme.id.clone(),
                user_id: rita.id,
            },
            &pete_t,
        ))
        .await
        .must();
    app.orgs()
        .get_member(with_auth(
            pb::GetMemberRequest {
                organization_id: acme.id.clone(),
                user_id: rita.id,
            },
            &olga_t,
        ))
        .await
        .must_fail(Code::NotFound);
    app.orgs()
        .add_member(with_auth(
            pb::AddMemberRequest {
                organization_id: acme.id.clone(),
                user_id: sam.id,
                role: pb::OrganizationRole::Owner.into(),
            },
            &admin,
        ))
        .await
        .must();
    assert_eq!(
        role_of(&app, &sam_t, &acme.id, sam.id).await,
        pb::OrganizationRole::Owner
    );
}

async fn teams(app: TestApp) {
    let admin = app.init_admin().await;
    let tom = app.create_user(&admin, "tom", PASSWORD).await;
    let una = app.create_user(&admin, "una", PASSWORD).await;
    let vic = app.create_user(&admin, "vic", PASSWORD).await;
    let tom_t = app.login("tom", PASSWORD).await;
    let una_t = app.login("una", PASSWORD).await;

    app.teams()
        .create_team(with_auth(
            pb::CreateTeamRequest {
                name: "ops".to_owned(),
            },
            &tom_t,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    let ops = app
        .teams()
        .create_team(with_auth(
            pb::CreateTeamRequest {
                name: "ops".to_owned(),
            },
            &admin,
        ))
        .await
        .must()
        .team
        .unwrap_or_default();
    assert_eq!(ops.name, "ops");
    app.teams()
        .create_team(with_auth(
            pb::CreateTeamRequest {
                name: "ops".to_owned(),
            },
            &admin,
        ))
        .await
        .must_fail(Code::AlreadyExists);
    let dev = app
        .teams()
        .create_team(with_auth(
            pb::CreateTeamRequest {
                name: "dev".to_owned(),
            },
            &admin,
        ))
        .await
        .must()
        .team
        .unwrap_or_default();

    let led = app
        .teams()
        .add_team_member(with_auth(
            pb::AddTeamMemberRequest {
                team_id: ops.id,
                user_id: tom.id,
                role: pb::TeamRole::Leader.into(),
            },
            &admin,
        ))
        .await
        .must()
        .membership
        .unwrap_or_default();
    assert_eq!(
        (led.team_id, led.user_id, led.role()),
        (ops.id, tom.id, pb::TeamRole::Leader)
    );
    // A leader manages their own team, not others; plain members manage nothing.
    let member = app
        .teams()
        .add_team_member(with_auth(
            pb::AddTeamMemberRequest {
                team_id: ops.id,
                user_id: una.id,
                role: 0,
            },
            &tom_t,
        ))
        .await
        .must()
        .membership
        .unwrap_or_default();
    assert_eq!(
        member.role(),
        pb::TeamRole::Member,
        "UNSPECIFIED means MEMBER"
    );
    app.teams()
        .add_team_member(with_auth(
            pb::AddTeamMemberRequest {
                team_id: dev.id,
                user_id: una.id,
                role: 0,
            },
            &tom_t,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    app.teams()
        .add_team_member(with_auth(
            pb::AddTeamMemberRequest {
                team_id: ops.id,
                user_id: vic.id,
                role: 0,
            },
            &una_t,
        ))
        .await
        .must_fail(Code::PermissionDenied);
    app.teams()
        .add_team_member(with_auth(
            pb::AddTeamMemberRequest {
                team_id: ops.id,
                user_id: una.id,
                role: 0,
            },
            &admin,
        ))
        .await
        .must_fail(Code::AlreadyExists);
    app.teams()
        .add_team_member(with_auth(
            pb::AddTeamMemberRequest {
                team_id: 9_999,
                user_id: una.id,
                role: 0,
            },
            &admin,
        ))
        .await
        .must_fail(Code::NotFound);

    // Memberships: self or administrator.
    let una_teams = app
        .teams()
        .list_user_team_memberships(with_auth(
            pb::ListUserTeamMembershipsRequest::default(),
            &una_t,
        ))
        .await
        .must();
    assert_eq!(
        una_teams
            .memberships
            .iter()
            .map(|m| (m.team_id, m.role()))
            .collect::<Vec<_>>(),
        vec![(ops.id, pb::TeamRole::Member)]
    );
    let tom_teams = app
        .teams()
        .list_user_team_memberships(with_auth(
            pb::ListUserTeamMembershipsRequest {
                user_id: Some(tom.id),
            },
            &admin,
        ))
        .await
        .must();
    assert_eq!(
        tom_teams
            .memberships
            .iter()
            .map(|m| (m.team_id, m.role()))
            .collect::<Vec<_>>(),
        vec![(ops.id, pb::TeamRole::Leader)]
    );
    app.teams()
        .list_user_team_memberships(with_auth(
            pb::ListUserTeamMembershipsRequest {
                user_id: Some(tom.id),
            },
            &una_t,
        ))
        .await
        .must_fail_with_any(&[Code::PermissionDenied, Code::NotFound]);

    // Everyone may list teams; pages of one.
    let page = app
        .teams()
        .list_teams(with_auth(
            pb::ListTeamsRequest {
                page_size: 1,
                ..Default::default()
            },
            &una_t,
        ))
        .await
        .must();
    assert_eq!(
        page.teams.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![ops.id]
    );
    let page = app
        .teams()
        .list_teams(with_auth(
            pb::ListTeamsRequest {
                page_size: 1,
                page_token: page.next_page_token,
            },
            &una_t,
        ))
        .await
        .must();
    assert_eq!(
        page.teams.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![dev.id]
    );
    assert!(page.next_page_token.is_empty());

    // The leader removes a member; the membership is gone.
    app.teams()
        .remove_team_member(with_auth(
            pb::RemoveTeamMemberRequest {
                team_id: ops.id,
                user_id: una.id,
            },
            &tom_t,
        ))
        .await
        .must();
    let una_teams = app
        .teams()
        .list_user_team_memberships(with_auth(
            pb::ListUserTeamMembershipsRequest::default(),
            &una_t,
        ))
        .await
        .must();
    assert!(una_teams.memberships.is_empty());
    app.teams()
        .remove_team_member(with_auth(
            pb::RemoveTeamMemberRequest {
                team_id: ops.id,
                user_id: una.id,
            },
            &tom_t,
        ))
        .await
        .must_fail(Code::NotFound);
}
