//! Outbound HTTP through the `wasi:http` client, limited to the component's
//! `allowed_outbound_hosts` like Spin: anything else is `HttpRequestDenied`.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use prompthelm_manifest::outbound::AllowedHosts;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks, default_send_request};

/// Connecting to a provider should take milliseconds; a dead address must
/// not hold a request for the OS default of minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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
        let mut options = options.unwrap_or_default();
        options.connect_timeout.get_or_insert(CONNECT_TIMEOUT);
        Box::new(async move {
            let (response, io) = default_send_request(request, Some(options)).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
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
