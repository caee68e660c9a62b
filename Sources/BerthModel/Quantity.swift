/// An amount of bytes written as a Kubernetes resource quantity: `512Mi`, `1Gi`, `500M`, `1.5G`,
/// `128974848`, `129e6`, `100k`.
///
/// Accepted forms (Kubernetes semantics, for byte amounts):
/// - a non-negative decimal number (`128974848`, `1.5`, `.5`), optionally with a leading `+`;
/// - followed by at most one of: a binary suffix `Ki Mi Gi Ti Pi Ei` (powers of 1024), a decimal
///   suffix `k M G T P E` (powers of 1000), or an exponent `e<N>` / `E<N>` (`129e6`, `1e-3`).
///
/// Milli, micro and nano (`m`, `u`, `n`) are rejected: a byte has no fractions worth writing down.
/// A value that is not a whole number of bytes after scaling (`0.3Ki`, `1.5`) is rounded up, as
/// Kubernetes does for byte quantities. Negative values, overflow past `Int64.max` bytes, empty
/// text, whitespace and anything else are errors. Zero is accepted; callers check ranges.
///
/// Two quantities are equal when they are the same number of bytes (`"1Ki" == "1024"`), as
/// Kubernetes compares quantities; `text` keeps what was written, for display.
public struct Quantity: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    public let bytes: Int64
    /// The text the quantity was parsed from, or a canonical form for one made from bytes.
    public let text: String

    public init(parsing text: String) throws(QuantityError) {
        self.bytes = try QuantityParser.parse(text)
        self.text = text
    }

    /// A quantity of exactly `bytes`, written with the largest binary suffix that divides it
    /// (`536870912` is `512Mi`), else as plain bytes.
    public init(bytes: Int64) {
        self.bytes = bytes
        self.text = Self.canonicalText(bytes)
    }

    public var description: String { text }

    public static func == (a: Quantity, b: Quantity) -> Bool { a.bytes == b.bytes }
    public static func < (a: Quantity, b: Quantity) -> Bool { a.bytes < b.bytes }
    public func hash(into hasher: inout Hasher) { hasher.combine(bytes) }

    /// Encoded as its text (`"512Mi"`).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }

    /// Decodes a quantity string, or a JSON integer meaning plain bytes.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text: String
        if let string = try? container.decode(String.self) {
            text = string
        } else if let number = try? container.decode(Int64.self) {
            text = String(number)
        } else {
            throw DecodingError.dataCorruptedError(in: container,
                debugDescription: "a quantity must be a string such as \"512Mi\" or a whole number of bytes")
        }
        do {
            try self.init(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    static let binarySuffixes: [(suffix: String, power: Int)] = [
        ("Ki", 1), ("Mi", 2), ("Gi", 3), ("Ti", 4), ("Pi", 5), ("Ei", 6),
    ]
    static let decimalSuffixes: [(suffix: String, power: Int)] = [
        ("k", 3), ("M", 6), ("G", 9), ("T", 12), ("P", 15), ("E", 18),
    ]

    static func canonicalText(_ bytes: Int64) -> String {
        guard bytes > 0 else { return String(bytes) }
        for (suffix, power) in binarySuffixes.reversed() {
            let unit = Int64(1) << (10 * power)
            if bytes % unit == 0 { return "\(bytes / unit)\(suffix)" }
        }
        return String(bytes)
    }
}

/// Why a quantity could not be read: one line naming the input and the accepted forms.
public struct QuantityError: Error, CustomStringConvertible, Equatable, Sendable {
    public var input: String
    public var reason: String

    public init(input: String, reason: String) {
        self.input = input
        self.reason = reason
    }

    public static let acceptedForms = "expected a non-negative number of bytes with an optional suffix: "
        + "Ki, Mi, Gi, Ti, Pi, Ei (powers of 1024), k, M, G, T, P, E (powers of 1000) or an exponent (129e6), "
        + "e.g. 512Mi, 1Gi, 500M, 128974848"

    public var description: String {
        "invalid quantity \(Self.quote(input)): \(reason); \(Self.acceptedForms)"
    }

    static func quote(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars.prefix(64) {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    result += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        if text.unicodeScalars.count > 64 { result += "…" }
        return result + "\""
    }
}

/// Exact parsing: the number is kept as decimal digits, scaled by powers of ten (moving the point)
/// and of 1024 (digit-wise multiplication), then rounded up to whole bytes.
enum QuantityParser {
    static func parse(_ text: String) throws(QuantityError) -> Int64 {
        func fail(_ reason: String) -> QuantityError { QuantityError(input: text, reason: reason) }

        let scalars = Array(text.unicodeScalars)
        guard !scalars.isEmpty else { throw fail("it is empty") }
        if scalars.contains(where: { $0.properties.isWhitespace }) { throw fail("it contains whitespace") }

        var index = 0
        if scalars[0] == "-" { throw fail("it is negative") }
        if scalars[0] == "+" { index = 1 }

        // The number: digits, optionally one point and more digits.
        var digits: [UInt8] = []
        var fractionDigits = 0
        var sawPoint = false
        var sawDigit = false
        while index < scalars.count {
            let scalar = scalars[index]
            if ("0"..."9").contains(scalar) {
                digits.append(UInt8(scalar.value - 48))
                if sawPoint { fractionDigits += 1 }
                sawDigit = true
            } else if scalar == "." {
                if sawPoint { throw fail("it has more than one decimal point") }
                sawPoint = true
            } else {
                break
            }
            index += 1
        }
        guard sawDigit else { throw fail("it does not start with a number") }

        // The suffix.
        let suffix = String(String.UnicodeScalarView(scalars[index...]))
        var binaryPower = 0
        var decimalExponent = 0
        if suffix.isEmpty {
        } else if let binary = Quantity.binarySuffixes.first(where: { $0.suffix == suffix }) {
            binaryPower = binary.power
        } else if let decimal = Quantity.decimalSuffixes.first(where: { $0.suffix == suffix }) {
            decimalExponent = decimal.power
        } else if suffix == "m" || suffix == "u" || suffix == "n" {
            throw fail("the suffix \"\(suffix)\" means fractions of a byte")
        } else if let first = suffix.unicodeScalars.first, first == "e" || first == "E" {
            let exponentText = suffix.dropFirst()
            var body = Substring(exponentText)
            var negative = false
            if body.first == "+" || body.first == "-" {
                negative = body.first == "-"
                body = body.dropFirst()
            }
            guard !body.isEmpty, body.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }) else {
                throw fail("unknown suffix \"\(suffix)\"")
            }
            // Anything beyond a few digits overflows (or underflows to a fraction) anyway.
            let significant = body.drop(while: { $0 == "0" })
            let magnitude = significant.count > 6 ? 999_999 : Int(significant) ?? 0
            decimalExponent = negative ? -magnitude : magnitude
        } else {
            throw fail("unknown suffix \"\(suffix)\"")
        }

        // value = digits × 10^-scale × 1024^binaryPower
        while let first = digits.first, first == 0, digits.count > fractionDigits { digits.removeFirst() }
        if digits.allSatisfy({ $0 == 0 }) { return 0 }
        var scale = fractionDigits - decimalExponent
        if scale < 0 {
            // Twenty significant integer digits are at least 10^19, past Int64.max.
            let leadingZeros = digits.prefix(while: { $0 == 0 }).count
            if digits.count - leadingZeros - scale > 19 { throw fail("it is larger than \(Int64.max) bytes") }
            digits += repeatElement(0, count: -scale)
            scale = 0
        }
        if scale > digits.count + 40 {
            // A tiny positive amount: rounds up to one byte (times nothing that could reach two).
            return 1
        }
        for _ in 0..<binaryPower { multiply(&digits, by: 1024) }

        let integerCount = max(0, digits.count - scale)
        let integerPart = digits.prefix(integerCount)
        let fractionIsZero = digits.dropFirst(integerCount).allSatisfy { $0 == 0 }
        var value: Int64 = 0
        for digit in integerPart {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int64(digit))
            if o1 || o2 { throw fail("it is larger than \(Int64.max) bytes") }
            value = sum
        }
        if !fractionIsZero {
            let (rounded, overflow) = value.addingReportingOverflow(1)
            if overflow { throw fail("it is larger than \(Int64.max) bytes") }
            value = rounded
        }
        return value
    }

    /// Multiplies a big-endian decimal digit array by a small factor in place.
    static func multiply(_ digits: inout [UInt8], by factor: Int) {
        var carry = 0
        for i in digits.indices.reversed() {
            let product = Int(digits[i]) * factor + carry
            digits[i] = UInt8(product % 10)
            carry = product / 10
        }
        var prefix: [UInt8] = []
        while carry > 0 {
            prefix.insert(UInt8(carry % 10), at: 0)
            carry /= 10
        }
        digits.insert(contentsOf: prefix, at: 0)
    }
}
