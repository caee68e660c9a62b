import BerthModel
import Proxy

extension UpstreamProtocol {
    /// What the proxy speaks to an instance of a revision: what the revision says it serves.
    /// Spelled out case by case so that a new `ServingProtocol` does not compile until the
    /// proxy knows how to speak it.
    init(_ serving: ServingProtocol) {
        switch serving {
        case .http1: self = .http1
        case .h2c: self = .h2c
        }
    }
}
