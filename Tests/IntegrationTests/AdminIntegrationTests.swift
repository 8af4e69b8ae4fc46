import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OrchestratorCore
import OrchestratorTesting
import Testing
import Yams

@testable import orchestratord

/// The `/admin` CRUD API through the real server: payload rules of DESIGN.md §5,
/// validation, conflicts, versions, pagination, live routing changes, and no secret in
/// any answer or log line.
@Suite(.serialized)
struct AdminIntegrationTests {
    static let adminKey = "admin-key-for-tests-0123456789"
    static let admin = [("Authorization", "Bearer \(adminKey)")]

    static func config(upstream: String) -> String {
        """
        admin: { key: "\(adminKey)" }
        keys:
          - { name: tester, key: "sk-test-client-000111" }
        providers:
          - { name: file-up, type: openai, base_url: "\(upstream)/v1", api_keys: ["sk-upstream-file-secret-1111"] }
          - { name: demo, type: mock, mock: { reply: "mock says hi" } }
        models:
          - name: chat
            targets: [{ provider: demo, model: mock-1 }]
        routing: { max_attempts: 2, backoff_initial_ms: 1, backoff_max_ms: 5, timeout_s: 20 }
        """
    }

    /// Sends any method with a JSON body.
    static func send(
        _ method: HTTPMethod, _ url: String, _ body: String? = nil, headers: [(String, String)] = admin
    ) async throws -> Client.Reply {
        try await Client.send(method, url, body: body.map { ByteBuffer(string: $0) }, headers: headers)
    }

    static let secrets = ["sk-upstream-file-secret-1111", "sk-upstream-api-secret-2222", "sk-upstream-api-secret-3333", adminKey,
        "header-secret-value-4444", "proxy-password-5555"]

    @Test func providerLifecycleWithKeyPoolsVersionsAndMasking() async throws {
        let capture = LogCapture()
        try await MockUpstream.withServer({ _ in .json(200, OpenAIFixtures.completion(content: "from api upstream")) }) { upstream in
            try await withGateway(Self.config(upstream: upstream.baseURL), capture: capture) { _, url in
                var answers: [String] = []
                // Create: 201, ETag, Location, keys masked, header secret masked.
                let create = try await Self.send(
                    .POST, url + "/admin/providers",
                    #"{"name":"api-up","type":"openai","base_url":"\#(upstream.baseURL)/v1","api_keys":["sk-upstream-api-secret-2222"],"headers":{"X-Api-Token":"header-secret-value-4444","X-Team":"blue"},"http_proxy":""}"#)
                answers.append(create.body)
                #expect(create.status == 201)
                #expect(create.headers.first(name: "location") == "/admin/providers/api-up")
                let etag1 = try #require(create.headers.first(name: "etag"))
                let doc = try #require(create.json)
                #expect(doc["source"] == .string("api"))
                #expect(doc["api_keys"]?.arrayValue?.first?["last4"] == .string("2222"))
                #expect(doc["headers"]?["X-Api-Token"] == .string("****4444"))
                #expect(doc["headers"]?["X-Team"] == .string("blue"))

                // Conflict on the name; validation names the field.
                #expect(try await Self.send(.POST, url + "/admin/providers", #"{"name":"api-up","type":"openai"}"#).status == 409)
                let invalid = try await Self.send(.POST, url + "/admin/providers", #"{"name":"x","type":"opena1"}"#)
                #expect(invalid.status == 400)
                #expect(invalid.json?["error"]?["param"] == .string("type"))
                let unknownField = try await Self.send(.POST, url + "/admin/providers", #"{"name":"x","type":"openai","colour":"red"}"#)
                #expect(unknownField.json?["error"]?["param"] == .string("colour"))
                let notJSON = try await Self.send(.POST, url + "/admin/providers", "{nope")
                #expect(notJSON.status == 400)
                // No environment expansion in admin documents.
                let expanded = try await Self.send(
                    .POST, url + "/admin/providers", #"{"name":"env","type":"openai","base_url":"https://x.test/${HOME}"}"#)
                #expect(expanded.json?["base_url"] == .string("https://x.test/${HOME}"))

                // PUT the document back as read (masked keys and headers): stored secrets stay.
                var edited = doc.mergePatched(with: .object(["timeout_s": .int(33)]))
                let put = try await Self.send(.PUT, url + "/admin/providers/api-up", try JSONCoding.encodeString(edited), headers: Self.admin + [("If-Match", etag1)])
                answers.append(put.body)
                #expect(put.status == 200)
                let etag2 = try #require(put.headers.first(name: "etag"))
                #expect(etag2 != etag1)
                #expect(put.json?["timeout_s"] == .int(33) || put.json?["timeout_s"] == .double(33))
                #expect(put.json?["api_keys"]?.arrayValue?.count == 1)
                // A stale If-Match: 412.
                edited = doc.mergePatched(with: .object(["timeout_s": .int(44)]))
                let stale = try await Self.send(.PUT, url + "/admin/providers/api-up", try JSONCoding.encodeString(edited), headers: Self.admin + [("If-Match", etag1)])
                #expect(stale.status == 412)
                // Merge-patch; renaming is refused.
                let patched = try await Self.send(.PATCH, url + "/admin/providers/api-up", #"{"headers":{"X-Team":null},"rpm":5}"#)
                answers.append(patched.body)
                #expect(patched.status == 200)
                #expect(patched.json?["headers"]?["X-Team"] == nil)
                #expect(patched.json?["headers"]?["X-Api-Token"] == .string("****4444"))
                #expect(patched.json?["rpm"] == .int(5))
                #expect(try await Self.send(.PATCH, url + "/admin/providers/api-up", #"{"name":"renamed"}"#).status == 400)

                // The key pool, one key at a time.
                let added = try await Self.send(.POST, url + "/admin/providers/api-up/keys", #"{"key":"sk-upstream-api-secret-3333"}"#)
                answers.append(added.body)
                #expect(added.status == 201)
                let keys = try #require(added.json?["api_keys"]?.arrayValue)
                #expect(keys.map { $0["last4"]?.stringValue } == ["2222", "3333"])
                let secondID = try #require(keys.last?["id"]?.stringValue)
                let disabled = try await Self.send(.PATCH, url + "/admin/providers/api-up/keys/\(secondID)", #"{"enabled":false}"#)
                #expect(disabled.json?["api_keys"]?.arrayValue?.last?["state"] == .string("disabled"))
                #expect(try await Self.send(.DELETE, url + "/admin/providers/api-up/keys/\(secondID)").status == 204)
                #expect(try await Self.send(.DELETE, url + "/admin/providers/api-up/keys/\(secondID)").status == 404)

                // A model routes to it at once; then the provider cannot go while used.
                let model = try await Self.send(.POST, url + "/admin/models", #"{"name":"api-model","targets":[{"provider":"api-up","model":"gpt-api"}]}"#)
                #expect(model.status == 201)
                let chat = try await Client.post(url + "/v1/chat/completions", #"{"model":"api-model","messages":[{"role":"user","content":"hi"}]}"#)
                #expect(chat.status == 200)
                #expect(chat.body.contains("from api upstream"))
                #expect(upstream.requests.last?.header("authorization") == "Bearer sk-upstream-api-secret-2222")
                #expect(try await Self.send(.DELETE, url + "/admin/providers/api-up").status == 409)
                #expect(try await Self.send(.DELETE, url + "/admin/models/api-model").status == 204)
                #expect(try await Client.post(url + "/v1/chat/completions", #"{"model":"api-model","messages":[{"role":"user","content":"hi"}]}"#).status == 404)
                #expect(try await Self.send(.DELETE, url + "/admin/providers/api-up").status == 204)
                #expect(try await Self.send(.GET, url + "/admin/providers/api-up").status == 404)

                // Nothing the admin API answered, and no log line, holds a secret.
                let listed = try await Self.send(.GET, url + "/admin/providers")
                answers.append(listed.body)
                for secret in Self.secrets {
                    for answer in answers { #expect(!answer.contains(secret), "an answer shows \(secret)") }
                }
                for line in capture.all {
                    for secret in Self.secrets { #expect(!line.contains(secret), "a log line shows \(secret): \(line)") }
                }
            }
        }
    }

    @Test func editingAModelRoutesTheNextRequestDifferently() async throws {
        try await MockUpstream.withServer({ _ in .json(200, OpenAIFixtures.completion(content: "from the file upstream")) }) { upstream in
            try await withGateway(Self.config(upstream: upstream.baseURL)) { _, url in
                let before = try await Client.post(url + "/v1/chat/completions", #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#)
                #expect(before.body.contains("mock says hi"))
                let current = try await Self.send(.GET, url + "/admin/models/chat")
                let etag = try #require(current.headers.first(name: "etag"))
                let put = try await Self.send(
                    .PUT, url + "/admin/models/chat", #"{"targets":[{"provider":"file-up","model":"gpt-file"}]}"#,
                    headers: Self.admin + [("If-Match", etag)])
                #expect(put.status == 200)
                #expect(put.json?["source"] == .string("api"))
                let after = try await Client.post(url + "/v1/chat/completions", #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#)
                #expect(after.body.contains("from the file upstream"))
                #expect(after.headers.first(name: "x-orchestrator-provider") == "file-up")
            }
        }
    }

    @Test func clientKeysAreShownOnceAndTakeEffectAtOnce() async throws {
        let capture = LogCapture()
        try await withGateway(Self.config(upstream: "http://127.0.0.1:9"), capture: capture) { _, url in
            let created = try await Self.send(.POST, url + "/admin/keys", #"{"name":"team-b","models":["chat"],"rpm":60}"#)
            #expect(created.status == 201)
            let secret = try #require(created.json?["key"]?.stringValue)
            #expect(secret.hasPrefix("sk-orch-") && secret.count == 48)
            let id = try #require(created.json?["id"]?.stringValue)
            #expect(created.json?["prefix"]?.stringValue.map { secret.hasPrefix($0) } == true)
            // Usable at once; never shown again.
            let chat = try await Client.post(
                url + "/v1/chat/completions", #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#,
                headers: [("Authorization", "Bearer \(secret)")])
            #expect(chat.status == 200)
            let fetched = try await Self.send(.GET, url + "/admin/keys/\(id)")
            #expect(fetched.status == 200)
            #expect(!fetched.body.contains(secret))
            #expect(fetched.json?["rpm"] == .int(60))
            let byName = try await Self.send(.GET, url + "/admin/keys/team-b")
            #expect(byName.json?["id"] == .string(id))
            // Its secret cannot be changed; disabling it shuts it out.
            #expect(try await Self.send(.PATCH, url + "/admin/keys/\(id)", #"{"key":"sk-new-secret-value-000000"}"#).status == 400)
            let disabled = try await Self.send(.PATCH, url + "/admin/keys/\(id)", #"{"enabled":false}"#)
            #expect(disabled.status == 200)
            let refused = try await Client.post(
                url + "/v1/chat/completions", #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#,
                headers: [("Authorization", "Bearer \(secret)")])
            #expect(refused.status == 401)
            #expect(try await Self.send(.POST, url + "/admin/keys", #"{"name":"team-b"}"#).status == 409)
            #expect(try await Self.send(.POST, url + "/admin/keys", #"{"name":"short","key":"abc"}"#).status == 400)
            #expect(try await Self.send(.DELETE, url + "/admin/keys/\(id)").status == 204)
            for line in capture.all { #expect(!line.contains(secret)) }
        }
    }

    @Test func listsPageStablyWhileRowsAreInserted() async throws {
        try await withGateway(Self.config(upstream: "http://127.0.0.1:9")) { _, url in
            for i in 0..<7 {
                _ = try await Self.send(.POST, url + "/admin/models", #"{"name":"m-\#(i)","targets":[{"provider":"demo","model":"x"}]}"#)
            }
            var names: [String] = []
            var cursor: String?
            var inserted = false
            repeat {
                let page = try await Self.send(.GET, url + "/admin/models?limit=3" + (cursor.map { "&cursor=\($0)" } ?? ""))
                #expect(page.status == 200)
                names += page.json?["data"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
                cursor = page.json?["next_cursor"]?.stringValue
                if !inserted {
                    // A row sorting before the cursor appears mid-listing: the pages do not shift.
                    _ = try await Self.send(.POST, url + "/admin/models", #"{"name":"a-late","targets":[{"provider":"demo","model":"x"}]}"#)
                    inserted = true
                }
            } while cursor != nil
            #expect(names == ["chat", "m-0", "m-1", "m-2", "m-3", "m-4", "m-5", "m-6"])
            #expect(try await Self.send(.GET, url + "/admin/models?cursor=%%%").status == 400)
        }
    }

    @Test func batchIsAllOrNothingAndAuthIsEnforced() async throws {
        try await withGateway(Self.config(upstream: "http://127.0.0.1:9")) { _, url in
            let failed = try await Self.send(
                .POST, url + "/admin/providers/batch",
                #"{"operations":[{"op":"upsert","provider":{"name":"b1","type":"openai"}},{"op":"disable","name":"ghost"}]}"#)
            #expect(failed.status == 404)
            #expect(try await Self.send(.GET, url + "/admin/providers/b1").status == 404)
            let ok = try await Self.send(
                .POST, url + "/admin/providers/batch",
                #"{"operations":[{"op":"upsert","provider":{"name":"b1","type":"openai"}},{"op":"disable","name":"demo"}]}"#)
            #expect(ok.status == 200)
            #expect(try await Self.send(.GET, url + "/admin/providers/demo").json?["enabled"] == .bool(false))
            let badOp = try await Self.send(.POST, url + "/admin/providers/batch", #"{"operations":[{"op":"explode","name":"b1"}]}"#)
            #expect(badOp.json?["error"]?["param"] == .string("operations[0].op"))
            // No key: 401; a client key: 403.
            #expect(try await Self.send(.GET, url + "/admin/models", headers: []).status == 401)
            #expect(try await Self.send(.GET, url + "/admin/models", headers: [("Authorization", "Bearer sk-test-client-000111")]).status == 403)
            #expect(try await Self.send(.DELETE, url + "/admin/keys/tester", headers: [("Authorization", "Bearer sk-test-client-000111")]).status == 403)
        }
    }
}

/// `GET /admin/logs` and `GET /admin/logs/{id}` through the real server.
@Suite(.serialized)
struct AdminLogsIntegrationTests {
    @Test func logsFilterPageAndShowOne() async throws {
        try await withGateway(AdminIntegrationTests.config(upstream: "http://127.0.0.1:9")) { gateway, url in
            for i in 0..<5 {
                _ = try await Client.post(url + "/v1/chat/completions", #"{"model":"chat","messages":[{"role":"user","content":"hi \#(i)"}]}"#)
            }
            _ = try await Client.post(url + "/v1/chat/completions", #"{"model":"nope","messages":[{"role":"user","content":"x"}]}"#)
            try await waitForLogRows(gateway, 6)
            var ids: [String] = []
            var cursor: String?
            repeat {
                let page = try await AdminIntegrationTests.send(
                    .GET, url + "/admin/logs?model=chat&limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""))
                #expect(page.status == 200)
                let rows = page.json?["data"]?.arrayValue ?? []
                #expect(rows.allSatisfy { $0["model"] == .string("chat") && $0["status"] == .int(200) })
                ids += rows.compactMap { $0["id"]?.stringValue }
                cursor = page.json?["next_cursor"]?.stringValue
            } while cursor != nil
            #expect(ids.count == 5 && Set(ids).count == 5)
            let failed = try await AdminIntegrationTests.send(.GET, url + "/admin/logs?status=404")
            #expect(failed.json?["data"]?.arrayValue?.first?["model"] == .string("nope"))
            let since = try await AdminIntegrationTests.send(.GET, url + "/admin/logs?since=2099-01-01T00:00:00Z")
            #expect(since.json?["data"]?.arrayValue?.isEmpty == true)
            // The id a client saw in `x-request-id` finds that request's row, and only it.
            let sent = try await Client.post(
                url + "/v1/chat/completions", #"{"model":"chat","messages":[{"role":"user","content":"find me"}]}"#,
                headers: [("Authorization", "Bearer sk-test-client-000111"), ("x-request-id", "support-case:42.a_b")])
            #expect(sent.headers.first(name: "x-request-id") == "support-case:42.a_b")
            try await waitForLogRows(gateway, 7)
            let found = try await AdminIntegrationTests.send(.GET, url + "/admin/logs?request_id=support-case:42.a_b")
            #expect(found.status == 200)
            let foundRows = found.json?["data"]?.arrayValue ?? []
            #expect(foundRows.count == 1)
            #expect(foundRows.first?["request_id"] == .string("support-case:42.a_b"))
            #expect(foundRows.first?["model"] == .string("chat"))
            let other = try await AdminIntegrationTests.send(.GET, url + "/admin/logs?request_id=support-case:43&model=chat")
            #expect(other.json?["data"]?.arrayValue?.isEmpty == true)
            let one = try await AdminIntegrationTests.send(.GET, url + "/admin/logs/\(ids[0])")
            #expect(one.status == 200)
            #expect(one.json?["attempts_detail"]?.arrayValue?.count == 1)
            #expect(one.json?["request_body"] == .null, "the key does not log bodies")
            #expect(try await AdminIntegrationTests.send(.GET, url + "/admin/logs/unknown-id").status == 404)
            for bad in ["status=abc", "limit=0", "since=yesterday", "cursor=%%%", "request_id=a%20b", "request_id=" + String(repeating: "x", count: 129)] {
                let reply = try await AdminIntegrationTests.send(.GET, url + "/admin/logs?\(bad)")
                #expect(reply.status == 400, "\(bad)")
                if bad.hasPrefix("request_id") { #expect(reply.json?["error"]?["param"] == .string("request_id")) }
            }
            #expect(try await AdminIntegrationTests.send(.GET, url + "/admin/logs", headers: []).status == 401)
        }
    }
}

/// Bad admin input is a precise 4xx, never a crash or a 5xx.
@Suite(.serialized)
struct AdminValidationTests {
    @Test func outOfRangeNamesAndConflictsAreRefused() async throws {
        try await withGateway(AdminIntegrationTests.config(upstream: "http://127.0.0.1:9")) { _, url in
            func post(_ path: String, _ body: String) async throws -> Client.Reply {
                try await AdminIntegrationTests.send(.POST, url + path, body)
            }
            let cases: [(String, String, Int, String?)] = [
                ("/admin/keys", #"{"name":"big","budget_usd":1e13}"#, 400, "budget_usd"),
                ("/admin/keys", #"{"name":"big","rpm":3000000000}"#, 400, "rpm"),
                ("/admin/providers", #"{"name":"p","type":"openai","stream_idle_timeout_s":1e16}"#, 400, "stream_idle_timeout_s"),
                ("/admin/providers", #"{"name":"a/b","type":"openai"}"#, 400, "name"),
                ("/admin/providers", #"{"name":" padded","type":"openai"}"#, 400, "name"),
                ("/admin/providers", #"{"name":"batch","type":"openai"}"#, 400, "name"),
                ("/admin/providers", #"{"name":"\#(String(repeating: "n", count: 201))","type":"openai"}"#, 400, "name"),
                ("/admin/providers", #"{"name":7,"type":"openai"}"#, 400, nil),
                ("/admin/providers", #"[1,2]"#, 400, nil),
                ("/admin/models", #"{"name":"m","targets":"nope"}"#, 400, "targets"),
                ("/admin/keys", #"{"name":"dup","key":"sk-test-client-000111"}"#, 409, nil),
            ]
            for (path, body, status, param) in cases {
                let reply = try await post(path, body)
                #expect(reply.status == status, "\(path) \(body): \(reply.body)")
                if let param { #expect(reply.json?["error"]?["param"] == .string(param), "\(body): \(reply.body)") }
            }
            // A batch that upserts and then disables keeps the upsert.
            let batch = try await AdminIntegrationTests.send(
                .POST, url + "/admin/providers/batch",
                #"{"operations":[{"op":"upsert","provider":{"name":"fresh","type":"openai","base_url":"https://new.test/v1"}},{"op":"disable","name":"fresh"}]}"#)
            #expect(batch.status == 200, "\(batch.body)")
            let fresh = try await AdminIntegrationTests.send(.GET, url + "/admin/providers/fresh")
            #expect(fresh.json?["base_url"] == .string("https://new.test/v1"))
            #expect(fresh.json?["enabled"] == .bool(false))
            // If-Match compares strongly: a weak tag is 412; a list containing the current one matches.
            let etag = try #require(fresh.headers.first(name: "etag"))
            let weak = try await AdminIntegrationTests.send(
                .PATCH, url + "/admin/providers/fresh", #"{"rpm":1}"#, headers: AdminIntegrationTests.admin + [("If-Match", "W/\(etag)")])
            #expect(weak.status == 412)
            let listed = try await AdminIntegrationTests.send(
                .PATCH, url + "/admin/providers/fresh", #"{"rpm":1}"#, headers: AdminIntegrationTests.admin + [("If-Match", "\"1\", \(etag)")])
            #expect(listed.status == 200)
        }
    }

    /// Found by the schemathesis run: names that collide with routes or ids, and list
    /// limits that were silently clamped.
    @Test func reservedNamesIdNamesAndLimitsAreRefused() async throws {
        try await withGateway(AdminIntegrationTests.config(upstream: "http://127.0.0.1:9")) { _, url in
            func send(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> Client.Reply {
                try await AdminIntegrationTests.send(method, url + path, body)
            }
            // "batch" is reserved on every path that creates providers, not only POST.
            let imported = try await send(.POST, "/admin/config/import", #"{"providers":[{"name":"batch","type":"mock"}]}"#)
            #expect(imported.status == 400 && imported.json?["error"]?["param"] == .string("providers[0].name"), "\(imported.body)")
            let upserted = try await send(
                .POST, "/admin/providers/batch", #"{"operations":[{"op":"upsert","provider":{"name":"batch","type":"mock"}}]}"#)
            #expect(upserted.status == 400, "\(upserted.body)")

            // A key named after another key's id would be shadowed by it.
            let first = try await send(.POST, "/admin/keys", #"{"name":"first-key"}"#)
            let firstID = try #require(first.json?["id"]?.stringValue)
            let shadow = try await send(.POST, "/admin/keys", #"{"name":"\#(firstID)"}"#)
            #expect(shadow.status == 409 && shadow.json?["error"]?["param"] == .string("name"), "\(shadow.body)")
            #expect(try await send(.GET, "/admin/keys/first-key").json?["id"]?.stringValue == firstID)

            for path in ["/admin/providers", "/admin/models", "/admin/keys", "/admin/audit"] {
                for bad in ["0", "201", "abc", "-1", "1.5"] {
                    let reply = try await send(.GET, path + "?limit=" + bad)
                    #expect(reply.status == 400 && reply.json?["error"]?["param"] == .string("limit"), "\(path) limit=\(bad)")
                }
                #expect(try await send(.GET, path + "?limit=200").status == 200)
            }
            #expect(try await send(.GET, "/admin/logs?limit=1000").status == 200)
            #expect(try await send(.GET, "/admin/logs?limit=1001").status == 400)
        }
    }

    @Test func maskedProxyPasswordsSurviveAHostChange() {
        #expect(AdminDocuments.maskedProxy("http://user:s3cret@proxy.test:8080") == "http://user:****@proxy.test:8080")
        #expect(
            AdminDocuments.unmaskedProxy("http://user:****@other.test:9090", stored: "http://user:s3cret@proxy.test:8080")
                == "http://user:s3cret@other.test:9090")
        #expect(AdminDocuments.unmaskedProxy("http://user:new@other.test", stored: "http://user:s3cret@proxy.test") == "http://user:new@other.test")
        #expect(AdminDocuments.unmaskedProxy("socks5://p.test:1080", stored: "") == "socks5://p.test:1080")
    }
}

@Suite(.serialized)
struct AdminCheckTests {
    @Test func checkProbesEveryKeyNow() async throws {
        try await MockUpstream.withServer({ request in
            request.header("authorization") == "Bearer sk-upstream-file-secret-1111"
                ? .json(200, #"{"object":"list","data":[]}"#)
                : .json(401, #"{"error":{"message":"Incorrect API key provided: sk-upstr***","type":"invalid_request_error"}}"#)
        }) { upstream in
            try await withGateway(AdminIntegrationTests.config(upstream: upstream.baseURL)) { _, url in
                let added = try await AdminIntegrationTests.send(
                    .POST, url + "/admin/providers/file-up/keys", #"{"key":"sk-upstream-wrong-key-0000"}"#)
                #expect(added.status == 201)
                let check = try await AdminIntegrationTests.send(.POST, url + "/admin/providers/file-up/check")
                #expect(check.status == 200, "\(check.body)")
                #expect(check.json?["ok"] == .bool(true))
                let keys = check.json?["keys"]?.arrayValue ?? []
                #expect(keys.map { $0["ok"] } == [.bool(true), .bool(false)])
                #expect(keys.last?["last4"] == .string("0000"))
                #expect(!check.body.contains("sk-upstream-wrong-key-0000") && !check.body.contains("sk-upstream-file-secret-1111"))
                // The refused key shows as disabled in the health report at once.
                let health = try await AdminIntegrationTests.send(.GET, url + "/admin/health")
                #expect(health.body.contains("\"disabled\""))
                #expect(try await AdminIntegrationTests.send(.POST, url + "/admin/providers/ghost/check").status == 404)
            }
        }
    }
}

@Suite(.serialized)
struct AdminAuditTests {
    @Test func everyWriteIsAuditedWithoutSecrets() async throws {
        try await withGateway(AdminIntegrationTests.config(upstream: "http://127.0.0.1:9")) { _, url in
            func send(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> Client.Reply {
                try await AdminIntegrationTests.send(method, url + path, body)
            }
            _ = try await send(.POST, "/admin/providers", #"{"name":"aud","type":"openai","api_keys":["sk-audit-upstream-secret-7777"]}"#)
            _ = try await send(.PATCH, "/admin/providers/aud", #"{"rpm":9}"#)
            let key = try await send(.POST, "/admin/keys", #"{"name":"aud-key"}"#)
            let secret = try #require(key.json?["key"]?.stringValue)
            _ = try await send(.DELETE, "/admin/providers/aud")
            #expect(try await send(.POST, "/admin/providers", #"{"name":"aud","type":"nope"}"#).status == 400)
            let page = try await send(.GET, "/admin/audit?limit=10")
            #expect(page.status == 200)
            let entries = try #require(page.json?["data"]?.arrayValue)
            #expect(entries.map { $0["action"]?.stringValue ?? "" } == ["delete", "create", "patch", "create"], "a refused write is not a change")
            #expect(entries.allSatisfy { $0["actor"]?.stringValue?.hasPrefix("admin:") == true })
            let patch = entries[2]
            #expect(patch["before"]?["rpm"] == .int(0) && patch["after"]?["rpm"] == .int(9))
            #expect(entries[0]["after"] == .null && entries[0]["before"]?["name"] == .string("aud"))
            #expect(!page.body.contains("sk-audit-upstream-secret-7777") && !page.body.contains(secret))
            #expect(!page.body.contains(AdminIntegrationTests.adminKey))
            let filtered = try await send(.GET, "/admin/audit?resource=keys")
            #expect(filtered.json?["data"]?.arrayValue?.map { $0["entity"] } == [.string("aud-key")])
            let first = try await send(.GET, "/admin/audit?limit=2")
            let cursor = try #require(first.json?["next_cursor"]?.stringValue)
            let second = try await send(.GET, "/admin/audit?limit=2&cursor=\(cursor)")
            #expect(second.json?["data"]?.arrayValue?.map { $0["action"] } == [.string("patch"), .string("create")])
            #expect(try await AdminIntegrationTests.send(.GET, url + "/admin/audit", headers: []).status == 401)
        }
    }
}

@Suite(.serialized)
struct AdminConfigTransferTests {
    @Test func exportImportRoundTripAndDryRun() async throws {
        try await withGateway(AdminIntegrationTests.config(upstream: "http://127.0.0.1:9")) { _, url in
            func send(_ method: HTTPMethod, _ path: String, _ body: String? = nil, headers: [(String, String)] = []) async throws -> Client.Reply {
                try await AdminIntegrationTests.send(method, url + path, body, headers: AdminIntegrationTests.admin + headers)
            }
            _ = try await send(
                .POST, "/admin/providers",
                #"{"name":"exp","type":"openai","api_keys":["sk-export-secret-5555"],"headers":{"X-Api-Key":"hdr-secret-6666"}}"#)
            let yaml = try await send(.GET, "/admin/config/export")
            #expect(yaml.status == 200)
            #expect(yaml.headers.first(name: "content-type") == "application/yaml")
            #expect(yaml.body.contains("name: exp"))
            let json = try await send(.GET, "/admin/config/export", headers: [("Accept", "application/json")])
            let exported = try #require(json.json)
            #expect(exported["providers"]?.arrayValue?.count == 3)
            for secret in ["sk-export-secret-5555", "hdr-secret-6666", "sk-upstream-file-secret-1111", "sk-test-client-000111"] {
                #expect(!yaml.body.contains(secret) && !json.body.contains(secret), "export shows \(secret)")
            }
            // What was exported imports as no change at all (masked values keep the stored ones).
            for body in [yaml.body, json.body] {
                let dry = try await send(.POST, "/admin/config/import?dry_run=true", body)
                #expect(dry.status == 200, "\(dry.body)")
                #expect(dry.json?["changes"]?.arrayValue?.allSatisfy { $0["action"] == .string("unchanged") } == true, "\(dry.body)")
            }
            // A document adding a model and a key and changing a provider.
            let change = """
                providers:
                  - { name: exp, type: openai, timeout_s: 15, headers: { X-Api-Key: "****6666" } }
                models:
                  - { name: imported, targets: [{ provider: exp, model: gpt-imp }] }
                keys:
                  - { name: imported-key, models: [imported] }
                """
            let dry = try await send(.POST, "/admin/config/import?dry_run=true", change, headers: [("Content-Type", "application/yaml")])
            #expect(dry.json?["changes"]?.arrayValue?.map { $0["action"]?.stringValue ?? "" } == ["update", "create", "create"])
            #expect(try await send(.GET, "/admin/models/imported").status == 404, "a dry run changes nothing")
            let applied = try await send(.POST, "/admin/config/import", change, headers: [("Content-Type", "application/yaml")])
            #expect(applied.status == 200, "\(applied.body)")
            let secret = try #require(applied.json?["created_keys"]?.arrayValue?.first?["key"]?.stringValue)
            #expect(secret.hasPrefix("sk-orch-"))
            let provider = try await send(.GET, "/admin/providers/exp")
            #expect(provider.json?["timeout_s"] == .int(15) || provider.json?["timeout_s"] == .double(15))
            #expect(provider.json?["headers"]?["X-Api-Key"] == .string("****6666"))
            #expect(provider.json?["api_keys"]?.arrayValue?.count == 1, "keys the document omits are kept")
            let chat = try await Client.post(
                url + "/v1/chat/completions", #"{"model":"imported","messages":[{"role":"user","content":"hi"}]}"#,
                headers: [("Authorization", "Bearer \(secret)")])
            #expect(chat.status != 401)
            // Invalid documents name the entry; nothing is applied.
            let bad = try await send(.POST, "/admin/config/import", #"{"models":[{"name":"ok","targets":[{"provider":"demo","model":"x"}]},{"name":"bad","targets":"x"}]}"#)
            #expect(bad.status == 400)
            #expect(bad.json?["error"]?["param"] == .string("models[1].targets"))
            #expect(try await send(.GET, "/admin/models/ok").status == 404)
            #expect(try await send(.POST, "/admin/config/import", #"{"things":[]}"#).status == 400)
            #expect(try await send(.POST, "/admin/config/import", "::: not yaml [").status == 400)
            let bomb = try await send(.POST, "/admin/config/import?dry_run=true", ConfigLoaderTests.aliasBomb)
            #expect(bomb.status == 400 && bomb.body.contains("aliases"), "\(bomb.body)")
        }
    }

    /// Strings that a YAML reader would take for numbers, booleans, nulls or times are
    /// quoted in the export, so any YAML tool reads them back as the strings they are.
    @Test func exportedYAMLKeepsStringsStrings() async throws {
        try await withGateway(AdminIntegrationTests.config(upstream: "http://127.0.0.1:9")) { _, url in
            let tricky = ["0", "yes", "null", "2001-01-01", "1e3", "~", "0x1F", "true", "Off", ".inf", "-12", "+1", "1:20", "<<", "=", "NULL"]
            for name in tricky {
                let created = try await AdminIntegrationTests.send(.POST, url + "/admin/keys", #"{"name":"\#(name)","metadata":{"\#(name)":"\#(name)"}}"#)
                #expect(created.status == 201, "\(name): \(created.body)")
            }
            let yaml = try await AdminIntegrationTests.send(.GET, url + "/admin/config/export")
            let document = try #require(try Yams.load(yaml: yaml.body) as? [String: Any])
            let keys = try #require(document["keys"] as? [[String: Any]])
            let names = keys.compactMap { $0["name"] as? String }
            #expect(Set(tricky).isSubset(of: Set(names)), "\(yaml.body)")
            for key in keys where tricky.contains(key["name"] as? String ?? "") {
                let metadata = try #require(key["metadata"] as? [String: Any])
                #expect(metadata.count == 1 && metadata.first?.value is String, "\(metadata)")
            }
            // And the gateway reads its own export as no change.
            let dry = try await AdminIntegrationTests.send(.POST, url + "/admin/config/import?dry_run=true", yaml.body)
            #expect(dry.json?["changes"]?.arrayValue?.allSatisfy { $0["action"] == .string("unchanged") } == true, "\(dry.body)")
        }
    }
}

@Suite(.serialized)
struct MetricsTests {
    /// The value of a sample line `name{labels} value` (labels in any order), 0 if absent.
    static func value(_ text: String, _ name: String, _ labels: [String]) -> Double {
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            if labels.allSatisfy({ line.contains($0) }), let number = line.split(separator: " ").last.flatMap({ Double($0) }) {
                return number
            }
        }
        return 0
    }

    @Test func requestsTokensAttemptsAndCircuitsAreExported() async throws {
        try await MockUpstream.withServer({ _ in .json(503, #"{"error":{"message":"down"}}"#) }) { broken in
            try await withGateway(AdminIntegrationTests.config(upstream: broken.baseURL)) { _, url in
                let before = try await Client.get(url + "/metrics", headers: [])
                #expect(before.status == 200)
                #expect(before.headers.first(name: "content-type")?.hasPrefix("text/plain") == true)
                let okBefore = Self.value(
                    before.body, "orchestrator_requests_total", [#"model="chat""#, #"provider="demo""#, #"status="200""#])
                for _ in 0..<3 {
                    _ = try await Client.post(url + "/v1/chat/completions", #"{"model":"chat","messages":[{"role":"user","content":"hello there"}]}"#)
                }
                _ = try await Client.post(url + "/v1/chat/completions", #"{"model":"no-such-model","messages":[{"role":"user","content":"x"}]}"#)
                // An upstream of its own (the gauges are process-wide) answering 503:
                // attempts fail and its circuit opens.
                let created = try await AdminIntegrationTests.send(
                    .POST, url + "/admin/providers", #"{"name":"metrics-broken","type":"openai","base_url":"\#(broken.baseURL)/v1"}"#)
                #expect(created.status == 201)
                for _ in 0..<4 {
                    _ = try await Client.post(
                        url + "/v1/chat/completions", #"{"model":"metrics-broken/gpt-x","messages":[{"role":"user","content":"x"}]}"#)
                }
                let after = try await Client.get(url + "/metrics", headers: [])
                // Other suites running alongside may add to the same series: at least these three.
                #expect(
                    Self.value(after.body, "orchestrator_requests_total", [#"model="chat""#, #"provider="demo""#, #"status="200""#])
                        >= okBefore + 3)
                #expect(after.body.contains(#"model="(none)""#), "unknown models do not mint series")
                #expect(!after.body.contains("no-such-model"))
                #expect(Self.value(after.body, "orchestrator_tokens_total", [#"model="chat""#, #"type="prompt""#]) > 0)
                #expect(Self.value(after.body, "orchestrator_upstream_attempts_total", [#"provider="metrics-broken""#, #"status="503""#]) >= 1)
                #expect(after.body.contains("orchestrator_request_duration_seconds_bucket"))
                #expect(Self.value(after.body, "orchestrator_circuit_state", [#"provider="metrics-broken""#]) == 2, "the circuit is open")
                #expect(
                    after.body.split(separator: "\n").contains { $0.hasPrefix("orchestrator_log_queue_rows ") },
                    "the log queue gauge is exported")
                for secret in ["sk-upstream-file-secret-1111", "sk-test-client-000111", AdminIntegrationTests.adminKey] {
                    #expect(!after.body.contains(secret))
                }
            }
        }
    }
}

/// `GET /admin/stats` and `GET /admin/stats/timeline` through the real server, fed by
/// real requests.
@Suite(.serialized)
struct AdminStatsIntegrationTests {
    static let config = """
        admin: { key: "\(AdminIntegrationTests.adminKey)" }
        keys:
          - { name: tester, key: "sk-test-client-000111" }
          - { name: second, key: "sk-second-client-999888" }
        providers:
          - { name: demo, type: mock, mock: { reply: "mock says hi" } }
          - { name: down, type: openai, base_url: "http://127.0.0.1:9/v1", api_keys: ["sk-down-0000"] }
        models:
          - name: chat
            targets: [{ provider: demo, model: mock-1 }]
            price: { input_per_mtok: 1000, output_per_mtok: 2000 }
          - name: broken
            targets: [{ provider: down, model: gpt-x }]
        routing: { max_attempts: 1, backoff_initial_ms: 1, backoff_max_ms: 5, timeout_s: 20 }
        """

    @Test func statsCountWhatWasServed() async throws {
        try await withGateway(Self.config) { gateway, url in
            let chat = #"{"model":"chat","messages":[{"role":"user","content":"hello there"}]}"#
            for _ in 0..<4 { #expect(try await Client.post(url + "/v1/chat/completions", chat).status == 200) }
            let second = [("Authorization", "Bearer sk-second-client-999888")]
            let stream = #"{"model":"chat","stream":true,"messages":[{"role":"user","content":"hello there"}]}"#
            for _ in 0..<2 { #expect(try await Client.post(url + "/v1/chat/completions", stream, headers: second).status == 200) }
            #expect(try await Client.post(url + "/v1/chat/completions", #"{"model":"broken","messages":[{"role":"user","content":"x"}]}"#).status == 502)
            #expect(try await Client.post(url + "/v1/chat/completions", #"{"model":"nope","messages":[{"role":"user","content":"x"}]}"#).status == 404)
            try await waitForLogRows(gateway, 8)

            let byProvider = try await AdminIntegrationTests.send(.GET, url + "/admin/stats?window=24h")
            #expect(byProvider.status == 200)
            let doc = try #require(byProvider.json)
            #expect(doc["group_by"] == .string("provider"))
            #expect(doc["window"] == .string("24h"))
            let totals = try #require(doc["totals"])
            #expect(totals["requests"] == .int(8))
            #expect(totals["errors"] == .int(2))
            #expect(totals["errors_by_class"]?["upstream"] == .int(1))
            #expect(totals["errors_by_class"]?["client"] == .int(1))
            #expect(totals["success_rate"] == .double(0.75))
            #expect((totals["tokens"]?["prompt"]?.intValue ?? 0) > 0)
            #expect((totals["cost_micros"]?.intValue ?? 0) > 0, "priced model: \(byProvider.body)")
            #expect(totals["latency_ms"]?["p50"]?.doubleValue != nil)
            #expect(totals["latency_ms"]?["p99"]?.doubleValue != nil)
            #expect(totals["ttft_ms"]?["count"] == .int(2))
            #expect(totals["ttft_ms"]?["p95"]?.doubleValue != nil)
            let rows = try #require(doc["data"]?.arrayValue)
            let demo = try #require(rows.first { $0["provider"] == .string("demo") })
            #expect(demo["requests"] == .int(6))
            #expect(demo["errors"] == .int(0))
            #expect(rows.first { $0["provider"] == .string("down") }?["errors_by_class"]?["upstream"] == .int(1))
            #expect(rows.first { $0["provider"] == .string("") }?["errors_by_class"]?["client"] == .int(1), "no provider reached")

            let byKey = try await AdminIntegrationTests.send(.GET, url + "/admin/stats?group_by=key&model=chat")
            let keys = try #require(byKey.json?["data"]?.arrayValue)
            #expect(Set(keys.compactMap { $0["key_name"]?.stringValue }) == ["tester", "second"])
            #expect(keys.first { $0["key_name"] == .string("second") }?["requests"] == .int(2))
            #expect(byKey.json?["totals"]?["requests"] == .int(6))

            let byModel = try await AdminIntegrationTests.send(.GET, url + "/admin/stats?group_by=model&window=7d")
            #expect(byModel.json?["data"]?.arrayValue?.compactMap { $0["model"]?.stringValue }.sorted() == ["broken", "chat", "nope"])

            let timeline = try await AdminIntegrationTests.send(.GET, url + "/admin/stats/timeline?window=24h&bucket=1h")
            #expect(timeline.status == 200)
            let points = try #require(timeline.json?["data"]?.arrayValue)
            #expect(points.count == 24)
            #expect(points.reduce(0) { $0 + ($1["requests"]?.intValue ?? 0) } == 8)
            let starts = points.compactMap { $0["start_ms"]?.intValue }
            #expect(zip(starts, starts.dropFirst()).allSatisfy { $1 - $0 == 3_600_000 })
            #expect(Int64(starts.last ?? 0) <= Int64(Date().timeIntervalSince1970 * 1000))
            let days = try await AdminIntegrationTests.send(.GET, url + "/admin/stats/timeline?window=2d&bucket=1d&provider=demo")
            let dayPoints = try #require(days.json?["data"]?.arrayValue)
            #expect(dayPoints.count == 2)
            #expect(dayPoints.reduce(0) { $0 + ($1["requests"]?.intValue ?? 0) } == 6)
            #expect(dayPoints.compactMap { $0["start_ms"]?.intValue }.allSatisfy { $0 % 86_400_000 == 0 })
        }
    }

    @Test func badParametersAndCallersAreRefused() async throws {
        try await withGateway(Self.config) { _, url in
            let cases: [(String, String)] = [
                ("/admin/stats?window=0h", "window"), ("/admin/stats?window=5x", "window"),
                ("/admin/stats?window=401d", "window"), ("/admin/stats?window=h", "window"),
                ("/admin/stats?window=-2h", "window"), ("/admin/stats?group_by=hour", "group_by"),
                ("/admin/stats?group_by=team", "group_by"), ("/admin/stats/timeline?bucket=0d", "bucket"),
                ("/admin/stats/timeline?window=400d&bucket=1h", "bucket"),
                ("/admin/stats/timeline?window=99999999999999999999h", "window"),
            ]
            for (path, param) in cases {
                let reply = try await AdminIntegrationTests.send(.GET, url + path)
                #expect(reply.status == 400, "\(path): \(reply.body)")
                #expect(reply.json?["error"]?["param"] == .string(param), "\(path): \(reply.body)")
            }
            for path in ["/admin/stats", "/admin/stats/timeline"] {
                #expect(try await AdminIntegrationTests.send(.GET, url + path, headers: []).status == 401)
                let client = [("Authorization", "Bearer sk-test-client-000111")]
                #expect(try await AdminIntegrationTests.send(.GET, url + path, headers: client).status == 403)
            }
            // A quiet gateway: zeros and nulls, not errors.
            let quiet = try await AdminIntegrationTests.send(.GET, url + "/admin/stats")
            #expect(quiet.json?["totals"]?["requests"] == .int(0))
            #expect(quiet.json?["totals"]?["latency_ms"]?["p50"] == .null)
            #expect(quiet.json?["data"]?.arrayValue?.isEmpty == true)
        }
    }
}
