import HTTPTypes
import NIOCore
public import OrchestratorCore

/// Maps any error to a ``GatewayError`` the edge can answer with.
public enum ErrorMapping {
    public static func gatewayError(from error: any Error, maxBodyBytes: Int) -> GatewayError {
        if let error = error as? GatewayError { return error }
        if error is NIOTooManyBytesError { return .payloadTooLarge(limit: maxBodyBytes) }
        if error is CancellationError { return .clientClosedRequest }
        return .internalError()
    }
}
