public import NIOCore

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

/// An incremental parser for `text/event-stream` bodies.
///
/// Feed it body chunks as they arrive, at whatever boundaries the transport delivers
/// them; it buffers partial lines, accepts CR, LF and CRLF line endings (also when a
/// CRLF pair is split across chunks), joins multi-line `data:` fields, skips comments,
/// and emits each event when its blank line arrives.
public struct SSEParser: Sendable {
    private var line: [UInt8] = []
    private var skipNextLF = false
    private var dataLines: [String] = []
    private var hasData = false
    private var eventName: String?
    private var lastID: String?
    /// Longest line accepted; a longer one is an error (a hostile or broken upstream).
    public let maxLineBytes: Int

    /// Raised when a single line exceeds ``maxLineBytes``.
    public struct LineTooLong: Error, Sendable {}

    public init(maxLineBytes: Int = 16 * 1024 * 1024) {
        self.maxLineBytes = maxLineBytes
    }

    /// Parses the next chunk and returns the events it completed.
    public mutating func feed(_ buffer: ByteBuffer) throws -> [SSEEvent] {
        var events: [SSEEvent] = []
        buffer.withUnsafeReadableBytes { raw in
            var start = raw.startIndex
            var i = raw.startIndex
            while i < raw.endIndex {
                let byte = raw[i]
                if skipNextLF {
                    skipNextLF = false
                    if byte == UInt8(ascii: "\n") {
                        i += 1
                        start = i
                        continue
                    }
                }
                if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                    line.append(contentsOf: raw[start..<i])
                    if let event = processLine() { events.append(event) }
                    line.removeAll(keepingCapacity: true)
                    if byte == UInt8(ascii: "\r") { skipNextLF = true }
                    i += 1
                    start = i
                } else {
                    i += 1
                }
            }
            line.append(contentsOf: raw[start..<raw.endIndex])
        }
        if line.count > maxLineBytes { throw LineTooLong() }
        return events
    }

    /// Ends the stream: a pending event without its closing blank line is still returned,
    /// since many upstreams close the connection right after the last `data:` line.
    public mutating func finish() -> SSEEvent? {
        var event: SSEEvent?
        if !line.isEmpty {
            event = processLine()
            line.removeAll()
        }
        if event == nil, hasData {
            event = dispatch()
        }
        return event
    }

    private mutating func processLine() -> SSEEvent? {
        if line.isEmpty {
            return hasData ? dispatch() : resetEvent()
        }
        if line[0] == UInt8(ascii: ":") { return nil }
        let field: String
        var value: String
        if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
            field = String(decoding: line[..<colon], as: UTF8.self)
            var valueStart = colon + 1
            if valueStart < line.endIndex, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
            value = String(decoding: line[valueStart...], as: UTF8.self)
        } else {
            field = String(decoding: line, as: UTF8.self)
            value = ""
        }
        switch field {
        case "data":
            dataLines.append(value)
            hasData = true
        case "event":
            eventName = value
        case "id":
            if !value.contains("\0") { lastID = value }
        default:
            value = ""
        }
        return nil
    }

    private mutating func dispatch() -> SSEEvent {
        let event = SSEEvent(event: eventName, data: dataLines.joined(separator: "\n"), id: lastID)
        _ = resetEvent()
        return event
    }

    private mutating func resetEvent() -> SSEEvent? {
        dataLines.removeAll(keepingCapacity: true)
        hasData = false
        eventName = nil
        return nil
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
