import NIOCore
import NIOPosix
import Synchronization

/// A forward proxy on a loopback port that speaks HTTP `CONNECT`: it records each tunnel
/// request, answers `200`, and then relays bytes both ways. For testing `http_proxy`.
public final class MockConnectProxy: Sendable {
    private let port: Int
    private let targets = Mutex<[String]>([])

    private init(port: Int) {
        self.port = port
    }

    /// `http://127.0.0.1:<port>`.
    public var url: String { "http://127.0.0.1:\(port)" }

    /// The `host:port` of every CONNECT received so far.
    public var tunnels: [String] { targets.withLock { $0 } }

    /// Starts a proxy, runs `body`, and stops the proxy.
    public static func withProxy<T: Sendable>(body: (MockConnectProxy) async throws -> T) async throws -> T {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let proxy = MockConnectProxy(port: server.channel.localAddress?.port ?? 0)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await withThrowingDiscardingTaskGroup { connections in
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            connections.addTask { try? await proxy.tunnel(connection) }
                        }
                    }
                }
            }
            defer { group.cancelAll() }
            return try await body(proxy)
        }
    }

    private func tunnel(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async throws {
        try await client.executeThenClose { clientIn, clientOut in
            var iterator = clientIn.makeAsyncIterator()
            var head = ByteBuffer()
            var headEnd: Int?
            while headEnd == nil, var chunk = try await iterator.next() {
                head.writeBuffer(&chunk)
                headEnd = head.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound
            }
            guard let headEnd else { return }
            let text = String(buffer: head.getSlice(at: head.readerIndex, length: headEnd - head.readerIndex) ?? ByteBuffer())
            let requestLine = text.split(separator: "\r\n").first ?? ""
            let parts = requestLine.split(separator: " ")
            guard parts.count == 3, parts[0] == "CONNECT", let colon = parts[1].lastIndex(of: ":"),
                let port = Int(parts[1][parts[1].index(after: colon)...])
            else {
                try await clientOut.write(ByteBuffer(string: "HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n"))
                return
            }
            targets.withLock { $0.append(String(parts[1])) }
            let upstream = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: String(parts[1][..<colon]), port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            try await clientOut.write(ByteBuffer(string: "HTTP/1.1 200 Connection established\r\n\r\n"))
            let leftover = head.getSlice(at: headEnd, length: head.writerIndex - headEnd)
            try await upstream.executeThenClose { upstreamIn, upstreamOut in
                if let leftover, leftover.readableBytes > 0 { try await upstreamOut.write(leftover) }
                try await withThrowingTaskGroup(of: Void.self) { relay in
                    relay.addTask {
                        for try await chunk in upstreamIn { try await clientOut.write(chunk) }
                    }
                    while let chunk = try await iterator.next() { try await upstreamOut.write(chunk) }
                    relay.cancelAll()
                }
            }
        }
    }
}
