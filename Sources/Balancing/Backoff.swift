public import OrchestratorCore

/// Delays between attempts.
public enum Backoff {
    /// Exponential backoff with full jitter: a uniformly random delay between 0 and
    /// `min(maxMs, initialMs × 2^(attempt−1))`. An upstream's `Retry-After` replaces it.
    ///
    /// - Parameter attempt: the number of attempts made so far (≥ 1).
    public static func delay(
        attempt: Int, retryAfterSeconds: Int?, initialMs: Int, maxMs: Int, random: any RandomSource
    ) -> Duration {
        if let retryAfterSeconds, retryAfterSeconds > 0 { return .seconds(retryAfterSeconds) }
        let cap = Self.cap(attempt: attempt, initialMs: initialMs, maxMs: maxMs)
        guard cap > 0 else { return .zero }
        var rng = RandomSourceGenerator(random)
        return .milliseconds(Int.random(in: 0...cap, using: &rng))
    }

    /// The upper bound of the jittered delay after `attempt` attempts.
    public static func cap(attempt: Int, initialMs: Int, maxMs: Int) -> Int {
        let shift = min(max(attempt - 1, 0), 30)
        let (grown, overflow) = max(0, initialMs).multipliedReportingOverflow(by: 1 << shift)
        return overflow ? max(0, maxMs) : min(max(0, maxMs), grown)
    }
}
