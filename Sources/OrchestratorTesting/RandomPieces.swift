public import NIOCore
import OrchestratorCore

/// `bytes` cut into consecutive pieces of 1 to `maxPiece` bytes, their lengths drawn
/// from `generator`: how a test feeds a parser the same input at arbitrary read
/// boundaries.
public func randomPieces<G: RandomNumberGenerator>(of bytes: [UInt8], maxPiece: Int, using generator: inout G) -> [[UInt8]] {
    var pieces: [[UInt8]] = []
    var start = 0
    while start < bytes.count {
        let end = min(bytes.count, start + Int.random(in: 1...maxPiece, using: &generator))
        pieces.append(Array(bytes[start..<end]))
        start = end
    }
    return pieces
}

extension String {
    /// Without leading and trailing spaces and tabs (what an HTTP field value drops).
    public func trimmingSpacesAndTabs() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}

/// Hands `pieces` to `consume` one read at a time, the way a channel handler feeds a
/// parser: what `consume` leaves unread in the buffer goes ahead of the next piece.
public func feed<Failure: Error>(_ pieces: [[UInt8]], _ consume: (inout ByteBuffer) throws(Failure) -> Void) throws(Failure) {
    var unparsed = HTTP1Unparsed()
    for piece in pieces {
        var buffer = unparsed.joined(with: ByteBuffer(bytes: piece))
        try consume(&buffer)
        unparsed.keep(buffer)
    }
}
