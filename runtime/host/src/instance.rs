//! One component, ready to serve: its pre-instance, its capabilities, the
//! store data of its instances, and the `ProxyHandler` policy that reuses
//! them as Spin 4 does (see [`InstanceReuse`]).

use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use prompthelm_manifest::outbound::AllowedHosts;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
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
use crate::limits::{InstanceLimiter, InstanceReuse, MemoryBudget};

/// The server answers 504 at the request timeout; the instance itself is
/// torn down this much later, so the server's answer always comes first.
const TEARDOWN_GRACE: Duration = Duration::from_secs(1);

/// While an instantiation waits for one of its component's instance places,
/// it asks idle instances to leave this often.
const PRESSURE_RETRY: Duration = Duration::from_millis(20);

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
    /// The instance's place among its component's live instances, given
    /// back when the store is dropped.
    _place: Place,
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
    reuse: InstanceReuse,
    places: Arc<Places>,
}

/// How much linear memory an instance may have: its own cap, and the budget
/// all instances share.
#[derive(Clone)]
pub struct InstanceMemory {
    pub per_instance: usize,
    pub budget: Arc<MemoryBudget>,
}

/// The live instances of one component: at most as many as it has places
/// (see `limits::instances_per_component`; the pooling allocator holds the
/// places of all components), and what was counted about them.
struct Places {
    free: Arc<Semaphore>,
    /// Woken when an instantiation waits for a place: idle instances leave.
    pressure: Arc<Notify>,
    created: AtomicU64,
    requests: AtomicU64,
    live: AtomicUsize,
    peak: AtomicUsize,
    /// Most requests seen in flight on one instance at once.
    peak_shared: AtomicUsize,
    /// Instantiations that had to wait for a place.
    waited: AtomicU64,
    /// Set at shutdown, when the runtime drops the instances still alive.
    stopping: AtomicBool,
}

/// An instance's place, held by its store.
struct Place {
    _permit: OwnedSemaphorePermit,
    places: Arc<Places>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.places.live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What was counted about one component's instances since startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceStats {
    /// Instances created.
    pub created: u64,
    /// Requests handed to an instance.
    pub requests: u64,
    /// Most instances alive at once.
    pub peak: usize,
    /// Most requests in flight on one instance at once.
    pub peak_shared: usize,
    /// Instantiations that waited for a place.
    pub waited: u64,
}

impl ComponentServer {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: &str,
        engine: Engine,
        pre: ProxyPre<HostState>,
        capabilities: Capabilities,
        backends: Arc<Backends>,
        request_timeout: Duration,
        memory: InstanceMemory,
        reuse: InstanceReuse,
        max_instances: usize,
    ) -> Self {
        Self {
            id: id.into(),
            engine,
            pre,
            capabilities,
            backends,
            request_timeout,
            memory,
            reuse,
            places: Arc::new(Places {
                free: Arc::new(Semaphore::new(max_instances)),
                pressure: Arc::new(Notify::new()),
                created: AtomicU64::new(0),
                requests: AtomicU64::new(0),
                live: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
                peak_shared: AtomicUsize::new(0),
                waited: AtomicU64::new(0),
                stopping: AtomicBool::new(false),
            }),
        }
    }

    /// How long the server waits for this component's response headers.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The server has stopped: instances still alive (idle ones, kept for
    /// reuse) are about to be dropped with the runtime, which is no failure.
    pub fn stopping(&self) {
        self.places.stopping.store(true, Ordering::Relaxed);
    }

    /// Instances created and requests served so far.
    pub fn stats(&self) -> InstanceStats {
        let p = &self.places;
        InstanceStats {
            created: p.created.load(Ordering::Relaxed),
            requests: p.requests.load(Ordering::Relaxed),
            peak: p.peak.load(Ordering::Relaxed),
            peak_shared: p.peak_shared.load(Ordering::Relaxed),
            waited: p.waited.load(Ordering::Relaxed),
        }
    }

    /// A place for a new instance. When every place is taken, the instances
    /// holding them are serving requests, idle, or finishing: idle ones are
    /// asked to leave, and the wait ends when one of them is dropped.
    async fn place(&self) -> wasmtime::Result<Place> {
        let places = &self.places;
        let permit = match places.free.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                places.waited.fetch_add(1, Ordering::Relaxed);
                let deadline = tokio::time::Instant::now() + self.request_timeout;
                loop {
                    // Asked again each round: an instance that became idle
                    // since the last round leaves too.
                    places.pressure.notify_waiters();
                    let acquire = places.free.clone().acquire_owned();
                    match tokio::time::timeout(PRESSURE_RETRY, acquire).await {
                        Ok(Ok(permit)) => break permit,
                        Ok(Err(_closed)) => {
                            wasmtime::bail!("component {}: instance places closed", self.id)
                        }
                        Err(_) if tokio::time::Instant::now() >= deadline => wasmtime::bail!(
                            "component {}: no instance place came free within {:?}",
                            self.id,
                            self.request_timeout
                        ),
                        Err(_) => {}
                    }
                }
            }
        };
        places.created.fetch_add(1, Ordering::Relaxed);
        let live = places.live.fetch_add(1, Ordering::Relaxed) + 1;
        places.peak.fetch_max(live, Ordering::Relaxed);
        Ok(Place {
            _permit: permit,
            places: places.clone(),
        })
    }

    fn new_store(&self, place: Place) -> Store<HostState> {
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
            _place: place,
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
    type WorkerExpiration = Expiration;
    type WorkerState = Reuse;

    async fn instantiate(&self) -> wasmtime::Result<Instance<HostState, Expiration, Reuse>> {
        let place = self.place().await?;
        let mut store = self.new_store(place);
        let proxy = self.pre.instantiate_async(&mut store).await?;
        let timed_out = Arc::new(AtomicBool::new(false));
        let request_deadline = self.request_timeout + TEARDOWN_GRACE;
        Ok(Instance {
            store,
            proxy,
            view: http_view,
            expiration: Expiration {
                request_deadline,
                idle_timeout: self.reuse.idle_timeout,
                timed_out: timed_out.clone(),
                pressure: self.places.pressure.clone(),
                leave_when_pressed: None,
                sleep: Box::pin(tokio::time::sleep(request_deadline)),
            },
            state: Reuse {
                component: self.id.clone(),
                reuse: self.reuse,
                request_deadline,
                timed_out,
                places: self.places.clone(),
            },
        })
    }
}

/// Spin 4's reuse policy for one instance: at most `max_requests` requests
/// in all and `max_concurrent` at once. A request past its deadline marks
/// the instance as timed out: it takes no more requests and is dropped as
/// soon as its other requests are done (see [`Expiration`]). With
/// `max_requests` 1, every request gets a fresh instance.
///
/// Components must not keep per-request or per-organization state in
/// globals: requests of different callers share an instance, one after
/// another and at once.
pub struct Reuse {
    component: Arc<str>,
    reuse: InstanceReuse,
    request_deadline: Duration,
    timed_out: Arc<AtomicBool>,
    places: Arc<Places>,
}

impl WorkerState for Reuse {
    type StoreData = HostState;
    /// The request's in-flight slot stays with the server (it is given back
    /// when the response body is sent), so nothing travels with a request.
    type RequestData = ();

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        // `concurrent` requests are in flight on this instance right now.
        self.places
            .peak_shared
            .fetch_max(concurrent, Ordering::Relaxed);
        if self.timed_out.load(Ordering::Relaxed) || total >= self.reuse.max_requests {
            ShouldAccept::Never
        } else if concurrent >= self.reuse.max_concurrent {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        _store: StoreContextMut<'_, HostState>,
        _data: (),
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        self.places.requests.fetch_add(1, Ordering::Relaxed);
        let deadline = self.request_deadline;
        let timed_out = self.timed_out.clone();
        Box::pin(async move {
            tokio::time::sleep(deadline).await;
            timed_out.store(true, Ordering::Relaxed);
        })
    }

    fn drop(&self, _store: Store<HostState>, result: wasmtime::Result<()>) {
        if let Err(e) = result
            && !self.places.stopping.load(Ordering::Relaxed)
        {
            eprintln!("component {}: instance failed: {e:?}", self.component);
        }
    }
}

/// When an instance is dropped:
/// - idle (nothing in flight, no background work) for the idle timeout, or
///   at once when an instantiation of its component waits for a place;
/// - serving requests: when the most recent of them is past the request
///   deadline. This is polled outside the store's event loop, so it still
///   fires when a guest holds the store in a busy loop; the requests that
///   share the instance then fail (the server answers them 504 or 500);
/// - after one of its requests timed out: as soon as no other request is in
///   flight on it (the timed-out guest task is not waited for);
/// - finishing work after its responses: at the request deadline.
pub struct Expiration {
    request_deadline: Duration,
    idle_timeout: Duration,
    timed_out: Arc<AtomicBool>,
    pressure: Arc<Notify>,
    /// Set while idle: completes when an instantiation waits for a place.
    leave_when_pressed: Option<Pin<Box<dyn Future<Output = ()> + Send + Sync>>>,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl WorkerExpiration for Expiration {
    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        start: Instant,
    ) -> Poll<()> {
        let timeout = match status {
            WorkerStatus::Idle => {
                if self.leave_when_pressed.is_none() {
                    // Polled at once below, so it is registered from now on.
                    let pressure = self.pressure.clone();
                    self.leave_when_pressed =
                        Some(Box::pin(async move { pressure.notified().await }));
                }
                let pressed = self.leave_when_pressed.as_mut().expect("set above");
                if pressed.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(());
                }
                self.idle_timeout
            }
            WorkerStatus::Requests => {
                self.leave_when_pressed = None;
                self.request_deadline
            }
            WorkerStatus::PostReturn => {
                self.leave_when_pressed = None;
                if self.timed_out.load(Ordering::Relaxed) {
                    return Poll::Ready(());
                }
                self.request_deadline
            }
        };
        let deadline = tokio::time::Instant::from_std(start + timeout);
        if self.sleep.deadline() != deadline {
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}
