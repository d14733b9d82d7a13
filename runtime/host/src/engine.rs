//! The wasmtime engine and linker shared by every component of the app.

use std::hash::{Hash as _, Hasher as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::error::Context as _;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
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
/// an mmap per request) and epoch interruption for timeouts.
pub fn build(pool: &Pool) -> anyhow::Result<Engine> {
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

/// Compiles (or finds compiled in `cache_dir`) and links one component,
/// checking that it is a `wasi:http/handler@0.3.0` service and that every
/// import is satisfied.
pub fn prepare(
    engine: &Engine,
    linker: &Linker<HostState>,
    cache_dir: Option<&Path>,
    id: &str,
    source: &Path,
) -> anyhow::Result<ProxyPre<HostState>> {
    let component = load(engine, cache_dir, source)
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

/// Loads a component, through the compiled-code cache when there is one.
///
/// The cache holds each component precompiled, in a file named by the
/// SHA-256 of the `.wasm` and of the engine's settings, and the component is
/// mapped from that file rather than read into memory: its code and data
/// are clean file pages, resident only once touched and shared with the
/// page cache. Read into memory (wasmtime's own cache decompresses each
/// entry onto the heap), the app's nine components held about 47 MiB
/// resident from the start.
fn load(engine: &Engine, cache_dir: Option<&Path>, source: &Path) -> wasmtime::Result<Component> {
    let wasm = std::fs::read(source)?;
    let Some(dir) = cache_dir else {
        return Component::new(engine, &wasm);
    };
    let path = compiled_path(engine, dir, &wasm);
    // Marks a cached file as in use, so [`prune_cache`] keeps it.
    let used = std::fs::File::options()
        .append(true)
        .open(&path)
        .and_then(|file| file.set_modified(std::time::SystemTime::now()));
    match used {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let compiled = engine.precompile_component(&wasm)?;
            write_atomically(&path, &compiled)
                .with_context(|| format!("caching the compiled code in {}", path.display()))?;
        }
        Err(e) => return Err(e).context(format!("marking {} as used", path.display())),
    }
    // SAFETY: the file was written by this function (in this start or an
    // earlier one sharing the cache dir), under a name that only the same
    // `.wasm` compiled by the same engine settings produces, and it is never
    // modified in place: it appears whole by a rename, so no reader maps a
    // partial file.
    let component = unsafe { Component::deserialize_file(engine, &path) };
    component.with_context(|| format!("mapping {}", path.display()))
}

/// `<dir>/components/<sha256 of the engine's settings and the wasm>.cwasm`.
fn compiled_path(engine: &Engine, dir: &Path, wasm: &[u8]) -> PathBuf {
    // Engine settings that change the code (target, tunables, wasmtime's
    // version) change the hash: such a build never maps another's code.
    let mut settings = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut settings);
    let mut key = Sha256::new();
    key.update(settings.finish().to_le_bytes());
    key.update(wasm);
    let name: String = key.finalize().iter().map(|b| format!("{b:02x}")).collect();
    dir.join("components").join(format!("{name}.cwasm"))
}

/// Writes `bytes` to a temporary file beside `path`, then renames it there.
fn write_atomically(path: &Path, bytes: &[u8]) -> wasmtime::Result<()> {
    let dir = path.parent().context("a cache path has a parent")?;
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("component"),
        std::process::id()
    ));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

/// How long a compiled component no start has used stays in the cache.
const UNUSED_COMPILED_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);

/// Deletes the compiled components of the cache that no start has used for
/// [`UNUSED_COMPILED_KEPT`] (each rebuilt `.wasm` leaves its predecessor's
/// behind). A process that has one mapped keeps its pages: Linux frees a
/// deleted file when its last mapping goes.
pub fn prune_cache(dir: &Path) -> wasmtime::Result<()> {
    let entries = match std::fs::read_dir(dir.join("components")) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).context("listing the compiled-code cache"),
    };
    let now = std::time::SystemTime::now();
    // Several starts may prune one cache at once: a file another one
    // removed first is not an error.
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    for entry in entries {
        let entry = entry?;
        let modified = match entry.metadata().and_then(|m| m.modified()) {
            Ok(at) => at,
            Err(e) if gone(&e) => continue,
            Err(e) => return Err(e).context(format!("reading {}", entry.path().display())),
        };
        if now.duration_since(modified).unwrap_or_default() > UNUSED_COMPILED_KEPT {
            match std::fs::remove_file(entry.path()) {
                Err(e) if !gone(&e) => {
                    return Err(e).context(format!("removing {}", entry.path().display()));
                }
                _ => {}
            }
        }
    }
    Ok(())
}
