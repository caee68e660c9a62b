import Logging
import NIOCore

/// What every connection handler of one server shares.
struct ProxyCore: Sendable {
    let routes: any RouteTable
    let metrics: ProxyMetrics?
    let responseTimeout: TimeAmount
    let idleTimeout: TimeAmount
    let headerTimeout: TimeAmount
    let logger: Logger
}
