import JSONValue
import JWTKit

extension JSONValue {
    /// A NumericDate (seconds since the epoch), if this is a finite number.
    var numericDate: Double? {
        switch self {
        case .integer(let value): return Double(value)
        case .number(let value) where value.isFinite: return value
        default: return nil
        }
    }
}

/// A JWT payload that keeps all claims, so that the roles claim can be read by its configured name.
/// Claims are checked by ``TokenVerifier`` after jwt-kit has verified the signature.
struct ClaimSet: JWTPayload, Equatable {
    var claims: [String: JSONValue]

    init(_ claims: [String: JSONValue]) {
        self.claims = claims
    }

    init(from decoder: any Decoder) throws {
        self.claims = try decoder.singleValueContainer().decode([String: JSONValue].self)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(claims)
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {}

    subscript(name: String) -> JSONValue? {
        claims[name]
    }
}
