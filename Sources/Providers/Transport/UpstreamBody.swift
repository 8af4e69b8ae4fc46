import NIOCore
import OrchestratorCore
import Synchronization

/// The body of an upstream response, between the connection handler that pushes its
/// chunks (on the event loop) and the task that reads them.
///
/// Back-pressure: once `highWatermark` chunks wait unread, the handler is told to stop
/// reading the socket; when the reader has drained them to `lowWatermark` it is asked
/// for more. A reader that goes away (its sequence and iterators released) is reported
/// once, so the connection with unread bytes is closed instead of reused.
///
/// Written for this one element type rather than with NIO's generic async-sequence
/// producer: profiles showed that producer's unspecialized generics (four type
/// parameters) asking the runtime for type metadata on every chunk.
final class UpstreamBody: Sendable {
    enum YieldResult {
        case produceMore
        case stopProducing
        /// The reader is gone; the chunk was discarded.
        case dropped
    }

    static let highWatermark = 16
    static let lowWatermark = 4

    private struct State {
        var chunks = CircularBuffer<ByteBuffer>(initialCapacity: 4)
        var ended = false
        var failure: (any Error)?
        var waiter: CheckedContinuation<ByteBuffer?, any Error>?
        var readerGone = false
        /// The handler was told to stop reading.
        var stopped = false
    }

    private let state = Mutex(State())
    private let onDemand: @Sendable () -> Void
    private let onReaderGone: @Sendable () -> Void

    /// - Parameters:
    ///   - onDemand: the reader wants more after the handler was told to stop.
    ///   - onReaderGone: the reader released the body before its end.
    init(onDemand: @escaping @Sendable () -> Void, onReaderGone: @escaping @Sendable () -> Void) {
        self.onDemand = onDemand
        self.onReaderGone = onReaderGone
    }

    // MARK: Producer side (the connection handler)

    func yield(_ chunk: ByteBuffer) -> YieldResult {
        let (waiter, result) = state.withLock { state -> (CheckedContinuation<ByteBuffer?, any Error>?, YieldResult) in
            if state.readerGone || state.ended { return (nil, .dropped) }
            if let waiter = state.waiter {
                state.waiter = nil
                return (waiter, .produceMore)
            }
            state.chunks.append(chunk)
            if state.chunks.count >= Self.highWatermark {
                state.stopped = true
                return (nil, .stopProducing)
            }
            return (nil, .produceMore)
        }
        waiter?.resume(returning: chunk)
        return result
    }

    /// Ends the body: the reader gets the chunks still buffered, then the end (or `error`).
    func finish(_ error: (any Error)? = nil) {
        let waiter = state.withLock { state -> CheckedContinuation<ByteBuffer?, any Error>? in
            guard !state.ended else { return nil }
            state.ended = true
            state.failure = error
            guard state.chunks.isEmpty, let waiter = state.waiter else { return nil }
            state.waiter = nil
            return waiter
        }
        guard let waiter else { return }
        if let error { waiter.resume(throwing: error) } else { waiter.resume(returning: nil) }
    }

    // MARK: Reader side

    private enum Step {
        case chunk(ByteBuffer, askForMore: Bool)
        case end
        case fail(any Error)
        case wait
    }

    /// The next chunk, nil at the end; throws the body's failure, or `CancellationError`
    /// when the reading task is cancelled while it waits.
    func next() async throws -> ByteBuffer? {
        switch state.withLock({ Self.take(&$0) }) {
        case .chunk(let chunk, let askForMore):
            if askForMore { onDemand() }
            return chunk
        case .end:
            return nil
        case .fail(let error):
            throw error
        case .wait:
            break
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ByteBuffer?, any Error>) in
                let (step, askForMore) = state.withLock { state -> (Step, Bool) in
                    let step = Self.take(&state)
                    guard case .wait = step else { return (step, false) }
                    if Task.isCancelled { return (.fail(CancellationError()), false) }
                    state.waiter = continuation
                    // Nothing buffered: the handler must be reading.
                    let ask = state.stopped
                    state.stopped = false
                    return (.wait, ask)
                }
                switch step {
                case .chunk(let chunk, let ask):
                    if ask { onDemand() }
                    continuation.resume(returning: chunk)
                case .end:
                    continuation.resume(returning: nil)
                case .fail(let error):
                    continuation.resume(throwing: error)
                case .wait:
                    if askForMore { onDemand() }
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<ByteBuffer?, any Error>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    private static func take(_ state: inout State) -> Step {
        if let chunk = state.chunks.popFirst() {
            let askForMore = state.stopped && state.chunks.count <= lowWatermark
            if askForMore { state.stopped = false }
            return .chunk(chunk, askForMore: askForMore)
        }
        if state.ended {
            if let failure = state.failure { return .fail(failure) }
            return .end
        }
        return .wait
    }

    /// The reader released the body (see ``sequence``).
    fileprivate func readerReleased() {
        let report = state.withLock { state -> Bool in
            state.readerGone = true
            state.chunks.removeAll()
            return !state.ended
        }
        if report { onReaderGone() }
    }

    /// The body as the sequence a ``TransportResponse`` carries. An iterator released
    /// before the end counts as the reader going away. (The sequence itself is not
    /// watched: the response head's future keeps it alive as long as the exchange.)
    var sequence: ErasedAsyncSequence<ByteBuffer> {
        ErasedAsyncSequence(makeNext: { [self] in
            let reader = Reader(self)
            return { try await reader.body.next() }
        })
    }

    /// Held by one iterator; its release is the reader going away.
    private final class Reader: Sendable {
        let body: UpstreamBody
        init(_ body: UpstreamBody) { self.body = body }
        deinit { body.readerReleased() }
    }
}
