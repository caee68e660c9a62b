import Foundation
import JSONValue

/// A request body as the API's JSON object, with the one wording of its errors.
enum JSONBody {
    static func object(_ body: [UInt8]) throws(APIError) -> [String: JSONValue] {
        guard let json = try? JSONDecoder().decode(JSONValue.self, from: Data(body)) else {
            throw .badRequest("the body is not valid JSON")
        }
        guard case .object(let object) = json else { throw .badRequest("the body must be a JSON object") }
        return object
    }

    /// An error for each key outside `known`, by name.
    static func unknownFields(_ object: [String: JSONValue], known: Set<String>) -> [APIError.FieldError] {
        object.keys.sorted().filter { !known.contains($0) }.map { .init($0, "unknown field") }
    }

    /// The field's string when it is a DNS label (a volume's or a secret's name), else an error.
    static func name(_ object: [String: JSONValue], errors: inout [APIError.FieldError]) -> String? {
        if case .string(let given)? = object["name"], ContainerRequest.isDNSLabel(given) { return given }
        errors.append(.init("name", "required: a DNS label (lowercase letters, digits and '-', at most 63)"))
        return nil
    }
}
