import Foundation
import JSONValue

/// The validator reads documents and values as the shared ``JSONValue``: booleans stay apart
/// from numbers (which JSONSerialization's NSNumber blurs on Linux), and it is Sendable.
typealias OpenAPIJSON = JSONValue

extension JSONValue {
    /// The JSON Schema type names this value has (an integral number is both "integer" and "number").
    var schemaTypes: Set<String> {
        switch self {
        case .null: return ["null"]
        case .bool: return ["boolean"]
        case .integer: return ["integer", "number"]
        case .number(let number): return number.isFinite && number.rounded() == number ? ["integer", "number"] : ["number"]
        case .string: return ["string"]
        case .array: return ["array"]
        case .object: return ["object"]
        }
    }

    /// The JSON Schema type name of this value, for messages.
    var schemaTypeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .integer: return "integer"
        case .number(let number): return number.isFinite && number.rounded() == number ? "integer" : "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// `description`, cut short for error messages.
    var summary: String {
        let text = description
        return text.count > 120 ? String(text.prefix(117)) + "…" : text
    }
}

/// Validates responses (and values) against the OpenAPI 3.1 document of the API, with a small
/// JSON Schema (2020-12) subset: `$ref` (local), `type` (one or a list), `enum`, `const`,
/// `required`, `properties`, `patternProperties`, `additionalProperties`, `propertyNames`,
/// `min/maxProperties`, `items`, `prefixItems`, `min/maxItems`, `uniqueItems`, `minimum`,
/// `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `multipleOf`, `min/maxLength`, `pattern`,
/// `format` (`date-time`, `date`, `uuid`, `uri`), `allOf`, `anyOf`, `oneOf`, `not`,
/// `if`/`then`/`else` and boolean schemas. Unknown keywords are annotations and are ignored.
struct OpenAPIValidator: Sendable {
    /// One way a value does not match, at a JSON pointer into the value.
    struct Mismatch: Sendable, Equatable, CustomStringConvertible {
        var pointer: String
        var message: String

        var description: String { "\(pointer.isEmpty ? "(root)" : pointer): \(message)" }
    }

    /// Everything that did not match, for one response or value.
    struct ValidationError: Error, Sendable, CustomStringConvertible {
        var context: String
        var mismatches: [Mismatch]

        var description: String {
            "\(context): \(mismatches.count) mismatch\(mismatches.count == 1 ? "" : "es")\n"
                + mismatches.map { "  - \($0)" }.joined(separator: "\n")
        }
    }

    /// The document itself is unusable, or names nothing for what was asked.
    struct DocumentError: Error, Sendable, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    static let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    let document: OpenAPIJSON

    init(documentData: Data) throws {
        let document: OpenAPIJSON
        do { document = try OpenAPIJSON.parse(documentData) } catch {
            throw DocumentError("the OpenAPI document is not valid JSON: \(error)")
        }
        guard document.objectValue != nil else { throw DocumentError("the OpenAPI document is not a JSON object") }
        guard document["paths"]?.objectValue != nil else { throw DocumentError("the OpenAPI document has no paths object") }
        self.document = document
    }

    // MARK: - Operations

    /// True when the document has `method` (any case) on `path` (a template such as
    /// `/v1/containers/{id}`, or a concrete path that matches one).
    func operation(path: String, method: String) -> Bool {
        operationObject(path: path, method: method) != nil
    }

    /// The operation object, if documented.
    func operationObject(path: String, method: String) -> OpenAPIJSON? {
        guard let template = pathTemplate(for: path) else { return nil }
        return document["paths"]?[template].flatMap { resolved($0) }?[method.lowercased()]
    }

    /// Every documented (path template, lowercase method).
    var operations: [(path: String, method: String)] {
        var result: [(path: String, method: String)] = []
        for (path, item) in (document["paths"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            let item = resolved(item) ?? item
            for method in Self.methods where item[method] != nil { result.append((path, method)) }
        }
        return result
    }

    /// The status codes (`"200"`, `"4XX"`, `"default"`) documented for an operation, sorted.
    func responseStatuses(path: String, method: String) -> [String] {
        (operationObject(path: path, method: method)?["responses"]?.objectValue?.keys).map { $0.sorted() } ?? []
    }

    /// The documented path template for `path`: itself when documented, otherwise the template
    /// whose segments match (`{x}` matches one non-empty segment). A query string is ignored.
    func pathTemplate(for path: String) -> String? {
        let path = String(path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        guard let paths = document["paths"]?.objectValue else { return nil }
        if paths[path] != nil { return path }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        return paths.keys.sorted().first { template in
            let templateSegments = template.split(separator: "/", omittingEmptySubsequences: false)
            guard templateSegments.count == segments.count else { return false }
            return zip(templateSegments, segments).allSatisfy { pattern, segment in
                pattern.hasPrefix("{") && pattern.hasSuffix("}") ? !segment.isEmpty : pattern == segment
            }
        }
    }

    // MARK: - Responses and requests

    /// Checks a response against the operation's documented response for `status` (or its `4XX`
    /// range, or `default`): a body where none is documented, a content type that is not
    /// documented, and for JSON media types every schema mismatch, each with its JSON pointer.
    func validateResponse(path: String, method: String, status: Int, body: Data, contentType: String?) throws {
        let context = "\(method.uppercased()) \(path) → \(status)"
        guard let template = pathTemplate(for: path) else {
            throw ValidationError(context: context, mismatches: [.init(pointer: "", message: "the path is not documented")])
        }
        guard let operation = operationObject(path: template, method: method) else {
            throw ValidationError(context: context, mismatches: [.init(pointer: "", message: "the method is not documented for \(template)")])
        }
        guard let responses = operation["responses"]?.objectValue else {
            throw ValidationError(context: context, mismatches: [.init(pointer: "", message: "the operation documents no responses")])
        }
        guard let listed = responses[String(status)] ?? responses["\(status / 100)XX"] ?? responses["default"] else {
            throw ValidationError(context: context, mismatches: [.init(
                pointer: "", message: "status \(status) is not documented (documented: \(responses.keys.sorted().joined(separator: ", ")))")])
        }
        guard let response = resolved(listed) else {
            throw ValidationError(context: context, mismatches: [.init(pointer: "", message: "the response's $ref does not resolve")])
        }
        let mismatches = validateContent(response["content"], body: body, contentType: contentType)
        if !mismatches.isEmpty { throw ValidationError(context: context, mismatches: mismatches) }
    }

    /// Checks a request body against the operation's documented request body.
    func validateRequest(path: String, method: String, body: Data, contentType: String?) throws {
        let context = "\(method.uppercased()) \(path) request"
        guard let operation = operationObject(path: path, method: method) else {
            throw ValidationError(context: context, mismatches: [.init(pointer: "", message: "the operation is not documented")])
        }
        guard let requestBody = operation["requestBody"].flatMap({ resolved($0) }) else {
            throw ValidationError(context: context, mismatches: [.init(pointer: "", message: "the operation documents no request body")])
        }
        let mismatches = validateContent(requestBody["content"], body: body, contentType: contentType)
        if !mismatches.isEmpty { throw ValidationError(context: context, mismatches: mismatches) }
    }

    private func validateContent(_ content: OpenAPIJSON?, body: Data, contentType: String?) -> [Mismatch] {
        guard let content = content?.objectValue, !content.isEmpty else {
            return body.isEmpty ? [] : [.init(pointer: "", message: "no body is documented, got \(body.count) bytes")]
        }
        let documented = content.keys.sorted()
        let given = contentType?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let mediaType: String
        if let given, !given.isEmpty {
            let major = given.split(separator: "/").first.map(String.init) ?? given
            guard let match = documented.first(where: { $0.lowercased() == given })
                ?? documented.first(where: { $0.lowercased() == "\(major)/*" })
                ?? documented.first(where: { $0 == "*/*" })
            else {
                return [.init(pointer: "", message: "Content-Type \(given) is not documented (documented: \(documented.joined(separator: ", ")))")]
            }
            mediaType = match
        } else {
            // No Content-Type: only acceptable for a plain-text response (such as /healthz's).
            guard documented.count == 1, !Self.isJSON(documented[0]) else {
                return [.init(pointer: "", message: "no Content-Type header (documented: \(documented.joined(separator: ", ")))")]
            }
            mediaType = documented[0]
        }
        let schema = content[mediaType]?["schema"]
        if Self.isJSON(mediaType) {
            let value: OpenAPIJSON
            do { value = try OpenAPIJSON.parse(body) } catch {
                return [.init(pointer: "", message: "the \(mediaType) body is not valid JSON: \(String(decoding: body.prefix(200), as: UTF8.self))")]
            }
            guard let schema else { return [] }
            return mismatches(value, schema: schema)
        }
        guard let schema else { return [] }
        // Any bytes are a binary string (a file from a volume).
        if resolved(schema)?["format"] == .string("binary") { return [] }
        guard let text = String(data: body, encoding: .utf8) else {
            return [.init(pointer: "", message: "the \(mediaType) body is not UTF-8")]
        }
        return mismatches(.string(text), schema: schema)
    }

    static func isJSON(_ mediaType: String) -> Bool {
        let type = mediaType.lowercased()
        return type == "application/json" || type.hasSuffix("+json")
    }

    // MARK: - Values

    /// Checks JSON text against `#/components/schemas/<name>`.
    func validate(_ json: Data, schemaNamed name: String) throws {
        let value: OpenAPIJSON
        do { value = try OpenAPIJSON.parse(json) } catch {
            throw ValidationError(context: name, mismatches: [.init(pointer: "", message: "not valid JSON: \(error)")])
        }
        try validate(value, schemaNamed: name)
    }

    /// Checks a value against `#/components/schemas/<name>`.
    func validate(_ value: OpenAPIJSON, schemaNamed name: String) throws {
        let found = mismatches(value, schema: .object(["$ref": .string("#/components/schemas/\(Self.escape(name))")]))
        if !found.isEmpty { throw ValidationError(context: name, mismatches: found) }
    }

    /// Every way `value` does not match `schema`, with JSON pointers into the value.
    func mismatches(_ value: OpenAPIJSON, schema: OpenAPIJSON) -> [Mismatch] {
        var found: [Mismatch] = []
        check(value, schema, pointer: "", into: &found, depth: 0)
        return found
    }

    // MARK: - References

    /// The value at a local reference (`#/components/schemas/Container`), or nil.
    func resolve(reference: String) -> OpenAPIJSON? {
        guard reference.hasPrefix("#") else { return nil }
        let pointer = reference.dropFirst()
        if pointer.isEmpty { return document }
        guard pointer.hasPrefix("/") else { return nil }
        var current = document
        for token in pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let key = (token.removingPercentEncoding ?? String(token))
                .replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            switch current {
            case .object(let object):
                guard let next = object[key] else { return nil }
                current = next
            case .array(let array):
                guard let index = Int(key), array.indices.contains(index) else { return nil }
                current = array[index]
            default:
                return nil
            }
        }
        return current
    }

    /// Follows `$ref`s of an OpenAPI object (response, parameter, path item…) to the object itself.
    func resolved(_ value: OpenAPIJSON) -> OpenAPIJSON? {
        var current = value
        for _ in 0..<32 {
            guard let reference = current["$ref"]?.stringValue else { return current }
            guard let next = resolve(reference: reference) else { return nil }
            current = next
        }
        return nil
    }

    /// Every `$ref` in the document that does not resolve, with where it is.
    func unresolvedReferences() -> [String] {
        var broken: [String] = []
        func walk(_ value: OpenAPIJSON, _ pointer: String) {
            switch value {
            case .object(let object):
                for (key, child) in object {
                    if key == "$ref", case .string(let reference) = child {
                        if resolve(reference: reference) == nil { broken.append("\(pointer)/$ref: \(reference)") }
                    } else {
                        walk(child, pointer + "/" + Self.escape(key))
                    }
                }
            case .array(let array):
                for (index, child) in array.enumerated() { walk(child, "\(pointer)/\(index)") }
            default:
                break
            }
        }
        walk(document, "")
        return broken.sorted()
    }

    /// Validates the document's own examples: `examples` (and `example`) of media types and
    /// parameters against their schemas, and each component schema's `examples` array.
    func validateDocumentExamples() throws {
        var found: [Mismatch] = []
        func checkMediaTypes(_ content: OpenAPIJSON?, at pointer: String) {
            for (mediaType, object) in content?.objectValue ?? [:] {
                let here = pointer + "/" + Self.escape(mediaType)
                guard let schema = object["schema"] else { continue }
                checkExamples(of: object, schema: schema, at: here)
            }
        }
        func checkExamples(of object: OpenAPIJSON, schema: OpenAPIJSON, at pointer: String) {
            if let example = object["example"] { record(example, schema, at: pointer + "/example") }
            for (name, example) in object["examples"]?.objectValue ?? [:] {
                guard let example = resolved(example), let value = example["value"] else { continue }
                record(value, schema, at: pointer + "/examples/" + Self.escape(name) + "/value")
            }
        }
        func record(_ value: OpenAPIJSON, _ schema: OpenAPIJSON, at pointer: String) {
            for mismatch in mismatches(value, schema: schema) {
                found.append(.init(pointer: pointer + mismatch.pointer, message: mismatch.message))
            }
        }
        for (path, item) in document["paths"]?.objectValue ?? [:] {
            guard let item = resolved(item) else { continue }
            let itemPointer = "/paths/" + Self.escape(path)
            for method in Self.methods {
                guard let operation = item[method] else { continue }
                let here = itemPointer + "/" + method
                if let body = operation["requestBody"].flatMap({ resolved($0) }) {
                    checkMediaTypes(body["content"], at: here + "/requestBody/content")
                }
                for (status, response) in operation["responses"]?.objectValue ?? [:] {
                    guard let response = resolved(response) else { continue }
                    checkMediaTypes(response["content"], at: here + "/responses/" + status + "/content")
                }
            }
        }
        let components = document["components"]
        for (name, response) in components?["responses"]?.objectValue ?? [:] {
            checkMediaTypes(response["content"], at: "/components/responses/" + Self.escape(name) + "/content")
        }
        for (name, parameter) in components?["parameters"]?.objectValue ?? [:] {
            if let schema = parameter["schema"] {
                checkExamples(of: parameter, schema: schema, at: "/components/parameters/" + Self.escape(name))
            }
        }
        for (name, header) in components?["headers"]?.objectValue ?? [:] {
            if let schema = header["schema"] {
                checkExamples(of: header, schema: schema, at: "/components/headers/" + Self.escape(name))
            }
        }
        for (name, schema) in components?["schemas"]?.objectValue ?? [:] {
            for (index, example) in (schema["examples"]?.arrayValue ?? []).enumerated() {
                record(example, schema, at: "/components/schemas/\(Self.escape(name))/examples/\(index)")
            }
        }
        if !found.isEmpty {
            throw ValidationError(context: "the document's examples",
                                  mismatches: found.sorted { $0.pointer < $1.pointer })
        }
    }

    static func escape(_ key: String) -> String {
        key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    // MARK: - JSON Schema

    private func check(_ value: OpenAPIJSON, _ schema: OpenAPIJSON, pointer: String, into found: inout [Mismatch], depth: Int) {
        func fail(_ message: String, at location: String? = nil) {
            found.append(.init(pointer: location ?? pointer, message: message))
        }
        guard depth < 64 else { return fail("the schema nests too deeply (a $ref cycle?)") }
        let keywords: [String: OpenAPIJSON]
        switch schema {
        case .bool(true): return
        case .bool(false): return fail("no value is allowed here, got \(value.summary)")
        case .object(let object): keywords = object
        default: return fail("the schema is neither an object nor a boolean")
        }

        if let reference = keywords["$ref"] {
            if let text = reference.stringValue, let target = resolve(reference: text) {
                check(value, target, pointer: pointer, into: &found, depth: depth + 1)
            } else {
                fail("the schema's $ref \(reference.summary) does not resolve")
            }
        }

        // type
        if let type = keywords["type"] {
            let allowed: [String]
            switch type {
            case .string(let one): allowed = [one]
            case .array(let many): allowed = many.compactMap(\.stringValue)
            default: allowed = []
            }
            if !allowed.isEmpty, value.schemaTypes.isDisjoint(with: allowed) {
                fail("expected \(allowed.joined(separator: " or ")), got \(value.schemaTypeName) \(value.summary)")
            }
        }
        if let options = keywords["enum"]?.arrayValue, !options.contains(value) {
            fail("\(value.summary) is not one of \(OpenAPIJSON.array(options).summary)")
        }
        if let constant = keywords["const"], constant != value {
            fail("expected \(constant.summary), got \(value.summary)")
        }

        switch value {
        case .integer, .number:
            checkNumber(value.numberValue!, keywords, fail: { fail($0) })
        case .string(let string):
            checkString(string, keywords, fail: { fail($0) })
        case .array(let items):
            if let minimum = keywords["minItems"]?.numberValue, Double(items.count) < minimum {
                fail("expected at least \(Int(minimum)) items, got \(items.count)")
            }
            if let maximum = keywords["maxItems"]?.numberValue, Double(items.count) > maximum {
                fail("expected at most \(Int(maximum)) items, got \(items.count)")
            }
            if case .bool(true) = keywords["uniqueItems"] {
                for (index, item) in items.enumerated() where items[..<index].contains(item) {
                    fail("items must be unique; \(item.summary) repeats", at: "\(pointer)/\(index)")
                }
            }
            let prefix = keywords["prefixItems"]?.arrayValue ?? []
            for (index, item) in items.enumerated() {
                if index < prefix.count {
                    check(item, prefix[index], pointer: "\(pointer)/\(index)", into: &found, depth: depth + 1)
                } else if let itemSchema = keywords["items"] {
                    check(item, itemSchema, pointer: "\(pointer)/\(index)", into: &found, depth: depth + 1)
                }
            }
        case .object(let object):
            checkObject(object, keywords, pointer: pointer, into: &found, depth: depth)
        default:
            break
        }

        // Combinators.
        if let all = keywords["allOf"]?.arrayValue {
            for sub in all { check(value, sub, pointer: pointer, into: &found, depth: depth + 1) }
        }
        if let any = keywords["anyOf"]?.arrayValue {
            let results = any.map { mismatches(of: value, $0, pointer: pointer, depth: depth + 1) }
            if !results.contains(where: \.isEmpty) {
                fail("matches none of the \(any.count) anyOf schemas: " + Self.explain(results))
            }
        }
        if let one = keywords["oneOf"]?.arrayValue {
            let results = one.map { mismatches(of: value, $0, pointer: pointer, depth: depth + 1) }
            let matching = results.indices.filter { results[$0].isEmpty }
            if matching.isEmpty {
                fail("matches none of the \(one.count) oneOf schemas: " + Self.explain(results))
            } else if matching.count > 1 {
                fail("matches \(matching.count) of the oneOf schemas (\(matching.map(String.init).joined(separator: ", "))), exactly one must match")
            }
        }
        if let not = keywords["not"], mismatches(of: value, not, pointer: pointer, depth: depth + 1).isEmpty {
            fail("\(value.summary) must not match \(not.summary)")
        }
        if let condition = keywords["if"] {
            if mismatches(of: value, condition, pointer: pointer, depth: depth + 1).isEmpty {
                if let then = keywords["then"] { check(value, then, pointer: pointer, into: &found, depth: depth + 1) }
            } else if let otherwise = keywords["else"] {
                check(value, otherwise, pointer: pointer, into: &found, depth: depth + 1)
            }
        }
    }

    private func mismatches(of value: OpenAPIJSON, _ schema: OpenAPIJSON, pointer: String, depth: Int) -> [Mismatch] {
        var found: [Mismatch] = []
        check(value, schema, pointer: pointer, into: &found, depth: depth)
        return found
    }

    private static func explain(_ results: [[Mismatch]]) -> String {
        results.enumerated().map { index, mismatches in
            "[\(index): " + mismatches.map(\.description).joined(separator: "; ") + "]"
        }.joined(separator: " ")
    }

    private func checkNumber(_ number: Double, _ keywords: [String: OpenAPIJSON], fail: (String) -> Void) {
        if let minimum = keywords["minimum"]?.numberValue, number < minimum {
            fail("\(OpenAPIJSON.number(number)) is less than the minimum \(OpenAPIJSON.number(minimum))")
        }
        if let maximum = keywords["maximum"]?.numberValue, number > maximum {
            fail("\(OpenAPIJSON.number(number)) is more than the maximum \(OpenAPIJSON.number(maximum))")
        }
        if let minimum = keywords["exclusiveMinimum"]?.numberValue, number <= minimum {
            fail("\(OpenAPIJSON.number(number)) must be more than \(OpenAPIJSON.number(minimum))")
        }
        if let maximum = keywords["exclusiveMaximum"]?.numberValue, number >= maximum {
            fail("\(OpenAPIJSON.number(number)) must be less than \(OpenAPIJSON.number(maximum))")
        }
        if let divisor = keywords["multipleOf"]?.numberValue, divisor > 0 {
            let quotient = number / divisor
            if abs(quotient - quotient.rounded()) > 1e-9 {
                fail("\(OpenAPIJSON.number(number)) is not a multiple of \(OpenAPIJSON.number(divisor))")
            }
        }
    }

    private func checkString(_ string: String, _ keywords: [String: OpenAPIJSON], fail: (String) -> Void) {
        let length = string.unicodeScalars.count
        if let minimum = keywords["minLength"]?.numberValue, Double(length) < minimum {
            fail("\(OpenAPIJSON.string(string).summary) is shorter than \(Int(minimum)) characters")
        }
        if let maximum = keywords["maxLength"]?.numberValue, Double(length) > maximum {
            fail("\(OpenAPIJSON.string(string).summary) is longer than \(Int(maximum)) characters")
        }
        if let pattern = keywords["pattern"]?.stringValue {
            switch Self.matches(string, pattern: pattern) {
            case .some(false): fail("\(OpenAPIJSON.string(string).summary) does not match the pattern \(pattern)")
            case nil: fail("the schema's pattern \(pattern) is not a valid regular expression")
            default: break
            }
        }
        if let format = keywords["format"]?.stringValue, let problem = Self.formatProblem(string, format: format) {
            fail("\(OpenAPIJSON.string(string).summary) is not a valid \(format): \(problem)")
        }
    }

    private func checkObject(_ object: [String: OpenAPIJSON], _ keywords: [String: OpenAPIJSON], pointer: String,
                             into found: inout [Mismatch], depth: Int) {
        for name in keywords["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where object[name] == nil {
            found.append(.init(pointer: pointer, message: "the required property \"\(name)\" is missing"))
        }
        if let minimum = keywords["minProperties"]?.numberValue, Double(object.count) < minimum {
            found.append(.init(pointer: pointer, message: "expected at least \(Int(minimum)) properties, got \(object.count)"))
        }
        if let maximum = keywords["maxProperties"]?.numberValue, Double(object.count) > maximum {
            found.append(.init(pointer: pointer, message: "expected at most \(Int(maximum)) properties, got \(object.count)"))
        }
        let properties = keywords["properties"]?.objectValue ?? [:]
        let patternProperties = keywords["patternProperties"]?.objectValue ?? [:]
        for key in object.keys.sorted() {
            let child = object[key]!
            let childPointer = pointer + "/" + Self.escape(key)
            if let names = keywords["propertyNames"] {
                for mismatch in mismatches(of: .string(key), names, pointer: childPointer, depth: depth + 1) {
                    found.append(.init(pointer: childPointer, message: "property name: \(mismatch.message)"))
                }
            }
            var evaluated = false
            if let propertySchema = properties[key] {
                evaluated = true
                check(child, propertySchema, pointer: childPointer, into: &found, depth: depth + 1)
            }
            for (pattern, patternSchema) in patternProperties where Self.matches(key, pattern: pattern) == true {
                evaluated = true
                check(child, patternSchema, pointer: childPointer, into: &found, depth: depth + 1)
            }
            guard !evaluated, let additional = keywords["additionalProperties"] else { continue }
            if case .bool(false) = additional {
                let allowed = properties.keys.sorted().joined(separator: ", ")
                found.append(.init(pointer: childPointer, message: "the property \"\(key)\" is not allowed (allowed: \(allowed))"))
            } else {
                check(child, additional, pointer: childPointer, into: &found, depth: depth + 1)
            }
        }
    }

    /// Whether `string` contains a match of `pattern` (JSON Schema patterns are not anchored);
    /// nil when the pattern does not compile.
    static func matches(_ string: String, pattern: String) -> Bool? {
        guard let expression = try? NSRegularExpression(pattern: pattern) else { return nil }
        return expression.firstMatch(in: string, range: NSRange(string.startIndex..., in: string)) != nil
    }

    /// Why `string` is not a valid `format`, or nil when it is (or the format is not checked).
    static func formatProblem(_ string: String, format: String) -> String? {
        switch format {
        case "date-time": return dateTimeProblem(string)
        case "date":
            guard let match = capture(string, #"^(\d{4})-(\d{2})-(\d{2})$"#) else { return "expected YYYY-MM-DD" }
            return dateProblem(year: match[0], month: match[1], day: match[2])
        case "uuid":
            return matches(string, pattern: "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$") == true
                ? nil : "expected 8-4-4-4-12 hexadecimal digits"
        case "uri":
            return matches(string, pattern: #"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$"#) == true ? nil : "expected an absolute URI"
        default:
            return nil
        }
    }

    /// RFC 3339 `date-time`: `2025-06-01T12:00:00Z`, with optional fractional seconds and a `Z` or
    /// `±hh:mm` offset; every field in range (a leap second, `:60`, is allowed).
    static func dateTimeProblem(_ string: String) -> String? {
        let pattern = #"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$"#
        guard let parts = capture(string, pattern) else {
            return "expected RFC 3339, such as 2025-06-01T12:00:00.000Z"
        }
        if let problem = dateProblem(year: parts[0], month: parts[1], day: parts[2]) { return problem }
        guard let hour = Int(parts[3]), hour <= 23 else { return "the hour is out of range" }
        guard let minute = Int(parts[4]), minute <= 59 else { return "the minute is out of range" }
        guard let second = Int(parts[5]), second <= 60 else { return "the second is out of range" }
        if !parts[6].isEmpty {
            guard let offsetHour = Int(parts[6]), offsetHour <= 23, let offsetMinute = Int(parts[7]), offsetMinute <= 59 else {
                return "the offset is out of range"
            }
        }
        return nil
    }

    private static func dateProblem(year: String, month: String, day: String) -> String? {
        guard let year = Int(year), let month = Int(month), let day = Int(day) else { return "not a date" }
        guard (1...12).contains(month) else { return "the month is out of range" }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        guard (1...days).contains(day) else { return "the day is out of range" }
        return nil
    }

    /// The capture groups of the first match (empty strings for groups that did not take part).
    private static func capture(_ string: String, _ pattern: String) -> [String]? {
        guard let expression = try? NSRegularExpression(pattern: pattern),
              let match = expression.firstMatch(in: string, range: NSRange(string.startIndex..., in: string))
        else { return nil }
        return (1..<match.numberOfRanges).map { index in
            Range(match.range(at: index), in: string).map { String(string[$0]) } ?? ""
        }
    }
}
