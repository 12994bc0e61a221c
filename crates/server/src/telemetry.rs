//! Logging set-up.

/// Default filter when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str =
    "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,h2=warn,tower=warn";

/// Install the global subscriber: `RUST_LOG` or [`DEFAULT_FILTER`], text or JSON lines, on
/// standard output. JSON lines carry the request's span fields (`request_id`, service/method or
/// route).
pub fn init(format: &str) {
    identity_telemetry::init_logging(format, DEFAULT_FILTER);
}

/// Like [`init`], on standard error (the `admin` commands print their results on stdout).
pub fn init_stderr(format: &str) {
    identity_telemetry::init_logging_to(format, DEFAULT_FILTER, true);
}
