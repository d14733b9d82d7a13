//! The HTTP front: accepts connections, routes by Spin's rules, hands each
//! request to its component with Spin's headers, and writes one log line per
//! request. Failures of the host or a guest become the API's error envelope.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use prompthelm_domain::envelope::ErrorEnvelope;
use prompthelm_manifest::routing::{Router, spin_headers};
use tokio::net::TcpListener;
use wasmtime_wasi_http::WasiBody;
use wasmtime_wasi_http::handler::ProxyHandler;

use crate::instance::ComponentServer;

/// Largest request body the runtime passes to a component. API payloads are
/// small; the cap keeps one client from filling the host's memory.
pub const MAX_REQUEST_BODY_BYTES: usize = 10 << 20;

pub struct Server {
    router: Router,
    components: BTreeMap<String, ProxyHandler<ComponentServer>>,
}

impl Server {
    pub fn new(router: Router, components: BTreeMap<String, ComponentServer>) -> Self {
        let components = components
            .into_iter()
            .map(|(id, c)| (id, ProxyHandler::new(c)))
            .collect();
        Self { router, components }
    }

    /// Serves until the process is told to stop (Ctrl-C or SIGTERM).
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> anyhow::Result<()> {
        let shutdown = shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            let (stream, client) = tokio::select! {
                () = &mut shutdown => return Ok(()),
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    // Running out of file descriptors and the like: keep serving.
                    Err(e) => {
                        eprintln!("accept failed: {e}");
                        continue;
                    }
                },
            };
            // SSE chunks must leave at once, not wait for Nagle.
            let _ = stream.set_nodelay(true);
            let server = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let server = server.clone();
                    async move { Ok::<_, Infallible>(server.handle(req, client).await) }
                });
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    // Clients hanging up mid-response are routine.
                    if !e.is_incomplete_message() && !e.is_canceled() {
                        eprintln!("connection from {client}: {e}");
                    }
                }
            });
        }
    }

    async fn handle(&self, req: Request<Incoming>, client: SocketAddr) -> Response<WasiBody> {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let (component, response) = self.dispatch(req, client).await;
        eprintln!(
            "{method} {path} {component} {} {:.1}ms",
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        );
        response
    }

    /// Returns the component that served the request (or `-`) and its response.
    async fn dispatch(
        &self,
        mut req: Request<Incoming>,
        client: SocketAddr,
    ) -> (String, Response<WasiBody>) {
        let request_id = request_id(&req);
        let Some(route) = self.router.route(req.uri().path()) else {
            let msg = format!("no route matches {}", req.uri().path());
            return (
                "-".into(),
                envelope(StatusCode::NOT_FOUND, "NOT_FOUND", &msg, &request_id),
            );
        };
        let component = route.component_id.clone();
        if declared_length(&req).is_some_and(|n| n > MAX_REQUEST_BODY_BYTES as u64) {
            let msg = format!("request body is larger than {MAX_REQUEST_BODY_BYTES} bytes");
            let res = envelope(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                &msg,
                &request_id,
            );
            return (component, res);
        }
        let Some(handler) = self.components.get(&component) else {
            // The router only knows manifest routes, whose components were
            // all prepared at startup.
            let msg = format!("component `{component}` is not loaded");
            return (component, internal_error(&msg, &request_id));
        };

        // Spin hands the guest an absolute URI and its routing headers.
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_owned();
        let path_and_query = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        let full_url = format!("http://{host}{path_and_query}");
        match full_url.parse() {
            Ok(uri) => *req.uri_mut() = uri,
            Err(_) => {
                let msg = format!("invalid Host header {host:?}");
                return (
                    component,
                    envelope(StatusCode::BAD_REQUEST, "BAD_REQUEST", &msg, &request_id),
                );
            }
        }
        for (name, value) in spin_headers(&route, &full_url, &client.to_string()) {
            let (Ok(name), Ok(value)) = (
                http::HeaderName::try_from(name),
                HeaderValue::try_from(value),
            ) else {
                continue;
            };
            req.headers_mut().insert(name, value);
        }
        // A chunked body has no declared length: cut it at the cap instead.
        let req = req.map(|body| {
            Limited::new(body, MAX_REQUEST_BODY_BYTES)
                .map_err(body_error)
                .boxed_unsync()
        });

        let timeout = handler.state().request_timeout();
        match tokio::time::timeout(timeout, handler.handle((), req)).await {
            Ok(Ok(response)) => (component, response),
            Ok(Err(e)) => {
                eprintln!("component {component}: request {request_id} failed: {e:?}");
                let msg = format!("component `{component}` failed to handle the request");
                (component, internal_error(&msg, &request_id))
            }
            // The worker's own deadline, a little later, drops the instance.
            Err(_elapsed) => {
                eprintln!(
                    "component {component}: request {request_id} timed out after {timeout:?}"
                );
                let msg = format!("component `{component}` did not answer within {timeout:?}");
                let res = envelope(
                    StatusCode::GATEWAY_TIMEOUT,
                    "COMPONENT_TIMEOUT",
                    &msg,
                    &request_id,
                );
                (component, res)
            }
        }
    }
}

fn declared_length<B>(req: &Request<B>) -> Option<u64> {
    req.headers()
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// What the guest sees when reading the request body fails.
fn body_error(e: Box<dyn std::error::Error + Send + Sync>) -> wasmtime_wasi_http::Error {
    use wasmtime_wasi_http::Error;
    if e.is::<LengthLimitError>() {
        return Error::HttpRequestBodySize(Some(MAX_REQUEST_BODY_BYTES as u64));
    }
    match e.downcast::<hyper::Error>() {
        Ok(e) => Error::Hyper(*e),
        Err(e) => Error::InternalError(Some(e.to_string())),
    }
}

/// The caller's `X-Request-Id` when usable, else a new one.
fn request_id<B>(req: &Request<B>) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .and_then(prompthelm_domain::request_id::accept_incoming)
        .unwrap_or_else(|| prompthelm_domain::request_id::generate(crate::os::random_bytes()))
}

fn internal_error(message: &str, request_id: &str) -> Response<WasiBody> {
    envelope(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
        message,
        request_id,
    )
}

fn envelope(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response<WasiBody> {
    let now_ms = crate::os::now_unix_millis();
    let body = ErrorEnvelope::new(
        status.as_u16(),
        code,
        message,
        prompthelm_domain::time::rfc3339_millis(now_ms),
        request_id,
    );
    let body = serde_json::to_vec(&body).expect("the envelope serializes");
    let mut res = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(id) = HeaderValue::try_from(request_id) {
        headers.insert("x-request-id", id);
    }
    res
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
