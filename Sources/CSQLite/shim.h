#include <sqlite3.h>

/// Turns off SQLite's memory-usage statistics (`sqlite3_config` is variadic, so Swift
/// cannot call it directly). Without them SQLite's allocator takes no global mutex per
/// allocation. Only effective before the library initialises (the first open).
static inline int orch_sqlite3_disable_memstatus(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
