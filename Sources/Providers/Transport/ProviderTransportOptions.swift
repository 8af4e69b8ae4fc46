import OrchestratorCore

extension ProviderConfig {
    /// `tls.ca_file`, or nil when none is configured.
    var transportCAFile: String? { tlsCAFile.isEmpty ? nil : tlsCAFile }

    /// `http_proxy`, or nil when none is configured.
    var transportProxy: String? { httpProxy.isEmpty ? nil : httpProxy }

    /// `stream_idle_timeout_s` as a duration.
    var streamIdleTimeout: Duration { .milliseconds(Int64(streamIdleTimeoutSeconds * 1000)) }
}
