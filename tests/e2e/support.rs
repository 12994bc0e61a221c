//! Shared assertions and the `both!` macro.

use std::fmt::Debug;

use identity_api::pb;
use tonic::{Code, Response, Status};
use tonic_types::StatusExt as _;

/// Run each named `async fn(TestApp)` against both backends, as `<name>::postgres` and
/// `<name>::sqlite`. The function and the generated module share a name (they live in different
/// namespaces), so a failing test names the scenario and the backend.
macro_rules! both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(identity_testkit::spawn_app(identity_testkit::Backend::Postgres).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(identity_testkit::spawn_app(identity_testkit::Backend::Sqlite).await).await;
            }
        }
    )+};
}

/// Assertions on the result of a unary call.
pub(crate) trait Must<T> {
    /// The message of a successful call; panics with the status otherwise.
    fn must(self) -> T;
    /// The status of a call that must fail with `code`.
    fn must_fail(self, code: Code) -> Status;
    /// The status of a call that must fail with one of `codes`.
    fn must_fail_with_any(self, codes: &[Code]) -> Status;
}

impl<T: Debug> Must<T> for Result<Response<T>, Status> {
    #[track_caller]
    fn must(self) -> T {
        match self {
            Ok(r) => r.into_inner(),
            Err(s) => panic!(
                "expected OK, got {:?}: {:?} (reason {:?}, violations {:?})",
                s.code(),
                s.message(),
                reason(&s),
                violations(&s)
            ),
        }
    }

    #[track_caller]
    fn must_fail(self, code: Code) -> Status {
        self.must_fail_with_any(&[code])
    }

    #[track_caller]
    fn must_fail_with_any(self, codes: &[Code]) -> Status {
        match self {
            Ok(r) => panic!("expected {codes:?}, got OK: {:?}", r.get_ref()),
            Err(s) => {
                assert!(
                    codes.contains(&s.code()),
                    "expected {codes:?}, got {:?}: {:?} (reason {:?})",
                    s.code(),
                    s.message(),
                    reason(&s)
                );
                s
            }
        }
    }
}

/// The `ErrorInfo` reason of a status, if any.
pub(crate) fn reason(status: &Status) -> Option<String> {
    status.get_details_error_info().map(|i| i.reason)
}

/// The fields named by the `BadRequest` violations of a status.
pub(crate) fn violations(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// Assert an INVALID_ARGUMENT status names `field` in its `BadRequest` details.
#[track_caller]
pub(crate) fn assert_violation(status: &Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let fields = violations(status);
    assert!(
        fields.iter().any(|f| f == field),
        "expected a violation of {field:?}, got {fields:?} ({:?})",
        status.message()
    );
}

/// The current wall-clock time (the one place the tests read it).
#[allow(clippy::disallowed_methods)]
pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// A protobuf timestamp `secs` seconds from now (negative: in the past).
pub(crate) fn timestamp_in(secs: i64) -> prost_types::Timestamp {
    let t = now() + chrono::Duration::seconds(secs);
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// Microseconds since the epoch of a protobuf timestamp.
pub(crate) fn micros(t: &prost_types::Timestamp) -> i64 {
    t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000
}

/// An `ApiKeyRef` by numeric id.
pub(crate) fn key_ref(id: i64) -> Option<pb::ApiKeyRef> {
    Some(pb::ApiKeyRef {
        key: Some(pb::api_key_ref::Key::Id(id)),
    })
}

/// A `GetUserRequest` by numeric id.
pub(crate) fn get_user(id: i64) -> pb::GetUserRequest {
    pb::GetUserRequest {
        lookup: Some(pb::get_user_request::Lookup::Id(id)),
    }
}

/// An `UpdateUserRequest` applying `paths` of `user` to user `id`.
pub(crate) fn update_user(id: i64, user: pb::UserUpdate, paths: &[&str]) -> pb::UpdateUserRequest {
    pb::UpdateUserRequest {
        user_id: id,
        user: Some(user),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }),
    }
}

/// A `CreateApiKeyRequest` for the caller with a name and everything else defaulted.
pub(crate) fn key_request(name: &str) -> pb::CreateApiKeyRequest {
    pb::CreateApiKeyRequest {
        name: name.to_owned(),
        ..Default::default()
    }
}

/// Byte strings that must never appear in a response: hashes, digests, plaintexts.
#[derive(Debug, Default)]
pub(crate) struct SecretScan {
    needles: Vec<(String, Vec<u8>)>,
    checked: usize,
}

impl SecretScan {
    /// A scan forbidding argon2 hashes.
    pub(crate) fn new() -> Self {
        let mut scan = Self::default();
        scan.forbid("an argon2 hash", "$argon2");
        scan
    }

    /// Forbid `bytes` from now on.
    pub(crate) fn forbid(&mut self, label: &str, bytes: impl AsRef<[u8]>) {
        self.needles
            .push((label.to_owned(), bytes.as_ref().to_vec()));
    }

    /// Forbid every spelling of the stored digest of API key `plaintext`.
    pub(crate) fn forbid_key_digest(&mut self, plaintext: &str) {
        use base64::Engine as _;
        let digest = identity_core::keys::digest(plaintext);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.forbid("the raw key digest", digest);
        self.forbid("the hex key digest", &hex);
        self.forbid("the HEX key digest", hex.to_uppercase());
        self.forbid(
            "the base64 key digest",
            base64::engine::general_purpose::STANDARD.encode(digest),
        );
        self.forbid(
            "the base64url key digest",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest),
        );
    }

    /// Assert neither the encoding nor the `Debug` rendering of `message` contains a needle.
    #[track_caller]
    pub(crate) fn check<M: prost::Message + Debug>(&mut self, what: &str, message: &M) {
        self.check_bytes(what, &message.encode_to_vec());
        self.check_bytes(what, format!("{message:?}").as_bytes());
        self.checked += 1;
    }

    /// Assert a status (message and details) contains no needle.
    #[track_caller]
    pub(crate) fn check_status(&mut self, what: &str, status: &Status) {
        self.check_bytes(what, status.message().as_bytes());
        self.check_bytes(what, status.details());
        self.checked += 1;
    }

    /// How many responses were checked.
    pub(crate) fn checked(&self) -> usize {
        self.checked
    }

    #[track_caller]
    fn check_bytes(&self, what: &str, haystack: &[u8]) {
        for (label, needle) in &self.needles {
            let found = !needle.is_empty()
                && haystack
                    .windows(needle.len())
                    .any(|w| w == needle.as_slice());
            assert!(!found, "the {what} response contains {label}");
        }
    }
}
