//! PromptHelm's knowledge of LLM provider wire formats.
//!
//! Invariant: this crate does no I/O. It does not read clocks, random
//! sources, the network, files or the environment. The gateway component
//! does the HTTP calls; this crate only says what to send ([`request`]) and
//! what the answer means ([`response`], [`sse`], [`stream`], [`pricing`]).
//! Keeping the formats here means each provider's quirks are tested natively
//! in milliseconds against real transcripts, and the same code builds for
//! the Spin components (wasm32-wasip2). Dependencies: `http` (request
//! types), serde and serde_json (bodies).
//!
//! A call goes: [`Provider::for_model`] picks the provider (or `None`: the
//! gateway answers 422 `UNSUPPORTED_MODEL`), [`request::build`] makes the
//! request, then either [`response::parse`] reads a whole body, or
//! [`sse::SseParser`] and [`stream::StreamDecoder`] read a stream. Token
//! counts go to [`pricing::cost`].

pub mod compatible;
pub mod pricing;
pub mod provider;
pub mod request;
pub mod response;
pub mod sse;
pub mod stream;
pub mod transcript;

pub use pricing::{Cost, Price, cost, cost_at};
pub use provider::Provider;
pub use request::{BuildError, ChatRequest};
pub use response::{Completion, ProviderError};
pub use sse::{SseEvent, SseParser};
pub use stream::{StreamDecoder, StreamEvent};
