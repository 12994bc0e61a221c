//! Organizations and memberships.

use uuid::Uuid;

use super::{
    Identity, bounds,
    member_view::{self, MemberView},
    parse_uuid,
};
use crate::{
    Denial, Entity, Error, Precondition, Result, Violations,
    domain::{Membership, Name, OrgRole, Organization, UserId, parse_handle},
    pagination::{self, PageRequest},
    principal::Principal,
};

/// How an organization is addressed.
#[derive(Debug, Clone)]
pub enum OrgRef {
    /// UUID string.
    Id(String),
    /// Handle string.
    Handle(String),
    /// The default organization.
    Default,
}

impl Identity {
    /// The role the caller may use in `org` (global administrators count as owners).
    /// Fails with NOT_FOUND when the organization does not exist or the caller may not see it.
    async fn caller_org_role(&self, p: &Principal, org: Uuid) -> Result<OrgRole> {
        self.repo
            .organization_by_id(org)
            .await?
            .ok_or(Error::not_found(Entity::Organization))?;
        if !p.may_use_org(org) {
            return Err(Error::PermissionDenied(Denial::OrganizationScope));
        }
        let membership = self.repo.membership(org, p.user.id).await?.map(|m| m.role);
        if p.is_admin() {
            return Ok(OrgRole::Owner);
        }
        p.effective_org_role(org, membership)
            .ok_or(Error::PermissionDenied(Denial::NotAMember))
    }

    /// Resolve an organization reference.
    pub async fn resolve_org(&self, r: &OrgRef) -> Result<Organization> {
        let found = match r {
            OrgRef::Id(s) => {
                self.repo
                    .organization_by_id(parse_uuid("organization.id", s)?)
                    .await?
            }
            OrgRef::Handle(h) => {
                let id = parse_handle("org", h).ok_or_else(|| {
                    Error::invalid("organization.handle", "must look like org-<32 hex>")
                })?;
                self.repo.organization_by_id(id).await?
            }
            OrgRef::Default => self.repo.default_organization().await?,
        };
        found.ok_or(Error::not_found(Entity::Organization))
    }

    /// Create an organization owned by the caller.
    pub async fn create_organization(&self, p: &Principal, name: &str) -> Result<Organization> {
        p.require_write()?;
        let name = Name::parse(name, 1, 256).map_err(|e| Error::invalid("name", e))?;
        self.repo
            .create_organization(
                Uuid::new_v4(),
                name.into_inner(),
                p.user.id,
                self.clock.now(),
            )
            .await
    }

    /// An organization the caller belongs to (or any, for administrators).
    pub async fn get_organization(&self, p: &Principal, r: &OrgRef) -> Result<Organization> {
        let org = self.resolve_org(r).await?;
        match self.caller_org_role(p, org.id).await {
            Ok(_) => Ok(org),
            // Non-members learn nothing about the organization.
            Err(Error::PermissionDenied(_)) => Err(Error::not_found(Entity::Organization)),
            Err(e) => Err(e),
        }
    }

    /// Add a member; the granted role may not exceed the caller's, and adding another user needs
    /// administrator rights ([`member_view::check_may_add`]).
    pub async fn add_member(
        &self,
        p: &Principal,
        org: &str,
        user: UserId,
        role: OrgRole,
    ) -> Result<MemberView> {
        p.require_write()?;
        let org = parse_uuid("organization_id", org)?;
        let mine = self.caller_org_role(p, org).await?;
        if mine < OrgRole::Admin {
            return Err(Error::PermissionDenied(Denial::RoleTooLow));
        }
        if role > mine {
            return Err(Error::PermissionDenied(Denial::RoleTooLow));
        }
        member_view::check_may_add(p, user)?;
        let target = self.existing_user(user).await?;
        let m = self
            .repo
            .add_member(org, user, role, self.clock.now())
            .await?;
        Ok(member_view::view(p, mine, m, target))
    }

    /// Change a member's role (Trieve's rules).
    pub async fn update_member_role(
        &self,
        p: &Principal,
        org: &str,
        user: UserId,
        role: OrgRole,
    ) -> Result<MemberView> {
        p.require_write()?;
        let org = parse_uuid("organization_id", org)?;
        let mine = self.caller_org_role(p, org).await?;
        if role > mine {
            return Err(Error::PermissionDenied(Denial::RoleTooLow));
        }
        if !p.is_self(user) && mine < OrgRole::Admin {
            return Err(Error::PermissionDenied(Denial::RoleTooLow));
        }
        let current = self
            .repo
            .membership(org, user)
            .await?
            .ok_or(Error::FailedPrecondition(Precondition::NotAMember))?;
        if current.role == OrgRole::Owner
            && role < OrgRole::Owner
            && self.repo.count_owners(org).await? <= 1
        {
            return Err(Error::FailedPrecondition(Precondition::LastOwner));
        }
        if current.role > mine {
            return Err(Error::PermissionDenied(Denial::RoleTooLow));
        }
        let target = self.existing_user(user).await?;
        let m = self.repo.set_member_role(org, user, role).await?;
        Ok(member_view::view(p, mine, m, target))
    }

    /// Remove a member (self-removal allowed; the last owner stays).
    pub async fn remove_member(&self, p: &Principal, org: &str, user: UserId) -> Result<()> {
        p.require_write()?;
        let org = parse_uuid("organization_id", org)?;
        let mine = self.caller_org_role(p, org).await?;
        let current = self
            .repo
            .membership(org, user)
            .await?
            .ok_or(Error::not_found(Entity::Membership))?;
        if !p.is_self(user) && (mine < OrgRole::Admin || current.role > mine) {
            return Err(Error::PermissionDenied(Denial::RoleTooLow));
        }
        if current.role == OrgRole::Owner && self.repo.count_owners(org).await? <= 1 {
            return Err(Error::FailedPrecondition(Precondition::LastOwner));
        }
        if self.repo.remove_member(org, user).await? {
            Ok(())
        } else {
            Err(Error::not_found(Entity::Membership))
        }
    }

    /// One member of an organization the caller belongs to.
    pub async fn get_member(&self, p: &Principal, org: &str, user: UserId) -> Result<MemberView> {
        let org = parse_uuid("organization_id", org)?;
        let mine = self.caller_org_role(p, org).await?;
        let m = self
            .repo
            .membership(org, user)
            .await?
            .ok_or(Error::not_found(Entity::Membership))?;
        let u = self.existing_user(user).await?;
        Ok(member_view::view(p, mine, m, u))
    }

    /// Members of an organization the caller belongs to, as the caller may see them
    /// ([`member_view`]).
    pub async fn list_members(
        &self,
        p: &Principal,
        org: &str,
        emails: &[String],
        page: PageRequest,
    ) -> Result<(Vec<MemberView>, String)> {
        bounds::member_filters(emails, &[])?;
        let org = parse_uuid("organization_id", org)?;
        let mine = self.caller_org_role(p, org).await?;
        let mut v = Violations::new();
        for (i, e) in emails.iter().enumerate() {
            v.text(format!("emails[{i}]"), e);
        }
        v.finish()?;
        let Some(emails) = member_view::email_filter(p, mine, emails) else {
            return Ok((Vec::new(), String::new()));
        };
        let mut rows = self.repo.list_members(org, &emails, page).await?;
        let next = pagination::next_token(&mut rows, page.limit, |(m, _)| m.user_id);
        Ok((member_view::view_all(p, mine, rows), next))
    }

    /// Members addressed by user handle (the OpenAI dialect's ids), with the rights and order of
    /// [`Identity::list_members`]: `handles` (when not empty) keeps only those users (unknown
    /// handles match nothing), and `after_handle` starts after that user instead of a page token.
    pub async fn list_members_by_handle(
        &self,
        p: &Principal,
        org: &str,
        emails: &[String],
        handles: &[String],
        after_handle: Option<&str>,
        page: PageRequest,
    ) -> Result<(Vec<MemberView>, String)> {
        bounds::member_filters(emails, handles)?;
        let org = parse_uuid("organization_id", org)?;
        let mine = self.caller_org_role(p, org).await?;
        let mut v = Violations::new();
        for (i, e) in emails.iter().enumerate() {
            v.text(format!("emails[{i}]"), e);
        }
        let mut uids = Vec::with_capacity(handles.len());
        for (i, h) in handles.iter().enumerate() {
            match parse_handle("user", h) {
                Some(u) => uids.push(u),
                None => v.push(format!("user_handles[{i}]"), "must look like user-<32 hex>"),
            }
        }
        let after_uid = after_handle.and_then(|h| {
            let uid = parse_handle("user", h);
            if uid.is_none() {
                v.push("after_user_handle", "must look like user-<32 hex>");
            }
            uid
        });
        v.finish()?;
        let mut page = page;
        if let Some(uid) = after_uid {
            let after = self
                .repo
                .user_by_uid(uid)
                .await?
                .ok_or_else(|| Error::invalid("after_user_handle", "names no user"))?;
            page.after = Some(after.id);
        }
        let Some(emails) = member_view::email_filter(p, mine, emails) else {
            return Ok((Vec::new(), String::new()));
        };
        let mut rows = if uids.is_empty() {
            self.repo.list_members(org, &emails, page).await?
        } else {
            let mut rows = Vec::with_capacity(uids.len());
            for uid in uids {
                let Some(user) = self.repo.user_by_uid(uid).await? else {
                    continue;
                };
                if page.after.is_some_and(|a| user.id <= a) {
                    continue;
                }
                let email_ok = emails.is_empty()
                    || user
                        .email
                        .as_deref()
                        .is_some_and(|e| emails.contains(&e.to_lowercase()));
                if !email_ok {
                    continue;
                }
                if let Some(m) = self.repo.membership(org, user.id).await? {
                    rows.push((m, user));
                }
            }
            rows.sort_by_key(|(m, _)| m.user_id);
            rows.dedup_by_key(|(m, _)| m.user_id);
            rows
        };
        let next = pagination::next_token(&mut rows, page.limit, |(m, _)| m.user_id);
        Ok((member_view::view_all(p, mine, rows), next))
    }

    /// A user's organizations.
    pub async fn list_user_organizations(
        &self,
        p: &Principal,
        user: Option<UserId>,
    ) -> Result<Vec<(Membership, Organization)>> {
        let user = user.unwrap_or(p.user.id);
        p.require_self_or_admin(user)?;
        self.existing_user(user).await?;
        let rows = self.repo.user_memberships(user).await?;
        Ok(rows
            .into_iter()
            .filter(|(m, _)| p.is_admin() || p.may_use_org(m.organization_id))
            .collect())
    }
}
