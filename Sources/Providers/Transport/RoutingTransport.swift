import AsyncHTTPClient
public import Logging
public import NIOCore
public import NIOPosix
import NIOSSL
public import OrchestratorCore
import Synchronization

/// The daemon's transport: every upstream call goes through the lean
/// ``NIOHTTPTransport``, except calls through a provider's `http_proxy`, which go
/// through AsyncHTTPClient (one client per proxy and CA file), because it speaks HTTP
/// CONNECT and SOCKS5 proxies and the lean client deliberately does not.
public final class RoutingTransport: HTTPTransport {
    private let direct: NIOHTTPTransport
    private let eventLoopGroup: any EventLoopGroup
    private let proxyConfiguration: AsyncHTTPClientTransport.Configuration
    private let proxied = Mutex<(clients: [ProxiedKey: AsyncHTTPClientTransport], shutDown: Bool)>(([:], false))

    private struct ProxiedKey: Hashable {
        var proxy: String
        var caFile: String
    }

    public init(
        direct: NIOHTTPTransport, proxyConfiguration: AsyncHTTPClientTransport.Configuration = .init(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.direct = direct
        self.proxyConfiguration = proxyConfiguration
        self.eventLoopGroup = eventLoopGroup
    }

    public func execute(_ request: TransportRequest, deadline: ContinuousClock.Instant, logger: Logger) async throws
        -> TransportResponse
    {
        guard let proxy = request.proxy, !proxy.isEmpty else {
            return try await direct.execute(request, deadline: deadline, logger: logger)
        }
        let client = try proxiedClient(ProxiedKey(proxy: proxy, caFile: request.caFile ?? ""))
        return try await client.execute(request, deadline: deadline, logger: logger)
    }

    /// The lean client's preparation; none for a proxied request (AsyncHTTPClient builds
    /// its own).
    public func prepare(_ request: TransportRequest) -> (any PreparedRequestHead)? {
        guard request.proxy?.isEmpty ?? true else { return nil }
        return direct.prepare(request)
    }

    /// Closes the lean client's pools and every proxy client.
    public func shutdown() async {
        await direct.shutdown()
        let clients = proxied.withLock { state in
            defer { state = ([:], true) }
            return Array(state.clients.values)
        }
        for client in clients { try? await client.shutdown() }
    }

    private func proxiedClient(_ key: ProxiedKey) throws -> AsyncHTTPClientTransport {
        switch proxied.withLock({ ($0.clients[key], $0.shutDown) }) {
        case (let client?, _): return client
        case (nil, true): throw TransportError(.other, "the transport is shut down")
        case (nil, false): break
        }
        var configuration = proxyConfiguration
        configuration.proxy = try ProxyURL(parsing: key.proxy)
        configuration.caFile = key.caFile.isEmpty ? nil : key.caFile
        let created = AsyncHTTPClientTransport(configuration: configuration, eventLoopGroup: eventLoopGroup)
        let (client, spare) = proxied.withLock { state -> (AsyncHTTPClientTransport?, AsyncHTTPClientTransport?) in
            if state.shutDown { return (nil, created) }
            if let existing = state.clients[key] { return (existing, created) }
            state.clients[key] = created
            return (created, nil)
        }
        if let spare { Task { try? await spare.shutdown() } }
        guard let client else { throw TransportError(.other, "the transport is shut down") }
        return client
    }
}

/// A provider's `http_proxy`: `http://[user:pass@]host:port` (HTTP CONNECT for https
/// upstreams, absolute-form requests for http ones) or `socks5://host:port`.
public struct ProxyURL: Sendable, Hashable {
    public enum Kind: Sendable, Hashable { case http, socks5 }
    public var kind: Kind
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?

    public init(parsing text: String) throws(TransportError) {
        let kind: Kind
        let rest: Substring
        if text.hasPrefix("http://") {
            kind = .http
            rest = text.dropFirst(7)
        } else if text.hasPrefix("socks5://") || text.hasPrefix("socks5h://") {
            kind = .socks5
            rest = text[text.index(after: text.firstIndex(of: "/")!)...].dropFirst()
        } else {
            throw TransportError(.other, "http_proxy must start with http://, socks5:// or socks5h://")
        }
        var authority = rest.prefix { $0 != "/" }
        if let at = authority.lastIndex(of: "@") {
            let userinfo = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = userinfo.firstIndex(of: ":") {
                username = String(userinfo[..<colon]).removingPercentEncodingLite
                password = String(userinfo[userinfo.index(after: colon)...]).removingPercentEncodingLite
            } else {
                username = String(userinfo).removingPercentEncodingLite
            }
        }
        guard let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...]),
            (1...65535).contains(port), colon != authority.startIndex
        else {
            throw TransportError(.other, "http_proxy needs a host and a port (for example http://proxy.internal:3128)")
        }
        self.kind = kind
        var host = authority[..<colon]
        if host.first == "[", host.last == "]" { host = host.dropFirst().dropLast() }
        self.host = String(host)
        self.port = port
    }
}

extension String {
    /// Decodes `%XX` escapes (userinfo of a proxy URL); invalid escapes stay as written.
    var removingPercentEncodingLite: String {
        guard contains("%") else { return self }
        var bytes: [UInt8] = []
        var utf8 = Array(self.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
                let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
