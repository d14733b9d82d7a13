//! What Linux says about a process: CPU time used and memory.

use anyhow::Context as _;

/// CPU time (user plus system, all threads) a process has used so far, in
/// clock ticks.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_cpu_ticks(&stat).with_context(|| format!("{path}: no utime and stime in {stat:?}"))
}

/// Fields 14 and 15 of `/proc/<pid>/stat`: utime and stime.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may contain spaces
    // and parentheses, so fields are counted after its last `)`, from 3.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(14 - 3);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The process's peak resident set size (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmHWM:")
}

/// Sets the process's peak resident set size back to its current one, so
/// the next [`peak_rss_kib`] tells the peak from now on (Linux 4.0+).
pub fn reset_peak_rss(pid: u32) -> anyhow::Result<()> {
    let path = format!("/proc/{pid}/clear_refs");
    std::fs::write(&path, "5").with_context(|| format!("writing 5 to {path}"))
}

/// The process's current resident set size (`VmRSS`), in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmRSS:")
}

fn status_kib(pid: u32, key: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_status_kib(&status, key).with_context(|| format!("{path}: no `{key} <n> kB` line"))
}

/// The value of a `Key:   1234 kB` line of `/proc/<pid>/status`.
fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    let value = status.lines().find_map(|l| l.strip_prefix(key))?;
    value.trim().strip_suffix("kB")?.trim().parse().ok()
}

/// `pid` and its descendants, e.g. `spin up` and the `spin trigger http`
/// process it serves from; only `pid` when the kernel does not list
/// children (`/proc/<pid>/task/<tid>/children`).
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut tree = vec![pid];
    let mut next = 0;
    while let Some(&parent) = tree.get(next) {
        tree.extend(children(parent));
        next += 1;
    }
    tree
}

fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `measure` summed over `pids`.
pub fn sum(pids: &[u32], measure: fn(u32) -> anyhow::Result<u64>) -> anyhow::Result<u64> {
    pids.iter().map(|&pid| measure(pid)).sum()
}

/// Clock ticks per second, the unit of [`cpu_ticks`]. `None` when sysconf
/// cannot tell.
pub fn clock_ticks_per_second() -> Option<u64> {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_the_command_name() {
        let stat = "4242 (tokio (rt) w) S 1 4242 4242 0 -1 4194560 2769 0 0 0 \
                    1523 377 0 0 20 0 9 0 1234 5678 910 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(1523 + 377));
        assert_eq!(parse_cpu_ticks("4242 (short) S 1 2"), None);
    }

    #[test]
    fn status_sizes_are_read_in_kib() {
        let status =
            "Name:\tprompthelm\nVmPeak:\t  900 kB\nVmHWM:\t  128512 kB\nVmRSS:\t   98304 kB\n";
        assert_eq!(parse_status_kib(status, "VmHWM:"), Some(128_512));
        assert_eq!(parse_status_kib(status, "VmRSS:"), Some(98_304));
        assert_eq!(parse_status_kib(status, "VmSwap:"), None);
    }
}
