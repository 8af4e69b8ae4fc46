/// An absolute `http://` or `https://` URL split into what an HTTP/1.1 client needs:
/// where to connect, what to put in `Host`, and the request target.
///
/// Parsed without Foundation on every upstream call, so it stays a plain scan.
struct UpstreamURL: Hashable, Sendable {
    var secure: Bool
    /// Host name or IP literal, without IPv6 brackets.
    var host: String
    var port: Int
    /// Path and query (`/v1/chat/completions?x=1`), never empty.
    var target: String

    /// The `Host` header value: the host, plus the port when it is not the scheme's default.
    var hostHeader: String {
        let shown = host.contains(":") ? "[\(host)]" : host
        return port == (secure ? 443 : 80) ? shown : "\(shown):\(port)"
    }

    /// Whether ``host`` is an IP literal (no SNI for those).
    var hostIsIPLiteral: Bool {
        if host.contains(":") { return true }
        return host.utf8.allSatisfy { ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: ".") }
    }

    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    init(parsing url: String) throws(Invalid) {
        let rest: Substring
        if url.hasPrefix("http://") {
            secure = false
            rest = url.dropFirst(7)
        } else if url.hasPrefix("https://") {
            secure = true
            rest = url.dropFirst(8)
        } else {
            throw Invalid(description: "only http:// and https:// upstream URLs are supported")
        }
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        var target = rest[authorityEnd...]
        if let fragment = target.firstIndex(of: "#") { target = target[..<fragment] }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        self.target = target.isEmpty ? "/" : (target.first == "?" ? "/" + target : String(target))

        let defaultPort = secure ? 443 : 80
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else { throw Invalid(description: "unterminated IPv6 address") }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.isEmpty {
                port = defaultPort
            } else if after.first == ":", let value = Int(after.dropFirst()), (1...65535).contains(value) {
                port = value
            } else {
                throw Invalid(description: "invalid port")
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let value = Int(authority[authority.index(after: colon)...]), (1...65535).contains(value) else {
                throw Invalid(description: "invalid port")
            }
            port = value
        } else {
            host = String(authority)
            port = defaultPort
        }
        guard !host.isEmpty else { throw Invalid(description: "missing host") }
    }
}
