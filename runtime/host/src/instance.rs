//! One component, ready to serve: its pre-instance, its capabilities, and the
//! store data each request's fresh instance gets.

use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use prompthelm_manifest::outbound::AllowedHosts;
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::component::{GuestTaskId, ResourceTable};
use wasmtime::{Engine, Store, StoreContextMut};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::handler::{
    HandlerState, Instance, ProxyPre, ShouldAccept, WorkerExpiration, WorkerState, WorkerStatus,
};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::factors::key_value::{KeyValueState, Stores};
use crate::factors::outbound_http::OutboundHttp;
use crate::factors::sqlite::{Databases, SqliteState};
use crate::factors::variables::VariablesState;
use crate::limits::{InstanceLimiter, MemoryBudget};

/// The server answers 504 at the request timeout; the instance itself is
/// torn down this much later, so the server's answer always comes first.
const TEARDOWN_GRACE: Duration = Duration::from_secs(1);

/// What a component may touch, straight from its manifest entry.
pub struct Capabilities {
    pub sqlite_databases: Arc<BTreeSet<String>>,
    pub key_value_stores: Arc<BTreeSet<String>>,
    pub variables: Arc<BTreeMap<String, String>>,
    pub outbound_hosts: Arc<AllowedHosts>,
}

/// The app's shared backends, by label.
pub struct Backends {
    pub databases: Arc<Databases>,
    pub stores: Arc<Stores>,
}

/// The store data of one instance.
pub struct HostState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    outbound: OutboundHttp,
    pub sqlite: SqliteState,
    pub key_value: KeyValueState,
    pub variables: VariablesState,
    limits: InstanceLimiter,
    /// The component's in-flight slot (see `server.rs`), held as long as the
    /// instance lives, so the slots of all components never exceed the
    /// pooling allocator's instances.
    slot: Option<OwnedSemaphorePermit>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

fn http_view(state: &mut HostState) -> WasiHttpCtxView<'_> {
    state.http()
}

/// A component of the app, compiled and linked once at startup.
pub struct ComponentServer {
    pub id: Arc<str>,
    engine: Engine,
    pre: ProxyPre<HostState>,
    capabilities: Capabilities,
    backends: Arc<Backends>,
    request_timeout: Duration,
    memory: InstanceMemory,
}

/// How much linear memory an instance may have: its own cap, and the budget
/// all instances share.
#[derive(Clone)]
pub struct InstanceMemory {
    pub per_instance: usize,
    pub budget: Arc<MemoryBudget>,
}

impl ComponentServer {
    pub fn new(
        id: &str,
        engine: Engine,
        pre: ProxyPre<HostState>,
        capabilities: Capabilities,
        backends: Arc<Backends>,
        request_timeout: Duration,
        memory: InstanceMemory,
    ) -> Self {
        Self {
            id: id.into(),
            engine,
            pre,
            capabilities,
            backends,
            request_timeout,
            memory,
        }
    }

    /// How long the server waits for this component's response headers.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    fn new_store(&self) -> Store<HostState> {
        let caps = &self.capabilities;
        // Guest stdout/stderr go to the host's stderr so component logs show
        // up next to the request log, as with `spin up`.
        let wasi = WasiCtx::builder().inherit_stderr().inherit_stdout().build();
        let state = HostState {
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            outbound: OutboundHttp::new(self.id.clone(), caps.outbound_hosts.clone()),
            sqlite: SqliteState::new(
                caps.sqlite_databases.clone(),
                self.backends.databases.clone(),
            ),
            key_value: KeyValueState::new(
                caps.key_value_stores.clone(),
                self.backends.stores.clone(),
            ),
            variables: VariablesState::new(caps.variables.clone()),
            limits: InstanceLimiter::new(self.memory.per_instance, self.memory.budget.clone()),
            slot: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        // Yield to the event loop at every epoch tick so a guest stuck in a
        // loop cannot keep its request past the timeout.
        store.epoch_deadline_async_yield_and_update(1);
        store
    }
}

impl HandlerState for ComponentServer {
    type StoreData = HostState;
    type WorkerExpiration = Deadline;
    type WorkerState = OneRequest;

    async fn instantiate(&self) -> wasmtime::Result<Instance<HostState, Deadline, OneRequest>> {
        let mut store = self.new_store();
        let proxy = self.pre.instantiate_async(&mut store).await?;
        Ok(Instance {
            store,
            proxy,
            view: http_view,
            expiration: Deadline::new(self.request_timeout + TEARDOWN_GRACE),
            state: OneRequest {
                component: self.id.clone(),
                timeout: self.request_timeout + TEARDOWN_GRACE,
            },
        })
    }
}

/// Serves exactly one request per instance: a fresh instance per request, so
/// no state leaks between requests (real Spin may reuse instances; the
/// components never rely on either behaviour).
pub struct OneRequest {
    component: Arc<str>,
    timeout: Duration,
}

impl WorkerState for OneRequest {
    type StoreData = HostState;
    /// The request's in-flight slot.
    type RequestData = OwnedSemaphorePermit;

    fn should_accept_request(&self, _concurrent: usize, total: usize) -> ShouldAccept {
        if total == 0 {
            ShouldAccept::Yes
        } else {
            ShouldAccept::Never
        }
    }

    fn on_request_start(
        &self,
        mut store: StoreContextMut<'_, HostState>,
        slot: OwnedSemaphorePermit,
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        // Given back when the store (the instance) is dropped.
        store.data_mut().slot = Some(slot);
        Box::pin(tokio::time::sleep(self.timeout))
    }

    fn drop(&self, _store: Store<HostState>, result: wasmtime::Result<()>) {
        if let Err(e) = result {
            eprintln!("component {}: instance failed: {e:?}", self.component);
        }
    }
}

/// Expires a worker whose request (or post-return work) outlives the request
/// timeout. This is polled outside the store's event loop, so it still fires
/// when a guest holds the store in a busy loop.
pub struct Deadline {
    timeout: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Deadline {
    fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            sleep: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl WorkerExpiration for Deadline {
    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        start: Instant,
    ) -> Poll<()> {
        match status {
            // Never reused, so an idle worker is done.
            WorkerStatus::Idle => Poll::Ready(()),
            WorkerStatus::Requests | WorkerStatus::PostReturn => {
                let deadline = tokio::time::Instant::from_std(start + self.timeout);
                if self.sleep.deadline() != deadline {
                    self.sleep.as_mut().reset(deadline);
                }
                self.sleep.as_mut().poll(cx)
            }
        }
    }
}
