//! Logging set-up.

use tracing_subscriber::{EnvFilter, fmt};

/// Install the global subscriber: `RUST_LOG` or a sensible default, text or JSON lines, on
/// standard output.
pub fn init(format: &str) {
    init_with(format, false);
}

/// Like [`init`], on standard error (the `admin` commands print their results on stdout).
pub fn init_stderr(format: &str) {
    init_with(format, true);
}

fn init_with(format: &str, stderr: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,h2=warn,tower=warn")
    });
    let builder = fmt().with_env_filter(filter).with_target(false);
    let result = match (format == "json", stderr) {
        (true, true) => builder.json().with_writer(std::io::stderr).try_init(),
        (true, false) => builder.json().try_init(),
        (false, true) => builder.with_writer(std::io::stderr).try_init(),
        (false, false) => builder.try_init(),
    };
    if let Err(e) = result {
        eprintln!("logging already initialised: {e}");
    }
}
