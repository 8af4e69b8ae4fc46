import Foundation
import OrchestratorCore
import Providers
import Yams

extension NodeReader {
    /// Builds the whole settings tree from the document root.
    func settings(_ root: Node?) -> GatewaySettings {
        var settings = GatewaySettings()
        guard
            let top = mapping(
                root, "",
                allowed: ["server", "admin", "database", "redis", "routing", "health", "keys", "providers", "models"])
        else { return settings }

        if let server = mapping(
            top["server"], "server",
            allowed: [
                "host", "port", "max_body_bytes", "cors_origins", "idle_timeout_s", "shutdown_grace_s", "max_in_flight",
                "stream_keepalive_s", "header_timeout_s", "read_timeout_s", "max_connections",
            ])
        {
            if let v = string(server["host"], "server.host") { settings.server.host = v }
            if let v = int(server["port"], "server.port", max: 65535) { settings.server.port = v }
            if let v = int(server["max_body_bytes"], "server.max_body_bytes", min: 1024) { settings.server.maxBodyBytes = v }
            if let v = strings(server["cors_origins"], "server.cors_origins") { settings.server.corsOrigins = v }
            if let v = double(server["idle_timeout_s"], "server.idle_timeout_s", min: 1) { settings.server.idleTimeoutSeconds = v }
            if let v = double(server["shutdown_grace_s"], "server.shutdown_grace_s") { settings.server.shutdownGraceSeconds = v }
            if let v = int(server["max_in_flight"], "server.max_in_flight", min: 1) { settings.server.maxInFlight = v }
            if let v = int(server["max_connections"], "server.max_connections", min: 1) { settings.server.maxConnections = v }
            if let v = double(server["stream_keepalive_s"], "server.stream_keepalive_s", min: 0.05) {
                settings.server.streamKeepAliveSeconds = v
            }
            if let v = double(server["header_timeout_s"], "server.header_timeout_s", min: 0.05) {
                settings.server.headerTimeoutSeconds = v
            }
            if let v = double(server["read_timeout_s"], "server.read_timeout_s", min: 0.05) {
                settings.server.requestReadTimeoutSeconds = v
            }
        }
        if let admin = mapping(top["admin"], "admin", allowed: ["key"]) {
            if let v = string(admin["key"], "admin.key"), !v.isEmpty { settings.admin.key = v }
        }
        if let database = mapping(top["database"], "database", allowed: ["url", "log_retention_days"]) {
            if let v = string(database["url"], "database.url") { settings.database.url = v }
            if let v = int(database["log_retention_days"], "database.log_retention_days", min: 1) {
                settings.database.logRetentionDays = v
            }
        }
        if let redis = mapping(top["redis"], "redis", allowed: ["url"]) {
            if let v = string(redis["url"], "redis.url"), !v.isEmpty { settings.redis = RedisSettings(url: v) }
        }
        if let routing = mapping(
            top["routing"], "routing",
            allowed: ["strategy", "max_attempts", "backoff_initial_ms", "backoff_max_ms", "timeout_s"])
        {
            if let v = enumValue(routing["strategy"], "routing.strategy", RoutingStrategy.self, what: "strategy") {
                settings.routing.strategy = v
            }
            if let v = int(routing["max_attempts"], "routing.max_attempts", min: 1, max: 20) { settings.routing.maxAttempts = v }
            if let v = int(routing["backoff_initial_ms"], "routing.backoff_initial_ms") { settings.routing.backoffInitialMs = v }
            if let v = int(routing["backoff_max_ms"], "routing.backoff_max_ms") { settings.routing.backoffMaxMs = v }
            if let v = double(routing["timeout_s"], "routing.timeout_s", min: 0.001) { settings.routing.timeoutSeconds = v }
        }
        if let health = mapping(top["health"], "health", allowed: ["check_interval_s", "failure_threshold", "cooldown_s"]) {
            if let v = double(health["check_interval_s"], "health.check_interval_s") { settings.health.checkIntervalSeconds = v }
            if let v = int(health["failure_threshold"], "health.failure_threshold", min: 1) { settings.health.failureThreshold = v }
            if let v = double(health["cooldown_s"], "health.cooldown_s") { settings.health.cooldownSeconds = v }
        }
        settings.keys = (sequence(top["keys"], "keys") ?? []).enumerated().compactMap { clientKey($1, "keys[\($0)]") }
        settings.providers = (sequence(top["providers"], "providers") ?? []).enumerated().compactMap {
            provider($1, "providers[\($0)]")
        }
        settings.models = (sequence(top["models"], "models") ?? []).enumerated().compactMap { model($1, "models[\($0)]") }
        crossCheck(settings)
        return settings
    }

    /// A client key entry; with `requireSecret: false` (an admin edit of a stored key,
    /// whose secret stays) without its `key`.
    func clientKey(_ node: Node, _ path: String, requireSecret: Bool = true) -> ClientKeyConfig? {
        guard
            let m = mapping(
                node, path,
                allowed: [
                    "name", "key", "models", "rpm", "tpm", "max_concurrency", "budget_usd", "budget_tokens",
                    "budget_period", "expires_at", "enabled", "log_bodies", "metadata",
                ])
        else {
            problem(path, "expected a key entry")
            return nil
        }
        let name = entityName(m["name"], "\(path).name", allowSlash: true)
        let secret = string(m["key"], "\(path).key")
        if requireSecret, secret == nil || secret?.isEmpty == true { problem("\(path).key", "must not be empty") }
        var key = ClientKeyConfig(name: name ?? "", key: secret ?? "")
        if let v = strings(m["models"], "\(path).models") { key.models = v }
        if let v = int(m["rpm"], "\(path).rpm") { key.rpm = v }
        if let v = int(m["tpm"], "\(path).tpm") { key.tpm = v }
        if let v = int(m["max_concurrency"], "\(path).max_concurrency") { key.maxConcurrency = v }
        if let v = double(m["budget_usd"], "\(path).budget_usd") { key.budgetUSD = v }
        if let v = int(m["budget_tokens"], "\(path).budget_tokens", max: 1_000_000_000_000_000) { key.budgetTokens = Int64(v) }
        if let v = enumValue(m["budget_period"], "\(path).budget_period", BudgetPeriod.self, what: "budget period") {
            key.budgetPeriod = v
        }
        if let text = string(m["expires_at"], "\(path).expires_at") {
            if let date = ISO8601DateFormatter().date(from: text) {
                key.expiresAt = date
            } else {
                problem("\(path).expires_at", "expected an RFC 3339 time such as 2027-12-31T00:00:00Z")
            }
        }
        if let v = bool(m["enabled"], "\(path).enabled") { key.enabled = v }
        if let v = bool(m["log_bodies"], "\(path).log_bodies") { key.logBodies = v }
        if let v = stringMap(m["metadata"], "\(path).metadata") { key.metadata = v }
        return name == nil ? nil : key
    }

    func provider(_ node: Node, _ path: String) -> ProviderConfig? {
        guard
            let m = mapping(
                node, path,
                allowed: [
                    "name", "type", "base_url", "api_keys", "key_strategy", "headers", "http_proxy", "timeout_s",
                    "stream_idle_timeout_s", "rpm", "tpm", "tls", "enabled", "api_version", "region", "access_key_id",
                    "secret_access_key", "session_token", "mock", "azure_auth", "fetch_image_urls",
                ])
        else {
            problem(path, "expected a provider entry")
            return nil
        }
        let name = entityName(m["name"], "\(path).name", allowSlash: false, reserved: ["batch"])
        let typeText = required(string(m["type"], "\(path).type"), "\(path).type")
        var type: ProviderType?
        if let typeText {
            type = ProviderType(rawValue: typeText)
            if type == nil { problem("\(path).type", "unknown type \"\(typeText)\"") }
        }
        guard let name, let type else { return nil }
        var provider = ProviderConfig(
            name: name, type: type, baseURL: string(m["base_url"], "\(path).base_url") ?? ProviderConfig.defaultBaseURL(for: type))
        if type != .mock {
            if provider.baseURL.isEmpty {
                problem("\(path).base_url", "is required for type \(type.rawValue)")
            } else if URL(string: provider.baseURL)?.scheme.map({ $0 == "http" || $0 == "https" }) != true {
                problem("\(path).base_url", "must be an http:// or https:// URL")
            }
        }
        if let keys = strings(m["api_keys"], "\(path).api_keys") {
            for (i, key) in keys.enumerated() where key.isEmpty { problem("\(path).api_keys[\(i)]", "must not be empty") }
            provider.apiKeys = keys.filter { !$0.isEmpty }
        }
        if let v = enumValue(m["key_strategy"], "\(path).key_strategy", KeyStrategy.self, what: "key strategy") {
            provider.keyStrategy = v
        }
        if let v = stringMap(m["headers"], "\(path).headers") { provider.headers = v }
        if let v = string(m["http_proxy"], "\(path).http_proxy") {
            provider.httpProxy = v
            if !v.isEmpty {
                do {
                    _ = try ProxyURL(parsing: v)
                } catch {
                    problem("\(path).http_proxy", error.message)
                }
            }
        }
        if let v = double(m["timeout_s"], "\(path).timeout_s", min: 0.001) { provider.timeoutSeconds = v }
        if let v = double(m["stream_idle_timeout_s"], "\(path).stream_idle_timeout_s", min: 0.001) {
            provider.streamIdleTimeoutSeconds = v
        }
        if let v = int(m["rpm"], "\(path).rpm") { provider.rpm = v }
        if let v = int(m["tpm"], "\(path).tpm") { provider.tpm = v }
        if let tls = mapping(m["tls"], "\(path).tls", allowed: ["ca_file"]) {
            if let v = string(tls["ca_file"], "\(path).tls.ca_file") {
                provider.tlsCAFile = v
                if !v.isEmpty, !FileManager.default.isReadableFile(atPath: v) {
                    problem("\(path).tls.ca_file", "cannot read \(v)")
                }
            }
        }
        if let v = bool(m["enabled"], "\(path).enabled") { provider.enabled = v }
        provider.apiVersion = string(m["api_version"], "\(path).api_version")
        provider.region = string(m["region"], "\(path).region")
        provider.accessKeyID = string(m["access_key_id"], "\(path).access_key_id")
        provider.secretAccessKey = string(m["secret_access_key"], "\(path).secret_access_key")
        provider.sessionToken = string(m["session_token"], "\(path).session_token")
        if type == .azure, provider.apiVersion == nil { problem("\(path).api_version", "is required for type azure") }
        if let v = enumValue(m["azure_auth"], "\(path).azure_auth", AzureAuth.self, what: "azure auth") {
            provider.azureAuth = v
            if type != .azure { problem("\(path).azure_auth", "only allowed for type azure") }
        }
        if let v = bool(m["fetch_image_urls"], "\(path).fetch_image_urls") {
            provider.fetchImageURLs = v
            if type != .gemini { problem("\(path).fetch_image_urls", "only allowed for type gemini") }
        }
        if type == .bedrock, provider.region == nil { problem("\(path).region", "is required for type bedrock") }
        if let mock = mapping(m["mock"], "\(path).mock", allowed: ["reply", "latency_ms", "failure_rate"]) {
            var settings = MockSettings()
            if let v = string(mock["reply"], "\(path).mock.reply") { settings.reply = v }
            if let v = int(mock["latency_ms"], "\(path).mock.latency_ms") { settings.latencyMs = v }
            if let v = double(mock["failure_rate"], "\(path).mock.failure_rate", max: 1) { settings.failureRate = v }
            provider.mock = settings
        } else if type == .mock {
            provider.mock = MockSettings()
        }
        if m["mock"] != nil, type != .mock { problem("\(path).mock", "only allowed for type mock") }
        return provider
    }

    func model(_ node: Node, _ path: String) -> ModelConfig? {
        guard let m = mapping(node, path, allowed: ["name", "strategy", "targets", "price"]) else {
            problem(path, "expected a model entry")
            return nil
        }
        let name = entityName(m["name"], "\(path).name", allowSlash: true)
        let strategy = enumValue(m["strategy"], "\(path).strategy", RoutingStrategy.self, what: "strategy")
        let targetNodes = sequence(m["targets"], "\(path).targets") ?? []
        if targetNodes.isEmpty { problem("\(path).targets", "needs at least one target") }
        let targets = targetNodes.enumerated().compactMap { target($1, "\(path).targets[\($0)]") }
        let price = price(m["price"], "\(path).price")
        guard let name else { return nil }
        return ModelConfig(name: name, targets: targets, strategy: strategy, price: price)
    }

    private func target(_ node: Node, _ path: String) -> TargetConfig? {
        guard
            let m = mapping(
                node, path,
                allowed: ["provider", "model", "weight", "priority", "capabilities", "extra_body", "max_tokens_default", "price"])
        else {
            problem(path, "expected a target entry")
            return nil
        }
        let provider = required(string(m["provider"], "\(path).provider"), "\(path).provider")
        let model = required(string(m["model"], "\(path).model"), "\(path).model")
        guard let provider, let model else { return nil }
        var target = TargetConfig(provider: provider, model: model)
        if let v = int(m["weight"], "\(path).weight") { target.weight = v }
        if let v = int(m["priority"], "\(path).priority") { target.priority = v }
        if let names = strings(m["capabilities"], "\(path).capabilities") {
            var set: Set<Capability> = []
            for (i, name) in names.enumerated() {
                if let c = Capability(rawValue: name) {
                    set.insert(c)
                } else {
                    problem("\(path).capabilities[\(i)]", "unknown capability \"\(name)\" (expected tools, vision or json)")
                }
            }
            target.capabilities = set
        }
        if let extra = m["extra_body"], !isNull(extra) {
            if case .object(let object) = json(extra, "\(path).extra_body") {
                target.extraBody = object
                // What a request itself is made of (chat messages, Gemini contents, embeddings
                // or Responses input) is the client's, not a target's to override.
                for reserved in ["model", "messages", "stream", "contents", "input"] where object[reserved] != nil {
                    problem("\(path).extra_body.\(reserved)", "may not be overridden")
                }
            } else {
                problem("\(path).extra_body", "expected a mapping")
            }
        }
        target.maxTokensDefault = int(m["max_tokens_default"], "\(path).max_tokens_default", min: 1)
        target.price = price(m["price"], "\(path).price")
        return target
    }

    private func price(_ node: Node?, _ path: String) -> Price? {
        guard let m = mapping(node, path, allowed: ["input_per_mtok", "output_per_mtok", "cached_input_per_mtok"]) else {
            return nil
        }
        let input = double(m["input_per_mtok"], "\(path).input_per_mtok")
        let output = double(m["output_per_mtok"], "\(path).output_per_mtok")
        if input == nil { problem("\(path).input_per_mtok", "is required") }
        if output == nil { problem("\(path).output_per_mtok", "is required") }
        guard let input, let output else { return nil }
        return Price(
            inputPerMTok: input, outputPerMTok: output,
            cachedInputPerMTok: double(m["cached_input_per_mtok"], "\(path).cached_input_per_mtok"))
    }

    private func required(_ value: String?, _ path: String) -> String? {
        guard let value, !value.isEmpty else {
            problem(path, "is required")
            return nil
        }
        return value
    }

    /// A provider, model or key name: required, 1–200 characters, no surrounding spaces or
    /// control characters; a provider's also without `/` (it separates `provider/model`)
    /// and not `batch` (the path `/admin/providers/batch` is taken).
    func entityName(_ node: Node?, _ path: String, allowSlash: Bool, reserved: Set<String> = []) -> String? {
        guard let name = required(string(node, path), path) else { return nil }
        if name.count > 200 {
            problem(path, "must be at most 200 characters")
        } else if name != name.trimmingCharacters(in: .whitespaces) {
            problem(path, "must not start or end with spaces")
        } else if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            problem(path, "must not contain control characters")
        } else if !allowSlash, name.contains("/") {
            problem(path, "must not contain \"/\" (it separates provider/model)")
        } else if reserved.contains(name) {
            problem(path, "\"\(name)\" is reserved; choose another name")
        } else {
            return name
        }
        return nil
    }

    /// Checks across sections: unique names, targets naming known providers, unique key secrets.
    private func crossCheck(_ settings: GatewaySettings) {
        func duplicates(_ names: [String], _ section: String) {
            var seen: [String: Int] = [:]
            for (i, name) in names.enumerated() {
                if let first = seen[name] {
                    problem("\(section)[\(i)].name", "duplicate name \"\(name)\" (first at \(section)[\(first)])")
                } else {
                    seen[name] = i
                }
            }
        }
        duplicates(settings.providers.map(\.name), "providers")
        duplicates(settings.models.map(\.name), "models")
        duplicates(settings.keys.map(\.name), "keys")
        var secrets: [String: Int] = [:]
        for (i, key) in settings.keys.enumerated() where !key.key.isEmpty {
            if let first = secrets[key.key] {
                problem("keys[\(i)].key", "the same secret as keys[\(first)]")
            } else {
                secrets[key.key] = i
            }
        }
        let providers = Set(settings.providers.map(\.name))
        for (i, model) in settings.models.enumerated() {
            for (j, target) in model.targets.enumerated() where !providers.contains(target.provider) {
                problem("models[\(i)].targets[\(j)].provider", "unknown provider \"\(target.provider)\"")
            }
        }
        if let url = settings.redis?.url, !url.hasPrefix("redis://"), !url.hasPrefix("rediss://") {
            problem("redis.url", "must start with redis:// or rediss://")
        }
    }
}
