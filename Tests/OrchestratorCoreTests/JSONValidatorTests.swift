import Foundation
import NIOCore
import Testing

@testable import OrchestratorCore

struct JSONValidatorTests {
    typealias Kind = JSONValidator.Violation.Kind

    func violation(_ text: String) -> JSONValidator.Violation? {
        violation(Array(text.utf8))
    }

    func violation(_ bytes: [UInt8]) -> JSONValidator.Violation? {
        do {
            try JSONValidator.validate(bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test func acceptsWhatRFC8259Allows() {
        let documents = [
            "{}", "[]", #""x""#, "0", "-0", "-0.5e+10", "1E-3", "123456789012345678901234567890", "true", "false", "null",
            #"  { "a" : [ 1 , { "b" : null } ] , "c" : "\u00e9\ud83d\ude00\n\t\"\\\/" }  "#,
            "\u{FEFF}{\"bom\":1}",
            "{\"raw\":\"é😀中\u{7F}\"}",
            #"{"a":{"a":1},"b":{"a":2},"c":[{"a":1},{"a":1}]}"#,
            #"{"a":1,"A":2,"a ":3,"\u00e9":4,"é ":5}"#,
            #"{"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"model":"m","n":1}"#,
        ]
        for document in documents {
            #expect(violation(document) == nil, "\(document)")
        }
    }

    @Test func refusesGrammarErrorsWithTheirOffset() {
        let cases: [(String, Int)] = [
            ("", 0), ("{", 1), (#"{"a"}"#, 4), (#"{"a":}"#, 5), ("[1,]", 3), (#"{"a":1,}"#, 7), ("01", 0), ("1.", 0),
            (".5", 0), ("-", 0), ("1e", 0), ("tru", 0), ("nul", 0), (#""abc"#, 4), (#""\x""#, 1), (#""\u12""#, 1),
            ("{} {}", 3), ("{'a':1}", 1), ("[1 2]", 3), ("\"a\u{1}b\"", 2), ("[1]]", 3), ("{\"a\":1 \"b\":2}", 7),
            ("NaN", 0), ("[Infinity]", 1), ("+1", 0), ("\u{0}", 0),
        ]
        for (document, offset) in cases {
            let found = violation(document)
            #expect(found?.kind == .syntax, "\(document)")
            #expect(found?.offset == offset, "\(document): \(found.map { "\($0)" } ?? "accepted")")
        }
    }

    @Test func refusesInvalidUTF8AndNamesTheValue() {
        let bad: [[UInt8]] = [
            [0xC0, 0x80],  // overlong NUL
            [0xC1, 0xBF],  // overlong
            [0xE0, 0x80, 0x80],  // overlong three-byte
            [0xED, 0xA0, 0x80],  // an encoded surrogate
            [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
            [0xF5, 0x80, 0x80, 0x80],
            [0xFF], [0x80],  // a lone continuation byte
            [0xE2, 0x82],  // cut short
            [0xE2, 0x28, 0xA1],
        ]
        for sequence in bad {
            let prefix = Array(#"{"messages":[{"role":"user","content":"ok "#.utf8)
            let found = violation(prefix + sequence + Array(#" end"}]}"#.utf8))
            #expect(found?.kind == .invalidUTF8, "\(sequence)")
            #expect(found?.path == "messages[0].content", "\(sequence)")
            // The first byte that cannot continue a sequence (the space after a cut-short one).
            #expect((prefix.count...(prefix.count + sequence.count)).contains(found?.offset ?? -1), "\(sequence)")
        }
        // In a key, the fault is the object's.
        let inKey = violation(Array(#"{"a":{"b"#.utf8) + [0xFF] + Array(#"":1}}"#.utf8))
        #expect(inKey?.kind == .invalidUTF8 && inKey?.path == "a")
        // Cut short by the end of the body.
        #expect(violation(Array(#""ab"#.utf8) + [0xF0, 0x9F])?.kind == .invalidUTF8)
        // The longest valid sequences of each length pass.
        #expect(violation(Array("\"".utf8) + [0xDF, 0xBF, 0xEF, 0xBF, 0xBF, 0xF4, 0x8F, 0xBF, 0xBF] + Array("\"".utf8)) == nil)
    }

    @Test func refusesNULAndUnpairedSurrogateEscapes() {
        let nul = violation(#"{"a":{"b":"x\u0000y"}}"#)
        #expect(nul?.kind == .nul && nul?.path == "a.b" && nul?.offset == 12)
        #expect(violation(#"{"k\u0000":1}"#).map { $0.kind == .nul && $0.path.isEmpty } == true)
        #expect(violation(#"["ok","\u0000"]"#)?.path == "[1]")
        for text in [#""\ud800""#, #""\udc00""#, #""\ud800\u0041""#, #""\ud800x""#, #""\uDBFF\uDBFF""#, #"["\ud83d"]"#] {
            #expect(violation(text)?.kind == .unpairedSurrogate, "\(text)")
        }
        #expect(violation(#""\ud83d\ude00 \uDBFF\uDFFF \u0001""#) == nil)
    }

    @Test func boundsNestingWithoutRecursingOnTheInput() {
        let deepest = String(repeating: "[", count: JSONValidator.maximumDepth) + String(repeating: "]", count: JSONValidator.maximumDepth)
        #expect(violation(deepest) == nil)
        let tooDeep = violation("[" + deepest + "]")
        #expect(tooDeep?.kind == .tooDeep && tooDeep?.offset == JSONValidator.maximumDepth)
        #expect(tooDeep?.path.hasPrefix("[0][0][0]") == true)
        // A hostile body of a million brackets is refused at once, not parsed.
        #expect(violation(String(repeating: "[{\"a\":", count: 200_000))?.kind == .tooDeep)
    }

    @Test func refusesDuplicateKeysWithTheirPath() {
        let cases: [(String, String, String)] = [
            (#"{"a":1,"a":2}"#, "a", "a"),
            (#"{"model":"x","messages":[{"role":"user","content":"c","role":"system"}]}"#, "role", "messages[0].role"),
            (#"{"a":1,"\u0061":2}"#, "a", "a"),
            (#"{"\u00e9":1,"é":2}"#, "é", "é"),
            (#"{"a":{"x":1,"y":[{"z":2}]},"a":3}"#, "a", "a"),
            (#"{"o":{"k":1,"k":null}}"#, "k", "o.k"),
            (#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"c":11}"#, "c", "c"),
        ]
        for (document, key, path) in cases {
            let found = violation(document)
            #expect(found?.kind == .duplicateKey(key), "\(document)")
            #expect(found?.path == path, "\(document)")
        }
        // Many distinct keys: accepted, and in linear time (a quadratic check would take minutes).
        let many = "{" + (0..<50_000).map { "\"key\($0)\":\($0)" }.joined(separator: ",") + "}"
        #expect(violation(many) == nil)
        let repeated = "{" + (0..<50_000).map { "\"key\($0)\":\($0)" }.joined(separator: ",") + ",\"key49999\":0}"
        #expect(violation(repeated)?.kind == .duplicateKey("key49999"))
    }

    /// Strings are stepped over eight bytes at a time: whatever a string holds, wherever it
    /// falls against those words, the verdict and the offset are those of reading it byte
    /// by byte.
    @Test func readsEveryByteOfAStringWhereverItFalls() {
        struct Piece {
            let bytes: [UInt8]
            /// nil: accepted; else the fault's kind and its offset within the piece.
            let fault: (Kind, Int)?
        }
        let pieces: [Piece] = [
            Piece(bytes: Array(#"\""#.utf8), fault: nil),
            Piece(bytes: Array(#"\\"#.utf8), fault: nil),
            Piece(bytes: Array(#"\n\u00e9\ud83d\ude00"#.utf8), fault: nil),
            Piece(bytes: [0x7F, 0x20, 0x21, 0x5B, 0x5D, 0x7E], fault: nil),
            Piece(bytes: Array("é中😀".utf8), fault: nil),
            Piece(bytes: [0x01], fault: (.syntax, 0)),
            Piece(bytes: [0x1F], fault: (.syntax, 0)),
            Piece(bytes: [0x0A], fault: (.syntax, 0)),
            Piece(bytes: [0xFF], fault: (.invalidUTF8, 0)),
            Piece(bytes: [0xC3, 0x28], fault: (.invalidUTF8, 1)),
            Piece(bytes: Array(#"\u0000"#.utf8), fault: (.nul, 0)),
            Piece(bytes: Array(#"\ud800"#.utf8), fault: (.unpairedSurrogate, 0)),
            Piece(bytes: Array(#"\q"#.utf8), fault: (.syntax, 0)),
        ]
        for piece in pieces {
            for before in 0..<20 {
                for after in [0, 1, 7, 8, 9, 17] {
                    // `{"k":"aaa…<piece>bbb…"}`: the string's text starts at offset 6.
                    let text = Array(repeating: UInt8(ascii: "a"), count: before) + piece.bytes
                        + Array(repeating: UInt8(ascii: "b"), count: after)
                    let document = Array(#"{"k":""#.utf8) + text + Array(#""}"#.utf8)
                    let found = violation(document)
                    let label = "\(piece.bytes) after \(before), before \(after)"
                    guard let (kind, offset) = piece.fault else {
                        #expect(found == nil, "\(label): \(found.map { "\($0)" } ?? "")")
                        continue
                    }
                    #expect(found?.kind == kind, "\(label)")
                    #expect(found?.offset == 6 + before + offset, "\(label): \(found.map { "\($0)" } ?? "accepted")")
                    if kind != .syntax { #expect(found?.path == "k", "\(label)") }
                }
            }
        }
        // A string that never ends, cut at every length.
        let long = Array(#"{"k":"abcdefghijklmnopqrstuvwxyz"}"#.utf8)
        for cut in 6..<(long.count - 2) {
            #expect(violation(Array(long[..<cut]))?.reason == "unterminated string", "cut at \(cut)")
        }
    }

    /// Keys are compared as decoded, whether they are read in place or have escapes, and
    /// whether their object is small (one by one) or large (indexed by hash).
    @Test func comparesKeysAsDecodedInSmallAndLargeObjects() {
        let names = (0..<12).map { "key\($0)" }
        for count in [2, 8, 9, 12] {
            let plain = names.prefix(count).map { "\"\($0)\":1" }
            // The same names with their first letter escaped.
            let escaped = names.prefix(count).map { #"\u006b"# + $0.dropFirst() }
            for repeated in [0, count - 1] {
                let asEscape = "{" + (plain + ["\"\(escaped[repeated])\":2"]).joined(separator: ",") + "}"
                #expect(violation(asEscape)?.kind == .duplicateKey(names[repeated]), "\(count) keys, escaped repeat")
                let asPlain = "{" + (escaped.map { "\"\($0)\":1" } + ["\"\(names[repeated])\":2"]).joined(separator: ",") + "}"
                let found = violation(asPlain)
                #expect(found?.kind == .duplicateKey(names[repeated]), "\(count) keys, plain repeat")
                #expect(found?.path == names[repeated])
            }
            // Distinct keys with escapes, nested objects reusing the names, and keys that
            // are prefixes of one another: accepted.
            let mixed = "{" + escaped.enumerated().map { "\"\($1)\":{\"\(names[$0])\":[{\"key\":0,\"ke\":1}]}" }
                .joined(separator: ",") + "}"
            #expect(violation(mixed) == nil, "\(count) keys, mixed")
        }
        // An escaped key deep inside names its place in the path.
        let deep = violation(#"{"a\u0062":{"c":[{"d\u00e9":1,"dé":2}]}}"#)
        #expect(deep?.kind == .duplicateKey("dé") && deep?.path == "ab.c[0].dé")
    }

    /// Differential check of the grammar against Foundation's parser on mutated documents
    /// (no escapes, unique keys, so only grammar decides). Foundation accepts a trailing
    /// comma (`[1,]`), which RFC 8259 does not: those documents are left out.
    @Test func agreesWithFoundationOnGrammar() throws {
        let seed = Array(#"{"model":"m","messages":[{"role":"user","content":"hé"}],"t":-1.5e3,"b":[true,false,null,{}],"n":0}"#.utf8)
        let alphabet = Array(#"{}[],:"0123456789.-+eE tfnrul\"#.utf8)
        var generator = SplitMix64(seed: 0x5EED)
        var checked = 0
        for _ in 0..<4000 {
            var document = seed
            for _ in 0..<Int(generator.next() % 3 + 1) {
                let position = Int(generator.next() % UInt64(document.count + 1))
                switch generator.next() % 3 {
                case 0 where position < document.count: document.remove(at: position)
                case 1 where position < document.count: document[position] = alphabet[Int(generator.next() % UInt64(alphabet.count))]
                default: document.insert(alphabet[Int(generator.next() % UInt64(alphabet.count))], at: position)
                }
            }
            let ours = violation(document)
            if case .duplicateKey = ours?.kind { continue }
            if document.contains(UInt8(ascii: "\\")) || Self.hasTrailingComma(document) { continue }
            let foundation = (try? JSONSerialization.jsonObject(with: Data(document), options: .fragmentsAllowed)) != nil
            #expect((ours == nil) == foundation, "\(String(decoding: document, as: UTF8.self)): \(ours.map { "\($0)" } ?? "accepted")")
            checked += 1
        }
        #expect(checked > 3000)
    }

    static func hasTrailingComma(_ document: [UInt8]) -> Bool {
        let significant = document.filter { $0 != UInt8(ascii: " ") }
        return zip(significant, significant.dropFirst()).contains { pair in
            pair.0 == UInt8(ascii: ",") && (pair.1 == UInt8(ascii: "]") || pair.1 == UInt8(ascii: "}"))
        }
    }

    @Test func decodeRequestTurnsViolationsIntoParams() {
        func error(_ text: String) -> GatewayError? {
            do {
                _ = try JSONCoding.decodeRequest(JSONValue.self, from: ByteBuffer(string: text))
                return nil
            } catch {
                return error
            }
        }
        let duplicate = error(#"{"messages":[{"role":"user","role":"system"}]}"#)
        #expect(duplicate?.status == 400 && duplicate?.param == "messages[0].role")
        #expect(duplicate?.message == "Duplicate key 'role' in 'messages[0]': each key may appear only once in an object.")
        let nul = error(#"{"prompt":"a\u0000"}"#)
        #expect(nul?.param == "prompt" && nul?.message.contains("NUL") == true)
        let syntax = error(#"{"a":}"#)
        #expect(syntax?.param == nil && syntax?.message == "We could not parse the JSON body of your request: expected a JSON value at byte 5.")
        var bytes = ByteBuffer(string: #"{"text":""#)
        bytes.writeBytes([0xC3, 0x28])
        bytes.writeString(#""}"#)
        let utf8: GatewayError?
        do {
            _ = try JSONCoding.decodeRequest(JSONValue.self, from: bytes)
            utf8 = nil
        } catch {
            utf8 = error
        }
        #expect(utf8?.param == "text" && utf8?.message == "The request body is not valid UTF-8 (byte 10 in 'text').")
    }
}
