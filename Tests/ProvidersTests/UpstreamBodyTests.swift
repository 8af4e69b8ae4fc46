import NIOCore
import OrchestratorCore
import Synchronization
import Testing

@testable import Providers

struct UpstreamBodyTests {
    final class Counters: Sendable {
        let demand = Mutex(0)
        let gone = Mutex(0)
    }

    func makeBody(_ counters: Counters) -> UpstreamBody {
        UpstreamBody(
            onDemand: { counters.demand.withLock { $0 += 1 } }, onReaderGone: { counters.gone.withLock { $0 += 1 } })
    }

    @Test func chunksArriveInOrderWithBackPressure() async throws {
        let counters = Counters()
        let body = makeBody(counters)
        var results: [UpstreamBody.YieldResult] = []
        for i in 0..<UpstreamBody.highWatermark { results.append(body.yield(ByteBuffer(string: "\(i),"))) }
        #expect(results.dropLast().allSatisfy { $0 == .produceMore })
        #expect(results.last == .stopProducing, "the handler stops reading at the high watermark")
        body.finish()
        var text = ""
        for try await chunk in body.sequence { text += String(buffer: chunk) }
        #expect(text == (0..<UpstreamBody.highWatermark).map { "\($0)," }.joined())
        #expect(counters.demand.withLock { $0 } == 1, "asked for more once, at the low watermark")
        #expect(counters.gone.withLock { $0 } == 0, "a body read to its end is not abandoned")
    }

    @Test func aWaitingReaderGetsChunksTheEndAndFailures() async throws {
        let body = makeBody(Counters())
        let reader = Task { () -> [String] in
            var out: [String] = []
            for try await chunk in body.sequence { out.append(String(buffer: chunk)) }
            return out
        }
        try await Task.sleep(for: .milliseconds(20))
        #expect(body.yield(ByteBuffer(string: "a")) == .produceMore)
        #expect(body.yield(ByteBuffer(string: "b")) == .produceMore)
        body.finish()
        #expect(try await reader.value == ["a", "b"])

        let failing = makeBody(Counters())
        _ = failing.yield(ByteBuffer(string: "kept"))
        failing.finish(TransportError(.closed, "gone"))
        var iterator = failing.sequence.makeAsyncIterator()
        #expect(try await iterator.next().map { String(buffer: $0) } == "kept", "buffered chunks come before the failure")
        await #expect(throws: TransportError.self) { _ = try await iterator.next() }
    }

    @Test func cancellingAWaitingReaderThrowsCancellation() async throws {
        let body = makeBody(Counters())
        let reader = Task { () -> ByteBuffer? in
            var iterator = body.sequence.makeAsyncIterator()
            return try await iterator.next()
        }
        try await Task.sleep(for: .milliseconds(20))
        reader.cancel()
        await #expect(throws: CancellationError.self) { _ = try await reader.value }
    }

    @Test func releasingTheReaderBeforeTheEndIsReportedOnce() async throws {
        let counters = Counters()
        let body = makeBody(counters)
        do {
            var iterator = body.sequence.makeAsyncIterator()
            _ = body.yield(ByteBuffer(string: "x"))
            _ = try await iterator.next()
        }
        #expect(counters.gone.withLock { $0 } == 1)
        #expect(body.yield(ByteBuffer(string: "late")) == .dropped)
        body.finish()
        #expect(counters.gone.withLock { $0 } == 1)
    }
}
