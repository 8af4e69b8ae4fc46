public import OrchestratorCore

/// Makes adapters by provider `type`; the one ``ProviderFactory`` the daemon injects.
public struct ProviderRegistry: ProviderFactory {
    let transport: any HTTPTransport

    public init(transport: any HTTPTransport) {
        self.transport = transport
    }

    public func makeAdapter(for provider: ProviderConfig) throws(GatewayError) -> any ProviderAdapter {
        switch provider.type {
        case .openai:
            return OpenAIAdapter(transport: transport)
        case .azure:
            return OpenAIAdapter(transport: transport, dialect: .azure)
        case .gemini:
            return GeminiAdapter(transport: transport)
        case .anthropic:
            return AnthropicAdapter(transport: transport)
        case .mock:
            return MockAdapter(providerName: provider.name, settings: provider.mock ?? MockSettings())
        case .bedrock, .cohere:
            throw .invalidRequest(
                "provider type \"\(provider.type.rawValue)\" is not supported by this build yet", param: "type")
        }
    }

    /// The provider types this build can route to.
    public static let supportedTypes: Set<ProviderType> = [.openai, .azure, .anthropic, .gemini, .mock]

    /// The inbound codecs HTTPFront serves, one per API style.
    public static var inboundCodecs: [APIStyle: any InboundCodec] {
        [.openai: OpenAIInboundCodec(), .anthropic: AnthropicInboundCodec(), .gemini: GeminiInboundCodec()]
    }

    /// The inbound codecs of the routes that are not chat (`/v1/embeddings`, `/v1/responses`).
    public static var operationCodecs: [APIOperation: any InboundCodec] {
        [.embeddings: EmbeddingsInboundCodec(), .responses: ResponsesInboundCodec()]
    }
}
