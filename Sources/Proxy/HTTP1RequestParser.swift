import NIOCore
import NIOHTTP1

/// Reads HTTP/1.x requests from a client connection, the internet's bytes. A value type fed
/// bytes, returning one event at a time; the handler (`HTTP1RequestReader`) only carries them
/// out. In place of NIOHTTP1's `HTTPRequestDecoder` (llhttp), for the same reason as
/// `HTTP1ResponseParser`: what NIO's decoder costs per request, beside the proxy's own work.
///
/// Where a request ends is what request smuggling plays on, so the framing is RFC 9112 §6.3's,
/// strictly: `Transfer-Encoding` other than `chunked` alone (see `HTTP1Fields`), or with
/// `Content-Length`, or in an HTTP/1.0 request, is refused, as is a `Content-Length` sent twice or
/// not a number; without either, no body. A request line is `method SP target SP HTTP/1.x`, a token method and a target
/// of visible characters, nothing else; empty lines before it are skipped (RFC 9112 §2.2). After a
/// request that asks to upgrade the connection (`Upgrade` with `Connection: upgrade`; CONNECT)
/// nothing more is read: the bytes that follow are the tunnel's or the new protocol's, handed on
/// when the reader leaves, as llhttp stops there too.
struct HTTP1RequestParser {
    enum Event: Equatable {
        case head(RequestHead)
        /// Body bytes, de-chunked, as slices of what was read.
        case body(ByteBuffer)
        case end(HTTPHeaders?)
    }

    private enum Phase: Equatable {
        case head
        case body(thenUpgrade: Bool)
        case upgraded
        case failed
    }

    private var phase = Phase.head
    private var body = HTTP1BodyParser(.length(0))
    private var scanner = HTTP1Scanner()

    /// After an upgrade request: the bytes left in the buffer are not HTTP/1's.
    var isUpgraded: Bool { phase == .upgraded }

    /// The head just returned asks to switch protocols: parsing stops after its end, unless
    /// `declineUpgrade()`.
    var upgradeFollows: Bool { phase == .body(thenUpgrade: true) }

    /// The proxy serves the request as HTTP/1.1 (an `h2c` offer it declines): parsing goes on.
    mutating func declineUpgrade() {
        if phase == .body(thenUpgrade: true) { phase = .body(thenUpgrade: false) }
    }

    /// The next event the buffered bytes make, consuming them; nil when more bytes are needed.
    mutating func next(_ buffer: inout ByteBuffer) throws -> Event? {
        do {
            switch phase {
            case .head:
                return try readHead(&buffer)
            case .body(let thenUpgrade):
                switch try body.next(&buffer) {
                case .body(let bytes): return .body(bytes)
                case .end(let trailers):
                    phase = thenUpgrade ? .upgraded : .head
                    return .end(trailers)
                case nil: return nil
                }
            case .upgraded, .failed:
                return nil
            }
        } catch {
            phase = .failed
            throw error
        }
    }

    private mutating func readHead(_ buffer: inout ByteBuffer) throws -> Event? {
        while buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == crlf16 {
            buffer.moveReaderIndex(forwardBy: 2)
        }
        guard let length = try scanner.sectionLength(buffer, limit: HTTP1Scanner.maxHeadSize, what: "head") else { return nil }
        let (line, fields) = try buffer.withUnsafeReadableBytes { bytes in
            try Self.parseHead(UnsafeRawBufferPointer(rebasing: bytes[0..<length]))
        }
        let framing: HTTP1BodyParser.Framing
        if fields.chunked {
            guard fields.contentLength == nil else { throw HTTP1Malformed(reason: "both Content-Length and Transfer-Encoding") }
            guard line.version.minor >= 1 else { throw HTTP1Malformed(reason: "Transfer-Encoding in an HTTP/1.0 request") }
            framing = .chunked
        } else {
            framing = .length(fields.contentLength ?? 0)
        }
        let isConnect: Bool
        if case .CONNECT = line.method { isConnect = true } else { isConnect = false }
        body = HTTP1BodyParser(isConnect ? .length(0) : framing)
        phase = .body(thenUpgrade: isConnect || fields.asksToUpgrade)
        // The fields stay in the bytes read: a slice, not a copy.
        let section = buffer.readSlice(length: length)!
        return .head(RequestHead(version: line.version, method: line.method, uri: line.target,
                                 fields: HeadFields(section: section, fields: fields)))
    }

    /// `bytes`: the whole head, through its empty line.
    /// The request line, and the fields as `HTTP1Fields`' lines of `bytes`.
    private static func parseHead(_ bytes: UnsafeRawBufferPointer) throws
        -> (line: (method: HTTPMethod, target: String, version: HTTPVersion), fields: HTTP1Fields) {
        var lines = HTTP1Lines(bytes)
        guard let requestLine = try lines.next() else { throw HTTP1Malformed(reason: "no request line") }
        let (method, target, version) = try parseRequestLine(requestLine)
        var fields = HTTP1Fields()
        while let line = try lines.next(), !line.isEmpty {
            try fields.add(line, in: bytes)
        }
        return ((method, target, version), fields)
    }

    /// `GET /path HTTP/1.1`.
    private static func parseRequestLine(_ line: UnsafeRawBufferPointer) throws -> (HTTPMethod, String, HTTPVersion) {
        guard let firstSpace = line.index(of: UInt8(ascii: " "), from: 0), firstSpace > 0,
              line.count - firstSpace > 10,
              let version = HTTP1Fields.version(UnsafeRawBufferPointer(rebasing: line[(line.count - 8)...])),
              line[line.count - 9] == UInt8(ascii: " ") else {
            throw HTTP1Malformed(reason: "not an HTTP/1.x request line")
        }
        let method = UnsafeRawBufferPointer(rebasing: line[..<firstSpace])
        let target = UnsafeRawBufferPointer(rebasing: line[(firstSpace + 1)..<(line.count - 9)])
        guard method.allSatisfy(isTokenByte) else { throw HTTP1Malformed(reason: "a method that is not a token") }
        guard !target.isEmpty, target.allSatisfy(isTargetByte) else {
            throw HTTP1Malformed(reason: "a request target with a space or a control character")
        }
        return (Self.method(method), String(decoding: target, as: UTF8.self), version)
    }

    /// The usual methods read off their bytes; any other through a `String` (NIO's lookup, or
    /// `RAW`). Methods are case-sensitive (RFC 9110 §9.1).
    private static func method(_ bytes: UnsafeRawBufferPointer) -> HTTPMethod {
        var word: UInt32 = 0
        if bytes.count == 3 || bytes.count == 4 {
            for byte in bytes { word = word << 8 | UInt32(byte) }
        }
        switch (bytes.count, word) {
        case (3, 0x47_45_54): return .GET  // "GET"
        case (3, 0x50_55_54): return .PUT  // "PUT"
        case (4, 0x50_4F_53_54): return .POST  // "POST"
        case (4, 0x48_45_41_44): return .HEAD  // "HEAD"
        default: return HTTPMethod(rawValue: String(decoding: bytes, as: UTF8.self))
        }
    }
}

/// A request target's bytes: visible ASCII, and (as llhttp lets through) bytes above it; never a
/// space or a control character.
@inline(__always)
private func isTargetByte(_ byte: UInt8) -> Bool {
    byte > 0x20 && byte != 0x7F
}
