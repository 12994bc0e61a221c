//! `SeaRepo` against the real migrations, on SQLite (a temporary file) and on Postgres.
//!
//! Postgres: the server named by `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). Every test creates its own database
//! `identity_store_test_<uuid>` and drops it afterwards, touching no other database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{path::PathBuf, time::Duration};

use chrono::{DateTime, Utc};
use identity_core::{
    Entity, Error, Precondition,
    domain::{
        Email, GlobalRole, KeyRole, NewApiKey, NewUser, OrgRole, Preferences, TeamRole, UserFilter,
        UserOrder, UserOrderField, UserPatch, Username,
    },
    pagination::PageRequest,
    ports::Repo,
};
use identity_store::{ConnectSettings, DatabaseConnection, Migrator, SeaRepo, connect, migrate};
use sea_orm::{ConnectionTrait, Database};
use sea_orm_migration::MigratorTrait;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Run each listed `async fn name(Backend)` as two tests, `name::sqlite` and `name::postgres`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Backend::Postgres).await;
            }
        }
    )*};
}

on_both_backends!(
    migrations_apply_twice,
    users_are_unique_case_insensitively,
    init_admin_creates_user_one_and_the_default_org,
    concurrent_init_admin_has_one_winner,
    list_users_pages_and_filters,
    list_users_search_order_offset_and_count,
    update_user_applies_the_patch,
    delete_user_cascades_and_returns_digests,
    api_keys_lifecycle,
    primary_key_semantics,
    timestamps_round_trip_at_microseconds,
    organizations_and_members,
    teams_and_team_members,
    closed_pool_is_unavailable,
    key_grants_join_key_owner_and_memberships,
    key_uses_are_written_in_batches,
    last_admin_and_last_owner_are_kept_by_the_store,
    username_skeletons_are_unique_and_backfilled,
);

enum Cleanup {
    Dir(PathBuf),
    Postgres { admin_url: String, name: String },
}

struct TestDb {
    repo: SeaRepo,
    cleanup: Cleanup,
}

fn pg_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `base` with its database name replaced by `name`.
fn pg_url_for(base: &str, name: &str) -> String {
    let (without_query, query) = match base.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (base, None),
    };
    let scheme_end = without_query.find("://").map_or(0, |i| i + 3);
    let path_start = without_query[scheme_end..]
        .find('/')
        .map_or(without_query.len(), |i| scheme_end + i);
    let mut url = format!("{}/{name}", &without_query[..path_start]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

impl TestDb {
    /// A fresh, migrated database.
    async fn new(backend: Backend) -> Self {
        let (url, cleanup) = match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir()
                    .join(format!("identity_store_test_{}", Uuid::new_v4().simple()));
                // The directory does not exist yet: connect creates it, and appends ?mode=rwc.
                let url = format!(
                    "sqlite://{}",
                    dir.join("nested").join("identity.db").display()
                );
                (url, Cleanup::Dir(dir))
            }
            Backend::Postgres => {
                let admin_url = pg_admin_url();
                let name = format!("identity_store_test_{}", Uuid::new_v4().simple());
                let admin = Database::connect(admin_url.as_str())
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create test database");
                admin.close().await.expect("close admin pool");
                (
                    pg_url_for(&admin_url, &name),
                    Cleanup::Postgres { admin_url, name },
                )
            }
        };
        let db = connect(&url, ConnectSettings::default())
            .await
            .expect("connect");
        migrate(&db).await.expect("migrate");
        Self {
            repo: SeaRepo::new(db),
            cleanup,
        }
    }

    fn db(&self) -> &DatabaseConnection {
        self.repo.connection()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime (and possibly while unwinding), so the
                // async cleanup gets a runtime of its own on another thread.
                let dropped = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    rt.block_on(async move {
                        let admin = Database::connect(admin_url.as_str())
                            .await
                            .expect("connect for cleanup");
                        admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .await
                            .expect("drop test database");
                        let _ = admin.close().await;
                    });
                })
                .join();
                if dropped.is_err() {
                    eprintln!("could not drop a test database");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn t0() -> DateTime<Utc> {
    at("2026-01-02T03:04:05.123456Z")
}

fn page(after: Option<i64>, limit: u64) -> PageRequest {
    PageRequest { after, limit }
}

fn new_user(username: &str, email: Option<&str>, role: GlobalRole) -> NewUser {
    NewUser {
        uid: Uuid::new_v4(),
        username: Username::parse(username).unwrap(),
        email: email.map(|e| Email::parse(e).unwrap()),
        display_name: format!("{username} display"),
        global_role: role,
        email_verified: false,
        password_hash: Some("$argon2id$v=19$fake".to_owned()),
        preferences: Preferences::default(),
        now: t0(),
    }
}

fn standard(username: &str, email: Option<&str>) -> NewUser {
    new_user(username, email, GlobalRole::Standard)
}

fn new_key(user_id: i64, digest_byte: u8, primary: bool, now: DateTime<Utc>) -> NewApiKey {
    NewApiKey {
        uid: Uuid::new_v4(),
        user_id,
        name: format!("key {digest_byte}"),
        description: "for tests".to_owned(),
        prefix: format!("idk_{digest_byte:02x}"),
        digest: [digest_byte; 32],
        role: KeyRole::Write,
        scopes: vec!["portainer".to_owned(), "tyk".to_owned()],
        organization_id: None,
        dataset_ids: vec![Uuid::new_v4()],
        organization_ids: Vec::new(),
        expires_at: None,
        primary,
        minted_by_session: false,
        now,
    }
}

fn assert_exists(result: Result<impl std::fmt::Debug, Error>, entity: Entity, field: &str) {
    match result {
        Err(Error::AlreadyExists {
            entity: e,
            field: f,
        }) if e == entity && f == field => {}
        other => panic!("expected AlreadyExists {{ {entity:?}, {field:?} }}, got {other:?}"),
    }
}

fn assert_not_found(result: Result<impl std::fmt::Debug, Error>, entity: Entity) {
    match result {
        Err(Error::NotFound { entity: e }) if e == entity => {}
        other => panic!("expected NotFound {{ {entity:?} }}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Tests on both backends
// ---------------------------------------------------------------------------------------------

async fn migrations_apply_twice(b: Backend) {
    let t = TestDb::new(b).await;
    migrate(t.db()).await.unwrap();
    migrate(t.db()).await.unwrap();
    assert!(
        Migrator::get_pending_migrations(t.db())
            .await
            .unwrap()
            .is_empty()
    );
    let applied: Vec<String> = Migrator::get_applied_migrations(t.db())
        .await
        .unwrap()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    assert_eq!(
        applied,
        [
            "m20261123_000001_create_users",
            "m20261123_000002_create_organizations",
            "m20261123_000003_create_memberships",
            "m20261123_000004_create_teams",
            "m20261123_000005_create_team_memberships",
            "m20261123_000006_create_api_keys",
            "m20261123_000007_create_login_failures",
            "m20261123_000008_create_idempotency_records",
            "m20261204_000009_add_api_keys_minted_by_session",
            "m20261204_000010_add_users_username_skeleton",
        ]
    );
    t.repo.ping().await.unwrap();
}

async fn users_are_unique_case_insensitively(b: Backend) {
    let t = TestDb::new(b).await;
    let alice = t
        .repo
        .create_user(standard("Alice", Some("Alice@Example.com")), None)
        .await
        .unwrap();
    assert_eq!(alice.username, "Alice");
    assert_eq!(alice.email.as_deref(), Some("Alice@Example.com"));
    assert_eq!(alice.global_role, GlobalRole::Standard);
    assert_eq!(alice.token_issued_at, t0());

    assert_eq!(
        t.repo.user_by_username("alice").await.unwrap().as_ref(),
        Some(&alice)
    );
    assert_eq!(
        t.repo
            .user_by_email("alice@example.com")
            .await
            .unwrap()
            .as_ref(),
        Some(&alice)
    );
    assert_eq!(
        t.repo.user_by_uid(alice.uid).await.unwrap().as_ref(),
        Some(&alice)
    );
    assert_eq!(
        t.repo.user_by_id(alice.id).await.unwrap().as_ref(),
        Some(&alice)
    );
    assert!(
        t.repo.user_by_username("Alice").await.unwrap().is_none(),
        "lookups take the lower-cased key"
    );
    assert!(t.repo.user_by_id(alice.id + 100).await.unwrap().is_none());

    assert_exists(
        t.repo.create_user(standard("ALICE", None), None).await,
        Entity::User,
        "username",
    );
    assert_exists(
        t.repo
            .create_user(standard("bob", Some("alice@EXAMPLE.com")), None)
            .await,
        Entity::User,
        "email",
    );
    // Users without e-mail don't clash with each other.
    t.repo
        .create_user(standard("carol", None), None)
        .await
        .unwrap();
    t.repo
        .create_user(standard("dave", None), None)
        .await
        .unwrap();

    // A failed membership insert rolls the user back.
    let missing_org = Uuid::new_v4();
    assert_not_found(
        t.repo
            .create_user(standard("erin", None), Some((missing_org, OrgRole::Member)))
            .await,
        Entity::Organization,
    );
    assert!(t.repo.user_by_username("erin").await.unwrap().is_none());
}

async fn init_admin_creates_user_one_and_the_default_org(b: Backend) {
    let t = TestDb::new(b).await;
    assert!(!t.repo.admin_exists().await.unwrap());
    assert!(t.repo.default_organization().await.unwrap().is_none());

    let org_id = Uuid::new_v4();
    let admin = new_user(
        "admin",
        Some("admin@example.com"),
        GlobalRole::Administrator,
    );
    let (user, org) = t
        .repo
        .init_admin(admin, org_id, "Default".to_owned())
        .await
        .unwrap();
    assert_eq!(user.id, 1);
    assert!(user.is_admin());
    assert_eq!(org.id, org_id);
    assert_eq!(org.name, "Default");
    assert!(org.is_default);
    assert_eq!(org.created_at, t0());

    assert!(t.repo.admin_exists().await.unwrap());
    assert_eq!(t.repo.count_admins().await.unwrap(), 1);
    assert_eq!(
        t.repo.default_organization().await.unwrap(),
        Some(org.clone())
    );
    let m = t.repo.membership(org_id, 1).await.unwrap().unwrap();
    assert_eq!(m.role, OrgRole::Owner);
    assert_eq!(t.repo.count_owners(org_id).await.unwrap(), 1);

    let again = new_user("other", None, GlobalRole::Administrator);
    assert_exists(
        t.repo
            .init_admin(again, Uuid::new_v4(), "Other".to_owned())
            .await,
        Entity::Administrator,
        "setup",
    );
    assert!(t.repo.user_by_username("other").await.unwrap().is_none());
}

async fn concurrent_init_admin_has_one_winner(b: Backend) {
    let t = TestDb::new(b).await;
    let (r1, r2) = tokio::join!(
        t.repo.init_admin(
            new_user("admin1", None, GlobalRole::Administrator),
            Uuid::new_v4(),
            "Org one".to_owned()
        ),
        t.repo.init_admin(
            new_user("admin2", None, GlobalRole::Administrator),
            Uuid::new_v4(),
            "Org two".to_owned()
        ),
    );
    let (winner, loser) = match (r1, r2) {
        (Ok(w), l @ Err(_)) | (l @ Err(_), Ok(w)) => (w, l),
        other => panic!("expected exactly one winner, got {other:?}"),
    };
    assert_exists(loser, Entity::Administrator, "setup");
    assert_eq!(winner.0.id, 1);
    assert_eq!(t.repo.count_admins().await.unwrap(), 1);
    assert_eq!(
        t.repo.default_organization().await.unwrap().map(|o| o.id),
        Some(winner.1.id)
    );

    // Same names on both sides: the loser must still report the setup clash.
    let t = TestDb::new(b).await;
    let (r1, r2) = tokio::join!(
        t.repo.init_admin(
            new_user("admin", None, GlobalRole::Administrator),
            Uuid::new_v4(),
            "Default".to_owned()
        ),
        t.repo.init_admin(
            new_user("admin", None, GlobalRole::Administrator),
            Uuid::new_v4(),
            "Default".to_owned()
        ),
    );
    let loser = match (r1, r2) {
        (Ok(_), l @ Err(_)) | (l @ Err(_), Ok(_)) => l,
        other => panic!("expected exactly one winner, got {other:?}"),
    };
    assert_exists(loser, Entity::Administrator, "setup");

    // Many at once, from several tasks.
    let t = TestDb::new(b).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..6 {
        let repo = t.repo.clone();
        tasks.spawn(async move {
            let admin = new_user(&format!("admin{i}"), None, GlobalRole::Administrator);
            repo.init_admin(admin, Uuid::new_v4(), format!("Org {i}"))
                .await
        });
    }
    let results = tasks.join_all().await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    for r in results.into_iter().filter(Result::is_err) {
        assert_exists(r, Entity::Administrator, "setup");
    }
    assert_eq!(t.repo.count_admins().await.unwrap(), 1);
    assert_eq!(
        t.repo
            .list_users(&UserFilter::default(), page(None, 10))
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn list_users_pages_and_filters(b: Backend) {
    let t = TestDb::new(b).await;
    let admin = t
        .repo
        .create_user(
            new_user("root", Some("root@example.com"), GlobalRole::Administrator),
            None,
        )
        .await;
    let admin = admin.unwrap();
    let mut ids = vec![admin.id];
    for i in 0..4 {
        let u = t
            .repo
            .create_user(
                standard(&format!("user{i}"), Some(&format!("User{i}@Example.com"))),
                None,
            )
            .await;
        ids.push(u.unwrap().id);
    }
    let all = UserFilter::default();

    let p1 = t.repo.list_users(&all, page(None, 2)).await.unwrap();
    assert_eq!(
        p1.iter().map(|u| u.id).collect::<Vec<_>>(),
        ids[..3],
        "limit + 1 rows"
    );
    let p2 = t
        .repo
        .list_users(&all, page(Some(ids[1]), 2))
        .await
        .unwrap();
    assert_eq!(p2.iter().map(|u| u.id).collect::<Vec<_>>(), ids[2..5]);
    let p3 = t
        .repo
        .list_users(&all, page(Some(ids[3]), 2))
        .await
        .unwrap();
    assert_eq!(p3.iter().map(|u| u.id).collect::<Vec<_>>(), ids[4..]);
    assert!(
        t.repo
            .list_users(&all, page(Some(ids[4]), 2))
            .await
            .unwrap()
            .is_empty()
    );

    let by_email = UserFilter {
        emails: vec!["user1@example.com".into(), "user3@example.com".into()],
        ..all.clone()
    };
    let found = t.repo.list_users(&by_email, page(None, 10)).await.unwrap();
    assert_eq!(
        found
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        ["user1", "user3"]
    );

    let standard_only = UserFilter {
        standard_only: true,
        ..all.clone()
    };
    let found = t
        .repo
        .list_users(&standard_only, page(None, 10))
        .await
        .unwrap();
    assert_eq!(found.len(), 4);
    assert!(found.iter().all(|u| u.global_role == GlobalRole::Standard));

    let by_name = UserFilter {
        username: Some("user2".into()),
        ..all
    };
    let found = t.repo.list_users(&by_name, page(None, 10)).await.unwrap();
    assert_eq!(found.iter().map(|u| u.id).collect::<Vec<_>>(), [ids[3]]);
}

async fn list_users_search_order_offset_and_count(b: Backend) {
    let t = TestDb::new(b).await;
    let mk = |name: &str, email: Option<&str>, display: &str| {
        let mut u = standard(name, email);
        u.display_name = display.to_owned();
        u
    };
    let specs = [
        mk("carol", Some("Carol@Example.com"), "Zed Carol"),
        mk("alice", Some("alice@other.org"), "Bob's Friend"),
        mk("bob", None, "Anna 100%"),
        mk("dave_x", Some("dave@example.com"), "Dave"),
        mk("davexx", Some("davexx@example.com"), "DAVE Upper"),
    ];
    let mut ids = Vec::new();
    for spec in specs {
        ids.push(t.repo.create_user(spec, None).await.unwrap().id);
    }
    let names = |users: &[identity_core::domain::User]| {
        users.iter().map(|u| u.username.clone()).collect::<Vec<_>>()
    };
    let search = |s: &str| UserFilter {
        search: Some(s.to_owned()),
        ..UserFilter::default()
    };

    // Username, e-mail and display name, case-insensitively (inputs come lower-cased).
    let found = t.repo.list_users(&search("example"), page(None, 10)).await;
    assert_eq!(names(&found.unwrap()), ["carol", "dave_x", "davexx"]);
    let found = t.repo.list_users(&search("bob"), page(None, 10)).await;
    assert_eq!(
        names(&found.unwrap()),
        ["alice", "bob"],
        "display name or username"
    );
    let found = t.repo.list_users(&search("upper"), page(None, 10)).await;
    assert_eq!(
        names(&found.unwrap()),
        ["davexx"],
        "display name lower-cased"
    );
    // Wildcards are literal.
    let found = t.repo.list_users(&search("_"), page(None, 10)).await;
    assert_eq!(names(&found.unwrap()), ["dave_x"]);
    let found = t.repo.list_users(&search("%"), page(None, 10)).await;
    assert_eq!(names(&found.unwrap()), ["bob"]);
    let found = t.repo.list_users(&search("!"), page(None, 10)).await;
    assert!(found.unwrap().is_empty());
    assert_eq!(t.repo.count_users(&search("dave")).await.unwrap(), 2);
    assert_eq!(t.repo.count_users(&UserFilter::default()).await.unwrap(), 5);

    // Orders, ties by id, with offset; counts ignore order and offset.
    let ordered = |field, descending, offset| UserFilter {
        order: UserOrder { field, descending },
        offset,
        ..UserFilter::default()
    };
    let found = t
        .repo
        .list_users(&ordered(UserOrderField::Username, false, 0), page(None, 10))
        .await;
    assert_eq!(
        names(&found.unwrap()),
        ["alice", "bob", "carol", "dave_x", "davexx"]
    );
    let found = t
        .repo
        .list_users(&ordered(UserOrderField::Username, true, 1), page(None, 2))
        .await;
    assert_eq!(
        names(&found.unwrap()),
        ["dave_x", "carol", "bob"],
        "offset 1, limit + 1 rows"
    );
    let found = t
        .repo
        .list_users(&ordered(UserOrderField::Email, false, 0), page(None, 10))
        .await;
    assert_eq!(
        names(&found.unwrap()),
        ["bob", "alice", "carol", "dave_x", "davexx"],
        "no e-mail sorts first"
    );
    let found = t
        .repo
        .list_users(
            &ordered(UserOrderField::DisplayName, true, 0),
            page(None, 10),
        )
        .await;
    assert_eq!(
        names(&found.unwrap()),
        ["carol", "davexx", "dave_x", "alice", "bob"]
    );
    let found = t
        .repo
        .list_users(&ordered(UserOrderField::Id, true, 3), page(None, 10))
        .await;
    assert_eq!(
        found.unwrap().iter().map(|u| u.id).collect::<Vec<_>>(),
        [ids[1], ids[0]]
    );
    let found = t
        .repo
        .list_users(
            &ordered(UserOrderField::CreatedAt, false, 0),
            page(None, 10),
        )
        .await;
    assert_eq!(
        found.unwrap().iter().map(|u| u.id).collect::<Vec<_>>(),
        ids,
        "equal times tie by id"
    );
    let found = t
        .repo
        .list_users(
            &ordered(UserOrderField::UpdatedAt, false, 10),
            page(None, 10),
        )
        .await;
    assert!(found.unwrap().is_empty());
    assert_eq!(
        t.repo
            .count_users(&ordered(UserOrderField::Email, true, 4))
            .await
            .unwrap(),
        5
    );
}

async fn update_user_applies_the_patch(b: Backend) {
    let t = TestDb::new(b).await;
    let u = t
        .repo
        .create_user(standard("frank", Some("frank@example.com")), None)
        .await
        .unwrap();
    t.repo
        .create_user(standard("grace", Some("grace@example.com")), None)
        .await
        .unwrap();
    let later = at("2026-02-03T04:05:06.654321Z");
    let prefs = Preferences {
        theme_color: "dark".into(),
        show_chat: true,
        ..Preferences::default()
    };
    let patch = UserPatch {
        username: Some(Username::parse("Franky").unwrap()),
        email: Some(Some(Email::parse("Franky@Example.org").unwrap())),
        display_name: Some("Frank Y.".into()),
        global_role: Some(GlobalRole::Administrator),
        email_verified: Some(true),
        preferences: Some(prefs.clone()),
        password_hash: Some("$argon2id$new".into()),
        token_issued_at: Some(later),
        revoke_session_minted_keys: false,
    };
    let updated = t.repo.update_user(u.id, patch, later).await.unwrap();
    assert_eq!(updated.username, "Franky");
    assert_eq!(updated.email.as_deref(), Some("Franky@Example.org"));
    assert_eq!(updated.display_name, "Frank Y.");
    assert_eq!(updated.global_role, GlobalRole::Administrator);
    assert!(updated.email_verified);
    assert_eq!(updated.preferences, prefs);
    assert_eq!(updated.password_hash.as_deref(), Some("$argon2id$new"));
    assert_eq!(updated.token_issued_at, later);
    assert_eq!(updated.updated_at, later);
    assert_eq!(updated.created_at, t0());
    assert_eq!(
        t.repo.user_by_username("franky").await.unwrap(),
        Some(updated.clone())
    );
    assert_eq!(
        t.repo.user_by_email("franky@example.org").await.unwrap(),
        Some(updated.clone())
    );
    assert!(
        t.repo
            .user_by_email("frank@example.com")
            .await
            .unwrap()
            .is_none()
    );

    // An empty patch only moves updated_at; clearing the e-mail frees it.
    let even_later = at("2026-03-01T00:00:00Z");
    let same = t
        .repo
        .update_user(u.id, UserPatch::default(), even_later)
        .await
        .unwrap();
    assert_eq!(same.updated_at, even_later);
    assert_eq!(same.username, "Franky");
    let cleared = t
        .repo
        .update_user(
            u.id,
            UserPatch {
                email: Some(None),
                ..UserPatch::default()
            },
            even_later,
        )
        .await;
    assert_eq!(cleared.unwrap().email, None);
    assert!(
        t.repo
            .user_by_email("franky@example.org")
            .await
            .unwrap()
            .is_none()
    );

    let clash = UserPatch {
        username: Some(Username::parse("GRACE").unwrap()),
        ..UserPatch::default()
    };
    assert_exists(
        t.repo.update_user(u.id, clash, even_later).await,
        Entity::User,
        "username",
    );
    let clash = UserPatch {
        email: Some(Some(Email::parse("grace@example.COM").unwrap())),
        ..UserPatch::default()
    };
    assert_exists(
        t.repo.update_user(u.id, clash, even_later).await,
        Entity::User,
        "email",
    );
    assert_not_found(
        t.repo
            .update_user(u.id + 100, UserPatch::default(), even_later)
            .await,
        Entity::User,
    );
}

async fn delete_user_cascades_and_returns_digests(b: Backend) {
    let t = TestDb::new(b).await;
    let owner = t
        .repo
        .create_user(standard("owner", None), None)
        .await
        .unwrap();
    let u = t
        .repo
        .create_user(standard("henry", None), None)
        .await
        .unwrap();
    let org = t
        .repo
        .create_organization(Uuid::new_v4(), "Acme".into(), owner.id, t0())
        .await
        .unwrap();
    t.repo
        .add_member(org.id, u.id, OrgRole::Member, t0())
        .await
        .unwrap();
    let team = t.repo.create_team("Blue".into(), t0()).await.unwrap();
    t.repo
        .add_team_member(team.id, u.id, TeamRole::Member, t0())
        .await
        .unwrap();
    let k1 = t
        .repo
        .create_api_key(new_key(u.id, 1, false, t0()))
        .await
        .unwrap();
    let k2 = t
        .repo
        .create_api_key(new_key(u.id, 2, true, t0()))
        .await
        .unwrap();
    t.repo.revoke_api_key(k1.id, t0()).await.unwrap();
    let other_key = t
        .repo
        .create_api_key(new_key(owner.id, 3, false, t0()))
        .await
        .unwrap();

    let mut digests = t.repo.delete_user(u.id).await.unwrap();
    digests.sort();
    assert_eq!(digests, vec![[1; 32], [2; 32]]);

    assert!(t.repo.user_by_id(u.id).await.unwrap().is_none());
    assert!(t.repo.api_key_by_id(k1.id).await.unwrap().is_none());
    assert!(
        t.repo
            .api_key_by_digest(&k2.digest)
            .await
            .unwrap()
            .is_none()
    );
    assert!(t.repo.membership(org.id, u.id).await.unwrap().is_none());
    assert!(
        t.repo
            .team_membership(team.id, u.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(t.repo.user_team_memberships(u.id).await.unwrap().is_empty());
    // Other users' rows stay.
    assert!(t.repo.api_key_by_id(other_key.id).await.unwrap().is_some());
    assert!(t.repo.membership(org.id, owner.id).await.unwrap().is_some());

    assert_not_found(t.repo.delete_user(u.id).await, Entity::User);
}

async fn api_keys_lifecycle(b: Backend) {
    let t = TestDb::new(b).await;
    let u = t
        .repo
        .create_user(standard("ivan", None), None)
        .await
        .unwrap();
    let org = Uuid::new_v4();
    let expires = at("2027-01-01T00:00:00.000001Z");
    let mut nk = new_key(u.id, 10, false, t0());
    nk.organization_id = Some(org);
    nk.organization_ids = vec![org];
    nk.expires_at = Some(expires);
    nk.role = KeyRole::Admin;
    let k = t.repo.create_api_key(nk.clone()).await.unwrap();
    assert_eq!(k.uid, nk.uid);
    assert_eq!(k.user_id, u.id);
    assert_eq!(k.name, nk.name);
    assert_eq!(k.description, "for tests");
    assert_eq!(k.prefix, nk.prefix);
    assert_eq!(k.digest, [10; 32]);
    assert_eq!(k.role, KeyRole::Admin);
    assert_eq!(k.scopes, nk.scopes);
    assert_eq!(k.organization_id, Some(org));
    assert_eq!(k.dataset_ids, nk.dataset_ids);
    assert_eq!(k.organization_ids, vec![org]);
    assert_eq!(k.expires_at, Some(expires));
    assert_eq!(
        (k.last_used_at, k.revoked_at, k.primary),
        (None, None, false)
    );
    assert_eq!((k.created_at, k.updated_at), (t0(), t0()));

    assert_eq!(t.repo.api_key_by_id(k.id).await.unwrap().as_ref(), Some(&k));
    assert_eq!(
        t.repo.api_key_by_uid(k.uid).await.unwrap().as_ref(),
        Some(&k)
    );
    assert_eq!(
        t.repo.api_key_by_digest(&[10; 32]).await.unwrap().as_ref(),
        Some(&k)
    );
    assert!(t.repo.api_key_by_digest(&[11; 32]).await.unwrap().is_none());

    assert_exists(
        t.repo.create_api_key(new_key(u.id, 10, false, t0())).await,
        Entity::ApiKey,
        "digest",
    );
    assert_not_found(
        t.repo
            .create_api_key(new_key(u.id + 100, 12, false, t0()))
            .await,
        Entity::User,
    );

    let k2 = t
        .repo
        .create_api_key(new_key(u.id, 20, false, t0()))
        .await
        .unwrap();
    let k3 = t
        .repo
        .create_api_key(new_key(u.id, 30, false, t0()))
        .await
        .unwrap();

    // Touch records the latest use and never moves back.
    let used = at("2026-05-05T05:05:05.555555Z");
    t.repo.touch_api_key(k2.id, used).await.unwrap();
    t.repo
        .touch_api_key(k2.id, at("2026-05-01T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        t.repo
            .api_key_by_id(k2.id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(used)
    );
    t.repo.touch_api_key(k2.id + 1000, used).await.unwrap();

    // Revoke: idempotent, keeps the first revocation time.
    let revoked_at = at("2026-06-01T00:00:00.5Z");
    let r = t
        .repo
        .revoke_api_key(k2.id, revoked_at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.revoked_at, Some(revoked_at));
    assert_eq!(r.updated_at, revoked_at);
    assert!(!r.is_active(revoked_at));
    let again = t
        .repo
        .revoke_api_key(k2.id, at("2026-07-01T00:00:00Z"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.revoked_at, Some(revoked_at));
    assert!(
        t.repo
            .revoke_api_key(k2.id + 1000, revoked_at)
            .await
            .unwrap()
            .is_none()
    );

    // Listing: active only by default, revoked on request, per organization, paged.
    let ids =
        |v: Vec<identity_core::domain::ApiKey>| v.into_iter().map(|k| k.id).collect::<Vec<_>>();
    assert_eq!(
        ids(t
            .repo
            .list_api_keys(u.id, false, None, page(None, 10))
            .await
            .unwrap()),
        [k.id, k3.id]
    );
    assert_eq!(
        ids(t
            .repo
            .list_api_keys(u.id, true, None, page(None, 10))
            .await
            .unwrap()),
        [k.id, k2.id, k3.id]
    );
    assert_eq!(
        ids(t
            .repo
            .list_api_keys(u.id, true, None, page(None, 1))
            .await
            .unwrap()),
        [k.id, k2.id]
    );
    assert_eq!(
        ids(t
            .repo
            .list_api_keys(u.id, true, None, page(Some(k2.id), 1))
            .await
            .unwrap()),
        [k3.id]
    );
    assert_eq!(
        ids(t
            .repo
            .list_api_keys(u.id, true, Some(org), page(None, 10))
            .await
            .unwrap()),
        [k.id]
    );
    assert!(
        t.repo
            .list_api_keys(u.id + 100, true, None, page(None, 10))
            .await
            .unwrap()
            .is_empty()
    );

    // Roll: the old key is revoked and the new one inserted, in one transaction.
    let roll_at = at("2026-08-01T00:00:00Z");
    let rolled = t
        .repo
        .roll_api_key(Some(k3.id), new_key(u.id, 40, false, roll_at))
        .await
        .unwrap();
    assert_eq!(rolled.digest, [40; 32]);
    assert_eq!(
        t.repo
            .api_key_by_id(k3.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(roll_at)
    );
    // Rolling a revoked (or missing) key changes nothing.
    assert_not_found(
        t.repo
            .roll_api_key(Some(k3.id), new_key(u.id, 50, false, roll_at))
            .await,
        Entity::ApiKey,
    );
    assert!(t.repo.api_key_by_digest(&[50; 32]).await.unwrap().is_none());
    assert_not_found(
        t.repo
            .roll_api_key(Some(k3.id + 1000), new_key(u.id, 51, false, roll_at))
            .await,
        Entity::ApiKey,
    );
    // A clash on the new key rolls the revocation back.
    assert_exists(
        t.repo
            .roll_api_key(Some(rolled.id), new_key(u.id, 10, false, roll_at))
            .await,
        Entity::ApiKey,
        "digest",
    );
    assert_eq!(
        t.repo
            .api_key_by_id(rolled.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
}

async fn primary_key_semantics(b: Backend) {
    let t = TestDb::new(b).await;
    let u = t
        .repo
        .create_user(standard("judy", None), None)
        .await
        .unwrap();
    let other = t
        .repo
        .create_user(standard("kate", None), None)
        .await
        .unwrap();
    assert!(t.repo.primary_api_key(u.id).await.unwrap().is_none());

    let a = t
        .repo
        .create_api_key(new_key(u.id, 1, true, t0()))
        .await
        .unwrap();
    assert!(a.primary);
    let other_primary = t
        .repo
        .create_api_key(new_key(other.id, 9, true, t0()))
        .await
        .unwrap();
    assert_eq!(
        t.repo.primary_api_key(u.id).await.unwrap().map(|k| k.id),
        Some(a.id)
    );

    // A second primary key replaces the first: revoked at its creation time and un-flagged.
    let t1 = at("2026-03-03T03:03:03.000003Z");
    let b_key = t
        .repo
        .create_api_key(new_key(u.id, 2, true, t1))
        .await
        .unwrap();
    let a_now = t.repo.api_key_by_id(a.id).await.unwrap().unwrap();
    assert_eq!(a_now.revoked_at, Some(t1));
    assert!(!a_now.primary);
    assert_eq!(
        t.repo.primary_api_key(u.id).await.unwrap().map(|k| k.id),
        Some(b_key.id)
    );

    // A non-primary key leaves the primary alone.
    t.repo
        .create_api_key(new_key(u.id, 3, false, t1))
        .await
        .unwrap();
    assert_eq!(
        t.repo.primary_api_key(u.id).await.unwrap().map(|k| k.id),
        Some(b_key.id)
    );

    // Rolling the primary key: the replacement becomes primary.
    let t2 = at("2026-04-04T04:04:04Z");
    let d = t
        .repo
        .roll_api_key(Some(b_key.id), new_key(u.id, 4, true, t2))
        .await
        .unwrap();
    assert!(d.primary);
    let b_now = t.repo.api_key_by_id(b_key.id).await.unwrap().unwrap();
    assert_eq!((b_now.revoked_at, b_now.primary), (Some(t2), false));
    assert_eq!(
        t.repo.primary_api_key(u.id).await.unwrap().map(|k| k.id),
        Some(d.id)
    );

    // Rolling with no old key still replaces the current primary.
    let t3 = at("2026-05-05T05:05:05Z");
    let f = t
        .repo
        .roll_api_key(None, new_key(u.id, 5, true, t3))
        .await
        .unwrap();
    assert_eq!(
        t.repo
            .api_key_by_id(d.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(t3)
    );
    assert_eq!(
        t.repo.primary_api_key(u.id).await.unwrap().map(|k| k.id),
        Some(f.id)
    );

    // Revoking the primary key leaves none.
    let r = t.repo.revoke_api_key(f.id, t3).await.unwrap().unwrap();
    assert!(!r.primary);
    assert!(t.repo.primary_api_key(u.id).await.unwrap().is_none());

    // The other user's primary key was never touched.
    assert_eq!(
        t.repo.primary_api_key(other.id).await.unwrap(),
        Some(other_primary)
    );

    // Concurrent primary-key creations queue up: all succeed, one primary remains.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..6u8 {
        let repo = t.repo.clone();
        tasks.spawn(async move { repo.create_api_key(new_key(u.id, 100 + i, true, t3)).await });
    }
    for r in tasks.join_all().await {
        assert!(r.unwrap().primary);
    }
    let active = t
        .repo
        .list_api_keys(u.id, false, None, page(None, 100))
        .await
        .unwrap();
    assert_eq!(active.iter().filter(|k| k.primary).count(), 1, "{active:?}");
    let primary = t.repo.primary_api_key(u.id).await.unwrap().unwrap();
    assert!(active.iter().any(|k| k.id == primary.id));
}

async fn timestamps_round_trip_at_microseconds(b: Backend) {
    let t = TestDb::new(b).await;
    let exact = at("2026-12-31T23:59:59.999999Z");
    let mut nu = standard("leo", None);
    nu.now = exact;
    let u = t.repo.create_user(nu, None).await.unwrap();
    assert_eq!(u.created_at, exact);
    let read = t.repo.user_by_id(u.id).await.unwrap().unwrap();
    assert_eq!(
        (read.created_at, read.updated_at, read.token_issued_at),
        (exact, exact, exact)
    );

    // Nanoseconds are truncated to microseconds, the same way on both backends.
    let nanos = at("2026-07-08T09:10:11.123456789Z");
    let mut nk = new_key(u.id, 7, false, nanos);
    nk.expires_at = Some(nanos);
    let k = t.repo.create_api_key(nk).await.unwrap();
    let want = at("2026-07-08T09:10:11.123456Z");
    let read = t.repo.api_key_by_id(k.id).await.unwrap().unwrap();
    assert_eq!(read, k);
    assert_eq!((read.created_at, read.expires_at), (want, Some(want)));

    // Whole seconds and times before 1970 survive too.
    let whole = at("1969-07-20T20:17:40Z");
    let team = t.repo.create_team("Apollo".into(), whole).await.unwrap();
    assert_eq!(
        t.repo
            .team_by_id(team.id)
            .await
            .unwrap()
            .unwrap()
            .created_at,
        whole
    );
}

async fn organizations_and_members(b: Backend) {
    let t = TestDb::new(b).await;
    let owner = t
        .repo
        .create_user(standard("mike", Some("Mike@Example.com")), None)
        .await
        .unwrap();
    let nina = t
        .repo
        .create_user(standard("nina", Some("nina@example.com")), None)
        .await
        .unwrap();
    let oscar = t
        .repo
        .create_user(standard("oscar", None), None)
        .await
        .unwrap();
    let paul = t
        .repo
        .create_user(standard("paul", Some("paul@example.com")), None)
        .await
        .unwrap();

    let org_id = Uuid::new_v4();
    let org = t
        .repo
        .create_organization(org_id, "Acme".into(), owner.id, t0())
        .await
        .unwrap();
    assert_eq!(
        (org.id, org.name.as_str(), org.is_default),
        (org_id, "Acme", false)
    );
    assert_eq!(
        t.repo.organization_by_id(org_id).await.unwrap(),
        Some(org.clone())
    );
    assert!(
        t.repo
            .organization_by_id(Uuid::new_v4())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        t.repo
            .membership(org_id, owner.id)
            .await
            .unwrap()
            .unwrap()
            .role,
        OrgRole::Owner
    );
    assert_exists(
        t.repo
            .create_organization(Uuid::new_v4(), "Acme".into(), nina.id, t0())
            .await,
        Entity::Organization,
        "name",
    );
    // A missing owner rolls the organization back.
    assert_not_found(
        t.repo
            .create_organization(Uuid::new_v4(), "Ghost".into(), 9999, t0())
            .await,
        Entity::User,
    );
    // Creating organizations never makes a default one.
    assert!(t.repo.default_organization().await.unwrap().is_none());

    let t1 = at("2026-02-02T02:02:02.020202Z");
    let m = t
        .repo
        .add_member(org_id, nina.id, OrgRole::Member, t1)
        .await
        .unwrap();
    assert_eq!(
        (m.organization_id, m.user_id, m.role, m.added_at),
        (org_id, nina.id, OrgRole::Member, t1)
    );
    assert_exists(
        t.repo.add_member(org_id, nina.id, OrgRole::Admin, t1).await,
        Entity::Membership,
        "user",
    );
    t.repo
        .add_member(org_id, oscar.id, OrgRole::Admin, t1)
        .await
        .unwrap();
    t.repo
        .add_member(org_id, paul.id, OrgRole::Member, t1)
        .await
        .unwrap();

    let m = t
        .repo
        .set_member_role(org_id, nina.id, OrgRole::Owner)
        .await
        .unwrap();
    assert_eq!((m.role, m.added_at), (OrgRole::Owner, t1));
    assert_eq!(t.repo.count_owners(org_id).await.unwrap(), 2);
    assert_not_found(
        t.repo.set_member_role(org_id, 9999, OrgRole::Owner).await,
        Entity::Membership,
    );
    assert_not_found(
        t.repo
            .set_member_role(Uuid::new_v4(), nina.id, OrgRole::Owner)
            .await,
        Entity::Membership,
    );

    let members = t
        .repo
        .list_members(org_id, &[], page(None, 10))
        .await
        .unwrap();
    let ids: Vec<i64> = members
        .iter()
        .map(|(m, u)| {
            assert_eq!(m.user_id, u.id);
            u.id
        })
        .collect();
    assert_eq!(ids, [owner.id, nina.id, oscar.id, paul.id]);
    let p1 = t
        .repo
        .list_members(org_id, &[], page(None, 1))
        .await
        .unwrap();
    assert_eq!(
        p1.iter().map(|(_, u)| u.id).collect::<Vec<_>>(),
        [owner.id, nina.id]
    );
    let p2 = t
        .repo
        .list_members(org_id, &[], page(Some(nina.id), 1))
        .await
        .unwrap();
    assert_eq!(
        p2.iter().map(|(_, u)| u.id).collect::<Vec<_>>(),
        [oscar.id, paul.id]
    );
    let emails = [
        "mike@example.com".to_owned(),
        "paul@example.com".to_owned(),
        "nobody@example.com".to_owned(),
    ];
    let found = t
        .repo
        .list_members(org_id, &emails, page(None, 10))
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|(_, u)| u.id).collect::<Vec<_>>(),
        [owner.id, paul.id]
    );
    assert_eq!(found[0].1, owner);

    // A user's memberships with their organizations.
    let other = t
        .repo
        .create_organization(
            Uuid::new_v4(),
            "Beta".into(),
            nina.id,
            at("2026-03-03T00:00:00Z"),
        )
        .await;
    let other = other.unwrap();
    let mine = t.repo.user_memberships(nina.id).await.unwrap();
    assert_eq!(
        mine.iter().map(|(m, o)| (m.role, o.id)).collect::<Vec<_>>(),
        [(OrgRole::Owner, org_id), (OrgRole::Owner, other.id)]
    );
    assert_eq!(mine[1].1, other);
    assert!(t.repo.user_memberships(9999).await.unwrap().is_empty());

    assert!(t.repo.remove_member(org_id, paul.id).await.unwrap());
    assert!(!t.repo.remove_member(org_id, paul.id).await.unwrap());
    assert!(t.repo.membership(org_id, paul.id).await.unwrap().is_none());
    assert_eq!(t.repo.count_owners(Uuid::new_v4()).await.unwrap(), 0);
}

async fn teams_and_team_members(b: Backend) {
    let t = TestDb::new(b).await;
    let q = t
        .repo
        .create_user(standard("quinn", None), None)
        .await
        .unwrap();
    let r = t
        .repo
        .create_user(standard("rita", None), None)
        .await
        .unwrap();

    let red = t.repo.create_team("Red".into(), t0()).await.unwrap();
    assert_eq!((red.name.as_str(), red.created_at), ("Red", t0()));
    assert_exists(
        t.repo.create_team("Red".into(), t0()).await,
        Entity::Team,
        "name",
    );
    let green = t.repo.create_team("Green".into(), t0()).await.unwrap();
    let blue = t.repo.create_team("Blue".into(), t0()).await.unwrap();
    assert_eq!(
        t.repo.team_by_id(green.id).await.unwrap(),
        Some(green.clone())
    );
    assert!(t.repo.team_by_id(blue.id + 100).await.unwrap().is_none());

    let ids = |v: Vec<identity_core::domain::Team>| v.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(
        ids(t.repo.list_teams(page(None, 10)).await.unwrap()),
        [red.id, green.id, blue.id]
    );
    assert_eq!(
        ids(t.repo.list_teams(page(None, 1)).await.unwrap()),
        [red.id, green.id]
    );
    assert_eq!(
        ids(t.repo.list_teams(page(Some(green.id), 1)).await.unwrap()),
        [blue.id]
    );

    let m = t
        .repo
        .add_team_member(red.id, q.id, TeamRole::Leader, t0())
        .await
        .unwrap();
    assert_eq!(
        (m.team_id, m.user_id, m.role, m.added_at),
        (red.id, q.id, TeamRole::Leader, t0())
    );
    assert_exists(
        t.repo
            .add_team_member(red.id, q.id, TeamRole::Member, t0())
            .await,
        Entity::TeamMembership,
        "user",
    );
    let m2 = t
        .repo
        .add_team_member(blue.id, q.id, TeamRole::Member, t0())
        .await
        .unwrap();
    t.repo
        .add_team_member(red.id, r.id, TeamRole::Member, t0())
        .await
        .unwrap();
    assert_not_found(
        t.repo
            .add_team_member(blue.id + 100, q.id, TeamRole::Member, t0())
            .await,
        Entity::Team,
    );

    assert_eq!(
        t.repo.team_membership(red.id, q.id).await.unwrap(),
        Some(m.clone())
    );
    assert!(
        t.repo
            .team_membership(green.id, q.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        t.repo.user_team_memberships(q.id).await.unwrap(),
        vec![m, m2]
    );

    assert!(t.repo.remove_team_member(red.id, q.id).await.unwrap());
    assert!(!t.repo.remove_team_member(red.id, q.id).await.unwrap());
    assert_eq!(t.repo.user_team_memberships(q.id).await.unwrap().len(), 1);
    assert!(
        t.repo
            .team_membership(red.id, r.id)
            .await
            .unwrap()
            .is_some()
    );
}

async fn closed_pool_is_unavailable(b: Backend) {
    let t = TestDb::new(b).await;
    t.repo.ping().await.unwrap();
    t.db().close_by_ref().await.unwrap();
    match t.repo.ping().await {
        Err(Error::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    match t.repo.user_by_id(1).await {
        Err(Error::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Connection handling
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn in_memory_sqlite_works() {
    let db = connect("sqlite::memory:", ConnectSettings::default())
        .await
        .unwrap();
    migrate(&db).await.unwrap();
    let repo = SeaRepo::new(db);
    let (admin, _) = repo
        .init_admin(
            new_user("admin", None, GlobalRole::Administrator),
            Uuid::new_v4(),
            "Default".into(),
        )
        .await
        .unwrap();
    assert_eq!(admin.id, 1);
    assert_eq!(
        repo.user_by_username("admin").await.unwrap().map(|u| u.id),
        Some(1)
    );
}

#[tokio::test]
async fn sqlite_file_keeps_data_across_pools() {
    let dir = std::env::temp_dir().join(format!("identity_store_test_{}", Uuid::new_v4().simple()));
    let url = format!("sqlite://{}", dir.join("a").join("b.db").display());
    {
        let db = connect(&url, ConnectSettings::default()).await.unwrap();
        migrate(&db).await.unwrap();
        SeaRepo::new(db.clone())
            .create_user(standard("sam", None), None)
            .await
            .unwrap();
        db.close().await.unwrap();
    }
    // An explicit mode is kept as given.
    let db = connect(&format!("{url}?mode=rw"), ConnectSettings::default())
        .await
        .unwrap();
    migrate(&db).await.unwrap();
    let mode: String = {
        use sea_orm::{DbBackend, Statement};
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA journal_mode",
            ))
            .await;
        row.unwrap().unwrap().try_get_by_index(0).unwrap()
    };
    assert_eq!(mode.to_lowercase(), "wal");
    assert!(
        SeaRepo::new(db.clone())
            .user_by_username("sam")
            .await
            .unwrap()
            .is_some()
    );
    db.close().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn unreachable_postgres_fails_fast_as_unavailable() {
    let settings = ConnectSettings {
        acquire_timeout: Duration::from_secs(1),
        ..ConnectSettings::default()
    };
    let started = std::time::Instant::now();
    // Port 1 on loopback: nothing listens there.
    match connect("postgres://postgres@127.0.0.1:1/postgres", settings).await {
        Err(Error::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn bad_urls_are_rejected() {
    for url in ["mysql://localhost/db", "sqlite://"] {
        match connect(url, ConnectSettings::default()).await {
            Err(Error::InvalidArgument(_)) => {}
            other => panic!("{url}: expected InvalidArgument, got {other:?}"),
        }
    }
}

#[test]
fn pg_urls_get_the_test_database() {
    assert_eq!(
        pg_url_for("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        pg_url_for("postgres://u:p@h/db?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(pg_url_for("postgres://h", "x"), "postgres://h/x");
}

async fn key_grants_join_key_owner_and_memberships(b: Backend) {
    let t = TestDb::new(b).await;
    let owner = t
        .repo
        .create_user(standard("quinn", Some("quinn@example.com")), None)
        .await
        .unwrap();
    let loner = t
        .repo
        .create_user(standard("rita", None), None)
        .await
        .unwrap();
    let first = Uuid::new_v4();
    let second = Uuid::new_v4();
    t.repo
        .create_organization(first, "First".into(), owner.id, t0())
        .await
        .unwrap();
    t.repo
        .create_organization(second, "Second".into(), loner.id, t0())
        .await
        .unwrap();
    t.repo
        .add_member(second, owner.id, OrgRole::Admin, at("2024-01-02T00:00:00Z"))
        .await
        .unwrap();
    let key = t
        .repo
        .create_api_key(new_key(owner.id, 0x51, false, t0()))
        .await
        .unwrap();
    let other = t
        .repo
        .create_api_key(new_key(owner.id, 0x52, false, t0()))
        .await
        .unwrap();

    let grant = t
        .repo
        .key_grant_by_digest(&[0x51; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(grant.key, key);
    let mut expected_user = t.repo.user_by_id(owner.id).await.unwrap().unwrap();
    assert!(expected_user.password_hash.is_some());
    expected_user.password_hash = None;
    assert_eq!(
        grant.user, expected_user,
        "the owner, without the password hash"
    );
    let memberships = t.repo.user_memberships(owner.id).await.unwrap();
    assert_eq!(memberships.len(), 2);
    assert_eq!(grant.memberships, memberships, "same rows, same order");

    // An owner without memberships still gets a grant; an unknown digest gets none.
    t.repo.remove_member(second, owner.id).await.unwrap();
    let solo = t
        .repo
        .create_user(standard("sam", None), None)
        .await
        .unwrap();
    t.repo
        .create_api_key(new_key(solo.id, 0x53, false, t0()))
        .await
        .unwrap();
    let grant = t
        .repo
        .key_grant_by_digest(&[0x53; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(grant.user.id, solo.id);
    assert!(grant.memberships.is_empty());
    assert!(
        t.repo
            .key_grant_by_digest(&[0x99; 32])
            .await
            .unwrap()
            .is_none()
    );

    let mut digests = t.repo.api_key_digests_of_user(owner.id).await.unwrap();
    digests.sort_unstable();
    assert_eq!(digests, vec![key.digest, other.digest]);
    assert!(
        t.repo
            .api_key_digests_of_user(loner.id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn key_uses_are_written_in_batches(b: Backend) {
    let t = TestDb::new(b).await;
    let u = t
        .repo
        .create_user(standard("tina", None), None)
        .await
        .unwrap();
    let a = t
        .repo
        .create_api_key(new_key(u.id, 0x61, false, t0()))
        .await
        .unwrap();
    let c = t
        .repo
        .create_api_key(new_key(u.id, 0x62, false, t0()))
        .await
        .unwrap();
    let later = at("2025-03-01T10:00:00.123456Z");
    let earlier = at("2025-02-01T10:00:00Z");
    t.repo
        .touch_api_keys(&[(a.id, later), (c.id, earlier)])
        .await
        .unwrap();
    let read = |id| {
        let repo = t.repo.clone();
        async move { repo.api_key_by_id(id).await.unwrap().unwrap().last_used_at }
    };
    assert_eq!(read(a.id).await, Some(later));
    assert_eq!(read(c.id).await, Some(earlier));
    // A late, older batch never moves a use backwards; an unknown id is ignored.
    t.repo
        .touch_api_keys(&[(a.id, earlier), (c.id, later), (i64::MAX, later)])
        .await
        .unwrap();
    assert_eq!(read(a.id).await, Some(later));
    assert_eq!(read(c.id).await, Some(later));
    t.repo.touch_api_keys(&[]).await.unwrap();
}

/// The store itself refuses to demote or delete the last administrator and to demote or remove
/// the last owner (checked inside the write transaction, so that concurrent calls cannot both
/// pass; `tests/e2e/faults.rs` races them), and allows it while another one is left.
async fn last_admin_and_last_owner_are_kept_by_the_store(b: Backend) {
    let t = TestDb::new(b).await;
    let ada = t
        .repo
        .create_user(new_user("ada", None, GlobalRole::Administrator), None)
        .await
        .unwrap();
    let demote = || UserPatch {
        global_role: Some(GlobalRole::Standard),
        ..UserPatch::default()
    };
    let last_admin =
        |r: Result<_, Error>| matches!(r, Err(Error::FailedPrecondition(Precondition::LastAdmin)));
    assert!(last_admin(
        t.repo.update_user(ada.id, demote(), t0()).await.map(|_| ())
    ));
    assert!(last_admin(t.repo.delete_user(ada.id).await.map(|_| ())));
    let bea = t
        .repo
        .create_user(new_user("bea", None, GlobalRole::Administrator), None)
        .await
        .unwrap();
    t.repo.update_user(ada.id, demote(), t0()).await.unwrap();
    assert!(last_admin(t.repo.delete_user(bea.id).await.map(|_| ())));
    // Other changes of the last administrator are not affected.
    let rename = UserPatch {
        display_name: Some("Bea".into()),
        ..UserPatch::default()
    };
    t.repo.update_user(bea.id, rename, t0()).await.unwrap();

    let org = t
        .repo
        .create_organization(Uuid::new_v4(), "Solo".into(), ada.id, t0())
        .await
        .unwrap();
    let last_owner =
        |r: Result<_, Error>| matches!(r, Err(Error::FailedPrecondition(Precondition::LastOwner)));
    assert!(last_owner(
        t.repo
            .set_member_role(org.id, ada.id, OrgRole::Member)
            .await
            .map(|_| ())
    ));
    assert!(last_owner(
        t.repo.remove_member(org.id, ada.id).await.map(|_| ())
    ));
    t.repo
        .add_member(org.id, bea.id, OrgRole::Owner, t0())
        .await
        .unwrap();
    t.repo
        .set_member_role(org.id, ada.id, OrgRole::Member)
        .await
        .unwrap();
    assert!(last_owner(
        t.repo.remove_member(org.id, bea.id).await.map(|_| ())
    ));
    assert!(t.repo.remove_member(org.id, ada.id).await.unwrap());
}

/// Look-alike usernames clash on `uq_users_username_skeleton` (reported as a taken username), and
/// migration 10 backfills the skeleton of rows that predate it: the first of two existing
/// look-alikes gets it, the later one keeps NULL and still works.
async fn username_skeletons_are_unique_and_backfilled(b: Backend) {
    use sea_orm::{DbBackend, Statement};

    let t = TestDb::new(b).await;
    let admin = t
        .repo
        .create_user(standard("admin", None), None)
        .await
        .unwrap();
    let bob = t
        .repo
        .create_user(standard("bob", None), None)
        .await
        .unwrap();
    assert_exists(
        t.repo
            .create_user(standard("\u{0430}dmin", None), None)
            .await,
        Entity::User,
        "username",
    );
    let renamed = UserPatch {
        username: Some(Username::parse("\u{0430}dmin").unwrap()),
        ..UserPatch::default()
    };
    assert_exists(
        t.repo.update_user(bob.id, renamed, t0()).await,
        Entity::User,
        "username",
    );

    // Back to the schema before migration 10; give bob a look-alike of admin's name meanwhile.
    Migrator::down(t.db(), Some(1)).await.unwrap();
    let backend = t.db().get_database_backend();
    let (p1, p2) = if backend == DbBackend::Postgres {
        ("$1", "$2")
    } else {
        ("?", "?")
    };
    let look_alike = "\u{0430}dmin";
    t.db()
        .execute_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "UPDATE users SET username = {p1}, username_key = {p2} WHERE id = {}",
                bob.id
            ),
            [look_alike.into(), look_alike.into()],
        ))
        .await
        .unwrap();
    migrate(t.db()).await.unwrap();
    let skeletons: Vec<(i64, Option<String>)> = t
        .db()
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT id, username_skeleton FROM users ORDER BY id",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.try_get("", "id").unwrap(),
                r.try_get("", "username_skeleton").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        skeletons,
        [
            (
                admin.id,
                Some(identity_core::domain::username_skeleton("admin"))
            ),
            (bob.id, None)
        ]
    );
    assert_eq!(
        t.repo
            .user_by_username("\u{0430}dmin")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(bob.id)
    );
    assert_exists(
        t.repo
            .create_user(standard("adm\u{0456}n", None), None)
            .await,
        Entity::User,
        "username",
    );
}
