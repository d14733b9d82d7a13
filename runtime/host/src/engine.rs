//! The wasmtime engine and linker shared by every component of the app.

use std::path::Path;
use std::time::Duration;

use wasmtime::component::{Component, Linker};
use wasmtime::error::Context as _;
use wasmtime::{
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
};
use wasmtime_wasi_http::handler::ProxyPre;

use crate::factors::bindings::spin;
use crate::factors::key_value::KeyValueFactor;
use crate::factors::sqlite::SqliteFactor;
use crate::factors::variables::VariablesFactor;
use crate::instance::HostState;

/// How often the epoch ticks; a looping guest yields at each tick.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Virtual address space reserved per linear memory. It does not depend on
/// the flags, so compiled code (and the compile cache) is the same whatever
/// `--instance-memory-mib` is (which is at most this).
const MEMORY_RESERVATION: u64 = (crate::limits::MAX_INSTANCE_MEMORY_MIB) << 20;

/// The pooling allocator's size.
pub struct Pool {
    /// Instances alive at once, across all components: the sum of every
    /// component's instance places (`limits::instances_per_component`, its
    /// in-flight slots plus its health reserve). An instance is created only
    /// with a place in hand and gives it back when dropped, so the pool never
    /// runs out, and a full component never makes instantiation fail for
    /// another.
    pub instances: u32,
    /// Largest linear memory of one instance.
    pub instance_memory: usize,
}

/// Builds the engine: pooling allocator (instantiation is a slot reuse, not
/// an mmap per request), epoch interruption for timeouts, and an on-disk
/// cache of compiled code so a restart does not recompile unchanged `.wasm`.
pub fn build(cache_dir: Option<&Path>, pool: &Pool) -> anyhow::Result<Engine> {
    let n = pool.instances.max(1);
    let mut pooling = PoolingAllocationConfig::new();
    pooling
        .total_component_instances(n)
        .total_core_instances(n * 8)
        .total_memories(n * 2)
        .total_tables(n * 8)
        .total_stacks(n * 2)
        .max_memory_size(pool.instance_memory);
    let mut config = Config::new();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling))
        .epoch_interruption(true)
        // Small reservations keep the pool's virtual footprint modest.
        .memory_reservation(MEMORY_RESERVATION)
        .memory_guard_size(64 << 10);
    if let Some(dir) = cache_dir {
        let mut cache = CacheConfig::new();
        cache.with_directory(dir);
        config.cache(Some(
            Cache::new(cache).context("setting up the compiled-code cache")?,
        ));
    }
    let engine = Engine::new(&config)?;
    spawn_epoch_ticker(engine.clone());
    Ok(engine)
}

fn spawn_epoch_ticker(engine: Engine) {
    // A plain thread: it must tick even while every tokio worker is busy
    // running guest code.
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .expect("spawning the epoch ticker thread");
}

/// All host interfaces a component may import: WASI p2 (what Rust std uses),
/// WASI p3 cli/clocks/random, `wasi:http` p3, and the Spin interfaces.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::<HostState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi::p3::clocks::add_to_linker(&mut linker)?;
    wasmtime_wasi::p3::random::add_to_linker(&mut linker)?;
    wasmtime_wasi::p3::cli::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    spin::sqlite::sqlite::add_to_linker::<_, SqliteFactor>(&mut linker, |s| &mut s.sqlite)?;
    spin::key_value::key_value::add_to_linker::<_, KeyValueFactor>(&mut linker, |s| {
        &mut s.key_value
    })?;
    spin::variables::variables::add_to_linker::<_, VariablesFactor>(&mut linker, |s| {
        &mut s.variables
    })?;
    Ok(linker)
}

/// Compiles and links one component, checking that it is a
/// `wasi:http/handler@0.3.0` service and that every import is satisfied.
pub fn prepare(
    engine: &Engine,
    linker: &Linker<HostState>,
    id: &str,
    source: &Path,
) -> anyhow::Result<ProxyPre<HostState>> {
    let component = Component::from_file(engine, source)
        .with_context(|| format!("component `{id}`: loading {}", source.display()))?;
    let pre = linker
        .instantiate_pre(&component)
        .with_context(|| format!("component `{id}`: linking {}", source.display()))?;
    let pre = wasmtime_wasi_http::p3::bindings::ServicePre::new(pre).with_context(|| {
        format!(
            "component `{id}`: {} does not export wasi:http/handler@0.3.0 \
             (build it with spin-sdk 7 and #[http_service])",
            source.display()
        )
    })?;
    Ok(ProxyPre::P3(pre))
}
