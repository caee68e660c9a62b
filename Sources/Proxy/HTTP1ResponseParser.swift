import NIOCore
import NIOHTTP1

/// Reads HTTP/1.x responses from an upstream connection: the bytes a container sends, which a
/// hostile tenant writes. A value type fed bytes, returning one event at a time; the handler
/// (`HTTP1ResponseReader`) only carries them out. In place of NIOHTTP1's `HTTPResponseDecoder`,
/// whose callbacks, per-header `String` appends and boxed parts cost about a seventh of a proxied
/// request (`bench/proxy/callgrind.sh`: 107,414 instructions per request before, 91,322 after).
///
/// Strict where leniency lets two readers disagree on where a response ends (RFC 9112; see
/// `HTTP1Fields` and `HTTP1BodyParser`): a `Content-Length` once, digits only; `Transfer-Encoding`
/// only as `chunked` alone; never both. A response to HEAD, a 204 and a 304 have no body;
/// a 1xx other than 101 is dropped (as NIO's decoder does by default); after a 101 the bytes that
/// follow are the tunnel's, left unread. A body that is neither chunked nor counted runs until the
/// connection closes.
struct HTTP1ResponseParser {
    enum Event: Equatable {
        /// `keepAlive`: whether the connection may carry another exchange after this response
        /// (RFC 9112 §9.3): HTTP/1.1 without `Connection: close`, HTTP/1.0 with
        /// `Connection: keep-alive`, and a body that does not run until the close.
        case head(ResponseHead, keepAlive: Bool)
        /// Body bytes, de-chunked, as slices of what was read.
        case body(ByteBuffer)
        case end(HTTPHeaders?)
    }

    private enum Phase: Equatable {
        case head
        case body
        /// A 101's head was returned; its end comes next, then nothing more is read.
        case upgradeEnd
        case upgraded
        case failed
    }

    private var phase = Phase.head
    private var body = HTTP1BodyParser(.length(0))
    private var scanner = HTTP1Scanner()

    /// After a 101: the bytes left in the buffer belong to the tunnel.
    var isUpgraded: Bool { phase == .upgraded }

    /// The next event the buffered bytes make, consuming them; nil when more bytes are needed.
    /// `requestWasHEAD`: the request this response answers was a HEAD (one exchange at a time on
    /// an upstream connection), so the response has no body whatever its head says.
    mutating func next(_ buffer: inout ByteBuffer, requestWasHEAD: Bool = false) throws -> Event? {
        do {
            switch phase {
            case .head:
                return try readHead(&buffer, requestWasHEAD: requestWasHEAD)
            case .body:
                switch try body.next(&buffer) {
                case .body(let bytes): return .body(bytes)
                case .end(let trailers):
                    phase = .head
                    return .end(trailers)
                case nil: return nil
                }
            case .upgradeEnd:
                phase = .upgraded
                return .end(nil)
            case .upgraded, .failed:
                return nil
            }
        } catch {
            phase = .failed
            throw error
        }
    }

    /// The connection's input ended: the end of a body that runs until the close, nothing between
    /// responses, an error within one. `leftover`: bytes read and not yet consumed.
    mutating func inputEnded(leftover: Int) throws -> Event? {
        switch phase {
        case .body where body.runsUntilClose:
            phase = .head
            return .end(nil)
        case .head where leftover == 0, .upgraded, .upgradeEnd, .failed:
            return nil
        default:
            phase = .failed
            throw HTTP1Malformed(reason: "the connection closed within a response")
        }
    }

    private mutating func readHead(_ buffer: inout ByteBuffer, requestWasHEAD isHEAD: Bool) throws -> Event? {
        while true {
            guard let length = try scanner.sectionLength(buffer, limit: HTTP1Scanner.maxHeadSize, what: "head") else { return nil }
            let (version, status, fields) = try buffer.withUnsafeReadableBytes { bytes in
                try Self.parseHead(UnsafeRawBufferPointer(rebasing: bytes[0..<length]))
            }
            // The fields stay in the bytes read: a slice, not a copy.
            let head = ResponseHead(version: version, status: status,
                                    fields: HeadFields(section: buffer.readSlice(length: length)!, fields: fields))
            let code = head.status.code
            if code >= 100 && code < 200 && code != 101 {
                continue  // an interim response: dropped, the final one follows
            }
            if code == 101 {
                phase = .upgradeEnd
                return .head(head, keepAlive: false)
            }
            if fields.contentLength != nil && fields.chunked {
                throw HTTP1Malformed(reason: "both Content-Length and Transfer-Encoding")
            }
            let framing: HTTP1BodyParser.Framing
            if isHEAD || code == 204 || code == 304 {
                framing = .length(0)
            } else if fields.chunked {
                framing = .chunked
            } else {
                framing = fields.contentLength.map { .length($0) } ?? .untilClose
            }
            body = HTTP1BodyParser(framing)
            phase = .body
            let keepAlive = fields.keepAlive(version: head.version) && framing != .untilClose
            return .head(head, keepAlive: keepAlive)
        }
    }

    /// `bytes`: the whole head, through its empty line.
    private static func parseHead(_ bytes: UnsafeRawBufferPointer) throws -> (HTTPVersion, HTTPResponseStatus, HTTP1Fields) {
        var lines = HTTP1Lines(bytes)
        guard let statusLine = try lines.next() else { throw HTTP1Malformed(reason: "no status line") }
        let (version, status) = try parseStatusLine(statusLine)
        var fields = HTTP1Fields()
        while let line = try lines.next(), !line.isEmpty {
            try fields.add(line, in: bytes)
        }
        return (version, status, fields)
    }

    /// `HTTP/1.1 200 OK`; the reason may be empty, and its space missing.
    private static func parseStatusLine(_ line: UnsafeRawBufferPointer) throws -> (HTTPVersion, HTTPResponseStatus) {
        guard line.count >= 12, let version = HTTP1Fields.version(UnsafeRawBufferPointer(rebasing: line[0..<8])),
              line[8] == UInt8(ascii: " ") else {
            throw HTTP1Malformed(reason: "not an HTTP/1.x status line")
        }
        var code = 0
        for index in 9..<12 {
            let digit = line[index] &- UInt8(ascii: "0")
            guard digit < 10 else { throw HTTP1Malformed(reason: "the status code is not three digits") }
            code = code * 10 + Int(digit)
        }
        guard code >= 100 else { throw HTTP1Malformed(reason: "the status code is not three digits") }
        var status = HTTPResponseStatus(statusCode: code)
        if line.count > 12 {
            guard line[12] == UInt8(ascii: " ") else { throw HTTP1Malformed(reason: "the status code is not three digits") }
            let phrase = UnsafeRawBufferPointer(rebasing: line[13...])
            guard phrase.allSatisfy(isFieldValueByte) else { throw HTTP1Malformed(reason: "a control character in the reason phrase") }
            // A known code is written with its own phrase, as NIO's type keeps it; an unknown
            // one keeps the phrase it came with.
            if case .custom = status { status = HTTPResponseStatus(statusCode: code, reasonPhrase: String(decoding: phrase, as: UTF8.self)) }
        }
        return (version, status)
    }
}
