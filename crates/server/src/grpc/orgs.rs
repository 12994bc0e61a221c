//! `identity.v1.OrganizationService`.

use identity_api::pb::{self, organization_service_server::OrganizationService};
use identity_core::{
    domain::OrgRole,
    service::{Identity, OrgRef},
};
use tonic::{Request, Response, Status};

use super::{OrStatus, conv, page, status::invalid};
use crate::auth::principal;

/// Implementation of OrganizationService.
#[derive(Debug, Clone)]
pub(crate) struct Orgs {
    pub(crate) identity: Identity,
}

#[tonic::async_trait]
impl OrganizationService for Orgs {
    async fn create_organization(
        &self,
        req: Request<pb::CreateOrganizationRequest>,
    ) -> Result<Response<pb::CreateOrganizationResponse>, Status> {
        let p = principal(&req)?;
        let org = self
            .identity
            .create_organization(&p, &req.into_inner().name)
            .await
            .or_status()?;
        Ok(Response::new(pb::CreateOrganizationResponse {
            organization: Some(conv::organization(&org)),
        }))
    }

    async fn get_organization(
        &self,
        req: Request<pb::GetOrganizationRequest>,
    ) -> Result<Response<pb::GetOrganizationResponse>, Status> {
        let p = principal(&req)?;
        let r = match req.into_inner().organization.and_then(|o| o.org) {
            Some(pb::organization_ref::Org::Id(s)) => OrgRef::Id(s),
            Some(pb::organization_ref::Org::Handle(s)) => OrgRef::Handle(s),
            Some(pb::organization_ref::Org::Default(true)) => OrgRef::Default,
            Some(pb::organization_ref::Org::Default(false)) | None => {
                return Err(invalid("organization", "id, handle or default is required"));
            }
        };
        let org = self.identity.get_organization(&p, &r).await.or_status()?;
        Ok(Response::new(pb::GetOrganizationResponse {
            organization: Some(conv::organization(&org)),
        }))
    }

    async fn add_member(
        &self,
        req: Request<pb::AddMemberRequest>,
    ) -> Result<Response<pb::AddMemberResponse>, Status> {
        let p = principal(&req)?;
        let pb::AddMemberRequest {
            organization_id,
            user_id,
            role,
        } = req.into_inner();
        let role = conv::parse_org_role("role", role)?.unwrap_or(OrgRole::Member);
        let member = self
            .identity
            .add_member(&p, &organization_id, user_id, role)
            .await
            .or_status()?;
        Ok(Response::new(pb::AddMemberResponse {
            member: Some(conv::member_view(&member)),
        }))
    }

    async fn update_member_role(
        &self,
        req: Request<pb::UpdateMemberRoleRequest>,
    ) -> Result<Response<pb::UpdateMemberRoleResponse>, Status> {
        let p = principal(&req)?;
        let pb::UpdateMemberRoleRequest {
            organization_id,
            user_id,
            role,
        } = req.into_inner();
        let role =
            conv::parse_org_role("role", role)?.ok_or_else(|| invalid("role", "is required"))?;
        let member = self
            .identity
            .update_member_role(&p, &organization_id, user_id, role)
            .await
            .or_status()?;
        Ok(Response::new(pb::UpdateMemberRoleResponse {
            member: Some(conv::member_view(&member)),
        }))
    }

    async fn remove_member(
        &self,
        req: Request<pb::RemoveMemberRequest>,
    ) -> Result<Response<pb::RemoveMemberResponse>, Status> {
        let p = principal(&req)?;
        let pb::RemoveMemberRequest {
            organization_id,
            user_id,
        } = req.into_inner();
        self.identity
            .remove_member(&p, &organization_id, user_id)
            .await
            .or_status()?;
        Ok(Response::new(pb::RemoveMemberResponse {}))
    }

    async fn get_member(
        &self,
        req: Request<pb::GetMemberRequest>,
    ) -> Result<Response<pb::GetMemberResponse>, Status> {
        let p = principal(&req)?;
        let pb::GetMemberRequest {
            organization_id,
            user_id,
        } = req.into_inner();
        let member = self
            .identity
            .get_member(&p, &organization_id, user_id)
            .await
            .or_status()?;
        Ok(Response::new(pb::GetMemberResponse {
            member: Some(conv::member_view(&member)),
        }))
    }

    async fn list_members(
        &self,
        req: Request<pb::ListMembersRequest>,
    ) -> Result<Response<pb::ListMembersResponse>, Status> {
        let p = principal(&req)?;
        let pb::ListMembersRequest {
            organization_id,
            page_size,
            page_token,
            emails,
            after_user_handle,
            user_handles,
        } = req.into_inner();
        if after_user_handle.is_some() && !page_token.is_empty() {
            return Err(invalid(
                "after_user_handle",
                "cannot be combined with page_token",
            ));
        }
        let page = page(page_size, &page_token)?;
        let (rows, next) = if after_user_handle.is_some() || !user_handles.is_empty() {
            self.identity
                .list_members_by_handle(
                    &p,
                    &organization_id,
                    &emails,
                    &user_handles,
                    after_user_handle.as_deref(),
                    page,
                )
                .await
        } else {
            self.identity
                .list_members(&p, &organization_id, &emails, page)
                .await
        }
        .or_status()?;
        Ok(Response::new(pb::ListMembersResponse {
            members: rows.iter().map(conv::member_view).collect(),
            next_page_token: next,
        }))
    }

    async fn list_user_organizations(
        &self,
        req: Request<pb::ListUserOrganizationsRequest>,
    ) -> Result<Response<pb::ListUserOrganizationsResponse>, Status> {
        let p = principal(&req)?;
        let user_id = req.into_inner().user_id;
        let rows = self
            .identity
            .list_user_organizations(&p, user_id)
            .await
            .or_status()?;
        Ok(Response::new(pb::ListUserOrganizationsResponse {
            organizations: rows
                .iter()
                .map(|(m, o)| pb::UserOrganization {
                    organization: Some(conv::organization(o)),
                    role: conv::org_role(m.role).into(),
                    added_at: Some(conv::ts(m.added_at)),
                })
                .collect(),
        }))
    }
}
