//! User listings: who may list whom, filters, search, order, offsets and counts.

use super::Identity;
use crate::{
    Denial, Error, Result, Violations,
    domain::{User, UserFilter, UserOrder},
    pagination::{self, PageRequest},
    principal::Principal,
};

/// Longest `search` text of a user listing, in characters.
pub const MAX_SEARCH_CHARS: usize = 256;
/// Largest `offset` of a user listing.
pub const MAX_LIST_OFFSET: u64 = 100_000;

/// Input of a user listing beyond the page (see [`Identity::list_users_with`]).
#[derive(Debug, Clone, Default)]
pub struct ListUsers {
    /// Only these e-mails (case-insensitive); empty means any.
    pub emails: Vec<String>,
    /// Only this username (case-insensitive).
    pub username: Option<String>,
    /// Case-insensitive substring of username, e-mail or display name; empty means any.
    pub search: Option<String>,
    /// Order.
    pub order: UserOrder,
    /// Matching users to skip.
    pub offset: u64,
    /// Also count every matching user.
    pub include_total_count: bool,
}

/// One page of a user listing.
#[derive(Debug, Clone)]
pub struct UserPage {
    /// The users.
    pub users: Vec<User>,
    /// Cursor of the next page; empty at the end or for a non-default order.
    pub next_page_token: String,
    /// Number of matching users, when asked for.
    pub total_count: Option<u64>,
}

impl Identity {
    /// List users: administrators see everyone, team leaders standard users, others nobody.
    pub async fn list_users(
        &self,
        p: &Principal,
        emails: &[String],
        username: Option<&str>,
        page: PageRequest,
    ) -> Result<(Vec<User>, String)> {
        let query = ListUsers {
            emails: emails.to_vec(),
            username: username.map(str::to_owned),
            ..ListUsers::default()
        };
        let listed = self.list_users_with(p, &query, page).await?;
        Ok((listed.users, listed.next_page_token))
    }

    /// List users with search, ordering, offset and an optional total count; the same access
    /// rules as [`Identity::list_users`]. Page tokens work only with the default order and no
    /// offset.
    pub async fn list_users_with(
        &self,
        p: &Principal,
        query: &ListUsers,
        page: PageRequest,
    ) -> Result<UserPage> {
        super::bounds::list_users(&query.emails)?;
        let standard_only = if p.is_admin() {
            false
        } else if self
            .repo
            .user_team_memberships(p.user.id)
            .await?
            .iter()
            .any(|m| m.role == crate::domain::TeamRole::Leader)
        {
            true
        } else {
            return Err(Error::PermissionDenied(Denial::AdminOnly));
        };
        let mut v = Violations::new();
        for (i, e) in query.emails.iter().enumerate() {
            v.text(format!("emails[{i}]"), e);
        }
        v.text("username", query.username.as_deref().unwrap_or_default());
        v.text("search", query.search.as_deref().unwrap_or_default());
        let search = query
            .search
            .as_deref()
            .map(str::to_lowercase)
            .filter(|s| !s.is_empty());
        if search
            .as_deref()
            .is_some_and(|s| s.chars().count() > MAX_SEARCH_CHARS)
        {
            v.push(
                "search",
                format!("must be at most {MAX_SEARCH_CHARS} characters"),
            );
        }
        if query.offset > MAX_LIST_OFFSET {
            v.push("offset", format!("must be at most {MAX_LIST_OFFSET}"));
        }
        if page.after.is_some() && query.offset > 0 {
            v.push("offset", "cannot be combined with page_token");
        }
        if page.after.is_some() && !query.order.is_default() {
            v.push(
                "page_token",
                "only works with the default order (id ascending)",
            );
        }
        v.finish()?;
        let filter = UserFilter {
            emails: query
                .emails
                .iter()
                .map(|e| e.trim().to_lowercase())
                .collect(),
            username: query.username.as_deref().map(str::to_lowercase),
            standard_only,
            search,
            order: query.order,
            offset: query.offset,
        };
        let mut users = self.repo.list_users(&filter, page).await?;
        let mut next_page_token = pagination::next_token(&mut users, page.limit, |u| u.id);
        if !query.order.is_default() {
            next_page_token.clear();
        }
        let total_count = if query.include_total_count {
            Some(self.repo.count_users(&filter).await?)
        } else {
            None
        };
        Ok(UserPage {
            users,
            next_page_token,
            total_count,
        })
    }
}
