//! The HTTP front: accepts connections, routes by Spin's rules, hands each
//! request to its component with Spin's headers, and writes one log line per
//! request. Failures of the host or a guest become the API's error envelope.
//!
//! It also holds the runtime's defences (see [`Limits`]): a bounded number of
//! connections, header-read and idle timeouts, limits on the request head and
//! body, a bounded number of in-flight requests per component (with a
//! separate reserve for health checks), backoff on `accept` errors, and a
//! graceful shutdown on SIGTERM/SIGINT.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::io;
use std::net::{Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use prompthelm_domain::envelope::ErrorEnvelope;
use prompthelm_manifest::routing::{Router, spin_headers};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use wasmtime_wasi_http::WasiBody;
use wasmtime_wasi_http::handler::ProxyHandler;

use crate::instance::ComponentServer;
use crate::limits::Limits;

/// `accept` failures (out of file descriptors, ...) back off from this...
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// ...doubling up to this.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// A component and its in-flight slots.
struct Served {
    handler: ProxyHandler<ComponentServer>,
    slots: Arc<Semaphore>,
    /// Slots only health checks use, if a health path routes here.
    health_slots: Option<Arc<Semaphore>>,
}

/// Each component's in-flight slots: (ordinary, health reserve). They also
/// bound its live instances (`limits::instances_per_component`), whose sum
/// is the pooling allocator's instance count (see `engine::Pool`), so one
/// component being full never makes instantiation fail for another.
pub fn slots_per_component<'a>(
    router: &Router,
    components: impl IntoIterator<Item = &'a str>,
    limits: &Limits,
) -> BTreeMap<String, (usize, usize)> {
    let health: BTreeSet<String> = limits
        .health_paths
        .iter()
        .filter_map(|p| router.route(p))
        .map(|m| m.component_id)
        .collect();
    components
        .into_iter()
        .map(|id| {
            let reserve = if health.contains(id) {
                limits.health_reserve
            } else {
                0
            };
            (id.to_owned(), (limits.max_inflight_per_component, reserve))
        })
        .collect()
}

pub struct Server {
    router: Router,
    components: BTreeMap<String, Served>,
    limits: Limits,
}

impl Server {
    pub fn new(
        router: Router,
        components: BTreeMap<String, ComponentServer>,
        limits: Limits,
    ) -> Self {
        let slots = slots_per_component(&router, components.keys().map(String::as_str), &limits);
        let components = components
            .into_iter()
            .map(|(id, c)| {
                let (ordinary, reserve) = slots[&id];
                let served = Served {
                    handler: ProxyHandler::new(c),
                    slots: Arc::new(Semaphore::new(ordinary)),
                    health_slots: (reserve > 0).then(|| Arc::new(Semaphore::new(reserve))),
                };
                (id, served)
            })
            .collect();
        Self {
            router,
            components,
            limits,
        }
    }

    /// Serves until the process is told to stop (SIGTERM or SIGINT), then
    /// stops accepting, lets open connections finish their requests for up
    /// to the shutdown grace, and returns.
    ///
    /// Each listener (all bound to one port with `SO_REUSEPORT`, see
    /// [`bind_listeners`]) gets an event-loop thread of its own with a
    /// single-threaded tokio runtime: a connection, its requests, their
    /// guest code and host calls all run on the thread that accepted it.
    /// On a multi-threaded runtime, each hand-off between the tasks of one
    /// request (connection, instance worker, outbound connection) woke an
    /// idle worker thread, and those wake-ups cost more CPU than the
    /// request's own work (the profile in README "Benchmarks").
    ///
    /// `stop` is the shutdown signal ([`shutdown_signal`] for `up`);
    /// `announce` logs the shutdown and the instance counts (not for the
    /// private server of the first run).
    pub async fn serve(
        self: Arc<Self>,
        listeners: Vec<std::net::TcpListener>,
        stop: impl std::future::Future<Output = ()>,
        announce: bool,
    ) -> anyhow::Result<()> {
        let max_connections = self.limits.max_connections;
        let connections = Arc::new(Semaphore::new(max_connections));
        let (stop_tx, stop_rx) = watch::channel(false);
        let bursts = Arc::new(Bursts::default());
        let mut loops = Vec::new();
        for (i, listener) in listeners.into_iter().enumerate() {
            let server = self.clone();
            let connections = connections.clone();
            let stopping = stop_rx.clone();
            let bursts = bursts.clone();
            let thread = std::thread::Builder::new()
                .name(format!("prompthelm-serve-{i}"))
                .spawn(move || -> anyhow::Result<Drained> {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    let drained = runtime.block_on(async move {
                        let listener = TcpListener::from_std(listener)?;
                        anyhow::Ok(
                            server
                                .accept_loop(listener, connections, stopping, &bursts)
                                .await,
                        )
                    })?;
                    // A request past the grace, or a blocking SQLite call, is
                    // not waited for beyond this.
                    runtime.shutdown_timeout(Duration::from_secs(1));
                    Ok(drained)
                })
                .context("starting an event-loop thread")?;
            loops.push(thread);
        }

        stop.await;
        stop_tx.send_replace(true);
        let open = max_connections - connections.available_permits();
        if announce {
            eprintln!(
                "Shutting down: no longer accepting; waiting up to {:?} for {open} open \
                 connection(s) to finish",
                self.limits.shutdown_grace
            );
        }
        let joined = tokio::task::spawn_blocking(move || {
            loops
                .into_iter()
                .map(|thread| {
                    thread
                        .join()
                        .map_err(|_| anyhow::anyhow!("an event-loop thread panicked"))?
                })
                .collect::<anyhow::Result<Vec<Drained>>>()
        })
        .await??;
        let cut = joined.iter().map(|d| d.cut).max().unwrap_or(0);
        if !announce {
            return Ok(());
        }
        if cut == 0 {
            eprintln!("Stopped: every connection finished");
        } else {
            eprintln!(
                "Stopped: the shutdown grace of {:?} elapsed with {cut} connection(s) open; \
                 they are cut",
                self.limits.shutdown_grace
            );
        }
        self.log_instance_stats();
        Ok(())
    }

    /// One event loop: accepts until told to stop, then waits up to the
    /// shutdown grace for every connection of every loop (an instance
    /// serving this loop's requests may run on another loop's runtime, so
    /// no runtime stops while any connection is open).
    async fn accept_loop(
        self: Arc<Self>,
        listener: TcpListener,
        connections: Arc<Semaphore>,
        mut stop: watch::Receiver<bool>,
        bursts: &Bursts,
    ) -> Drained {
        let max_connections = self.limits.max_connections;
        let mut open = tokio::task::JoinSet::new();
        let mut backoff = ACCEPT_BACKOFF_MIN;
        loop {
            let (stream, client) = tokio::select! {
                _ = stop.wait_for(|stopping| *stopping) => break,
                // Reap finished connections as they end.
                Some(_) = open.join_next(), if !open.is_empty() => continue,
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    // Out of file descriptors and the like: keep serving, but
                    // back off instead of spinning, and log once per burst.
                    Err(e) => {
                        // The line is written under the lock, so the event
                        // loops' lines of one burst come out in order.
                        if let Ok(mut burst) = bursts.accept_errors.lock() && burst.hit() {
                            eprintln!(
                                "accept failed: {e}; retrying with backoff (further failures \
                                 are counted, not logged)"
                            );
                        }
                        // At most a second; a stop is seen right after.
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                        continue;
                    }
                },
            };
            if let Ok(mut burst) = bursts.accept_errors.lock()
                && let Some(n) = burst.end()
            {
                eprintln!("accept works again after {n} failures");
            }
            backoff = ACCEPT_BACKOFF_MIN;
            let Ok(permit) = connections.clone().try_acquire_owned() else {
                if let Ok(mut burst) = bursts.refused.lock()
                    && burst.hit()
                {
                    eprintln!(
                        "{max_connections} connections open (--max-connections): refusing new \
                         ones with 503 until some close"
                    );
                }
                refuse(stream, &self.limits);
                continue;
            };
            if let Ok(mut burst) = bursts.refused.lock()
                && let Some(n) = burst.end()
            {
                eprintln!("accepting connections again; {n} were refused");
            }
            open.spawn(
                self.clone()
                    .connection(stream, client, permit, stop.clone()),
            );
        }
        drop(listener);
        let all_closed = async {
            while connections.available_permits() < max_connections {
                tokio::select! {
                    Some(_) = open.join_next(), if !open.is_empty() => {}
                    () = tokio::time::sleep(Duration::from_millis(10)) => {}
                }
            }
        };
        let _ = tokio::time::timeout(self.limits.shutdown_grace, all_closed).await;
        Drained {
            cut: max_connections - connections.available_permits(),
        }
    }

    /// How many instances served how many requests: what reuse saved.
    fn log_instance_stats(&self) {
        let (mut created, mut requests) = (0, 0);
        for (id, served) in &self.components {
            served.handler.state().stopping();
            let stats = served.handler.state().stats();
            created += stats.created;
            requests += stats.requests;
            if stats.created == 0 {
                continue;
            }
            let waited = match stats.waited {
                0 => String::new(),
                n => format!("; {n} waited for an instance place"),
            };
            eprintln!(
                "Instances of `{id}`: {} created for {} requests, at most {} alive at once, \
                 at most {} requests at once on one{waited}",
                stats.created, stats.requests, stats.peak, stats.peak_shared
            );
        }
        eprintln!("Instances: {created} created for {requests} requests");
    }

    /// Serves one connection until it closes, times out idle, or is told to
    /// finish at shutdown.
    async fn connection(
        self: Arc<Self>,
        stream: TcpStream,
        client: SocketAddr,
        _permit: OwnedSemaphorePermit,
        mut stop: watch::Receiver<bool>,
    ) {
        // SSE chunks must leave at once, not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Tracked {
            inner: stream,
            activity: activity.clone(),
        });
        let head_cap = self.limits.hyper_head_cap();
        let idle_timeout = self.limits.idle_timeout;
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout)
            .max_buf_size(head_cap)
            .max_header_size(head_cap)
            .keep_alive(true);
        let server = self.clone();
        let service_activity = activity.clone();
        let service = hyper::service::service_fn(move |req| {
            let server = server.clone();
            let busy = service_activity.busy();
            async move { Ok::<_, Infallible>(server.handle(req, client, busy).await) }
        });
        let conn = builder.serve_connection(io, service);
        tokio::pin!(conn);
        let mut idle_check = tokio::time::interval(
            (idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1)),
        );
        let mut stopping = *stop.borrow();
        if stopping {
            conn.as_mut().graceful_shutdown();
        }
        let result = loop {
            tokio::select! {
                result = conn.as_mut() => break result,
                // An error means the sender is gone, which is shutdown too.
                _ = stop.changed(), if !stopping => {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ = idle_check.tick() => {
                    if activity.idle_for() >= idle_timeout {
                        // No request in flight: dropping closes the socket.
                        return;
                    }
                }
            }
        };
        if let Err(e) = result {
            // Clients hanging up mid-response, and slow clients timed out
            // reading the head, are routine.
            if !e.is_incomplete_message() && !e.is_canceled() && !e.is_timeout() {
                eprintln!("connection from {client}: {e}");
            }
        }
    }

    async fn handle(
        &self,
        req: Request<Incoming>,
        client: SocketAddr,
        busy: Busy,
    ) -> Response<WasiBody> {
        let started = Instant::now();
        let request_id = request_id(&req);
        let method = req.method().clone();
        let mut path = req.uri().path().to_owned();
        if path.len() > 200 {
            let mut end = 200;
            while !path.is_char_boundary(end) {
                end -= 1;
            }
            path.truncate(end);
            path.push_str("...");
        }
        let (component, response, slot) = self.dispatch(req, client, &request_id).await;
        let (mut parts, body) = response.into_parts();
        // Components set it themselves (from the header the runtime passes
        // on); this covers any that do not.
        if !parts.headers.contains_key("x-request-id")
            && let Ok(id) = HeaderValue::try_from(&request_id)
        {
            parts.headers.insert("x-request-id", id);
        }
        // Formatted first and written in one call: stderr is unbuffered,
        // and `eprintln!` writes each piece with its own syscall (about 5 %
        // of the host's CPU per request in the profile).
        let line = format!(
            "{method} {path} {component} {} {:.1}ms {request_id}\n",
            parts.status.as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        );
        // A closed stderr must not fail the request.
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
        // The connection counts as busy (not idle), and the request keeps
        // its in-flight slot, until the body is sent.
        let body = Guarded {
            inner: body,
            _busy: busy,
            _slot: slot,
        }
        .boxed_unsync();
        Response::from_parts(parts, body)
    }

    /// Returns the component that served the request (or `-`), its response,
    /// and the in-flight slot it holds until that response's body is sent.
    async fn dispatch(
        &self,
        req: Request<Incoming>,
        client: SocketAddr,
        request_id: &str,
    ) -> (String, Response<WasiBody>, Option<OwnedSemaphorePermit>) {
        match self.route(req, client, request_id).await {
            Ok((component, response, slot)) => (component, response, Some(slot)),
            Err((component, response)) => (component, response, None),
        }
    }

    /// Routes and runs a request; `Err` is the runtime's own answer, given
    /// with no slot held.
    async fn route(
        &self,
        mut req: Request<Incoming>,
        client: SocketAddr,
        request_id: &str,
    ) -> Result<(String, Response<WasiBody>, OwnedSemaphorePermit), (String, Response<WasiBody>)>
    {
        let limits = &self.limits;
        let uri_len = req.uri().to_string().len();
        if uri_len > limits.max_uri_bytes {
            let msg = format!(
                "the request target is {uri_len} bytes; the limit is {}",
                limits.max_uri_bytes
            );
            let res = envelope(StatusCode::URI_TOO_LONG, "URI_TOO_LONG", &msg, request_id);
            return Err(("-".into(), res));
        }
        let head_len = head_len(&req);
        if head_len > limits.max_header_bytes {
            let msg = format!(
                "the request line and headers are {head_len} bytes; the limit is {}",
                limits.max_header_bytes
            );
            let res = envelope(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "HEADERS_TOO_LARGE",
                &msg,
                request_id,
            );
            return Err(("-".into(), res));
        }
        // The Host header only names the authority: it must not be able to
        // change the path (or anything else) the component sees.
        let host = match req.headers().get(http::header::HOST) {
            None => "localhost".to_owned(),
            Some(h) => match h.to_str().ok().filter(|h| valid_host(h)) {
                Some(h) => h.to_owned(),
                None => {
                    let msg = "the Host header is not a valid host[:port]";
                    let res = envelope(StatusCode::BAD_REQUEST, "BAD_REQUEST", msg, request_id);
                    return Err(("-".into(), res));
                }
            },
        };
        let Some(route) = self.router.route(req.uri().path()) else {
            let msg = format!("no route matches {}", req.uri().path());
            return Err((
                "-".into(),
                envelope(StatusCode::NOT_FOUND, "NOT_FOUND", &msg, request_id),
            ));
        };
        let component = route.component_id.clone();
        let max_body = limits.max_request_body_bytes;
        if declared_length(&req).is_some_and(|n| n > max_body as u64) {
            let msg = format!("request body is larger than {max_body} bytes");
            let res = envelope(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                &msg,
                request_id,
            );
            return Err((component, res));
        }
        let Some(served) = self.components.get(&component) else {
            // The router only knows manifest routes, whose components were
            // all prepared at startup.
            let msg = format!("component `{component}` is not loaded");
            return Err((component, internal_error(&msg, request_id)));
        };
        let is_health = limits.health_paths.iter().any(|p| p == req.uri().path());
        let slots = match (&served.health_slots, is_health) {
            (Some(reserve), true) => reserve,
            _ => &served.slots,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            let msg = format!(
                "component `{component}` is serving its maximum of in-flight requests; \
                 retry later"
            );
            return Err((component, overloaded(&msg, request_id, limits.retry_after)));
        };

        // Spin hands the guest an absolute URI and its routing headers. The
        // URI is built from parts, so the (checked) host is only ever the
        // authority.
        let path_and_query = req
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
        let uri = http::Uri::builder()
            .scheme("http")
            .authority(host.as_str())
            .path_and_query(path_and_query)
            .build();
        let full_url = match uri {
            Ok(uri) => {
                let full = uri.to_string();
                *req.uri_mut() = uri;
                full
            }
            Err(_) => {
                let msg = "the Host header is not a valid host[:port]";
                let res = envelope(StatusCode::BAD_REQUEST, "BAD_REQUEST", msg, request_id);
                return Err((component, res));
            }
        };
        for (name, value) in spin_headers(&route, &full_url, &client.to_string()) {
            let (Ok(name), Ok(value)) = (
                http::HeaderName::try_from(name),
                HeaderValue::try_from(value),
            ) else {
                continue;
            };
            req.headers_mut().insert(name, value);
        }
        // The component answers with the same id the runtime logs.
        if let Ok(id) = HeaderValue::try_from(request_id) {
            req.headers_mut().insert("x-request-id", id);
        }
        // A chunked body has no declared length: cut it at the cap instead.
        let req = req.map(|body| {
            Limited::new(body, max_body)
                .map_err(move |e| body_error(e, max_body))
                .boxed_unsync()
        });

        let handler = &served.handler;
        let timeout = handler.state().request_timeout();
        // The slot is given back with the answer (or, for a response from
        // the component, once its body is sent).
        match tokio::time::timeout(timeout, handler.handle((), req)).await {
            Ok(Ok(response)) => Ok((component, response, slot)),
            Ok(Err(e)) => {
                eprintln!("component {component}: request {request_id} failed: {e:?}");
                let msg = format!("component `{component}` failed to handle the request");
                Err((component, internal_error(&msg, request_id)))
            }
            // The worker's own deadline, a little later, drops the instance
            // (and with it the requests that share it); it takes no more.
            Err(_elapsed) => {
                eprintln!(
                    "component {component}: request {request_id} timed out after {timeout:?}"
                );
                let msg = format!("component `{component}` did not answer within {timeout:?}");
                let res = envelope(
                    StatusCode::GATEWAY_TIMEOUT,
                    "COMPONENT_TIMEOUT",
                    &msg,
                    request_id,
                );
                Err((component, res))
            }
        }
    }
}

/// The size of a request head as sent: request line and header lines.
fn head_len<B>(req: &Request<B>) -> usize {
    let line = req.method().as_str().len() + req.uri().to_string().len() + 12;
    req.headers()
        .iter()
        .fold(line, |n, (k, v)| n + k.as_str().len() + v.len() + 4)
}

/// A Host header is `host[:port]`: a DNS name or IPv4 address, or an IPv6
/// address in brackets. Nothing that could carry a path, query, userinfo or
/// fragment.
fn valid_host(host: &str) -> bool {
    let (name, port) = if host.starts_with('[') {
        match host.find(']') {
            Some(end) => host.split_at(end + 1),
            None => return false,
        }
    } else {
        match host.find(':') {
            Some(i) => host.split_at(i),
            None => (host, ""),
        }
    };
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|p| {
            !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
        });
    let name_ok = match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().is_ok(),
        None => {
            !name.is_empty()
                && name.len() <= 253
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        }
    };
    port_ok && name_ok
}

/// Over the connection limit: a canned `503` envelope, written only if the
/// socket takes it at once, then the connection is closed. Costs no task.
fn refuse(stream: TcpStream, limits: &Limits) {
    let request_id = prompthelm_domain::request_id::generate(crate::os::random_bytes());
    let retry = limits.retry_after.as_secs().max(1);
    let body = envelope_json(
        StatusCode::SERVICE_UNAVAILABLE,
        "OVERLOADED",
        "the server has its maximum of open connections; retry later",
        &request_id,
        Some(retry),
    );
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: {retry}\r\nx-request-id: {request_id}\r\nconnection: close\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&body);
    let _ = stream.try_write(&bytes);
}

/// What one event loop saw when it stopped: connections (of all loops)
/// still open at the end of the shutdown grace.
struct Drained {
    cut: usize,
}

/// The bursts all event loops log together, so one failure burst is one
/// line however many loops see it.
#[derive(Default)]
struct Bursts {
    accept_errors: std::sync::Mutex<Burst>,
    refused: std::sync::Mutex<Burst>,
}

/// `threads` listeners on one address, each with `SO_REUSEPORT`, so the
/// kernel spreads new connections over the event loops. With port 0, the
/// first picks the port and the others join it.
pub fn bind_listeners(
    addr: SocketAddr,
    threads: usize,
) -> anyhow::Result<Vec<std::net::TcpListener>> {
    // SO_REUSEPORT would also let this process share a port another one
    // (of the same user) already serves, splitting its traffic silently: a
    // plain bind first makes a taken port the usual startup error.
    if addr.port() != 0 {
        drop(std::net::TcpListener::bind(addr).with_context(|| format!("listening on {addr}"))?);
    }
    let mut listeners: Vec<std::net::TcpListener> = Vec::with_capacity(threads);
    for _ in 0..threads.max(1) {
        let at = match listeners.first() {
            Some(first) => first.local_addr()?,
            None => addr,
        };
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(at),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket
            .bind(&at.into())
            .with_context(|| format!("listening on {at}"))?;
        socket.listen(1024)?;
        listeners.push(socket.into());
    }
    Ok(listeners)
}

/// Counts a burst of like events (failures, refusals) so that only the first
/// of a burst, and its end, is logged.
#[derive(Default)]
struct Burst {
    count: u64,
}

impl Burst {
    /// Counts one; true for the first of a burst.
    fn hit(&mut self) -> bool {
        self.count += 1;
        self.count == 1
    }

    /// Ends the burst, if one was on: how many it counted.
    fn end(&mut self) -> Option<u64> {
        (self.count > 0).then(|| std::mem::take(&mut self.count))
    }
}

/// When a connection last moved bytes, and whether a request is in flight on
/// it: what the idle timeout looks at.
struct Activity {
    epoch: Instant,
    last_ms: AtomicU64,
    busy: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.last_ms.store(now, Ordering::Relaxed);
    }

    fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    /// How long the connection has had no request in flight and no bytes.
    fn idle_for(&self) -> Duration {
        if self.busy.load(Ordering::Acquire) > 0 {
            return Duration::ZERO;
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }
}

/// A request in flight on a connection, until its response body is dropped.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its connection busy, and its request's
/// in-flight slot taken, until it is dropped; its size hint is the inner
/// one, so `content-length` survives.
struct Guarded {
    inner: WasiBody,
    _busy: Busy,
    _slot: Option<OwnedSemaphorePermit>,
}

impl hyper::body::Body for Guarded {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// A socket that records its activity.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        res
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
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
fn body_error(
    e: Box<dyn std::error::Error + Send + Sync>,
    limit: usize,
) -> wasmtime_wasi_http::Error {
    use wasmtime_wasi_http::Error;
    if e.is::<LengthLimitError>() {
        return Error::HttpRequestBodySize(Some(limit as u64));
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

/// `503 OVERLOADED` with `Retry-After`, as a header and in the envelope's
/// details.
fn overloaded(message: &str, request_id: &str, retry_after: Duration) -> Response<WasiBody> {
    let secs = retry_after.as_secs().max(1);
    let body = envelope_json(
        StatusCode::SERVICE_UNAVAILABLE,
        "OVERLOADED",
        message,
        request_id,
        Some(secs),
    );
    let mut res = json_response(StatusCode::SERVICE_UNAVAILABLE, body, request_id);
    res.headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
    res
}

fn envelope_json(
    status: StatusCode,
    code: &str,
    message: &str,
    request_id: &str,
    retry_after_secs: Option<u64>,
) -> Vec<u8> {
    let now_ms = crate::os::now_unix_millis();
    let mut body = ErrorEnvelope::new(
        status.as_u16(),
        code,
        message,
        prompthelm_domain::time::rfc3339_millis(now_ms),
        request_id,
    );
    if let Some(secs) = retry_after_secs {
        body.details = Some(serde_json::json!({ "retryAfterSeconds": secs }));
    }
    serde_json::to_vec(&body).expect("the envelope serializes")
}

fn envelope(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response<WasiBody> {
    json_response(
        status,
        envelope_json(status, code, message, request_id, None),
        request_id,
    )
}

fn json_response(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response<WasiBody> {
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

pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_only_an_authority() {
        for ok in [
            "localhost",
            "localhost:3000",
            "api.example.com",
            "127.0.0.1:8080",
            "[::1]:3000",
            "[::1]",
            "my_host.local",
        ] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in [
            "",
            "evil/../x",
            "a/b?c",
            "a?b",
            "a#b",
            "user@host",
            "host:",
            "host:80:80",
            "host:http",
            "[::1",
            "[nope]:80",
            "a b",
            "host:123456",
        ] {
            assert!(!valid_host(bad), "{bad}");
        }
    }

    #[test]
    fn a_burst_is_logged_once() {
        let mut b = Burst::default();
        assert_eq!(b.end(), None);
        assert!(b.hit());
        assert!(!b.hit());
        assert!(!b.hit());
        assert_eq!(b.end(), Some(3));
        assert!(b.hit());
    }
}
