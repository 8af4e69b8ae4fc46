import Synchronization

/// Grows a request task's async stack once, at its start, instead of once per call.
///
/// Swift keeps a task's async frames in the task's own stack allocator: a chain of
/// slabs, the first inside the task's allocation (under a kilobyte), each further one
/// `malloc`ed when the next frame does not fit in the current slab. A slab that empties
/// stays on the chain, and a later frame that fits in it is placed there.
///
/// A request nests eight or more async frames (the endpoint, the engine, the adapter,
/// the transport and their protocol thunks; a stream's relay closure alone is 11 KB),
/// so each one opened a slab of its own: eight `malloc`s and `free`s of eight sizes per
/// request, all above the sizes glibc caches per thread (a stream: 68 KB in nine
/// blocks, when the chat path's frames were also 6–11 KB each). At 1,000 requests in
/// flight those blocks fragment the heap, and `malloc`, `free` and their bin upkeep
/// grew to 9 % of the gateway's CPU. Calling ``reserve()`` first makes one slab that
/// every later frame fits in: one block of one size per request.
///
/// How: ``reserve()``'s own frame has room for ``Room``, since a local that large would
/// live across a suspension point on a path the compiler cannot rule out. The path
/// never runs, so the memory is never touched; the call only allocates the frame and
/// frees it on return, which leaves its slab on the chain for the frames after it.
/// Were the runtime or the compiler ever to lay frames out differently, the call would
/// cost one allocation and change nothing else.
enum TaskStack {
    /// 42 KB: what a chat completion or a stream uses, with a little to spare (measured
    /// with a probe on `malloc`: 40 KB left one frame outside). A path that needs more
    /// gets further slabs, as before.
    private typealias Room = InlineArray<5376, UInt64>

    /// Never set: read at run time, so the compiler keeps the path that uses `room`.
    private static let neverTaken = Atomic<Bool>(false)

    /// Call first thing in a task, before any other async call.
    @inline(never)
    static func reserve() async {
        guard neverTaken.load(ordering: .relaxed) else { return }
        var room = Room(repeating: 0)
        withUnsafeMutableBytes(of: &room) { touch($0) }
        await Task.yield()
        withUnsafeMutableBytes(of: &room) { touch($0) }
    }

    /// Opaque to the optimizer, so `room` lives in the frame across the `await`.
    @inline(never)
    private static func touch(_ bytes: UnsafeMutableRawBufferPointer) {
        if neverTaken.load(ordering: .relaxed) { bytes.storeBytes(of: 1, as: UInt8.self) }
    }
}
