import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import OrchestratorCore
import OrchestratorTesting
import Synchronization
import Testing

@testable import Providers

/// The event loops of these suites' transports and mock upstreams, apart from the shared
/// singleton: other suites' gateways run their requests' work on the singleton's loops,
/// which on a slow machine held this file's deadlines (5 s) and timers back by seconds.
private let transportTestLoops = MultiThreadedEventLoopGroup(numberOfThreads: 2)

/// The deadline of exchanges whose deadline is not what a test is about: the mock
/// upstreams answer from the cooperative pool, which the parallel suites' work can hold
/// for several seconds on a loaded 2-core machine (5 s was not always enough).
private let ample: Duration = .seconds(60)

@Suite struct NIOHTTPTransportTests {
    let logger = Logger(label: "transport-test")

    func post(_ url: String, _ body: String = "{}", headers: HTTPFields = [:], idle: Duration? = nil, caFile: String? = nil)
        -> TransportRequest
    {
        TransportRequest(url: url, headers: headers, body: ByteBuffer(string: body), idleTimeout: idle, caFile: caFile)
    }

    @Test func keepsConnectionsAliveAndSendsAWellFormedRequest() async throws {
        // One event loop, so one pool: every call reuses the same connection.
        let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let transport = NIOHTTPTransport(eventLoopGroup: loop)
        try await MockUpstream.withServer(group: transportTestLoops, { request in .json(200, #"{"echo":\#(request.bodyString)}"#) }) { upstream in
            for index in 0..<5 {
                let response = try await transport.execute(
                    post(
                        upstream.baseURL + "/v1/chat/completions?x=1", #"{"n":\#(index)}"#,
                        headers: [.authorization: "Bearer k", .connection: "close", .contentLength: "999"]),
                    deadline: .now + ample, logger: logger)
                #expect(response.status == 200)
                #expect(response.headers[.contentType] == "application/json")
                #expect(String(buffer: try await response.collect(upTo: 1 << 20)) == #"{"echo":{"n":\#(index)}}"#)
            }
            #expect(upstream.connectionCount == 1)
            let request = try #require(upstream.requests.last)
            #expect(request.method == "POST")
            #expect(request.uri == "/v1/chat/completions?x=1")
            #expect(request.header("host") == "127.0.0.1:\(upstream.listeningPort)")
            #expect(request.header("authorization") == "Bearer k")
            #expect(request.header("content-length") == "7")
            #expect(request.header("connection") == nil)
        }
        await transport.shutdown()
        try await loop.shutdownGracefully()
    }

    @Test func streamsTheBodyAsItArrives() async throws {
        let transport = NIOHTTPTransport(eventLoopGroup: transportTestLoops)
        // The events are far enough apart that a reader starved on a loaded box (the
        // whole suite runs at once on CI's two cores) still gets each on its own: at
        // 30 ms, two of them once arrived in one read.
        try await MockUpstream.withServer(group: transportTestLoops, { _ in .sse(["1", "2", "3"], delay: .milliseconds(250)) }) { upstream in
            let response = try await transport.execute(
                post(upstream.baseURL + "/stream"), deadline: .now + ample, logger: logger)
            var chunks: [String] = []
            for try await chunk in response.body { chunks.append(String(buffer: chunk)) }
            #expect(chunks.count >= 3)
            #expect(chunks.joined() == "data: 1\n\ndata: 2\n\ndata: 3\n\ndata: [DONE]\n\n")
        }
        await transport.shutdown()
    }

    @Test func droppingTheBodyClosesThatConnectionOnly() async throws {
        let transport = NIOHTTPTransport(eventLoopGroup: transportTestLoops)
        try await MockUpstream.withServer(group: transportTestLoops, { request in
            request.uri == "/long"
                ? .sse((0..<50).map(String.init), delay: .milliseconds(20)) : .json(200, "{}")
        }) { upstream in
            do {
                let response = try await transport.execute(
                    post(upstream.baseURL + "/long"), deadline: .now + ample, logger: logger)
                var iterator = response.body.makeAsyncIterator()
                #expect(try await iterator.next() != nil)
            }
            // The abandoned stream's connection is closed, not pooled: the next call opens
            // a new one and gets a clean response.
            let next = try await transport.execute(post(upstream.baseURL + "/short"), deadline: .now + ample, logger: logger)
            #expect(String(buffer: try await next.collect(upTo: 1024)) == "{}")
            #expect(upstream.connectionCount == 2)
            try await waitUntil { upstream.interruptedResponses == 1 }
        }
        await transport.shutdown()
    }

    @Test func headDeadlineIsATimeout() async throws {
        let transport = NIOHTTPTransport(eventLoopGroup: transportTestLoops)
        try await MockUpstream.withServer(group: transportTestLoops, MockUpstream.slow(.seconds(60), .json(200, "{}"))) { upstream in
            let started = ContinuousClock.now
            await expectTransportFailure(.timeout) {
                _ = try await transport.execute(
                    post(upstream.baseURL + "/slow"), deadline: .now + .milliseconds(200), logger: logger)
            }
            // Long before the answer would have come (with room for a loaded CI machine,
            // where the parallel suites can hold a test up for several seconds).
            #expect(started.duration(to: .now) < .seconds(30))
        }
        await transport.shutdown()
    }

    /// A kept-alive connection has one timer for all its exchanges: an exchange with a
    /// sooner deadline than the one before still times out on time, and a later
    /// exchange is not cut off by an earlier one's deadline.
    @Test func eachExchangeOnAKeptAliveConnectionHasItsOwnDeadline() async throws {
        let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let transport = NIOHTTPTransport(eventLoopGroup: loop)
        try await MockUpstream.withServer(group: transportTestLoops, { request in
            if request.uri.hasSuffix("/slow") { try? await Task.sleep(for: .seconds(60)) }
            if request.uri.hasSuffix("/late") { try? await Task.sleep(for: .seconds(16)) }
            return .json(200, #"{"ok":true}"#)
        }) { upstream in
            // A long deadline first: the connection's timer is armed far ahead.
            let first = try await transport.execute(post(upstream.baseURL + "/fast"), deadline: .now + .seconds(30), logger: logger)
            _ = try await first.collect(upTo: 1024)
            // Then, on the same connection, a short one: it must fire well before 30 s.
            let started = ContinuousClock.now
            await expectTransportFailure(.timeout) {
                _ = try await transport.execute(
                    post(upstream.baseURL + "/slow"), deadline: .now + .milliseconds(200), logger: logger)
            }
            #expect(started.duration(to: .now) < .seconds(30))
            #expect(upstream.connectionCount == 1)
            // A shorter deadline, met; then a longer one outlives the timer armed for it.
            // The first is generous: the mock answers from the cooperative pool, which the
            // parallel suites' work can hold for several seconds on a loaded 2-core CI
            // machine. The second answer comes only after the first deadline has passed.
            let quick = try await transport.execute(post(upstream.baseURL + "/fast"), deadline: .now + .seconds(15), logger: logger)
            _ = try await quick.collect(upTo: 1024)
            let late = try await transport.execute(post(upstream.baseURL + "/late"), deadline: .now + ample, logger: logger)
            #expect(String(buffer: try await late.collect(upTo: 1024)) == #"{"ok":true}"#)
            #expect(upstream.connectionCount == 2)
        }
        await transport.shutdown()
        try await loop.shutdownGracefully()
    }

    @Test func silenceBetweenChunksIsAnIdleTimeout() async throws {
        let transport = NIOHTTPTransport(eventLoopGroup: transportTestLoops)
        try await MockUpstream.withServer(group: transportTestLoops, { _ in
            MockUpstream.Response(
                status: 200, headers: [("Content-Type", "text/event-stream")],
                pieces: [.bytes(ByteBuffer(string: "data: 1\n\n")), .delay(.seconds(2)), .bytes(ByteBuffer(string: "data: 2\n\n"))])
        }) { upstream in
            let response = try await transport.execute(
                post(upstream.baseURL + "/stall", idle: .milliseconds(150)), deadline: .now + ample, logger: logger)
            var iterator = response.body.makeAsyncIterator()
            #expect(try await iterator.next().map { String(buffer: $0) } == "data: 1\n\n")
            await expectTransportFailure(.idleTimeout) {
                _ = try await iterator.next()
            }
        }
        await transport.shutdown()
    }

    @Test func refusedConnectionIsAConnectError() async throws {
        let transport = NIOHTTPTransport(eventLoopGroup: transportTestLoops)
        await expectTransportFailure(.connect) {
            _ = try await transport.execute(post("http://127.0.0.1:1/v1/chat/completions"), deadline: .now + ample, logger: logger)
        }
        await transport.shutdown()
    }

    @Test func upstreamClosingMidBodyFailsTheBody() async throws {
        let transport = NIOHTTPTransport(eventLoopGroup: transportTestLoops)
        try await MockUpstream.withServer(group: transportTestLoops, { _ in
            MockUpstream.Response(
                status: 200, headers: [("Content-Type", "text/event-stream")],
                pieces: [.bytes(ByteBuffer(string: "data: 1\n\n")), .close])
        }) { upstream in
            let response = try await transport.execute(post(upstream.baseURL + "/cut"), deadline: .now + ample, logger: logger)
            await expectTransportFailure(.closed) {
                _ = try await response.collect(upTo: 1 << 20)
            }
        }
        await transport.shutdown()
    }

    @Test func connectionCloseResponsesAreNotReused() async throws {
        let transport = NIOHTTPTransport(eventLoopGroup: transportTestLoops)
        try await MockUpstream.withServer(group: transportTestLoops, { _ in .json(200, "{}", headers: [("Connection", "close")]) }) { upstream in
            for _ in 0..<3 {
                let response = try await transport.execute(post(upstream.baseURL + "/x"), deadline: .now + ample, logger: logger)
                #expect(String(buffer: try await response.collect(upTo: 1024)) == "{}")
            }
            #expect(upstream.connectionCount == 3)
        }
        await transport.shutdown()
    }

    @Test func aKeptAliveConnectionLostBeforeTheResponseIsRetriedOnce() async throws {
        let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // A wide window: on a loaded machine the drop may take longer than 250 ms to arrive.
        var configuration = NIOHTTPTransport.Configuration()
        configuration.staleConnectionWindow = .seconds(5)
        let transport = NIOHTTPTransport(configuration: configuration, eventLoopGroup: loop)
        let calls = Mutex(0)
        try await MockUpstream.withServer(group: transportTestLoops, { _ in
            // The second request finds its pooled connection closed without an answer.
            calls.withLock { $0 += 1; return $0 } == 2 ? .drop : .json(200, #"{"ok":true}"#)
        }) { upstream in
            for _ in 0..<2 {
                let response = try await transport.execute(post(upstream.baseURL + "/x"), deadline: .now + ample, logger: logger)
                #expect(String(buffer: try await response.collect(upTo: 1024)) == #"{"ok":true}"#)
            }
            #expect(calls.withLock { $0 } == 3)
            #expect(upstream.connectionCount == 2)
        }
        await transport.shutdown()
        try await loop.shutdownGracefully()
    }

    @Test func aKeptAliveConnectionLostLateIsNotResent() async throws {
        // The upstream may have acted on the request: no silent second POST.
        let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var configuration = NIOHTTPTransport.Configuration()
        configuration.staleConnectionWindow = .milliseconds(100)  // the upstream drops after 400 ms
        let transport = NIOHTTPTransport(configuration: configuration, eventLoopGroup: loop)
        let calls = Mutex(0)
        try await MockUpstream.withServer(group: transportTestLoops, { _ in
            guard calls.withLock({ $0 += 1; return $0 }) == 2 else { return .json(200, "{}") }
            try? await Task.sleep(for: .milliseconds(400))
            return .drop
        }) { upstream in
            let first = try await transport.execute(post(upstream.baseURL + "/x"), deadline: .now + ample, logger: logger)
            _ = try await first.collect(upTo: 1024)
            await expectTransportFailure(.closed) {
                _ = try await transport.execute(post(upstream.baseURL + "/x"), deadline: .now + ample, logger: logger)
            }
            #expect(calls.withLock { $0 } == 2)
        }
        await transport.shutdown()
        try await loop.shutdownGracefully()
    }

    @Test func aNewConnectionLostBeforeTheResponseIsAnError() async throws {
        let transport = NIOHTTPTransport(eventLoopGroup: transportTestLoops)
        try await MockUpstream.withServer(group: transportTestLoops, { _ in .drop }) { upstream in
            await expectTransportFailure(.closed) {
                _ = try await transport.execute(post(upstream.baseURL + "/x"), deadline: .now + ample, logger: logger)
            }
            #expect(upstream.requests.count == 1)
        }
        await transport.shutdown()
    }

    @Test func cancellingTheCallerStopsTheWait() async throws {
        let transport = NIOHTTPTransport(eventLoopGroup: transportTestLoops)
        try await MockUpstream.withServer(group: transportTestLoops, MockUpstream.slow(.seconds(60), .json(200, "{}"))) { upstream in
            let started = ContinuousClock.now
            let task = Task {
                try await transport.execute(post(upstream.baseURL + "/slow"), deadline: .now + ample, logger: logger)
            }
            try await Task.sleep(for: .milliseconds(100))
            task.cancel()
            await #expect(throws: CancellationError.self) { _ = try await task.value }
            // Long before the answer (60 s) or the deadline would have ended it.
            #expect(started.duration(to: .now) < .seconds(30))
        }
        await transport.shutdown()
    }

    @Test func httpsTrustsTheConfiguredCAFile() async throws {
        let certificate = try TestCertificate()
        let transport = NIOHTTPTransport(eventLoopGroup: transportTestLoops)
        try await MockUpstream.withServer(tls: certificate.serverContext, group: transportTestLoops, { _ in .json(200, #"{"tls":true}"#) }) { upstream in
            let response = try await transport.execute(
                post(upstream.baseURL + "/v1/chat/completions", caFile: certificate.caFile), deadline: .now + ample,
                logger: logger)
            #expect(String(buffer: try await response.collect(upTo: 1024)) == #"{"tls":true}"#)
            #expect(upstream.requests.first?.header("host") == "localhost:\(upstream.listeningPort)")

            // Without the CA file the self-signed certificate is refused.
            await expectTransportFailure(.tls) {
                _ = try await transport.execute(post(upstream.baseURL + "/v1/chat/completions"), deadline: .now + ample, logger: logger)
            }
        }
        await transport.shutdown()
    }

    @Test func aStalledTLSHandshakeTimesOutWithTheConnectTimeout() async throws {
        var configuration = NIOHTTPTransport.Configuration()
        configuration.connectTimeout = .milliseconds(200)
        let transport = NIOHTTPTransport(configuration: configuration, eventLoopGroup: transportTestLoops)
        // The proxy mock accepts TCP and waits for a CONNECT line that a ClientHello never has.
        try await MockConnectProxy.withProxy { silent in
            let port = silent.url.split(separator: ":").last.map(String.init) ?? ""
            let started = ContinuousClock.now
            await expectTransportFailure(.timeout, messageContains: "TLS handshake") {
                _ = try await transport.execute(
                    post("https://localhost:\(port)/v1/chat/completions"), deadline: .now + ample, logger: logger)
            }
            // The connect timeout ended it, not the request deadline.
            #expect(started.duration(to: .now) < .seconds(30))
        }
        await transport.shutdown()
    }

    @Test func unreadableCAFileIsATLSError() async throws {
        let transport = NIOHTTPTransport(eventLoopGroup: transportTestLoops)
        await expectTransportFailure(.tls, messageContains: "/nonexistent/ca.pem") {
            _ = try await transport.execute(
                post("https://localhost:1/x", caFile: "/nonexistent/ca.pem"), deadline: .now + ample, logger: logger)
        }
        await transport.shutdown()
    }

    @Test func invalidURLsAreRejected() async throws {
        let transport = NIOHTTPTransport(eventLoopGroup: transportTestLoops)
        for url in ["ftp://x/y", "http://", "http://host:0/x", "http://host:99999/x", "http://[::1/x"] {
            await expectTransportFailure(.other) {
                _ = try await transport.execute(post(url), deadline: .now + ample, logger: logger)
            }
        }
        await transport.shutdown()
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}

/// The transport against an upstream that writes its responses byte by byte, as real
/// servers may and HTTP libraries do not: framing, keep-alive and malformed answers.
@Suite struct NIOHTTPTransportWireTests {
    let logger = Logger(label: "transport-wire-test")

    func call(_ transport: NIOHTTPTransport, _ upstream: RawUpstream, method: HTTPRequest.Method = .post) async throws
        -> (TransportResponse, String)
    {
        let request = TransportRequest(
            method: method, url: upstream.baseURL + "/v1/x", headers: [.authorization: "Bearer k"],
            body: method == .post ? ByteBuffer(string: #"{"n":1}"#) : nil)
        let response = try await transport.execute(request, deadline: .now + ample, logger: logger)
        return (response, String(buffer: try await response.collect(upTo: 1 << 20)))
    }

    func expectBody(
        _ transport: NIOHTTPTransport, _ upstream: RawUpstream, _ expected: String, method: HTTPRequest.Method = .post,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let body = try await call(transport, upstream, method: method).1
        #expect(body == expected, sourceLocation: sourceLocation)
    }

    /// One event loop, so every call may reuse the one pooled connection.
    func withTransport(_ body: (NIOHTTPTransport) async throws -> Void) async throws {
        let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let transport = NIOHTTPTransport(eventLoopGroup: loop)
        try await body(transport)
        await transport.shutdown()
        try await loop.shutdownGracefully()
    }

    @Test func writesTheRequestItSerialized() async throws {
        try await withTransport { transport in
            try await RawUpstream.withServer(group: transportTestLoops, { _, _ in [.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")] }) { upstream in
                try await expectBody(transport, upstream, "ok")
                try await expectBody(transport, upstream, "ok", method: .get)
                #expect(upstream.connectionCount == 1)
                #expect(
                    upstream.requests == [
                        "POST /v1/x HTTP/1.1\r\nhost: 127.0.0.1:\(upstream.baseURL.split(separator: ":").last!)\r\n"
                            + "Authorization: Bearer k\r\ncontent-length: 7\r\n\r\n",
                        "GET /v1/x HTTP/1.1\r\nhost: 127.0.0.1:\(upstream.baseURL.split(separator: ":").last!)\r\n"
                            + "Authorization: Bearer k\r\n\r\n",
                    ])
            }
        }
    }

    /// Fields that speak for one connection, and the framing the transport sets itself,
    /// never go upstream as the caller gave them; every other field does, with its bytes.
    @Test func hopByHopFieldsAreDropped() throws {
        var headers = HTTPFields()
        for (name, value) in [
            ("Connection", "close"), ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "x"), ("Transfer-Encoding", "chunked"),
            ("TE", "trailers"), ("Trailer", "x"), ("Upgrade", "h2c"), ("Host", "evil.example"), ("Content-Length", "99"),
            ("User-Agent", "ua/1"), ("X-Te", "kept"), ("Accept", "*/*"), ("anthropic-version", "2023-06-01"),
        ] {
            headers.append(HTTPField(name: HTTPField.Name(name)!, value: value))
        }
        let request = TransportRequest(url: "http://up.example:8080/v1/x?q=1", headers: headers, body: ByteBuffer(string: "{}"))
        let bytes = NIOHTTPTransport.requestBytes(request, url: try UpstreamURL(parsing: request.url))
        #expect(bytes.body == nil)
        #expect(
            String(buffer: bytes.head)
                == "POST /v1/x?q=1 HTTP/1.1\r\nhost: up.example:8080\r\nUser-Agent: ua/1\r\nX-Te: kept\r\nAccept: */*\r\n"
                + "anthropic-version: 2023-06-01\r\ncontent-length: 2\r\n\r\n{}")
    }

    /// A prepared head gives the same bytes as the request it was prepared from, whatever
    /// the method, URL, fields and body; and any change to the method, URL or fields drops
    /// it, so it can never send what the request no longer says.
    @Test func preparedHeadsGiveTheSameBytes() async throws {
        try await withTransport { transport in try preparedHeadsGiveTheSameBytes(transport) }
    }

    private func preparedHeadsGiveTheSameBytes(_ transport: NIOHTTPTransport) throws {
        var fields = HTTPFields()
        fields[.authorization] = "Bearer sk-test"
        fields[.contentType] = "application/json"
        fields[.connection] = "close"  // hop-by-hop: dropped either way
        fields.append(HTTPField(name: HTTPField.Name("X-Custom")!, value: "ä value"))
        let big = ByteBuffer(string: String(repeating: "y", count: NIOHTTPTransport.inlineBodyLimit + 1))
        let requests: [TransportRequest] = [
            TransportRequest(url: "http://up.example:8080/v1/chat/completions", headers: fields, body: ByteBuffer(string: #"{"a":1}"#)),
            TransportRequest(url: "https://up.example/v1/x?api-version=2024-10-21", headers: fields, body: ByteBuffer()),
            TransportRequest(url: "http://[::1]:9/p", headers: fields),
            TransportRequest(method: .get, url: "http://up.example/models", headers: fields),
            TransportRequest(method: .get, url: "http://up.example/models", body: ByteBuffer(string: "q")),
            TransportRequest(method: .head, url: "http://up.example/"),
            TransportRequest(method: .put, url: "http://up.example/"),
            TransportRequest(url: "http://up.example/big", headers: fields, body: big),
        ]
        for request in requests {
            let plain = NIOHTTPTransport.requestBytes(request, url: try UpstreamURL(parsing: request.url))
            let prepared = try #require(transport.prepare(request) as? NIOHTTPTransport.PreparedHead)
            let fromPrepared = NIOHTTPTransport.requestBytes(prepared, body: request.body)
            #expect(String(buffer: fromPrepared.head) == String(buffer: plain.head), "\(request.url)")
            #expect(fromPrepared.body == plain.body)
            #expect(fromPrepared.isHEAD == plain.isHEAD)
            #expect(prepared.poolKey == NIOHTTPTransport.PoolKey(
                secure: prepared.url.secure, host: prepared.url.host, port: prepared.url.port, caFile: ""))
            // The same prepared head serves another body.
            let other = NIOHTTPTransport.requestBytes(prepared, body: ByteBuffer(string: "other"))
            var withOther = request
            withOther.body = ByteBuffer(string: "other")
            #expect(String(buffer: other.head) == String(buffer: NIOHTTPTransport.requestBytes(withOther, url: prepared.url).head))
        }
        #expect(transport.prepare(TransportRequest(url: "ftp://up.example/")) == nil)
    }

    @Test func poolKeysAreEqualByTheirFields() {
        typealias Key = NIOHTTPTransport.PoolKey
        let a = Key(secure: true, host: "api.example", port: 443, caFile: "")
        #expect(a == Key(secure: true, host: "api.example", port: 443, caFile: ""))
        #expect(a.hashValue == Key(secure: true, host: "api.example", port: 443, caFile: "").hashValue)
        let others = [
            Key(secure: false, host: "api.example", port: 443, caFile: ""),
            Key(secure: true, host: "api.example2", port: 443, caFile: ""),
            Key(secure: true, host: "api.example", port: 8443, caFile: ""),
            Key(secure: true, host: "api.example", port: 443, caFile: "/ca.pem"),
        ]
        for other in others { #expect(a != other) }
        #expect(Set(others + [a, a]).count == 5)
    }

    @Test func changingAPreparedRequestsHeadDropsThePreparation() async throws {
        try await withTransport { transport in try changingAPreparedRequestsHeadDropsThePreparation(transport) }
    }

    private func changingAPreparedRequestsHeadDropsThePreparation(_ transport: NIOHTTPTransport) throws {
        var request = TransportRequest(url: "http://up.example/v1/a", headers: [.authorization: "Bearer one"])
        request.prepared = transport.prepare(request)
        var copy = request
        copy.body = ByteBuffer(string: "{}")
        copy.idleTimeout = .seconds(3)
        #expect(copy.prepared != nil, "the body and timeouts are not part of the head")
        copy.url = "http://up.example/v1/b"
        #expect(copy.prepared == nil)
        copy = request
        copy.headers[.authorization] = "Bearer two"
        #expect(copy.prepared == nil)
        copy = request
        copy.method = .put
        #expect(copy.prepared == nil)
        copy = request
        copy.caFile = "/etc/ssl/other.pem"
        #expect(copy.prepared == nil)
        #expect(request.prepared != nil)
    }

    /// On the wire: a prepared request reaches the upstream with its fields and body.
    @Test func aPreparedRequestIsSentAsBuilt() async throws {
        try await withTransport { transport in
            try await RawUpstream.withServer(group: transportTestLoops, { _, head in
                let auth = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("authorization: ") } ?? "none"
                return [.send("HTTP/1.1 200 OK\r\nContent-Length: \(auth.utf8.count)\r\n\r\n\(auth)")]
            }) { upstream in
                var request = TransportRequest(url: upstream.baseURL + "/p", headers: [.authorization: "Bearer sk-p"])
                request.prepared = transport.prepare(request)
                #expect(request.prepared != nil)
                for body in ["1", "22"] {
                    request.body = ByteBuffer(string: body)
                    let response = try await transport.execute(request, deadline: .now + ample, logger: logger)
                    #expect(String(buffer: try await response.collect(upTo: 1024)) == "Authorization: Bearer sk-p")
                }
                #expect(upstream.connectionCount == 1)
            }
        }
    }

    @Test func largeBodiesGoOutWhole() async throws {
        let big = String(repeating: "x", count: NIOHTTPTransport.inlineBodyLimit * 3 + 17)
        try await withTransport { transport in
            try await RawUpstream.withServer(group: transportTestLoops, { _, head in
                let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length: ") }?.dropFirst(16) ?? "?"
                return [.send("HTTP/1.1 200 OK\r\nContent-Length: \(length.count)\r\n\r\n\(length)")]
            }) { upstream in
                let response = try await transport.execute(
                    TransportRequest(url: upstream.baseURL + "/big", body: ByteBuffer(string: big)),
                    deadline: .now + ample, logger: logger)
                #expect(String(buffer: try await response.collect(upTo: 1024)) == String(big.utf8.count))
                // The upstream read exactly the body: the next request on the connection parses.
                try await expectBody(transport, upstream, "7")
                #expect(upstream.connectionCount == 1)
            }
        }
    }

    @Test func chunkedBodiesWithExtensionsAndTrailersAndInterimResponses() async throws {
        let response =
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "9;ext=1\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n0\r\nX-Trailer: yes\r\n\r\n"
        try await withTransport { transport in
            try await RawUpstream.withServer(group: transportTestLoops, { _, _ in [.send(response)] }) { upstream in
                for _ in 0..<3 {
                    let (head, body) = try await call(transport, upstream)
                    #expect(head.status == 200)
                    #expect(head.headers[.contentType] == "text/event-stream")
                    #expect(body == "data: 1\n\ndata: 2\n\n")
                }
                #expect(upstream.connectionCount == 1)
            }
        }
    }

    @Test func chunksOfOneReadReachTheReaderTogether() async throws {
        try await withTransport { transport in
            try await RawUpstream.withServer(group: transportTestLoops, { _, _ in
                [
                    .send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), .pause(.milliseconds(50)),
                    .send("3\r\nabc\r\n3\r\ndef\r\n3\r\nghi\r\n"), .pause(.milliseconds(50)), .send("0\r\n\r\n"),
                ]
            }) { upstream in
                let response = try await transport.execute(
                    TransportRequest(url: upstream.baseURL + "/x", body: ByteBuffer(string: "{}")),
                    deadline: .now + ample, logger: logger)
                var reads: [String] = []
                for try await chunk in response.body { reads.append(String(buffer: chunk)) }
                #expect(reads == ["abcdefghi"])
            }
        }
    }

    @Test func aBodyEndedByTheCloseIsComplete() async throws {
        try await withTransport { transport in
            try await RawUpstream.withServer(group: transportTestLoops, { _, _ in
                [.send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil "), .pause(.milliseconds(20)), .send("close"), .close]
            }) { upstream in
                try await expectBody(transport, upstream, "until close")
                try await expectBody(transport, upstream, "until close")
                #expect(upstream.connectionCount == 2)
            }
        }
    }

    @Test func aChunkedBodyCutShortIsAFailure() async throws {
        try await withTransport { transport in
            try await RawUpstream.withServer(group: transportTestLoops, { _, _ in
                [.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"), .close]
            }) { upstream in
                await expectTransportFailure(.closed, messageContains: "mid-response") {
                    _ = try await call(transport, upstream)
                }
            }
        }
    }

    @Test func malformedResponsesFailAndAreNotReused() async throws {
        try await withTransport { transport in
            try await RawUpstream.withServer(group: transportTestLoops, { index, _ in
                index == 0
                    ? [.send("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Length: 13\r\n\r\n")]
                    : [.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")]
            }) { upstream in
                await expectTransportFailure(.other, messageContains: "conflicting Content-Length") {
                    _ = try await call(transport, upstream)
                }
                try await expectBody(transport, upstream, "ok")
                #expect(upstream.connectionCount == 2)
            }
        }
    }

    @Test func bytesBeyondTheResponseRetireTheConnection() async throws {
        try await withTransport { transport in
            try await RawUpstream.withServer(group: transportTestLoops, { index, _ in
                let actions: [RawUpstream.Action] =
                    switch index {
                    case 0: [.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA")]
                    case 1: [.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), .pause(.milliseconds(20)), .send("LATE")]
                    default: [.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")]
                    }
                return actions
            }) { upstream in
                // Extra bytes in the same read: the response is whole, the connection retired.
                try await expectBody(transport, upstream, "ok")
                // Bytes arriving while the connection waits in the pool: it is closed there.
                try await expectBody(transport, upstream, "ok")
                try await Task.sleep(for: .milliseconds(200))
                try await expectBody(transport, upstream, "ok")
                #expect(upstream.connectionCount == 3)
            }
        }
    }

    @Test func http10AndConnectionCloseAreNotReused() async throws {
        try await withTransport { transport in
            try await RawUpstream.withServer(group: transportTestLoops, { index, _ in
                let actions: [RawUpstream.Action] =
                    switch index {
                    case 0: [.send("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")]
                    case 1: [.send("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok")]
                    default: [.send("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")]
                    }
                return actions
            }) { upstream in
                for _ in 0..<3 { try await expectBody(transport, upstream, "ok") }
                // The 1.0 keep-alive connection carried the third request.
                #expect(upstream.connectionCount == 2)
            }
        }
    }
}

@Suite struct EventStreamContentTypeTests {
    @Test func eventStreamIsRecognisedInAnyCase() {
        for value in [
            "text/event-stream", "text/event-stream; charset=utf-8", "Text/Event-Stream", "TEXT/EVENT-STREAM;charset=UTF-8",
            " text/event-stream", "application/x-foo, text/event-stream",
        ] {
            #expect(TransportResponse.namesEventStream(value), "\(value)")
        }
        for value in ["", "application/json", "text/event", "text/event_stream", "text/eventXstream", "text/plain; x=event-stream", "text/event-strea"] {
            #expect(!TransportResponse.namesEventStream(value), "\(value)")
        }
    }
}

@Suite struct UpstreamURLTests {
    @Test func splitsSchemeHostPortAndTarget() throws {
        let plain = try UpstreamURL(parsing: "http://127.0.0.1:8080/v1/chat/completions?a=b#frag")
        #expect(!plain.secure && plain.host == "127.0.0.1" && plain.port == 8080)
        #expect(plain.target == "/v1/chat/completions?a=b")
        #expect(plain.hostHeader == "127.0.0.1:8080")
        #expect(plain.hostIsIPLiteral)

        let secure = try UpstreamURL(parsing: "https://api.openai.com")
        #expect(secure.secure && secure.host == "api.openai.com" && secure.port == 443 && secure.target == "/")
        #expect(secure.hostHeader == "api.openai.com")
        #expect(!secure.hostIsIPLiteral)

        let query = try UpstreamURL(parsing: "https://user:pw@example.com?x=1")
        #expect(query.host == "example.com")
        #expect(query.target == "/?x=1")

        let v6 = try UpstreamURL(parsing: "http://[::1]:9000/v1")
        #expect(v6.host == "::1")
        #expect(v6.port == 9000)
        #expect(v6.hostHeader == "[::1]:9000")
        #expect(v6.hostIsIPLiteral)
    }

    /// The transport keeps parsed URLs: a repeat gets the same answer, a bad URL is
    /// refused every time (nothing is cached for it), and many distinct URLs (a query
    /// per request) neither fail nor mix up.
    @Test func parsedURLsAreCachedAndBadOnesStayRefused() async throws {
        let transport = NIOHTTPTransport(eventLoopGroup: transportTestLoops)
        let text = "https://api.example.com:8443/v1/chat/completions"
        let first = try transport.parsedURL(text)
        #expect(try transport.parsedURL(text) == first)
        #expect(first.hostHeader == "api.example.com:8443" && first.target == "/v1/chat/completions")
        for _ in 0..<2 {
            #expect(throws: UpstreamURL.Invalid.self) { try transport.parsedURL("ftp://example.com/") }
            #expect(throws: UpstreamURL.Invalid.self) { try transport.parsedURL("http://example.com:99999/") }
        }
        for n in 0..<600 {
            let url = try transport.parsedURL("http://127.0.0.1:\(1000 + n)/v1/x?n=\(n)")
            #expect(url.port == 1000 + n && url.target == "/v1/x?n=\(n)")
        }
        #expect(try transport.parsedURL(text) == first)
        await transport.shutdown()
    }
}

@Suite struct ProxyTransportTests {
    @Test func parsesProxyURLs() throws {
        let http = try ProxyURL(parsing: "http://us%40er:p%3Ass@proxy.internal:3128")
        #expect(http.kind == .http && http.host == "proxy.internal" && http.port == 3128)
        #expect(http.username == "us@er" && http.password == "p:ss")
        let socks = try ProxyURL(parsing: "socks5://10.0.0.1:1080")
        #expect(socks.kind == .socks5)
        #expect(socks.host == "10.0.0.1")
        #expect(socks.port == 1080)
        #expect(throws: TransportError.self) { try ProxyURL(parsing: "ftp://proxy:21") }
        #expect(throws: TransportError.self) { try ProxyURL(parsing: "http://proxy") }
    }

    @Test func proxiedProvidersTunnelThroughTheirProxy() async throws {
        let transport = RoutingTransport(direct: NIOHTTPTransport(eventLoopGroup: transportTestLoops))
        let outcome = await Result(catching: {
            try await MockUpstream.withServer(group: transportTestLoops, { _ in .json(200, #"{"via":"proxy"}"#) }) { upstream in
                try await MockConnectProxy.withProxy { proxy in
                    let request = TransportRequest(
                        url: upstream.baseURL + "/v1/chat/completions", body: ByteBuffer(string: "{}"), proxy: proxy.url)
                    let response = try await transport.execute(
                        request, deadline: .now + ample, logger: Logger(label: "t"))
                    #expect(String(buffer: try await response.collect(upTo: 1024)) == #"{"via":"proxy"}"#)
                    #expect(proxy.tunnels == ["127.0.0.1:\(upstream.listeningPort)"])
                    #expect(upstream.requests.first?.uri == "/v1/chat/completions")
                }
            }
        })
        await transport.shutdown()
        try outcome.get()
    }

    @Test func unproxiedProvidersGoDirect() async throws {
        let transport = RoutingTransport(direct: NIOHTTPTransport(eventLoopGroup: transportTestLoops))
        try await MockUpstream.withServer(group: transportTestLoops, { _ in .json(200, "{}") }) { upstream in
            let response = try await transport.execute(
                TransportRequest(url: upstream.baseURL + "/v1/models", headers: [:]), deadline: .now + ample,
                logger: Logger(label: "t"))
            #expect(response.status == 200)
            #expect(upstream.requests.first?.uri == "/v1/models")
        }
        await transport.shutdown()
    }

    @Test func invalidProxyIsATransportError() async throws {
        let transport = RoutingTransport(direct: NIOHTTPTransport(eventLoopGroup: transportTestLoops))
        await #expect(throws: TransportError.self) {
            _ = try await transport.execute(
                TransportRequest(url: "http://x/v1/models", proxy: "gopher://p:1"), deadline: .now + ample,
                logger: Logger(label: "t"))
        }
        await transport.shutdown()
    }
}

/// Runs `body`, expecting it to fail with a ``TransportError`` of `kind`.
func expectTransportFailure(
    _ kind: TransportError.Kind, messageContains fragment: String? = nil, _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("expected a \(kind) failure")
    } catch let error as TransportError {
        #expect(error.kind == kind, "\(error)")
        if let fragment { #expect(error.message.contains(fragment), "\(error)") }
    } catch {
        Issue.record("expected a \(kind) TransportError, got \(error)")
    }
}

/// Polls `condition` for up to two seconds.
func waitUntil(_ condition: @Sendable () -> Bool) async throws {
    for _ in 0..<200 {
        if condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("condition not met within 2 s")
}
