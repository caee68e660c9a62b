import ArgumentParser
import BerthModel
import Foundation
import JSONValue
import Yams

/// How a command prints what it read: a table for people, JSON or YAML for scripts.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, yaml
}

struct OutputOptions: ParsableArguments {
    @Option(name: [.customShort("o"), .customLong("output")], help: ArgumentHelp("table (for people), json or yaml (for scripts).",
                                                                             valueName: "format"))
    var format: OutputFormat = .table
}

enum Print {
    /// Standard output, unbuffered enough for a log follow: each call is one write.
    static func out(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    static func err(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// The node's JSON, as JSON (indented, keys sorted) or YAML.
    static func structured(_ value: JSONValue, as format: OutputFormat) throws {
        switch format {
        case .yaml:
            out(try Yams.dump(object: plain(value), sortKeys: true))
        case .json, .table:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            out(String(decoding: try encoder.encode(value), as: UTF8.self) + "\n")
        }
    }

    /// Foundation values for Yams.
    static func plain(_ value: JSONValue) -> Any {
        switch value {
        case .null: return NSNull()
        case .bool(let value): return value
        case .integer(let value): return Int(value)
        case .number(let value): return value
        case .string(let value): return value
        case .array(let values): return values.map(plain)
        case .object(let members): return members.mapValues(plain)
        }
    }
}

/// Colour on a terminal only, and never with `NO_COLOR` set (https://no-color.org) or
/// `TERM=dumb`.
struct Style: Sendable {
    var colour: Bool

    static func detect(fd: Int32, environment: [String: String] = ProcessInfo.processInfo.environment) -> Style {
        let noColour = environment["NO_COLOR"].map { !$0.isEmpty } ?? false
        return Style(colour: isatty(fd) == 1 && !noColour && environment["TERM"] != "dumb")
    }

    func paint(_ text: String, _ code: String) -> String {
        colour ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }

    func green(_ text: String) -> String { paint(text, "32") }
    func red(_ text: String) -> String { paint(text, "31") }
    func yellow(_ text: String) -> String { paint(text, "33") }
    func dim(_ text: String) -> String { paint(text, "2") }
    func bold(_ text: String) -> String { paint(text, "1") }

    /// A container, revision or instance status, coloured by how well it goes.
    func status(_ status: String) -> String {
        switch status {
        case "running", "active", "ready": return green(status)
        case "failed", "deleting": return red(status)
        case "pending", "pulling", "starting": return yellow(status)
        default: return dim(status)
        }
    }
}

/// Columns padded to their widest cell, as `kubectl get` prints them. Widths count what is seen,
/// so colour codes in a cell do not push its column out.
struct Table {
    var headers: [String]
    var rows: [[String]] = []

    func render() -> String {
        let widths = headers.indices.map { column in
            ([headers[column]] + rows.map { column < $0.count ? $0[column] : "" }).map(Self.visibleWidth).max() ?? 0
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (column, cell) in cells.enumerated() {
                let last = column == cells.count - 1
                text += last ? cell : cell + String(repeating: " ", count: widths[column] - Self.visibleWidth(cell) + 3)
            }
            return text + "\n"
        }
        return line(headers) + rows.map(line).joined()
    }

    static func visibleWidth(_ text: String) -> Int {
        var width = 0
        var escape = false
        for character in text {
            if escape {
                if character == "m" { escape = false }
            } else if character == "\u{1B}" {
                escape = true
            } else {
                width += 1
            }
        }
        return width
    }
}

extension String {
    /// The text with every control character (C0, DEL, C1: escape sequences, carriage returns,
    /// backspaces) shown as U+FFFD: what the node relays from a tenant (names, status messages
    /// with a container's last log lines) cannot move the cursor, retitle or program the
    /// terminal of the person reading it. `berth logs` prints lines as written, as `docker logs`.
    var shown: String {
        String(String.UnicodeScalarView(unicodeScalars.map { scalar in
            scalar.properties.generalCategory == .control && scalar != "\t" ? "\u{FFFD}" : scalar
        }))
    }
}

/// Figures as people read them.
enum Human {
    /// "1 layer", "4 layers".
    static func count(_ count: Int64, _ noun: String) -> String {
        "\(count) \(noun)\(count == 1 ? "" : "s")"
    }

    static func seconds(_ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return String(format: "%.1fs", seconds)
    }

    /// 5s, 3m, 2h, 4d ago from an RFC 3339 time; the text itself when it is not one.
    static func age(_ rfc3339: String, now: Date = Date()) -> String {
        guard let date = RFC3339.parse(rfc3339) else { return rfc3339 }
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        switch seconds {
        case ..<120: return "\(seconds)s"
        case ..<7200: return "\(seconds / 60)m"
        case ..<172_800: return "\(seconds / 3600)h"
        default: return "\(seconds / 86400)d"
        }
    }
}
