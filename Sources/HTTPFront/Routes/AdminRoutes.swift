import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OrchestratorCore

/// The `/admin` CRUD routes over an ``AdminService``: admin key required (a client
/// key is 403), JSON documents in the config file's field names, `ETag` on every
/// entity, `If-Match` (412 when stale), merge-patch, `{data,next_cursor}` lists, 201
/// on creation and 204 on deletion.
struct AdminRoutes {
    let admin: any AdminService
    let logs: (any RequestLogStore)?
    let access: AccessPolicy
    let maxBodyBytes: Int

    func register(on router: Router<GatewayRequestContext>) {
        let admin = self.admin
        let access = self.access
        let limit = maxBodyBytes
        @Sendable func authorize(_ request: Request) throws(GatewayError) {
            try access.authenticateAdmin(ClientCredential.extract(headers: request.headers, query: nil))
        }
        for resource in AdminResource.allCases {
            let collection = RouterPath("/admin/\(resource.rawValue)")
            let item = RouterPath("/admin/\(resource.rawValue)/{name}")
            router.get(collection) { request, _ in
                try authorize(request)
                let query = request.uri.queryParameters
                let page = try await admin.list(
                    resource, limit: try Self.pageLimit(query.get("limit").map { String($0) }),
                    cursor: query.get("cursor").map { String($0) })
                return try jsonResponse(AdminPageBody(page))
            }
            router.post(collection) { request, _ in
                try authorize(request)
                let entity = try await admin.create(resource, try await Self.body(request, limit: limit))
                var response = try Self.entityResponse(entity, status: .created)
                if let name = entity.body[resource == .keys ? "id" : "name"]?.stringValue {
                    let segment = name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? name
                    response.headers[.location] = "/admin/\(resource.rawValue)/\(segment)"
                }
                return response
            }
            router.get(item) { request, context in
                try authorize(request)
                return try Self.entityResponse(try await admin.get(resource, try Self.name(context)))
            }
            router.put(item) { request, context in
                try authorize(request)
                let entity = try await admin.replace(
                    resource, try Self.name(context), try await Self.body(request, limit: limit), ifMatch: try Self.ifMatch(request))
                return try Self.entityResponse(entity)
            }
            router.patch(item) { request, context in
                try authorize(request)
                let entity = try await admin.patch(
                    resource, try Self.name(context), try await Self.body(request, limit: limit), ifMatch: try Self.ifMatch(request))
                return try Self.entityResponse(entity)
            }
            router.delete(item) { request, context in
                try authorize(request)
                try await admin.delete(resource, try Self.name(context), ifMatch: try Self.ifMatch(request))
                return Response(status: .noContent)
            }
        }
        if let logs {
            router.get("/admin/logs") { request, _ in
                try authorize(request)
                let query = try LogQueryParser.parse(request.uri.queryParameters)
                let page = try await Self.loading { try await logs.logs(query) }
                let next = page.count == query.limit ? page.last.map { LogQueryParser.cursor(after: $0) } : nil
                return try jsonResponse(AdminPageBody(AdminPage(items: page.map { LogDocuments.summary($0) }, nextCursor: next)))
            }
            router.get("/admin/logs/{id}") { request, context in
                try authorize(request)
                let id = context.parameters.get("id") ?? ""
                guard let entry = try await Self.loading({ try await logs.log(id: id) }) else {
                    throw GatewayError.notFound("No request log \(id).", code: "log_not_found")
                }
                return try jsonResponse(LogDocuments.detail(entry))
            }
        }
        router.post("/admin/providers/batch") { request, _ in
            try authorize(request)
            return try jsonResponse(try await admin.batchProviders(try await Self.body(request, limit: limit)))
        }
        router.get("/admin/config/export") { request, _ in
            try authorize(request)
            let accept = request.headers[.accept]?.lowercased() ?? ""
            let wantsJSON = accept.contains("json") || request.uri.queryParameters.get("format").map { $0 == "json" } == true
            let (contentType, text) = try await admin.exportConfiguration(yaml: !wantsJSON)
            return Response(
                status: .ok, headers: [.contentType: contentType], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        router.post("/admin/config/import") { request, _ in
            try authorize(request)
            let bytes = try await Self.collect(request, limit: limit)
            // Checked before it becomes a String, which would repair bad bytes silently.
            if let offset = bytes.withUnsafeReadableBytes({ JSONValidator.invalidUTF8Offset(in: $0) }) {
                throw GatewayError.invalidRequest("The document is not valid UTF-8 (byte \(offset)).")
            }
            let dryRun = request.uri.queryParameters.get("dry_run").map { $0 == "true" || $0 == "1" } ?? false
            return try jsonResponse(try await admin.importConfiguration(String(buffer: bytes), dryRun: dryRun))
        }
        router.get("/admin/audit") { request, _ in
            try authorize(request)
            let query = request.uri.queryParameters
            func value(_ name: String) -> String? { query.get(name).map { String($0) }.flatMap { $0.isEmpty ? nil : $0 } }
            let page = try await admin.audit(
                limit: try Self.pageLimit(value("limit")), cursor: value("cursor"), resource: value("resource"),
                entity: value("entity"))
            return try jsonResponse(AdminPageBody(page))
        }
        router.post("/admin/providers/{name}/check") { request, context in
            try authorize(request)
            return try jsonResponse(try await admin.checkProvider(try Self.name(context)))
        }
        router.post("/admin/providers/{name}/keys") { request, context in
            try authorize(request)
            let entity = try await admin.addProviderKey(try Self.name(context), try await Self.body(request, limit: limit))
            return try Self.entityResponse(entity, status: .created)
        }
        router.patch("/admin/providers/{name}/keys/{id}") { request, context in
            try authorize(request)
            let entity = try await admin.updateProviderKey(
                try Self.name(context), keyID: context.parameters.get("id") ?? "", try await Self.body(request, limit: limit))
            return try Self.entityResponse(entity)
        }
        router.delete("/admin/providers/{name}/keys/{id}") { request, context in
            try authorize(request)
            try await admin.removeProviderKey(try Self.name(context), keyID: context.parameters.get("id") ?? "")
            return Response(status: .noContent)
        }
    }

    /// The `limit` of a list: 1…`maximum`, 50 when absent, else a 400 naming `limit`.
    static func pageLimit(_ text: String?, maximum: Int = 200) throws(GatewayError) -> Int {
        guard let text, !text.isEmpty else { return 50 }
        guard let limit = Int(text), (1...maximum).contains(limit) else {
            throw .invalidRequest("limit must be a whole number from 1 to \(maximum)", param: "limit")
        }
        return limit
    }

    /// A store read, its failure a 503 (the database is the problem, not the request).
    static func loading<T>(_ body: () async throws -> T) async throws(GatewayError) -> T {
        do {
            return try await body()
        } catch {
            throw GatewayError.databaseUnavailable
        }
    }

    static func name(_ context: GatewayRequestContext) throws(GatewayError) -> String {
        guard let name = context.parameters.get("name"), !name.isEmpty else { throw .invalidRequest("The path names no entity.") }
        return name.removingPercentEncoding ?? name
    }

    /// The raw body (413 past the limit).
    static func collect(_ request: Request, limit: Int) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: limit)
        } catch {
            throw GatewayError.payloadTooLarge(limit: limit)
        }
    }

    /// The JSON body (400 when it is not JSON, 413 past the limit).
    static func body(_ request: Request, limit: Int) async throws -> JSONValue {
        let bytes = try await collect(request, limit: limit)
        if bytes.readableBytes == 0 { throw GatewayError.invalidRequest("The request needs a JSON body.") }
        return try JSONCoding.decodeRequest(JSONValue.self, from: bytes)
    }

    /// `If-Match: "<version>"`, compared strongly (RFC 9110: a weak tag never matches);
    /// `*` means any version. Of a list, the highest version is the one that can match.
    static func ifMatch(_ request: Request) throws(GatewayError) -> Int64? {
        guard let value = request.headers[.ifMatch]?.trimmingCharacters(in: .whitespaces), !value.isEmpty, value != "*" else {
            return nil
        }
        let versions = value.split(separator: ",").compactMap { item -> Int64? in
            let tag = item.trimmingCharacters(in: .whitespaces)
            guard tag.hasPrefix("\""), tag.hasSuffix("\""), tag.count >= 2 else { return nil }
            return Int64(tag.dropFirst().dropLast())
        }
        guard let version = versions.max() else {
            throw GatewayError(
                status: 412, type: "invalid_request_error", code: "precondition_failed",
                message: "If-Match names no current version of this entity (send the ETag as read).")
        }
        return version
    }

    static func entityResponse(_ entity: AdminEntity, status: HTTPResponse.Status = .ok) throws -> Response {
        var response = try jsonResponse(entity.body, status: status)
        response.headers[.eTagHeader] = "\"\(entity.version)\""
        return response
    }
}

/// `{"data": [...], "next_cursor": ...}`.
struct AdminPageBody: Encodable {
    var page: AdminPage

    init(_ page: AdminPage) { self.page = page }

    enum CodingKeys: String, CodingKey {
        case data
        case nextCursor = "next_cursor"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(page.items, forKey: .data)
        try c.encode(page.nextCursor, forKey: .nextCursor)
    }
}

extension HTTPField.Name {
    static let ifMatch = HTTPField.Name("If-Match")!
    static let eTagHeader = HTTPField.Name("ETag")!
}
