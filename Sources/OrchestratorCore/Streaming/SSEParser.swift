public import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One server-sent event.
public struct SSEEvent: Sendable, Hashable {
    /// The `event:` field, when present.
    public var event: String?
    /// The `data:` lines joined with `\n`.
    public var data: String
    /// The `id:` field, when present.
    public var id: String?

    public init(event: String? = nil, data: String, id: String? = nil) {
        self.event = event
        self.data = data
        self.id = id
    }
}

/// An incremental parser for `text/event-stream` bodies that returns `SSEEvent` values.
///
/// Feed it body chunks as they arrive, at whatever boundaries the transport delivers
/// them. The grammar (line endings, comments, multi-line `data:`, the last `id:`) is
/// `SSEScanner`'s; this wrapper turns each event into strings, for translating adapters.
public struct SSEParser: Sendable {
    private var scanner: SSEScanner

    /// Raised when a single line exceeds ``maxLineBytes``.
    public typealias LineTooLong = SSEScanner.LineTooLong

    /// Longest line accepted; a longer one is an error (a hostile or broken upstream).
    public var maxLineBytes: Int { scanner.maxLineBytes }

    public init(maxLineBytes: Int = 16 * 1024 * 1024) {
        self.scanner = SSEScanner(maxLineBytes: maxLineBytes)
    }

    /// Parses the next chunk and returns the events it completed.
    public mutating func feed(_ buffer: ByteBuffer) throws -> [SSEEvent] {
        var events: [SSEEvent] = []
        try scanner.feed(buffer) { event in
            events.append(SSEEvent(event))
            return true
        }
        return events
    }

    /// Ends the stream: a pending event without its closing blank line is still returned,
    /// since many upstreams close the connection right after the last `data:` line.
    public mutating func finish() -> SSEEvent? {
        var last: SSEEvent?
        scanner.finish { event in
            last = SSEEvent(event)
            return true
        }
        return last
    }
}

extension SSEEvent {
    init(_ event: SSEScanner.Event) {
        self.init(
            event: event.name.map { String(decoding: $0, as: UTF8.self) },
            data: String(decoding: event.data, as: UTF8.self),
            id: event.id.map { String(decoding: $0, as: UTF8.self) })
    }
}

/// The `text/event-stream` grammar on bytes, without building strings: the pass-through
/// path reads each event's data in place and forwards it.
///
/// Accepts CR, LF and CRLF line endings (also a CRLF pair split across chunks), joins
/// multi-line `data:` fields with `\n`, skips comments, strips one space after the colon,
/// keeps the last `id:` without NUL across events, and dispatches an event at the blank
/// line that ends it (an event without data is dropped, per the spec).
///
/// A line that ends inside the chunk is read where it lies; only a line split across
/// chunks is copied (into a buffer kept between calls). Data and names go through
/// scratch buffers that are reused, so a steady stream allocates nothing per event.
public struct SSEScanner: Sendable {
    /// One event, valid only during the callback that receives it.
    public struct Event {
        /// The `event:` field, when present.
        public var name: UnsafeRawBufferPointer?
        /// The `data:` lines joined with `\n`.
        public var data: UnsafeRawBufferPointer
        /// The last `id:` seen in the stream, when any.
        public var id: UnsafeRawBufferPointer?
        /// Where the event's bytes lie in the readable bytes of the buffer given to
        /// ``SSEScanner/feed(_:_:)``, when they are exactly `data: ` + ``data`` + `\n\n`
        /// (one data line, LF endings, nothing else): the event as it would be written
        /// again, so a pass-through can forward that slice instead of re-framing it.
        public var raw: Range<Int>?
    }

    /// Raised when a single line exceeds ``maxLineBytes``.
    public struct LineTooLong: Error, Sendable {}

    /// Longest line accepted; a longer one is an error (a hostile or broken upstream).
    public let maxLineBytes: Int

    private var carry: [UInt8] = []
    private var skipNextLF = false
    private var data: [UInt8] = []
    private var hasData = false
    private var name: [UInt8] = []
    private var hasName = false
    private var lastID: [UInt8] = []
    private var hasID = false
    /// The lines of the event being read so far (see ``Event/raw``).
    private enum EventShape {
        /// No line yet.
        case empty
        /// One `data: …\n` line, beginning at this offset of the current buffer.
        case canonical(start: Int)
        /// Anything else: more lines, another field, CR endings, or begun in an earlier buffer.
        case other
    }
    private var shape = EventShape.empty
    /// The canonical event's range, handed to `dispatch` for the blank line that ends it.
    private var dispatchRaw: Range<Int>?

    public init(maxLineBytes: Int = 16 * 1024 * 1024) {
        self.maxLineBytes = maxLineBytes
    }

    /// Scans the next chunk, calling `onEvent` for every event it completes, in order;
    /// `onEvent` returns false to stop (the rest of the chunk is then dropped).
    public mutating func feed(_ buffer: ByteBuffer, _ onEvent: (Event) -> Bool) throws {
        var stopped = false
        buffer.withUnsafeReadableBytes { raw in
            guard let base = raw.baseAddress else { return }
            var start = 0
            let count = raw.count
            // An event begun in an earlier buffer is not one slice of this one.
            if case .canonical = shape { shape = .other }
            while start < count {
                if skipNextLF {
                    skipNextLF = false
                    if raw[start] == UInt8(ascii: "\n") {
                        start += 1
                        continue
                    }
                }
                // Most events are one `data: …` line and a blank line, all in this
                // buffer: handed over in place, without the line-by-line state.
                if carry.isEmpty, case .empty = shape, let end = Self.canonicalEventEnd(base, from: start, count: count) {
                    let data = UnsafeRawBufferPointer(start: base + start + 6, count: end - start - 6)
                    let raw = start..<(end + 2)
                    // Without an id, no look at `lastID`: borrowing it retained its
                    // storage for every event.
                    let keepGoing =
                        hasID
                        ? lastID.withUnsafeBytes { onEvent(Event(name: nil, data: data, id: $0, raw: raw)) }
                        : onEvent(Event(name: nil, data: data, id: nil, raw: raw))
                    start = end + 2
                    if !keepGoing {
                        stopped = true
                        return
                    }
                    continue
                }
                // The line ends at the first CR or LF: found with memchr (vectorised),
                // since events are long lines and this runs over every byte streamed.
                guard let end = Self.lineEnd(base, from: start, count: count) else { break }
                let endsWithLF = raw[end] == UInt8(ascii: "\n")
                let keepGoing: Bool
                if carry.isEmpty {
                    let line = UnsafeRawBufferPointer(rebasing: raw[start..<end])
                    noteLine(line, at: start, endsWithLF: endsWithLF, lineEnd: end)
                    keepGoing = processLine(line, onEvent)
                } else {
                    carry.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[start..<end]))
                    // A line split across buffers (never blank) is no slice of this one.
                    shape = .other
                    keepGoing = processCarriedLine(onEvent)
                }
                if raw[end] == UInt8(ascii: "\r") { skipNextLF = true }
                start = end + 1
                if !keepGoing {
                    stopped = true
                    return
                }
            }
            if start < count { carry.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[start..<count])) }
        }
        if stopped { carry.removeAll(keepingCapacity: true) }
        if carry.count > maxLineBytes { throw LineTooLong() }
    }

    /// Follows the shape of the event being read, line by line (see ``Event/raw``).
    private mutating func noteLine(_ line: UnsafeRawBufferPointer, at start: Int, endsWithLF: Bool, lineEnd: Int) {
        if line.isEmpty {
            // The blank line: an event of one canonical data line, all in this buffer,
            // is the slice from that line to here.
            if case .canonical(let eventStart) = shape, endsWithLF { dispatchRaw = eventStart..<(lineEnd + 1) }
            return
        }
        if case .empty = shape, endsWithLF, RawBytes.hasPrefix(line, "data: ") {
            shape = .canonical(start: start)
        } else {
            shape = .other
        }
    }

    /// Where the line ends (its LF) when `base[from..<count]` starts with a whole event
    /// of one data line: `data: `, no CR, LF, and the blank line's LF. No line of the
    /// event has been read yet, so it has no name and no other data.
    @inline(__always)
    private static func canonicalEventEnd(_ base: UnsafeRawPointer, from start: Int, count: Int) -> Int? {
        guard count - start >= 8, RawBytes.hasPrefix(UnsafeRawBufferPointer(start: base + start, count: 6), "data: "),
            let end = lineEnd(base, from: start + 6, count: count), end + 1 < count,
            base.load(fromByteOffset: end, as: UInt8.self) == UInt8(ascii: "\n"),
            base.load(fromByteOffset: end + 1, as: UInt8.self) == UInt8(ascii: "\n")
        else { return nil }
        return end
    }

    /// The index of the first CR or LF in `base[from..<count]`, if any.
    @inline(__always)
    private static func lineEnd(_ base: UnsafeRawPointer, from start: Int, count: Int) -> Int? {
        let lf = memchr(base + start, Int32(UInt8(ascii: "\n")), count - start).map { UnsafeRawPointer($0) - base } ?? count
        // A CR ends a line too (alone or before an LF); upstreams rarely send one.
        let cr = memchr(base + start, Int32(UInt8(ascii: "\r")), lf - start).map { UnsafeRawPointer($0) - base }
        let end = cr ?? lf
        return end < count ? end : nil
    }

    /// Ends the stream: a pending event without its closing blank line is still
    /// delivered, since many upstreams close the connection right after the last `data:`.
    public mutating func finish(_ onEvent: (Event) -> Bool) {
        var delivered = false
        if !carry.isEmpty {
            _ = processCarriedLine { delivered = true; return onEvent($0) }
        }
        if !delivered, hasData {
            _ = dispatch(onEvent)
        }
    }

    /// Handles the line gathered in `carry` and empties it, keeping its storage: the
    /// buffer is swapped out while it is read (`processLine` mutates the scanner), so it
    /// is neither copied nor reallocated.
    private mutating func processCarriedLine(_ onEvent: (Event) -> Bool) -> Bool {
        var line: [UInt8] = []
        swap(&line, &carry)
        let keepGoing = line.withUnsafeBytes { processLine($0, onEvent) }
        line.removeAll(keepingCapacity: true)
        swap(&line, &carry)
        return keepGoing
    }

    /// Handles one line (without its ending); returns what `onEvent` returned, or true.
    private mutating func processLine(_ line: UnsafeRawBufferPointer, _ onEvent: (Event) -> Bool) -> Bool {
        if line.isEmpty {
            if hasData { return dispatch(onEvent) }
            resetEvent()
            return true
        }
        if line[0] == UInt8(ascii: ":") { return true }
        let field: UnsafeRawBufferPointer
        var value: UnsafeRawBufferPointer
        if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
            field = UnsafeRawBufferPointer(rebasing: line[..<colon])
            var valueStart = colon + 1
            if valueStart < line.endIndex, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
            value = UnsafeRawBufferPointer(rebasing: line[valueStart...])
        } else {
            field = line
            value = UnsafeRawBufferPointer(start: nil, count: 0)
        }
        if RawBytes.equal(field, "data") {
            if hasData { data.append(UInt8(ascii: "\n")) }
            data.append(contentsOf: value)
            hasData = true
        } else if RawBytes.equal(field, "event") {
            name.removeAll(keepingCapacity: true)
            name.append(contentsOf: value)
            hasName = true
        } else if RawBytes.equal(field, "id") {
            if !value.contains(0) {
                lastID.removeAll(keepingCapacity: true)
                lastID.append(contentsOf: value)
                hasID = true
            }
        }
        return true
    }

    private mutating func dispatch(_ onEvent: (Event) -> Bool) -> Bool {
        let keepGoing = data.withUnsafeBytes { data in
            name.withUnsafeBytes { name in
                lastID.withUnsafeBytes { id in
                    onEvent(Event(name: hasName ? name : nil, data: data, id: hasID ? id : nil, raw: dispatchRaw))
                }
            }
        }
        resetEvent()
        return keepGoing
    }

    private mutating func resetEvent() {
        data.removeAll(keepingCapacity: true)
        hasData = false
        name.removeAll(keepingCapacity: true)
        hasName = false
        shape = .empty
        dispatchRaw = nil
    }
}

/// Writes server-sent events.
public enum SSEWriter {
    /// Frames `data` as one event (`data: …\n\n`), splitting embedded newlines into
    /// several `data:` lines, with an optional `event:` name.
    public static func frame(data: String, event: String? = nil, allocator: ByteBufferAllocator = .init()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: data.utf8.count + 16)
        write(data: data, event: event, into: &buffer)
        return buffer
    }

    /// Appends one framed event to `buffer`.
    public static func write(data: String, event: String? = nil, into buffer: inout ByteBuffer) {
        if let event {
            buffer.writeStaticString("event: ")
            buffer.writeString(event)
            buffer.writeStaticString("\n")
        }
        if data.utf8.contains(where: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) {
            for line in data.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
                buffer.writeStaticString("data: ")
                buffer.writeSubstring(line)
                buffer.writeStaticString("\n")
            }
        } else {
            buffer.writeStaticString("data: ")
            buffer.writeString(data)
            buffer.writeStaticString("\n")
        }
        buffer.writeStaticString("\n")
    }

    /// Appends one event whose data is raw bytes (as `SSEScanner` hands them over): one
    /// `data:` line per `\n`-separated line of `data`.
    public static func write(dataBytes data: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) {
        var start = 0
        for i in 0..<data.count where data[i] == UInt8(ascii: "\n") {
            buffer.writeStaticString("data: ")
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: data[start..<i]))
            buffer.writeStaticString("\n")
            start = i + 1
        }
        buffer.writeStaticString("data: ")
        buffer.writeBytes(UnsafeRawBufferPointer(rebasing: data[start..<data.count]))
        buffer.writeStaticString("\n\n")
    }

    /// Appends one event as the scanner handed it over: its `event:` name, when it has
    /// one, and its data (see ``write(dataBytes:into:)``).
    public static func write(
        eventName name: UnsafeRawBufferPointer?, dataBytes data: UnsafeRawBufferPointer, into buffer: inout ByteBuffer
    ) {
        if let name {
            buffer.writeStaticString("event: ")
            buffer.writeBytes(name)
            buffer.writeStaticString("\n")
        }
        write(dataBytes: data, into: &buffer)
    }

    /// A frame whose data is already-encoded bytes (no newlines inside, as JSON encoders produce).
    public static func frame(jsonBytes: ByteBuffer, allocator: ByteBufferAllocator = .init()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: jsonBytes.readableBytes + 8)
        buffer.writeStaticString("data: ")
        buffer.writeImmutableBuffer(jsonBytes)
        buffer.writeStaticString("\n\n")
        return buffer
    }

    /// An SSE comment line, used as a keep-alive (`: ping`).
    public static let ping: ByteBuffer = ByteBuffer(string: ": ping\n\n")
}
