public import NIOCore
import NIOHTTP1
public import NIOPosix
public import NIOSSL
import Synchronization

/// A real HTTP/1.1 server on a loopback port, scripted per request: the upstream that
/// tests point the gateway at.
///
/// ```swift
/// try await MockUpstream.withServer { request in .json(200, #"{"ok":true}"#) } body: { upstream in
///     // upstream.baseURL is http://127.0.0.1:<port>
/// }
/// ```
public final class MockUpstream: Sendable {
    /// A request as the upstream received it.
    public struct Request: Sendable {
        public var method: String
        public var uri: String
        public var headers: [(String, String)]
        public var body: ByteBuffer

        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        public var bodyString: String { String(buffer: body) }
    }

    /// What to answer.
    public struct Response: Sendable {
        public enum Piece: Sendable {
            case bytes(ByteBuffer)
            case delay(Duration)
            /// Close the connection abruptly (no proper end of the response).
            case close
        }

        public var status: Int
        public var headers: [(String, String)]
        public var pieces: [Piece]

        public init(status: Int, headers: [(String, String)] = [], pieces: [Piece]) {
            self.status = status
            self.headers = headers
            self.pieces = pieces
        }

        public static func json(_ status: Int, _ body: String, headers: [(String, String)] = []) -> Response {
            Response(
                status: status, headers: [("Content-Type", "application/json")] + headers,
                pieces: [.bytes(ByteBuffer(string: body))])
        }

        public static func text(_ status: Int, _ body: String, contentType: String = "text/plain") -> Response {
            Response(status: status, headers: [("Content-Type", contentType)], pieces: [.bytes(ByteBuffer(string: body))])
        }

        /// Closes the connection without answering (a dropped request).
        public static let drop = Response(status: 0, pieces: [.close])

        /// An event stream: each event is sent as `data: <event>\n\n`, with `delay` between events.
        public static func sse(_ events: [String], delay: Duration = .zero, terminate: Bool = true) -> Response {
            var pieces: [Piece] = []
            for event in events {
                if delay > .zero { pieces.append(.delay(delay)) }
                pieces.append(.bytes(ByteBuffer(string: "data: \(event)\n\n")))
            }
            if terminate { pieces.append(.bytes(ByteBuffer(string: "data: [DONE]\n\n"))) }
            return Response(status: 200, headers: [("Content-Type", "text/event-stream")], pieces: pieces)
        }
    }

    public typealias Responder = @Sendable (Request) async -> Response

    /// A responder that answers `response` only after `delay` (an upstream slow to start).
    public static func slow(_ delay: Duration, _ response: Response) -> Responder {
        { _ in
            try? await Task.sleep(for: delay)
            return response
        }
    }

    private let port: Int
    private let secure: Bool
    private let recorded = Mutex<[Request]>([])
    private let interrupted = Mutex(0)
    private let accepted = Mutex(0)

    private init(port: Int, secure: Bool) {
        self.port = port
        self.secure = secure
    }

    /// `http://127.0.0.1:<port>`, or `https://localhost:<port>` when the server speaks TLS
    /// (the name in ``TestCertificate``).
    public var baseURL: String { secure ? "https://localhost:\(port)" : "http://127.0.0.1:\(port)" }

    /// The listening port.
    public var listeningPort: Int { port }

    /// How many connections the server accepted so far.
    public var connectionCount: Int { accepted.withLock { $0 } }

    /// Every request received so far.
    public var requests: [Request] { recorded.withLock { $0 } }

    /// How many requests went to a path ending in `suffix`.
    public func count(pathSuffix suffix: String) -> Int {
        recorded.withLock { $0.filter { $0.uri.hasSuffix(suffix) }.count }
    }

    /// Responses whose client went away before they were completely written.
    public var interruptedResponses: Int { interrupted.withLock { $0 } }

    /// Starts a server, runs `body`, and stops the server.
    ///
    /// - Parameters:
    ///   - tls: serve HTTPS with this context (see ``TestCertificate``).
    ///   - group: the event loops that accept and read connections. Tests whose timing
    ///     matters pass a group of their own: on the shared singleton, a gateway under
    ///     test in another suite runs its requests' work (on a debug build, seconds of it
    ///     for a large body) on the same loops.
    public static func withServer<T: Sendable>(
        tls: NIOSSLContext? = nil, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ responder: @escaping Responder, body: (MockUpstream) async throws -> T
    ) async throws -> T {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        let upstream = MockUpstream(port: server.channel.localAddress?.port ?? 0, secure: tls != nil)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await withThrowingDiscardingTaskGroup { connections in
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            upstream.accepted.withLock { $0 += 1 }
                            connections.addTask { await upstream.serve(connection, responder) }
                        }
                    }
                }
            }
            defer { group.cancelAll() }
            return try await body(upstream)
        }
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, _ responder: Responder)
        async
    {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let h):
                    head = h
                    body.clear()
                case .body(var chunk):
                    body.writeBuffer(&chunk)
                case .end:
                    guard let head else { continue }
                    let request = Request(
                        method: head.method.rawValue, uri: head.uri, headers: head.headers.map { ($0.name, $0.value) },
                        body: body)
                    recorded.withLock { $0.append(request) }
                    let response = await responder(request)
                    let completed = await write(response, to: outbound)
                    if !completed {
                        interrupted.withLock { $0 += 1 }
                        return
                    }
                }
            }
        }
    }

    /// Writes a response; false when the client went away or the script closed early.
    private func write(_ response: Response, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async -> Bool {
        if response.status == 0 { return false }
        var headers = HTTPHeaders(response.headers)
        let closesEarly = response.pieces.contains { if case .close = $0 { return true } else { return false } }
        let streams = response.pieces.contains { if case .delay = $0 { return true } else { return false } }
        if !closesEarly && !streams {
            let length = response.pieces.reduce(0) { if case .bytes(let b) = $1 { return $0 + b.readableBytes } else { return $0 } }
            headers.replaceOrAdd(name: "Content-Length", value: String(length))
        } else {
            headers.replaceOrAdd(name: "Transfer-Encoding", value: "chunked")
        }
        let head = HTTPResponseHead(
            version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        do {
            try await outbound.write(.head(head))
            for piece in response.pieces {
                switch piece {
                case .bytes(let bytes):
                    try await outbound.write(.body(.byteBuffer(bytes)))
                case .delay(let duration):
                    try await Task.sleep(for: duration)
                case .close:
                    // Give the bytes already written time to leave before the abrupt
                    // close (closing discards writes still queued in the channel).
                    try? await Task.sleep(for: .milliseconds(50))
                    return false
                }
            }
            try await outbound.write(.end(nil))
            return true
        } catch {
            return false
        }
    }
}
