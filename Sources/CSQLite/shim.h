#include <sqlite3.h>

/// Turns off SQLite's memory-usage statistics (`sqlite3_config` is variadic, so Swift
/// cannot call it directly). Without them SQLite's allocator takes no global mutex per
/// allocation. Only effective before the library initialises (the first open).
static inline int orch_sqlite3_disable_memstatus(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

#if defined(__linux__)
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SCHED_IDLE
#define SCHED_IDLE 5 /* Linux ABI; <sched.h> declares it only with _GNU_SOURCE */
#endif

/// The calling thread's kernel id (`gettid`, which Swift's Glibc module does not offer).
static inline int orch_gettid(void) {
    return (int)syscall(SYS_gettid);
}

/// Moves thread `tid` (0: the calling thread) to `SCHED_IDLE` (`idle` true) or back to
/// `SCHED_OTHER`. Returns 0, or -1 with errno set.
static inline int orch_set_idle_scheduling(int tid, int idle) {
    struct sched_param param = { .sched_priority = 0 };
    return sched_setscheduler(tid, idle ? SCHED_IDLE : SCHED_OTHER, &param);
}

/// The scheduling policy of thread `tid` (0: the calling thread), or -1.
static inline int orch_scheduling_policy(int tid) {
    return sched_getscheduler(tid);
}

/// Whether `policy` is `SCHED_IDLE`.
static inline int orch_is_idle_policy(int policy) {
    return policy == SCHED_IDLE;
}

static int orch_yield_progress(void *unused) {
    (void)unused;
    sched_yield();
    return 0; /* go on */
}

/// While `every` is positive, the connection gives up its core (`sched_yield`) every
/// `every` virtual-machine steps of a statement; 0 stops it.
static inline void orch_sqlite3_yield_every(sqlite3 *db, int every) {
    sqlite3_progress_handler(db, every, every > 0 ? orch_yield_progress : 0, 0);
}
#endif
