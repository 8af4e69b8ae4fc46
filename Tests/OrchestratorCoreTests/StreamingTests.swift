import NIOCore
import OrchestratorTesting
import Testing

@testable import OrchestratorCore

struct SSEParserTests {
    func parse(_ chunks: [String]) throws -> [SSEEvent] {
        var parser = SSEParser()
        var events: [SSEEvent] = []
        for chunk in chunks { events += try parser.feed(ByteBuffer(string: chunk)) }
        if let last = parser.finish() { events.append(last) }
        return events
    }

    @Test func lineEndings() throws {
        let expected = [SSEEvent(data: "a"), SSEEvent(data: "b")]
        #expect(try parse(["data: a\n\ndata: b\n\n"]) == expected)
        #expect(try parse(["data: a\r\n\r\ndata: b\r\n\r\n"]) == expected)
        #expect(try parse(["data: a\r\rdata: b\r\r"]) == expected)
    }

    @Test func splitAtEveryByte() throws {
        let stream = "event: message\r\ndata: {\"x\":1}\r\n\r\n: comment\r\ndata: line1\r\ndata: line2\r\n\r\ndata: [DONE]\r\n\r\n"
        let whole = try parse([stream])
        #expect(whole == [SSEEvent(event: "message", data: "{\"x\":1}"), SSEEvent(data: "line1\nline2"), SSEEvent(data: "[DONE]")])
        let bytes = Array(stream.utf8)
        for split in 1..<bytes.count {
            let a = String(decoding: bytes[..<split], as: UTF8.self)
            let b = String(decoding: bytes[split...], as: UTF8.self)
            #expect(try parse([a, b]) == whole, "split at \(split)")
        }
        #expect(try parse(bytes.map { String(UnicodeScalar($0)) }) == whole)
    }

    @Test func crlfSplitAcrossChunksIsOneLineEnd() throws {
        #expect(try parse(["data: a\r", "\n\r", "\ndata: b\n\n"]) == [SSEEvent(data: "a"), SSEEvent(data: "b")])
    }

    @Test func mergedEventsInOneChunk() throws {
        let events = try parse(["data: 1\n\ndata: 2\n\ndata: 3\n\n"])
        #expect(events.map(\.data) == ["1", "2", "3"])
    }

    @Test func fieldsWithoutSpaceAndUnknownFields() throws {
        let events = try parse(["data:x\nretry: 10\nfoo: bar\nid: 7\n\n"])
        #expect(events == [SSEEvent(data: "x", id: "7")])
    }

    @Test func lastEventWithoutBlankLineIsKept() throws {
        #expect(try parse(["data: a\n\ndata: b"]).map(\.data) == ["a", "b"])
        #expect(try parse(["data: a\n\n: only a comment"]).map(\.data) == ["a"])
    }

    @Test func emptyDataAndBlankLinesAlone() throws {
        #expect(try parse(["\n\n\n"]).isEmpty)
        #expect(try parse(["data\n\n"]) == [SSEEvent(data: "")])
    }

    @Test func overlongLineIsRejected() {
        var parser = SSEParser(maxLineBytes: 16)
        #expect(throws: SSEParser.LineTooLong.self) {
            _ = try parser.feed(ByteBuffer(string: "data: 0123456789012345678901234567890"))
        }
    }

    @Test func writerFramesMultilineData() {
        #expect(String(buffer: SSEWriter.frame(data: "a\nb")) == "data: a\ndata: b\n\n")
        #expect(String(buffer: SSEWriter.frame(data: "{}", event: "ping")) == "event: ping\ndata: {}\n\n")
        var parser = SSEParser()
        let events = try? parser.feed(SSEWriter.frame(data: "x\r\ny"))
        #expect(events == [SSEEvent(data: "x\ny")])
    }
}

struct SSEScannerTests {
    struct Seen: Equatable {
        var name: String?
        var data: String
        var id: String?
    }

    func scan(_ chunks: [[UInt8]]) throws -> [Seen] {
        var scanner = SSEScanner()
        var seen: [Seen] = []
        func record(_ event: SSEScanner.Event) -> Bool {
            seen.append(
                Seen(
                    name: event.name.map { String(decoding: $0, as: UTF8.self) },
                    data: String(decoding: event.data, as: UTF8.self),
                    id: event.id.map { String(decoding: $0, as: UTF8.self) }))
            return true
        }
        for chunk in chunks { try scanner.feed(ByteBuffer(bytes: chunk), record) }
        scanner.finish(record)
        return seen
    }

    /// Random streams (every line ending, comments, ids, names, multi-line data, blank
    /// runs), cut into random pieces: the events never depend on where the cuts fall.
    @Test func randomStreamsGiveTheSameEventsHoweverTheyAreCut() throws {
        var seed: UInt64 = 0x5EED
        func next(_ bound: Int) -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((seed >> 33) % UInt64(bound))
        }
        var cuts = SplitMix64(seed: 0x5EED)
        let endings = ["\n", "\r", "\r\n"]
        for _ in 0..<300 {
            var stream = ""
            for _ in 0..<(1 + next(6)) {
                let end = endings[next(3)]
                if next(4) == 0 { stream += ": comment" + end }
                if next(3) == 0 { stream += "event: e\(next(9))" + end }
                if next(4) == 0 { stream += "id:\(next(99))" + end }
                for _ in 0..<(1 + next(3)) { stream += (next(5) == 0 ? "data:" : "data: ") + "{\"v\":\(next(1000))}" + end }
                if next(6) == 0 { stream += "retry: 5" + end }
                stream += end
                if next(5) == 0 { stream += end }
            }
            if next(4) == 0 { stream += "data: tail" }
            let bytes = Array(stream.utf8)
            // Whole, most events are read in place (one data line and a blank line, all
            // in the buffer); cut small, none is; cut larger, some are.
            let whole = try scan([bytes])
            #expect(!whole.isEmpty)
            #expect(try scan(bytes.map { [$0] }) == whole, "\(stream.debugDescription)")
            for maxPiece in [12, 12, 12, 12, 64, 64, 64, 64] {
                let chunks = randomPieces(of: bytes, maxPiece: maxPiece, using: &cuts)
                #expect(try scan(chunks) == whole, "\(stream.debugDescription)")
            }
        }
    }

    /// `raw` marks an event whose bytes in the chunk are exactly what re-framing it would
    /// write (`data: …\n\n`), and only such an event: a pass-through forwards that slice.
    @Test func rawIsGivenExactlyForEventsThatReframeToTheSameBytes() throws {
        func rawEvents(_ chunks: [[UInt8]]) throws -> (all: Int, raw: Int) {
            var scanner = SSEScanner()
            var all = 0
            var raw = 0
            for chunk in chunks {
                let buffer = ByteBuffer(bytes: chunk)
                try scanner.feed(buffer) { event in
                    all += 1
                    var reframed = ByteBuffer()
                    SSEWriter.write(eventName: event.name, dataBytes: event.data, into: &reframed)
                    if let range = event.raw {
                        raw += 1
                        #expect(Array(chunk[range]) == Array(reframed.readableBytesView))
                        #expect(event.name == nil)
                    }
                    return true
                }
            }
            scanner.finish { event in
                #expect(event.raw == nil)
                all += 1
                return true
            }
            return (all, raw)
        }
        // Canonical events in one chunk: every one is a slice (also after a comment
        // line of its own and around blank runs).
        let canonical = "data: {\"a\":1}\n\ndata: {\"b\":2}\n\n: keep-alive\n\n\ndata: [DONE]\n\n"
        #expect(try rawEvents([Array(canonical.utf8)]) == (3, 3))
        // Not slices: CRLF, two data lines, a name, an id, a comment inside the event,
        // `data:` without its space, and an event split across chunks.
        for text in [
            "data: x\r\n\r\n", "data: x\ndata: y\n\n", "event: e\ndata: x\n\n", "id: 1\ndata: x\n\n",
            ": c\ndata: x\n\n", "data:x\n\n",
        ] {
            #expect(try rawEvents([Array(text.utf8)]) == (1, 0), "\(text.debugDescription)")
        }
        let split = Array("data: {\"a\":1}\n\ndata: {\"b\":2}\n\n".utf8)
        #expect(try rawEvents([Array(split[..<20]), Array(split[20...])]) == (2, 1))
        #expect(try rawEvents([Array(split[..<14]), Array(split[14...])]) == (2, 1))
        // Random streams cut anywhere: whatever is marked raw re-frames to its slice.
        var random = SplitMix64(seed: 0xCAFE)
        func next(_ bound: Int) -> Int { Int.random(in: 0..<bound, using: &random) }
        var marked = 0
        for _ in 0..<300 {
            var stream = ""
            for _ in 0..<(1 + next(6)) {
                let end = ["\n", "\n", "\r", "\r\n"][next(4)]
                if next(5) == 0 { stream += ": comment" + end }
                if next(5) == 0 { stream += "event: e" + end }
                for _ in 0..<(1 + next(2)) { stream += (next(5) == 0 ? "data:" : "data: ") + "{\"v\":\(next(1000))}" + end }
                stream += end
            }
            marked += try rawEvents(randomPieces(of: Array(stream.utf8), maxPiece: 64, using: &random)).raw
        }
        #expect(marked > 50)
    }

    @Test func idIsKeptAcrossEventsAndNameIsNot() throws {
        let events = try scan([Array("id: 1\nevent: a\ndata: x\n\ndata: y\n\nid: 2\u{0}\ndata: z\n\n".utf8)])
        #expect(events == [Seen(name: "a", data: "x", id: "1"), Seen(name: nil, data: "y", id: "1"), Seen(name: nil, data: "z", id: "1")])
    }

    @Test func returningFalseStopsTheChunk() throws {
        var scanner = SSEScanner()
        var seen: [String] = []
        try scanner.feed(ByteBuffer(string: "data: 1\n\ndata: 2\n\ndata: 3\n\n")) { event in
            seen.append(String(decoding: event.data, as: UTF8.self))
            return seen.count < 2
        }
        #expect(seen == ["1", "2"])
    }

    @Test func writerFramesRawDataLikeStrings() {
        for data in ["{\"a\":1}", "a\nb", "", "\n", "x\n\ny"] {
            var raw = ByteBuffer()
            Array(data.utf8).withUnsafeBytes { SSEWriter.write(dataBytes: $0, into: &raw) }
            #expect(raw == SSEWriter.frame(data: data), "\(data.debugDescription)")
        }
    }
}

struct JSONObjectRewriterTests {
    func rewrite(_ json: String, _ configure: (inout JSONObjectRewriter) throws -> Void) throws -> String {
        var rewriter = JSONObjectRewriter()
        try configure(&rewriter)
        return String(buffer: try rewriter.apply(to: ByteBuffer(string: json)))
    }

    @Test func replacesOnlyTheModel() throws {
        let body = #"{ "model" : "alias", "seed": 9007199254740993, "messages":[{"role":"user","content":"{\"model\":\"inner\"} }]"}], "x": 1.50 }"#
        let out = try rewrite(body) { $0.set("model", string: "gpt-4o-mini") }
        #expect(out == #"{"model" : "gpt-4o-mini","seed": 9007199254740993,"messages":[{"role":"user","content":"{\"model\":\"inner\"} }]"}],"x": 1.50}"#)
    }

    @Test func addsMissingKeysAndReplacesDuplicatesOnce() throws {
        let out = try rewrite(#"{"a":1,"model":"x","model":"y"}"#) {
            $0.set("model", string: "z")
            try $0.set("stream_options", value: StreamOptions(includeUsage: true))
        }
        #expect(out == #"{"a":1,"model":"z","stream_options":{"include_usage":true}}"#)
        #expect(try rewrite("{}") { $0.set("model", string: "m") } == #"{"model":"m"}"#)
        #expect(try rewrite(" { } ") { $0.set("k", json: Array("[1,2]".utf8)) } == #"{"k":[1,2]}"#)
    }

    @Test func escapesKeysAndValues() throws {
        let out = try rewrite(#"{"model":"a"}"#) { $0.set("model", string: "we\"ird\\name\n") }
        #expect(out == #"{"model":"we\"ird\\name\n"}"#)
    }

    @Test func rejectsMalformedInput() {
        for bad in ["", "[]", "{", #"{"a"}"#, #"{"a":}"#, #"{"a":1,}"#, #"{"a":"unterminated}"#, #"{"a":1} x"#, #"{"a":[1,2}"#] {
            #expect(throws: JSONObjectRewriter.MalformedJSON.self, "\(bad)") {
                _ = try rewrite(bad) { $0.set("model", string: "m") }
            }
        }
    }

    /// Keys are compared by their decoded text: an escaped spelling still matches, and a
    /// bad escape in a key is malformed input.
    @Test func escapedKeysMatchTheirDecodedText() throws {
        #expect(try rewrite(#"{"mod\u0065l":"alias","x":1}"#) { $0.set("model", string: "m") } == #"{"mod\u0065l":"m","x":1}"#)
        let members = try Array(#"{"a\"b":1,"\u00e9":2}"#.utf8).withUnsafeBytes { try JSONObjectRewriter.members(of: $0) }
        #expect(members.map(\.key) == ["a\"b", "é"])
        #expect(throws: JSONObjectRewriter.MalformedJSON.self) {
            _ = try Array(#"{"\u12":1}"#.utf8).withUnsafeBytes { try JSONObjectRewriter.members(of: $0) }
        }
        let summary = try PassThroughSummary.scan(#"{"ch\u006fices":[],"us\u0061ge":{"prompt_t\u006fkens":5,"completion_tokens":1}}"#)
        #expect(summary.isUsageOnly && summary.usage?.promptTokens == 5)
    }

    /// The word-at-a-time search for a string's end agrees with a byte-by-byte one, from
    /// every start, over random bytes rich in the characters it looks for and their
    /// neighbours (which a borrow in the zero-byte test could flag by mistake).
    @Test func quoteSearchAgreesWithAByteByByteSearch() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = [0x22, 0x5C, 0x21, 0x23, 0x5B, 0x5D, 0x00, 0x01, 0x7F, 0x80, 0xA2, 0xDC, 0xFF, 0x61]
        for length in 0..<40 {
            for _ in 0..<40 {
                let bytes = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }
                bytes.withUnsafeBytes { raw in
                    for start in 0...length {
                        let expected = (start..<length).first { raw[$0] == 0x22 || raw[$0] == 0x5C }
                        #expect(JSONObjectRewriter.Scanner.quoteOrBackslash(in: raw, from: start) == expected, "\(bytes) from \(start)")
                    }
                }
            }
        }
    }

    /// Strings end at their first unescaped quote wherever the escapes fall against the
    /// eight-byte steps, and a string cut inside an escape or before its quote is malformed.
    @Test func stringsEndWhereverTheirEscapesFall() throws {
        for padding in 0..<17 {
            let filler = String(repeating: "x", count: padding)
            let members = try Array(#"{"\#(filler)\"k":"\#(filler)\\","n\#(filler)":"a\"\#(filler)\"b"}"#.utf8).withUnsafeBytes {
                try JSONObjectRewriter.members(of: $0)
            }
            #expect(members.map(\.key) == ["\(filler)\"k", "n\(filler)"])
            let summary = try PassThroughSummary.scan(#"{"\#(filler)":"\#(filler)\"","usage":{"prompt_tokens":\#(padding)}}"#)
            #expect(summary.usage?.promptTokens == padding)
            for cut in [#"{"a":"\#(filler)\"#, #"{"a":"\#(filler)\""#, #"{"a\#(filler)"#] {
                #expect(throws: JSONObjectRewriter.MalformedJSON.self, "\(cut)") {
                    _ = try Array(cut.utf8).withUnsafeBytes { try JSONObjectRewriter.members(of: $0) }
                }
            }
        }
    }

    @Test func membersListsTopLevelOnly() throws {
        let text = #"{"a":{"model":1},"b":[{"c":2}],"model":"m"}"#
        let members = try Array(text.utf8).withUnsafeBytes { try JSONObjectRewriter.members(of: $0) }
        #expect(members.map(\.key) == ["a", "b", "model"])
    }
}

struct PassThroughSummaryTests {
    @Test func readsWhatThePassThroughNeeds() throws {
        let content = try PassThroughSummary.scan(
            #"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hel\"lo"},"finish_reason":null}]}"#)
        #expect(!content.choicesEmpty && content.usage == nil && !content.hasError && !content.isUsageOnly)
        #expect(content.hasChoicesArray)
        #expect(!(try PassThroughSummary.scan(#"{"choices":"nope"}"#).hasChoicesArray))
        #expect(!(try PassThroughSummary.scan(#"{"id":"x"}"#).hasChoicesArray))
        let completion = try PassThroughSummary.scan(ByteBuffer(string: OpenAIFixtures.completion(content: "abcd")))
        #expect(completion.hasChoicesArray && completion.usage?.totalTokens == 21 && completion.textBytes == 4)
        #expect(content.textBytes == 7, "escaped quote counted as written")

        let usage = try PassThroughSummary.scan(
            #"{"id":"c","choices":[ ],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":4}}}"#)
        #expect(usage.isUsageOnly && usage.usage == Usage(promptTokens: 9, completionTokens: 12, totalTokens: 21, cachedTokens: 4))

        let both = try PassThroughSummary.scan(#"{"choices":[{"delta":{}}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#)
        #expect(!both.isUsageOnly && both.usage?.totalTokens == 3)

        let nullUsage = try PassThroughSummary.scan(#"{"choices":[],"usage":null}"#)
        #expect(nullUsage.usage == nil && !nullUsage.isUsageOnly)

        let tools = try PassThroughSummary.scan(
            #"{"choices":[{"delta":{"reasoning_content":"think","tool_calls":[{"index":0,"function":{"name":"f","arguments":"{\"a\":1}"}}]}}]}"#)
        #expect(tools.textBytes == 5 + 9)
        // Every text member in one pass: two choices, `reasoning` (vLLM), spacing around
        // the colon, a null content, and look-alike keys that are not counted.
        let mixed = try PassThroughSummary.scan(
            #"{"choices":[{"delta":{"content" : "ab","reasoning":"xyz","contents":"no","content_x":"no"}},{"delta":{"content":null,"reasoning_content":"r","tool_calls":[{"function":{"arguments":"{}"}}]}}]}"#)
        #expect(mixed.textBytes == 2 + 3 + 1 + 2)
        // Only members' string values count: not keys, not strings in arrays, not a
        // text key's name written as a value.
        let shapes = try PassThroughSummary.scan(
            #"{"choices":[{"content":["abc",{"x":"content"}],"arguments":{"content":"de"},"c\u006fntent":"f","n":"content"}]}"#)
        #expect(shapes.textBytes == 2 + 1)

        #expect(try PassThroughSummary.scan(#"{"error":{"message":"overloaded"}}"#).hasError)
        #expect(!(try PassThroughSummary.scan(#"{"error":null,"choices":[]}"#).hasError))
    }

    @Test func readsUsageCountsWithoutADecoder() throws {
        let full = try PassThroughSummary.scan(
            #"{"choices":[],"usage":{ "prompt_tokens" : 1200, "completion_tokens":34, "total_tokens":1234, "prompt_tokens_details":{"cached_tokens":1000,"audio_tokens":0}, "completion_tokens_details":{"reasoning_tokens":30,"accepted_prediction_tokens":0}, "cost":0.5 }}"#)
        #expect(
            full.usage == Usage(promptTokens: 1200, completionTokens: 34, totalTokens: 1234, cachedTokens: 1000, reasoningTokens: 30))
        // No total: the sum; odd values read as absent rather than failing a good response.
        let partial = try PassThroughSummary.scan(
            #"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":null,"prompt_tokens_details":null}}"#)
        #expect(partial.usage == Usage(promptTokens: 5, completionTokens: 0))
        // A count that is not a plain integer: no usage, so the gateway estimates it.
        for odd in [#"{"prompt_tokens":-1}"#, #"{"completion_tokens":2.5}"#, #"{"prompt_tokens":"many"}"#, "[1]"] {
            let summary = try PassThroughSummary.scan(#"{"choices":[],"usage":\#(odd)}"#)
            #expect(summary.usage == nil, "\(odd)")
        }
        #expect(throws: JSONObjectRewriter.MalformedJSON.self) {
            try PassThroughSummary.scan(#"{"choices":[],"usage":{"prompt_tokens":}}"#)
        }
    }

    /// Every name the usage scan reads, as the Responses API and DeepSeek write them too,
    /// escaped or not; and keys that share a name's length and first letter are not read.
    @Test func readsEveryUsageNameAndOnlyThose() throws {
        func usage(_ object: String) throws -> Usage? {
            try PassThroughSummary.scan(#"{"choices":[],"usage":\#(object)}"#).usage
        }
        #expect(
            try usage(
                #"{"input_tokens":5,"input_tokens_details":{"cached_tokens":2},"output_tokens":3,"output_tokens_details":{"reasoning_tokens":1},"total_tokens":8}"#)
                == Usage(promptTokens: 5, completionTokens: 3, totalTokens: 8, cachedTokens: 2, reasoningTokens: 1))
        #expect(
            try usage(#"{"\u0070rompt_tokens":4,"output\u005ftokens":2,"total_token\u0073":6,"prompt_cache_hit_tok\u0065ns":1}"#)
                == Usage(promptTokens: 4, completionTokens: 2, totalTokens: 6, cachedTokens: 1))
        #expect(
            try usage(#"{"completion_tokens_d\u0065tails":{"reasoning_tokens":7},"input_tokens_detail\u0073":{"cached_tokens":3}}"#)
                == Usage(promptTokens: 0, completionTokens: 0, cachedTokens: 3, reasoningTokens: 7))
        // DeepSeek's count first, then the details: the details' count wins when it is
        // there, and DeepSeek's stays when the details hold none.
        #expect(try usage(#"{"prompt_cache_hit_tokens":3,"prompt_tokens_details":{"cached_tokens":5}}"#)?.cachedTokens == 5)
        #expect(try usage(#"{"prompt_cache_hit_tokens":3,"prompt_tokens_details":{"cached_tokens":null}}"#)?.cachedTokens == 3)
        #expect(try usage(#"{"prompt_tokens_details":{"cached_tokens":5},"prompt_cache_hit_tokens":3}"#)?.cachedTokens == 5)
        let lookAlikes = [
            "input_tokenz", "xnput_tokens", "total_tokenz", "prompt_tokenz", "output_tokenz", "pompt_tokens_",
            "completion_tokenz", "input_tokens_detailz", "prompt_tokens_detailz", "output_tokens_detailz",
            "prompt_cache_hit_tokenz", "completion_tokens_detailz", "\\u0070rompt_tokenz",
        ]
        for key in lookAlikes {
            let value = key.hasSuffix("z") && key.contains("detail") ? #"{"cached_tokens":1,"reasoning_tokens":1}"# : "9"
            #expect(try usage(#"{"\#(key)":\#(value)}"#) == Usage(promptTokens: 0, completionTokens: 0), "\(key)")
        }
    }

    /// The summary keeps usage as plain counts: what is set is what is read back, the
    /// total filled in as `Usage` fills it, and equality follows the counts.
    @Test func usageSetOnASummaryReadsBack() {
        let usage = Usage(promptTokens: 7, completionTokens: 3, cachedTokens: 2, reasoningTokens: 1)
        var summary = PassThroughSummary(usage: usage, hasError: false, choicesEmpty: true, hasChoicesArray: true, textBytes: 0)
        #expect(summary.usage == usage && summary.usage?.totalTokens == 10 && summary.isUsageOnly)
        var other = summary
        other.usage = Usage(promptTokens: 7, completionTokens: 4)
        #expect(other != summary && other.usage?.totalTokens == 11 && other.usage?.cachedTokens == nil)
        other.usage = usage
        #expect(other == summary && other.hashValue == summary.hashValue)
        summary.usage = nil
        #expect(summary.usage == nil && !summary.isUsageOnly)
    }

    /// The text count, taken while the scan steps over `choices`, agrees with the count
    /// known from building random values: text members at any depth, look-alike keys,
    /// escapes, strings in arrays, whitespace between every token. Every cut of such a
    /// chunk is malformed.
    @Test func textCountAgreesWithTheValuesBuilt() throws {
        var generator = SystemRandomNumberGenerator()
        let keys = [
            "content", "arguments", "reasoning", "reasoning_content", "contents", "content_x", "c\\u006fntent", "con\\\"tent",
            "index", "",
        ]
        let pieces = ["ab", "\\\"", "\\\\", "é", "\\u00e9", " ", "{", "]", ":"]
        func space() -> String { ["", "", " ", "\n ", "\t"].randomElement(using: &generator)! }
        func string() -> String { (0..<Int.random(in: 0..<5, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined() }
        /// A value's text and the output text it holds; `counted` when it is a text member's.
        func value(depth: Int, counted: Bool) -> (text: String, count: Int) {
            switch Int.random(in: 0..<(depth > 3 ? 3 : 5), using: &generator) {
            case 0:
                let s = string()
                return ("\"\(s)\"", counted ? s.utf8.count : 0)
            case 1: return (["0", "-1.5e3", "null", "true", "false", "nullish"].randomElement(using: &generator)!, 0)
            case 2: return (["[]", "{}", "[ ]", "{\n}"].randomElement(using: &generator)!, 0)
            case 3:
                let items = (0..<Int.random(in: 1..<4, using: &generator)).map { _ in value(depth: depth + 1, counted: false) }
                return ("[" + items.map { space() + $0.text + space() }.joined(separator: ",") + "]", items.reduce(0) { $0 + $1.count })
            default:
                var count = 0
                let members = (0..<Int.random(in: 1..<4, using: &generator)).map { _ in
                    let key = keys.randomElement(using: &generator)!
                    let isText = ["content", "arguments", "reasoning", "reasoning_content", "c\\u006fntent"].contains(key)
                    let member = value(depth: depth + 1, counted: isText)
                    count += member.count
                    return space() + "\"\(key)\"" + space() + ":" + space() + member.text + space()
                }
                return ("{" + members.joined(separator: ",") + "}", count)
            }
        }
        for _ in 0..<2000 {
            let choices = value(depth: 0, counted: false)
            let chunk = space() + #"{"id":"c","choices":"# + space() + choices.text + space() + #","usage":null}"# + space()
            #expect(try PassThroughSummary.scan(chunk).textBytes == choices.count, "\(chunk)")
            // Cut before the closing brace: whitespace after it is no part of the object.
            let bytes = Array(chunk.utf8)
            let cut = Int.random(in: 0...bytes.lastIndex(of: UInt8(ascii: "}"))!, using: &generator)
            #expect(throws: JSONObjectRewriter.MalformedJSON.self, "\(chunk) cut at \(cut)") {
                _ = try PassThroughSummary.scan(String(decoding: bytes[..<cut], as: UTF8.self))
            }
        }
    }

    /// Containers nest up to 512 deep within a member's value; deeper input is refused,
    /// however deep it goes.
    @Test func nestingIsBounded() throws {
        func nested(_ depth: Int) -> String { #"{"choices":"# + String(repeating: "[", count: depth) + "1" + String(repeating: "]", count: depth) + "}" }
        #expect(try PassThroughSummary.scan(nested(512)).hasChoicesArray)
        #expect(throws: JSONObjectRewriter.MalformedJSON.self) { try PassThroughSummary.scan(nested(513)) }
        #expect(throws: JSONObjectRewriter.MalformedJSON.self) { try PassThroughSummary.scan(nested(100_000)) }
        let unbalanced = #"{"a":[{"b":1]}"#
        #expect(throws: JSONObjectRewriter.MalformedJSON.self) {
            _ = try Array(unbalanced.utf8).withUnsafeBytes { try JSONObjectRewriter.members(of: $0) }
        }
    }

    /// The members the scan reads are told apart by length and first byte before a full
    /// comparison: look-alikes of the same length are ignored, escaped spellings match.
    @Test func readsOnlyItsOwnMembers() throws {
        let lookAlikes = try PassThroughSummary.scan(
            #"{"model":"m","errors":{"x":1},"objekt":"error","usagf":{"prompt_tokens":1},"dat":[],"datas":[],"choicez":[],"x_groqs":{"usage":{"prompt_tokens":2}}}"#)
        #expect(lookAlikes == PassThroughSummary(usage: nil, hasError: false, choicesEmpty: true, hasChoicesArray: false, textBytes: 0))
        let escaped = try PassThroughSummary.scan(
            #"{"\u0065rror":{"m":1},"d\u0061ta":[],"x_gr\u006fq":{"usage":{"prompt_tokens":3}},"\u0063hoices":[{"delta":{"content":"ab"}}]}"#)
        #expect(escaped.hasError && escaped.hasDataArray && escaped.usage?.promptTokens == 3 && escaped.textBytes == 2)
        #expect(try PassThroughSummary.scan(#"{"\u006fbject":"error"}"#).hasError)
        #expect(try PassThroughSummary.scan(#"{"object":"error"}"#).hasError)
        #expect(!(try PassThroughSummary.scan(#"{"object":"chat.completion"}"#).hasError))
        let groq = try PassThroughSummary.scan(#"{"choices":[],"x_groq":{"id":"q","usage":{"prompt_tokens":4,"completion_tokens":5}}}"#)
        #expect(groq.usage == Usage(promptTokens: 4, completionTokens: 5) && groq.isUsageOnly)
    }

    /// A stream's chunks scanned in order give what each gives scanned alone, whether a
    /// chunk starts like the one before it (and is walked from `choices`' value or the
    /// first string inside it) or not: starts that are prefixes of each other, errors
    /// and usage before `choices`, a duplicate `choices`, whitespace before it, content
    /// that is escaped, null or in a second choice, and tails that are malformed or end
    /// right after the shared start.
    @Test func streamScannerAgreesWithScanningEachChunkAlone() throws {
        var generator = SystemRandomNumberGenerator()
        let heads = [
            #"{"id":"c1","object":"chat.completion.chunk","model":"m","#,
            #"{"id":"c1","object":"chat.completion.chunk","model":"m", "#,
            #"{"id":"c1","object":"chat.completion.chunk","#,
            #"{"id":"c1","#,
            #" {"id":"c1","object":"error","#,
            #"{"error":null,"usage":{"prompt_tokens":1,"completion_tokens":2},"#,
            #"{"x_groq":{"usage":{"prompt_tokens":3}},"id":"c1","#,
            #"{"id":"c1","choices":"first","#,
            #"{"#,
            #"{"id":"c2","data":[1],"#,
        ]
        let tails = [
            #""choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}],"usage":null}"#,
            #""choices":[{"index":0,"delta":{"content":"Hi \"there\""},"finish_reason":null}],"usage":null}"#,
            #""choices":[{"index":0,"delta":{"content":null},"finish_reason":"stop"}]}"#,
            #""choices":[{"index":0,"delta":{"content":"x"}},{"index":1,"delta":{"content":"yz"}}]}"#,
            #""choices":[{"index":0,"delta":{"content":"ab"}}]"#,
            #""choices":[{"index":0,"delta":{"content":"ab}}]}"#,
            #""choices":[{"index":0,"delta":{"content":"ab"},"usage":{"prompt_tokens":1}}],"error":null}"#,
            #""choices":[],"usage":{"prompt_tokens":5,"completion_tokens":6}}"#,
            #""choices":[{"delta":{"reasoning_content":"ab","tool_calls":[{"function":{"arguments":"{}"}}]}}]}"#,
            #""choices":[{"delta":{"content":"x"}}],"choices":[]}"#,
            #""choices":[{"delta":{"content":"x"}}],"error":{"message":"m"}}"#,
            #""model":"m","choices":[]}"#,
            #""usage":null}"#,
            #""choices":[}"#,
            #""choices":[]"#,
            "}",
            "",
            "   ",
            #"x"choices":[]}"#,
            #""choices":[]} trailing"#,
        ]
        // Content chunks that differ only in their text, which may hold escapes, end
        // early on a bare quote, or escape its closing quote.
        let texts = ["", "ab", #"""#, #"\"#, "é", #"a"b"#, #""#, "}]", #"""#]
        let contentTails = [
            #"},"finish_reason":null}],"usage":null}"#, #"}}]}"#, #"}}],"usage":{"prompt_tokens":2}}"#, #"}}]"#,
        ]
        func contentTail() -> String {
            let text = (0..<Int.random(in: 0..<3, using: &generator)).map { _ in texts.randomElement(using: &generator)! }.joined()
            let value = Int.random(in: 0..<8, using: &generator) == 0 ? "null" : "\"\(text)\""
            let end = Int.random(in: 0..<3, using: &generator) == 0 ? contentTails.randomElement(using: &generator)! : contentTails[0]
            return #""choices":[{"index":0,"delta":{"content":"# + value + end
        }
        func space() -> String { ["", "", " ", "\n\t"].randomElement(using: &generator)! }
        var resumed = 0
        var stringOnly = 0
        for _ in 0..<200 {
            var scanner = PassThroughSummary.StreamScanner()
            // Like a real stream, most chunks start alike; some do not.
            let usual = heads.randomElement(using: &generator)! + space()
            for _ in 0..<Int.random(in: 1..<12, using: &generator) {
                let start = Int.random(in: 0..<4, using: &generator) == 0 ? heads.randomElement(using: &generator)! + space() : usual
                let chunk = start + (Bool.random(using: &generator) ? tails.randomElement(using: &generator)! : contentTail())
                let bytes = Array(chunk.utf8)
                let alone = Result { try PassThroughSummary.scan(chunk) }
                let inStream = Result { try bytes.withUnsafeBytes { try scanner.scan(bytes: $0) } }
                switch (alone, inStream) {
                case (.success(let a), .success(let b)): #expect(a == b, "\(chunk)")
                case (.failure, .failure): break
                default: Issue.record("\(chunk): alone \(alone), in the stream \(inStream)")
                }
                if scanner.lastResumedAt > 0 { resumed += 1 }
                if scanner.lastResumedAt == bytes.count, case .success = inStream { stringOnly += 1 }
            }
        }
        // Chunks often start like the one before, so many were walked from a later point,
        // and some differed from the last only in their text and were not walked at all.
        #expect(resumed > 100)
        #expect(stringOnly > 20)
    }

    /// What the scanner keeps: the bytes up to the first string inside the first
    /// `choices`, or up to `choices`' value when there is none, and only from chunks
    /// that were well formed; a chunk goes on from the later point it shares.
    @Test func streamScannerKeepsTheBytesUpToChoices() throws {
        var scanner = PassThroughSummary.StreamScanner()
        func scan(_ text: String) throws -> PassThroughSummary {
            try Array(text.utf8).withUnsafeBytes { try scanner.scan(bytes: $0) }
        }
        let head = #"{"id":"c1","object":"chat.completion.chunk","created":1, "choices":"#
        let delta = #"[{"index":0,"delta":{"content":"#
        let first = try scan(head + delta + #""Hi"}}]}"#)
        #expect(first.textBytes == 2 && scanner.prefix == Array((head + delta).utf8) && scanner.lastResumedAt == 0)
        let next = try scan(head + delta + #""there"}}],"usage":null}"#)
        #expect(next.textBytes == 5 && next.hasChoicesArray && !next.choicesEmpty && next.usage == nil)
        #expect(scanner.lastResumedAt == (head + delta).utf8.count && scanner.tail == Array(#"}}],"usage":null}"#.utf8))
        // The same chunk with only that string changed is not walked at all.
        let again = #""again\""}}],"usage":null}"#
        #expect(try scan(head + delta + again).textBytes == 7)
        #expect(scanner.lastResumedAt == (head + delta + again).utf8.count)
        // Not when there is another value there, or the string ends elsewhere; those
        // chunks are walked, and only a string's tail is kept.
        #expect(try scan(head + delta + #"null}}],"usage":null}"#).textBytes == 0)
        #expect(scanner.lastResumedAt == (head + delta).utf8.count && scanner.tail.isEmpty)
        #expect(try scan(head + delta + #""a"}}],"usage":null}"#).textBytes == 1)
        #expect(scanner.lastResumedAt == (head + delta).utf8.count)
        #expect(throws: JSONObjectRewriter.MalformedJSON.self) { try scan(head + delta + #""a"b"}}],"usage":null}"#) }
        // (The walk takes what is no string, object or array up to a delimiter as a
        // number or literal.)
        #expect(try scan(head + delta + #"1"}}],"usage":null}"#).textBytes == 0)
        #expect(scanner.lastResumedAt == (head + delta).utf8.count && scanner.tail.isEmpty)
        #expect(try scan(head + delta + #""x"}}],"usage":null}"#).textBytes == 1)
        #expect(try scan(head + delta + #""xyz"}}],"usage":null}"#).textBytes == 3)
        #expect(scanner.lastResumedAt == (head + delta + #""xyz"}}],"usage":null}"#).utf8.count)
        // Shares only the start up to `choices`: goes on from there, and keeps this
        // chunk's start inside `choices` instead.
        let role = #"[{"index":0,"delta":{"role":"#
        let other = try scan(head + role + #""assistant","content":"ab"}}]}"#)
        #expect(other.textBytes == 2 && scanner.lastResumedAt == head.utf8.count)
        #expect(scanner.prefix == Array((head + role).utf8))
        let last = try scan(head + #"[],"usage":{"prompt_tokens":7,"completion_tokens":8}}"#)
        #expect(last.isUsageOnly && last.usage == Usage(promptTokens: 7, completionTokens: 8))
        #expect(scanner.lastResumedAt == head.utf8.count && scanner.prefix == Array(head.utf8))
        // A malformed chunk with the same start is still refused, and changes nothing.
        #expect(throws: JSONObjectRewriter.MalformedJSON.self) { try scan(head + #"[{]}"#) }
        #expect(throws: JSONObjectRewriter.MalformedJSON.self) { try scan(head + "}") }
        #expect(throws: JSONObjectRewriter.MalformedJSON.self) { try scan(#"{"id":"c9","choices":[}"#) }
        #expect(scanner.prefix == Array(head.utf8))
        // A new start replaces the old; `choices` may be the first member.
        #expect(try scan(#"{"choices":[],"id":"c1"}"#).choicesEmpty)
        #expect(scanner.prefix == Array(#"{"choices":"#.utf8) && scanner.lastResumedAt == 0)
        #expect(try scan(#"{"id":"c2","choices":[{"delta":{"content":"abc"}}]}"#).textBytes == 3)
        #expect(scanner.prefix == Array(#"{"id":"c2","choices":[{"delta":{"content":"#.utf8))
    }

    @Test func rejectsWhatIsNotAnObject() {
        for bad in ["", "[1]", "{not json}", #"{"choices":[}"#, "{\"a\":1} trailing"] {
            #expect(throws: (any Error).self, "\(bad)") { _ = try PassThroughSummary.scan(bad) }
        }
    }
}
