/// `data:` URLs, as OpenAI-style clients send inline images and files.
enum DataURL {
    /// `data:<media type>;base64,<data>` → (media type, base64 data); nil for anything else.
    static func parse(_ url: String) -> (String, String)? {
        guard url.hasPrefix("data:"), let comma = url.firstIndex(of: ",") else { return nil }
        let header = url[url.index(url.startIndex, offsetBy: 5)..<comma]
        guard header.hasSuffix(";base64") else { return nil }
        let mediaType = String(header.dropLast(7))
        let data = String(url[url.index(after: comma)...])
        guard !mediaType.isEmpty, !data.isEmpty else { return nil }
        return (mediaType, data)
    }
}
