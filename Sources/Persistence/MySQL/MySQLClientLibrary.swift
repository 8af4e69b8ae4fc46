import CMySQL

/// The linked MySQL client library (MariaDB Connector/C). The MySQL store itself is
/// not part of this build yet; a `mysql://` database URL is rejected at start with a
/// clear message.
public enum MySQLClientLibrary {
    /// The client library's version string, e.g. `3.3.8`.
    public static var version: String {
        String(cString: mysql_get_client_info())
    }
}
