import NIOCore

/// Runs a task's jobs on one SwiftNIO event loop.
///
/// The data plane starts each request's task with this executor as its preference, so
/// the engine's async code, the upstream call (whose connection pool is per event loop)
/// and the response writes all stay on the thread of the client's connection: no hop to
/// the shared concurrency pool and back per request.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        eventLoop.execute { job.runSynchronously(on: executor) }
    }
}
