import HTTPTypes
import Hummingbird
import NIOCore
import OrchestratorCore

/// Liveness, readiness and the minimal admin listing.
struct OpsRoutes {
    let readiness: any ReadinessProbe
    let configStore: any ConfigStore
    let health: any HealthReporting
    let access: AccessPolicy
    /// Whether to serve the read-only `GET /admin/providers` (when no admin service does).
    var listsProviders = true
    /// The Prometheus text for `GET /metrics`.
    var metrics: (@Sendable () -> String)?

    func register(on router: Router<GatewayRequestContext>) {
        router.get("/healthz") { _, _ in
            try jsonResponse(["status": "ok"])
        }
        router.get("/readyz") { _, _ in
            if await readiness.isReady() {
                return try jsonResponse(["status": "ready"])
            }
            throw GatewayError(
                status: 503, type: "service_unavailable", code: "not_ready", message: "The database is not reachable.")
        }
        if let metrics {
            // Unauthenticated, as scrapers expect (DESIGN.md §5): labels hold no secret.
            router.get("/metrics") { _, _ in
                Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: metrics())))
            }
        }
        router.get("/admin/health") { request, _ in
            try access.authenticateAdmin(ClientCredential.extract(headers: request.headers, query: nil))
            return try jsonResponse(health.healthReport())
        }
        guard listsProviders else { return }
        router.get("/admin/providers") { request, _ in
            try access.authenticateAdmin(ClientCredential.extract(headers: request.headers, query: nil))
            let configuration = try await configStore.loadConfiguration()
            return try jsonResponse(AdminList(data: configuration.providers.map(AdminProvider.init)))
        }
    }
}

struct AdminList<Item: Encodable>: Encodable {
    var data: [Item]
    var nextCursor: String? = nil

    enum CodingKeys: String, CodingKey {
        case data
        case nextCursor = "next_cursor"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(data, forKey: .data)
        try c.encode(nextCursor, forKey: .nextCursor)
    }
}

/// A provider as the admin API shows it: config field names, ids, never a secret.
struct AdminProvider: Encodable {
    struct Key: Encodable {
        var id: String
        var last4: String
        var enabled: Bool
        var state: String
    }

    var id: String
    var name: String
    var type: String
    var base_url: String
    var enabled: Bool
    var source: String
    var key_strategy: String
    var timeout_s: Double
    var stream_idle_timeout_s: Double
    var api_keys: [Key]
    var created_at: String
    var updated_at: String

    init(_ stored: StoredProvider) {
        id = stored.id
        name = stored.config.name
        type = stored.config.type.rawValue
        base_url = stored.config.baseURL
        enabled = stored.config.enabled
        source = stored.source.rawValue
        key_strategy = stored.config.keyStrategy.rawValue
        timeout_s = stored.config.timeoutSeconds
        stream_idle_timeout_s = stored.config.streamIdleTimeoutSeconds
        api_keys = stored.keys.map {
            Key(id: $0.id, last4: $0.last4, enabled: $0.enabled, state: $0.enabled ? "active" : "disabled")
        }
        created_at = RFC3339.format(millis: stored.createdAtMillis)
        updated_at = RFC3339.format(millis: stored.updatedAtMillis)
    }
}

enum RFC3339 {
    static func format(millis: Int64) -> String {
        Date(timeIntervalSince1970: Double(millis) / 1000).ISO8601Format()
    }
}

import Foundation
