import AsyncHTTPClient
import HTTPTypes
public import Logging
public import NIOCore
import NIOHTTP1
import NIOSSL
public import NIOPosix
public import OrchestratorCore

/// An ``HTTPTransport`` on AsyncHTTPClient, with a pool sized for a gateway (not the
/// library's default of 8 connections per host). ``RoutingTransport`` uses it for
/// providers behind an `http_proxy`; everything else goes through ``NIOHTTPTransport``.
///
/// Call ``shutdown()`` before the process exits; the client traps if it is deinitialised
/// while running.
public final class AsyncHTTPClientTransport: HTTPTransport {
    public struct Configuration: Sendable {
        /// Soft limit of HTTP/1 connections per upstream host.
        public var connectionsPerHost = 1024
        /// How long an idle pooled connection is kept.
        public var idleTimeout: Duration = .seconds(60)
        /// Connect timeout.
        public var connectTimeout: Duration = .seconds(10)
        /// Longest silence while reading a response (catches stalled streams).
        public var readTimeout: Duration = .seconds(120)
        /// The proxy every request goes through.
        public var proxy: ProxyURL?
        /// CA certificates to trust besides the system's.
        public var caFile: String?

        public init() {}
    }

    private let client: HTTPClient

    public init(configuration: Configuration = .init(), eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        var config = HTTPClient.Configuration()
        config.connectionPool = .init(
            idleTimeout: .nanoseconds(Int64(configuration.idleTimeout.components.seconds) * 1_000_000_000),
            concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.connectionsPerHost)
        // A refused connection should fail now so the router can fail over to another
        // target, not after the connect timeout of retries inside the client.
        config.connectionPool.retryConnectionEstablishment = false
        config.timeout = .init(
            connect: Self.timeAmount(configuration.connectTimeout), read: Self.timeAmount(configuration.readTimeout))
        config.decompression = .disabled
        config.redirectConfiguration = .disallow
        if let proxy = configuration.proxy {
            switch proxy.kind {
            case .http:
                let authorization = proxy.username.map {
                    HTTPClient.Authorization.basic(username: $0, password: proxy.password ?? "")
                }
                config.proxy = .server(host: proxy.host, port: proxy.port, authorization: authorization)
            case .socks5:
                config.proxy = .socksServer(host: proxy.host, port: proxy.port)
            }
        }
        if let caFile = configuration.caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.file(caFile)]
            config.tlsConfiguration = tls
        }
        self.client = HTTPClient(eventLoopGroup: eventLoopGroup, configuration: config)
    }

    public func execute(_ request: TransportRequest, deadline: ContinuousClock.Instant, logger: Logger) async throws
        -> TransportResponse
    {
        var outbound = HTTPClientRequest(url: request.url)
        outbound.method = HTTPMethod(rawValue: request.method.rawValue)
        for field in request.headers {
            outbound.headers.add(name: field.name.canonicalName, value: field.value)
        }
        if let body = request.body {
            outbound.body = .bytes(body)
        }
        let remaining = ContinuousClock.now.duration(to: deadline)
        let nioDeadline = NIODeadline.now() + Self.timeAmount(max(remaining, .zero))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(outbound, deadline: nioDeadline, logger: logger)
        } catch {
            throw Self.classify(error)
        }
        var headers = HTTPFields()
        for (name, value) in response.headers {
            if let fieldName = HTTPField.Name(name) { headers.append(HTTPField(name: fieldName, value: value)) }
        }
        let body = response.body
        return TransportResponse(
            status: Int(response.status.code), headers: headers,
            body: ErasedAsyncSequence(makeNext: {
                var iterator = body.makeAsyncIterator()
                return {
                    do {
                        return try await iterator.next(isolation: #isolation)
                    } catch {
                        throw Self.classify(error)
                    }
                }
            }))
    }

    /// Shuts the client down, closing pooled connections.
    public func shutdown() async throws {
        try await client.shutdown()
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(duration.totalNanoseconds)
    }

    static func classify(_ error: any Error) -> any Error {
        if error is CancellationError { return error }
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .connectTimeout, .getConnectionFromPoolTimeout:
                return TransportError(.timeout, "\(error)")
            case .readTimeout:
                return TransportError(.idleTimeout, "no data from upstream within the read timeout")
            case .remoteConnectionClosed:
                return TransportError(.closed, "upstream closed the connection")
            case .cancelled:
                return CancellationError()
            case .tlsHandshakeTimeout:
                return TransportError(.tls, "\(error)")
            default:
                return TransportError(.other, "\(error)")
            }
        }
        if error is NIOConnectionError || error is IOError || error is ChannelError {
            return TransportError(.connect, "\(error)")
        }
        let text = "\(error)"
        if text.contains("SSL") || text.contains("TLS") || text.contains("certificate") {
            return TransportError(.tls, text)
        }
        return TransportError(.other, text)
    }
}
