//! `/v1/organization/users…`: members of the caller's organization.

use axum::{
    Json,
    body::Body,
    extract::{Path, State, rejection::PathRejection},
    http::{HeaderMap, Uri},
};
use identity_api::pb;
use serde_json::Value;

use super::{
    OpenAiError, caller, hex_id,
    model::{self, Deleted, List, OrgUser},
    parse_limit, path_segment, query_pairs,
};
use crate::{AppState, body::read_json};

/// Server field names → this route's parameter names.
fn param_of(field: &str) -> String {
    match field {
        "after_user_handle" => "after".to_owned(),
        "page_size" => "limit".to_owned(),
        f if f.starts_with("emails") => "emails".to_owned(),
        f => f.to_owned(),
    }
}

fn user_not_found(id: &str) -> OpenAiError {
    OpenAiError::not_found(format!("No such user: {id}."), "user_not_found")
}

/// `GET /v1/organization/users`.
#[utoipa::path(
    get, path = "/v1/organization/users", operation_id = "list-users", tag = "users", security(("ApiKeyAuth" = [])),
    params(
        ("limit" = Option<i32>, Query, minimum = 1, maximum = 100, description = "Page size (default 20)"),
        ("after" = Option<String>, Query, description = "A user id (user-…): list after it"),
        ("emails" = Option<Vec<String>>, Query, description = "Only these e-mails (also `emails[]`)"),
        ("OpenAI-Organization" = Option<String>, Header, description = "Organization handle (org-…); ignored for organization-bound keys; default organization otherwise"),
    ),
    responses(
        (status = 200, description = "A page of organization users", body = List<OrgUser>),
        (status = 400, description = "Invalid parameter (`param` names it)", body = crate::openapi::openai::ErrorBody),
        crate::openapi::openai::CommonErrors,
    )
)]
pub(crate) async fn list(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<List<OrgUser>>, OpenAiError> {
    let c = caller(&st, &headers).await?;
    let pairs = query_pairs(&uri)?;
    let limit = parse_limit(&pairs)?;
    let after = super::query_value(&pairs, "after")
        .filter(|a| !a.is_empty())
        .map(str::to_owned);
    if let Some(a) = &after
        && hex_id(a, "user-").is_none()
    {
        return Err(OpenAiError::invalid(
            "after",
            format!("Invalid 'after': {a:?} is not a user id."),
        ));
    }
    let emails: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "emails" || k == "emails[]")
        .map(|(_, v)| v.clone())
        .collect();
    let msg = pb::ListMembersRequest {
        organization_id: c.org_id.clone(),
        page_size: limit,
        emails,
        after_user_handle: after,
        ..Default::default()
    };
    let page = st
        .upstream
        .list_members(&c.cred, msg)
        .await
        .map_err(|e| OpenAiError::upstream_with(&e, param_of))?;
    let data: Vec<OrgUser> = page.members.iter().map(model::org_user).collect();
    Ok(Json(List::new(
        data,
        !page.next_page_token.is_empty(),
        |u| u.id.clone(),
    )))
}

/// The member with handle `id` in the caller's organization; 404 otherwise.
async fn member(st: &AppState, c: &super::Caller, id: &str) -> Result<pb::Member, OpenAiError> {
    if hex_id(id, "user-").is_none() {
        return Err(user_not_found(id));
    }
    let msg = pb::ListMembersRequest {
        organization_id: c.org_id.clone(),
        page_size: 1,
        user_handles: vec![id.to_owned()],
        ..Default::default()
    };
    let page = st.upstream.list_members(&c.cred, msg).await?;
    page.members
        .into_iter()
        .next()
        .ok_or_else(|| user_not_found(id))
}

/// `GET /v1/organization/users/{user_id}`.
#[utoipa::path(
    get, path = "/v1/organization/users/{user_id}", operation_id = "retrieve-user", tag = "users", security(("ApiKeyAuth" = [])),
    params(("user_id" = String, Path, description = "User id (user-…)"), ("OpenAI-Organization" = Option<String>, Header, description = "Organization handle (org-…); ignored for organization-bound keys; default organization otherwise")),
    responses(
        (status = 200, description = "The organization user", body = OrgUser),
        (status = 404, description = "No such user in the organization", body = crate::openapi::openai::ErrorBody),
        crate::openapi::openai::CommonErrors,
    )
)]
pub(crate) async fn retrieve(
    State(st): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<OrgUser>, OpenAiError> {
    let c = caller(&st, &headers).await?;
    let id = path_segment(path, "user")?;
    let m = member(&st, &c, &id).await?;
    Ok(Json(model::org_user(&m)))
}

/// The role a modify body asks for: `None` when absent or `null`.
fn requested_role(body: &Value) -> Result<Option<pb::OrganizationRole>, OpenAiError> {
    let Value::Object(map) = body else {
        return Err(OpenAiError::invalid(
            "body",
            "The request body must be a JSON object.",
        ));
    };
    match map.get("role") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => model::parse_role(s).map(Some).ok_or_else(|| {
            OpenAiError::invalid(
                "role",
                format!("Invalid 'role': {s:?}. Expected one of 'owner' or 'reader'."),
            )
        }),
        Some(other) => Err(OpenAiError::invalid(
            "role",
            format!("Invalid 'role': expected a string, got {other}."),
        )),
    }
}

/// `POST /v1/organization/users/{user_id}`: change the role.
#[utoipa::path(
    post, path = "/v1/organization/users/{user_id}", operation_id = "modify-user", tag = "users", security(("ApiKeyAuth" = [])),
    params(("user_id" = String, Path, description = "User id (user-…)"), ("OpenAI-Organization" = Option<String>, Header, description = "Organization handle (org-…); ignored for organization-bound keys; default organization otherwise")),
    request_body = crate::openapi::openai::UserRoleUpdateRequest,
    responses(
        (status = 200, description = "The organization user", body = OrgUser),
        (status = 400, description = "Invalid parameter (`param` names it)", body = crate::openapi::openai::ErrorBody),
        (status = 404, description = "No such user in the organization", body = crate::openapi::openai::ErrorBody),
        (status = 413, description = "Body over the size limit", body = crate::openapi::openai::ErrorBody),
        crate::openapi::openai::CommonErrors,
    )
)]
pub(crate) async fn update(
    State(st): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<Json<OrgUser>, OpenAiError> {
    let c = caller(&st, &headers).await?;
    let id = path_segment(path, "user")?;
    let body = read_json(&headers, body, st.config.body_limit).await?;
    let role = requested_role(&body)?;
    let m = member(&st, &c, &id).await?;
    let Some(role) = role else {
        return Ok(Json(model::org_user(&m)));
    };
    let user_id = m.user.as_ref().map(|u| u.id).unwrap_or_default();
    let msg = pb::UpdateMemberRoleRequest {
        organization_id: c.org_id.clone(),
        user_id,
        role: role.into(),
    };
    let updated = st.upstream.update_member_role(&c.cred, msg).await?;
    Ok(Json(model::org_user(&updated)))
}

/// `DELETE /v1/organization/users/{user_id}`: remove from this organization only.
#[utoipa::path(
    delete, path = "/v1/organization/users/{user_id}", operation_id = "delete-user", tag = "users", security(("ApiKeyAuth" = [])),
    params(("user_id" = String, Path, description = "User id (user-…)"), ("OpenAI-Organization" = Option<String>, Header, description = "Organization handle (org-…); ignored for organization-bound keys; default organization otherwise")),
    responses(
        (status = 200, description = "Removed from the organization", body = Deleted),
        (status = 400, description = "Invalid parameter (`param` names it)", body = crate::openapi::openai::ErrorBody),
        (status = 404, description = "No such user in the organization", body = crate::openapi::openai::ErrorBody),
        crate::openapi::openai::CommonErrors,
    )
)]
pub(crate) async fn delete(
    State(st): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Deleted>, OpenAiError> {
    let c = caller(&st, &headers).await?;
    let id = path_segment(path, "user")?;
    let m = member(&st, &c, &id).await?;
    let user_id = m.user.as_ref().map(|u| u.id).unwrap_or_default();
    let msg = pb::RemoveMemberRequest {
        organization_id: c.org_id.clone(),
        user_id,
    };
    st.upstream.remove_member(&c.cred, msg).await?;
    Ok(Json(Deleted {
        object: "organization.user.deleted",
        id,
        deleted: true,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn roles_in_bodies() {
        assert_eq!(requested_role(&json!({})).ok(), Some(None));
        assert_eq!(requested_role(&json!({"role": null})).ok(), Some(None));
        assert_eq!(
            requested_role(&json!({"role": "reader", "role_id": "x"})).ok(),
            Some(Some(pb::OrganizationRole::Member))
        );
        for bad in [json!({"role": "member"}), json!({"role": 1}), json!([])] {
            assert!(requested_role(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn server_fields_become_parameters() {
        assert_eq!(param_of("after_user_handle"), "after");
        assert_eq!(param_of("emails"), "emails");
        assert_eq!(param_of("page_size"), "limit");
    }
}
