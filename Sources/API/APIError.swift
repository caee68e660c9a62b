import Foundation
import HTTPTypes
import Hummingbird

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
