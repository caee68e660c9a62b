#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOHTTP1

/// The lines of a head or trailer section already known to end with an empty line: each without
/// its CRLF. A LF without CR is an error (RFC 9112 §2.2 lets a recipient
/// accept a bare LF; a proxy that does reads a message differently from the next hop).
struct HTTP1Lines {
    private let bytes: UnsafeRawBufferPointer
    private var start = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// A CR within a line is left to the checks of its characters, which refuse it.
    @inline(__always)
    mutating func next() throws -> UnsafeRawBufferPointer? {
        guard let lf = bytes.index(of: UInt8(ascii: "\n"), from: start) else { return nil }
        guard lf > start, bytes[lf - 1] == UInt8(ascii: "\r") else {
            throw HTTP1Malformed(reason: "a LF without CR")
        }
        let line = UnsafeRawBufferPointer(rebasing: bytes[start..<(lf - 1)])
        start = lf + 1
        return line
    }
}

/// Where one field line lies in its section (offsets from the section's first byte): the name
/// from `start` to `colon`, the value, its whitespace around dropped, from `valueStart` to
/// `valueEnd`; and which of the names the proxy treats specially it is.
struct HTTP1FieldLine: Equatable {
    var start: Int32
    var colon: Int32
    var valueStart: Int32
    var valueEnd: Int32
    var kind: HeaderName
}

/// The header fields of a head or trailer section, checked as read (RFC 9110 §5, RFC 9112 §5):
/// a token name, a colon with nothing before it, a value of visible characters, obs-text, spaces
/// and tabs, its leading and trailing whitespace dropped; no obs-fold. `Content-Length` and
/// `Transfer-Encoding` are read for the framing. The fields stay where they are in the section's
/// bytes (`lines`): no `String` is made for a field the proxy only passes on (`HeadFields`).
struct HTTP1Fields {
    private(set) var lines: [HTTP1FieldLine] = []
    /// The `HeaderName` bits of the names present.
    private(set) var present: UInt32 = 0
    private(set) var contentLength: Int? = nil
    /// `Transfer-Encoding: chunked` was sent (the only transfer coding read; see `add`).
    private(set) var chunked = false
    /// `Connection` lists `close`, `keep-alive`, `upgrade`.
    private(set) var connectionClose = false
    private(set) var connectionKeepAlive = false
    private(set) var connectionUpgrade = false
    /// `Connection` lists something else: a field it makes hop-by-hop (RFC 9110 §7.6.1).
    private(set) var connectionNominates = false
    private(set) var hasUpgrade = false

    /// `Upgrade` with `Connection: upgrade`: a request to switch this connection's protocol.
    var asksToUpgrade: Bool { hasUpgrade && connectionUpgrade }

    init() {
        lines.reserveCapacity(12)
    }

    /// Persistence (RFC 9112 §9.3): HTTP/1.1 unless `close`; HTTP/1.0 only with `keep-alive`.
    func keepAlive(version: HTTPVersion) -> Bool {
        !connectionClose && (version.minor >= 1 || connectionKeepAlive)
    }

    /// The fields as names and values, for `HTTPHeaders`; `section`: the bytes `add` read them from.
    func headers(in section: UnsafeRawBufferPointer) -> [(String, String)] {
        lines.map { line in
            (String(decoding: UnsafeRawBufferPointer(rebasing: section[Int(line.start)..<Int(line.colon)]), as: UTF8.self),
             String(decoding: UnsafeRawBufferPointer(rebasing: section[Int(line.valueStart)..<Int(line.valueEnd)]), as: UTF8.self))
        }
    }

    /// `HTTP/1.1` or `HTTP/1.0`; nil for anything else. Compared as one 8-byte word.
    static func version(_ bytes: UnsafeRawBufferPointer) -> HTTPVersion? {
        guard bytes.count == 8 else { return nil }
        switch UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)) {
        case 0x4854_5450_2F31_2E31: return .http1_1  // "HTTP/1.1"
        case 0x4854_5450_2F31_2E30: return .http1_0  // "HTTP/1.0"
        default: return nil
        }
    }

    /// `line`: one field line of `section`, without its CRLF.
    mutating func add(_ line: UnsafeRawBufferPointer, in section: UnsafeRawBufferPointer) throws {
        guard let colon = line.index(of: UInt8(ascii: ":"), from: 0) else {
            if let first = line.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
                throw HTTP1Malformed(reason: "an obs-folded field line")
            }
            throw HTTP1Malformed(reason: "a field line without a colon")
        }
        let name = UnsafeRawBufferPointer(rebasing: line[..<colon])
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else {
            throw HTTP1Malformed(reason: "a field name that is not a token")
        }
        var first = colon + 1
        var end = line.count
        while first < end, line[first] == UInt8(ascii: " ") || line[first] == UInt8(ascii: "\t") { first += 1 }
        while end > first, line[end - 1] == UInt8(ascii: " ") || line[end - 1] == UInt8(ascii: "\t") { end -= 1 }
        let value = UnsafeRawBufferPointer(rebasing: line[first..<end])
        guard isFieldValue(value) else {
            throw HTTP1Malformed(reason: "a control character in a field value")
        }
        let kind = HeaderName(name)
        switch kind {
        case .contentLength:
            guard contentLength == nil else { throw HTTP1Malformed(reason: "more than one Content-Length") }
            contentLength = try Self.decimal(value)
        case .transferEncoding:
            // The proxy frames each body itself (HeaderRewriter): a coding other than chunked
            // would be dropped with the field, and the body passed on still coded. So chunked is
            // the only one read, once, as nginx does (it answers 501 to a client, 502 for an
            // upstream). Chunked twice, or before another coding, is refused with the rest.
            guard !chunked, Self.isOnlyChunked(value) else {
                throw HTTP1Malformed(reason: "a transfer coding other than chunked", unsupportedCoding: true)
            }
            chunked = true
        case .connection:
            Self.forEachListElement(value) { option in
                if option.matches("close") {
                    connectionClose = true
                } else if option.matches("keep-alive") {
                    connectionKeepAlive = true
                } else if option.matches("upgrade") {
                    connectionUpgrade = true
                } else {
                    connectionNominates = true
                }
            }
        case .upgrade:
            hasUpgrade = true
        default:
            break
        }
        present |= kind.bit
        let start = line.baseAddress! - section.baseAddress!
        lines.append(HTTP1FieldLine(
            start: Int32(start), colon: Int32(start + colon), valueStart: Int32(start + first), valueEnd: Int32(start + end),
            kind: kind
        ))
    }

    /// A Content-Length: 1 to 18 digits, nothing else (not a list, not signed).
    private static func decimal(_ value: UnsafeRawBufferPointer) throws -> Int {
        guard !value.isEmpty, value.count <= 18 else { throw HTTP1Malformed(reason: "an invalid Content-Length") }
        var number = 0
        for byte in value {
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10 else { throw HTTP1Malformed(reason: "an invalid Content-Length") }
            number = number * 10 + Int(digit)
        }
        return number
    }

    /// A Transfer-Encoding list of exactly one element, `chunked` (any case, whitespace around).
    private static func isOnlyChunked(_ value: UnsafeRawBufferPointer) -> Bool {
        var codings = 0
        var chunked = false
        forEachListElement(value) { coding in
            codings += 1
            chunked = coding.matches("chunked")
        }
        return codings == 1 && chunked
    }

    /// The elements of a comma-separated list value, whitespace around them dropped, empty ones
    /// skipped (RFC 9110 §5.6.1).
    private static func forEachListElement(_ value: UnsafeRawBufferPointer, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        let bytes = value.assumingMemoryBound(to: UInt8.self)
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: ",") { end += 1 }
            var first = start
            var last = end
            while first < last, bytes[first] == UInt8(ascii: " ") || bytes[first] == UInt8(ascii: "\t") { first += 1 }
            while last > first, bytes[last - 1] == UInt8(ascii: " ") || bytes[last - 1] == UInt8(ascii: "\t") { last -= 1 }
            if first < last { body(UnsafeBufferPointer(rebasing: bytes[first..<last])) }
            start = end + 1
        }
    }
}

/// RFC 9110 tchar: letters, digits and ``!#$%&'*+-.^_`|~``, one bit per ASCII byte.
@inline(__always)
func isTokenByte(_ byte: UInt8) -> Bool {
    let low: UInt64 = 0x03FF_6CFA_0000_0000, high: UInt64 = 0x57FF_FFFF_C7FF_FFFE
    return byte < 64 ? low >> byte & 1 == 1 : byte < 128 && high >> (byte - 64) & 1 == 1
}

/// A field value's bytes (RFC 9110): visible characters, obs-text, space and tab.
@inline(__always)
func isFieldValueByte(_ byte: UInt8) -> Bool {
    byte >= 0x20 && byte != 0x7F || byte == UInt8(ascii: "\t")
}

/// Whether every byte passes `isFieldValueByte`, eight at a time: a word with no byte below 0x20
/// and none equal to 0x7F passes whole (the usual case); one with either (a tab, the one control
/// character allowed, or a byte to refuse) is tested byte by byte. A value's check was most of
/// the cost of reading a field line (`bench/proxy/callgrind.sh`).
func isFieldValue(_ bytes: UnsafeRawBufferPointer) -> Bool {
    let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
    var index = 0
    while index + 8 <= bytes.count {
        let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
        // "Has a byte less than n" and "has a zero byte" (for DEL, after xor): exact as tests of
        // whether any byte is, for n up to 0x80; obs-text (0x80 and above) never trips them.
        let below = (word &- ones &* 0x20) & ~word & highs
        let del = word ^ (ones &* 0x7F)
        let isDEL = (del &- ones) & ~del & highs
        if below | isDEL != 0 {
            for offset in index..<(index + 8) where !isFieldValueByte(bytes[offset]) { return false }
        }
        index += 8
    }
    while index < bytes.count {
        guard isFieldValueByte(bytes[index]) else { return false }
        index += 1
    }
    return true
}

extension UnsafeRawBufferPointer {
    /// The index of the first `byte` at or after `start` (memchr).
    func index(of byte: UInt8, from start: Int) -> Int? {
        guard let base = baseAddress, start < count else { return nil }
        guard let found = memchr(base + start, Int32(byte), count - start) else { return nil }
        return UnsafeRawPointer(found) - base
    }
}
