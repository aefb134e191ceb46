//! Container routes. Today only the create body is decoded (so malformed requests get Docker's 400
//! before anything else); the verbs answer 501 until the container service lands.

use berth_api::container::ContainerCreateRequest;

use super::error::ApiError;
use super::params::{JsonBody, Params};
use crate::error::DaemonError;

/// `POST /containers/create`: validates the body, then 501.
pub async fn create(
    params: Params,
    JsonBody(req): JsonBody<ContainerCreateRequest>,
) -> Result<(), ApiError> {
    if req.config.image.is_empty() {
        return Err(ApiError::bad_request(
            "config cannot be empty in order to create a container",
        ));
    }
    let _name = params.get("name");
    Err(ApiError(DaemonError::NotImplemented(
        "POST /containers/create is not implemented by berth yet".to_string(),
    )))
}
