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

    @Test func anUpperBoundLeavesNoGap() {
        var buffer = ByteBuffer()
        buffer.writeHead(maximumBytes: 64) { $0.append("short") }
        buffer.writeString("|next")
        #expect(String(buffer: buffer) == "short|next")
    }
}
