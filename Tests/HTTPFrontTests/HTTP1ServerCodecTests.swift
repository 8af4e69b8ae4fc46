import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypes
import OrchestratorCore
import OrchestratorTesting
import Testing

@testable import HTTPFront

/// A request as either parser saw it.
private struct Seen: Equatable {
    var method: String
    var path: String
    var authority: String?
    var headers: [String]
    var body: String
}

/// Feeds `pieces` to the parser as the codec does (what a read leaves unparsed goes
/// ahead of the next read).
private func parse(_ pieces: [[UInt8]]) throws(HTTP1Malformed) -> [(Seen, HTTP1RequestParser.Exchange)] {
    var parser = HTTP1RequestParser(limits: HTTP1ServerCodec.limits)
    var out: [(Seen, HTTP1RequestParser.Exchange)] = []
    try feed(pieces) { (buffer: inout ByteBuffer) throws(HTTP1Malformed) in
        while let event = try parser.next(&buffer) {
            switch event {
            case .head(let parsed, let exchange):
                let head = parsed.request
                let seen = Seen(
                    method: head.method.rawValue, path: head.path ?? "", authority: head.authority,
                    headers: head.headerFields.map { "\($0.name.canonicalName): \($0.value)" }, body: "")
                out.append((seen, exchange))
            case .body(let bytes):
                out[out.count - 1].0.body += String(buffer: bytes)
            case .end:
                break
            }
        }
    }
    #expect(parser.isBetweenRequests, "a request was left unfinished")
    return out
}

private func parse(_ text: String) throws(HTTP1Malformed) -> [(Seen, HTTP1RequestParser.Exchange)] {
    try parse([Array(text.utf8)])
}

private func expectMalformed(
    _ text: String, _ kind: HTTP1Malformed.Kind, sourceLocation: SourceLocation = #_sourceLocation
) {
    do {
        let parsed = try parse(text)
        Issue.record("accepted \(text.debugDescription): \(parsed.map(\.0))", sourceLocation: sourceLocation)
    } catch {
        #expect(error.kind == kind, "\(text.debugDescription): \(error.reason)", sourceLocation: sourceLocation)
    }
}

/// The head of `text`, a single request.
private func head(_ text: String) throws -> RequestHead? {
    var parser = HTTP1RequestParser(limits: HTTP1ServerCodec.limits)
    var buffer = ByteBuffer(string: text)
    guard case .head(let head, _)? = try parser.next(&buffer) else { return nil }
    return head
}

@Suite struct HTTP1RequestParserTests {
    /// The data plane reads fields from the head's bytes; Hummingbird gets them built.
    /// Both must say the same for every name: first values, joined values (the
    /// separators `HTTPFields` uses), names in any case, values with non-ASCII bytes,
    /// absent fields, and a `Host` that the built fields leave out.
    @Test func rawFieldsReadAsTheBuiltOnes() throws {
        let text = "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nhost: second\r\nAuthorization: Bearer k\r\n"
            + "X-Request-ID: r-1\r\nAnthropic-Beta: a\r\nanthropic-beta:  b \r\nAnthropic-Beta:\r\nCookie: c=1\r\n"
            + "cookie: d=2\r\nX-Note: caf\u{e9}\r\nX-Tab: a\tb\r\nX-Ctl: a\u{01}b\u{7F}\r\nContent-Length: 0\r\n\r\n"
        let parsed = try #require(try head(text))
        let built = parsed.request.headerFields
        #expect(parsed.request.authority == "gw")
        #expect(built[values: HTTPField.Name("host")!] == ["second"], "the first Host becomes the authority, as before")
        let raw = RequestHeaders(raw: parsed.fields)
        let names: [HTTPField.Name] = [
            .authorization, .xRequestID, .anthropicBeta, .cookie, HTTPField.Name("x-note")!, HTTPField.Name("x-tab")!,
            HTTPField.Name("x-ctl")!, .contentLength, .xAPIKey,
            .origin, .connection,
        ]
        for name in names {
            #expect(raw.firstValue(name) == built.firstValue(name), "\(name)")
            #expect(raw[name] == built[name], "\(name)")
            #expect(RequestHeaders(built)[name] == built[name], "\(name)")
        }
        #expect(raw[.anthropicBeta] == "a, b, ")
        #expect(raw[.cookie] == "c=1; d=2")
        #expect(ChatEndpoint.forwardedHeaders(raw, style: .anthropic) == ChatEndpoint.forwardedHeaders(RequestHeaders(built), style: .anthropic))
    }

    /// `closes` (what the data plane acts on) agrees with the `Connection: close` the
    /// built head carries for Hummingbird, in every way a request can say it.
    @Test func theCloseReadsAsTheBuiltHeadSaysIt() throws {
        let cases: [(String, Bool)] = [
            ("GET / HTTP/1.1\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", true),
            ("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", true),
            ("GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n", true),
            ("GET / HTTP/1.1\r\nConnection: TE\r\nConnection: close\r\n\r\n", true),
            ("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", false),
            ("GET / HTTP/1.0\r\n\r\n", true),
            ("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false),
            ("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", true),
        ]
        for (text, closes) in cases {
            let parsed = try #require(try head(text))
            #expect(parsed.closes == closes, "\(text.debugDescription)")
            let connection = parsed.request.headerFields[.connection]
            #expect((connection == "close") == closes, "\(text.debugDescription): \(connection ?? "none")")
        }
    }

    @Test func aRequestWithItsBodyAtEveryReadBoundary() throws {
        let body = #"{"model":"m","messages":[]}"#
        let text = "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: gw:8080\r\nAuthorization: Bearer k\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
            + "\r\nGET /healthz HTTP/1.1\nhost: gw\n\n"  // a stray CRLF, then lone LFs
        let bytes = Array(text.utf8)
        for split in 0...bytes.count {
            let requests = try parse([Array(bytes[..<split]), Array(bytes[split...])])
            #expect(requests.count == 2)
            #expect(requests.first?.0 == Seen(
                method: "POST", path: "/v1/chat/completions?x=1", authority: "gw:8080",
                headers: ["authorization: Bearer k", "content-length: \(body.utf8.count)"], body: body))
            #expect(requests.last?.0 == Seen(method: "GET", path: "/healthz", authority: "gw", headers: [], body: ""))
            #expect(requests.first?.1 == HTTP1RequestParser.Exchange())
        }
        // One byte per read: the head is found by scanning each new byte once.
        #expect(try parse(bytes.map { [$0] }).count == 2)
    }

    @Test func chunkedBodiesWithExtensionsAndTrailers() throws {
        let text = "POST /v1/embeddings HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "4;ext=1\r\nab\r\n\r\n1A\r\n" + String(repeating: "z", count: 26) + "\r\n0\r\nX-Trailer: t\r\n\r\n"
        let requests = try parse(text)
        #expect(requests.count == 1)
        #expect(requests.first?.0.body == "ab\r\n" + String(repeating: "z", count: 26))
    }

    @Test func methodsTargetsAndVersions() throws {
        let absolute = try parse("GET http://example.com:80/a/b?c=d#frag HTTP/1.1\r\nHost: example.com\r\n\r\n")
        #expect(absolute.first?.0.path == "/a/b?c=d")
        #expect(try parse("GET http://example.com HTTP/1.1\r\n\r\n").first?.0.path == "/")
        #expect(try parse("GET http://example.com?q HTTP/1.1\r\n\r\n").first?.0.path == "/?q")
        #expect(try parse("OPTIONS * HTTP/1.1\r\n\r\n").first?.0.path == "*")
        #expect(try parse("PURGE /x HTTP/1.1\r\n\r\n").first?.0.method == "PURGE")
        let head = try parse("HEAD / HTTP/1.1\r\n\r\n").first?.1
        #expect(head == HTTP1RequestParser.Exchange(isHead: true))
        let connect = try parse("CONNECT example.com:443 HTTP/1.1\r\n\r\n").first
        #expect(connect?.1.isConnect == true)
        #expect(connect?.0.path == "example.com:443")
    }

    /// ASCII values become strings directly; others go through `HTTPField`'s own bytes
    /// path. Either way a value keeps its exact bytes.
    @Test func fieldValuesKeepTheirBytes() throws {
        let utf8: [UInt8] = Array("GET / HTTP/1.1\r\nX-A: plain value\r\nX-B: caf\u{e9} \u{1F511}\r\nX-C: ".utf8)
        let latin1: [UInt8] = [0x63, 0x61, 0x66, 0xE9]  // "café" in ISO-8859-1: not UTF-8
        let request = utf8 + latin1 + Array("\r\n\r\n".utf8)
        var parser = HTTP1RequestParser(limits: HTTP1ServerCodec.limits)
        var buffer = ByteBuffer(bytes: request)
        guard case .head(let head, _)? = try parser.next(&buffer) else {
            Issue.record("no head")
            return
        }
        let fields = Array(head.request.headerFields)
        #expect(fields.map(\.name.canonicalName) == ["x-a", "x-b", "x-c"])
        #expect(fields[0].value == "plain value")
        #expect(fields[1].value == "caf\u{e9} \u{1F511}")
        #expect(fields[2].withUnsafeBytesOfValue { Array($0) } == latin1)
        #expect(fields[2].value == "caf\u{FFFD}")
    }


    /// Common names in any case become the well-known names; others keep their
    /// spelling as a name, whatever their length (including lengths no common one has).
    @Test func fieldNamesInAnyCase() {
        func name(_ text: String) -> HTTPField.Name {
            var text = text
            return text.withUTF8 { HTTP1Syntax.fieldName(UnsafeRawBufferPointer($0)) }
        }
        #expect(name("Content-Type") == .contentType)
        #expect(name("CONTENT-LENGTH") == .contentLength)
        #expect(name("host") == HTTP1Syntax.host)
        #expect(name("Transfer-Encoding") == .transferEncoding)
        #expect(name("authorization") == .authorization)
        #expect(name("X-Api-Key") == HTTPField.Name("x-api-key"))
        #expect(name("Date") == .date && name("vary") == .vary && name("ETag") == .eTag)
        for other in ["x", "Hosts", "content-typo", "x-custom-header-longer-than-any-known-name"] {
            #expect(name(other).rawName == other)
            #expect(name(other) == HTTPField.Name(other))
        }
    }
    @Test func persistenceFollowsTheVersionAndConnection() throws {
        // HTTP/1.0 without keep-alive, and HTTP/1.1 with close: the request says close.
        let http10 = try parse("GET / HTTP/1.0\r\n\r\n").first
        #expect(http10?.0.headers == ["connection: close"])
        #expect(http10?.1 == HTTP1RequestParser.Exchange(http10: true))
        let kept = try parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").first
        #expect(kept?.0.headers == ["connection: Keep-Alive"])
        #expect(kept?.1 == HTTP1RequestParser.Exchange(http10: true, keepAlive10: true))
        #expect(try parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").first?.0.headers == ["connection: close"])
        #expect(try parse("GET / HTTP/1.1\r\nConnection: Close, TE\r\nTE: trailers\r\n\r\n").first?.0.headers == ["connection: close", "te: trailers"])
        #expect(try parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").first?.0.headers == ["connection: close"])
        #expect(try parse("GET / HTTP/1.1\r\n\r\n").first?.0.headers == [])
    }

    @Test func malformedRequestsAreRefused() {
        expectMalformed("GET\r\n\r\n", .startLine)
        expectMalformed("GET /\r\n\r\n", .startLine)
        expectMalformed(" GET / HTTP/1.1\r\n\r\n", .startLine)
        expectMalformed("GET  / HTTP/1.1\r\n\r\n", .startLine)
        expectMalformed("G(T / HTTP/1.1\r\n\r\n", .method)
        expectMalformed("GET / HTTP/2.0\r\n\r\n", .version)
        expectMalformed("GET / HTTP/1.1 \r\n\r\n", .version)
        expectMalformed("GET / FTP/1.1\r\n\r\n", .version)
        expectMalformed("GET /a b HTTP/1.1\r\n\r\n", .version)
        expectMalformed("GET /a\u{7F} HTTP/1.1\r\n\r\n", .target)
        expectMalformed("GET /caf\u{E9} HTTP/1.1\r\n\r\n", .target)
        expectMalformed("GET / HTTP/1.1\r\nNo colon\r\n\r\n", .field)
        expectMalformed("GET / HTTP/1.1\r\nA : b\r\n\r\n", .field)
        expectMalformed("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", .field)
        expectMalformed("GET / HTTP/1.1\r\nA: b\u{0}\r\n\r\n", .field)
        expectMalformed("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", .contentLength)
        expectMalformed("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", .contentLength)
        expectMalformed("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", .contentLength)
        // Request smuggling: both framings, a coding that is not chunked, or chunks in 1.0.
        expectMalformed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", .transferEncoding)
        expectMalformed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", .transferEncoding)
        expectMalformed("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", .transferEncoding)
        expectMalformed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", .chunk)
        expectMalformed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", .chunk)
    }

    @Test func limits() {
        let fields = (0..<129).map { "X-F\($0): v\r\n" }.joined()
        expectMalformed("GET / HTTP/1.1\r\n\(fields)\r\n", .tooLarge)
        expectMalformed("GET / HTTP/1.1\r\nX: \(String(repeating: "a", count: 16 * 1024))\r\n\r\n", .tooLarge)
        // A head that never ends is refused once it passes the limit, without its end.
        expectMalformed("GET / HTTP/1.1\r\n" + String(repeating: "X-A: b\r\n", count: 7_000), .tooLarge)
        expectMalformed("GET /" + String(repeating: "a", count: 50 * 1024) + " HTTP/1.1\r\n\r\n", .tooLarge)
        // Up to the limits is fine.
        let most = (0..<128).map { "X-F\($0): v\r\n" }.joined()
        #expect((try? parse("GET / HTTP/1.1\r\n\(most)\r\n"))?.first?.0.headers.count == 128)
    }

    /// The same bytes through NIO's request decoder (llhttp) and this parser: random
    /// valid requests, pipelined and cut at random read boundaries, must come out alike.
    @Test func agreesWithNIOsDecoderOnRandomRequests() throws {
        var generator = SplitMix64(seed: 7)
        for round in 0..<300 {
            var pieces: [UInt8] = []
            let count = Int.random(in: 1...3, using: &generator)
            for _ in 0..<count {
                let method = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"].randomElement(using: &generator)!
                let path = ["/", "/v1/chat/completions", "/admin/api/keys?limit=5&x=%20y", "/a/b/c;d"].randomElement(using: &generator)!
                var text = "\(method) \(path) HTTP/1.1\r\nHost: gw.example:8080\r\n"
                for index in 0..<Int.random(in: 0...8, using: &generator) {
                    let name = ["X-Thing-\(index)", "Content-Type", "authorization", "Accept", "User-Agent", "x-api-key"]
                        .randomElement(using: &generator)!
                    let value = String(
                        (0..<Int.random(in: 0...40, using: &generator)).map { _ in
                            "abcXYZ019 ;=/,\"".randomElement(using: &generator)!
                        }
                    ).trimmingSpacesAndTabs()
                    text += "\(name): \(value)\r\n"
                }
                let body = (0..<Int.random(in: 0...200, using: &generator)).map { _ in
                    Array("ab\n\r:{}\"".utf8).randomElement(using: &generator)!
                }
                var payload: [UInt8] = []
                if Bool.random(using: &generator) {
                    text += "Transfer-Encoding: chunked\r\n"
                    var start = 0
                    while start < body.count {
                        let count = min(body.count - start, Int.random(in: 1...70, using: &generator))
                        payload += Array((String(count, radix: 16) + "\r\n").utf8) + body[start..<start + count] + Array("\r\n".utf8)
                        start += count
                    }
                    payload += Array("0\r\n\r\n".utf8)
                } else if !body.isEmpty || Bool.random(using: &generator) {
                    text += "Content-Length: \(body.count)\r\n"
                    payload = body
                }
                pieces += Array((text + "\r\n").utf8) + payload
            }
            let split = randomPieces(of: pieces, maxPiece: 64, using: &generator)
            let ours = try parse(split).map(\.0)
            let theirs = try decodeWithNIO(split)
            #expect(ours.count == count)
            #expect(ours == theirs, "round \(round): \(String(decoding: pieces, as: UTF8.self).debugDescription)")
        }
    }
}

/// NIO's request decoder and its conversion to `HTTPRequest` over the same pieces.
private func decodeWithNIO(_ pieces: [[UInt8]]) throws -> [Seen] {
    let channel = EmbeddedChannel()
    defer { _ = try? channel.finish() }
    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder()))
    for piece in pieces { try channel.writeInbound(ByteBuffer(bytes: piece)) }
    var out: [Seen] = []
    while let part = try channel.readInbound(as: HTTPServerRequestPart.self) {
        switch part {
        case .head(let head):
            out.append(
                Seen(
                    method: head.method.rawValue, path: head.uri, authority: head.headers["host"].first,
                    headers: head.headers.filter { $0.name.lowercased() != "host" }.map { "\($0.name.lowercased()): \($0.value)" },
                    body: ""))
        case .body(let bytes):
            out[out.count - 1].body += String(buffer: bytes)
        case .end:
            break
        }
    }
    return out
}


// MARK: - The codec in a pipeline

@Suite struct HTTP1ServerCodecTests {
    private func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTP1ServerCodec())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    private func send(_ text: String, to channel: EmbeddedChannel) throws -> [HTTPRequestPart] {
        try channel.writeInbound(ByteBuffer(string: text))
        var parts: [HTTPRequestPart] = []
        // As Hummingbird gets them: the data plane passes a request's parts on so.
        while let part = try channel.readInbound(as: RequestPart.self) { part.forEachHTTPPart { parts.append($0) } }
        return parts
    }

    private func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let bytes = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: bytes) }
        return text
    }

    private func respond(
        _ channel: EmbeddedChannel, status: HTTPResponse.Status = .ok, fields: HTTPFields = [:], body: [String] = [],
        trailers: HTTPFields? = nil
    ) throws {
        try channel.writeOutbound(ResponsePart.head(HTTPResponse(status: status, headerFields: fields)))
        for part in body { try channel.writeOutbound(ResponsePart.body(ByteBuffer(string: part))) }
        try channel.writeOutbound(ResponsePart.end(trailers))
    }

    @Test func responsesAreFramedByLengthOrChunks() throws {
        let channel = try channel()
        _ = try send("GET /a HTTP/1.1\r\nHost: gw\r\n\r\nGET /b HTTP/1.1\r\nHost: gw\r\n\r\n", to: channel)
        try respond(channel, fields: [.contentType: "text/plain", .contentLength: "5", .transferEncoding: "gzip"], body: ["hello"])
        #expect(try written(channel) == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")
        let big = String(repeating: "x", count: 5_000)
        try respond(channel, fields: [.contentType: "text/event-stream"], body: ["data: 1\n\n", "", big], trailers: [HTTPField.Name("X-T")!: "1"])
        #expect(
            try written(channel)
                == "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                + "9\r\ndata: 1\n\n\r\n1388\r\n\(big)\r\n0\r\nX-T: 1\r\n\r\n")
        #expect(channel.isActive)
    }

    @Test func responsesWithoutABody() throws {
        let channel = try channel()
        _ = try send("HEAD /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\nCONNECT h:443 HTTP/1.1\r\n\r\n", to: channel)
        // HEAD: the fields of the GET, no body.
        try respond(channel, fields: [.contentType: "application/json"], body: [#"{"a":1}"#])
        #expect(try written(channel) == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
        // 204 and 304: no framing fields at all.
        try respond(channel, status: .noContent, fields: [.contentLength: "0"])
        #expect(try written(channel) == "HTTP/1.1 204 No Content\r\n\r\n")
        try respond(channel, status: .notModified, fields: [.eTag: "\"x\"", .transferEncoding: "chunked"])
        #expect(try written(channel) == "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n")
        try respond(channel, fields: [.contentLength: "3"], body: ["abc"])
        #expect(try written(channel) == "HTTP/1.1 200 OK\r\n\r\n")
        // A status from its code alone gets the standard phrase; an unknown one none.
        _ = try send("GET /d HTTP/1.1\r\n\r\nGET /e HTTP/1.1\r\n\r\n", to: channel)
        try respond(channel, status: HTTPResponse.Status(code: 404), fields: [.contentLength: "0"])
        try respond(channel, status: HTTPResponse.Status(code: 599), fields: [.contentLength: "0"])
        #expect(try written(channel) == "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\nHTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n")
    }

    /// The gateway's own fields, written from their values after the response's fields,
    /// frame the response as the same fields given as `HTTPFields` would.
    @Test func gatewayFieldsAreWrittenAfterTheResponsesFields() throws {
        let channel = try channel()
        _ = try send("POST /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\n\r\n", to: channel)
        var gateway = GatewayFields()
        gateway.contentType = .json
        gateway.setRoute(RouteInfo(provider: "openai-main", upstreamModel: "m", attempts: 2, overhead: .microseconds(1_234)))
        gateway.requestID = "req-1"
        gateway.contentLength = 2
        try channel.writeOutbound(
            ResponsePart.whole(HTTPResponse(status: .ok, headerFields: [HTTPField.Name("x-ratelimit-limit-requests")!: "60"]), ByteBuffer(string: "{}"), gateway))
        #expect(
            try written(channel)
                == "HTTP/1.1 200 OK\r\nx-ratelimit-limit-requests: 60\r\nContent-Type: application/json\r\n"
                + "x-orchestrator-provider: openai-main\r\nx-orchestrator-attempts: 2\r\nx-orchestrator-overhead-ms: 1.23\r\n"
                + "x-request-id: req-1\r\nContent-Length: 2\r\n\r\n{}")
        // A stream: its own fields, chunked framing (no length), and a close asked for.
        var stream = GatewayFields()
        stream.contentType = .eventStream
        stream.streaming = true
        stream.close = true
        try channel.writeOutbound(ResponsePart.headAndBody(HTTPResponse(status: .ok), ByteBuffer(string: "data: 1\n\n"), stream))
        try channel.writeOutbound(ResponsePart.end(nil))
        #expect(
            try written(channel)
                == "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n"
                + "Connection: close\r\ntransfer-encoding: chunked\r\n\r\n9\r\ndata: 1\n\n\r\n0\r\n\r\n")
    }

    @Test func gatewayFieldsOnAnHTTP10KeptAliveAndABodilessResponse() throws {
        let channel = try channel()
        _ = try send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.1\r\n\r\n", to: channel)
        // Asked to close: no second Connection field from the codec.
        var closing = GatewayFields()
        closing.contentLength = 1
        closing.close = true
        try channel.writeOutbound(ResponsePart.whole(HTTPResponse(status: .ok), ByteBuffer(string: "x"), closing))
        #expect(try written(channel) == "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx")
        // A 204 has no length, whatever the fields say.
        var empty = GatewayFields()
        empty.contentLength = 0
        empty.requestID = "r"
        try channel.writeOutbound(ResponsePart.whole(HTTPResponse(status: .noContent), ByteBuffer(), empty))
        #expect(try written(channel) == "HTTP/1.1 204 No Content\r\nx-request-id: r\r\n\r\n")
    }

    @Test func interimResponsesBelongToTheSameRequest() throws {
        let channel = try channel()
        _ = try send("HEAD /a HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", to: channel)
        try channel.writeOutbound(ResponsePart.head(HTTPResponse(status: .continue)))
        try respond(channel, fields: [.contentLength: "3"], body: ["abc"])
        #expect(try written(channel) == "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n")
    }

    @Test func aClientExpectingContinueIsToldToSendItsBody() throws {
        let channel = try channel()
        _ = try send("POST /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", to: channel)
        #expect(try written(channel) == "HTTP/1.1 100 Continue\r\n\r\n")
        #expect(try send("abc", to: channel).count == 2)
        try respond(channel, fields: [.contentLength: "2"], body: ["ok"])
        #expect(try written(channel) == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

        // Behind a response in progress, the 100 waits for that response's end.
        _ = try send("GET /b HTTP/1.1\r\n\r\n", to: channel)
        try channel.writeOutbound(ResponsePart.head(HTTPResponse(status: .ok, headerFields: [.contentLength: "1"])))
        _ = try send("PUT /c HTTP/1.1\r\nExpect: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n", to: channel)
        #expect(try written(channel) == "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n")
        try channel.writeOutbound(ResponsePart.body(ByteBuffer(string: "x")))
        try channel.writeOutbound(ResponsePart.end(nil))
        #expect(try written(channel) == "xHTTP/1.1 100 Continue\r\n\r\n")

        // No 100 without a body, or for HTTP/1.0.
        let other = try self.channel()
        _ = try send("GET /d HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", to: other)
        _ = try send("POST /e HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nz", to: other)
        #expect(try written(other) == "")
    }

    @Test func http10ClientsGetNoChunksAndTheClose() throws {
        let channel = try channel()
        let parts = try send("GET /a HTTP/1.0\r\n\r\n", to: channel)
        guard case .head(let head)? = parts.first else {
            Issue.record("no head")
            return
        }
        #expect(head.headerFields[.connection] == "close")
        try respond(channel, fields: [.contentType: "text/event-stream"], body: ["data: 1\n\n", "data: 2\n\n"])
        #expect(try written(channel) == "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nconnection: close\r\n\r\ndata: 1\n\ndata: 2\n\n")
        #expect(!channel.isActive)
    }

    @Test func http10KeepAliveIsConfirmed() throws {
        let channel = try channel()
        _ = try send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", to: channel)
        try respond(channel, fields: [.contentLength: "2"], body: ["ok"])
        #expect(try written(channel) == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nconnection: keep-alive\r\n\r\nok")
        #expect(channel.isActive)
    }

    @Test func aPromiseOnAnEmptyPartCompletesInOrder() throws {
        let channel = try channel()
        _ = try send("GET /a HTTP/1.1\r\n\r\n", to: channel)
        try channel.writeOutbound(ResponsePart.head(HTTPResponse(status: .ok)))
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.write(ResponsePart.body(ByteBuffer()), promise: promise)
        channel.flush()
        #expect(throws: Never.self) { try promise.futureResult.wait() }
    }

    /// A request that arrives in one read goes on whole; one whose end is still to come,
    /// or whose body comes in several parts, goes on part by part.
    @Test func aRequestInOneReadGoesOnWhole() throws {
        func kinds(_ reads: [String]) throws -> [String] {
            let channel = try channel()
            var out: [String] = []
            for read in reads {
                try channel.writeInbound(ByteBuffer(string: read))
                while let part = try channel.readInbound(as: RequestPart.self) {
                    switch part {
                    case .head: out.append("head")
                    case .body(let bytes): out.append("body:\(String(buffer: bytes))")
                    case .end: out.append("end")
                    case .whole(_, let bytes): out.append("whole:\(bytes.map { String(buffer: $0) } ?? "-")")
                    }
                }
            }
            return out
        }
        let post = "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\n\r\n"
        #expect(try kinds([post + "{}"]) == ["whole:{}"])
        #expect(try kinds(["GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"]) == ["whole:-", "whole:-"])
        #expect(try kinds([post, "{}"]) == ["head", "body:{}", "end"])
        #expect(try kinds([post + "{", "}"]) == ["head", "body:{", "body:}", "end"])
        let chunked = "POST /v1/embeddings HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n0\r\n\r\n"
        #expect(try kinds([chunked]) == ["head", "body:a", "body:b", "end"])
    }

    /// A whole response in one part goes out as its head, body and end would, for every
    /// framing; its promise completes once it is written, and a close after it happens.
    /// Requests whose answers are framed each its own way: chunks, no body (HEAD), the
    /// close (HTTP/1.0), a length kept alive, and a close asked for.
    private static let everyFraming = [
        "GET /a HTTP/1.1\r\n\r\n", "HEAD /a HTTP/1.1\r\n\r\n", "GET /a HTTP/1.0\r\n\r\n",
        "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET /a HTTP/1.1\r\nConnection: close\r\n\r\n",
    ]

    @Test func aWholeResponseIsItsPartsInOne() throws {
        let heads: [HTTPFields] = [[.contentLength: "5"], [:], [.contentType: "text/plain"]]
        for request in Self.everyFraming {
            for fields in heads {
                let parts = try channel()
                _ = try send(request, to: parts)
                try parts.writeOutbound(ResponsePart.head(HTTPResponse(status: .ok, headerFields: fields)))
                try parts.writeOutbound(ResponsePart.body(ByteBuffer(string: "hello")))
                try parts.writeOutbound(ResponsePart.end(nil))

                let whole = try channel()
                _ = try send(request, to: whole)
                let promise = whole.eventLoop.makePromise(of: Void.self)
                whole.writeAndFlush(
                    ResponsePart.whole(HTTPResponse(status: .ok, headerFields: fields), ByteBuffer(string: "hello")),
                    promise: promise)
                #expect(throws: Never.self) { try promise.futureResult.wait() }
                let label = "\(request.debugDescription) \(fields)"
                #expect(try written(whole) == written(parts), "\(label)")
                #expect(whole.isActive == parts.isActive, "\(label)")
            }
        }
    }

    /// `.headAndBody` (a stream's head with its first events) and `.last` (its closing
    /// bytes with the end, small ones in one buffer) write what their parts write one
    /// by one, for every framing.
    @Test func aStreamsMergedPartsAreItsParts() throws {
        let heads: [HTTPFields] = [[.contentType: "text/event-stream"], [.contentLength: "14"]]
        let bodies = ["data: [DONE]\n\n", "", String(repeating: "x", count: 5_000)]
        for request in Self.everyFraming {
            for fields in heads {
                for body in bodies {
                    let parts = try channel()
                    _ = try send(request, to: parts)
                    try parts.writeOutbound(ResponsePart.head(HTTPResponse(status: .ok, headerFields: fields)))
                    try parts.writeOutbound(ResponsePart.body(ByteBuffer(string: "data: 1\n\n")))
                    try parts.writeOutbound(ResponsePart.body(ByteBuffer(string: body)))
                    try parts.writeOutbound(ResponsePart.end(nil))

                    let last = try channel()
                    _ = try send(request, to: last)
                    try last.writeOutbound(
                        ResponsePart.headAndBody(HTTPResponse(status: .ok, headerFields: fields), ByteBuffer(string: "data: 1\n\n")))
                    let promise = last.eventLoop.makePromise(of: Void.self)
                    last.writeAndFlush(ResponsePart.last(ByteBuffer(string: body)), promise: promise)
                    #expect(throws: Never.self) { try promise.futureResult.wait() }
                    let label = "\(request.debugDescription) \(fields) \(body.count)"
                    #expect(try written(last) == written(parts), "\(label)")
                    #expect(last.isActive == parts.isActive, "\(label)")
                }
            }
        }
    }

    @Test func chunkSizesAreHex() {
        for size in [0, 1, 9, 10, 15, 16, 255, 256, 4_096, 65_535, 1 << 40, Int.max] {
            var buffer = ByteBuffer(string: "x")
            HTTP1ServerCodec.writeChunkSize(size, to: &buffer)
            #expect(String(buffer: buffer) == "x" + String(size, radix: 16) + "\r\n")
        }
    }

    @Test func malformedInputIsReportedOnceAndTheRestIgnored() throws {
        let channel = try channel()
        #expect(throws: HTTPParserError.invalidMethod) { try channel.writeInbound(ByteBuffer(string: "G@T / HTTP/1.1\r\n\r\n")) }
        #expect(throws: Never.self) { try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n")) }
        #expect(try channel.readInbound(as: RequestPart.self) == nil)

        let tooLarge = try self.channel()
        let head = "GET / HTTP/1.1\r\n" + String(repeating: "X-A: b\r\n", count: 200) + "\r\n"
        #expect(throws: HTTPParserError.headerOverflow) { try tooLarge.writeInbound(ByteBuffer(string: head)) }
    }

    private func channel(idleTimeout: TimeAmount) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTP1ServerCodec(idleTimeout: idleTimeout))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    @Test func anIdleConnectionClosesAfterTheIdleTimeout() throws {
        // No request ever: counted from when the connection opened.
        let silent = try channel(idleTimeout: .seconds(5))
        silent.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(silent.isActive)
        silent.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!silent.isActive)

        // A request being answered is not idle, however long the answer takes; after
        // it, the time counts from the end of the response or the last input.
        let kept = try channel(idleTimeout: .seconds(5))
        _ = try send("GET /a HTTP/1.1\r\n\r\n", to: kept)
        kept.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(kept.isActive)
        try respond(kept, fields: [.contentLength: "0"])
        kept.embeddedEventLoop.advanceTime(by: .seconds(4))
        _ = try send("GET /b HTTP/1.1\r\n\r\n", to: kept)
        try respond(kept, fields: [.contentLength: "0"])
        kept.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(kept.isActive, "4 s after its last response")
        kept.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!kept.isActive)
        #expect(try written(kept) == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

        // A request whose body stops arriving is idle too.
        let slow = try channel(idleTimeout: .seconds(5))
        _ = try send("POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", to: slow)
        slow.embeddedEventLoop.advanceTime(by: .seconds(4))
        _ = try send("def", to: slow)
        slow.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(slow.isActive)
        slow.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!slow.isActive)

        // Without an idle timeout nothing closes.
        let forever = try channel()
        forever.embeddedEventLoop.advanceTime(by: .hours(1))
        #expect(forever.isActive)
    }

    @Test func gracefulShutdownClosesOnceTheRequestsAreAnswered() throws {
        let idle = try channel(idleTimeout: .seconds(5))
        idle.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(!idle.isActive)

        let busy = try channel()
        _ = try send("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", to: busy)
        busy.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(busy.isActive)
        try respond(busy, fields: [.contentLength: "1"], body: ["a"])
        #expect(busy.isActive, "the second request is still owed its answer")
        try respond(busy, fields: [.contentLength: "1"], body: ["b"])
        #expect(!busy.isActive)
        #expect(try written(busy) == "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb")
    }

    @Test func aRequestCutShortByTheEndOfInputIsAnError() throws {
        let channel = try channel()
        let parts = try send("POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", to: channel)
        #expect(parts.count == 2)
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(throws: HTTPParserError.invalidEOFState) { try channel.throwIfErrorCaught() }

        // Between requests, the end of input is no error.
        let idle = try self.channel()
        _ = try send("GET /a HTTP/1.1\r\n\r\n", to: idle)
        idle.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(throws: Never.self) { try idle.throwIfErrorCaught() }
    }
}
