import Foundation
import OrchestratorCore
import Yams

/// Admin API documents ⇄ configuration. Reading goes through the config file's own
/// reader (``NodeReader``), so a document is valid exactly when the same entry would be
/// valid in the file, and a problem's path becomes the 400's `param`. Writing uses the
/// file's field names, with secrets masked or left out.
enum AdminDocuments {
    /// Fields the gateway adds to documents; accepted back and ignored.
    static let readOnly: Set<String> = ["id", "source", "created_at", "updated_at", "prefix", "usage", "last_used_at"]

    // MARK: Reading

    /// A JSON value as a YAML node for ``NodeReader`` (strings quoted, so `"null"` stays a string).
    static func node(_ value: JSONValue) -> Node {
        switch value {
        case .null: return Node("null", Tag(.null), .plain)
        case .bool(let b): return Node(b ? "true" : "false", Tag(.bool), .plain)
        case .int(let i): return Node(String(i), Tag(.int), .plain)
        case .uint(let u): return Node(String(u), Tag(.int), .plain)
        case .double(let d): return Node(d.description, Tag(.float), .plain)
        case .string(let s): return Node(s, Tag(.str), .doubleQuoted)
        case .array(let items): return Node(items.map(node))
        case .object(let members):
            return Node(members.sorted { $0.key < $1.key }.map { (Node($0.key, Tag(.str), .doubleQuoted), node($0.value)) })
        }
    }

    /// Reads an entry with the config file's reader; its first problem is a 400.
    static func read<T>(_ body: JSONValue, _ resource: AdminResource, _ reader: (NodeReader, Node) -> T?) throws(GatewayError) -> T {
        guard case .object(var members) = body else {
            throw .invalidRequest("The body must be a JSON object (a \(resource.singular) entry of the config file).")
        }
        for field in readOnly { members.removeValue(forKey: field) }
        let nodeReader = NodeReader(environment: [:], expandsEnvironment: false)
        let value = reader(nodeReader, node(.object(members)))
        if let problem = nodeReader.problems.first {
            // "entry.timeout_s: must be at least 0.001" → param "timeout_s".
            let (path, message) = split(problem)
            throw .invalidRequest("\(path.isEmpty ? "" : "\(path): ")\(message)", param: path.isEmpty ? nil : path)
        }
        guard let value else { throw .invalidRequest("The body is not a valid \(resource.singular) entry.") }
        return value
    }

    private static func split(_ problem: String) -> (String, String) {
        guard let colon = problem.range(of: ": ") else { return ("", problem) }
        var path = String(problem[..<colon.lowerBound])
        if path.hasPrefix("entry.") { path.removeFirst("entry.".count) } else if path == "entry" || path == "(root)" { path = "" }
        return (path, String(problem[colon.upperBound...]))
    }

    static func provider(_ body: JSONValue) throws(GatewayError) -> ProviderConfig {
        try read(body, .providers) { $0.provider($1, "entry") }
    }

    static func model(_ body: JSONValue) throws(GatewayError) -> ModelConfig {
        try read(body, .models) { $0.model($1, "entry") }
    }

    static func key(_ body: JSONValue) throws(GatewayError) -> ClientKeyConfig {
        try read(body, .keys) { $0.clientKey($1, "entry") }
    }

    /// A stored key's new settings: everything but its secret, which stays (`key` is "").
    static func keySettings(_ body: JSONValue) throws(GatewayError) -> ClientKeyConfig {
        try read(body, .keys) { $0.clientKey($1, "entry", requireSecret: false) }
    }

    // MARK: Writing

    static func rfc3339(_ millis: Int64) -> JSONValue {
        .string(Date(timeIntervalSince1970: Double(millis) / 1000).ISO8601Format())
    }

    /// A secret shown only by its last four characters.
    static func masked(_ secret: String) -> String { "****" + String(secret.suffix(4)) }

    /// Header names whose values are treated as secrets.
    static func isSecretHeader(_ name: String) -> Bool {
        let lower = name.lowercased()
        return ["auth", "key", "token", "secret", "cookie", "password"].contains { lower.contains($0) }
    }

    /// `http_proxy` with its password masked.
    static func maskedProxy(_ proxy: String) -> String {
        guard let at = proxy.lastIndex(of: "@"), let scheme = proxy.range(of: "://"),
            let colon = proxy[scheme.upperBound..<at].firstIndex(of: ":")
        else { return proxy }
        return String(proxy[..<proxy.index(after: colon)]) + "****" + String(proxy[at...])
    }

    /// A proxy URL sent back with its password masked gets the stored password, even if
    /// its host changed (a `****` password is never a real one).
    static func unmaskedProxy(_ proxy: String, stored: String) -> String {
        guard let at = proxy.lastIndex(of: "@"), let scheme = proxy.range(of: "://"),
            let colon = proxy[scheme.upperBound..<at].firstIndex(of: ":"),
            proxy[proxy.index(after: colon)..<at] == "****",
            let storedAt = stored.lastIndex(of: "@"), let storedScheme = stored.range(of: "://"),
            let storedColon = stored[storedScheme.upperBound..<storedAt].firstIndex(of: ":")
        else { return proxy }
        return String(proxy[...colon]) + String(stored[stored.index(after: storedColon)..<storedAt]) + String(proxy[at...])
    }

    static func provider(_ stored: StoredProvider) -> JSONValue {
        let c = stored.config
        var doc: [String: JSONValue] = [
            "id": .string(stored.id), "name": .string(c.name), "type": .string(c.type.rawValue), "base_url": .string(c.baseURL),
            "key_strategy": .string(c.keyStrategy.rawValue),
            "headers": .object(c.headers.mapValues { .string($0) }).maskingHeaders(),
            "http_proxy": .string(maskedProxy(c.httpProxy)), "timeout_s": .double(c.timeoutSeconds),
            "stream_idle_timeout_s": .double(c.streamIdleTimeoutSeconds), "rpm": .int(Int64(c.rpm)),
            "tpm": .int(Int64(c.tpm)), "tls": .object(["ca_file": .string(c.tlsCAFile)]), "enabled": .bool(c.enabled),
            "source": .string(stored.source.rawValue), "created_at": rfc3339(stored.createdAtMillis),
            "updated_at": rfc3339(stored.updatedAtMillis),
            "api_keys": .array(
                stored.keys.map {
                    .object([
                        "id": .string($0.id), "last4": .string($0.last4), "enabled": .bool($0.enabled),
                        "state": .string($0.enabled ? $0.state : "disabled"),
                    ])
                }),
        ]
        if let v = c.apiVersion { doc["api_version"] = .string(v) }
        if c.type == .azure { doc["azure_auth"] = .string(c.azureAuth.rawValue) }
        if c.type == .gemini { doc["fetch_image_urls"] = .bool(c.fetchImageURLs) }
        if let v = c.region { doc["region"] = .string(v) }
        if let v = c.accessKeyID { doc["access_key_id"] = .string(v) }
        if let mock = c.mock {
            doc["mock"] = .object([
                "reply": .string(mock.reply), "latency_ms": .int(Int64(mock.latencyMs)), "failure_rate": .double(mock.failureRate),
            ])
        }
        return .object(doc)
    }

    static func price(_ price: Price) -> JSONValue {
        var doc: [String: JSONValue] = ["input_per_mtok": .double(price.inputPerMTok), "output_per_mtok": .double(price.outputPerMTok)]
        if let cached = price.cachedInputPerMTok { doc["cached_input_per_mtok"] = .double(cached) }
        return .object(doc)
    }

    static func model(_ stored: StoredModel) -> JSONValue {
        let c = stored.config
        var doc: [String: JSONValue] = [
            "id": .string(stored.id), "name": .string(c.name), "source": .string(stored.source.rawValue),
            "created_at": rfc3339(stored.createdAtMillis), "updated_at": rfc3339(stored.updatedAtMillis),
            "targets": .array(
                c.targets.map { target in
                    var t: [String: JSONValue] = [
                        "provider": .string(target.provider), "model": .string(target.model), "weight": .int(Int64(target.weight)),
                        "priority": .int(Int64(target.priority)),
                    ]
                    if let capabilities = target.capabilities { t["capabilities"] = .array(capabilities.map(\.rawValue).sorted().map { .string($0) }) }
                    if !target.extraBody.isEmpty { t["extra_body"] = .object(target.extraBody) }
                    if let max = target.maxTokensDefault { t["max_tokens_default"] = .int(Int64(max)) }
                    if let p = target.price { t["price"] = price(p) }
                    return .object(t)
                }),
        ]
        if let strategy = c.strategy { doc["strategy"] = .string(strategy.rawValue) }
        if let p = c.price { doc["price"] = price(p) }
        return .object(doc)
    }

    static func key(_ stored: StoredClientKey) -> JSONValue {
        let c = stored.config
        var doc: [String: JSONValue] = [
            "id": .string(stored.id), "name": .string(stored.name), "prefix": .string(stored.prefix),
            "models": .array(c.models.map { .string($0) }), "rpm": .int(Int64(c.rpm)), "tpm": .int(Int64(c.tpm)),
            "max_concurrency": .int(Int64(c.maxConcurrency)), "budget_usd": .double(c.budgetUSD),
            "budget_tokens": .int(c.budgetTokens), "budget_period": .string(c.budgetPeriod.rawValue), "enabled": .bool(c.enabled),
            "log_bodies": .bool(c.logBodies), "metadata": .object(c.metadata.mapValues { .string($0) }),
            "source": .string(stored.source.rawValue), "created_at": rfc3339(stored.createdAtMillis),
            "updated_at": rfc3339(stored.updatedAtMillis),
            "usage": .object(["tokens": .int(stored.usedTokens), "cost_usd": .double(Double(stored.usedMicros) / 1_000_000)]),
            "last_used_at": stored.lastUsedAtMillis.map(rfc3339) ?? .null,
        ]
        doc["expires_at"] = c.expiresAt.map { .string($0.ISO8601Format()) } ?? .null
        return .object(doc)
    }
}

extension JSONValue {
    /// Header values that look like secrets, masked.
    fileprivate func maskingHeaders() -> JSONValue {
        guard case .object(let headers) = self else { return self }
        var out: [String: JSONValue] = [:]
        for (name, value) in headers {
            if AdminDocuments.isSecretHeader(name), let text = value.stringValue {
                out[name] = .string(AdminDocuments.masked(text))
            } else {
                out[name] = value
            }
        }
        return .object(out)
    }
}
