/// What berth-logger is told on its command line.
///
/// containerd turns the query of the task's `binary://PATH?k1=v1&k2=v2` stdout URI into argv by
/// iterating a Go map, so the pairs arrive in any order: `k2 v2 k1 v1`. Each argument is read as
/// a key followed by its value, in whatever order; `--key=value` and `--key value` are accepted
/// too (leading dashes are ignored), and an empty token where a key is expected is skipped (a
/// query key without a value becomes `key ""`).
struct Options: Equatable {
    /// The container's log folder; `container.log` and its rotated files live there.
    var directory: String
    /// Rotate once container.log would grow beyond this many bytes.
    var maxBytes: Int64 = 10 << 20
    /// Rotated files kept besides container.log.
    var maxFiles: Int = 3

    static let usage = "usage: berth-logger dir DIR [max-bytes N] [max-files N]  (also --dir=DIR ...)"

    enum ParseError: Error, Equatable {
        case message(String)
    }

    static func parse(_ arguments: [String]) -> Result<Options, ParseError> {
        var values: [String: String] = [:]
        var index = 0
        while index < arguments.count {
            let token = arguments[index]
            index += 1
            if token.isEmpty { continue }
            var key = Substring(token)
            while key.first == "-" { key = key.dropFirst() }
            let value: String
            if token.first == "-", let equals = key.firstIndex(of: "=") {
                value = String(key[key.index(after: equals)...])
                key = key[..<equals]
            } else {
                guard index < arguments.count else { return .failure(.message("\(key) has no value")) }
                value = arguments[index]
                index += 1
            }
            values[String(key)] = value
        }

        var options = Options(directory: "")
        for (key, value) in values {
            switch key {
            case "dir", "directory":
                guard value.first == "/" else { return .failure(.message("dir must be an absolute path, not '\(value)'")) }
                options.directory = value
            case "max-bytes", "max-size":
                guard let number = Int64(value), number > 0 else {
                    return .failure(.message("max-bytes must be a positive integer, not '\(value)'"))
                }
                options.maxBytes = number
            case "max-files":
                guard let number = Int(value), number >= 0, number <= 1000 else {
                    return .failure(.message("max-files must be an integer from 0 to 1000, not '\(value)'"))
                }
                options.maxFiles = number
            default:
                return .failure(.message("unknown argument '\(key)'"))
            }
        }
        guard !options.directory.isEmpty else { return .failure(.message("dir is required")) }
        while options.directory.count > 1 && options.directory.last == "/" { options.directory.removeLast() }
        return .success(options)
    }
}
