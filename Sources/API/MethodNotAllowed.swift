import HTTPTypes
import Hummingbird
import Synchronization

/// The methods each route path answers, filled in once the routes are added: a request whose
/// path is known but whose method is not gets 405 with `Allow` (RFC 9110 §15.5.6), not 404.
final class RouteMethods: Sendable {
    private let table = Mutex<[(segments: [Substring], methods: [String])]>([])

    func record(_ routes: [Router<APIContext>.RouteDescription]) {
        var byPath: [String: Set<String>] = [:]
        for route in routes { byPath["\(route.path)", default: []].insert(route.method.rawValue) }
        let rows = byPath.map { path, methods in
            (segments: path.split(separator: "/"), methods: methods.sorted())
        }
        table.withLock { $0 = rows }
    }

    /// The methods of the route whose path matches, or nil for an unknown path.
    func methods(for path: String) -> [String]? {
        let parts = path.split(separator: "/")
        return table.withLock { rows in
            rows.first { row in
                // `**` (a file path in a volume) takes one component or more.
                let rest = row.segments.last == "**"
                return (rest ? parts.count >= row.segments.count : parts.count == row.segments.count)
                    && zip(row.segments, parts).allSatisfy { pattern, part in
                        pattern.hasPrefix(":") || pattern.hasPrefix("{") || pattern == "**" || pattern == part
                    }
            }?.methods
        }
    }
}

/// Inside the boundary, so that the 405 becomes a problem response with the request id. The
/// router answers an unknown method on a known path with the same 404 as an unknown path.
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = APIContext
    let routes: RouteMethods

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            guard let allowed = routes.methods(for: request.uri.path), !allowed.contains(request.method.rawValue) else { throw error }
            throw APIError.methodNotAllowed(allowed)
        }
    }
}
