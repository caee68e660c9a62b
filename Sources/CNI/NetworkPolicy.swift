/// Berth's firewall for one bridge, as two chains of its own in the filter table (IPv4 with
/// iptables, the same shape for IPv6 with ip6tables), named after the bridge so that every rule
/// Berth owns is found by name and nothing of another bridge or tool is touched:
///
/// - `BERTH-IN-<bridge>`, jumped to from INPUT for packets arriving from the bridge: replies to
///   the host's own connections (the proxy's, the readiness probe's) pass; DNS to a resolver the
///   containers are given passes when that resolver is a host address; everything else aimed at
///   the host (the gateway address or any other) is refused.
/// - `BERTH-FWD-<bridge>`, jumped to from FORWARD for packets in from and out to the bridge:
///   replies pass; new connections towards a container (from another container or from outside)
///   are dropped; the operator's allow list and the resolvers pass; the bridge subnet, link-local,
///   private, shared, multicast and reserved ranges are refused; the rest (the internet) passes,
///   also where FORWARD's policy is DROP (Docker hosts).
///
/// Refusals use REJECT with "administratively prohibited", so a probe fails at once instead of
/// hanging. Container-to-container traffic on the bridge itself never reaches these chains when
/// the ports are isolated (`PortIsolation`); the FORWARD rules cover what is routed or bridged
/// with br_netfilter.
public struct NetworkPolicy: Sendable, Equatable {
    public enum Family: Sendable { case ipv4, ipv6 }

    public var bridge: String
    public var subnet: IPv4Network
    /// Destinations containers may reach although they lie in a refused range (`cni.egress_allow`).
    public var egressAllow: [IPCIDR]
    /// The name servers in the containers' /etc/resolv.conf.
    public var resolvers: [String]
    /// The host's own addresses: a resolver among them is let through INPUT, the others through FORWARD.
    public var hostAddresses: Set<String>

    public init(bridge: String, subnet: IPv4Network, egressAllow: [IPCIDR] = [], resolvers: [String] = [],
                hostAddresses: Set<String> = []) {
        self.bridge = bridge
        self.subnet = subnet
        self.egressAllow = egressAllow
        self.resolvers = resolvers
        self.hostAddresses = hostAddresses
    }

    /// Never reached from a container unless allowed: RFC 1918, CGNAT shared space, "this
    /// network", link-local (cloud metadata at 169.254.169.254), multicast and reserved.
    public static let refusedIPv4 = ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12",
                                     "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4"]
    /// The IPv6 counterparts: unspecified, loopback, IPv4-mapped and NAT64 (both can lead to IPv4
    /// ranges), discard, unique local, link-local, site-local and multicast.
    public static let refusedIPv6 = ["::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
                                     "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8"]

    public static func inputChain(bridge: String) -> String { "BERTH-IN-" + bridge }
    public static func forwardChain(bridge: String) -> String { "BERTH-FWD-" + bridge }
    /// On the jumps from the built-in chains, so that `iptables -S` says whose they are.
    public static func comment(bridge: String) -> String { "berth:" + bridge }

    public var inputChain: String { Self.inputChain(bridge: bridge) }
    public var forwardChain: String { Self.forwardChain(bridge: bridge) }

    /// Berth's chains with their rules (the arguments after `-A CHAIN`), in order.
    public func chains(_ family: Family) -> [(name: String, rules: [[String]])] {
        let established = ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"]
        let refuse = ["-j", "REJECT", "--reject-with", family == .ipv4 ? "icmp-admin-prohibited" : "icmp6-adm-prohibited"]
        let own = resolvers.filter { isFamily($0, family) }
        var input = [established]
        if family == .ipv6 {
            // Neighbour discovery, without which no IPv6 packet leaves a configured container.
            for type in ["neighbour-solicitation", "neighbour-advertisement"] {
                input.append(["-p", "ipv6-icmp", "-m", "icmp6", "--icmpv6-type", type, "-j", "ACCEPT"])
            }
        }
        for resolver in own where hostAddresses.contains(resolver) {
            input += Self.dns(to: resolver, family)
        }
        input.append(refuse)

        var forward = [established, ["-o", bridge, "-j", "DROP"]]
        // The bridge's own subnet before the allow list: no entry (a 10.0.0.0/8 that covers it)
        // can reopen traffic between containers.
        if family == .ipv4 { forward.append(["-d", subnet.description] + refuse) }
        for cidr in egressAllow where cidr.isIPv6 == (family == .ipv6) {
            forward.append(["-d", cidr.description, "-j", "ACCEPT"])
        }
        for resolver in own where !hostAddresses.contains(resolver) {
            forward += Self.dns(to: resolver, family)
        }
        let refused = family == .ipv4 ? Self.refusedIPv4 : Self.refusedIPv6
        for cidr in refused {
            forward.append(["-d", cidr] + refuse)
        }
        forward.append(["-j", "ACCEPT"])
        return [(inputChain, input), (forwardChain, forward)]
    }

    /// The jumps into Berth's chains: (built-in chain, arguments after `-A BUILTIN`).
    public var jumps: [(chain: String, rule: [String])] {
        let comment = ["-m", "comment", "--comment", Self.comment(bridge: bridge)]
        return [
            ("INPUT", ["-i", bridge] + comment + ["-j", inputChain]),
            ("FORWARD", ["-i", bridge] + comment + ["-j", forwardChain]),
            ("FORWARD", ["-o", bridge] + comment + ["-j", forwardChain]),
        ]
    }

    /// `iptables-restore --noflush` input that makes the filter table hold exactly this policy for
    /// the bridge, in one transaction (no moment without rules): each chain declared (created, or
    /// flushed when it exists) and filled; missing jumps inserted at the top of INPUT and FORWARD;
    /// jumps into Berth's chains that are not the expected ones (duplicates, stale) deleted.
    /// `listing` is `iptables -S` of the filter table.
    public func restoreInput(_ family: Family, listing: String) -> String {
        let rules = IPTablesListing(listing).rules
        var lines = ["*filter"]
        let chains = chains(family)
        for chain in chains { lines.append(":\(chain.name) - [0:0]") }
        for chain in chains {
            for rule in chain.rules { lines.append(Self.line(["-A", chain.name] + rule)) }
        }
        var kept: [[String]] = []
        for rule in rules where rule.count > 1 && Self.targets(rule, oneOf: [inputChain, forwardChain]) {
            let isExpected = jumps.contains { ["-A", $0.chain] + $0.rule == rule }
            if isExpected && !kept.contains(rule) {
                kept.append(rule)
            } else {
                lines.append(Self.line(["-D"] + rule.dropFirst()))
            }
        }
        // Inserted in reverse so that they end up in the order of `jumps`.
        for jump in jumps.reversed() where !kept.contains(["-A", jump.chain] + jump.rule) {
            lines.append(Self.line(["-I", jump.chain, "1"] + jump.rule))
        }
        lines.append("COMMIT")
        return lines.joined(separator: "\n") + "\n"
    }

    /// `iptables-restore --noflush` input removing every jump into the bridge's Berth chains and
    /// the chains themselves; nil when the table holds none of them.
    public static func removalInput(bridge: String, listing: String) -> String? {
        let parsed = IPTablesListing(listing)
        let ours = [inputChain(bridge: bridge), forwardChain(bridge: bridge)]
        var lines = ["*filter"]
        for rule in parsed.rules where rule.count > 1 && !ours.contains(rule[1]) && targets(rule, oneOf: ours) {
            lines.append(line(["-D"] + rule.dropFirst()))
        }
        let present = ours.filter(parsed.chains.contains)
        for chain in present { lines.append("-F \(chain)") }
        for chain in present { lines.append("-X \(chain)") }
        guard lines.count > 1 else { return nil }
        lines.append("COMMIT")
        return lines.joined(separator: "\n") + "\n"
    }

    private static func dns(to resolver: String, _ family: Family) -> [[String]] {
        let host = resolver + (family == .ipv4 ? "/32" : "/128")
        return ["udp", "tcp"].map { ["-d", host, "-p", $0, "-m", $0, "--dport", "53", "-j", "ACCEPT"] }
    }

    private func isFamily(_ address: String, _ family: Family) -> Bool {
        guard let bytes = IPCIDR.parseAddress(address) else { return false }
        return (bytes.count == 16) == (family == .ipv6)
    }

    /// True when the rule (`-A CHAIN … -j TARGET`) jumps to one of `chains`.
    static func targets(_ rule: [String], oneOf chains: [String]) -> Bool {
        guard let jump = rule.lastIndex(where: { $0 == "-j" || $0 == "-g" }), jump + 1 < rule.count else { return false }
        return chains.contains(rule[jump + 1])
    }

    /// One restore line; words with spaces or quotes are quoted as iptables-save does.
    static func line(_ words: [String]) -> String {
        words.map { word in
            guard word.isEmpty || word.contains(where: { $0 == " " || $0 == "\"" || $0 == "\\" }) else { return word }
            return "\"" + word.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }.joined(separator: " ")
    }
}

/// `iptables -S` output: the user chains (`-N NAME`) and the rules (`-A CHAIN …`) as words.
struct IPTablesListing {
    var chains: Set<String> = []
    var rules: [[String]] = []

    init(_ text: String) {
        for line in text.split(separator: "\n") {
            let words = MasqueradeCleanup.words(String(line))
            if words.count == 2, words[0] == "-N" { chains.insert(words[1]) }
            if words.count > 2, words[0] == "-A" { rules.append(words) }
        }
    }
}
