import Auth
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Store

extension HTTPField.Name {
    static let requestID = Self("X-Request-ID")!
}

/// Outermost: every response carries the request id (also in every log line of the request,
/// through the context's logger), every request gets one access log line, and every error
/// becomes a problem response here, once.
struct BoundaryMiddleware: RouterMiddleware {
    typealias Context = APIContext
    let metrics: APIMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = Self.response(for: error, context: context)
        }
        response.headers[.requestID] = context.id
        let elapsed = ContinuousClock.now - start
        let route = context.endpointPath ?? "unmatched"
        metrics.record(method: request.method.rawValue, route: route, status: response.status.code, duration: elapsed)
        context.logger.info("\(request.method) \(request.uri.path) \(response.status.code)", metadata: [
            "duration_ms": "\(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)",
            "route": "\(route)",
        ])
        return response
    }

    static func response(for error: any Error, context: APIContext) -> Response {
        switch error {
        case let error as APIError:
            var headers: HTTPFields = [:]
            if case .unauthorized = error { headers[.wwwAuthenticate] = #"Bearer realm="berth""# }
            if case .unavailable = error { headers[.retryAfter] = "1" }
            if case .methodNotAllowed(let allowed) = error { headers[.allow] = allowed.joined(separator: ", ") }
            return .problem(error.problem, requestID: context.id, headers: headers)
        case let error as StoreError:
            if let mapped = APIError(error) { return response(for: mapped, context: context) }
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            return .problem(Problem(type: "internal", title: "Internal server error", status: 500,
                                    detail: "the error was logged with this request id"), requestID: context.id)
        case let error as HTTPError where error.status == .contentTooLarge:
            return .problem(APIError.payloadTooLarge(context.maxUploadSize).problem, requestID: context.id)
        case let error as HTTPError:
            return .problem(Problem(type: "http", title: error.status.reasonPhrase, status: error.status.code, detail: error.body),
                            requestID: context.id)
        default:
            // Internals stay in the log, under the request id the client gets.
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            return .problem(Problem(type: "internal", title: "Internal server error", status: 500,
                                    detail: "the error was logged with this request id"), requestID: context.id)
        }
    }
}

/// Requires a valid bearer token on the routes it guards; the caller goes into the context.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = APIContext
    let verifier: TokenVerifier

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        do {
            context.principal = try await verifier.authenticate(authorizationHeader: request.headers[.authorization])
        } catch {
            throw APIError.unauthorized(error.description)
        }
        context.logger[metadataKey: "caller"] = "\(context.principal!.subject)"
        return try await next(request, context)
    }
}
