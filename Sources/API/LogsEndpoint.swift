import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Runtime
import Store

/// GET /v1/containers/:id/logs?tail=N&follow=true: the serving revision's output as text,
/// one line per log line; with follow, the response stays open and streams new lines.
struct LogsEndpoint<Backend: ContainerBackend> {
    let database: BerthDatabase
    let backend: Backend

    @Sendable func logs(_ request: Request, context: APIContext) async throws -> Response {
        let (container, _) = try ContainersController<Backend>.authorized(context, database: database)
        let query = request.uri.queryParameters
        let tail = try query["tail"].map { text -> Int in
            guard let count = Int(text), count >= 0, count <= 100_000 else {
                throw APIError.invalid([.init("tail", "must be a number of lines from 0 to 100000")])
            }
            return count
        } ?? 100
        let follow = query["follow"].map { $0 == "true" || $0 == "1" } ?? false
        let timestamps = query["timestamps"].map { $0 == "true" || $0 == "1" } ?? false
        let runtimeID = RevisionDeployment.runtimeID(containerID: container.id, revision: container.revision)
        let logs = backend.logs
        let headers: HTTPFields = [.contentType: "text/plain; charset=utf-8"]
        @Sendable func render(_ line: LogLine) -> ByteBuffer {
            ByteBuffer(string: (timestamps ? RFC3339.format(line.time) + " " : "") + line.text + "\n")
        }
        guard follow else {
            let lines = try logs.tail(containerID: runtimeID, lines: tail)
            var buffer = ByteBuffer()
            for line in lines {
                var rendered = render(line)
                buffer.writeBuffer(&rendered)
            }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: buffer))
        }
        let database = database
        let containerID = container.id
        return Response(status: .ok, headers: headers, body: .init { writer in
            // The follow ends with its client or its container, whichever goes first: the log
            // files may never change again, so neither would be seen by waiting for a line.
            let (ended, end) = AsyncStream<Void>.makeStream()
            let observation = try database.observeContainerChanges { changes in
                if changes.contains(where: { $0.containerID == containerID && ($0.container?.phase ?? .deleting) == .deleting }) {
                    end.finish()
                }
            }
            defer { observation.cancel() }
            // Deleted between the lookup above and the subscription.
            if try database.container(id: containerID).map({ $0.phase == .deleting }) ?? true { end.finish() }
            try await request.body.consumeWithInboundCloseHandler { _ in
                for try await line in logs.follow(containerID: runtimeID, tail: tail, until: ended) {
                    try await writer.write(render(line))
                }
            } onInboundClosed: {
                end.finish()
            }
            try await writer.finish(nil)
        })
    }
}
