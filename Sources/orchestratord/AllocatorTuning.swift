#if canImport(Glibc)
import Glibc
#endif

/// Tunes glibc's allocator for the gateway's load, which glibc only reads from the
/// environment when a program starts (`GLIBC_TUNABLES`; there is no call for it).
///
/// glibc keeps up to 7 freed blocks of each size per thread (the "tcache") and sends the
/// rest through its slower shared bins. A request allocates about 57 blocks, and with
/// dozens of requests in flight on each event loop the same sizes are freed in bursts far
/// beyond 7: with the default, `malloc` and `free` took 7.8 % of the gateway's CPU under
/// load; with 256 per size, 3.3 % (`perf record` over the chat soak, docs/performance.md).
/// The cache holds only blocks the gateway had in use at its peak, so memory stays flat.
enum AllocatorTuning {
    static let tunables = "glibc.malloc.tcache_count=256"

    /// Runs this program again, in place (same process id, same arguments), with
    /// ``tunables`` in its environment — unless `GLIBC_TUNABLES` is set already, even
    /// empty: then the operator's choice stands, and a second run of this never loops.
    /// Returns only when nothing was done or `exec` failed (no `/proc`): the gateway then
    /// runs with glibc's defaults.
    static func reexecIfUntuned() {
        #if os(Linux) && canImport(Glibc)
        guard getenv("GLIBC_TUNABLES") == nil else { return }
        setenv("GLIBC_TUNABLES", tunables, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("GLIBC_TUNABLES")
        #endif
    }
}
