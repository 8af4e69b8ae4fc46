import NIOCore
import OrchestratorCore

/// One provider's reading of its event stream: what each upstream event means for the
/// client and for the request log. ``SSETranslation`` drives it over the raw body.
protocol SSEEventTranslator {
    var provider: String { get }

    /// Handles one event, adding what it produced to `batch`.
    mutating func translate(_ event: SSEScanner.Event, into batch: inout SSEBatch) throws(GatewayError)

    /// The failure to report when the body ended, or nil when the stream was complete.
    func incompleteStreamError() -> GatewayError?

    /// Adds what a complete stream ends with (a usage chunk gathered along the way).
    mutating func finish(into batch: inout SSEBatch)
}

extension SSEEventTranslator {
    mutating func finish(into batch: inout SSEBatch) {}
}

/// What one upstream read turns into. Pass-through frames that arrived in one read
/// leave in one write: they go into a single part, after the bookkeeping events of
/// the same read, instead of one write and flush each.
///
/// Events forwarded as they came (``forward(_:)``) that lie back to back in the read
/// stay a slice of it: no copy, and no buffer the size of the read allocated for every
/// read of a stream. Anything written around them (a re-framed event, a translated
/// one) turns them into copied bytes, in order.
struct SSEBatch {
    var out: [ProviderStreamEvent] = []
    var failure: GatewayError?
    /// Output text seen in this read (see ``countOutputText(_:)``).
    private(set) var outputText = 0
    /// The upstream read the events come from.
    private let source: ByteBuffer
    private var frames = ByteBuffer()
    /// Forwarded bytes of `source` (offsets into its readable bytes), after `frames`.
    private var run: Range<Int>?

    init(source: ByteBuffer) {
        self.source = source
    }

    var isEmpty: Bool { out.isEmpty && outputText == 0 && frames.readableBytes == 0 && run == nil }

    /// Counts output text (for an estimate if the stream is cut short). A read's counts
    /// reach the engine as one event ahead of its parts, not one per upstream event: a
    /// stream of short deltas would otherwise hand the engine twice as many events as
    /// it has chunks.
    mutating func countOutputText(_ bytes: Int) {
        outputText += bytes
    }

    mutating func fail(_ error: GatewayError) {
        if failure == nil { failure = error }
    }

    /// Passes an event on unchanged: as the slice of the read it came in when it lies
    /// there as `data: …\n\n` (see ``SSEScanner/Event/raw``), else re-framed.
    mutating func forward(_ event: SSEScanner.Event) {
        guard let raw = event.raw else {
            writeFrame(dataBytes: event.data)
            return
        }
        if frames.readableBytes == 0 {
            if let run, run.upperBound == raw.lowerBound {
                self.run = run.lowerBound..<raw.upperBound
                return
            }
            if run == nil {
                run = raw
                return
            }
        }
        copyRun()
        copy(raw)
    }

    /// Writes `data` as one event (`data: …\n\n`).
    mutating func writeFrame(eventName: UnsafeRawBufferPointer? = nil, dataBytes: UnsafeRawBufferPointer) {
        copyRun()
        SSEWriter.write(eventName: eventName, dataBytes: dataBytes, into: &frames)
    }

    /// Appends frames already written.
    mutating func writeFrames(_ bytes: inout ByteBuffer) {
        copyRun()
        frames.writeBuffer(&bytes)
    }

    /// The frames of this read, in order: a slice of the read when they are one run.
    mutating func takeFrames() -> ByteBuffer? {
        if frames.readableBytes == 0, let run {
            self.run = nil
            return source.getSlice(at: source.readerIndex + run.lowerBound, length: run.count)
        }
        copyRun()
        return frames.readableBytes > 0 ? frames : nil
    }

    private mutating func copyRun() {
        guard let run else { return }
        self.run = nil
        copy(run)
    }

    private mutating func copy(_ range: Range<Int>) {
        if frames.capacity == 0 { frames.reserveCapacity(source.readableBytes + 64) }
        _ = source.withUnsafeReadableBytes { frames.writeBytes(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }
}

/// Feeds an upstream event-stream body through a translator, chunk by chunk, whatever
/// the chunk boundaries: the one streaming mechanism every adapter shares (pass-through
/// and translating alike).
struct SSETranslation<Translator: SSEEventTranslator> {
    private(set) var translator: Translator
    private var scanner = SSEScanner()
    /// A failure found after good events in the same read: those are delivered first.
    private var deferred: GatewayError?

    init(_ translator: Translator) {
        self.translator = translator
    }

    mutating func feed(_ buffer: ByteBuffer) throws(GatewayError) -> [ProviderStreamEvent] {
        if let deferred { throw deferred }
        var batch = SSEBatch(source: buffer)
        // The scanner is moved out while it calls back into `self` (exclusive access).
        var scanner = self.scanner
        self.scanner = SSEScanner()
        defer { self.scanner = scanner }
        do {
            try scanner.feed(buffer) { event in translate(event, into: &batch) }
        } catch {
            batch.fail(.badUpstreamResponse("an event stream line is too long", provider: translator.provider))
        }
        return try finishBatch(batch)
    }

    mutating func finish() throws(GatewayError) -> [ProviderStreamEvent] {
        if let deferred { throw deferred }
        var batch = SSEBatch(source: ByteBuffer())
        var scanner = self.scanner
        self.scanner = SSEScanner()
        scanner.finish { event in translate(event, into: &batch) }
        if batch.failure == nil, translator.incompleteStreamError() == nil { translator.finish(into: &batch) }
        let out = try finishBatch(batch)
        if let deferred {
            if out.isEmpty { throw deferred }
            return out
        }
        if let error = translator.incompleteStreamError() {
            if out.isEmpty { throw error }
            deferred = error
        }
        return out
    }

    /// A failure kept back until the events before it were delivered.
    mutating func takeDeferred() -> GatewayError? {
        defer { deferred = nil }
        return deferred
    }

    /// Events in order; a failure after some good events is deferred so the client
    /// still gets what arrived before it.
    private mutating func finishBatch(_ batch: SSEBatch) throws(GatewayError) -> [ProviderStreamEvent] {
        var batch = batch
        if let failure = batch.failure {
            if batch.isEmpty { throw failure }
            deferred = failure
        }
        var out = batch.out
        if batch.outputText > 0 { out.insert(.outputText(batch.outputText), at: 0) }
        if let frames = batch.takeFrames() { out.append(.part(.raw(frames))) }
        return out
    }

    /// Handles one event; returns false to stop at a failure.
    private mutating func translate(_ event: SSEScanner.Event, into batch: inout SSEBatch) -> Bool {
        do {
            try translator.translate(event, into: &batch)
            return true
        } catch {
            batch.fail(error)
            return false
        }
    }

    /// The provider events of an upstream body, read as the consumer asks for them (so
    /// back-pressure reaches the upstream connection).
    static func events(of body: ErasedAsyncSequence<ByteBuffer>, translator: Translator) -> ErasedAsyncSequence<
        ProviderStreamEvent
    > where Translator: Sendable {
        ErasedAsyncSequence<ProviderStreamEvent>(makeNext: {
            var pump = EventPump(translation: SSETranslation(translator), upstream: body.makeAsyncIterator())
            return { try await pump.next() }
        })
    }
}

/// The state of one iteration of ``SSETranslation/events(of:translator:)``, in one value:
/// as separate variables captured by the iterator's closure, each use of each of them
/// was checked for exclusive access, several times for every event.
private struct EventPump<Translator: SSEEventTranslator> {
    var translation: SSETranslation<Translator>
    var upstream: ErasedAsyncSequence<ByteBuffer>.Iterator
    /// The events of the last upstream read, delivered from `index` on.
    var pending: [ProviderStreamEvent] = []
    var index = 0
    var finished = false

    mutating func next() async throws -> ProviderStreamEvent? {
        while true {
            if index < pending.count {
                defer { index += 1 }
                return pending[index]
            }
            // An error that arrived with the events just delivered: raise it now, not
            // after the next (possibly never coming) upstream read.
            if let error = translation.takeDeferred() { throw error }
            if finished { return nil }
            let chunk: ByteBuffer?
            do {
                chunk = try await upstream.next()
            } catch {
                throw ProviderErrors.gatewayError(UpstreamFailure.fromTransport(error, provider: translation.translator.provider))
            }
            index = 0
            if let chunk {
                pending = try translation.feed(chunk)
            } else {
                pending = try translation.finish()
                finished = true
            }
        }
    }
}

/// Small helpers every adapter needs.
enum ProviderErrors {
    /// Any error from the transport or a translation, as what the engine understands.
    static func gatewayError(_ error: any Error) -> GatewayError {
        if let error = error as? GatewayError { return error }
        if error is CancellationError { return .clientClosedRequest }
        return .internalError()
    }

    /// The start of a body, scrubbed, for messages about unreadable responses.
    static func snippet(_ body: ByteBuffer) -> String {
        let text = String(decoding: body.readableBytesView.prefix(120), as: UTF8.self)
        return text.isEmpty ? "empty body" : "starts with \"\(Redaction.scrub(text))\""
    }

    /// The start of an event's data, scrubbed.
    static func snippet(_ data: UnsafeRawBufferPointer) -> String {
        Redaction.scrub(String(decoding: UnsafeRawBufferPointer(rebasing: data.prefix(120)), as: UTF8.self))
    }

    /// An error event from the upstream's stream, as a retryable gateway error. The
    /// upstream's own error `type` (`overloaded_error`, `rate_limit_error`, …) is kept,
    /// so a client of the same style can still tell what happened.
    static func streamError(_ data: UnsafeRawBufferPointer, provider: String) -> GatewayError {
        let body = ByteBuffer(bytes: data)
        let message = UpstreamFailure.errorMessage(from: body) ?? String(decoding: data, as: UTF8.self)
        let type = (try? JSONCoding.decode(JSONValue.self, from: body))?["error"]?["type"]?.stringValue
        return GatewayError(
            status: 502, type: type.map(Redaction.scrub) ?? "upstream_error", code: "upstream_stream_error",
            message: "Upstream \(provider) reported an error mid-stream: \(Redaction.scrub(message))",
            isRetryable: true)
    }
}
