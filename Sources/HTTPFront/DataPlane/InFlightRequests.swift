import Synchronization

/// Counts the chat requests the data plane is serving, so that shutdown can wait for
/// them (their log rows and key releases) before the log writer and the store stop.
public final class InFlightRequests: Sendable {
    private let state = Mutex(0)
    /// The most requests served at once; one more is refused (503) instead of queued.
    public let limit: Int

    public init(limit: Int = .max) {
        self.limit = max(1, limit)
    }

    /// Requests being served now.
    public var count: Int { state.withLock { $0 } }

    /// Counts a request in, unless ``limit`` requests are already being served.
    func tryEnter() -> Bool {
        state.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func leave() { state.withLock { $0 -= 1 } }

    /// Returns once no request is being served, `timeout` has passed, or the task is
    /// cancelled; true when idle. Polls: it runs once, at shutdown.
    public func waitUntilIdle(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while count > 0 {
            guard ContinuousClock.now < deadline else { return false }
            do {
                try await Task.sleep(for: .milliseconds(5))
            } catch {
                return count == 0
            }
        }
        return true
    }
}
