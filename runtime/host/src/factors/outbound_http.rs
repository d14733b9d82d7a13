//! Outbound HTTP through the `wasi:http` client, limited to the component's
//! `allowed_outbound_hosts` like Spin: anything else is `HttpRequestDenied`.
//!
//! Requests go through one client shared by every instance of every
//! component (hyper-util's pooled client): connections are kept alive and
//! reused per scheme and authority, HTTP/2 is used where the server offers
//! it over TLS (ALPN), and the TLS root store is built once at startup, not
//! per request as wasmtime-wasi-http's `default_send_request` does. Errors
//! map to the same `wasi:http` error codes the default sender gives, and the
//! guest's connect, first-byte and between-bytes timeouts are honoured.

use std::error::Error as StdError;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use prompthelm_manifest::outbound::AllowedHosts;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// Connecting to a provider should take milliseconds; a dead address must
/// not hold a request for the OS default of minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What `default_send_request` waits when the guest sets no timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Idle connections are closed after this long (providers close theirs
/// after a minute or two anyway).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Idle connections kept per scheme and authority.
const POOL_MAX_IDLE_PER_HOST: usize = 64;

type PooledClient = Client<Connector, WasiBody>;

static CLIENT: OnceLock<PooledClient> = OnceLock::new();

/// Builds the shared client (and its TLS root store) once. `app.rs` calls
/// it at startup; the first request would otherwise.
pub fn init() {
    client();
}

fn client() -> &'static PooledClient {
    CLIENT.get_or_init(|| {
        Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .build(Connector::new())
    })
}

pub struct OutboundHttp {
    component: Arc<str>,
    allowed: Arc<AllowedHosts>,
}

impl OutboundHttp {
    pub fn new(component: Arc<str>, allowed: Arc<AllowedHosts>) -> Self {
        Self { component, allowed }
    }

    fn is_allowed(&self, uri: &http::Uri) -> bool {
        match (uri.scheme_str(), uri.host()) {
            (Some(scheme), Some(host)) => self.allowed.allows(scheme, host, uri.port_u16()),
            _ => false,
        }
    }
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        _ = fut;
        if !self.is_allowed(request.uri()) {
            eprintln!(
                "component {}: outbound request to {} denied: not in allowed_outbound_hosts",
                self.component,
                redact_query(request.uri())
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        Box::new(send(request, options.unwrap_or_default()))
    }
}

tokio::task_local! {
    /// The connect timeout of the request being sent, for the connector
    /// (hyper-util calls it from the request's own future).
    static CONNECT_TIMEOUT_OF_REQUEST: Duration;
}

async fn send(
    request: http::Request<WasiBody>,
    options: RequestOptions,
) -> Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), Error>> + Send>,
    ),
    Error,
> {
    if request.uri().authority().is_none() {
        return Err(Error::HttpRequestUriInvalid);
    }
    let connect_timeout = options.connect_timeout.unwrap_or(CONNECT_TIMEOUT);
    let first_byte_timeout = options.first_byte_timeout.unwrap_or(DEFAULT_TIMEOUT);
    let between_bytes_timeout = options.between_bytes_timeout.unwrap_or(DEFAULT_TIMEOUT);
    // A pooled connection needs no connect, so the first-byte budget
    // includes the connect budget (the connector enforces its own).
    let response = CONNECT_TIMEOUT_OF_REQUEST.scope(
        connect_timeout,
        tokio::time::timeout(
            first_byte_timeout.saturating_add(connect_timeout),
            client().request(request),
        ),
    );
    let response = response
        .await
        .map_err(|_| Error::ConnectionReadTimeout)?
        .map_err(client_error)?;
    // Tokio panics on a zero interval; 1 ns is as good as zero.
    let mut timeout = tokio::time::interval(between_bytes_timeout.max(Duration::from_nanos(1)));
    timeout.reset();
    let response =
        response.map(|incoming| IncomingResponseBody { incoming, timeout }.boxed_unsync());
    // The connection lives in the pool, not in this request: nothing more
    // to report once the response head is here.
    Ok((response, Box::new(async { Ok(()) })))
}

/// The response body, with the guest's between-bytes timeout (as
/// wasmtime-wasi-http's default sender does it).
struct IncomingResponseBody {
    incoming: hyper::body::Incoming,
    timeout: tokio::time::Interval,
}

impl http_body::Body for IncomingResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(if err.is_timeout() {
                Error::HttpResponseTimeout
            } else {
                Error::Hyper(err)
            }))),
            Poll::Ready(Some(Ok(frame))) => {
                self.timeout.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.timeout.poll_tick(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}

/// The `wasi:http` error for a failed send, as the default sender would
/// report it: connect and TLS failures from the connector, a guest body
/// error as itself, any other hyper failure as a protocol error (what
/// wasmtime-wasi-http makes of a plain hyper error).
fn client_error(e: hyper_util::client::legacy::Error) -> Error {
    let mut source: Option<&(dyn StdError + 'static)> = e.source();
    while let Some(s) = source {
        if let Some(e) = s.downcast_ref::<ConnectError>() {
            return e.to_wasi();
        }
        if let Some(e) = s.downcast_ref::<Error>() {
            return copy_error(e);
        }
        if let Some(code) = s.downcast_ref::<ErrorCode>() {
            return Error::from(code.clone());
        }
        if let Some(e) = s.downcast_ref::<hyper::Error>()
            && e.is_timeout()
        {
            return Error::HttpResponseTimeout;
        }
        source = s.source();
    }
    if e.is_connect() {
        // Only the connector's own errors can make a connect error.
        return Error::ConnectionRefused;
    }
    Error::HttpProtocolError
}

/// A copy of an error found by reference in a source chain (the type is not
/// `Clone`; I/O errors keep their kind and text, which is what the error
/// code is chosen from).
fn copy_error(e: &Error) -> Error {
    let io = |e: &io::Error| io::Error::new(e.kind(), e.to_string());
    match e {
        Error::Connect(e) => Error::Connect(io(e)),
        Error::Tls(e) => Error::Tls(io(e)),
        Error::HttpRequestBodySize(n) => Error::HttpRequestBodySize(*n),
        Error::HttpResponseBodySize(n) => Error::HttpResponseBodySize(*n),
        Error::HttpRequestDenied => Error::HttpRequestDenied,
        Error::HttpRequestUriInvalid => Error::HttpRequestUriInvalid,
        Error::HttpResponseIncomplete => Error::HttpResponseIncomplete,
        Error::HttpResponseTimeout => Error::HttpResponseTimeout,
        Error::ConnectionTimeout => Error::ConnectionTimeout,
        Error::ConnectionReadTimeout => Error::ConnectionReadTimeout,
        Error::ConnectionWriteTimeout => Error::ConnectionWriteTimeout,
        Error::ConnectionTerminated => Error::ConnectionTerminated,
        Error::ConnectionRefused => Error::ConnectionRefused,
        Error::HttpProtocolError | Error::Hyper(_) => Error::HttpProtocolError,
        Error::InternalError(msg) => Error::InternalError(msg.clone()),
        other => Error::InternalError(Some(other.to_string())),
    }
}

/// Why the connector could not connect.
#[derive(Debug)]
enum ConnectError {
    Timeout,
    Connect(io::Error),
    Tls(io::Error),
    DnsName,
    UriInvalid,
}

impl ConnectError {
    fn to_wasi(&self) -> Error {
        let io = |e: &io::Error| io::Error::new(e.kind(), e.to_string());
        match self {
            Self::Timeout => Error::ConnectionTimeout,
            Self::Connect(e) => Error::Connect(io(e)),
            Self::Tls(e) => Error::Tls(io(e)),
            Self::DnsName => Error::InvalidDnsNameError(rustls::pki_types::InvalidDnsNameError),
            Self::UriInvalid => Error::HttpRequestUriInvalid,
        }
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => write!(f, "connection timeout"),
            Self::Connect(e) => write!(f, "connection error: {e}"),
            Self::Tls(e) => write!(f, "TLS error: {e}"),
            Self::DnsName => write!(f, "invalid DNS name"),
            Self::UriInvalid => write!(f, "invalid URI"),
        }
    }
}

impl StdError for ConnectError {}

/// TCP, plus TLS for `https`, with the root store and ALPN set up once.
#[derive(Clone)]
struct Connector {
    tls: tokio_rustls::TlsConnector,
}

impl Connector {
    fn new() -> Self {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Self {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        }
    }
}

impl tower_service::Service<http::Uri> for Connector {
    type Response = Stream;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        // Read now: this runs inside the request's future, the connect
        // itself may finish in a task of its own.
        let timeout = CONNECT_TIMEOUT_OF_REQUEST
            .try_with(|t| *t)
            .unwrap_or(CONNECT_TIMEOUT);
        let tls = self.tls.clone();
        Box::pin(async move {
            tokio::time::timeout(timeout, connect(uri, tls))
                .await
                .map_err(|_| ConnectError::Timeout)?
        })
    }
}

async fn connect(uri: http::Uri, tls: tokio_rustls::TlsConnector) -> Result<Stream, ConnectError> {
    let authority = uri.authority().ok_or(ConnectError::UriInvalid)?;
    let use_tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
    let authority = match authority.port() {
        Some(_) => authority.to_string(),
        None => format!("{authority}:{}", if use_tls { 443 } else { 80 }),
    };
    let tcp = TcpStream::connect(&authority)
        .await
        .map_err(ConnectError::Connect)?;
    // Requests are written whole; never wait for an ACK to send the rest.
    let _ = tcp.set_nodelay(true);
    if !use_tls {
        return Ok(Stream {
            io: TokioIo::new(Box::new(tcp)),
            h2: false,
        });
    }
    let name = server_name(&authority).map_err(|_| ConnectError::DnsName)?;
    let tls = tls.connect(name, tcp).await.map_err(ConnectError::Tls)?;
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    Ok(Stream {
        io: TokioIo::new(Box::new(tls)),
        h2,
    })
}

/// The TLS server name of a `host:port` authority (an IP literal, bracketed
/// for IPv6, or a DNS name), as wasmtime-wasi-http's default sender has it.
fn server_name(
    authority: &str,
) -> Result<ServerName<'static>, rustls::pki_types::InvalidDnsNameError> {
    if let Ok(addr) = authority.parse::<std::net::SocketAddr>() {
        return Ok(ServerName::from(addr.ip()));
    }
    let host = authority
        .split_once(':')
        .map_or(authority, |(host, _)| host);
    Ok(ServerName::try_from(host)?.to_owned())
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A connection the pool holds: TCP or TLS, and whether ALPN chose HTTP/2.
struct Stream {
    io: TokioIo<Box<dyn Io>>,
    h2: bool,
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        let connected = Connected::new();
        if self.h2 {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl Read for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

/// Query strings can carry keys (Google's `?key=`), so logs show only the
/// scheme, authority and path.
fn redact_query(uri: &http::Uri) -> String {
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("?"),
        uri.authority().map(|a| a.as_str()).unwrap_or("?"),
        uri.path()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_from_authorities() {
        assert_eq!(
            server_name("api.openai.com:443").unwrap(),
            ServerName::try_from("api.openai.com").unwrap()
        );
        assert_eq!(
            server_name("[::1]:443").unwrap(),
            ServerName::from(std::net::Ipv6Addr::LOCALHOST)
        );
        assert_eq!(
            server_name("127.0.0.1:8080").unwrap(),
            ServerName::from(std::net::Ipv4Addr::LOCALHOST)
        );
    }

    #[test]
    fn connect_errors_keep_the_default_senders_codes() {
        let refused = ConnectError::Connect(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert!(
            matches!(refused.to_wasi(), Error::Connect(e) if e.kind() == io::ErrorKind::ConnectionRefused)
        );
        assert!(matches!(
            ConnectError::Timeout.to_wasi(),
            Error::ConnectionTimeout
        ));
    }
}
