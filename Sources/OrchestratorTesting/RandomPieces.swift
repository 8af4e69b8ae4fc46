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
