//! Cursor pagination over a few hundred users.

use std::collections::BTreeSet;

use futures::{StreamExt as _, TryStreamExt as _};
use identity_api::pb;
use identity_testkit::{TestApp, email_of, with_auth};
use tonic::Code;

use crate::support::Must as _;

const USERS: usize = 250;

both!(list_users_pages_without_gaps_or_duplicates);

fn username(i: usize) -> String {
    format!("user{i:03}")
}

async fn list_users_pages_without_gaps_or_duplicates(app: TestApp) {
    let admin = app.init_admin().await;
    // Without passwords (no hashing), at most 8 at a time.
    let created: Vec<pb::User> = futures::stream::iter(0..USERS)
        .map(|i| {
            let mut client = app.users();
            let admin = admin.clone();
            async move {
                client
                    .create_user(with_auth(
                        pb::CreateUserRequest {
                            username: username(i),
                            email: Some(email_of(&username(i))),
                            ..Default::default()
                        },
                        &admin,
                    ))
                    .await
                    .map(|r| r.into_inner().user.unwrap_or_default())
            }
        })
        .buffer_unordered(8)
        .try_collect()
        .await
        .unwrap_or_else(|s| panic!("creating {USERS} users failed: {s:?}"));
    assert_eq!(created.len(), USERS);
    assert!(created.iter().all(|u| !u.has_password));
    let mut expected: Vec<i64> = created.iter().map(|u| u.id).collect();
    expected.push(1);
    expected.sort_unstable();
    assert_eq!(
        expected.iter().collect::<BTreeSet<_>>().len(),
        USERS + 1,
        "ids are unique"
    );

    // page_size 100 over 251 users: 100 + 100 + 51.
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .users()
            .list_users(with_auth(
                pb::ListUsersRequest {
                    page_size: 100,
                    page_token: token.clone(),
                    ..Default::default()
                },
                &admin,
            ))
            .await
            .must();
        pages.push(page.users.len());
        seen.extend(page.users.iter().map(|u| u.id));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
        assert!(pages.len() < 10, "pagination does not terminate: {pages:?}");
    }
    assert_eq!(pages, vec![100, 100, 51], "page sizes");
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "ascending id order without duplicates"
    );
    assert_eq!(seen, expected, "every user exactly once, no gaps");

    // Page sizes are capped at 100; the default is 20.
    let capped = app
        .users()
        .list_users(with_auth(
            pb::ListUsersRequest {
                page_size: 1000,
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must();
    assert_eq!(capped.users.len(), 100);
    assert!(!capped.next_page_token.is_empty());
    let default = app
        .users()
        .list_users(with_auth(pb::ListUsersRequest::default(), &admin))
        .await
        .must();
    assert_eq!(default.users.len(), 20);
    assert_eq!(
        default.users.iter().map(|u| u.id).collect::<Vec<_>>(),
        expected[..20].to_vec()
    );

    // A token continues after the same position whatever the page size.
    let first = app
        .users()
        .list_users(with_auth(
            pb::ListUsersRequest {
                page_size: 7,
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must();
    let next = app
        .users()
        .list_users(with_auth(
            pb::ListUsersRequest {
                page_size: 3,
                page_token: first.next_page_token,
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must();
    assert_eq!(
        next.users.iter().map(|u| u.id).collect::<Vec<_>>(),
        expected[7..10].to_vec()
    );

    // Filters: e-mails (case-insensitive) and username.
    let wanted = [username(17), username(42), username(199)];
    // Users were created concurrently, so ids do not follow the names: expect id order.
    let mut wanted_by_id: Vec<(i64, String)> = created
        .iter()
        .filter(|u| wanted.contains(&u.username))
        .map(|u| (u.id, u.username.clone()))
        .collect();
    wanted_by_id.sort_unstable();
    let wanted_in_order: Vec<String> = wanted_by_id.into_iter().map(|(_, name)| name).collect();
    assert_eq!(wanted_in_order.len(), 3);
    let filtered = app
        .users()
        .list_users(with_auth(
            pb::ListUsersRequest {
                emails: vec![
                    email_of(&wanted[0]),
                    email_of(&wanted[1]).to_uppercase(),
                    email_of(&wanted[2]),
                    "nobody@example.com".to_owned(),
                ],
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must();
    let names: Vec<String> = filtered.users.iter().map(|u| u.username.clone()).collect();
    assert_eq!(
        names, wanted_in_order,
        "exactly the matching users, in id order"
    );
    assert!(filtered.next_page_token.is_empty());
    let by_name = app
        .users()
        .list_users(with_auth(
            pb::ListUsersRequest {
                username: Some("USER123".to_owned()),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must();
    assert_eq!(
        by_name
            .users
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        vec!["user123"]
    );
    // Filter and pagination together: 2 of 3 matches, then the last one.
    let first = app
        .users()
        .list_users(with_auth(
            pb::ListUsersRequest {
                page_size: 2,
                emails: wanted.iter().map(|w| email_of(w)).collect(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must();
    assert_eq!(
        first
            .users
            .iter()
            .map(|u| u.username.clone())
            .collect::<Vec<_>>(),
        wanted_in_order[..2].to_vec()
    );
    let rest = app
        .users()
        .list_users(with_auth(
            pb::ListUsersRequest {
                page_size: 2,
                emails: wanted.iter().map(|w| email_of(w)).collect(),
                page_token: first.next_page_token,
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must();
    assert_eq!(
        rest.users
            .iter()
            .map(|u| u.username.clone())
            .collect::<Vec<_>>(),
        vec![wanted_in_order[2].clone()]
    );
    assert!(rest.next_page_token.is_empty());
    // More than 100 e-mails are refused.
    let too_many: Vec<String> = (0..101).map(|i| format!("x{i}@example.com")).collect();
    app.users()
        .list_users(with_auth(
            pb::ListUsersRequest {
                emails: too_many,
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must_fail(Code::InvalidArgument);
}
