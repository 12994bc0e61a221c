//! tonic services: each handler converts the request, calls a use case and converts back.

pub(crate) mod api_keys;
pub(crate) mod auth;
pub(crate) mod conv;
pub(crate) mod orgs;
pub mod status;
pub(crate) mod teams;
pub(crate) mod users;

use identity_core::{Error, pagination::PageRequest};
use tonic::Status;

use status::to_status;

/// Map a domain result to a gRPC result.
pub(crate) trait OrStatus<T> {
    /// Convert the error.
    fn or_status(self) -> Result<T, Status>;
}

impl<T> OrStatus<T> for Result<T, Error> {
    fn or_status(self) -> Result<T, Status> {
        self.map_err(to_status)
    }
}

pub(crate) fn page(page_size: i32, page_token: &str) -> Result<PageRequest, Status> {
    PageRequest::parse(page_size, page_token).or_status()
}
