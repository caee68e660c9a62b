/// A revision's env as stored: a JSON object of strings, keys sorted, non-ASCII kept as is.
///
/// Written and read by hand rather than with JSONEncoder/JSONDecoder because listing 1,000
/// containers decodes 1,000 of these, and Foundation's decoder alone took about 4.5 ms of the
/// API's 5 ms budget. The reader accepts any JSON object whose values are strings (whitespace,
/// every escape, surrogate pairs), so a database edited by hand still reads.
enum EnvironmentJSON {
    static func encode(_ env: [String: String]) -> String {
        var out = "{"
        for (index, key) in env.keys.sorted().enumerated() {
            if index > 0 { out += "," }
            appendQuoted(key, to: &out)
            out += ":"
            appendQuoted(env[key]!, to: &out)
        }
        return out + "}"
    }

    static func decode(_ text: String) throws -> [String: String] {
        var text = text
        return try text.withUTF8 { bytes in
            var parser = Parser(bytes: bytes)
            return try parser.object()
        }
    }

    private static func appendQuoted(_ string: String, to out: inout String) {
        out += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{0}"..."\u{1F}":
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        mutating func object() throws(EnvironmentJSONError) -> [String: String] {
            var result: [String: String] = [:]
            skipWhitespace()
            try expect(UInt8(ascii: "{"))
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                index += 1
            } else {
                while true {
                    skipWhitespace()
                    let key = try string()
                    skipWhitespace()
                    try expect(UInt8(ascii: ":"))
                    skipWhitespace()
                    result[key] = try string()
                    skipWhitespace()
                    let next = peek()
                    index += 1
                    if next == UInt8(ascii: "}") { break }
                    if next != UInt8(ascii: ",") { throw fail("expected ',' or '}'") }
                }
            }
            skipWhitespace()
            if index != bytes.count { throw fail("unexpected text after the object") }
            return result
        }

        mutating func string() throws(EnvironmentJSONError) -> String {
            try expect(UInt8(ascii: "\""))
            var start = index
            var unescaped: [UInt8] = []
            var escaped = false
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let tail = UnsafeBufferPointer(rebasing: bytes[start..<index])
                    index += 1
                    if !escaped { return String(decoding: tail, as: UTF8.self) }
                    unescaped.append(contentsOf: tail)
                    return String(decoding: unescaped, as: UTF8.self)
                }
                if byte < 0x20 { throw fail("control character in a string") }
                if byte == UInt8(ascii: "\\") {
                    escaped = true
                    unescaped.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                    index += 1
                    try escape(into: &unescaped)
                    start = index
                } else {
                    index += 1
                }
            }
            throw fail("unterminated string")
        }

        private mutating func escape(into out: inout [UInt8]) throws(EnvironmentJSONError) {
            guard let byte = peek() else { throw fail("unterminated escape") }
            index += 1
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(byte)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var value = UInt32(try hex4())
                if (0xD800...0xDBFF).contains(value) {
                    guard peek() == UInt8(ascii: "\\") else { throw fail("unpaired surrogate") }
                    index += 1
                    try expect(UInt8(ascii: "u"))
                    let low = UInt32(try hex4())
                    guard (0xDC00...0xDFFF).contains(low) else { throw fail("unpaired surrogate") }
                    value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(value) else { throw fail("unpaired surrogate") }
                out.append(contentsOf: UTF8.encode(scalar)!)
            default: throw fail("unknown escape")
            }
        }

        private mutating func hex4() throws(EnvironmentJSONError) -> UInt16 {
            guard index + 4 <= bytes.count else { throw fail("short \\u escape") }
            var value: UInt16 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw fail("bad \\u escape")
                }
                value = value << 4 | UInt16(digit)
                index += 1
            }
            return value
        }

        private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

        private mutating func expect(_ byte: UInt8) throws(EnvironmentJSONError) {
            guard peek() == byte else { throw fail("expected '\(Character(Unicode.Scalar(byte)))'") }
            index += 1
        }

        private mutating func skipWhitespace() {
            while let byte = peek(), byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
        }

        private func fail(_ reason: String) -> EnvironmentJSONError {
            EnvironmentJSONError(description: "env is not a JSON object of strings: \(reason) at byte \(index)")
        }
    }
}

struct EnvironmentJSONError: Error, CustomStringConvertible {
    var description: String
}
