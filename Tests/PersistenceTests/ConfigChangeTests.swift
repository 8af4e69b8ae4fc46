import Foundation
import Logging
import OrchestratorCore
import Testing

@testable import Persistence

/// Admin API writes, on every backend: the same results on SQLite and MySQL.
struct ConfigChangeTests {
    func provider(_ name: String, keys: [String] = ["sk-admin-key-1111"]) -> ProviderConfig {
        var provider = ProviderConfig(name: name, type: .openai, baseURL: "https://api.example.test/v1")
        provider.apiKeys = keys
        return provider
    }

    func expectError(_ kind: ConfigChangeError.Kind, param: String? = nil, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected \(kind)")
        } catch let error as ConfigChangeError {
            #expect(error.kind == kind, "\(error)")
            if let param { #expect(error.param == param) }
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test(arguments: TestBackend.all) func providersAndTheirKeyPools(_ backend: TestBackend) async throws {
        let database = try await backend.open()
        let store = database.store
        var result = try await store.apply([.createProvider(provider("alpha", keys: ["sk-admin-key-1111", "sk-admin-key-2222"]))])
        var alpha = try #require(result.configuration.providers.first { $0.config.name == "alpha" })
        #expect(alpha.source == .api)
        #expect(alpha.keys.map(\.last4) == ["1111", "2222"])
        let version = alpha.updatedAtMillis
        await expectError(.conflict, param: "name") { _ = try await store.apply([.createProvider(provider("alpha"))]) }

        // A replace without keys keeps them; its version moves on.
        var changed = provider("alpha", keys: [])
        changed.timeoutSeconds = 9
        result = try await store.apply([.replaceProvider(changed, replaceKeys: false, ifVersion: version)])
        alpha = try #require(result.configuration.providers.first { $0.config.name == "alpha" })
        #expect(alpha.config.timeoutSeconds == 9)
        #expect(alpha.keys.count == 2)
        #expect(alpha.updatedAtMillis > version)
        await expectError(.versionMismatch) {
            _ = try await store.apply([.replaceProvider(changed, replaceKeys: false, ifVersion: version)])
        }
        await expectError(.notFound) { _ = try await store.apply([.replaceProvider(provider("ghost"), replaceKeys: true, ifVersion: nil)]) }

        // The pool: add, disable, enable, remove, one key at a time.
        result = try await store.apply([.addProviderKey(provider: "alpha", secret: "sk-admin-key-3333")])
        let added = try #require(result.addedKeyIDs.first)
        await expectError(.conflict) { _ = try await store.apply([.addProviderKey(provider: "alpha", secret: "sk-admin-key-3333")]) }
        result = try await store.apply([.setProviderKeyEnabled(provider: "alpha", keyID: added, enabled: false)])
        alpha = try #require(result.configuration.providers.first { $0.config.name == "alpha" })
        #expect(alpha.keys.map(\.last4) == ["1111", "2222", "3333"])
        #expect(alpha.keys.last?.enabled == false)
        #expect(alpha.config.apiKeys.count == 2, "a disabled key does not route")
        result = try await store.apply([.removeProviderKey(provider: "alpha", keyID: added)])
        #expect(result.configuration.providers.first { $0.config.name == "alpha" }?.keys.count == 2)
        await expectError(.notFound) { _ = try await store.apply([.removeProviderKey(provider: "alpha", keyID: added)]) }

        // Replacing with keys makes the pool exactly those.
        result = try await store.apply([.replaceProvider(provider("alpha", keys: ["sk-admin-key-9999"]), replaceKeys: true, ifVersion: nil)])
        #expect(result.configuration.providers.first { $0.config.name == "alpha" }?.keys.map(\.last4) == ["9999"])
        await database.drop()
    }

    @Test(arguments: TestBackend.all) func modelsReferToProvidersAndBlockTheirDeletion(_ backend: TestBackend) async throws {
        let database = try await backend.open()
        let store = database.store
        _ = try await store.apply([.createProvider(provider("alpha"))])
        let model = ModelConfig(name: "fast", targets: [TargetConfig(provider: "alpha", model: "gpt-x", weight: 2)])
        var result = try await store.apply([.createModel(model)])
        let stored = try #require(result.configuration.models.first { $0.config.name == "fast" })
        #expect(stored.config == model && stored.source == .api)
        await expectError(.invalid, param: "targets[0].provider") {
            _ = try await store.apply([.createModel(ModelConfig(name: "bad", targets: [TargetConfig(provider: "ghost", model: "x")]))])
        }
        await expectError(.conflict) { _ = try await store.apply([.deleteProvider(name: "alpha", ifVersion: nil)]) }
        await expectError(.versionMismatch) { _ = try await store.apply([.deleteModel(name: "fast", ifVersion: stored.updatedAtMillis + 7)]) }
        result = try await store.apply([.deleteModel(name: "fast", ifVersion: stored.updatedAtMillis), .deleteProvider(name: "alpha", ifVersion: nil)])
        #expect(result.configuration.models.isEmpty && result.configuration.providers.isEmpty)
        await database.drop()
    }

    @Test(arguments: TestBackend.all) func clientKeysKeepTheirSecretAcrossReplaces(_ backend: TestBackend) async throws {
        let database = try await backend.open()
        let store = database.store
        var key = ClientKeyConfig(name: "team-b", key: "sk-orch-generated-secret-1234")
        key.rpm = 60
        var result = try await store.apply([.createKey(key)])
        var stored = try #require(result.configuration.keys.first)
        #expect(stored.keyHash == KeyHashing.sha256Hex("sk-orch-generated-secret-1234"))
        #expect(stored.config.key == "")
        var settings = ClientKeyConfig(name: "team-b", key: "")
        settings.rpm = 120
        settings.enabled = false
        result = try await store.apply([.replaceKey(settings, ifVersion: stored.updatedAtMillis)])
        let replaced = try #require(result.configuration.keys.first)
        #expect(replaced.keyHash == stored.keyHash)
        #expect(replaced.config.rpm == 120 && !replaced.config.enabled)
        stored = replaced
        await expectError(.conflict) { _ = try await store.apply([.createKey(key)]) }
        result = try await store.apply([.deleteKey(name: "team-b", ifVersion: stored.updatedAtMillis)])
        #expect(result.configuration.keys.isEmpty)
        await database.drop()
    }

    @Test(arguments: TestBackend.all) func aBatchIsAllOrNothing(_ backend: TestBackend) async throws {
        let database = try await backend.open()
        let store = database.store
        await expectError(.conflict) {
            _ = try await store.apply([.createProvider(provider("one")), .createProvider(provider("two")), .createProvider(provider("one"))])
        }
        #expect(try await store.loadConfiguration().providers.isEmpty)
        // A file sync afterwards leaves api entities alone.
        _ = try await store.apply([.createProvider(provider("api-made"))])
        let synced = try await store.syncFromFile(sampleSettings())
        #expect(synced.providers.contains { $0.config.name == "api-made" && $0.source == .api })
        await database.drop()
    }
}
