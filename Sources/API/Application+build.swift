import Auth
import Hummingbird
import Logging
import Store

/// The API application: tests call this directly, berthd serves it.
public func buildApplication<Backend: ContainerBackend>(
    configuration: APIConfiguration,
    address: BindAddress,
    database: BerthDatabase,
    backend: Backend,
    verifier: TokenVerifier,
    metrics: APIMetrics,
    logger: Logger = Logger(label: "berth.api"),
    onServerRunning: @escaping @Sendable (_ port: Int?) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let router = buildRouter(configuration: configuration, database: database, backend: backend,
                             verifier: verifier, metrics: metrics)
    return Application(router: router, configuration: .init(address: address, serverName: "berthd"),
                       onServerRunning: { channel in await onServerRunning(channel.localAddress?.port) }, logger: logger)
}

/// The router alone, for in-process tests.
public func buildRouter<Backend: ContainerBackend>(
    configuration: APIConfiguration,
    database: BerthDatabase,
    backend: Backend,
    verifier: TokenVerifier,
    metrics: APIMetrics
) -> Router<APIContext> {
    let router = Router(context: APIContext.self)
    let limit = configuration.maxBodyBytes
    router.add(middleware: BodyLimitMiddleware(limit: limit))
    router.add(middleware: BoundaryMiddleware(metrics: metrics))
    let methods = RouteMethods()
    router.add(middleware: MethodNotAllowedMiddleware(routes: methods))
    let system = SystemEndpoints(database: database, backend: backend, metrics: metrics)
    system.addRoutes(to: router)
    let v1 = router.group("v1").add(middleware: AuthenticationMiddleware(verifier: verifier))
    ContainersController(database: database, backend: backend, configuration: configuration).addRoutes(to: v1)
    VolumesController(database: database, backend: backend).addRoutes(to: v1)
    SecretsController(database: database, backend: backend).addRoutes(to: v1)
    system.addAuthenticatedRoutes(to: v1)
    methods.record(router.routes)
    return router
}

/// Sets the per-request body limit from the configuration.
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = APIContext
    let limit: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.maxUploadSize = limit
        return try await next(request, context)
    }
}
