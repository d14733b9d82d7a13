//! The call of an authenticated request and its execution-log row: the
//! last step of the gateway's data flow (handle → auth → prepare → render
//! → provider → log), which every earlier step fills in as it goes.
//!
//! Every call that passed authentication ends with its row stored
//! ([`Call::store`], or [`Call::fail`] for an error) before the response
//! completes; if the row cannot be stored, the caller gets that error
//! instead of the answer.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use http::HeaderValue;
use prompthelm_component_kit::{ApiError, RequestContext, StatusCode, secure_random_bytes};
use prompthelm_domain::ids::new_id;
use prompthelm_domain::rate_limit::Decision;
use prompthelm_domain::watch::Policy;
use prompthelm_providers::{Cost, Price};
use prompthelm_store::auth::Principal;
use prompthelm_store::db::Db;
use prompthelm_store::executions::{self, ExecutionLog, Status};
use prompthelm_store::{watch, webhooks};
use spin_sdk::http::{BoxBody, Request, Response};

use crate::dialect::{Dialect, Mode, boxed, error_response};

/// A call that passed authentication: its context, its database connection
/// and the log row it fills as it goes.
pub struct Call {
    pub ctx: RequestContext,
    pub db: Db,
    pub log: ExecutionLog,
    pub dialect: Dialect,
    started: Instant,
    /// The rate-limit decision, once counted (its headers go on every
    /// answer).
    pub rate: Option<Decision>,
    /// Where the call's cost comes from, once its provider is known.
    pub pricing: Pricing,
    /// Where the call's time went, phase by phase.
    pub phases: Phases,
    /// The prompt's regression-watch policy, for a production call of a
    /// watched prompt (from the resolved entry: no extra SQL otherwise).
    pub watch: Option<Policy>,
}

/// The call's time, phase by phase, sent as `Server-Timing` (milliseconds):
/// `auth` (open the database, check the token), `admit` (the rate limit),
/// `body` (read and validate it), `resolve` (which version runs), `render`
/// (the template and the provider's request), `provider` (the provider's
/// answer, received whole), `log` (the execution-log row), `watch` (the
/// regression watch, only for a watched prompt), and `total`. A
/// browser's developer tools show it; the bench reads it for the
/// breakdown of one call in README "Benchmarks".
pub struct Phases {
    started: Instant,
    last: Instant,
    done: Vec<(&'static str, Duration)>,
}

impl Phases {
    fn new(started: Instant) -> Phases {
        Phases {
            started,
            last: started,
            done: Vec::with_capacity(8),
        }
    }

    /// Ends the phase `name`, which began where the previous one ended.
    pub fn mark(&mut self, name: &'static str) {
        let now = Instant::now();
        self.done.push((name, now - self.last));
        self.last = now;
    }

    fn header(&self) -> String {
        let mut value = String::new();
        let phases = self.done.iter().copied();
        for (name, took) in phases.chain([("total", self.started.elapsed())]) {
            if !value.is_empty() {
                value.push_str(", ");
            }
            let _ = write!(value, "{name};dur={:.3}", took.as_secs_f64() * 1000.0);
        }
        value
    }
}

/// The price list a call's tokens are costed at.
pub enum Pricing {
    /// The built-in list prices, by model name.
    ListPrices,
    /// A configured provider's own price for the model (`None`: unpriced).
    Configured(Option<Price>),
}

fn new_log(ctx: &RequestContext, principal: &Principal, req: &Request, mode: Mode) -> ExecutionLog {
    ExecutionLog {
        id: new_id("exe_", secure_random_bytes()),
        organization_id: principal.organization_id.clone(),
        actor: principal.actor.clone(),
        prompt_id: None,
        version_id: None,
        version: None,
        canary: false,
        environment: None,
        model: None,
        provider: None,
        stream: mode == Mode::Stream,
        status: Status::Error,
        error_code: None,
        http_status: 0,
        latency_ms: 0,
        provider_latency_ms: None,
        input_tokens: 0,
        output_tokens: 0,
        cached_input_tokens: 0,
        cost_usd: 0.0,
        cost_known: true,
        request_id: ctx.request_id().to_owned(),
        user_agent: req
            .headers()
            .get(http::header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        request_body: None,
        response_body: None,
        created_at: ctx.received_at_unix_millis(),
    }
}

impl Call {
    /// The call of an authenticated request, its log row started: from
    /// here on every exit stores the row.
    pub fn start(
        ctx: RequestContext,
        db: Db,
        principal: &Principal,
        req: &Request,
        dialect: Dialect,
        mode: Mode,
        started: Instant,
    ) -> Call {
        let log = new_log(&ctx, principal, req, mode);
        let mut phases = Phases::new(started);
        phases.mark("auth");
        Call {
            ctx,
            db,
            log,
            dialect,
            started,
            rate: None,
            pricing: Pricing::ListPrices,
            phases,
            watch: None,
        }
    }

    /// An error response in the call's dialect (not logged).
    pub fn error_response(&self, error: &ApiError) -> Response<BoxBody> {
        self.finish_response(boxed(error_response(&self.ctx, self.dialect, error)))
    }

    /// When the request arrived, in Unix seconds (OpenAI's `created`).
    pub fn created(&self) -> i64 {
        self.ctx.received_at_unix_millis().div_euclid(1000)
    }

    /// Milliseconds since the request arrived.
    pub fn elapsed_ms(&self) -> i64 {
        millis_since(self.started)
    }

    /// Records the tokens and their cost.
    pub fn record_usage(&mut self, input: u64, output: u64, cached: u64) -> Cost {
        let cost = match self.pricing {
            Pricing::ListPrices => {
                let model = self.log.model.as_deref().unwrap_or_default();
                prompthelm_providers::cost(model, input, output, cached)
            }
            Pricing::Configured(price) => {
                prompthelm_providers::cost_at(price, input, output, cached)
            }
        };
        self.log.input_tokens = input;
        self.log.output_tokens = output;
        self.log.cached_input_tokens = cached;
        self.log.cost_usd = cost.usd;
        self.log.cost_known = cost.known;
        cost
    }

    /// Finishes the log row with its outcome and stores it. `sent_status`
    /// is the status line the caller got (a stream's 200 even when it
    /// failed after its head); `status` and `error_code` say how the call
    /// ended.
    pub async fn store(
        &mut self,
        status: Status,
        sent_status: StatusCode,
        error_code: Option<&str>,
    ) -> Result<(), ApiError> {
        self.log.status = status;
        self.log.http_status = sent_status.as_u16();
        self.log.error_code = error_code.map(str::to_owned);
        self.log.latency_ms = self.elapsed_ms();
        executions::insert(&self.db, &self.log).await?;
        self.phases.mark("log");
        self.watch_after_store().await;
        Ok(())
    }

    /// The regression watch, inline after the row (and so its rollups) is
    /// stored: at most one call per prompt per 5 s evaluates (one
    /// conditional UPDATE decides), the others pay that UPDATE only. The
    /// call that evaluates also sends the organization's due webhook
    /// deliveries after its answer (one indexed SELECT when none is due; see
    /// [`deliver_webhooks_after_response`](Self::deliver_webhooks_after_response)). The call itself is
    /// committed, so a failure here is reported on stderr (with the
    /// request id) and does not change the call's answer.
    async fn watch_after_store(&mut self) {
        let (Some(policy), Some(prompt_id)) = (self.watch.take(), self.log.prompt_id.as_deref())
        else {
            return;
        };
        let evaluated = watch::after_call(
            &self.db,
            &self.log.organization_id,
            prompt_id,
            &policy,
            self.ctx.request_id(),
            prompthelm_component_kit::now_unix_millis(),
        )
        .await;
        match evaluated {
            Err(e) => report("regression watch", prompt_id, self.ctx.request_id(), &e),
            Ok(None) => {}
            Ok(Some(_)) => self.deliver_webhooks_after_response(prompt_id),
        }
        self.phases.mark("watch");
    }

    /// Sends the organization's due webhook deliveries (a regression's
    /// first attempt, and retries whose backoff has passed: at most three,
    /// none started after 3 s, each at most 3 s) in a task that runs after
    /// the handler has returned the answer, so no caller waits for a
    /// receiver. Spin and the local runtime keep the instance until that
    /// task ends (at most the request deadline); a task cut off there
    /// leaves its claim, which lapses and is retried (`store::webhooks`).
    /// Only a call that evaluated the watch starts one (docs/API.md,
    /// "Webhooks").
    fn deliver_webhooks_after_response(&self, prompt_id: &str) {
        let organization_id = self.log.organization_id.clone();
        let prompt_id = prompt_id.to_owned();
        let request_id = self.ctx.request_id().to_owned();
        spin_sdk::wasip3::spawn(async move {
            let delivered = async {
                let base = prompthelm_component_kit::variables::number::<u64>(
                    "webhook_retry_base_seconds",
                    1..=3_600,
                )
                .await?;
                let db = Db::open().await?;
                webhooks::deliver_due(&db, &organization_id, base).await
            }
            .await;
            if let Err(e) = delivered {
                report("webhook delivery", &prompt_id, &request_id, &e);
            }
        });
    }

    /// Logs the failure, then answers with its envelope.
    pub async fn fail(mut self, error: ApiError) -> Response<BoxBody> {
        let answer = match self
            .store(Status::Error, error.status, Some(error.code))
            .await
        {
            Ok(()) => error,
            Err(store_error) => store_error,
        };
        let response = error_response(&self.ctx, self.dialect, &answer);
        self.finish_response(boxed(response))
    }

    /// Adds the rate-limit headers (and `Retry-After` on a refusal), and
    /// `Server-Timing` with the phases so far.
    pub fn finish_response(&self, mut response: Response<BoxBody>) -> Response<BoxBody> {
        if let Ok(timing) = HeaderValue::from_str(&self.phases.header()) {
            response.headers_mut().insert("server-timing", timing);
        }
        if let Some(rate) = self.rate {
            let headers = response.headers_mut();
            headers.insert("x-ratelimit-limit", HeaderValue::from(rate.limit));
            headers.insert("x-ratelimit-remaining", HeaderValue::from(rate.remaining));
            if !rate.allowed {
                headers.insert(
                    http::header::RETRY_AFTER,
                    HeaderValue::from(rate.retry_after_secs),
                );
            }
        }
        response
    }
}

pub fn millis_since(start: Instant) -> i64 {
    i64::try_from(start.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// Reports a failure of work done after the call was logged (the call's
/// answer stands): on stderr, with the request id.
fn report(what: &str, prompt_id: &str, request_id: &str, e: &ApiError) {
    eprintln!(
        "{what} of prompt {prompt_id} failed: {} {}: {} (request {request_id})",
        e.status.as_u16(),
        e.code,
        e.message,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_read_as_server_timing_in_order_with_a_total() {
        let started = Instant::now() - Duration::from_millis(5);
        let mut phases = Phases::new(started);
        phases.mark("auth");
        phases.mark("log");
        let header = phases.header();
        let names: Vec<&str> = header
            .split(", ")
            .map(|p| p.split_once(";dur=").unwrap().0)
            .collect();
        assert_eq!(names, ["auth", "log", "total"], "{header}");
        let durations: Vec<f64> = header
            .split(", ")
            .map(|p| p.split_once(";dur=").unwrap().1.parse().unwrap())
            .collect();
        assert!(durations[0] >= 5.0, "{header}");
        assert!(
            durations[2] >= durations[0] + durations[1] - 0.001,
            "{header}"
        );
    }
}
