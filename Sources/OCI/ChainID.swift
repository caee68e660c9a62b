/// Layer identity after unpacking. A layer's chain ID names the snapshot holding it together
/// with every layer under it: chain(L0) = diffID(L0), chain(Ln) = sha256(chain(Ln-1) + " " + diffID(Ln)).
public enum ChainID {
    public static func chain(_ diffIDs: [Digest]) -> [Digest] {
        var result: [Digest] = []
        result.reserveCapacity(diffIDs.count)
        for diffID in diffIDs {
            if let parent = result.last {
                result.append(Digest.sha256(of: Array("\(parent) \(diffID)".utf8)))
            } else {
                result.append(diffID)
            }
        }
        return result
    }
}
