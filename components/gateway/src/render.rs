//! Rendering a call: the body's fields over the version's, `{{variable}}`
//! placeholders filled, and what the caller gets when that fails.

use prompthelm_component_kit::{ApiError, StatusCode, codes};
use prompthelm_domain::compare::VersionContent;
use prompthelm_domain::gateway::{
    self, GatewayRequest, MAX_RENDERED_BYTES, RenderError, RenderedCall,
};
use prompthelm_domain::template::ResolveError;
use serde_json::json;

/// The texts and parameters the provider will be sent.
pub fn render(
    body: &GatewayRequest,
    version: Option<&VersionContent>,
) -> Result<RenderedCall, ApiError> {
    gateway::render(body, version).map_err(render_error)
}

/// Missing variables are the gateway's own 422; values of the wrong type
/// are field errors like any other; a rendered prompt over the cap is its
/// own 422.
fn render_error(e: RenderError) -> ApiError {
    match e {
        RenderError::Variables(e) => variables_error(e),
        RenderError::TooLarge { bytes } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::RENDERED_PROMPT_TOO_LARGE,
            format!(
                "the rendered system and user texts would be {bytes} bytes; the gateway \
                 renders at most {MAX_RENDERED_BYTES}"
            ),
        )
        .with_details(json!({"renderedBytes": bytes, "limit": MAX_RENDERED_BYTES})),
    }
}

fn variables_error(e: ResolveError) -> ApiError {
    if e.missing.is_empty() {
        return ApiError::invalid_fields(e.invalid);
    }
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        codes::GATEWAY_MISSING_VARIABLES,
        e.to_string(),
    )
    .with_details(if e.invalid.is_empty() {
        json!({"missing": e.missing})
    } else {
        json!({"missing": e.missing, "errors": e.invalid})
    })
}
