import NIOCore
import XCTest

@testable import Proxy

/// Both HTTP/1 parsers read bytes a hostile peer writes, in berthd's process: whatever the bytes
/// and however they are split, a parser answers an event, asks for more or refuses; it never
/// traps (a trap would stop the proxy for every tenant). Mutations of well-formed messages, from a
/// fixed seed, so a failure repeats.
final class HTTP1ParserFuzzTests: XCTestCase {
    private let requests = [
        "POST /upload?x=1 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello",
        "PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
        "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nframes",
    ]
    private let responses = [
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\nX: y\r\n\r\n",
        "HTTP/1.0 404 Not Found\r\n\r\nuntil the close",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\ntunnel",
    ]
    private let alphabet: [UInt8] = Array("\r\n :;,0123456789aAfF-\t\u{0}\u{7F}\u{FF}HTTP/1.".utf8)

    func testMutatedRequestsNeverTrap() {
        var random = SplitMix(seed: 0x5EED_0001)
        for _ in 0..<3000 {
            let bytes = mutated(Array(requests[random.below(requests.count)].utf8), &random)
            var parser = HTTP1RequestParser()
            var events = 0
            feed(bytes, &random) { buffer in
                while let _ = try parser.next(&buffer) { events += 1 }
            }
            XCTAssertLessThanOrEqual(events, bytes.count + 2)
        }
    }

    func testMutatedResponsesNeverTrap() {
        var random = SplitMix(seed: 0x5EED_0002)
        for _ in 0..<3000 {
            let bytes = mutated(Array(responses[random.below(responses.count)].utf8), &random)
            var parser = HTTP1ResponseParser()
            let isHEAD = random.below(4) == 0
            var events = 0
            var leftover = 0
            feed(bytes, &random) { buffer in
                while let _ = try parser.next(&buffer, requestWasHEAD: isHEAD) { events += 1 }
                leftover = buffer.readableBytes
            }
            _ = try? parser.inputEnded(leftover: leftover)
            XCTAssertLessThanOrEqual(events, bytes.count + 2)
        }
    }

    /// A long chunked body whose every read ends within a chunk's size line: what the reader holds
    /// stays the size of a read, however long the stream runs.
    func testTheHeldBytesStayBoundedOverALongStream() throws {
        var input = HTTP1Input(HTTP1ResponseParser())
        var events = 0
        var largest = 0
        let chunk = "400\r\n" + String(repeating: "x", count: 0x400) + "\r\n"
        // The head and the start of a size line; then, in each read, the end of that size line,
        // its chunk, and the start of the next.
        let reads = ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40"]
            + Array(repeating: String(chunk.dropFirst(2)) + "40", count: 2000)
        for read in reads {
            XCTAssertTrue(input.startReading(ByteBuffer(string: read)))
            while let _ = try input.next({ try $0.next(&$1) }) { events += 1 }
            input.finishReading()
            largest = max(largest, input.heldCapacity)
        }
        XCTAssertEqual(events, 2001, "the head, then each chunk's data")
        XCTAssertLessThan(largest, 16 * 1024, "held storage grew with the stream")
    }

    /// Bytes in random splits into one buffer, each split parsed; stops at the first refusal.
    private func feed(_ bytes: [UInt8], _ random: inout SplitMix, parse: (inout ByteBuffer) throws -> Void) {
        var buffer = ByteBuffer()
        var offset = 0
        while offset < bytes.count {
            let length = min(bytes.count - offset, 1 + random.below(12))
            buffer.writeBytes(bytes[offset..<(offset + length)])
            offset += length
            do { try parse(&buffer) } catch { return }
        }
    }

    private func mutated(_ original: [UInt8], _ random: inout SplitMix) -> [UInt8] {
        var bytes = original
        for _ in 0..<(1 + random.below(4)) {
            let at = random.below(bytes.count + 1)
            switch random.below(5) {
            case 0 where at < bytes.count: bytes[at] = alphabet[random.below(alphabet.count)]
            case 1: bytes.insert(alphabet[random.below(alphabet.count)], at: at)
            case 2 where at < bytes.count: bytes.remove(at: at)
            case 3:
                let end = min(bytes.count, at + random.below(16))
                bytes.insert(contentsOf: bytes[at..<end], at: at)
            default: bytes.insert(contentsOf: Array("\r\n".utf8), at: at)
            }
        }
        return bytes
    }
}

/// A small deterministic generator (SplitMix64).
private struct SplitMix {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func below(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(bound))
    }
}
