import Foundation
import Testing

@testable import OrchestratorCore

struct GatewayErrorTests {
    @Test func upstreamStatusesAreClassified() {
        for status in [401, 403, 408, 409, 429, 500, 502, 503, 504, 529] {
            #expect(GatewayError.upstream(status: status, message: "m", provider: "p").isRetryable, "\(status)")
        }
        #expect(GatewayError.upstream(status: 401, message: "m", provider: "p").type == "upstream_error")
        for status in [400, 404, 422] {
            #expect(!GatewayError.upstream(status: status, message: "m", provider: "p").isRetryable, "\(status)")
        }
        let badRequest = GatewayError.upstream(status: 400, message: "bad field", provider: "openai")
        #expect(badRequest.status == 400)
        #expect(badRequest.message.contains("bad field"))
        #expect(badRequest.asFinalClientError == badRequest)
    }

    @Test func exhaustedRetryableFailuresNeverBecomeA500() {
        #expect(GatewayError.upstream(status: 500, message: "m", provider: "p").asFinalClientError.status == 502)
        #expect(GatewayError.upstream(status: 529, message: "m", provider: "p").asFinalClientError.status == 502)
        #expect(GatewayError.upstream(status: 503, message: "m", provider: "p").asFinalClientError.status == 502)
        #expect(GatewayError.upstream(status: 401, message: "m", provider: "p").asFinalClientError.status == 502)
        #expect(GatewayError.upstream(status: 429, message: "m", provider: "p", retryAfterSeconds: 3).asFinalClientError.retryAfterSeconds == 3)
        #expect(GatewayError.timeout("t").asFinalClientError.status == 504)
        #expect(GatewayError.badUpstreamResponse("garbage").asFinalClientError.status == 502)
    }

    @Test func exhaustedAttemptsFollowTheDesignRules() {
        let limited = [
            GatewayError.upstream(status: 429, message: "a", provider: "p", retryAfterSeconds: 9),
            GatewayError.upstream(status: 429, message: "b", provider: "q", retryAfterSeconds: 3),
        ]
        let allLimited = GatewayError.exhausted(limited, deadlinePassed: false, model: "m")
        #expect(allLimited.status == 429 && allLimited.retryAfterSeconds == 3)
        let mixed = GatewayError.exhausted(
            [.upstream(status: 429, message: "a", provider: "p"), .upstream(status: 503, message: "down", provider: "q")],
            deadlinePassed: false, model: "m")
        #expect(mixed.status == 502 && mixed.message.contains("down") && mixed.message.contains("2 attempts"))
        #expect(GatewayError.exhausted([.timeout("x"), .timeout("y")], deadlinePassed: false, model: "m").status == 504)
        #expect(GatewayError.exhausted([.upstream(status: 500, message: "x", provider: "p")], deadlinePassed: true, model: "m").status == 504)
        #expect(GatewayError.exhausted([], deadlinePassed: false, model: "m").status == 503)
    }
}

struct SecurityTests {
    @Test func hashingAndComparison() {
        #expect(KeyHashing.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(KeyHashing.sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(KeyHashing.sha256Hex("clé-ключ-🔑") == "61fbf64262a7b447666320163f8411f21c40e57a74da842d14b6ff7142ae5919")
        #expect(KeyHashing.sha256Hex("sk-orch-" + String(repeating: "x", count: 200)) == "ff06cef8dcce66f3684ac2638a843b3dd2fc4af1c6b0854014f4c0865ba48e9b")
        #expect(KeyHashing.constantTimeEquals("abc".utf8, "abc".utf8) && !KeyHashing.constantTimeEquals("abc".utf8, "abC".utf8))
        #expect(KeyHashing.constantTimeEquals(Array("abc".utf8), Array("abc".utf8)))
        #expect(!KeyHashing.constantTimeEquals(Array("abc".utf8), Array("abd".utf8)))
        #expect(!KeyHashing.constantTimeEquals(Array("abc".utf8), Array("ab".utf8)))
        // Collections without contiguous bytes take the element-wise path.
        #expect(KeyHashing.constantTimeEquals("abc".utf8.reversed(), "cba".utf8))
        #expect(!KeyHashing.constantTimeEquals("abc".utf8.lazy.map { $0 }, "abd".utf8))
        #expect(KeyHashing.constantTimeEquals(Array<UInt8>(), "".utf8))
        let secret = KeyHashing.generateSecret()
        #expect(secret.hasPrefix("sk-orch-") && secret.count == 48)
        #expect(KeyHashing.generateSecret() != secret)
    }

    @Test func keyDirectory() {
        let alice = Principal(keyID: "k1", name: "alice", allowedModels: ["gpt-*"])
        let directory = ClientKeyDirectory(entries: [
            .init(keyHash: KeyHashing.sha256Hex("sk-alice"), principal: alice),
            .init(keyHash: KeyHashing.sha256Hex("sk-off"), principal: Principal(keyID: "k2", name: "off"), enabled: false),
            .init(
                keyHash: KeyHashing.sha256Hex("sk-old"), principal: Principal(keyID: "k3", name: "old"),
                expiresAt: Date(timeIntervalSince1970: 0)),
        ])
        guard case .valid(let principal) = directory.authenticate("sk-alice") else {
            Issue.record("alice should authenticate")
            return
        }
        #expect(principal == alice)
        #expect(principal.mayUse(model: "gpt-4o") && !principal.mayUse(model: "claude-3"))
        if case .unknown = directory.authenticate("sk-nobody") {} else { Issue.record("unknown key") }
        if case .disabled = directory.authenticate("sk-off") {} else { Issue.record("disabled key") }
        if case .expired = directory.authenticate("sk-old") {} else { Issue.record("expired key") }
    }

    /// Hashes are looked up by their 32 bytes: only the lower-case hex that
    /// `sha256Hex` writes names a key, as before; the first of two equal hashes wins; a
    /// directory of hashes that match nothing still has keys (so requests need one).
    @Test func keyDirectoryHashForms() {
        let hash = KeyHashing.sha256Hex("sk-bob")
        let bob = Principal(keyID: "k1", name: "bob")
        let uppercase = ClientKeyDirectory(entries: [.init(keyHash: hash.uppercased(), principal: bob)])
        if case .unknown = uppercase.authenticate("sk-bob") {} else { Issue.record("an upper-case hash matched") }
        #expect(!uppercase.isEmpty)
        for bad in ["", String(hash.dropLast()), hash + "0", String(hash.dropLast()) + "g"] {
            let directory = ClientKeyDirectory(entries: [.init(keyHash: bad, principal: bob)])
            if case .unknown = directory.authenticate("sk-bob") {} else { Issue.record("hash \(bad) matched") }
            #expect(!directory.isEmpty)
        }
        #expect(ClientKeyDirectory(entries: []).isEmpty)
        let twice = ClientKeyDirectory(entries: [
            .init(keyHash: hash, principal: bob), .init(keyHash: hash, principal: Principal(keyID: "k2", name: "other")),
        ])
        guard case .valid(let principal) = twice.authenticate("sk-bob") else {
            Issue.record("bob should authenticate")
            return
        }
        #expect(principal == bob)
        if case .unknown = twice.authenticate("sk-bob ") {} else { Issue.record("a different secret matched") }
    }

    @Test func globs() {
        #expect(Glob.matches(pattern: "*", value: "anything"))
        #expect(Glob.matches(pattern: "gpt-4?", value: "gpt-4o"))
        #expect(Glob.matches(pattern: "openai/*", value: "openai/gpt-4o"))
        #expect(Glob.matches(pattern: "*mini*", value: "gpt-4o-mini-2024"))
        #expect(!Glob.matches(pattern: "gpt-*", value: "claude"))
        #expect(!Glob.matches(pattern: "", value: "x"))
    }

    @Test func redaction() {
        let text = #"Authorization: Bearer sk-live-1234567890abcdef and {"api-key": "abcdef123456"} url?key=AIzaSecret123&x=1 sk-proj-ABCDEFGHIJ"#
        let scrubbed = Redaction.scrub(text)
        #expect(!scrubbed.contains("1234567890abcdef"))
        #expect(!scrubbed.contains("abcdef123456"))
        #expect(!scrubbed.contains("AIzaSecret123"))
        #expect(!scrubbed.contains("ABCDEFGHIJ"))
        #expect(scrubbed.contains("[REDACTED]"))
        #expect(Redaction.scrub("nothing secret here") == "nothing secret here")
    }

    @Test func secretBoxSealsAndOpens() throws {
        let box = try SecretBox(keyData: SecretBox.generateKeyData())
        let sealed = try box.seal("sk-upstream-secret")
        #expect(sealed.hasPrefix("v1:"))
        #expect(!sealed.contains("sk-upstream-secret"))
        #expect(try box.open(sealed) == "sk-upstream-secret")
        #expect(try box.seal("x") != box.seal("x"), "nonces must differ")
        let other = try SecretBox(keyData: SecretBox.generateKeyData())
        #expect(throws: (any Error).self) { try other.open(sealed) }
        #expect(throws: GatewayError.self) { try SecretBox(keyData: Data(count: 16)) }
    }

    @Test func requestIDs() {
        #expect(RequestID.isValid("abc-123_x.y:z"))
        #expect(!RequestID.isValid(""))
        #expect(!RequestID.isValid("has space"))
        #expect(!RequestID.isValid("emoji🙂"))
        #expect(!RequestID.isValid(String(repeating: "a", count: 129)))
        #expect(RequestID.isValid(String(repeating: "a", count: 128)))
        let id = RequestID.generate()
        #expect(id.count == 32 && RequestID.isValid(id))
    }

    @Test func pricesInMicroDollars() {
        let price = Price(inputPerMTok: 0.15, outputPerMTok: 0.60, cachedInputPerMTok: 0.075)
        // 1000 uncached × 0.15 + 0 cached + 500 × 0.60 = 150 + 300 = 450 µ$
        #expect(price.costMicros(for: Usage(promptTokens: 1000, completionTokens: 500)) == 450)
        // 1000 prompt of which 400 cached: 600 × 0.15 + 400 × 0.075 = 90 + 30 = 120; + 300
        #expect(price.costMicros(for: Usage(promptTokens: 1000, completionTokens: 500, cachedTokens: 400)) == 420)
        #expect(Price(inputPerMTok: 3, outputPerMTok: 15).costMicros(for: Usage(promptTokens: 1_000_000, completionTokens: 0)) == 3_000_000)
    }

    @Test func tokenEstimates() {
        #expect(TokenEstimator.tokens(forCharacters: 0) == 0)
        #expect(TokenEstimator.tokens(forCharacters: 1) == 1)
        #expect(TokenEstimator.tokens(forCharacters: 400) == 100)
        let request = ChatRequest(model: "m", messages: [ChatMessage(role: .user, content: .text(String(repeating: "a", count: 40)))])
        #expect(TokenEstimator.promptTokens(request) == 13)
    }

    @Test func logCursorTokens() {
        let cursor = RequestLogCursor(timestampMillis: 1_700_000_000_000, id: "abc_def")
        #expect(RequestLogCursor(token: cursor.token) == cursor)
        #expect(RequestLogCursor(token: "garbage") == nil)
        #expect(RequestLogCursor(token: "12_") == nil)
    }
}

struct RouteInfoTests {
    @Test func overheadHeaderText() {
        func text(_ d: Duration) -> String { RouteInfo(provider: "p", upstreamModel: "m", attempts: 1, overhead: d).overheadMillisecondsText }
        #expect(text(.zero) == "0.00")
        #expect(text(.microseconds(4)) == "0.00")
        #expect(text(.microseconds(50)) == "0.05")
        #expect(text(.microseconds(1234)) == "1.23")
        #expect(text(.microseconds(12345)) == "12.35")
        #expect(text(.seconds(2)) == "2000.00")
        #expect(text(.microseconds(99_995)) == "100.00")
        #expect(text(.microseconds(-30)) == "0.00")
    }
}

struct AttemptDetailEncodingTests {
    @Test func matchesJSONEncoderByteForByte() throws {
        let records = [
            AttemptRecord(
                provider: "a/b", model: "gpt-4o", keyID: "k1", status: 429,
                error: "Upstream said \"slow\\down\"\n\ttab \u{01}\u{1F} é 🚀 </tag>", latencyMs: 12),
            AttemptRecord(provider: "b", model: "m", keyID: nil, status: 200, error: nil, latencyMs: 0),
        ]
        #expect(AttemptRecord.jsonArray(records) == (try JSONCoding.encodeString(records)))
        #expect(AttemptRecord.jsonArray([]) == "[]")
        let decoded = try JSONCoding.decode([AttemptRecord].self, from: AttemptRecord.jsonArray(records))
        #expect(decoded == records)
    }
}

struct RequestIDTests {
    @Test func generatedIDsAreValidAndDistinctAcrossThreads() async {
        let ids = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<4 { group.addTask { (0..<5000).map { _ in RequestID.generate() } } }
            return await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.utf8.count == 32 && RequestID.isValid($0) })
    }

    /// Later ids sort after earlier ones (index inserts land at the right edge), and the
    /// time sits in the first 12 digits.
    @Test func generatedIDsSortByCreation() {
        let ids = (0..<2000).map { _ in RequestID.generate() }
        #expect(ids == ids.sorted())
        let before = UInt64(Date().timeIntervalSince1970 * 1000) - 60_000
        let millis = UInt64(ids[0].prefix(12), radix: 16) ?? 0
        #expect(millis >= before && millis <= before + 120_000)

        let early = RequestID.generate(unixMillis: 1_000)
        let late = RequestID.generate(unixMillis: 0xFFFF_FFFF_FFFF)
        #expect(early.hasPrefix("0000000003e8") && late.hasPrefix("ffffffffffff"))
        #expect(early < late && early.utf8.count == 32 && late.utf8.count == 32)
        // Same process, same millisecond: the counter still orders and separates them.
        let a = RequestID.generate(unixMillis: 42), b = RequestID.generate(unixMillis: 42)
        #expect(a < b && a.prefix(20) == b.prefix(20))
        #expect(UInt64(b.suffix(12), radix: 16)! == UInt64(a.suffix(12), radix: 16)! + 1)
        #expect(a.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
    }
}

struct FastRandomSourceTests {
    /// Distinct values from every thread, and each bit set about half the time.
    @Test func drawsAreDistinctAndBalancedAcrossThreads() async {
        let draws = await withTaskGroup(of: [UInt64].self) { group in
            for _ in 0..<4 { group.addTask { (0..<5000).map { _ in FastRandomSource().next() } } }
            return await group.reduce(into: [UInt64]()) { $0 += $1 }
        }
        #expect(Set(draws).count == draws.count)
        for bit in [0, 1, 31, 32, 62, 63] {
            let ones = draws.filter { $0 & (1 << UInt64(bit)) != 0 }.count
            #expect(abs(Double(ones) / Double(draws.count) - 0.5) < 0.03, "bit \(bit): \(ones) of \(draws.count)")
        }
    }
}
