//! The SQLite database file and its directory are private to the server's user: a directory
//! the server creates gets mode 0700, the database file 0600, whatever the umask. SQLite gives
//! the `-wal` and `-shm` files the mode of the database file, so they are 0600 too. An existing
//! database file readable or writable by group or others loses those bits at start-up; an
//! existing directory is left as it is (it may be shared on purpose, e.g. `/tmp`).

use std::path::Path;

use identity_core::Error;

fn unavailable(what: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::Unavailable(format!("cannot {what} {}: {e}", path.display()))
}

/// Create the missing directories above `file` (0700) and the file itself (0600), or take the
/// group and other bits off an existing file.
pub(crate) fn prepare(file: &Path) -> Result<(), Error> {
    if let Some(dir) = file.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        create_private_dirs(dir)?;
    }
    create_private_file(file)
}

#[cfg(unix)]
fn create_private_dirs(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    // The directories this call creates, outermost first (`create_dir_all` would leave their
    // modes to the umask).
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        missing.push(d);
        cur = d.parent();
    }
    for d in missing.into_iter().rev() {
        match std::fs::DirBuilder::new().mode(0o700).create(d) {
            Ok(()) => std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| unavailable("restrict the database directory", d, &e))?,
            // Created concurrently by another process: not ours to change.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(unavailable("create the database directory", d, &e)),
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn create_private_dirs(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| unavailable("create the database directory", dir, &e))
}

#[cfg(unix)]
fn create_private_file(file: &Path) -> Result<(), Error> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
    {
        Ok(f) => f
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| unavailable("restrict the database file", file, &e)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(file)
                .map_err(|e| unavailable("read the mode of", file, &e))?
                .permissions()
                .mode();
            if mode & 0o077 == 0 {
                return Ok(());
            }
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode & 0o700))
                .map_err(|e| unavailable("restrict the database file", file, &e))
        }
        Err(e) => Err(unavailable("create the database file", file, &e)),
    }
}

#[cfg(not(unix))]
fn create_private_file(_file: &Path) -> Result<(), Error> {
    Ok(())
}
