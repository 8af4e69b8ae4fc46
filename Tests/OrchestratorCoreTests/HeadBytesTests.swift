import HTTPTypes
import NIOCore
import OrchestratorCore
import Testing

struct HeadBytesTests {
    @Test func buildsTheBytesItMeasured() {
        let latin1: [UInt8] = [0x63, 0x61, 0x66, 0xE9]  // "café" in ISO-8859-1
        let fields: [HTTPField] = [
            HTTPField(name: .contentType, value: "application/json"),
            HTTPField(name: HTTPField.Name("X-Mixed-Case")!, value: ""),
            HTTPField(name: HTTPField.Name("x-latin1")!, lenientValue: latin1),
        ]
        var size = "GET / HTTP/1.1\r\n\r\n".utf8.count
        for field in fields { size += HeadBytes.size(of: field) }
        var buffer = ByteBuffer(string: "prefix|")
        buffer.writeHead(maximumBytes: size) { out in
            out.append("GET")
            out.append(byte: UInt8(ascii: " "))
            out.append("/" as String)
            out.append(" HTTP/1.1\r\n")
            for field in fields { out.append(field) }
            out.append("\r\n")
            #expect(out.count == size)
        }
        let expected =
            Array("prefix|GET / HTTP/1.1\r\nContent-Type: application/json\r\nX-Mixed-Case: \r\nx-latin1: ".utf8) + latin1
            + Array("\r\n\r\n".utf8)
        #expect(Array(buffer.readableBytesView) == expected)
    }

    @Test func decimals() {
        for value in [0, 7, 9, 10, 99, 100, 12_345, 1_000_000, Int.max] {
            var buffer = ByteBuffer()
            buffer.writeHead(maximumBytes: HeadBytes.maxDecimalDigits) { $0.append(decimal: value) }
            #expect(String(buffer: buffer) == String(value))
        }
    }

    @Test func fieldsAreWrittenInOnePassGrowingTheBuffer() {
        let latin1: [UInt8] = [0x63, 0x61, 0x66, 0xE9]
        var fields: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        fields.append(HTTPField(name: HTTPField.Name("x-latin1")!, lenientValue: latin1))
        // Far past the rough guess of the capacity.
        let long = String(repeating: "v", count: 3_000)
        fields.append(HTTPField(name: HTTPField.Name("X-Long")!, value: long))
        fields.append(HTTPField(name: .transferEncoding, value: "gzip"))
        var buffer = ByteBuffer(string: "head\r\n")
        buffer.reserveCapacity(minimumWritableBytes: HeadBytes.roughSize(of: fields))
        buffer.writeFields(fields, where: { $0.name != .transferEncoding })
        buffer.writeString("\r\n")
        let expected =
            Array("head\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nx-latin1: ".utf8) + latin1
            + Array("\r\nX-Long: \(long)\r\n\r\n".utf8)
        #expect(Array(buffer.readableBytesView) == expected)
        var empty = ByteBuffer()
        empty.writeFields([:])
        #expect(empty.readableBytes == 0)
    }

    @Test func anUpperBoundLeavesNoGap() {
        var buffer = ByteBuffer()
        buffer.writeHead(maximumBytes: 64) { $0.append("short") }
        buffer.writeString("|next")
        #expect(String(buffer: buffer) == "short|next")
    }
}
