import HTTPTypes
import NIOCore
import OrchestratorCore
import Testing

@testable import HTTPFront

/// The gateway's own response fields: written as bytes by the data plane, added as
/// `HTTPFields` for Hummingbird's routes, the same either way.
struct GatewayFieldsTests {
    private static func written(_ fields: GatewayFields, bodiless: Bool = false) -> String {
        var buffer = ByteBuffer()
        fields.write(to: &buffer, bodiless: bodiless)
        return String(buffer: buffer)
    }

    /// The field lines `add(to:)` makes, as the codec would write them.
    private static func added(_ fields: GatewayFields) -> String {
        var all = HTTPFields()
        fields.add(to: &all)
        return all.map { "\($0.name.rawName): \($0.value)\r\n" }.joined()
    }

    private static var full: GatewayFields {
        var fields = GatewayFields()
        fields.contentType = .other("application/x-ndjson")
        fields.streaming = true
        fields.setRoute(RouteInfo(provider: "anthropic", upstreamModel: "claude", attempts: 12, overhead: .microseconds(999_994)))
        fields.requestID = "0123abcd"
        fields.contentLength = 1_048_576
        fields.close = true
        return fields
    }

    @Test func bothServersGetTheSameFields() {
        let expected =
            "Content-Type: application/x-ndjson\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n"
            + "x-orchestrator-provider: anthropic\r\nx-orchestrator-attempts: 12\r\nx-orchestrator-overhead-ms: 999.99\r\n"
            + "x-request-id: 0123abcd\r\nContent-Length: 1048576\r\nConnection: close\r\n"
        #expect(Self.written(Self.full) == expected)
        #expect(Self.added(Self.full) == expected)
        #expect(Self.written(GatewayFields()).isEmpty)
        #expect(Self.added(GatewayFields()).isEmpty)
        // No body, no length.
        #expect(!Self.written(Self.full, bodiless: true).contains("Content-Length"))
        var json = GatewayFields()
        json.contentType = .json
        json.contentLength = 0
        #expect(Self.written(json) == "Content-Type: application/json\r\nContent-Length: 0\r\n")
        #expect(Self.added(json) == Self.written(json))
    }

    /// A value from outside (a provider's name from the config, an encoder's content
    /// type) can never end its line early or add a field: it goes out as `HTTPField`
    /// makes it.
    @Test func valuesFromOutsideAreMadeLegal() {
        for name in [
            "evil\r\nx-injected: 1", "lf\nonly", "nul\u{0}byte", " padded ", "tab\tinside", "caf\u{E9}", "del\u{7F}", "",
        ] {
            var fields = GatewayFields()
            fields.setRoute(RouteInfo(provider: name, upstreamModel: "m", attempts: 1))
            fields.contentType = .other(name)
            let text = Self.written(fields)
            let legal = HTTPField(name: .contentType, value: name).value
            #expect(text.hasPrefix("Content-Type: \(legal)\r\nx-orchestrator-provider: \(legal)\r\n"), "\(name)")
            // Four lines, each ended by the one CR and LF, and no NUL.
            #expect(text.utf8.filter { $0 == 0x0A }.count == 4, "\(name)")
            #expect(text.utf8.filter { $0 == 0x0D }.count == 4, "\(name)")
            #expect(!text.utf8.contains(0), "\(name)")
            #expect(Self.added(fields) == text, "\(name)")
        }
        // Plain values are kept as they are, without a field made for them.
        #expect(GatewayFields.plainValue("openai-main_2.v1 (eu)") == "openai-main_2.v1 (eu)")
        for plain in ["", "a", "a\tb", "x y", "~!", String(repeating: "long-value-", count: 20)] {
            #expect(GatewayFields.plainValue(plain) == plain, "\(plain.debugDescription)")
        }
        for unsafe in [" a", "a ", "\ta", "a\t", "a\u{7F}", "a\u{1F}b", "é", "a\rb", "a\nb", "a\0"] {
            #expect(GatewayFields.plainValue(unsafe) == HTTPField(name: .contentType, value: unsafe).value, "\(unsafe.debugDescription)")
        }
    }
}
