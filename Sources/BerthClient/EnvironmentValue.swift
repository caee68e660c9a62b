import JSONValue

/// An environment variable's value as the API shows it: a plain string, or a reference to one
/// of the owner's secrets (`{"secret": "hf"}`), whose value the API never shows.
public enum EnvironmentValue: Decodable, Sendable, Equatable, ExpressibleByStringLiteral {
    case plain(String)
    case secret(String)

    public init(stringLiteral value: String) { self = .plain(value) }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let plain = try? container.decode(String.self) {
            self = .plain(plain)
        } else {
            self = .secret(try container.decode(Reference.self).secret)
        }
    }

    private struct Reference: Decodable { var secret: String }

    /// As a request body writes it.
    public var json: JSONValue {
        switch self {
        case .plain(let value): .string(value)
        case .secret(let name): .object(["secret": .string(name)])
        }
    }

    /// As a table shows it: the value, or `<secret NAME>`.
    public var shown: String {
        switch self {
        case .plain(let value): value
        case .secret(let name): "<secret \(name)>"
        }
    }
}
