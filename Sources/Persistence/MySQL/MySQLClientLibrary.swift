import CMySQL

/// The linked MySQL client library (MariaDB Connector/C), for diagnostics.
public enum MySQLClientLibrary {
    /// The client library's version string, e.g. `3.3.8`.
    public static var version: String {
        String(cString: mysql_get_client_info())
    }
}
