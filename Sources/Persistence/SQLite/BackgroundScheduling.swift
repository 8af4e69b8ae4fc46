import CSQLite
import NIOPosix
import OrchestratorCore

/// Runs request-log inserts on the SQLite thread as `SCHED_IDLE` on Linux, so that the
/// event loops preempt a commit at once instead of waiting behind it. The store asks for
/// it only when no rows wait behind the batch: a writer that is behind writes at normal
/// priority.
///
/// On a machine whose cores are all in use (the gateway, its clients and upstreams on a
/// small box), a batch commit of a few hundred rows holds a core for about a millisecond,
/// and a request whose event loop wakes on that core waits for it: at one connection, 1 %
/// of requests took a millisecond longer (the bench's p99). As `SCHED_IDLE`, the commit
/// gives way to any other thread as soon as it wants the core.
///
/// A thread at `SCHED_IDLE` may only run when nothing else wants the core, so it never
/// stays there: the thread goes back to `SCHED_OTHER` after each insert, and a watchdog
/// moves it back when an insert takes longer than ``promoteAfter`` (a saturated machine),
/// so a backlog of rows is written at normal priority. The queue in front of the writer is
/// bounded and makes producers wait, so rows are never lost either way.
///
/// `SCHED_IDLE` alone is not enough: a `perf sched timehist` of the one-connection run
/// showed requests' threads waiting 0.8–1.1 ms behind an idle-class insert on their core
/// (the kernel here runs with `preempt=none`, and a woken thread did not displace it at
/// once). So a background insert also gives up its core every ``yieldEvery`` SQLite
/// virtual-machine steps (`sched_yield` from a progress handler; about 40 µs of work): a
/// request waits at most that long, and when nothing else wants the core the yield
/// returns at once. That took the bench's one-connection Δ p99 from +400 µs to +170 µs.
///
/// Leaving `SCHED_IDLE` needs `CAP_SYS_NICE` (or `RLIMIT_NICE` of 20): without it a thread
/// moved there could never come back. ``probe()`` tries it on a scratch thread once; where
/// it fails, inserts run at normal priority as every other database call does.
struct BackgroundScheduling: Sendable {
    /// How long an insert may run as `SCHED_IDLE` before it is moved back.
    static let promoteAfter: Duration = .milliseconds(50)

    /// SQLite virtual-machine steps between the yields of a background insert (a
    /// request-log row takes about a hundred).
    static let yieldEvery: Int32 = 500

    /// The database thread's kernel id.
    let threadID: Int32

    #if os(Linux)
    /// Whether a thread of this process can go to `SCHED_IDLE` and back.
    static func probe() async -> Bool {
        let scratch = NIOThreadPool(numberOfThreads: 1)
        scratch.start()
        defer { scratch.shutdownGracefully { _ in } }
        return (try? await scratch.runIfActive { () -> Bool in
            guard orch_set_idle_scheduling(0, 1) == 0 else { return false }
            return orch_set_idle_scheduling(0, 0) == 0
        }) ?? false
    }

    /// The calling thread's id, for a database thread to record.
    static var currentThreadID: Int32 { orch_gettid() }

    /// Called on the database thread before an insert.
    func enter() { _ = orch_set_idle_scheduling(0, 1) }

    /// Called on the database thread after an insert, or by the watchdog from elsewhere.
    func leave() { _ = orch_set_idle_scheduling(threadID, 0) }

    /// Whether thread `threadID` (0: the calling one) runs as `SCHED_IDLE` now.
    static func isIdle(_ threadID: Int32 = 0) -> Bool { orch_is_idle_policy(orch_scheduling_policy(threadID)) != 0 }
    #else
    static func probe() async -> Bool { false }
    static var currentThreadID: Int32 { 0 }
    func enter() {}
    func leave() {}
    static func isIdle(_ threadID: Int32 = 0) -> Bool { false }
    #endif
}
