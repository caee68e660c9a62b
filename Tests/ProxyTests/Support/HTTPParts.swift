import NIOCore
import NIOHTTP1

/// Parts with adjacent body parts joined: how a message reads however its bytes were split.
func joiningBodies<Head>(_ parts: [HTTPPart<Head, ByteBuffer>]) -> [HTTPPart<Head, ByteBuffer>] {
    var result: [HTTPPart<Head, ByteBuffer>] = []
    for part in parts {
        if case .body(var more) = part, case .body(var body)? = result.last {
            body.writeBuffer(&more)
            result[result.count - 1] = .body(body)
        } else {
            result.append(part)
        }
    }
    return result
}
