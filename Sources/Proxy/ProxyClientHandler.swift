import Logging
import NIOCore
import NIOHTTP1

/// The handler at the end of a client connection's pipeline. It feeds events to
/// `ProxyConnectionState` and carries out the actions it returns; the upstream side calls in
/// through `UpstreamConnection` on the same event loop, so there are no thread hops.
///
/// Backpressure: with autoRead on, NIO asks for each read through `read(context:)`; a read is
/// held back (`pendingRead`) while the upstream cannot take more and resumed on its
/// writability change. `UpstreamConnection` does the same in the other direction.
final class ProxyClientHandler: ChannelDuplexHandler, RemovableChannelHandler, HTTP1RequestSink {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    let core: ProxyCore
    let resources: LoopResources
    /// How to carry on as HTTP/2 after `Upgrade: h2c`; nil on an HTTP/2 stream.
    let pipeline: ClientPipeline?
    /// On an HTTP/2 stream (no pipeline). Kept, not computed: testing the optional copied the
    /// pipeline's fields on every write.
    let isStream: Bool
    var state: ProxyConnectionState
    var context: ChannelHandlerContext? = nil
    var upstream: UpstreamConnection? = nil
    var exchangeUpstream: Upstream? = nil
    /// The exchange's response timeout (its upstream's, or the proxy's), kept when it opens: the
    /// timer is set for it on every request.
    var responseTimeout: TimeAmount
    var requestStart = NIODeadline.uptimeNanoseconds(0)
    /// The last container whose metrics an exchange updated (`containerMetrics(for:)`).
    var metricsCache: ContainerMetrics? = nil
    private var pendingRead = false
    private var inRead = false
    private var upstreamNeedsFlush = false
    private var connectGeneration = 0
    private var routeGeneration = 0
    var timer: DeadlineTimer? = nil
    /// The state's `deadlineGeneration` the timer was last set for.
    private var armedGeneration: UInt32 = 0
    /// The write of the response's end, on an HTTP/2 stream while its request is still read.
    var endWritten: EventLoopFuture<Void>? = nil
    /// Responses on an HTTP/1 connection, written as bytes (an HTTP/2 stream's go to its codec).
    var responseWriter = HTTP1Writer<ResponseHead>()

    init(core: ProxyCore, resources: LoopResources, client: ClientAddress, pipeline: ClientPipeline?) {
        self.core = core
        self.resources = resources
        self.pipeline = pipeline
        self.isStream = pipeline == nil
        self.responseTimeout = core.responseTimeout
        self.state = ProxyConnectionState(client: client)
    }

    var isClientWritable: Bool { context?.channel.isWritable ?? true }

    // MARK: ChannelHandler

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        timer = DeadlineTimer(eventLoop: context.eventLoop) { [unowned self] in self.timerExpired() }
        if context.channel.isActive { syncDeadline() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        syncDeadline()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        perform(state.clientClosed())
        timer?.cancel()
        context.fireChannelInactive()
    }

    /// An HTTP/2 stream's request parts (an HTTP/1 connection's come from its `HTTP1RequestReader`).
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        requestPart(unwrapInboundIn(data).mapHead(RequestHead.init))
    }

    func requestPart(_ part: RequestPart) {
        inRead = true
        handle(part)
    }


    func channelReadComplete(context: ChannelHandlerContext) {
        if !inRead {
            // Bytes came but the decoder made no message of them: part of a request head.
            state.headBytesArrived()
            syncDeadline()
        }
        inRead = false
        if upstreamNeedsFlush {
            upstreamNeedsFlush = false
            upstream?.flush()
        }
    }

    func read(context: ChannelHandlerContext) {
        // The argument first: read within the call, it made Swift copy the whole state to call on.
        let upstreamWritable = upstream?.isWritable ?? true
        if state.readsAllowed(upstreamWritable: upstreamWritable) {
            context.read()
        } else {
            pendingRead = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { upstream?.clientBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            perform(state.quiesce())
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    // MARK: Events

    private func handle(_ part: RequestPart) {
        switch part {
        case .head(let head):
            if state.phase == .idle { requestStart = .now() }
            perform(state.requestHead(head))
        case .body(let body):
            perform(state.requestBody(body))
        case .end(let trailers):
            perform(state.requestEnd(trailers))
        }
    }

    private func routed(_ route: Route, generation: Int) {
        guard generation == routeGeneration else {
            if case .upstream(let upstream) = route { core.routes.routeUnused(upstream) }
            return
        }
        switch route {
        case .unavailable(let reason), .failed(let reason):
            core.logger.debug("route refused", metadata: ["host": "\(state.request?.routeHost ?? "")", "reason": "\(reason)"])
        default:
            break
        }
        let action = state.routed(route)
        // A route the state machine did not take (the request is gone, or was answered) is given back.
        if case .upstream(let upstream) = route, !action.connects { core.routes.routeUnused(upstream) }
        perform(action)
    }

    private func timerExpired() {
        core.metrics?.recordTimeout(state.timeoutLabel)
        perform(state.timedOut(upstreamWritable: upstream?.isWritable ?? true))
    }

    /// Sets the timer for the state's deadline when it started again.
    private func syncDeadline() {
        let generation = state.deadlineGeneration
        guard generation != armedGeneration, context != nil else { return }
        armedGeneration = generation
        switch state.deadline {
        case .none: timer?.set(nil)
        case .requestHead: timer?.set(.now() + core.headerTimeout)
        case .keepAlive, .progress: timer?.set(.now() + core.idleTimeout)
        case .response: timer?.set(.now() + responseTimeout)
        }
    }

    // MARK: Actions

    func perform(_ action: ProxyConnectionState.Action) {
        switch action {
        case .none:
            break
        case .route(let host):
            startRouting(host: host)
        case .connect(let upstream):
            openExchange(upstream)
            acquire(upstream, fresh: false)
        case .reconnect(let upstream):
            releaseUpstream(reuse: false)
            acquire(upstream, fresh: true)
        case .sendRequest(let head, let held, let sendContinue):
            sendRequest(head, held: held, sendContinue: sendContinue)
        case .forwardBody(let body):
            upstream?.sendBody(body)
            flushUpstream()
        case .forwardEnd(let trailers):
            upstream?.sendEnd(trailers)
            flushUpstream()
        case .writeResponseHead(let head):
            if let timing = exchangeUpstream?.serverTiming {
                var timed = head
                timed.fields.add(name: "server-timing", value: timing)
                writeResponse(.head(timed))
            } else {
                writeResponse(.head(head))  // not copied into a `var` for a field most responses lack
            }
        case .writeResponseBody(let body):
            writeResponse(.body(.byteBuffer(body)))
        case .completeResponse(let trailers, let reuse, let next):
            releaseUpstream(reuse: reuse)
            finishExchange()
            writeEnd(trailers, then: next)
        case .respond(let problem, let keepAlive, let finish, let next):
            if finish {
                releaseUpstream(reuse: false)
                finishExchange()
            }
            respond(problem, keepAlive: keepAlive, then: next)
        case .abort(let finish):
            if finish {
                releaseUpstream(reuse: false)
                finishExchange()
            }
            context?.close(promise: nil)
        case .startTunnel:
            startTunnel()
        case .upgradeToHTTP2(let head):
            upgradeToHTTP2(head)
        case .releaseUnused:
            releaseUpstream(reuse: true)
        case .becameIdle:
            becameIdle()
        case .close:
            close()
        }
        syncDeadline()
    }

    private func startRouting(host: String) {
        guard let context else { return }
        routeGeneration &+= 1
        let generation = routeGeneration
        let routes = core.routes
        if let route = routes.routeNow(host: host) {
            routed(route, generation: generation)
            return
        }
        let eventLoop = context.eventLoop
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        // A route that has to wait (a wake-up, a queue): the task starts synchronously and
        // resumes on this loop through the task executor.
        Task.immediate(executorPreference: resources.executor) {
            let route = await routes.route(host: host)
            if eventLoop.inEventLoop {
                handler.value.routed(route, generation: generation)
            } else {
                eventLoop.execute { handler.value.routed(route, generation: generation) }
            }
        }
    }

    /// A connection for the exchange: a pooled or new HTTP/1.1 one, or a stream on the loop's
    /// HTTP/2 session with an upstream that speaks h2c.
    private func acquire(_ target: Upstream, fresh: Bool) {
        connectGeneration &+= 1
        let connected: EventLoopFuture<any Channel>
        let reused: Bool
        switch target.speaks {
        case .http1:
            if !fresh, let pooled = resources.takeIdle(target) {
                bind(pooled)
                perform(state.upstreamConnected(reused: true))
                return
            }
            connected = resources.connect(target)
            reused = false
        case .h2c:
            (connected, reused) = resources.openStream(target, fresh: fresh)
        }
        let generation = connectGeneration
        let resources = self.resources
        connected.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                guard let connection = try? channel.pipeline.syncOperations.handler(type: UpstreamConnection.self) else {
                    channel.close(promise: nil)
                    return
                }
                guard generation == self.connectGeneration else {
                    resources.release(connection)
                    return
                }
                self.bind(connection)
                self.perform(self.state.upstreamConnected(reused: reused))
            case .failure(let error):
                guard generation == self.connectGeneration else { return }
                let timedOut: Bool
                if case ChannelError.connectTimeout = error { timedOut = true } else { timedOut = false }
                self.core.logger.debug("upstream connect failed", metadata: ["upstream": "\(target)", "error": "\(error)"])
                self.perform(self.state.connectFailed(timedOut: timedOut))
            }
        }
    }

    private func bind(_ connection: UpstreamConnection) {
        upstream = connection
        connection.bind(to: self)
    }

    func releaseUpstream(reuse: Bool) {
        guard let connection = upstream else { return }
        upstream = nil
        connection.unbind()
        if reuse {
            resources.release(connection)
        } else {
            connection.close()
        }
    }

    private func sendRequest(_ head: RequestHead, held: [RequestPart], sendContinue: Bool) {
        guard let upstream else { return }
        if sendContinue {
            let interim = ResponseHead(version: .http1_1, status: .continue)
            writeResponse(.head(interim))
            flushClient()
        }
        upstream.sendHead(head)
        for part in held {
            switch part {
            case .head: assertionFailure("a held request part is never a head")
            case .body(let body): upstream.sendBody(body)
            case .end(let trailers): upstream.sendEnd(trailers)
            }
        }
        flushUpstream()
        resumeReadingIfAllowed()
    }

    private func flushUpstream() {
        if inRead {
            upstreamNeedsFlush = true
        } else {
            upstream?.flush()
        }
    }

    func becameIdle() {
        if state.hasPipelined, let context {
            // Replayed on the next tick, outside the upstream's read callbacks.
            context.eventLoop.assumeIsolated().execute { self.replayPipelined() }
        } else {
            resumeReadingIfAllowed()
        }
    }

    private func replayPipelined() {
        guard state.phase == .idle else { return }
        for part in state.takePipelined() {
            handle(part)
        }
        resumeReadingIfAllowed()
    }

    func resumeReadingIfAllowed() {
        guard pendingRead, let context else { return }
        let upstreamWritable = upstream?.isWritable ?? true
        guard state.readsAllowed(upstreamWritable: upstreamWritable) else { return }
        pendingRead = false
        context.read()
    }
}
