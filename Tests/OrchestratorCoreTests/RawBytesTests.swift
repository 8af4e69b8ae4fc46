import Testing

@testable import OrchestratorCore

struct RawBytesTests {
    /// The word-at-a-time comparison agrees with a byte-by-byte one for every length up
    /// to several words, with a difference at every position (where the overlapping last
    /// word and the four-byte halves must still see it).
    @Test func comparesLikeAByteByByteComparison() {
        for count in 0..<40 {
            let a = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            a.withUnsafeBytes { left in
                // An equal copy in memory of its own, not the same pointer.
                let copy = Array(a)
                copy.withUnsafeBytes { right in
                    let none = UnsafeRawPointer(bitPattern: 1)!
                    #expect(RawBytes.equal(left.baseAddress ?? none, right.baseAddress ?? none, count: count), "length \(count)")
                }
                for position in 0..<count {
                    var b = a
                    b[position] ^= 0x20
                    b.withUnsafeBytes { right in
                        #expect(!RawBytes.equal(left.baseAddress!, right.baseAddress!, count: count), "length \(count), differing at \(position)")
                    }
                }
            }
        }
    }

    @Test func prefixesAndWholeKeys() {
        func bytes(_ text: String, _ body: (UnsafeRawBufferPointer) -> Bool) -> Bool { Array(text.utf8).withUnsafeBytes(body) }
        #expect(bytes("reasoning_content") { RawBytes.equal($0, "reasoning_content") })
        #expect(!bytes("reasoning_contenT") { RawBytes.equal($0, "reasoning_content") })
        #expect(!bytes("reasoning") { RawBytes.equal($0, "reasoning_content") })
        #expect(bytes("data: {}") { RawBytes.hasPrefix($0, "data:") })
        #expect(!bytes("dat") { RawBytes.hasPrefix($0, "data:") })
        #expect(bytes("") { RawBytes.hasPrefix($0, "") })
        #expect(!bytes("Data:") { RawBytes.hasPrefix($0, "data:") })
    }

    @Test func stringPrefixesInEitherCase() {
        #expect(RawBytes.hasPrefixIgnoringCase("HTTPS://API.OpenAI.com/v1", "https://api.openai.com/"))
        #expect(RawBytes.hasPrefixIgnoringCase("https://api.mistral.ai", "https://api.mistral.ai"))
        #expect(!RawBytes.hasPrefixIgnoringCase("https://api.mistral.a", "https://api.mistral.ai"))
        #expect(!RawBytes.hasPrefixIgnoringCase("https://api_openai.com/", "https://api.openai.com/"))
        #expect(!RawBytes.hasPrefixIgnoringCase("http://api.openai.com/", "https://api.openai.com/"))
        #expect(RawBytes.equalIgnoringCase("https://API.openai.com", "https://api.openai.com"))
        #expect(!RawBytes.equalIgnoringCase("https://api.openai.com/", "https://api.openai.com"))
        // Non-ASCII is compared byte for byte, never folded.
        #expect(!RawBytes.hasPrefixIgnoringCase("https://api.openaı.com/", "https://api.openai.com/"))
        // A bridged or sliced string works as well as a native one.
        let sliced = String("xhttps://api.openai.com/v1".dropFirst())
        #expect(RawBytes.hasPrefixIgnoringCase(sliced, "https://api.openai.com/"))
    }
}
