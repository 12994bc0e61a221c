//! Teams and team memberships.

use super::Identity;
use crate::{
    Denial, Entity, Error, Result,
    domain::{Name, Team, TeamMembership, TeamRole, UserId},
    pagination::{self, PageRequest},
    principal::Principal,
};

impl Identity {
    async fn require_team_manager(&self, p: &Principal, team: i64) -> Result<()> {
        self.repo
            .team_by_id(team)
            .await?
            .ok_or(Error::not_found(Entity::Team))?;
        if p.is_admin() {
            return Ok(());
        }
        match self.repo.team_membership(team, p.user.id).await? {
            Some(m) if m.role == TeamRole::Leader => Ok(()),
            Some(_) | None => Err(Error::PermissionDenied(Denial::AdminOnly)),
        }
    }

    /// Create a team (administrators only).
    pub async fn create_team(&self, p: &Principal, name: &str) -> Result<Team> {
        p.require_admin()?;
        p.require_write()?;
        let name = Name::parse(name, 1, 256).map_err(|e| Error::invalid("name", e))?;
        self.repo
            .create_team(name.into_inner(), self.clock.now())
            .await
    }

    /// List teams.
    pub async fn list_teams(
        &self,
        _p: &Principal,
        page: PageRequest,
    ) -> Result<(Vec<Team>, String)> {
        let mut teams = self.repo.list_teams(page).await?;
        let next = pagination::next_token(&mut teams, page.limit, |t| t.id);
        Ok((teams, next))
    }

    /// Add a team member (administrators and the team's leaders).
    pub async fn add_team_member(
        &self,
        p: &Principal,
        team: i64,
        user: UserId,
        role: TeamRole,
    ) -> Result<TeamMembership> {
        p.require_write()?;
        self.require_team_manager(p, team).await?;
        self.existing_user(user).await?;
        self.repo
            .add_team_member(team, user, role, self.clock.now())
            .await
    }

    /// Remove a team member (administrators and the team's leaders).
    pub async fn remove_team_member(&self, p: &Principal, team: i64, user: UserId) -> Result<()> {
        p.require_write()?;
        self.require_team_manager(p, team).await?;
        if self.repo.remove_team_member(team, user).await? {
            Ok(())
        } else {
            Err(Error::not_found(Entity::TeamMembership))
        }
    }

    /// A user's team memberships.
    pub async fn list_user_team_memberships(
        &self,
        p: &Principal,
        user: Option<UserId>,
    ) -> Result<Vec<TeamMembership>> {
        let user = user.unwrap_or(p.user.id);
        p.require_self_or_admin(user)?;
        self.existing_user(user).await?;
        self.repo.user_team_memberships(user).await
    }
}
