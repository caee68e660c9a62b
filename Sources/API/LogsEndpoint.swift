import BerthModel
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Runtime
import Store

/// GET /v1/containers/:id/logs?tail=N&follow=true&since=T&revision=R: a revision's output as
/// text (the serving one's unless `revision` names another), one line per log line; with follow,
/// the response stays open and streams new lines. `since` keeps the lines written at or after a
/// time: RFC 3339, or a duration ago (`10m`), as `docker logs --since`.
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
        }
        let since = try query["since"].map { text -> Date in
            guard let date = Self.time(String(text)) else {
                throw APIError.invalid([.init("since", "must be an RFC 3339 time (2026-12-02T15:04:05Z) or a duration ago (90s, 10m, 2h)")])
            }
            return date
        }
        let revision = try query["revision"].map { text -> Int in
            guard let number = Int(text), number >= 1 else {
                throw APIError.invalid([.init("revision", "must be a revision number, 1 or more")])
            }
            guard try self.database.revision(containerID: container.id, number: number) != nil else {
                throw APIError.notFound("the container has no revision \(number)")
            }
            return number
        } ?? container.revision
        // With `since` and no `tail`, every line since then (up to the most `tail` allows).
        let lines = tail ?? (since == nil ? 100 : 100_000)
        let follow = query["follow"].map { $0 == "true" || $0 == "1" } ?? false
        let timestamps = query["timestamps"].map { $0 == "true" || $0 == "1" } ?? false
        let runtimeID = RevisionDeployment.runtimeID(containerID: container.id, revision: revision)
        let logs = backend.logs
        let headers: HTTPFields = [.contentType: "text/plain; charset=utf-8"]
        @Sendable func render(_ line: LogLine) -> ByteBuffer {
            ByteBuffer(string: (timestamps ? RFC3339.format(line.time) + " " : "") + line.text + "\n")
        }
        guard follow else {
            var buffer = ByteBuffer()
            for line in try logs.tail(containerID: runtimeID, lines: lines) where since.map({ line.time >= $0 }) ?? true {
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
                for try await line in logs.follow(containerID: runtimeID, tail: lines, until: ended)
                where since.map({ line.time >= $0 }) ?? true {
                    try await writer.write(render(line))
                }
            } onInboundClosed: {
                end.finish()
            }
            try await writer.finish(nil)
        })
    }

    /// An RFC 3339 time, or the time a duration ago.
    static func time(_ text: String) -> Date? {
        if let ago = DurationText.parse(text) {
            let seconds = Double(ago.components.seconds) + Double(ago.components.attoseconds) / 1e18
            return Date(timeIntervalSinceNow: -seconds)
        }
        return RFC3339.parse(text)
    }
}
