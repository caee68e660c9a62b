/// `process.env` entries are `NAME=value` strings; setting one keeps a single entry per name.
extension RuntimeSpec.Process {
    /// The name of a `NAME=value` entry (all of it when there is no `=`).
    public static func name(of variable: String) -> Substring {
        variable.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    }

    /// `variables` set in `env`: a same-named entry is replaced in place, others are appended in
    /// the order given.
    public static func setting(_ variables: [(key: String, value: String)], in env: [String]) -> [String] {
        var result = env
        for (key, value) in variables {
            let entry = "\(key)=\(value)"
            if let index = result.firstIndex(where: { name(of: $0) == key }) {
                result[index] = entry
                // Later duplicates of the name would win in most libcs' getenv: drop them.
                result = result.enumerated().filter { $0.offset == index || name(of: $0.element) != key }.map(\.element)
            } else {
                result.append(entry)
            }
        }
        return result
    }
}
