import NIOCore
import NIOHTTP1

/// The client handler's side of an exchange that the upstream connection drives (on the same
/// event loop), and what each exchange counts: the route table's in-flight requests and the
/// container's metrics.
extension ProxyClientHandler {
    // MARK: Upstream side

    func upstreamResponseHead(_ head: ResponseHead) {
        perform(state.responseHead(head))
    }

    func upstreamResponseBody(_ body: ByteBuffer) {
        perform(state.responseBody(body))
    }

    func upstreamResponseEnd(_ trailers: HTTPHeaders?, reusable: Bool) {
        perform(state.responseEnd(trailers, upstreamReusable: reusable))
    }

    func upstreamReadComplete() {
        flushClient()
    }

    func upstreamBecameWritable() {
        resumeReadingIfAllowed()
    }

    func upstreamFailed(_ connection: UpstreamConnection) {
        guard connection === upstream else { return }
        upstream = nil
        perform(state.upstreamFailed())
    }

    // MARK: Exchange accounting

    func openExchange(_ target: Upstream) {
        exchangeUpstream = target
        responseTimeout = target.responseTimeout?.timeAmount ?? core.responseTimeout
        core.routes.requestStarted(target)
        containerMetrics(for: target)?.started()
    }

    func finishExchange() {
        guard let target = exchangeUpstream else { return }
        exchangeUpstream = nil
        core.routes.requestFinished(target)
        containerMetrics(for: target)?.finished(status: state.responseStatus, duration: elapsed(since: requestStart))
    }

    func containerMetrics(for target: Upstream) -> ContainerMetrics? {
        guard let metrics = core.metrics else { return nil }
        if let cached = metricsCache, cached.containerID == target.containerID { return cached }
        let found = metrics.container(target.containerID)
        metricsCache = found
        return found
    }
}

/// The time since `start`, for the durations the metrics record.
func elapsed(since start: NIODeadline) -> Duration {
    .nanoseconds((NIODeadline.now() - start).nanoseconds)
}
