import Auth
import Hummingbird
import Logging

/// Per-request context: the caller once authenticated, and the body size limit.
public struct APIContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var principal: Principal?
    public var maxUploadSize: Int

    public init(source: Source) {
        coreContext = .init(source: source)
        maxUploadSize = 1 << 20
    }

    /// The authenticated caller; the authentication middleware guarantees one on /v1 routes.
    func caller() throws -> Principal {
        guard let principal else { throw APIError.unauthorized("missing bearer token") }
        return principal
    }
}
