public import NIOCore
public import NIOPosix
import Synchronization

/// An upstream on a loopback port that answers with bytes written by the test, not by an
/// HTTP library: for responses a library would not produce (interim responses, chunk
/// extensions, bodies ended by the close, malformed heads, bytes after the end).
///
/// It reads each request (head, then a `content-length` body) and plays the responder's
/// actions for it; after the last action it waits for the connection's next request,
/// unless an action closed it.
public final class RawUpstream: Sendable {
    public enum Action: Sendable {
        case send(String)
        case pause(Duration)
        case close
    }

    /// Given the request's number (from 0, over all connections) and its head as text.
    public typealias Responder = @Sendable (_ index: Int, _ head: String) async -> [Action]

    private let port: Int
    private let heads = Mutex<[String]>([])
    private let connections = Mutex(0)
    private let responder: Responder

    private init(port: Int, responder: @escaping Responder) {
        self.port = port
        self.responder = responder
    }

    /// `http://127.0.0.1:<port>`.
    public var baseURL: String { "http://127.0.0.1:\(port)" }
    /// The heads of the requests received so far, as text.
    public var requests: [String] { heads.withLock { $0 } }
    public var connectionCount: Int { connections.withLock { $0 } }

    /// Starts an upstream on `group`'s loops (see ``MockUpstream/withServer(tls:group:_:body:)``),
    /// runs `body`, and stops the upstream.
    public static func withServer<T: Sendable>(
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, _ responder: @escaping Responder,
        body: (RawUpstream) async throws -> T
    ) async throws -> T {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let upstream = RawUpstream(port: server.channel.localAddress?.port ?? 0, responder: responder)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await withThrowingDiscardingTaskGroup { connections in
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            upstream.connections.withLock { $0 += 1 }
                            connections.addTask { try? await upstream.serve(connection) }
                        }
                    }
                }
            }
            defer { group.cancelAll() }
            return try await body(upstream)
        }
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async throws {
        try await connection.executeThenClose { input, output in
            var iterator = input.makeAsyncIterator()
            var received = ByteBuffer()
            while true {
                // One request: the head, then as many body bytes as it announced.
                var headEnd: Int?
                while true {
                    headEnd = received.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound
                    if headEnd != nil { break }
                    guard var chunk = try await iterator.next() else { return }
                    received.writeBuffer(&chunk)
                }
                guard let headEnd else { return }
                let head = String(buffer: received.getSlice(at: received.readerIndex, length: headEnd - received.readerIndex)!)
                let length = head.split(separator: "\r\n").lazy
                    .compactMap { line -> Int? in
                        let parts = line.split(separator: ":", maxSplits: 1)
                        guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
                        return Int(parts[1].trimmingPrefix(" "))
                    }.first ?? 0
                while received.writerIndex - headEnd < length {
                    guard var chunk = try await iterator.next() else { return }
                    received.writeBuffer(&chunk)
                }
                received.moveReaderIndex(to: headEnd + length)
                received.discardReadBytes()
                let index = heads.withLock { heads in
                    heads.append(head)
                    return heads.count - 1
                }
                for action in await responder(index, head) {
                    switch action {
                    case .send(let text): try await output.write(ByteBuffer(string: text))
                    case .pause(let duration): try await Task.sleep(for: duration)
                    case .close: return
                    }
                }
            }
        }
    }
}
