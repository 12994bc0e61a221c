//! Logging set-up.

use tracing_subscriber::{EnvFilter, fmt};

/// Install the global subscriber: `RUST_LOG` or a sensible default, text or JSON lines.
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,h2=warn,tower=warn")
    });
    let builder = fmt().with_env_filter(filter).with_target(false);
    let result = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if let Err(e) = result {
        eprintln!("logging already initialised: {e}");
    }
}
