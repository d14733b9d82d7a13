//! The runtime's limits, in one place: connections, request heads and bodies,
//! in-flight requests per component, instance memory and the memory budget,
//! and shutdown. Every value is a flag of `prompthelm up` (see main.rs); the
//! README's "Limits and failure behaviour" table lists them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use wasmtime::ResourceLimiter;

/// Largest linear memory the engine can give one instance; the pooling
/// allocator's slots are reserved at this size (virtual memory only).
pub const MAX_INSTANCE_MEMORY_MIB: u64 = 1024;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections at once; beyond it a new connection gets a canned
    /// `503 OVERLOADED` envelope and is closed.
    pub max_connections: usize,
    /// From the moment a connection is ready for a request (accepted, or the
    /// previous response done) to a complete request head.
    pub header_timeout: Duration,
    /// A keep-alive connection with no request in flight and no bytes for
    /// this long is closed.
    pub idle_timeout: Duration,
    /// Request line plus headers, in bytes; over it: `431` envelope.
    pub max_header_bytes: usize,
    /// Request target, in bytes; over it: `414` envelope.
    pub max_uri_bytes: usize,
    /// Request body, in bytes; over it: `413` envelope.
    pub max_request_body_bytes: usize,
    /// Requests in flight per component; beyond it: `503 OVERLOADED` with
    /// `Retry-After`. A request holds its slot until its response body is
    /// sent (or it failed). It also caps the component's live instances
    /// (plus the health reserve), see [`instances_per_component`].
    pub max_inflight_per_component: usize,
    /// Exact request paths that are health checks. Each gets its component a
    /// separate reserve of instances, so a saturated component still answers
    /// its health check, and health checks never take the component's
    /// ordinary slots.
    pub health_paths: Vec<String>,
    /// Instances reserved for the health paths of a component.
    pub health_reserve: usize,
    /// The `Retry-After` given with a `503`.
    pub retry_after: Duration,
    /// Linear memory one instance may grow to.
    pub instance_memory_bytes: usize,
    /// Linear memory of all instances together.
    pub memory_budget_bytes: usize,
    /// After SIGTERM/SIGINT, how long in-flight requests may take to finish.
    pub shutdown_grace: Duration,
    /// How instances are reused, as in Spin 4.
    pub reuse: InstanceReuse,
}

/// Spin 4's instance reuse for WASIp3 HTTP components, with its flags and
/// defaults (`spin up --max-instance-reuse-count 128
/// --max-instance-concurrent-reuse-count 16 --idle-instance-timeout 1s`).
/// A reuse count of 1 is a fresh instance per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceReuse {
    /// Requests one instance serves in all before it is dropped.
    pub max_requests: usize,
    /// Requests one instance serves at once.
    pub max_concurrent: usize,
    /// How long an instance with nothing to do is kept for the next request.
    pub idle_timeout: Duration,
}

impl Default for InstanceReuse {
    fn default() -> Self {
        Self {
            max_requests: 128,
            max_concurrent: 16,
            idle_timeout: Duration::from_secs(1),
        }
    }
}

/// The most instances a component may have alive at once: its in-flight
/// slots plus its health reserve. The pooling allocator holds the sum over
/// all components, and an instance is only created with one of these in
/// hand, so instantiation never fails for want of a pool slot.
///
/// Reuse does not make this smaller. wasmtime's `ProxyHandler` starts a new
/// instance whenever no live instance is accepting, and an instance stops
/// accepting while it runs guest code (it takes on one CPU-bound request at
/// a time, and more only while they wait on I/O). So a burst of N requests
/// can need N instances even though one instance may serve 16 at once; with
/// fewer, a request would wait for another request to finish instead of
/// being served (or refused with `503`) at once.
///
/// Every live instance beyond the ones serving requests is idle (given up
/// at once when an instantiation needs its place) or finishing (bounded by
/// the request timeout, and after a timeout dropped at once), so a request
/// that holds an in-flight slot gets an instance without waiting on another
/// request. The `503` comes from the in-flight slots first.
pub fn instances_per_component(ordinary_slots: usize, health_reserve: usize) -> usize {
    ordinary_slots + health_reserve
}

impl Limits {
    /// The hard cap hyper enforces on a request head (its own bare `431`
    /// beyond it). Well above [`Self::max_header_bytes`], so the runtime's
    /// check, with its envelope, is what callers normally meet; bounded, so
    /// a slow client's buffer stays small.
    pub fn hyper_head_cap(&self) -> usize {
        (self.max_header_bytes.saturating_mul(4)).clamp(128 << 10, 1 << 20)
    }
}

/// Linear memory of all live instances, against one budget.
pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
    /// Set while growth is being refused, so the refusal is logged once per
    /// burst rather than once per instance.
    refusing: AtomicBool,
}

impl MemoryBudget {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicUsize::new(0),
            refusing: AtomicBool::new(false),
        })
    }

    fn try_charge(&self, bytes: usize) -> bool {
        let ok = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&n| n <= self.limit)
            })
            .is_ok();
        if ok {
            self.refusing.store(false, Ordering::Relaxed);
        } else if !self.refusing.swap(true, Ordering::Relaxed) {
            eprintln!(
                "memory budget of {} MiB is in use by live instances: refusing memory growth \
                 (the instance's request fails) until instances finish",
                self.limit >> 20
            );
        }
        ok
    }

    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// One instance's memory limits: its own cap, and its share of the budget,
/// given back when the instance (its store) is dropped.
pub struct InstanceLimiter {
    per_instance: usize,
    charged: usize,
    budget: Arc<MemoryBudget>,
}

impl InstanceLimiter {
    pub fn new(per_instance: usize, budget: Arc<MemoryBudget>) -> Self {
        Self {
            per_instance,
            charged: 0,
            budget,
        }
    }
}

/// Tables hold function references; the components need a few thousand.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for InstanceLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.per_instance {
            return Ok(false);
        }
        let delta = desired.saturating_sub(current);
        if !self.budget.try_charge(delta) {
            return Ok(false);
        }
        self.charged += delta;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

impl Drop for InstanceLimiter {
    fn drop(&mut self) {
        self.budget.release(self.charged);
    }
}

/// The memory this process may count on: the cgroup's limit when there is
/// one, else the machine's. `None` when neither can be read.
pub fn machine_memory_bytes() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
    });
    match (cgroup, total) {
        (Some(c), Some(t)) => Some(c.min(t)),
        (c, t) => c.or(t),
    }
}

/// The default budget: half the memory this process may count on (the rest
/// is the host's own, SQLite's page cache and the OS), or 2 GiB when it
/// cannot be read.
pub fn default_memory_budget_mib() -> u64 {
    machine_memory_bytes().map_or(2048, |b| (b >> 20) / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_shared_and_given_back() {
        let budget = MemoryBudget::new(100);
        let mut a = InstanceLimiter::new(80, budget.clone());
        let mut b = InstanceLimiter::new(80, budget.clone());
        assert!(a.memory_growing(0, 60, None).unwrap());
        // Over its own cap.
        assert!(!a.memory_growing(60, 90, None).unwrap());
        // Within its cap, but over what the budget has left.
        assert!(!b.memory_growing(0, 50, None).unwrap());
        assert!(b.memory_growing(0, 40, None).unwrap());
        drop(a);
        assert!(b.memory_growing(40, 80, None).unwrap());
        drop(b);
        assert_eq!(budget.used.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn the_machine_memory_is_read() {
        assert!(machine_memory_bytes().is_some_and(|b| b > 64 << 20));
    }
}
