import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Prometheus
import Store

/// Health, readiness, metrics, the OpenAPI document, and GPU models.
struct SystemEndpoints<Backend: ContainerBackend> {
    let database: BerthDatabase
    let backend: Backend
    let metrics: APIMetrics

    func addRoutes(to router: Router<APIContext>) {
        router.get("healthz") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok\n"))) }
        router.get("readyz") { _, _ in
            guard backend.isReady else { throw APIError.unavailable("recovering the node's containers") }
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
        }
        router.get("metrics", use: scrape)
        router.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: .init(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.data)))
        }
    }

    func addAuthenticatedRoutes(to group: RouterGroup<APIContext>) {
        group.get("gpu-models") { _, context in
            _ = try context.caller()
            return try Response.json(GPUModelList(gpuModels: try await backend.gpuModels()))
        }
    }

    /// Containers by status are counted at scrape time, so the gauge is never stale.
    @Sendable func scrape(_ request: Request, context: APIContext) async throws -> Response {
        var counts = Dictionary(uniqueKeysWithValues: ContainerPhase.allCases.map { ($0, 0) })
        for container in try database.containers(owner: nil) {
            counts[container.phase, default: 0] += 1
        }
        for (phase, count) in counts {
            metrics.registry.makeGauge(name: "berth_containers", labels: [("status", phase.rawValue)]).set(Int64(count))
        }
        var buffer: [UInt8] = []
        metrics.registry.emit(into: &buffer)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                        body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
    }
}

enum OpenAPIDocument {
    static let data: Data = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
              let data = try? Data(contentsOf: url) else { return Data("{}".utf8) }
        return data
    }()
}
