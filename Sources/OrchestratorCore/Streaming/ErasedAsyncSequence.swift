/// A type-erased asynchronous sequence, for stream bodies that cross module seams
/// (transport bodies, provider event streams) without exposing concrete types.
///
/// Exactly one iterator should be made and consumed; dropping it releases the source
/// (for an upstream body, that cancels the upstream request).
public struct ErasedAsyncSequence<Element: Sendable>: AsyncSequence, Sendable {
    private let make: @Sendable () -> Iterator

    /// Wraps any sendable asynchronous sequence.
    public init<Base: AsyncSequence & Sendable>(_ base: Base) where Base.Element == Element {
        self.make = {
            let box = IteratorBox(base.makeAsyncIterator())
            return Iterator { try await box.next() }
        }
    }

    /// Builds a sequence from a factory of `next` functions.
    public init(makeNext: @escaping @Sendable () -> (() async throws -> Element?)) {
        self.make = { Iterator(nextElement: makeNext()) }
    }

    /// A sequence of the given elements, for tests and canned replies.
    public init(elements: [Element]) {
        self.make = {
            var remaining = elements[...]
            return Iterator { remaining.popFirst() }
        }
    }

    public func makeAsyncIterator() -> Iterator { make() }

    public struct Iterator: AsyncIteratorProtocol {
        let nextElement: () async throws -> Element?
        public mutating func next() async throws -> Element? { try await nextElement() }
    }
}

private final class IteratorBox<Base: AsyncIteratorProtocol> {
    var base: Base
    init(_ base: Base) { self.base = base }
    func next() async throws -> Base.Element? { try await base.next(isolation: #isolation) }
}
