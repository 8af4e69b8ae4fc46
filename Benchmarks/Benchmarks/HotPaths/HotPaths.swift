import Benchmark

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Microbenchmarks of the gateway's per-request and per-chunk work, with allocation
/// counts. Every benchmark runs in-process on the real code paths with the bench
/// harness's bytes; nothing touches the network. See ../../README.md.
///
/// Scaling: most benchmarks run 1,000 operations per measured iteration
/// (`scalingFactor: .kilo`, `for _ in benchmark.scaledIterations`), so the table shows
/// the cost of ONE operation — one decode, one request through the engine, one SSE
/// event, one log row — as named. Whole-stream benchmarks measure one stream per
/// iteration (`.one`); their names say so.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: HotPathMetrics.standard,
        // Nanoseconds throughout: the automatic unit rounds a 14.4 µs result to "14".
        timeUnits: .nanoseconds,
        units: [ProcessCPUTime.metric: .count],
        warmupIterations: 3,
        scalingFactor: .kilo,
        maxDuration: .seconds(1),
        maxIterations: 1_000
    )
    requestDecodeBenchmarks()
    engineBenchmarks()
    streamBenchmarks()
    requestLogBenchmarks()
}

enum HotPathMetrics {
    /// Wall clock and heap allocations. The malloc interposer counts every thread's
    /// allocations, so work handed to another thread (the log writer, SQLite's thread)
    /// is included.
    ///
    /// Not `.cpuTotal`: it has the kernel's 10 ms tick resolution, useless for
    /// microsecond iterations (see ``ProcessCPUTime``). Not `.retainCount` /
    /// `.releaseCount`: on Linux with Swift 6.3 the runtime hooks they need crash the
    /// benchmark process (ordo-one/benchmark#349; the workaround, the package's
    /// `RuntimeInterposer` trait, needs a package this machine's mirror lacks). No
    /// `.instructions`: no hardware counters on these VMs.
    static let standard: [BenchmarkMetric] = [.wallClock, .mallocCountTotal]

    /// For benchmarks whose work crosses threads (tasks, the log writer, SQLite's
    /// thread): adds the CPU time of the whole process over the measured region.
    static let threaded: [BenchmarkMetric] = standard + [ProcessCPUTime.metric]
}

/// The CPU time of all the process's threads (`CLOCK_PROCESS_CPUTIME_ID`, nanosecond
/// resolution), recorded as a custom metric per measured iteration.
enum ProcessCPUTime {
    static let metric = BenchmarkMetric.custom("CPU time, all threads (ns)", polarity: .prefersSmaller, useScalingFactor: true)

    static func nanoseconds() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
        return Int(now.tv_sec) * 1_000_000_000 + Int(now.tv_nsec)
    }

    /// Runs `body` and records the CPU time it took (call it around the measured work).
    static func record(in benchmark: Benchmark, _ body: () async throws -> Void) async rethrows {
        let start = nanoseconds()
        try await body()
        benchmark.measurement(metric, nanoseconds() - start)
    }
}
