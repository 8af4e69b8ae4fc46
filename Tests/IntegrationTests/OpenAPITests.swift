import Foundation
import HTTPFront
import Hummingbird
import NIOHTTP1
import OrchestratorCore
import Testing

@testable import orchestratord

/// `GET /openapi.json` describes exactly the routes the daemon's router serves, and
/// `GET /docs` renders it: a route added without its documentation fails here.
@Suite(.serialized)
struct OpenAPITests {
    static let methods = ["get", "post", "put", "patch", "delete"]

    /// The router's routes as "METHOD /path", its one wildcard written as the Gemini
    /// routes it serves.
    static func routerRoutes(_ gateway: Gateway) -> Set<String> {
        let router = GatewayServer.router(settings: gateway.settings.server, dependencies: gateway.serverDependencies())
        var routes = Set<String>()
        for route in router.routes {
            let path = route.path.description
            if path == "/v1beta/models/**" {
                routes.insert("\(route.method.rawValue) /v1beta/models/{model}:generateContent")
                routes.insert("\(route.method.rawValue) /v1beta/models/{model}:streamGenerateContent")
            } else {
                routes.insert("\(route.method.rawValue) \(path)")
            }
        }
        return routes
    }

    @Test func theDocumentCoversEveryRouteAndNoOther() async throws {
        try await withGateway(AdminIntegrationTests.config(upstream: "http://127.0.0.1:9")) { gateway, url in
            let reply = try await AdminIntegrationTests.send(.GET, url + "/openapi.json", headers: [])
            #expect(reply.status == 200)
            #expect(reply.headers.first(name: "content-type") == "application/json")
            let document = try #require(reply.json)
            #expect(document["openapi"]?.stringValue?.hasPrefix("3.1") == true)
            let paths = try #require(document["paths"]?.objectValue)
            var documented = Set<String>()
            for (path, item) in paths {
                for method in Self.methods where item[method] != nil { documented.insert("\(method.uppercased()) \(path)") }
            }
            let served = Self.routerRoutes(gateway)
            #expect(served.subtracting(documented).sorted() == [], "served but not documented")
            #expect(documented.subtracting(served).sorted() == [], "documented but not served")
            #expect(served.contains("GET /admin/stats/timeline") && served.contains("GET /openapi.json"))
        }
    }

    @Test func everyOperationIsCompleteAndEveryReferenceResolves() async throws {
        try await withGateway(AdminIntegrationTests.config(upstream: "http://127.0.0.1:9")) { _, url in
            let text = try await AdminIntegrationTests.send(.GET, url + "/openapi.json", headers: []).body
            let document = try JSONCoding.decode(JSONValue.self, from: text)
            var operationIDs: [String] = []
            for (path, item) in document["paths"]?.objectValue ?? [:] {
                for method in Self.methods {
                    guard let operation = item[method] else { continue }
                    let name = "\(method.uppercased()) \(path)"
                    operationIDs.append(operation["operationId"]?.stringValue ?? "")
                    let responses = operation["responses"]?.objectValue ?? [:]
                    #expect(responses.keys.contains { $0.hasPrefix("2") }, "\(name) has no success response")
                    if path.hasPrefix("/admin") {
                        // Every admin route needs the admin key: both refusals are documented.
                        #expect(responses["401"] != nil && responses["403"] != nil, "\(name) lacks 401/403")
                        #expect(operation["security"] == nil || operation["security"] != .array([]), "\(name) is not open")
                    }
                    if ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"].contains(path) {
                        #expect(operation["security"] == .array([]), "\(name) needs no key")
                    }
                }
            }
            #expect(!operationIDs.contains(""))
            #expect(Set(operationIDs).count == operationIDs.count, "operationIds are unique")
            // Every local $ref points at something that exists.
            var unresolved: [String] = []
            func visit(_ value: JSONValue) {
                switch value {
                case .object(let members):
                    if let ref = members["$ref"]?.stringValue {
                        let pointer = ref.hasPrefix("#/") ? ref.dropFirst(2).split(separator: "/").map(String.init) : []
                        var target: JSONValue? = pointer.isEmpty ? nil : document
                        for part in pointer { target = target?[part.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")] }
                        if target == nil { unresolved.append(ref) }
                    }
                    members.values.forEach(visit)
                case .array(let items): items.forEach(visit)
                default: break
                }
            }
            visit(document)
            #expect(unresolved == [])
        }
    }

    @Test func theDocsPageRendersTheDocumentWithoutLoadingAnythingElse() async throws {
        try await withGateway(AdminIntegrationTests.config(upstream: "http://127.0.0.1:9")) { _, url in
            let page = try await AdminIntegrationTests.send(.GET, url + "/docs", headers: [])
            #expect(page.status == 200)
            #expect(page.headers.first(name: "content-type")?.hasPrefix("text/html") == true)
            let policy = try #require(page.headers.first(name: "content-security-policy"))
            #expect(policy.contains("default-src 'none'") && policy.contains("connect-src 'self'"))
            #expect(page.headers.first(name: "x-content-type-options") == "nosniff")
            #expect(page.body.contains("/openapi.json"))
            // Self-contained: no script, style or font from another origin.
            #expect(!page.body.contains("src=\"http") && !page.body.contains("href=\"http") && !page.body.contains("cdn"))
        }
    }
}
