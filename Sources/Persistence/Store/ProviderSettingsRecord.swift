import Foundation
import OrchestratorCore

/// The provider fields stored as one JSON document in `providers.settings`.
/// Bedrock credentials inside it are sealed with the secret box like API keys.
struct ProviderSettingsRecord: Codable, Sendable {
    var keyStrategy: String
    var headers: [String: String]
    var httpProxy: String
    var timeoutSeconds: Double
    var streamIdleTimeoutSeconds: Double
    var rpm: Int
    var tpm: Int
    var tlsCAFile: String
    var apiVersion: String?
    /// Optional in stored documents written before these settings existed.
    var azureAuth: String?
    var fetchImageURLs: Bool?
    var region: String?
    var accessKeyID: String?
    var secretAccessKeySealed: String?
    var sessionTokenSealed: String?
    var mockReply: String?
    var mockLatencyMs: Int?
    var mockFailureRate: Double?

    init(_ config: ProviderConfig, box: SecretBox) throws {
        keyStrategy = config.keyStrategy.rawValue
        headers = config.headers
        httpProxy = config.httpProxy
        timeoutSeconds = config.timeoutSeconds
        streamIdleTimeoutSeconds = config.streamIdleTimeoutSeconds
        rpm = config.rpm
        tpm = config.tpm
        tlsCAFile = config.tlsCAFile
        apiVersion = config.apiVersion
        azureAuth = config.azureAuth == .apiKey ? nil : config.azureAuth.rawValue
        fetchImageURLs = config.fetchImageURLs ? true : nil
        region = config.region
        accessKeyID = config.accessKeyID
        secretAccessKeySealed = try config.secretAccessKey.map { try box.seal($0) }
        sessionTokenSealed = try config.sessionToken.map { try box.seal($0) }
        mockReply = config.mock?.reply
        mockLatencyMs = config.mock?.latencyMs
        mockFailureRate = config.mock?.failureRate
    }

    func apply(to config: inout ProviderConfig, box: SecretBox) throws {
        config.keyStrategy = KeyStrategy(rawValue: keyStrategy) ?? .roundRobin
        config.headers = headers
        config.httpProxy = httpProxy
        config.timeoutSeconds = timeoutSeconds
        config.streamIdleTimeoutSeconds = streamIdleTimeoutSeconds
        config.rpm = rpm
        config.tpm = tpm
        config.tlsCAFile = tlsCAFile
        config.apiVersion = apiVersion
        config.azureAuth = azureAuth.flatMap(AzureAuth.init(rawValue:)) ?? .apiKey
        config.fetchImageURLs = fetchImageURLs ?? false
        config.region = region
        config.accessKeyID = accessKeyID
        config.secretAccessKey = try secretAccessKeySealed.map { try box.open($0) }
        config.sessionToken = try sessionTokenSealed.map { try box.open($0) }
        if config.type == .mock {
            var mock = MockSettings()
            if let mockReply { mock.reply = mockReply }
            if let mockLatencyMs { mock.latencyMs = mockLatencyMs }
            if let mockFailureRate { mock.failureRate = mockFailureRate }
            config.mock = mock
        }
    }
}

/// Prices are stored as integer micro-dollars per million tokens.
enum PriceColumns {
    static func micros(_ usd: Double?) -> SQLValue {
        usd.map { .int(Int64(($0 * 1_000_000).rounded())) } ?? .null
    }

    static func price(input: SQLValue, output: SQLValue, cached: SQLValue) -> Price? {
        guard let i = input.int, let o = output.int else { return nil }
        return Price(
            inputPerMTok: Double(i) / 1_000_000, outputPerMTok: Double(o) / 1_000_000,
            cachedInputPerMTok: cached.int.map { Double($0) / 1_000_000 })
    }
}

extension JSONCoding {
    static func jsonText(_ value: some Encodable) throws -> String {
        try encodeString(value)
    }

    static func fromJSONText<T: Decodable>(_ type: T.Type, _ text: String?) -> T? {
        guard let text else { return nil }
        return try? decode(T.self, from: text)
    }
}
