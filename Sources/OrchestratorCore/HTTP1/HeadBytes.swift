public import HTTPTypes
public import NIOCore

/// Builds an HTTP/1.1 head straight into a buffer's memory.
///
/// A head is some fifty small pieces (a status or request line, then name, `": "`,
/// value and CRLF for every field). Written one `ByteBuffer` call at a time, each piece
/// paid for a uniqueness check, a capacity check, an exclusive-access check and an index
/// move: about 10,000 instructions per request for the response head and the upstream
/// request together. Here the capacity is reserved once per line (a start line, or a
/// field with ``ByteBuffer/writeFields(_:where:)``), for a size measured first, and the
/// pieces are copied with plain `memcpy`s.
public struct HeadBytes {
    private let base: UnsafeMutableRawPointer
    private let capacity: Int
    /// Bytes written so far.
    public private(set) var count = 0

    fileprivate init(base: UnsafeMutableRawPointer, capacity: Int) {
        self.base = base
        self.capacity = capacity
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        // A measuring mistake must not write past the reserved bytes.
        precondition(bytes.count <= capacity - count, "an HTTP head larger than measured")
        if let source = bytes.baseAddress { (base + count).copyMemory(from: source, byteCount: bytes.count) }
        count += bytes.count
    }

    public mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    public mutating func append(_ text: String) {
        // A native string lends its bytes in place; only another one is copied first.
        let lent: Void? = text.utf8.withContiguousStorageIfAvailable { append(UnsafeRawBufferPointer($0)) }
        guard lent == nil else { return }
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    public mutating func append(byte: UInt8) {
        precondition(count < capacity, "an HTTP head larger than measured")
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// `value` in decimal.
    public mutating func append(decimal value: Int) {
        precondition(value >= 0)
        var divisor = 1
        while divisor <= value / 10 { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            append(byte: UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    /// A field line: `name: value` and CRLF.
    public mutating func append(_ field: HTTPField) {
        append(field.name.rawName)
        append(": ")
        field.withUnsafeBytesOfValue { append(UnsafeRawBufferPointer($0)) }
        append("\r\n")
    }

    /// What a head's field lines take, for a first guess at a buffer's capacity (the
    /// buffer grows for more).
    public static func roughSize(of fields: HTTPFields) -> Int {
        fields.count * 64
    }

    /// The bytes ``append(_:)-(HTTPField)`` writes for `field`.
    public static func size(of field: HTTPField) -> Int {
        field.name.rawName.utf8.count + field.withUnsafeBytesOfValue(\.count) + 4
    }

    /// The bytes ``append(decimal:)`` writes for `value` (at most 20).
    public static let maxDecimalDigits = 20
}

extension ByteBuffer {
    /// Appends the field lines of `fields` that `include` accepts (all of them by
    /// default), each with its own capacity reservation: one pass over `fields`.
    /// (`HTTPFields` hands out copies of its fields, each with a retain and release
    /// of its name and value, so measuring every field first and then writing it
    /// cost every field that twice.)
    public mutating func writeFields(_ fields: HTTPFields, where include: (HTTPField) -> Bool = { _ in true }) {
        for field in fields where include(field) {
            writeHead(maximumBytes: HeadBytes.size(of: field)) { $0.append(field) }
        }
    }

    /// Appends what `build` writes, at most `maximumBytes` (measured by the caller; a
    /// build that writes more stops the process rather than overrun the buffer).
    public mutating func writeHead(maximumBytes: Int, _ build: (inout HeadBytes) -> Void) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: maximumBytes) { raw in
            var head = HeadBytes(base: raw.baseAddress!, capacity: maximumBytes)
            build(&head)
            return head.count
        }
    }
}
