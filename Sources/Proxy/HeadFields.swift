import NIOCore
import NIOHTTP1

/// A head's fields on their way through the proxy: NIO's `HTTPHeaders` (from an HTTP/2 peer, or
/// the proxy's own answers), or the bytes an HTTP/1 peer sent, with the proxy's edits noted
/// beside them: the lines it drops and the fields it adds. Forwarded to an HTTP/1 peer, the lines
/// kept are copied as they came; no `String` is made for a field only passed on, where making
/// and dropping them, editing an `HTTPHeaders` and writing it out again cost about a fifth of a
/// proxied request (`bench/proxy/callgrind.sh`). `headers` gives the fields as `HTTPHeaders`
/// where a peer needs them (an HTTP/2 stream's codec, tests).
struct HeadFields {
    private enum Storage {
        case headers(HTTPHeaders)
        /// `bytes`: the section the lines are offsets into.
        case lines(bytes: ByteBuffer, lines: [HTTP1FieldLine])
    }

    /// The storage holds the references; the edits of lines are plain values beside it, so that
    /// an edit does not rebuild the storage, and reading the lines retains one reference.
    private var storage: Storage
    /// With `.lines`: bit `i` for line `i` dropped.
    private var dropped: UInt64 = 0
    /// With `.lines`: a `Connection` field names more than `close`, `keep-alive`, `upgrade`.
    private var nominates = false
    /// With `.lines`: the `HeaderName` bits of the lines' names, dropped ones included.
    private var lineKinds: UInt32 = 0
    /// Fields added after the lines (only with `.lines`; `.headers` takes them in place).
    private var added: [(String, String)] = []
    /// A block appended last (with `.lines`), written as its bytes.
    private var block: FieldBlock? = nil

    /// Each field added, then the block's, without making one array of both (read for every
    /// request the block is appended to).
    private func forEachAppended(_ body: ((String, String)) -> Void) {
        added.forEach(body)
        block?.fields.forEach(body)
    }

    /// The first field added, or of the block, that `predicate` accepts.
    private func firstAppended(where predicate: ((String, String)) -> Bool) -> (String, String)? {
        added.first(where: predicate) ?? block?.fields.first(where: predicate)
    }

    /// Before an edit: the block's fields become added ones, so the edit sees them in order.
    private mutating func dissolveBlock() {
        guard let block else { return }
        self.block = nil
        added.append(contentsOf: block.fields)
    }

    init(_ headers: HTTPHeaders = HTTPHeaders()) {
        storage = .headers(headers)
    }

    /// `section`: the bytes `fields` were read from. A head of more lines than one word has bits
    /// for is kept as `HTTPHeaders` (its fields made into strings once).
    init(section: ByteBuffer, fields: HTTP1Fields) {
        if fields.lines.count <= 64 {
            storage = .lines(bytes: section, lines: fields.lines)
            nominates = fields.connectionNominates
            lineKinds = fields.present
        } else {
            storage = .headers(HTTPHeaders(section.withUnsafeReadableBytes { fields.headers(in: $0) }))
        }
    }

    /// The `HeaderName` bits of the names present.
    var present: UInt32 {
        if case .lines = storage, dropped == 0, added.isEmpty, block == nil { return lineKinds }
        var bits: UInt32 = 0
        forEachKind { bits |= $0.bit }
        return bits
    }

    /// How many fields `kind` names.
    func count(_ kind: HeaderName) -> Int {
        var count = 0
        forEachKind { if $0 == kind { count += 1 } }
        return count
    }

    /// The values of the fields `kind` names (made into strings: for the few the proxy reads).
    func values(_ kind: HeaderName) -> [String] {
        var values: [String] = []
        switch storage {
        case .headers(let headers):
            for (name, value) in headers where HeaderName(name) == kind { values.append(value) }
        case .lines(let bytes, let lines):
            bytes.withUnsafeReadableBytes { section in
                for (index, line) in lines.enumerated() where line.kind == kind && dropped >> index & 1 == 0 {
                    values.append(String(decoding: Self.value(line, in: section), as: UTF8.self))
                }
            }
            forEachAppended { name, value in if HeaderName(name) == kind { values.append(value) } }
        }
        return values
    }

    /// Each field whose name the proxy treats specially, with its value (made into a string: the
    /// few fields the proxy reads).
    func forEachSpecial(_ body: (HeaderName, String) -> Void) {
        switch storage {
        case .headers(let headers):
            for (name, value) in headers {
                let kind = HeaderName(name)
                if kind != .other { body(kind, value) }
            }
        case .lines(let bytes, let lines):
            bytes.withUnsafeReadableBytes { section in
                for (index, line) in lines.enumerated() where line.kind != .other && dropped >> index & 1 == 0 {
                    body(line.kind, String(decoding: Self.value(line, in: section), as: UTF8.self))
                }
            }
            forEachAppended { name, value in
                let kind = HeaderName(name)
                if kind != .other { body(kind, value) }
            }
        }
    }

    /// The options of the `Connection` fields (RFC 9110 §7.6.1), lowercased; for lines read, only
    /// when they name more than `close`, `keep-alive` and `upgrade` (the usual `keep-alive` is
    /// not made into strings on every response).
    var connectionOptions: [Substring] {
        if case .lines = storage, !nominates { return [] }
        return values(.connection).flatMap(headerTokens)
    }

    /// `Transfer-Encoding: chunked`, as the writer frames a body (what NIO's encoders read).
    var saysChunked: Bool {
        switch storage {
        case .headers(let headers):
            return headers.first(name: "transfer-encoding") == "chunked"
        case .lines(let bytes, let lines):
            if lineKinds & HeaderName.transferEncoding.bit != 0 {
                for (index, line) in lines.enumerated() where line.kind == .transferEncoding && dropped >> index & 1 == 0 {
                    return bytes.withUnsafeReadableBytes { Self.value(line, in: $0).elementsEqual("chunked".utf8) }
                }
            }
            if added.isEmpty && block?.hasTransferEncoding != true { return false }
            return firstAppended { $0.0 == "transfer-encoding" }?.1 == "chunked"
        }
    }

    /// Drops every field whose name has its bit in `bits`.
    mutating func remove(_ bits: UInt32) {
        switch storage {
        case .headers(var headers):
            storage = .headers(HTTPHeaders())
            for kind in HeaderName.special where bits & kind.bit != 0 { headers.remove(name: kind.lowercased) }
            storage = .headers(headers)
        case .lines(_, let lines):
            dissolveBlock()
            for (index, line) in lines.enumerated() where bits & line.kind.bit != 0 { dropped |= 1 << index }
            added.removeAll { bits & HeaderName($0.0).bit != 0 }
        }
    }

    /// Drops every field named `name` (ASCII case-insensitive).
    mutating func remove(name: Substring) {
        switch storage {
        case .headers(var headers):
            storage = .headers(HTTPHeaders())
            headers.remove(name: String(name))
            storage = .headers(headers)
        case .lines(let bytes, let lines):
            dissolveBlock()
            let matching: UInt64 = bytes.withUnsafeReadableBytes { section in
                var bits: UInt64 = 0
                for (index, line) in lines.enumerated() where Self.nameEquals(line, in: section, name) { bits |= 1 << index }
                return bits
            }
            dropped |= matching
            added.removeAll { Self.namesEqual($0.0, name) }
        }
    }

    mutating func add(name: String, value: String) {
        switch storage {
        case .headers(var headers):
            storage = .headers(HTTPHeaders())
            headers.add(name: name, value: value)
            storage = .headers(headers)
        case .lines:
            dissolveBlock()
            added.append((name, value))
        }
    }

    /// Appends `block` after every field: copied as its bytes to an HTTP/1 peer. (Into
    /// `HTTPHeaders` as one block too: `HTTPHeaders.add` checks each name for non-ASCII bytes,
    /// about 470 instructions a name, for names that are literals here.)
    mutating func append(_ block: FieldBlock) {
        switch storage {
        case .headers(var headers):
            storage = .headers(HTTPHeaders())
            headers.add(contentsOf: HTTPHeaders(block.fields))
            storage = .headers(headers)
        case .lines:
            dissolveBlock()
            self.block = block
        }
    }

    mutating func replaceOrAdd(name: String, value: String) {
        remove(name: Substring(name))
        add(name: name, value: value)
    }

    /// The fields as `HTTPHeaders`: the lines kept, then the fields added.
    var headers: HTTPHeaders {
        switch storage {
        case .headers(let headers):
            return headers
        case .lines(let bytes, let lines):
            var fields: [(String, String)] = []
            fields.reserveCapacity(lines.count + added.count + (block?.fields.count ?? 0))
            bytes.withUnsafeReadableBytes { section in
                for (index, line) in lines.enumerated() where dropped >> index & 1 == 0 {
                    fields.append((String(decoding: Self.name(line, in: section), as: UTF8.self),
                                   String(decoding: Self.value(line, in: section), as: UTF8.self)))
                }
            }
            forEachAppended { fields.append($0) }
            return HTTPHeaders(fields)
        }
    }

    // MARK: Writing

    /// The bytes `write(to:)` writes: each field as `name: value` CRLF.
    var serializedSize: Int {
        var size = 0
        switch storage {
        case .headers(let headers):
            for (name, value) in headers { size += name.utf8.count + value.utf8.count + 4 }
        case .lines(_, let lines):
            for (index, line) in lines.enumerated() where dropped >> index & 1 == 0 {
                size += Int(line.colon - line.start) + Int(line.valueEnd - line.valueStart) + 4
            }
            for (name, value) in added { size += name.utf8.count + value.utf8.count + 4 }
            size += block?.bytes.readableBytes ?? 0
        }
        return size
    }

    /// Writes the fields at `at`, `serializedSize` bytes; returns where they end.
    func write(to at: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
        var at = at
        switch storage {
        case .headers(let headers):
            for (name, value) in headers { at = Self.write(name, value, to: at) }
        case .lines(let bytes, let lines):
            bytes.withUnsafeReadableBytes { section in
                for (index, line) in lines.enumerated() where dropped >> index & 1 == 0 {
                    at = Self.write(Self.name(line, in: section), Self.value(line, in: section), to: at)
                }
            }
            for (name, value) in added { at = Self.write(name, value, to: at) }
            block?.bytes.withUnsafeReadableBytes { bytes in
                at.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                at += bytes.count
            }
        }
        return at
    }

    private static func write(_ name: String, _ value: String, to at: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
        var name = name, value = value
        return name.withUTF8 { name in value.withUTF8 { value in write(UnsafeRawBufferPointer(name), UnsafeRawBufferPointer(value), to: at) } }
    }

    private static func write(_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer,
                              to at: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
        var at = at
        if let base = name.baseAddress { at.copyMemory(from: base, byteCount: name.count) }
        at += name.count
        at.storeBytes(of: UInt16(bigEndian: 0x3A20), as: UInt16.self)  // ": "
        at += 2
        if let base = value.baseAddress { at.copyMemory(from: base, byteCount: value.count) }
        at += value.count
        at.storeBytes(of: UInt16(bigEndian: 0x0D0A), as: UInt16.self)  // CRLF
        return at + 2
    }

    // MARK: Lines

    private func forEachKind(_ body: (HeaderName) -> Void) {
        switch storage {
        case .headers(let headers):
            for (name, _) in headers { body(HeaderName(name)) }
        case .lines(_, let lines):
            for (index, line) in lines.enumerated() where dropped >> index & 1 == 0 { body(line.kind) }
            forEachAppended { name, _ in body(HeaderName(name)) }
        }
    }

    private static func name(_ line: HTTP1FieldLine, in section: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: section[Int(line.start)..<Int(line.colon)])
    }

    private static func value(_ line: HTTP1FieldLine, in section: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: section[Int(line.valueStart)..<Int(line.valueEnd)])
    }

    private static func namesEqual<Other: StringProtocol>(_ name: String, _ other: Other) -> Bool {
        name.utf8.count == other.utf8.count && zip(name.utf8, other.utf8).allSatisfy { $0 | 0x20 == $1 | 0x20 }
    }

    private static func nameEquals<Name: StringProtocol>(_ line: HTTP1FieldLine, in section: UnsafeRawBufferPointer, _ other: Name) -> Bool {
        let name = self.name(line, in: section)
        return name.count == other.utf8.count && zip(name, other.utf8).allSatisfy { $0 | 0x20 == $1 | 0x20 }
    }
}

extension HeadFields: Equatable {
    /// Equal fields, as `HTTPHeaders` compares them.
    static func == (lhs: HeadFields, rhs: HeadFields) -> Bool {
        lhs.headers == rhs.headers
    }
}
