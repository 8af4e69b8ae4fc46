import AsyncHTTPClient
import Balancing
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import OrchestratorCore
import OrchestratorTesting
import Persistence
import Synchronization
import Testing

@testable import orchestratord

/// The NIO data plane in front of Hummingbird, spoken to over raw TCP so that
/// pipelining, `Connection: close` and chunked bodies are exercised byte for byte.
@Suite(.serialized)
struct DataPlaneTests {
    static let auth = "Authorization: Bearer sk-test-client-000111\r\n"

    static func post(_ body: String, extraHeaders: String = "") -> String {
        "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n\(auth)Content-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\(extraHeaders)\r\n\(body)"
    }

    static func get(_ path: String) -> String {
        "GET \(path) HTTP/1.1\r\nHost: gw\r\n\(auth)\r\n"
    }

    @Test func pipelinedRequestsOnBothPathsAnswerInOrder() async throws {
        let events = OpenAIFixtures.chunks(["a", "b"])
        try await MockUpstream.withServer({ request in
            request.bodyString.contains(#""stream":true"#)
                ? .sse(events, delay: .milliseconds(5)) : .json(200, OpenAIFixtures.completion(content: "from primary"))
        }) { upstream in
            try await withGateway(gatewayConfig(primary: upstream.baseURL, secondary: upstream.baseURL)) { gateway, url in
                try await RawConnection.with(url) { connection in
                    // Five requests in one write: the hot route, Hummingbird's routes,
                    // a rejected body and a stream, interleaved.
                    try await connection.send(
                        Self.post(chatRequest) + Self.get("/healthz") + Self.post(#"{"model":"chat","messages":"nope"}"#)
                            + Self.get("/v1/models") + Self.post(streamRequest))
                    let replies = try await connection.read(5)
                    #expect(replies.map(\.status) == [200, 200, 400, 200, 200])
                    #expect(replies[0].body == OpenAIFixtures.completion(content: "from primary"))
                    #expect(replies[0].header("x-orchestrator-provider") == "primary")
                    #expect(replies[1].body == #"{"status":"ok"}"#)
                    #expect(replies[2].body.contains(#""param":"messages""#))
                    #expect(replies[3].body.contains(#""id":"chat""#))
                    #expect(replies[4].header("content-type") == "text/event-stream")
                    #expect(replies[4].body.hasSuffix("data: [DONE]\n\n"))
                    for index in [0, 2, 4] { #expect(replies[index].header("x-request-id") != nil) }
                }
                try await waitForLogRows(gateway, 3)
                let rows = try await gateway.store.logs(RequestLogQuery())
                #expect(rows.map(\.status).sorted() == [200, 200, 400])
            }
        }
    }

    @Test func connectionCloseIsHonoured() async throws {
        try await MockUpstream.withServer({ _ in .json(200, OpenAIFixtures.completion(content: "x")) }) { upstream in
            try await withGateway(gatewayConfig(primary: upstream.baseURL, secondary: upstream.baseURL)) { _, url in
                try await RawConnection.with(url) { connection in
                    try await connection.send(Self.post(chatRequest, extraHeaders: "Connection: close\r\n"))
                    let replies = try await connection.read(1)
                    #expect(replies.first?.status == 200)
                    #expect(try await connection.isClosedByPeer())
                }
                // The router's routes too, however the client spells it.
                try await RawConnection.with(url) { connection in
                    try await connection.send("GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: Close, TE\r\nTE: trailers\r\n\r\n")
                    let replies = try await connection.read(1)
                    #expect(replies.first?.status == 200)
                    #expect(try await connection.isClosedByPeer())
                }
            }
        }
    }

    @Test func http10ClientsGetNoChunksAndTheClose() async throws {
        let events = OpenAIFixtures.chunks(["a", "b"])
        try await MockUpstream.withServer({ request in
            request.bodyString.contains(#""stream":true"#) ? .sse(events) : .json(200, OpenAIFixtures.completion(content: "x"))
        }) { upstream in
            try await withGateway(gatewayConfig(primary: upstream.baseURL, secondary: upstream.baseURL)) { _, url in
                // A stream on the data plane has no length: the close ends it.
                try await RawConnection.with(url) { connection in
                    try await connection.send(Self.post(streamRequest).replacingOccurrences(of: "HTTP/1.1", with: "HTTP/1.0"))
                    let text = try await connection.readText(until: "data: [DONE]\n\n")
                    #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
                    #expect(!text.lowercased().contains("transfer-encoding"))
                    #expect(text.lowercased().contains("connection: close\r\n"))
                    #expect(try await connection.isClosedByPeer())
                }
                // The router's routes: kept alive when asked, closed otherwise.
                try await RawConnection.with(url) { connection in
                    try await connection.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                    let first = try await connection.read(1)
                    #expect(first.first?.status == 200)
                    #expect(first.first?.header("connection")?.lowercased() == "keep-alive")
                    try await connection.send("GET /healthz HTTP/1.0\r\n\r\n")
                    let second = try await connection.read(1)
                    #expect(second.first?.body == #"{"status":"ok"}"#)
                    #expect(try await connection.isClosedByPeer())
                }
            }
        }
    }

    @Test func aClientExpectingContinueGetsItBeforeSendingItsBody() async throws {
        try await MockUpstream.withServer({ _ in .json(200, OpenAIFixtures.completion(content: "x")) }) { upstream in
            try await withGateway(gatewayConfig(primary: upstream.baseURL, secondary: upstream.baseURL)) { _, url in
                try await RawConnection.with(url) { connection in
                    let request = Self.post(chatRequest, extraHeaders: "Expect: 100-continue\r\n")
                    let headEnd = request.range(of: "\r\n\r\n")!.upperBound
                    try await connection.send(String(request[..<headEnd]))
                    let interim = try await connection.read(1)
                    #expect(interim.first?.status == 100)
                    try await connection.send(String(request[headEnd...]))
                    let reply = try await connection.read(1)
                    #expect(reply.first?.status == 200)
                    #expect(reply.first?.body == OpenAIFixtures.completion(content: "x"))
                }
            }
        }
    }

    @Test func smugglingFramesAre400AndEndTheConnection() async throws {
        try await MockUpstream.withServer({ _ in .json(200, OpenAIFixtures.completion(content: "x")) }) { upstream in
            try await withGateway(gatewayConfig(primary: upstream.baseURL, secondary: upstream.baseURL)) { gateway, url in
                for framing in ["Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", "Transfer-Encoding: gzip\r\n"] {
                    try await RawConnection.with(url) { connection in
                        try await connection.send(
                            "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n\(Self.auth)\(framing)\r\n0\r\n\r\n" + Self.get("/healthz"))
                        let replies = try await connection.read(1)
                        #expect(replies.first?.status == 400)
                        // In the documented error shape, with a request id.
                        #expect(replies.first?.body.contains(#""type":"invalid_request_error""#) == true)
                        #expect(replies.first?.header("x-request-id") != nil)
                        #expect(try await connection.isClosedByPeer())
                    }
                }
                #expect(gateway.logWriter.rowsWritten == 0)
            }
        }
    }

    @Test func headResponsesCarryNoBody() async throws {
        try await MockUpstream.withServer({ _ in .json(200, OpenAIFixtures.completion(content: "x")) }) { upstream in
            try await withGateway(gatewayConfig(primary: upstream.baseURL, secondary: upstream.baseURL)) { _, url in
                try await RawConnection.with(url) { connection in
                    try await connection.send("HEAD /healthz HTTP/1.1\r\nHost: gw\r\n\r\n" + Self.get("/healthz"))
                    let text = try await connection.readText(until: #"{"status":"ok"}"#)
                    // Two responses, and only the second one's body.
                    #expect(text.components(separatedBy: "HTTP/1.1 ").count == 3, "\(text)")
                    #expect(text.components(separatedBy: #"{"status":"ok"}"#).count == 2, "\(text)")
                }
            }
        }
    }

    @Test func aClientThatHalfClosesStillGetsItsAnswers() async throws {
        try await MockUpstream.withServer(MockUpstream.slow(.milliseconds(100), .json(200, OpenAIFixtures.completion(content: "late")))) { upstream in
            try await withGateway(gatewayConfig(primary: upstream.baseURL, secondary: upstream.baseURL)) { _, url in
                try await RawConnection.with(url) { connection in
                    // A chat request, a pipelined router request, then the client's side shuts.
                    try await connection.send(Self.post(chatRequest) + Self.get("/healthz"))
                    try await connection.channel.close(mode: .output)
                    let replies = try await connection.read(2)
                    #expect(replies.map(\.status) == [200, 200])
                    #expect(replies.first?.body == OpenAIFixtures.completion(content: "late"))
                }
            }
        }
    }

    @Test func oversizedBodyIs413AndTheConnectionStaysUsable() async throws {
        try await MockUpstream.withServer({ _ in .json(200, OpenAIFixtures.completion(content: "x")) }) { upstream in
            let config = gatewayConfig(primary: upstream.baseURL, secondary: upstream.baseURL, extra: "server: { max_body_bytes: 2048 }")
            try await withGateway(config) { gateway, url in
                try await RawConnection.with(url) { connection in
                    let big = #"{"model":"chat","messages":[{"role":"user","content":""# + String(repeating: "x", count: 5000) + #""}]}"#
                    try await connection.send(Self.post(big) + Self.post(chatRequest))
                    let replies = try await connection.read(2)
                    #expect(replies.map(\.status) == [413, 200])
                    #expect(replies[0].body.contains(#""type":"invalid_request_error""#))
                }
                try await waitForLogRows(gateway, 2)
                let rows = try await gateway.store.logs(RequestLogQuery())
                #expect(rows.map(\.status).sorted() == [200, 413])
                #expect(upstream.requests.count == 1)
            }
        }
    }

    @Test func chunkedRequestBodiesAreCollected() async throws {
        try await MockUpstream.withServer({ _ in .json(200, OpenAIFixtures.completion(content: "x")) }) { upstream in
            try await withGateway(gatewayConfig(primary: upstream.baseURL, secondary: upstream.baseURL)) { _, url in
                try await RawConnection.with(url) { connection in
                    let body = Array(chatRequest.utf8)
                    let head = "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n\(Self.auth)Transfer-Encoding: chunked\r\n\r\n"
                    try await connection.send(head)
                    for piece in stride(from: 0, to: body.count, by: 10).map({ body[$0..<min($0 + 10, body.count)] }) {
                        try await connection.send(String(piece.count, radix: 16) + "\r\n" + String(decoding: piece, as: UTF8.self) + "\r\n")
                    }
                    try await connection.send("0\r\n\r\n")
                    let replies = try await connection.read(1)
                    #expect(replies.first?.status == 200)
                }
                #expect(upstream.requests.first?.bodyString.contains(#""content":"hello""#) == true)
            }
        }
    }

    @Test func aBrokenChunkedBodyIsA400WithARequestIDThenClose() async throws {
        try await MockUpstream.withServer({ _ in .json(200, "{}") }) { upstream in
            try await withGateway(gatewayConfig(primary: upstream.baseURL, secondary: upstream.baseURL)) { _, url in
                try await RawConnection.with(url) { connection in
                    let head = "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n\(Self.auth)Transfer-Encoding: chunked\r\n"
                        + "x-request-id: broken-1\r\n\r\n"
                    try await connection.send(head + "5\r\n{\"a\":\r\nzz\r\n")
                    let replies = try await connection.read(1)
                    #expect(replies.first?.status == 400)
                    #expect(replies.first?.header("x-request-id") == "broken-1")
                    #expect(replies.first?.body.contains(#""type":"invalid_request_error""#) == true)
                    #expect(try await connection.isClosedByPeer())
                }
                #expect(upstream.requests.isEmpty)
            }
        }
    }

    @Test func clientLeavingBeforeTheStreamStartsIsLoggedAs499() async throws {
        let events = OpenAIFixtures.chunks(["late"])
        try await MockUpstream.withServer({ _ in
            MockUpstream.Response(
                status: 200, headers: [("Content-Type", "text/event-stream")],
                pieces: [.delay(.milliseconds(400))] + events.map { .bytes(ByteBuffer(string: "data: \($0)\n\n")) }
                    + [.bytes(ByteBuffer(string: "data: [DONE]\n\n"))])
        }) { upstream in
            try await withGateway(gatewayConfig(primary: upstream.baseURL, secondary: upstream.baseURL)) { gateway, url in
                try await RawConnection.with(url) { connection in
                    try await connection.send(Self.post(streamRequest))
                    try await Task.sleep(for: .milliseconds(100))
                }
                try await waitForLogRows(gateway, 1)
                let row = try #require(try await gateway.store.logs(RequestLogQuery()).first)
                #expect(row.status == 499 && row.stream)
                #expect(gateway.engine.currentTable.providers["primary"]?.keys.leasesInFlight == 0, "the key lease is released")
            }
        }
    }

    /// Stream parts are flushed on the next event-loop turn, not held for the end: an
    /// event reaches the client while the upstream is still waiting to send the next.
    @Test func eachStreamEventReachesTheClientBeforeTheNextIsSent() async throws {
        let events = OpenAIFixtures.chunks(["first-piece", "second-piece"], usage: false)
        try await MockUpstream.withServer({ _ in
            MockUpstream.Response(
                status: 200, headers: [("Content-Type", "text/event-stream")],
                pieces: [
                    .bytes(ByteBuffer(string: "data: \(events[0])\n\ndata: \(events[1])\n\n")), .delay(.seconds(3)),
                    .bytes(ByteBuffer(string: events[2...].map { "data: \($0)\n\n" }.joined() + "data: [DONE]\n\n")),
                ])
        }) { upstream in
            try await withGateway(gatewayConfig(primary: upstream.baseURL, secondary: upstream.baseURL)) { gateway, url in
                try await RawConnection.with(url) { connection in
                    let sent = ContinuousClock.now
                    try await connection.send(Self.post(streamRequest))
                    let early = try await connection.readText(until: "first-piece")
                    // Well before the rest (3 s later), with room for a loaded machine.
                    #expect(sent.duration(to: .now) < .seconds(2), "the first event was held back")
                    #expect(early.contains("HTTP/1.1 200") && !early.contains("second-piece"))
                    let rest = try await connection.readText(until: "data: [DONE]")
                    #expect(rest.contains("second-piece"))
                }
            }
        }
    }

    /// A silent stream gets `: ping` comments, between whole events, and none once
    /// events flow or after the end; the events themselves arrive unchanged.
    @Test func aSilentStreamIsKeptAliveWithComments() async throws {
        let events = OpenAIFixtures.chunks(["first-piece", "second-piece"], usage: false)
        try await MockUpstream.withServer({ _ in
            MockUpstream.Response(
                status: 200, headers: [("Content-Type", "text/event-stream")],
                pieces: [
                    .bytes(ByteBuffer(string: "data: \(events[0])\n\ndata: \(events[1])\n\n")), .delay(.milliseconds(1_300)),
                    .bytes(ByteBuffer(string: events[2...].map { "data: \($0)\n\n" }.joined() + "data: [DONE]\n\n")),
                ])
        }) { upstream in
            let config = gatewayConfig(
                primary: upstream.baseURL, secondary: upstream.baseURL, extra: "server: { stream_keepalive_s: 0.25 }")
            try await withGateway(config) { _, url in
                try await RawConnection.with(url) { connection in
                    // Twice on one kept-alive connection: the second stream is kept alive
                    // as the first was.
                    for round in 1...2 {
                        try await connection.send(Self.post(streamRequest))
                        let text = try await connection.readText(until: "data: [DONE]")
                        let pings = text.components(separatedBy: ": ping\n\n").count - 1
                        #expect(pings >= 2 && pings <= 6, "stream \(round): \(pings) pings in 1.3 s of silence at 0.25 s")
                        // Pings sit between events, never inside one, and not after the last.
                        let firstAt = try #require(text.range(of: "first-piece"))
                        let secondAt = try #require(text.range(of: "second-piece"))
                        let between = text[firstAt.upperBound..<secondAt.lowerBound]
                        #expect(between.components(separatedBy: ": ping\n\n").count - 1 == pings)
                        #expect(!text[secondAt.lowerBound...].contains(": ping"))
                    }
                    // Nothing between responses: once the stream ended, its connection's
                    // keep-alive goes quiet even while the connection stays open.
                    try await Task.sleep(for: .milliseconds(700))
                    try await connection.send(Self.post(#"{"model":"demo-model","messages":[{"role":"user","content":"hi"}]}"#))
                    let reply = try await connection.readText(until: "}")
                    #expect(reply.contains("HTTP/1.1 200"), "\(reply.prefix(160))")
                    #expect(!reply.contains(": ping"))
                }
                // A stream that never goes silent gets none.
                try await RawConnection.with(url) { connection in
                    try await connection.send(Self.post(#"{"model":"demo-model","stream":true,"messages":[{"role":"user","content":"hi"}]}"#))
                    let text = try await connection.readText(until: "data: [DONE]")
                    #expect(!text.contains(": ping"))
                }
            }
        }
    }

    /// Slowloris: a client trickling its request head or body is cut off at the
    /// deadlines, while other clients are served meanwhile.
    @Test func slowClientsAreCutOffWhileOthersAreServed() async throws {
        try await MockUpstream.withServer({ _ in .json(200, OpenAIFixtures.completion(content: "hi")) }) { upstream in
            let config = gatewayConfig(
                primary: upstream.baseURL, secondary: upstream.baseURL,
                extra: "server: { header_timeout_s: 0.5, read_timeout_s: 1.5 }")
            try await withGateway(config) { _, url in
                /// Sends `prefix`, then one byte every 100 ms; the seconds until the gateway
                /// closed the connection (nil: still open after 4 s).
                @Sendable func trickle(_ prefix: String) async throws -> Double? {
                    var closedAfter: Double?
                    try await RawConnection.with(url) { connection in
                        let start = ContinuousClock.now
                        try await connection.send(prefix)
                        for _ in 0..<40 {
                            try? await connection.send("a")
                            try await Task.sleep(for: .milliseconds(100))
                            if !connection.channel.isActive {
                                closedAfter = Double(start.duration(to: .now).totalMilliseconds) / 1000
                                return
                            }
                        }
                    }
                    return closedAfter
                }
                async let slowHead = trickle("POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nX-Slow: ")
                async let slowBody = trickle(
                    "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n\(Self.auth)Content-Type: application/json\r\nContent-Length: 400\r\n\r\n")
                // Normal clients meanwhile.
                for _ in 0..<5 {
                    #expect(try await Client.post(url + "/v1/chat/completions", #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#).status == 200)
                }
                let head = try #require(try await slowHead, "a trickled head must be cut off")
                let body = try #require(try await slowBody, "a trickled body must be cut off")
                #expect(head >= 0.4 && head < 3, "head cut after \(head) s (header_timeout_s 0.5)")
                #expect(body >= 1.4 && body < 4, "body cut after \(body) s (read_timeout_s 1.5)")
                // A client that is merely a little slow, within the deadlines, is served.
                try await RawConnection.with(url) { connection in
                    let request = Self.post(#"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#)
                    let split = request.index(request.startIndex, offsetBy: 30)
                    try await connection.send(String(request[..<split]))
                    try await Task.sleep(for: .milliseconds(200))
                    try await connection.send(String(request[split...]))
                    #expect(try await connection.read(1).first?.status == 200)
                }
            }
        }
    }

    /// Too many or too large header fields: 431 in the OpenAI shape, then the connection
    /// closes; ordinary requests are untouched.
    @Test func oversizedHeadersAre431() async throws {
        try await withGateway(gatewayConfig(primary: "http://127.0.0.1:9", secondary: "http://127.0.0.1:9")) { _, url in
            let body = #"{"model":"demo-model","messages":[{"role":"user","content":"hi"}]}"#
            let many = (0..<200).map { "X-Field-\($0): v\r\n" }.joined()
            let huge = "X-Huge: " + String(repeating: "a", count: 40_000) + "\r\n"
            for extra in [many, huge] {
                try await RawConnection.with(url) { connection in
                    try await connection.send(Self.post(body, extraHeaders: extra))
                    let reply = try #require(try await connection.read(1).first)
                    #expect(reply.status == 431)
                    #expect(reply.body.contains("request_header_fields_too_large"))
                    #expect(reply.header("connection") == "close")
                    #expect(try await connection.isClosedByPeer())
                }
            }
            let fine = (0..<40).map { "X-Field-\($0): v\r\n" }.joined()
            try await RawConnection.with(url) { connection in
                try await connection.send(Self.post(body, extraHeaders: fine))
                #expect(try await connection.read(1).first?.status == 200)
            }
        }
    }

    /// `server.max_connections`: one connection too many is closed at once; once one
    /// closes, a new one is served.
    @Test func connectionsBeyondTheLimitAreClosed() async throws {
        let config = gatewayConfig(
            primary: "http://127.0.0.1:9", secondary: "http://127.0.0.1:9", extra: "server: { max_connections: 2 }")
        let body = #"{"model":"demo-model","messages":[{"role":"user","content":"hi"}]}"#
        try await withGateway(config) { _, url in
            try await RawConnection.with(url) { first in
                try await first.send(Self.post(body))
                #expect(try await first.read(1).first?.status == 200)
                try await RawConnection.with(url) { second in
                    try await second.send(Self.post(body))
                    #expect(try await second.read(1).first?.status == 200)
                    // Closed at once (a reset, when the request was already on its way).
                    var closed = false
                    do {
                        try await RawConnection.with(url) { third in
                            try? await third.send(Self.post(body))
                            closed = try await third.isClosedByPeer()
                        }
                    } catch {
                        closed = true
                    }
                    #expect(closed, "a third connection is over the limit")
                }
            }
            // Both closed: new connections are served again.
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await Client.post(url + "/v1/chat/completions", body).status == 200)
        }
    }

    /// A client that reads slowly still gets every byte of a long stream: the gateway
    /// waits while the connection is not writable instead of dropping or buffering all.
    @Test func aSlowReaderGetsTheWholeStream() async throws {
        let piece = String(repeating: "x", count: 1000)
        let events = OpenAIFixtures.chunks(Array(repeating: piece, count: 3000), usage: false)
        try await MockUpstream.withServer({ _ in .sse(events) }) { upstream in
            try await withGateway(gatewayConfig(primary: upstream.baseURL, secondary: upstream.baseURL)) { gateway, url in
                try await RawConnection.with(url) { connection in
                    try await connection.send(Self.post(streamRequest))
                    // Nothing read for a while: socket buffers fill and the gateway must wait.
                    try await Task.sleep(for: .milliseconds(700))
                    let reply = try #require(try await connection.read(1).first)
                    #expect(reply.status == 200)
                    #expect(reply.body.components(separatedBy: piece).count - 1 == 3000)
                    #expect(reply.body.hasSuffix("data: [DONE]\n\n"))
                }
                try await waitForLogRows(gateway, 1)
                let row = try #require(try await gateway.store.logs(RequestLogQuery()).first)
                #expect(row.status == 200 && row.stream)
            }
        }
    }

    /// A client that stops reading mid-stream is cut off after the server's idle timeout
    /// (the write-stall check); the request is logged as 499 and its key lease released.
    @Test func aClientThatStopsReadingIsCutOff() async throws {
        let piece = String(repeating: "y", count: 1000)
        let events = OpenAIFixtures.chunks(Array(repeating: piece, count: 16000), usage: false)
        try await MockUpstream.withServer({ _ in .sse(events) }) { upstream in
            let config = gatewayConfig(
                primary: upstream.baseURL, secondary: upstream.baseURL, extra: "server: { idle_timeout_s: 1 }")
            try await withGateway(config) { gateway, url in
                try await RawConnection.with(url) { connection in
                    try await connection.send(Self.post(streamRequest))
                    // Never read; the gateway gives up on this client by itself.
                    try await waitForLogRows(gateway, 1, timeout: .seconds(20))
                }
                let row = try #require(try await gateway.store.logs(RequestLogQuery()).first)
                #expect(row.status == 499 && row.stream)
                #expect(gateway.engine.currentTable.providers["primary"]?.keys.leasesInFlight == 0, "the key lease is released")
            }
        }
    }

    /// `server.idle_timeout_s` closes a kept-alive connection that has gone quiet, after
    /// answering it on either path (the codec keeps the connection's state).
    @Test func anIdleKeptAliveConnectionIsClosed() async throws {
        try await MockUpstream.withServer({ _ in .json(200, OpenAIFixtures.completion()) }) { upstream in
            let config = gatewayConfig(
                primary: upstream.baseURL, secondary: upstream.baseURL, extra: "server: { idle_timeout_s: 1 }")
            try await withGateway(config) { _, url in
                try await RawConnection.with(url) { connection in
                    try await connection.send(Self.post(chatRequest) + Self.get("/healthz"))
                    #expect(try await connection.read(2).map(\.status) == [200, 200])
                    #expect(try await connection.isClosedByPeer(), "closed about 1 s after the last response")
                }
            }
        }
    }

    @Test func unauthenticatedChatIsRejectedInTheOpenAIShape() async throws {
        try await MockUpstream.withServer({ _ in .json(200, "{}") }) { upstream in
            try await withGateway(gatewayConfig(primary: upstream.baseURL, secondary: upstream.baseURL)) { gateway, url in
                try await RawConnection.with(url) { connection in
                    let request = "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: \(chatRequest.utf8.count)\r\n"
                        + "Authorization: Bearer sk-wrong\r\n\r\n\(chatRequest)"
                    try await connection.send(request + Self.get("/healthz"))
                    let replies = try await connection.read(2)
                    #expect(replies.map(\.status) == [401, 200])
                    #expect(replies[0].body.contains(#""code":"invalid_api_key""#))
                    #expect(replies[0].header("content-type") == "application/json")
                }
                #expect(upstream.requests.isEmpty)
                #expect(gateway.logWriter.rowsWritten == 0)
            }
        }
    }
}

/// One raw TCP connection to the gateway, with a minimal HTTP/1.1 response reader
/// (content-length and chunked bodies).
struct RawConnection {
    struct Reply {
        var status: Int
        var headers: [(String, String)]
        var body: String

        func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    let channel: any Channel
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    var buffer = ByteBuffer()

    static func with(_ url: String, _ body: (inout RawConnection) async throws -> Void) async throws {
        let port = Int(url.split(separator: ":").last ?? "") ?? 0
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await channel.executeThenClose { inbound, outbound in
            var connection = RawConnection(channel: channel.channel, outbound: outbound, inbound: inbound.makeAsyncIterator())
            try await body(&connection)
        }
    }

    func send(_ text: String) async throws {
        try await outbound.write(ByteBuffer(string: text))
    }

    /// Reads `count` complete responses.
    mutating func read(_ count: Int) async throws -> [Reply] {
        var replies: [Reply] = []
        while replies.count < count {
            if let reply = try parseOne() {
                replies.append(reply)
                continue
            }
            guard var chunk = try await inbound.next() else {
                Issue.record("connection closed after \(replies.count) of \(count) responses")
                return replies
            }
            buffer.writeBuffer(&chunk)
        }
        return replies
    }

    /// Reads until the received text (from the last call on) contains `needle`.
    mutating func readText(until needle: String) async throws -> String {
        while !String(buffer: buffer).contains(needle) {
            guard var chunk = try await inbound.next() else {
                Issue.record("connection closed before \(needle.debugDescription)")
                break
            }
            buffer.writeBuffer(&chunk)
        }
        let text = String(buffer: buffer)
        buffer.clear()
        return text
    }

    /// Whether the peer closes the connection within 2 s.
    mutating func isClosedByPeer() async throws -> Bool {
        let timedOut = Flag()
        let channel = self.channel
        let timer = Task {
            try await Task.sleep(for: .seconds(2))
            timedOut.set()
            try? await channel.close()
        }
        while try await inbound.next() != nil {}
        timer.cancel()
        return !timedOut.isSet
    }

    final class Flag: Sendable {
        private let state = Mutex(false)
        func set() { state.withLock { $0 = true } }
        var isSet: Bool { state.withLock { $0 } }
    }

    private mutating func parseOne() throws -> Reply? {
        let bytes = Array(buffer.readableBytesView)
        guard let headEnd = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else { return nil }
        let headText = String(decoding: bytes[..<headEnd.lowerBound], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        let status = statusLine.count > 1 ? Int(statusLine[1]) ?? 0 : 0
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var index = headEnd.upperBound
        var body: [UInt8] = []
        let lookup = { (name: String) in headers.first { $0.0.lowercased() == name }?.1 }
        if let length = lookup("content-length").flatMap(Int.init) {
            guard bytes.count >= index + length else { return nil }
            body = Array(bytes[index..<(index + length)])
            index += length
        } else if lookup("transfer-encoding")?.lowercased() == "chunked" {
            while true {
                guard let lineEnd = bytes[index...].firstRange(of: Array("\r\n".utf8)) else { return nil }
                let size = Int(String(decoding: bytes[index..<lineEnd.lowerBound], as: UTF8.self), radix: 16) ?? 0
                let dataStart = lineEnd.upperBound
                guard bytes.count >= dataStart + size + 2 else { return nil }
                if size == 0 {
                    index = dataStart + 2
                    break
                }
                body += bytes[dataStart..<(dataStart + size)]
                index = dataStart + size + 2
            }
        }
        buffer.moveReaderIndex(forwardBy: index)
        return Reply(status: status, headers: headers, body: String(decoding: body, as: UTF8.self))
    }
}

/// CORS exactly as `server.cors_origins` says, on the data plane and the router alike.
@Suite(.serialized)
struct CORSTests {
    static let chat = #"{"model":"demo-model","messages":[{"role":"user","content":"hi"}]}"#

    static func config(_ origins: String) -> String {
        gatewayConfig(primary: "http://127.0.0.1:9", secondary: "http://127.0.0.1:9", extra: "server: { cors_origins: \(origins) }")
    }

    static func send(_ method: HTTPMethod, _ url: String, headers: [(String, String)], body: String? = nil) async throws -> Client.Reply {
        try await Client.send(method, url, body: body.map { ByteBuffer(string: $0) }, headers: headers, timeout: .seconds(10))
    }

    @Test func listedOriginsAreEchoedOthersGetNothing() async throws {
        try await withGateway(Self.config(#"["https://app.example"]"#)) { _, url in
            let auth = ("Authorization", "Bearer sk-test-client-000111")
            let allowed = try await Self.send(
                .POST, url + "/v1/chat/completions", headers: [auth, ("Origin", "https://app.example")], body: Self.chat)
            #expect(allowed.status == 200)
            #expect(allowed.headers.first(name: "access-control-allow-origin") == "https://app.example")
            #expect(allowed.headers.first(name: "vary") == "Origin")
            #expect(allowed.headers.first(name: "access-control-expose-headers")?.contains("x-request-id") == true)
            #expect(allowed.headers.first(name: "access-control-allow-credentials") == nil, "never with credentials")
            let other = try await Self.send(
                .POST, url + "/v1/chat/completions", headers: [auth, ("Origin", "https://evil.example")], body: Self.chat)
            #expect(other.status == 200 && other.headers.first(name: "access-control-allow-origin") == nil)
            // Preflight, on an API route and an admin route.
            for path in ["/v1/chat/completions", "/admin/providers"] {
                let preflight = try await Self.send(
                    .OPTIONS, url + path,
                    headers: [("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST"),
                        ("Access-Control-Request-Headers", "authorization, content-type")])
                #expect(preflight.status == 204, "\(path)")
                #expect(preflight.headers.first(name: "access-control-allow-origin") == "https://app.example")
                #expect(preflight.headers.first(name: "access-control-allow-methods")?.contains("POST") == true)
                #expect(preflight.headers.first(name: "access-control-allow-headers")?.contains("authorization") == true)
                #expect(preflight.headers.first(name: "x-request-id") != nil)
            }
            let refused = try await Self.send(
                .OPTIONS, url + "/v1/chat/completions",
                headers: [("Origin", "https://evil.example"), ("Access-Control-Request-Method", "POST")])
            #expect(refused.status == 204 && refused.headers.first(name: "access-control-allow-origin") == nil)
            // Errors carry the grant too, so a page can read them.
            let error = try await Self.send(.GET, url + "/v1/models", headers: [("Origin", "https://app.example")])
            #expect(error.status == 401 && error.headers.first(name: "access-control-allow-origin") == "https://app.example")
        }
    }

    @Test func wildcardAndDisabled() async throws {
        try await withGateway(Self.config(#"["*"]"#)) { _, url in
            let reply = try await Self.send(
                .POST, url + "/v1/chat/completions",
                headers: [("Authorization", "Bearer sk-test-client-000111"), ("Origin", "https://any.example")], body: Self.chat)
            #expect(reply.headers.first(name: "access-control-allow-origin") == "*")
            #expect(reply.headers.first(name: "vary") == nil)
            // Not a browser (no Origin): no CORS header at all.
            let plain = try await Client.post(url + "/v1/chat/completions", Self.chat)
            #expect(plain.headers.first(name: "access-control-allow-origin") == nil)
        }
        try await withGateway(Self.config("[]")) { _, url in
            let reply = try await Self.send(
                .POST, url + "/v1/chat/completions",
                headers: [("Authorization", "Bearer sk-test-client-000111"), ("Origin", "https://any.example")], body: Self.chat)
            #expect(reply.status == 200 && reply.headers.first(name: "access-control-allow-origin") == nil)
            let preflight = try await Self.send(
                .OPTIONS, url + "/v1/chat/completions",
                headers: [("Origin", "https://any.example"), ("Access-Control-Request-Method", "POST")])
            #expect(preflight.headers.first(name: "access-control-allow-origin") == nil)
        }
    }
}
