/// Eight bytes of a text tested at once, for the loops that step over the inside of JSON
/// strings (most of a request or a completion).
///
/// Each test sets the high bit of every byte of the word that matches. The zero-byte
/// trick behind ``equal(_:_:)`` and ``below(_:_:)`` can also flag a byte just above a
/// real match (a borrow), never one below it, so the lowest flag is always a real one:
/// `flags.trailingZeroBitCount / 8` is the offset of the first match.
enum ByteWord {
    static let ones: UInt64 = 0x0101_0101_0101_0101
    static let highs: UInt64 = 0x8080_8080_8080_8080

    /// The eight bytes at `offset`, the first in the lowest bits.
    @inline(__always)
    static func load(_ base: UnsafeRawPointer, at offset: Int) -> UInt64 {
        UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// Flags the bytes equal to `byte`.
    @inline(__always)
    static func equal(_ word: UInt64, _ byte: UInt8) -> UInt64 {
        let zeroWhereEqual = word ^ (ones &* UInt64(byte))
        return (zeroWhereEqual &- ones) & ~zeroWhereEqual & highs
    }

    /// Flags the bytes below `byte` (at most 0x80).
    @inline(__always)
    static func below(_ word: UInt64, _ byte: UInt8) -> UInt64 {
        (word &- ones &* UInt64(byte)) & ~word & highs
    }

    /// Flags the bytes above 0x7F.
    @inline(__always)
    static func nonASCII(_ word: UInt64) -> UInt64 { word & highs }
}
