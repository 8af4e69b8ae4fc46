import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTP1
import OrchestratorCore
import OrchestratorTesting
import Testing

@testable import Providers

/// What a parser made of a connection's bytes: one entry per response.
private struct Parsed: Equatable {
    var status: Int
    var headers: [String]
    var body: String
    var keepAlive: Bool
}

private typealias Malformed = HTTP1ResponseParser.Malformed

/// Feeds `pieces` to a parser the way the connection handler does (what a read leaves
/// unparsed goes ahead of the next read), expecting `responses` responses; `closed`
/// reports the connection closing after the last piece.
private func parse(
    _ pieces: [[UInt8]], responses: Int = 1, toHEAD: Bool = false, closed: Bool = false
) throws(Malformed) -> [Parsed] {
    var parser = HTTP1ResponseParser()
    parser.expectResponse(toHEAD: toHEAD)
    var out: [Parsed] = []
    var current: Parsed?
    try feed(pieces) { (buffer: inout ByteBuffer) throws(Malformed) in
        while let event = try parser.next(&buffer) {
            switch event {
            case .head(let head):
                #expect(current == nil)
                // A field read from the kept bytes is what the built fields say.
                let fields = head.headers
                for field in fields {
                    #expect(head.rawHeaders.firstValue(field.name) == fields.firstValue(field.name), "\(field.name)")
                }
                #expect(head.rawHeaders.firstValue(HTTPField.Name("x-not-sent")!) == nil)
                current = Parsed(
                    status: head.status, headers: head.headers.map { "\($0.name.canonicalName): \($0.value)" }, body: "",
                    keepAlive: head.keepAlive)
            case .body(let bytes):
                current!.body += String(buffer: bytes)
            case .end:
                out.append(current!)
                current = nil
                if out.count < responses { parser.expectResponse(toHEAD: toHEAD) }
            }
        }
    }
    if closed, parser.connectionClosed(), let last = current {
        out.append(last)
    }
    return out
}

private func parse(_ text: String, responses: Int = 1, toHEAD: Bool = false, closed: Bool = false) throws(Malformed)
    -> [Parsed]
{
    try parse([Array(text.utf8)], responses: responses, toHEAD: toHEAD, closed: closed)
}

private func expectMalformed(_ text: String, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        let parsed = try parse(text, closed: true)
        Issue.record("parsed \(parsed), expected: \(reason)", sourceLocation: sourceLocation)
    } catch {
        #expect(error.reason.contains(reason), "\(error.reason)", sourceLocation: sourceLocation)
    }
}

@Suite struct HTTP1ResponseParserTests {
    @Test func contentLengthResponse() throws {
        let text =
            "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\nContent-Length: 11\r\n"
            + "X-Custom-Thing:   spaced  value \t\r\nopenai-processing-ms: 12\r\n\r\n{\"a\":\"xyz\"}"
        let parsed = try parse(text)
        #expect(
            parsed == [
                Parsed(
                    status: 200,
                    headers: [
                        "server: nginx", "content-type: application/json", "content-length: 11",
                        "x-custom-thing: spaced  value", "openai-processing-ms: 12",
                    ], body: #"{"a":"xyz"}"#, keepAlive: true)
            ])
    }

    @Test func everyReadBoundaryGivesTheSameResult() throws {
        let text =
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n"
            + "9;name=value\r\ndata: 1\n\n\r\n19\r\ndata: 22222222222222222\n\n\r\n0\r\nX-Trailer: t\r\n\r\n"
            + "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
        let bytes = Array(text.utf8)
        let whole = try parse([bytes], responses: 2)
        #expect(whole.count == 2)
        #expect(whole.first?.body == "data: 1\n\ndata: 22222222222222222\n\n")
        #expect(whole.first?.headers == ["transfer-encoding: chunked", "content-type: text/event-stream"])
        #expect(whole.last == Parsed(status: 204, headers: ["content-length: 0"], body: "", keepAlive: true))
        for split in 1..<bytes.count {
            #expect(try parse([Array(bytes[..<split]), Array(bytes[split...])], responses: 2) == whole, "split at \(split)")
        }
        var generator = SplitMix64(seed: 7)
        for _ in 0..<200 {
            #expect(try parse(randomPieces(of: bytes, maxPiece: 9, using: &generator), responses: 2) == whole)
        }
    }

    @Test func bodyUntilTheConnectionCloses() throws {
        let parsed = try parse(["HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst ", "second"].map { Array($0.utf8) }, closed: true)
        #expect(parsed == [Parsed(status: 200, headers: ["content-type: text/plain"], body: "first second", keepAlive: false)])
        // Any coding but a final chunked is read until the close, too.
        let gzip = try parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc", closed: true)
        #expect(gzip.map(\.body) == ["abc"])
        #expect(gzip.first?.keepAlive == false)
    }

    @Test func aBodyCutShortByTheCloseIsNotAResponse() throws {
        var parser = HTTP1ResponseParser()
        parser.expectResponse()
        var buffer = ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        guard case .head = try parser.next(&buffer) else { Issue.record("no head"); return }
        guard case .body(let body) = try parser.next(&buffer) else { Issue.record("no body"); return }
        #expect(String(buffer: body) == "abc")
        #expect(try parser.next(&buffer) == nil)
        let closeEndsIt = parser.connectionClosed()
        #expect(!closeEndsIt)
        #expect(parser.isIdle)
    }

    @Test func keepAliveFollowsTheVersionAndConnectionHeader() throws {
        func keepAlive(_ head: String) throws -> Bool? { try parse(head + "Content-Length: 0\r\n\r\n").first?.keepAlive }
        #expect(try keepAlive("HTTP/1.1 200 OK\r\n") == true)
        #expect(try keepAlive("HTTP/1.1 200 OK\r\nConnection: close\r\n") == false)
        #expect(try keepAlive("HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\n") == false)
        #expect(try keepAlive("HTTP/1.0 200 OK\r\n") == false)
        #expect(try keepAlive("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n") == true)
        #expect(try keepAlive("HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\n") == false)
        // Both framings sent: chunked wins, and the connection is not trusted again.
        let both = try parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n")
        #expect(both.map(\.body) == ["ab"])
        #expect(both.first?.keepAlive == false)
    }

    @Test func responsesWithoutABody() throws {
        #expect(try parse("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n").map(\.body) == [""])
        #expect(try parse("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n").map(\.body) == [""])
        let head = try parse("HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", toHEAD: true)
        #expect(head == [Parsed(status: 200, headers: ["content-length: 500"], body: "", keepAlive: true)])
        #expect(try parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").map(\.body) == [""])
    }

    @Test func interimResponsesAreSkipped() throws {
        let parsed = try parse(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                + "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
        #expect(parsed == [Parsed(status: 201, headers: ["content-length: 2"], body: "ok", keepAlive: true)])
        expectMalformed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", "101")
    }

    @Test func looseButValidSpellings() throws {
        // LF alone ends lines; no reason phrase; an empty one; a list of equal lengths.
        #expect(try parse("HTTP/1.1 200 OK\nContent-Length: 2\n\nhi").map(\.body) == ["hi"])
        #expect(try parse("HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nhi").map(\.status) == [200])
        #expect(try parse("HTTP/1.1 404 \r\nContent-Length: 2\r\n\r\nhi").map(\.status) == [404])
        #expect(try parse("HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nhi").map(\.body) == ["hi"])
        #expect(try parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: Chunked\r\n\r\n1\nx\n0\n\n").map(\.body) == ["x"])
        #expect(try parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3 ; a=b\r\nxyz\r\n000\r\n\r\n").map(\.body) == ["xyz"])
        #expect(try parse("HTTP/1.1 200 OK\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n").first?.headers == ["x-empty: ", "content-length: 0"])
    }

    @Test func headerNamesBecomeTheSameFieldsEitherWay() throws {
        let names = [
            "Content-Type", "content-type", "CONTENT-TYPE", "Date", "Server", "Connection", "X-Request-ID", "x-request-id",
            "Cache-Control", "Vary", "ETag", "Last-Modified", "Accept-Ranges", "Retry-After", "Keep-Alive",
            "x-ratelimit-remaining-requests", "OpenAI-Processing-Ms", "X-Dash_Under.dot~",
        ]
        let text = "HTTP/1.1 200 OK\r\n" + names.map { "\($0): v\r\n" }.joined() + "Content-Length: 0\r\n\r\n"
        var parser = HTTP1ResponseParser()
        parser.expectResponse()
        var buffer = ByteBuffer(string: text)
        guard case .head(let head) = try parser.next(&buffer) else {
            Issue.record("no head")
            return
        }
        let parsedNames = head.headers.map(\.name)
        #expect(parsedNames == (names + ["Content-Length"]).map { HTTPField.Name($0)! })
        #expect(parsedNames.map(\.canonicalName) == (names + ["Content-Length"]).map { $0.lowercased() })
    }

    @Test func malformedResponsesAreRefused() {
        expectMalformed("HTTP/2 200 OK\r\n\r\n", "HTTP/1.x")
        expectMalformed("ICY 200 OK\r\n\r\n", "HTTP/1.x")
        expectMalformed("HTTP/1.1 20 OK\r\n\r\n", "status")
        expectMalformed("HTTP/1.1 2000 OK\r\n\r\n", "status")
        expectMalformed("HTTP/1.1 abc OK\r\n\r\n", "status")
        expectMalformed("HTTP/1.1 099 Low\r\n\r\n", "status")
        expectMalformed("HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", "colon")
        expectMalformed("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "header name")
        expectMalformed("HTTP/1.1 200 OK\r\nName : x\r\n\r\n", "header name")
        expectMalformed("HTTP/1.1 200 OK\r\n: x\r\n\r\n", "header name")
        expectMalformed("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", "folding")
        expectMalformed("HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", "CR or NUL")
        expectMalformed("HTTP/1.1 200 OK\r\nA: b\u{0}c\r\n\r\n", "CR or NUL")
        expectMalformed("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", "non-numeric")
        expectMalformed("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "non-numeric")
        expectMalformed("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", "empty")
        expectMalformed("HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", "conflicting")
        expectMalformed("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "conflicting")
        expectMalformed("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", "too large")
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        expectMalformed(chunked + "zz\r\n", "hexadecimal")
        expectMalformed(chunked + "\r\n", "hexadecimal")
        expectMalformed(chunked + "5 x\r\n", "hexadecimal")
        expectMalformed(chunked + "fffffffffffffffff\r\n", "too large")
        expectMalformed(chunked + "3\r\nabcX\r\n", "CRLF")
        expectMalformed(chunked + "3\r\nabc\rX", "CRLF")
        expectMalformed(chunked + "3;a=\u{0}\r\nabc\r\n", "chunk extension")
    }

    @Test func limitsHoldAtAnyReadBoundary() {
        let bigHead = "HTTP/1.1 200 OK\r\n" + String(repeating: "X-Filler: 0123456789abcdef\r\n", count: 3_000)
        expectMalformed(bigHead, "larger than")
        expectMalformed(bigHead + "\r\n", "larger than")
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        expectMalformed(chunked + "5;" + String(repeating: "e", count: 5_000), "chunk-size line longer")
        expectMalformed(chunked + "0\r\n" + String(repeating: "T: v\r\n", count: 1_000), "trailer section")
        expectMalformed(chunked + "0\r\n" + String(repeating: "T: v\r\n", count: 1_000) + "\r\n", "trailer section")
    }

    @Test func bytesNobodyAskedForAreRefused() throws {
        var parser = HTTP1ResponseParser()
        var buffer = ByteBuffer(string: "HTTP/1.1 200 OK\r\n")
        #expect(throws: Malformed.self) { try parser.next(&buffer) }
        // After a complete response, too.
        parser.expectResponse()
        buffer = ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxy")
        var events = 0
        #expect(throws: Malformed.self) {
            while try parser.next(&buffer) != nil { events += 1 }
        }
        #expect(events == 3)
    }

    /// The fields kept as bytes: found by name in any case, the first of repeated
    /// names, values trimmed as the built fields trim them (non-ASCII ones too), and a
    /// response built from them reads the same as one built from fields.
    @Test func keptFieldsReadLikeBuiltOnes() throws {
        let text = "HTTP/1.1 200 OK\r\nX-Request-ID:  req_1 \r\nx-request-id: req_2\r\nX-Note:\tcafé\r\n"
            + "Retry-After: 7\r\nContent-Length: 0\r\nX-Empty:\r\n\r\n"
        var parser = HTTP1ResponseParser()
        parser.expectResponse()
        var buffer = ByteBuffer(string: text)
        guard case .head(let head)? = try parser.next(&buffer) else {
            Issue.record("no head")
            return
        }
        let raw = head.rawHeaders
        #expect(raw.firstValue(.xRequestID) == "req_1")
        #expect(raw.firstValue(HTTPField.Name("X-NOTE")!) == "café")
        #expect(raw.firstValue(HTTPField.Name("x-empty")!) == "")
        #expect(raw.firstValue(.contentType) == nil)
        #expect(raw.fields.map(\.value) == ["req_1", "req_2", "café", "7", "0", ""])
        let kept = TransportResponse(status: 200, rawHeaders: raw, body: ErasedAsyncSequence(elements: []))
        let built = TransportResponse(status: 200, headers: raw.fields, body: ErasedAsyncSequence(elements: []))
        for name in [HTTPField.Name.xRequestID, HTTPField.Name("retry-after")!, HTTPField.Name.contentLength, HTTPField.Name.contentType] {
            #expect(kept.firstValue(name) == built.firstValue(name))
        }
        #expect(kept.headers == built.headers)
        #expect(UpstreamFailure.retryAfter(kept.firstValue(HTTPField.Name("retry-after")!)) == 7)
        // Setting the fields replaces the kept bytes.
        var changed = kept
        changed.headers = [.xRequestID: "req_3"]
        #expect(changed.firstValue(.xRequestID) == "req_3" && changed.headers.count == 1)
    }

    /// The same bytes through NIO's decoder (llhttp) and this parser: random valid
    /// responses, cut at random read boundaries, must come out alike.
    @Test func agreesWithNIOsDecoderOnRandomResponses() throws {
        var generator = SplitMix64(seed: 42)
        for round in 0..<300 {
            var text = ""
            let status = [200, 201, 400, 404, 429, 500, 503].randomElement(using: &generator)!
            let minor = Int.random(in: 0...3, using: &generator) == 0 ? 0 : 1
            text += "HTTP/1.\(minor) \(status) Reason Phrase\r\n"
            var headers: [(String, String)] = []
            for index in 0..<Int.random(in: 0...8, using: &generator) {
                let name = ["X-Thing-\(index)", "Content-Type", "date", "x-request-id", "OpenAI-Model", "Vary"]
                    .randomElement(using: &generator)!
                let value = String(
                    (0..<Int.random(in: 0...40, using: &generator)).map { _ in
                        "abcXYZ019 ;=/,\t\"".randomElement(using: &generator)!
                    }
                ).trimmingSpacesAndTabs()
                headers.append((name, value))
            }
            if minor == 0 || Bool.random(using: &generator) {
                headers.append(("Connection", ["close", "keep-alive", "Keep-Alive"].randomElement(using: &generator)!))
            }
            let body = (0..<Int.random(in: 0...300, using: &generator)).map { _ in
                Array("ab\n\r:{}\"".utf8).randomElement(using: &generator)!
            }
            let chunked = minor == 1 && Bool.random(using: &generator)
            var payload: [UInt8] = []
            if chunked {
                headers.append(("Transfer-Encoding", "chunked"))
                var start = 0
                while start < body.count {
                    let count = min(body.count - start, Int.random(in: 1...70, using: &generator))
                    let extensions = Bool.random(using: &generator) ? ";x=y" : ""
                    payload += Array((String(count, radix: 16) + extensions + "\r\n").utf8)
                    payload += body[start..<start + count] + Array("\r\n".utf8)
                    start += count
                }
                payload += Array("0\r\n\r\n".utf8)
            } else {
                headers.append(("Content-Length", String(body.count)))
                payload = body
            }
            for (name, value) in headers { text += "\(name): \(value)\r\n" }
            text += "\r\n"

            let pieces = randomPieces(of: Array(text.utf8) + payload, maxPiece: 64, using: &generator)
            let ours = try parse(pieces)
            let theirs = try decodeWithNIO(pieces)
            #expect(ours == theirs, "round \(round): \(text.debugDescription)")
            #expect(ours.first?.body == String(decoding: body, as: UTF8.self))
        }
    }
}

/// NIO's HTTP/1 client decoder over the same pieces, after a `POST` went out.
private func decodeWithNIO(_ pieces: [[UInt8]]) throws -> [Parsed] {
    let channel = EmbeddedChannel()
    defer { _ = try? channel.finish() }
    try channel.pipeline.syncOperations.addHandler(HTTPRequestEncoder())
    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPResponseDecoder()))
    try channel.writeOutbound(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: "/")))
    try channel.writeOutbound(HTTPClientRequestPart.end(nil))
    for piece in pieces { try channel.writeInbound(ByteBuffer(bytes: piece)) }
    var out: [Parsed] = []
    while let part = try channel.readInbound(as: HTTPClientResponsePart.self) {
        switch part {
        case .head(let head):
            out.append(
                Parsed(
                    status: Int(head.status.code),
                    headers: head.headers.map { "\($0.name.lowercased()): \($0.value)" }, body: "",
                    keepAlive: head.isKeepAlive))
        case .body(let bytes):
            out[out.count - 1].body += String(buffer: bytes)
        case .end:
            break
        }
    }
    return out
}
