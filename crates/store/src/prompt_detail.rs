//! A prompt with the versions its environments point at (`GET
//! /api/v1/prompts/:id`). It reads through [`crate::prompts`] and
//! [`crate::versions`], which do not know it, so neither of them needs the
//! other's reads back.

use prompthelm_component_kit::ApiError;
use serde::Serialize;

use crate::db::Db;
use crate::prompts::{self, Prompt};
use crate::versions::{self, Version};

/// A prompt with the versions its environments point at.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptDetail {
    #[serde(flatten)]
    pub prompt: Prompt,
    pub production_version: Option<Version>,
    pub development_version: Option<Version>,
}

/// A prompt with its production and development versions.
pub async fn get(
    db: &Db,
    organization_id: &str,
    prompt_id: &str,
) -> Result<PromptDetail, ApiError> {
    let prompt = prompts::get(db, organization_id, prompt_id).await?;
    let production_version = match &prompt.production_version_id {
        Some(id) => Some(versions::get(db, organization_id, prompt_id, id).await?),
        None => None,
    };
    let development_version = match &prompt.development_version_id {
        Some(id) => Some(versions::get(db, organization_id, prompt_id, id).await?),
        None => None,
    };
    Ok(PromptDetail {
        prompt,
        production_version,
        development_version,
    })
}
