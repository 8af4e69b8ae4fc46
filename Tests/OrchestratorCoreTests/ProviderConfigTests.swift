import OrchestratorCore
import Testing

/// `ProviderConfig` keeps its fields behind one reference; it must still behave as a
/// plain value.
struct ProviderConfigTests {
    private func sample() -> ProviderConfig {
        var config = ProviderConfig(name: "openai", type: .openai, baseURL: "https://api.openai.com/v1")
        config.apiKeys = ["sk-1", "sk-2"]
        config.headers = ["OpenAI-Organization": "org-1"]
        config.timeoutSeconds = 30
        config.apiVersion = "2024-10-21"
        return config
    }

    @Test func copiesAreIndependentValues() {
        let original = sample()
        var copy = original
        #expect(copy == original)
        copy.headers["X-Extra"] = "1"
        copy.apiKeys.append("sk-3")
        copy.name = "renamed"
        copy.timeoutSeconds = 5
        #expect(original.headers == ["OpenAI-Organization": "org-1"])
        #expect(original.apiKeys == ["sk-1", "sk-2"])
        #expect(original.name == "openai")
        #expect(original.timeoutSeconds == 30)
        #expect(copy.headers == ["OpenAI-Organization": "org-1", "X-Extra": "1"])
        #expect(copy.apiKeys == ["sk-1", "sk-2", "sk-3"])
        #expect(copy.name == "renamed")
        #expect(copy != original)
    }

    @Test func equalityAndHashingAreByValue() {
        let a = sample()
        let b = sample()  // the same fields, built apart
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        var c = b
        c.region = "eu-west-1"
        #expect(c != a)
        c.region = nil
        #expect(c == a)
        #expect(Set([a, b, c]).count == 1)
        var d = a
        d.mock = MockSettings()
        #expect(d != a)
    }

    @Test func defaultsAreThoseOfTheConfigFile() {
        let config = ProviderConfig(name: "p", type: .anthropic)
        #expect(config.baseURL == "")
        #expect(config.apiKeys.isEmpty)
        #expect(config.keyStrategy == .roundRobin)
        #expect(config.timeoutSeconds == 120)
        #expect(config.streamIdleTimeoutSeconds == 120)
        #expect(config.enabled)
        #expect(config.azureAuth == .apiKey)
        #expect(!config.fetchImageURLs)
        #expect(config.apiVersion == nil && config.mock == nil)
    }
}
