//! `identity.v1.TeamService`.

use identity_api::pb::{self, team_service_server::TeamService};
use identity_core::{domain::TeamRole, service::Identity};
use tonic::{Request, Response, Status};

use super::{OrStatus, conv, page};
use crate::auth::principal;

/// Implementation of TeamService.
#[derive(Debug, Clone)]
pub(crate) struct Teams {
    pub(crate) identity: Identity,
}

#[tonic::async_trait]
impl TeamService for Teams {
    async fn create_team(
        &self,
        req: Request<pb::CreateTeamRequest>,
    ) -> Result<Response<pb::CreateTeamResponse>, Status> {
        let p = principal(&req)?;
        let team = self
            .identity
            .create_team(&p, &req.into_inner().name)
            .await
            .or_status()?;
        Ok(Response::new(pb::CreateTeamResponse {
            team: Some(conv::team(&team)),
        }))
    }

    async fn list_teams(
        &self,
        req: Request<pb::ListTeamsRequest>,
    ) -> Result<Response<pb::ListTeamsResponse>, Status> {
        let p = principal(&req)?;
        let pb::ListTeamsRequest {
            page_size,
            page_token,
        } = req.into_inner();
        let (teams, next) = self
            .identity
            .list_teams(&p, page(page_size, &page_token)?)
            .await
            .or_status()?;
        Ok(Response::new(pb::ListTeamsResponse {
            teams: teams.iter().map(conv::team).collect(),
            next_page_token: next,
        }))
    }

    async fn add_team_member(
        &self,
        req: Request<pb::AddTeamMemberRequest>,
    ) -> Result<Response<pb::AddTeamMemberResponse>, Status> {
        let p = principal(&req)?;
        let pb::AddTeamMemberRequest {
            team_id,
            user_id,
            role,
        } = req.into_inner();
        let role = conv::parse_team_role("role", role)?.unwrap_or(TeamRole::Member);
        let m = self
            .identity
            .add_team_member(&p, team_id, user_id, role)
            .await
            .or_status()?;
        Ok(Response::new(pb::AddTeamMemberResponse {
            membership: Some(conv::team_membership(&m)),
        }))
    }

    async fn remove_team_member(
        &self,
        req: Request<pb::RemoveTeamMemberRequest>,
    ) -> Result<Response<pb::RemoveTeamMemberResponse>, Status> {
        let p = principal(&req)?;
        let pb::RemoveTeamMemberRequest { team_id, user_id } = req.into_inner();
        self.identity
            .remove_team_member(&p, team_id, user_id)
            .await
            .or_status()?;
        Ok(Response::new(pb::RemoveTeamMemberResponse {}))
    }

    async fn list_user_team_memberships(
        &self,
        req: Request<pb::ListUserTeamMembershipsRequest>,
    ) -> Result<Response<pb::ListUserTeamMembershipsResponse>, Status> {
        let p = principal(&req)?;
        let user_id = req.into_inner().user_id;
        let rows = self
            .identity
            .list_user_team_memberships(&p, user_id)
            .await
            .or_status()?;
        Ok(Response::new(pb::ListUserTeamMembershipsResponse {
            memberships: rows.iter().map(conv::team_membership).collect(),
        }))
    }
}
