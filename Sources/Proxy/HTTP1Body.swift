import NIOCore
import NIOHTTP1

/// Why an HTTP/1 message could not be read; the connection it came on is closed.
struct HTTP1Malformed: Error, Equatable, CustomStringConvertible {
    let reason: String
    /// A transfer coding the proxy does not implement (a request's is answered 501, not 400).
    var unsupportedCoding = false
    var description: String { "malformed HTTP/1 message: \(reason)" }
}

/// One message body, as its head frames it (RFC 9112 §6): read off the buffered bytes, chunks
/// taken apart, trailers read. Shared by `HTTP1RequestParser` and `HTTP1ResponseParser`.
struct HTTP1BodyParser {
    enum Framing: Equatable {
        case length(Int)
        case chunked
        /// A response's body with neither: until the connection closes.
        case untilClose
    }

    enum Event: Equatable {
        /// Body bytes, de-chunked, as slices of what was read.
        case body(ByteBuffer)
        case end(HTTPHeaders?)
    }

    /// The most a chunk's size line may take, extensions included.
    static let maxChunkLineSize = 4 * 1024

    private enum State: Equatable {
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        /// The CRLF after a chunk's data.
        case chunkDataEnd
        case trailers
        case untilClose
        case ended
    }

    private var state: State
    private var scanner = HTTP1Scanner()

    init(_ framing: Framing) {
        switch framing {
        case .length(let length): state = .fixed(remaining: length)
        case .chunked: state = .chunkSize
        case .untilClose: state = .untilClose
        }
    }

    var runsUntilClose: Bool { state == .untilClose }

    /// The next event, consuming the bytes it takes; nil when more are needed (or after the end).
    mutating func next(_ buffer: inout ByteBuffer) throws -> Event? {
        switch state {
        case .fixed(let remaining):
            if remaining == 0 {
                state = .ended
                return .end(nil)
            }
            let length = min(remaining, buffer.readableBytes)
            guard length > 0 else { return nil }
            state = .fixed(remaining: remaining - length)
            return .body(buffer.readSlice(length: length)!)
        case .chunkSize:
            return try readChunkSize(&buffer)
        case .chunkData(let remaining):
            let length = min(remaining, buffer.readableBytes)
            guard length > 0 else { return nil }
            state = remaining == length ? .chunkDataEnd : .chunkData(remaining: remaining - length)
            return .body(buffer.readSlice(length: length)!)
        case .chunkDataEnd:
            guard buffer.readableBytes >= 2 else { return nil }
            guard buffer.readInteger(as: UInt16.self) == crlf16 else { throw HTTP1Malformed(reason: "a chunk's data does not end with CRLF") }
            state = .chunkSize
            return try readChunkSize(&buffer)
        case .trailers:
            return try readTrailers(&buffer)
        case .untilClose:
            guard buffer.readableBytes > 0 else { return nil }
            return .body(buffer.readSlice(length: buffer.readableBytes)!)
        case .ended:
            return nil
        }
    }

    /// `1a;name=value` CRLF: a hexadecimal size, extensions read past (not used). Whitespace
    /// before the `;` (RFC 9112's BWS) is refused, as llhttp refuses it.
    private mutating func readChunkSize(_ buffer: inout ByteBuffer) throws -> Event? {
        let line: (size: Int, length: Int)? = try buffer.withUnsafeReadableBytes { bytes in
            guard let end = try scanner.lineEnd(bytes, limit: Self.maxChunkLineSize, what: "chunk size line") else { return nil }
            var size = 0
            var index = 0
            while index < end, let digit = hexValue(bytes[index]) {
                guard size <= Int.max >> 4 else { throw HTTP1Malformed(reason: "a chunk size too large") }
                size = size << 4 | digit
                index += 1
            }
            guard index > 0 else { throw HTTP1Malformed(reason: "a chunk without a hexadecimal size") }
            if index < end {
                let rest = UnsafeRawBufferPointer(rebasing: bytes[index..<end])
                guard rest.first == UInt8(ascii: ";"), rest.allSatisfy(isFieldValueByte) else {
                    throw HTTP1Malformed(reason: "a chunk size followed by something other than an extension")
                }
            }
            return (size, end + 2)
        }
        guard let line else { return nil }
        buffer.moveReaderIndex(forwardBy: line.length)
        if line.size == 0 {
            state = .trailers
            return try readTrailers(&buffer)
        }
        state = .chunkData(remaining: line.size)
        return try next(&buffer)
    }

    private mutating func readTrailers(_ buffer: inout ByteBuffer) throws -> Event? {
        guard buffer.readableBytes >= 2 else { return nil }
        if buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == crlf16 {
            buffer.moveReaderIndex(forwardBy: 2)
            state = .ended
            return .end(nil)
        }
        guard let length = try scanner.sectionLength(buffer, limit: HTTP1Scanner.maxHeadSize, what: "trailer section") else {
            return nil
        }
        let trailers = try buffer.withUnsafeReadableBytes { bytes in
            let section = UnsafeRawBufferPointer(rebasing: bytes[0..<length])
            var lines = HTTP1Lines(section)
            var fields = HTTP1Fields()
            while let line = try lines.next(), !line.isEmpty {
                try fields.add(line, in: section)
            }
            return HTTPHeaders(fields.headers(in: section))
        }
        buffer.moveReaderIndex(forwardBy: length)
        state = .ended
        return .end(trailers)
    }
}

/// Finds where a head (or trailer section) and a line end in buffered bytes, remembering how far
/// it searched, so bytes arriving a few at a time are not searched again.
struct HTTP1Scanner {
    /// The most a head (or a trailer section) may take, as NIO's decoder allows: 80 KiB.
    static let maxHeadSize = 80 * 1024

    private var searched = 0

    /// The length of the section at the buffer's start, through its empty line; nil when it is not
    /// all here yet.
    mutating func sectionLength(_ buffer: ByteBuffer, limit: Int, what: String) throws -> Int? {
        let found: Int? = buffer.withUnsafeReadableBytes { bytes in
            // From LF to LF (memchr), looking back for CR LF CR.
            var index = max(searched - 3, 0)
            while let lf = bytes.index(of: UInt8(ascii: "\n"), from: index) {
                if lf >= 3, bytes[lf - 1] == UInt8(ascii: "\r"), bytes[lf - 2] == UInt8(ascii: "\n"), bytes[lf - 3] == UInt8(ascii: "\r") {
                    return lf + 1
                }
                index = lf + 1
            }
            return nil
        }
        guard let found else {
            if buffer.readableBytes > limit { throw HTTP1Malformed(reason: "the \(what) is larger than \(limit) bytes") }
            searched = buffer.readableBytes
            return nil
        }
        searched = 0
        guard found <= limit else { throw HTTP1Malformed(reason: "the \(what) is larger than \(limit) bytes") }
        return found
    }

    /// Where the line at the start of `bytes` ends (its CR's index); nil when not all here yet.
    /// A CR within the line is left to the caller's checks of its characters.
    mutating func lineEnd(_ bytes: UnsafeRawBufferPointer, limit: Int, what: String) throws -> Int? {
        guard let lf = bytes.index(of: UInt8(ascii: "\n"), from: searched) else {
            guard bytes.count <= limit else { throw HTTP1Malformed(reason: "a \(what) longer than \(limit) bytes") }
            searched = bytes.count
            return nil
        }
        searched = 0
        guard lf > 0, bytes[lf - 1] == UInt8(ascii: "\r") else { throw HTTP1Malformed(reason: "a LF without CR in a \(what)") }
        guard lf <= limit else { throw HTTP1Malformed(reason: "a \(what) longer than \(limit) bytes") }
        return lf - 1
    }
}

/// `\r\n` read as one big-endian UInt16 (ByteBuffer's default).
let crlf16 = UInt16(UInt8(ascii: "\r")) << 8 | UInt16(UInt8(ascii: "\n"))

private func hexValue(_ byte: UInt8) -> Int? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
    case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A") + 10)
    default: nil
    }
}
