//! Security issue, High item 1: one request must not exhaust the server's memory. A
//! CreateApiKey with 2,000,000 empty `scopes` (4 MB, under tonic's 4 MiB default) used to record
//! one violation per entry and took the server from 65 MiB to 1.48 GiB; ListMembers with a huge
//! `user_handles` list did the same for any member, read-only keys included. Now every service
//! decodes at most its cap (`identity_server::limits`), every repeated field is count-checked
//! before its entries are read (`identity_core::service::bounds`) and an error keeps at most
//! `identity_core::MAX_VIOLATIONS` violations. The resident memory of the real binary under the
//! largest request of every RPC is measured in `crates/server/tests/rss.rs`.

use identity_api::pb;
use identity_core::MAX_VIOLATIONS;
use identity_server::limits;
use identity_testkit::{TestApp, with_auth};
use prost::Message as _;
use tonic::Code;

use crate::support::{Must as _, key_request, violations};

const PASSWORD: &str = "member-password-1234";
/// What tonic answers for a message over the decode cap.
const OVER_CAP: &[Code] = &[Code::OutOfRange, Code::ResourceExhausted];

both!(one_request_cannot_exhaust_memory);

/// `count` empty strings: 2 encoded bytes each, the cheapest entry of a repeated field.
fn empties(count: usize) -> Vec<String> {
    vec![String::new(); count]
}

/// As many empty strings as keep `message` (after `fill` puts them in) at most `cap` bytes.
fn fill_to<M: prost::Message>(cap: usize, mut message: M, fill: impl Fn(&mut M, usize)) -> M {
    let base = message.encoded_len();
    let mut n = cap.saturating_sub(base) / 2;
    loop {
        fill(&mut message, n);
        if message.encoded_len() <= cap {
            return message;
        }
        n -= 1;
    }
}

/// An INVALID_ARGUMENT refusal naming `field`, with at most `MAX_VIOLATIONS` violations.
#[track_caller]
fn assert_bounded_refusal(status: &tonic::Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let fields = violations(status);
    assert!(
        !fields.is_empty() && fields.len() <= MAX_VIOLATIONS,
        "{} violations: {fields:?}",
        fields.len()
    );
    assert!(fields.iter().any(|f| f == field), "{fields:?}");
    assert!(
        status.message().len() < 16 * 1024,
        "{}",
        status.message().len()
    );
}

async fn one_request_cannot_exhaust_memory(app: TestApp) {
    let admin = app.init_admin().await;
    let org = app.default_organization(&admin).await;
    app.create_user(&admin, "member", PASSWORD).await;
    let member = app.login("member", PASSWORD).await;
    let (_, read_key) = app
        .create_api_key(
            &member,
            pb::CreateApiKeyRequest {
                role: pb::ApiKeyRole::Read as i32,
                ..key_request("read-only")
            },
        )
        .await;
    let cap = limits::GATEWAY_FED_SERVICE;

    // The attack of the report: 2,000,000 empty scopes, a 4 MB message (under tonic's 4 MiB
    // default). Over the cap now: refused before it is decoded.
    let attack = pb::CreateApiKeyRequest {
        scopes: empties(2_000_000),
        ..key_request("attack")
    };
    assert!(attack.encoded_len() < 4 * 1024 * 1024);
    let s = app
        .api_keys()
        .create_api_key(with_auth(attack, &member))
        .await
        .must_fail_with_any(OVER_CAP);
    assert!(s.message().contains("too large"), "{s:?}");

    // The same attack right under the cap: one violation, for the count.
    let under = fill_to(cap, key_request("attack"), |m, n| m.scopes = empties(n));
    assert!(under.scopes.len() > 30_000, "{}", under.scopes.len());
    let s = app
        .api_keys()
        .create_api_key(with_auth(under, &member))
        .await
        .must_fail(Code::InvalidArgument);
    assert_bounded_refusal(&s, "scopes");
    assert_eq!(violations(&s), ["scopes"]);

    // Every list at its count limit, every entry bad: many violations, at most 16 reported.
    let many_bad = pb::CreateApiKeyRequest {
        scopes: vec!["\u{7}".to_owned(); 64],
        dataset_ids: vec!["not-a-uuid".to_owned(); 256],
        organization_ids: vec!["not-a-uuid".to_owned(); 256],
        ..key_request("")
    };
    let s = app
        .api_keys()
        .create_api_key(with_auth(many_bad, &member))
        .await
        .must_fail(Code::InvalidArgument);
    assert_bounded_refusal(&s, "name");
    assert_eq!(violations(&s).len(), MAX_VIOLATIONS);

    // ListMembers with a huge `user_handles` list, by a read-only key of a plain member.
    let handles = fill_to(
        cap,
        pb::ListMembersRequest {
            organization_id: org.id.clone(),
            ..Default::default()
        },
        |m, n| m.user_handles = empties(n),
    );
    let s = app
        .orgs()
        .list_members(with_auth(handles, &read_key))
        .await
        .must_fail(Code::InvalidArgument);
    assert_eq!(violations(&s), ["user_handles"]);
    let over = pb::ListMembersRequest {
        organization_id: org.id.clone(),
        user_handles: vec!["user-0".to_owned(); 40_000],
        ..Default::default()
    };
    app.orgs()
        .list_members(with_auth(over, &read_key))
        .await
        .must_fail_with_any(OVER_CAP);
    // The e-mail filter of ListMembers and ListUsers, and UpdateUser's field mask.
    let emails = fill_to(
        cap,
        pb::ListMembersRequest {
            organization_id: org.id.clone(),
            ..Default::default()
        },
        |m, n| m.emails = empties(n),
    );
    let s = app
        .orgs()
        .list_members(with_auth(emails, &member))
        .await
        .must_fail(Code::InvalidArgument);
    assert_eq!(violations(&s), ["emails"]);
    let users = fill_to(cap, pb::ListUsersRequest::default(), |m, n| {
        m.emails = empties(n);
    });
    let s = app
        .users()
        .list_users(with_auth(users, &admin))
        .await
        .must_fail(Code::InvalidArgument);
    assert_eq!(violations(&s), ["emails"]);
    let mask = fill_to(
        cap,
        pb::UpdateUserRequest {
            user_id: 1,
            user: Some(pb::UserUpdate::default()),
            update_mask: Some(prost_types::FieldMask::default()),
        },
        |m, n| {
            m.update_mask = Some(prost_types::FieldMask { paths: empties(n) });
        },
    );
    let s = app
        .users()
        .update_user(with_auth(mask, &admin))
        .await
        .must_fail(Code::InvalidArgument);
    assert_eq!(violations(&s), ["update_mask"]);
    // One path as long as the cap allows, quoted by its violation: the answer stays small.
    let long_path = pb::UpdateUserRequest {
        user_id: 1,
        user: Some(pb::UserUpdate::default()),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["\u{1}".repeat(60_000)],
        }),
    };
    let s = app
        .users()
        .update_user(with_auth(long_path, &admin))
        .await
        .must_fail(Code::InvalidArgument);
    assert_bounded_refusal(&s, "update_mask");

    // One string as long as the cap allows, on a public RPC: refused by its length check.
    let login = fill_to(
        limits::GATEWAY_FED_SERVICE,
        pb::LoginRequest {
            identifier: "member".to_owned(),
            password: String::new(),
        },
        |m, n| m.password = "p".repeat(2 * n),
    );
    app.auth()
        .login(login)
        .await
        .must_fail_with_any(&[Code::InvalidArgument, Code::Unauthenticated]);
    // TeamService has the smallest cap of the identity services.
    app.teams()
        .create_team(with_auth(
            pb::CreateTeamRequest {
                name: "t".repeat(limits::TEAM_SERVICE + 1),
            },
            &admin,
        ))
        .await
        .must_fail_with_any(OVER_CAP);

    // REST: a JSON array inside a body of up to 64 KiB (the gateway's limit) reaches the same
    // count check, through a message under the cap: a 400, never a 413/429/5xx.
    let (_, write_key) = app.create_api_key(&member, key_request("trieve")).await;
    let http = app
        .http_addr
        .unwrap_or_else(|| panic!("the test server runs the gateway"));
    let mut body = String::from(r#"{"name":"x","role":0,"scopes":["#);
    while body.len() + 3 + 4 <= 64 * 1024 {
        body.push_str("\"\",");
    }
    body.push_str("\"\"]}");
    assert!(body.len() <= 64 * 1024, "{}", body.len());
    let resp = reqwest::Client::new()
        .post(format!("http://{http}/api/user/api_key"))
        .header("Authorization", &write_key)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST /api/user/api_key: {e}"));
    assert_eq!(resp.status(), reqwest::StatusCode::BAD_REQUEST);
    let text = resp.text().await.unwrap_or_default();
    assert!(text.len() < 4 * 1024 && text.contains("scopes"), "{text}");

    // The server still serves, and nothing was created by the refused calls.
    let keys = app.all_api_keys(&member).await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    let listed = app
        .orgs()
        .list_members(with_auth(
            pb::ListMembersRequest {
                organization_id: org.id,
                ..Default::default()
            },
            &read_key,
        ))
        .await
        .must();
    assert_eq!(listed.members.len(), 2);
}
