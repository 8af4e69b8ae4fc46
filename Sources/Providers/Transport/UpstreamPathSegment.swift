import Foundation
import OrchestratorCore

/// A name (a model, an Azure deployment) placed in an upstream URL as one path segment.
///
/// Model names can come from clients (`provider/upstream-model` addressing), so they
/// are percent-encoded down to the unreserved characters: a `/`, `?`, `#` or `:` in a
/// name cannot reach another path, query or method of the upstream, and the dot
/// segments `.` and `..` are refused.
enum UpstreamPathSegment {
    private static let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    static func encode(_ name: String) throws(GatewayError) -> String {
        guard !name.isEmpty, name != ".", name != "..",
            let encoded = name.addingPercentEncoding(withAllowedCharacters: allowed)
        else {
            throw .invalidRequest("The model name \"\(name)\" cannot be used in an upstream URL.", param: "model")
        }
        return encoded
    }
}

extension Int {
    /// `self + other`, clamped at `Int.max` (token counts from upstreams).
    func saturatingAdd(_ other: Int) -> Int {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }
}
