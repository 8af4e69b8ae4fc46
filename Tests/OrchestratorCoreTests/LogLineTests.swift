import Foundation
import Logging
import Testing

@testable import OrchestratorCore

struct LogLineTests {
    private func text(_ line: [UInt8]) -> String { String(decoding: line, as: UTF8.self) }

    @Test func timestampsMatchFoundationsRFC3339() {
        // Foundation formats whole seconds; the milliseconds are checked as digits (a
        // Double time would make Foundation's own fraction off by one now and then).
        let style = Date.ISO8601FormatStyle()
        // Epoch, leap days, century rules, end of year, and a spread of ordinary times.
        var samples: [Int64] = [0, 951_782_400_000, 951_868_799_999, 4_107_542_399_999, 1_709_164_800_123, 1_798_761_599_999]
        var seed: UInt64 = 0x1234_5678
        for _ in 0..<2000 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            samples.append(Int64(seed >> 22) % 7_000_000_000_000)
        }
        for millis in samples {
            var out: [UInt8] = []
            LogLine.appendTimestamp(millis, to: &out)
            let seconds = Date(timeIntervalSince1970: Double(millis / 1000)).formatted(style)
            let fraction = String(millis % 1000)
            let expected = seconds.dropLast() + "." + String(repeating: "0", count: 3 - fraction.count) + fraction + "Z"
            #expect(text(out) == expected, "millis \(millis)")
        }
        var clamped: [UInt8] = []
        LogLine.appendTimestamp(-5, to: &clamped)
        #expect(text(clamped) == "1970-01-01T00:00:00.000Z")
    }

    @Test func textLineSortsMetadataAndQuotesWhatWouldNotSplit() {
        let line = LogLine.render(
            format: .text, timestampMillis: 1_764_378_292_501, level: .info, label: "orchestrator", message: "request",
            handlerMetadata: ["request.id": "abc", "zone": "kept"],
            eventMetadata: [
                "http.status": "200", "zone": "event wins", "empty": "", "eq": "a=b", "quote": "say \"hi\"",
                "newline": "a\nb", "count": .stringConvertible(42),
            ])
        #expect(
            text(line)
                == #"2025-11-29T01:04:52.501Z INFO request count=42 empty="" eq="a=b" http.status=200 newline="a\nb" quote="say \"hi\"" request.id=abc zone="event wins""#
                + "\n")
    }

    @Test func jsonLineIsOneValidObject() throws {
        let line = LogLine.render(
            format: .json, timestampMillis: 0, level: .warning, label: "orch\"estrator", message: "bad\u{01}thing",
            handlerMetadata: ["a": "1"], eventMetadata: ["list": .array(["x", "y"]), "ünï": "çödé"])
        #expect(line.last == UInt8(ascii: "\n"))
        let body = text(line).dropLast()
        #expect(body.hasPrefix(#"{"ts":"1970-01-01T00:00:00.000Z","level":"warning","msg":"bad\u0001thing","logger":"orch\"estrator","a":"1","#))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: String])
        #expect(object["msg"] == "bad\u{01}thing")
        #expect(object["logger"] == "orch\"estrator")
        #expect(object["ünï"] == "çödé")
        #expect(object["list"] == #"["x", "y"]"#)
        #expect(object.count == 7)
    }

    @Test func noMetadataAtAll() {
        let line = LogLine.render(
            format: .text, timestampMillis: 86_400_000, level: .critical, label: "x", message: "down",
            handlerMetadata: [:], eventMetadata: nil)
        #expect(text(line) == "1970-01-02T00:00:00.000Z CRITICAL down\n")
    }

    @Test func appendQuotedMatchesJSONEncoder() throws {
        // Escapes alone, at either end, side by side and between runs of plain text.
        let samples = [
            "", "plain", "quote\" back\\slash /slash", "\u{00}\u{1F}\u{7F}\t\r\n\u{08}\u{0C}", "ünï 🙂 中文", "\"", "\\",
            "\"starts", "ends\n", "\"\"\\\\\n\n", "a\u{01}b\u{1E}c", String(repeating: "run of plain text \"", count: 20),
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        for sample in samples {
            let expected = String(decoding: try encoder.encode(sample), as: UTF8.self)
            #expect(JSONCoding.quoted(sample) == expected, "\(sample.debugDescription)")
        }
    }
}
