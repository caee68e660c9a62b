import Foundation
import HTTPTypes
import Hummingbird
import Store

/// The API's domain errors; mapped to `application/problem+json` responses once, at the
/// boundary (ProblemMiddleware).
public enum APIError: Error, Equatable, Sendable {
    public struct FieldError: Sendable, Equatable, Codable {
        public var field: String
        public var message: String

        public init(_ field: String, _ message: String) {
            self.field = field
            self.message = message
        }
    }

    case invalid([FieldError])
    case badRequest(String)
    case unauthorized(String)
    case forbidden(String)
    case notFound(String)
    case conflict(String)
    /// Not enough of something on the node (GPUs, cpu, ram, ephemeral storage): 409, with what
    /// was asked and what is free.
    case capacity(String)
    /// The owner's quota (configured per owner) does not hold what was asked: 409, with the limit.
    case quota(String)
    case payloadTooLarge(Int)
    case unsupportedMediaType(String?)
    case unavailable(String)
    /// The disk is full: nothing of the change was written (507).
    case insufficientStorage(String)
    /// The path is known, the method is not: 405 with `Allow` listing these.
    case methodNotAllowed([String])

    /// The store's refusals, mapped once: conflicts are 409 or 404, a full disk 507, a database
    /// that cannot write right now 503. Nil for what is a bug (500).
    init?(_ error: StoreError) {
        switch error {
        case .nameTaken(let name): self = .conflict("a container named \"\(name)\" already exists on this node")
        case .notFound(let what): self = .notFound("no \(what)")
        case .gpuTaken: self = .capacity(error.description)
        case .deleting: self = .conflict("the container is being deleted")
        case .concurrentChange: self = .conflict(error.description)
        case .overCapacity(let shortfall):
            switch shortfall.scope {
            case .node: self = .capacity(shortfall.description)
            case .owner: self = .quota(shortfall.description)
            }
        case .invalidReference(let field, let message): self = .invalid([.init(field, message)])
        case .inUse(let detail), .duplicate(let detail): self = .conflict(detail)
        case .diskFull: self = .insufficientStorage("the node's disk is full; nothing was written")
        case .unavailable(let detail): self = .unavailable("the node's database cannot take writes right now (\(detail))")
        case .invalidStoredValue, .newerSchema: return nil
        }
    }

    var status: HTTPResponse.Status {
        switch self {
        case .invalid, .badRequest: return .badRequest
        case .unauthorized: return .unauthorized
        case .forbidden: return .forbidden
        case .notFound: return .notFound
        case .conflict, .capacity, .quota: return .conflict
        case .payloadTooLarge: return .contentTooLarge
        case .unsupportedMediaType: return .unsupportedMediaType
        case .unavailable: return .serviceUnavailable
        case .insufficientStorage: return HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")
        case .methodNotAllowed: return .methodNotAllowed
        }
    }

    var problem: Problem {
        switch self {
        case .invalid(let errors):
            return Problem(type: "validation", title: "Invalid request", status: status.code,
                           detail: errors.map { "\($0.field): \($0.message)" }.joined(separator: "; "), errors: errors)
        case .badRequest(let detail):
            return Problem(type: "bad-request", title: "Bad request", status: status.code, detail: detail)
        case .unauthorized(let detail):
            return Problem(type: "unauthorized", title: "Unauthorized", status: status.code, detail: detail)
        case .forbidden(let detail):
            return Problem(type: "forbidden", title: "Forbidden", status: status.code, detail: detail)
        case .notFound(let detail):
            return Problem(type: "not-found", title: "Not found", status: status.code, detail: detail)
        case .conflict(let detail):
            return Problem(type: "conflict", title: "Conflict", status: status.code, detail: detail)
        case .capacity(let detail):
            return Problem(type: "capacity", title: "Not enough capacity on this node", status: status.code, detail: detail)
        case .quota(let detail):
            return Problem(type: "quota", title: "Over the owner's quota", status: status.code, detail: detail)
        case .payloadTooLarge(let limit):
            return Problem(type: "payload-too-large", title: "Request body too large", status: status.code,
                           detail: "the body must be at most \(limit) bytes")
        case .unsupportedMediaType(let given):
            return Problem(type: "unsupported-media-type", title: "Unsupported media type", status: status.code,
                           detail: "send application/json\(given.map { ", not \($0)" } ?? "")")
        case .unavailable(let detail):
            return Problem(type: "unavailable", title: "Unavailable", status: status.code, detail: detail)
        case .methodNotAllowed(let allowed):
            return Problem(type: "method-not-allowed", title: "Method not allowed", status: status.code,
                           detail: "this path answers \(allowed.joined(separator: ", "))")
        case .insufficientStorage(let detail):
            return Problem(type: "insufficient-storage", title: "Insufficient storage", status: status.code, detail: detail)
        }
    }
}

/// RFC 9457 problem details.
struct Problem: Codable, Sendable {
    var type: String
    var title: String
    var status: Int
    var detail: String?
    var errors: [APIError.FieldError]?
    var requestId: String?

    init(type: String, title: String, status: Int, detail: String? = nil, errors: [APIError.FieldError]? = nil) {
        self.type = "https://berth.dev/problems/\(type)"
        self.title = title
        self.status = status
        self.detail = detail
        self.errors = errors
    }
}
