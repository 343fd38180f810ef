//! Real-time scheduling for a shard's thread: the one OS call besides
//! [`super::mmsg`]'s that needs `unsafe`.

/// The SCHED_FIFO priority `--realtime` gives the engine thread: above
/// every normal process, below the kernel's own real-time threads (50+).
pub const REALTIME_PRIORITY: i32 = 10;

/// Runs the calling thread (the engine's shard) under the real-time
/// SCHED_FIFO policy, as Asterisk's `-p` and FreeSWITCH's `-rp` do for
/// their media threads: a 20 ms media tick then waits for no ordinary
/// process sharing the core (measured with `kuulo bench`, see
/// docs/benchmarks.md). The shard sleeps between its 0.5 ms rounds, and
/// the kernel keeps 5% of every second for other tasks, so the machine
/// stays usable. Only this thread is raised: SCHED_RESET_ON_FORK gives
/// threads and processes it starts later normal priority, and the store
/// and dialler threads started before keep theirs.
///
/// Fails without root or CAP_SYS_NICE (or under a container's limits);
/// the caller warns and runs on at normal priority.
pub fn raise_to_realtime() -> std::io::Result<()> {
    let param = libc::sched_param {
        sched_priority: REALTIME_PRIORITY,
    };
    // SAFETY: `param` is a valid, initialised sched_param that outlives
    // the call; pid 0 names the calling thread.
    let policy = libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK;
    let rc = unsafe { libc::sched_setscheduler(0, policy, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
