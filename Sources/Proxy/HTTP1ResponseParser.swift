#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOHTTP1

/// Reads HTTP/1.x responses from an upstream connection: the bytes a container sends, which a
/// hostile tenant writes. A value type fed bytes, returning one event at a time; the handler
/// (`HTTP1ResponseReader`) only carries them out. In place of NIOHTTP1's `HTTPResponseDecoder`,
/// whose callbacks, per-header `String` appends and boxed parts cost about a tenth of a proxied
/// request (`bench/proxy/callgrind.sh`).
///
/// Strict where leniency lets two readers disagree on where a response ends (RFC 9112): CRLF
/// line ends only; no space before a header's colon; no obs-fold; no control characters; a
/// `Content-Length` once, digits only; never both `Content-Length` and `Transfer-Encoding`. A
/// response to HEAD, a 204 and a 304 have no body; a 1xx other than 101 is dropped (as NIO's
/// decoder does by default); after a 101 the bytes that follow are the tunnel's, left unread.
/// A body that is neither chunked nor counted runs until the connection closes.
struct HTTP1ResponseParser {
    enum Event: Equatable {
        /// `keepAlive`: whether the connection may carry another exchange after this response
        /// (RFC 9112 §9.3): HTTP/1.1 without `Connection: close`, HTTP/1.0 with
        /// `Connection: keep-alive`, and a body that does not run until the close.
        case head(HTTPResponseHead, keepAlive: Bool)
        /// Body bytes, de-chunked, as slices of what was read.
        case body(ByteBuffer)
        case end(HTTPHeaders?)
    }

    /// Why a response could not be read; the connection is closed.
    struct Malformed: Error, Equatable, CustomStringConvertible {
        let reason: String
        var description: String { "malformed upstream response: \(reason)" }
    }

    /// The most a head (or a trailer section) may take, as NIO's decoder allows: 80 KiB.
    static let maxHeadSize = 80 * 1024
    /// The most a chunk's size line may take, extensions included.
    static let maxChunkLineSize = 4 * 1024

    private enum State: Equatable {
        case head
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        /// The CRLF after a chunk's data.
        case chunkDataEnd
        case trailers
        case untilClose
        /// A 101's head was returned; its end comes next, then nothing more is read.
        case upgradeEnd
        case upgraded
        case failed
    }

    private var state = State.head
    /// For each request sent and not yet answered, whether it was a HEAD; oldest first.
    private var sentHEAD = CircularBuffer<Bool>(initialCapacity: 2)
    /// How far the bytes were searched for the end of a head or line without finding it.
    private var searched = 0

    /// After a 101: the bytes left in the buffer belong to the tunnel.
    var isUpgraded: Bool { state == .upgraded }

    mutating func requestSent(isHEAD: Bool) {
        sentHEAD.append(isHEAD)
    }

    /// The next event the buffered bytes make, consuming them; nil when more bytes are needed.
    mutating func next(_ buffer: inout ByteBuffer) throws -> Event? {
        do {
            return try step(&buffer)
        } catch {
            state = .failed
            throw error
        }
    }

    /// The connection's input ended: the end of a body that runs until the close, nothing between
    /// responses, an error within one. `leftover`: bytes read and not yet consumed.
    mutating func inputEnded(leftover: Int) throws -> Event? {
        switch state {
        case .untilClose:
            state = .head
            return .end(nil)
        case .head where leftover == 0, .upgraded, .upgradeEnd, .failed:
            return nil
        default:
            state = .failed
            throw Malformed(reason: "the connection closed within a response")
        }
    }

    private mutating func step(_ buffer: inout ByteBuffer) throws -> Event? {
        switch state {
        case .head:
            return try readHead(&buffer)
        case .fixed(let remaining):
            if remaining == 0 {
                state = .head
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
            guard buffer.readInteger(as: UInt16.self) == crlf16 else { throw Malformed(reason: "a chunk's data does not end with CRLF") }
            state = .chunkSize
            return try readChunkSize(&buffer)
        case .trailers:
            return try readTrailers(&buffer)
        case .untilClose:
            guard buffer.readableBytes > 0 else { return nil }
            return .body(buffer.readSlice(length: buffer.readableBytes)!)
        case .upgradeEnd:
            state = .upgraded
            return .end(nil)
        case .upgraded, .failed:
            return nil
        }
    }

    // MARK: Heads

    private mutating func readHead(_ buffer: inout ByteBuffer) throws -> Event? {
        while true {
            guard let length = try sectionLength(buffer, limit: Self.maxHeadSize, what: "head") else { return nil }
            let parsed = try buffer.withUnsafeReadableBytes { bytes in
                try Self.parseHead(UnsafeRawBufferPointer(rebasing: bytes[0..<length]))
            }
            buffer.moveReaderIndex(forwardBy: length)
            let code = parsed.head.status.code
            if code >= 100 && code < 200 && code != 101 {
                continue  // an interim response: dropped, the final one follows
            }
            let isHEAD = sentHEAD.popFirst() ?? false
            if code == 101 {
                state = .upgradeEnd
            } else if isHEAD || code == 204 || code == 304 {
                state = .fixed(remaining: 0)
            } else if let chunked = parsed.chunked {
                state = chunked ? .chunkSize : .untilClose
            } else if let length = parsed.contentLength {
                state = .fixed(remaining: length)
            } else {
                state = .untilClose
            }
            return .head(parsed.head, keepAlive: parsed.keepAlive && state != .untilClose)
        }
    }

    /// The length of the section (a head, a trailer section) at the buffer's start, through its
    /// empty line; nil when it is not all here yet.
    private mutating func sectionLength(_ buffer: ByteBuffer, limit: Int, what: String) throws -> Int? {
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
            if buffer.readableBytes > limit { throw Malformed(reason: "the \(what) is larger than \(limit) bytes") }
            searched = buffer.readableBytes
            return nil
        }
        searched = 0
        guard found <= limit else { throw Malformed(reason: "the \(what) is larger than \(limit) bytes") }
        return found
    }

    private struct ParsedHead {
        var head: HTTPResponseHead
        var contentLength: Int?
        /// Whether the last transfer coding is chunked; nil without Transfer-Encoding.
        var chunked: Bool?
        /// What the version and `Connection` say.
        var keepAlive: Bool
    }

    /// `bytes`: the whole head, through its empty line.
    private static func parseHead(_ bytes: UnsafeRawBufferPointer) throws -> ParsedHead {
        var lines = HTTP1Lines(bytes)
        guard let statusLine = try lines.next() else { throw Malformed(reason: "no status line") }
        let (version, status) = try parseStatusLine(statusLine)
        var fields = HTTP1Fields()
        while let line = try lines.next(), !line.isEmpty {
            try fields.add(line)
        }
        if fields.contentLength != nil && fields.chunked != nil {
            throw Malformed(reason: "both Content-Length and Transfer-Encoding")
        }
        let head = HTTPResponseHead(version: version, status: status, headers: HTTPHeaders(fields.headers))
        let keepAlive = !fields.connectionClose && (version.minor >= 1 || fields.connectionKeepAlive)
        return ParsedHead(head: head, contentLength: fields.contentLength, chunked: fields.chunked, keepAlive: keepAlive)
    }

    /// `HTTP/1.1 200 OK`; the reason may be empty, and its space missing.
    private static func parseStatusLine(_ line: UnsafeRawBufferPointer) throws -> (HTTPVersion, HTTPResponseStatus) {
        guard line.count >= 12, line.starts(with: "HTTP/1.".utf8), line[8] == UInt8(ascii: " ") else {
            throw Malformed(reason: "not an HTTP/1.x status line")
        }
        let version: HTTPVersion
        switch line[7] {
        case UInt8(ascii: "1"): version = .http1_1
        case UInt8(ascii: "0"): version = .http1_0
        default: throw Malformed(reason: "not an HTTP/1.x status line")
        }
        var code = 0
        for index in 9..<12 {
            let digit = line[index] &- UInt8(ascii: "0")
            guard digit < 10 else { throw Malformed(reason: "the status code is not three digits") }
            code = code * 10 + Int(digit)
        }
        guard code >= 100 else { throw Malformed(reason: "the status code is not three digits") }
        var reason = ""
        if line.count > 12 {
            guard line[12] == UInt8(ascii: " ") else { throw Malformed(reason: "the status code is not three digits") }
            let phrase = UnsafeRawBufferPointer(rebasing: line[13...])
            guard phrase.allSatisfy(isFieldValueByte) else { throw Malformed(reason: "a control character in the reason phrase") }
            reason = String(decoding: phrase, as: UTF8.self)
        }
        return (version, HTTPResponseStatus(statusCode: code, reasonPhrase: reason))
    }

    // MARK: Chunks

    private mutating func readChunkSize(_ buffer: inout ByteBuffer) throws -> Event? {
        let line: (size: Int, length: Int)? = try buffer.withUnsafeReadableBytes { bytes in
            guard let end = try lineEnd(bytes, limit: Self.maxChunkLineSize, what: "chunk size line") else { return nil }
            var size = 0
            var index = 0
            while index < end, let digit = hexValue(bytes[index]) {
                guard size <= Int.max >> 4 else { throw Malformed(reason: "a chunk size too large") }
                size = size << 4 | digit
                index += 1
            }
            guard index > 0 else { throw Malformed(reason: "a chunk without a hexadecimal size") }
            // Chunk extensions (";name=value") are read past, not used. Whitespace before the
            // ";" (RFC 9112's BWS) is refused, as llhttp refuses it.
            if index < end {
                let rest = UnsafeRawBufferPointer(rebasing: bytes[index..<end])
                guard rest.first == UInt8(ascii: ";"), rest.allSatisfy(isFieldValueByte) else {
                    throw Malformed(reason: "a chunk size followed by something other than an extension")
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
        return try step(&buffer)
    }

    /// Where the line at the start of `bytes` ends (its CR's index); nil when not all here yet.
    /// A CR within the line is left to the caller's checks of its characters.
    private mutating func lineEnd(_ bytes: UnsafeRawBufferPointer, limit: Int, what: String) throws -> Int? {
        guard let lf = bytes.index(of: UInt8(ascii: "\n"), from: searched) else {
            guard bytes.count <= limit else { throw Malformed(reason: "a \(what) longer than \(limit) bytes") }
            searched = bytes.count
            return nil
        }
        searched = 0
        guard lf > 0, bytes[lf - 1] == UInt8(ascii: "\r") else { throw Malformed(reason: "a LF without CR in a \(what)") }
        guard lf <= limit else { throw Malformed(reason: "a \(what) longer than \(limit) bytes") }
        return lf - 1
    }

    private mutating func readTrailers(_ buffer: inout ByteBuffer) throws -> Event? {
        guard buffer.readableBytes >= 2 else { return nil }
        if buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == crlf16 {
            buffer.moveReaderIndex(forwardBy: 2)
            state = .head
            return .end(nil)
        }
        guard let length = try sectionLength(buffer, limit: Self.maxHeadSize, what: "trailer section") else { return nil }
        let trailers = try buffer.withUnsafeReadableBytes { bytes in
            var lines = HTTP1Lines(UnsafeRawBufferPointer(rebasing: bytes[0..<length]))
            var fields = HTTP1Fields()
            while let line = try lines.next(), !line.isEmpty {
                try fields.add(line)
            }
            return HTTPHeaders(fields.headers)
        }
        buffer.moveReaderIndex(forwardBy: length)
        state = .head
        return .end(trailers)
    }
}

/// `\r\n` read as one big-endian UInt16 (ByteBuffer's default).
private let crlf16 = UInt16(UInt8(ascii: "\r")) << 8 | UInt16(UInt8(ascii: "\n"))

private func hexValue(_ byte: UInt8) -> Int? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
    case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A") + 10)
    default: nil
    }
}

/// A field value's bytes (RFC 9110): visible characters, obs-text, space and tab.
@inline(__always)
func isFieldValueByte(_ byte: UInt8) -> Bool {
    byte >= 0x20 && byte != 0x7F || byte == UInt8(ascii: "\t")
}

extension UnsafeRawBufferPointer {
    /// The index of the first `byte` at or after `start` (memchr).
    func index(of byte: UInt8, from start: Int) -> Int? {
        guard let base = baseAddress, start < count else { return nil }
        guard let found = memchr(base + start, Int32(byte), count - start) else { return nil }
        return UnsafeRawPointer(found) - base
    }
}
