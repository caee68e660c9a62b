import Foundation
import Synchronization

/// A /24 for one test fixture's bridge that no route on the host covers yet.
///
/// A bridge left behind by an earlier run (a crashed test process keeps its bridge and its
/// route) with the same subnet would send this fixture's readiness probes to the wrong bridge,
/// so the subnet is chosen by looking, not by formula alone: the formula only says where the
/// search starts, so concurrent processes tend to start far apart.
public enum TestSubnet {
    private static let handedOut = Mutex<Set<UInt32>>([])

    /// "10.<second>.<third>.0/24" with `second` in `secondOctets`, starting the search at the
    /// `preferred`-th /24 of the range; neither routed on the host nor handed out in this process.
    public static func free(secondOctets: Range<Int>, preferred: Int) -> String {
        let routes = ipv4Routes()
        let count = secondOctets.count * 256
        return handedOut.withLock { taken in
            for step in 0..<count {
                let index = (preferred + step) % count
                let network = UInt32(10) << 24 | UInt32(secondOctets.lowerBound + index / 256) << 16 | UInt32(index % 256) << 8
                guard !taken.contains(network), !routes.contains(where: { overlaps(network, $0) }) else { continue }
                taken.insert(network)
                return "10.\(network >> 16 & 0xFF).\(network >> 8 & 0xFF).0/24"
            }
            // Everything routed: fall back to the formula (the test will say why it fails).
            return "10.\(secondOctets.lowerBound + (preferred / 256) % secondOctets.count).\(preferred % 256).0/24"
        }
    }

    /// Whether the /24 at `network` shares addresses with a route (network, mask).
    static func overlaps(_ network: UInt32, _ route: (network: UInt32, mask: UInt32)) -> Bool {
        guard route.mask != 0 else { return false }  // the default route
        let mask = route.mask & 0xFFFF_FF00
        return network & mask == route.network & mask
    }

    /// The host's IPv4 routes from /proc/net/route (addresses in little-endian hex).
    static func ipv4Routes() -> [(network: UInt32, mask: UInt32)] {
        let text = (try? readProcFile("/proc/net/route")) ?? ""
        return text.split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count > 7, let destination = UInt32(fields[1], radix: 16), let mask = UInt32(fields[7], radix: 16)
            else { return nil }
            return (destination.byteSwapped, mask.byteSwapped)
        }
    }
}
