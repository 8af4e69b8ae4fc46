import HTTPTypes
import Logging
import NIOCore
import OrchestratorCore
import Persistence
import Synchronization

/// An upstream without a network: answers every call with the bench harness's canned
/// bytes (the completion, or the SSE stream for `Accept: text/event-stream`). Everything
/// between the adapter and the socket — connection pool, HTTP/1 framing, TLS — is left
/// out; what remains is the gateway's own work.
struct CannedUpstream: HTTPTransport {
    /// The stream body as the transport hands it over, one buffer per read.
    var streamReads: [ByteBuffer] = [Fixtures.streamBody]

    func execute(_ request: TransportRequest, deadline: ContinuousClock.Instant, logger: Logger) async throws
        -> TransportResponse
    {
        if request.headers[.accept] == "text/event-stream" {
            return TransportResponse(
                status: 200, headers: [.contentType: "text/event-stream"], body: ErasedAsyncSequence(elements: streamReads))
        }
        return TransportResponse(
            status: 200, headers: [.contentType: "application/json"],
            body: ErasedAsyncSequence(elements: [Fixtures.completionBody]))
    }
}

/// A provider that does no work: a fixed raw completion, or a fixed pass-through stream.
/// With it the engine benchmarks measure routing, health and key bookkeeping and the
/// log row alone.
struct StubAdapter: ProviderAdapter {
    let style: APIStyle = .openai
    private static let usage = Usage(promptTokens: 9, completionTokens: 18)

    func complete(_ call: ProviderCall) async throws(GatewayError) -> ProviderCompletion {
        ProviderCompletion(body: .raw(Fixtures.completionBody), usage: Self.usage)
    }

    /// The bench stream as a pass-through adapter hands it on, condensed: its usage, its
    /// output text count, and all its frames in one part (one upstream read).
    func stream(_ call: ProviderCall) async throws(GatewayError) -> ProviderStream {
        ProviderStream(
            events: ErasedAsyncSequence(elements: [
                .usage(Self.usage), .outputText(90), .part(.raw(Fixtures.streamBody)),
            ]))
    }

    func probe(_ provider: ProviderConfig, apiKey: String?, deadline: ContinuousClock.Instant, logger: Logger)
        async throws(GatewayError)
    {}
}

/// Hands a ``StubAdapter`` to every provider.
struct StubFactory: ProviderFactory {
    func makeAdapter(for provider: ProviderConfig) throws(GatewayError) -> any ProviderAdapter { StubAdapter() }
}

/// Drops request-log rows (the engine still builds each one).
struct DiscardingLogSink: RequestLogSink {
    func record(_ entry: RequestLogEntry) async {}
}

/// Writes nothing, but keeps metadata and the level like the daemon's stderr handler
/// (at `warning`, as `bench/run.sh` runs it), so that the engine's per-attempt
/// `logger[metadataKey:] = …` costs what it costs in production; a `SwiftLogNoOpLogHandler`
/// would make those writes free.
struct QuietLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .warning

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {}
}

extension Logger {
    /// A logger with the metadata the front door sets on every request.
    static let quietRequestLogger: Logger = {
        var logger = Logger(label: "orchestrator", factory: { _ in QuietLogHandler() })
        logger[metadataKey: "request.id"] = "0193a1b2c3d4e5f6a7b8c9d0e1f20304"
        logger[metadataKey: "model"] = "bench"
        logger[metadataKey: "key"] = "bench"
        return logger
    }()
}

/// Counts the rows and batches it is given, optionally after passing them on to a real
/// store, and lets a benchmark wait until a number of rows went through.
final class CountingInserter: LogBatchInserter {
    private struct State {
        var rows = 0
        var batches = 0
        var waiter: (rows: Int, continuation: CheckedContinuation<Void, Never>)?
    }

    private let next: (any LogBatchInserter)?
    private let state = Mutex(State())

    init(forwardingTo next: (any LogBatchInserter)? = nil) {
        self.next = next
    }

    var rows: Int { state.withLock { $0.rows } }
    var batches: Int { state.withLock { $0.batches } }

    func insertLogs(_ entries: [RequestLogEntry]) async throws {
        try await next?.insertLogs(entries)
        let ready = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.rows += entries.count
            state.batches += 1
            guard let waiter = state.waiter, state.rows >= waiter.rows else { return nil }
            state.waiter = nil
            return waiter.continuation
        }
        ready?.resume()
    }

    /// Returns once `rows` rows in all have been inserted.
    func waitUntil(rows target: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if state.rows >= target { return true }
                state.waiter = (target, continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }
}

/// Holds what a benchmark's `setup` made for its measured closure and `teardown` (the
/// runner calls the three one after another, never at the same time).
final class Slot<Value: Sendable>: Sendable {
    private let value = Mutex<Value?>(nil)

    func put(_ newValue: Value?) { value.withLock { $0 = newValue } }

    func take() -> Value? { value.withLock { $0.take() } }

    var current: Value {
        guard let current = value.withLock({ $0 }) else { fatalError("benchmark setup did not run") }
        return current
    }
}
