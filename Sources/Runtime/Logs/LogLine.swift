import BerthModel
import Foundation

/// One line a container wrote: the pieces of a line the logger cut (CRI `P` records, each at most
/// 16 KiB) joined with the `F` record that ends it.
public struct LogLine: Sendable, Equatable, Codable {
    public enum Stream: String, Sendable, Equatable, Codable {
        case stdout, stderr
    }

    /// When the line's first piece was read from the container.
    public var time: Date
    public var stream: Stream
    /// Without the newline; bytes that are not UTF-8 become U+FFFD.
    public var text: String

    public init(time: Date, stream: Stream, text: String) {
        self.time = time
        self.stream = stream
        self.text = text
    }
}

/// One line of a CRI log file: `<RFC 3339 time> <stdout|stderr> <F|P>[:more tags] <text>`.
struct LogRecord {
    var time: Date
    var stream: LogLine.Stream
    var partial: Bool
    var text: ArraySlice<UInt8>

    /// nil for anything that is not a well-formed record (those lines are skipped).
    init?(_ line: ArraySlice<UInt8>) {
        let space = UInt8(ascii: " ")
        guard let timeEnd = line.firstIndex(of: space),
              let time = RFC3339.parse(line[line.startIndex..<timeEnd]) else { return nil }
        let streamStart = timeEnd + 1
        guard let streamEnd = line[streamStart...].firstIndex(of: space) else { return nil }
        let streamName = line[streamStart..<streamEnd]
        if streamName.elementsEqual("stdout".utf8) {
            stream = .stdout
        } else if streamName.elementsEqual("stderr".utf8) {
            stream = .stderr
        } else {
            return nil
        }
        let tagStart = streamEnd + 1
        let tagEnd = line[tagStart...].firstIndex(of: space) ?? line.endIndex
        let tag = line[tagStart..<tagEnd].prefix { $0 != UInt8(ascii: ":") }
        if tag.elementsEqual("F".utf8) {
            partial = false
        } else if tag.elementsEqual("P".utf8) {
            partial = true
        } else {
            return nil
        }
        self.time = time
        text = tagEnd < line.endIndex ? line[(tagEnd + 1)...] : line[line.endIndex...]
    }
}

/// Joins records read oldest first into lines: P pieces wait, per stream, for the F that ends
/// their line.
struct ForwardLineAssembler {
    private var pending: [LogLine.Stream: (time: Date, bytes: [UInt8])] = [:]

    var hasPending: Bool { !pending.isEmpty }

    mutating func add(_ record: LogRecord) -> LogLine? {
        if record.partial {
            if pending[record.stream] == nil {
                pending[record.stream] = (record.time, Array(record.text))
            } else {
                pending[record.stream]!.bytes += record.text
            }
            return nil
        }
        if let started = pending.removeValue(forKey: record.stream) {
            return LogLine(time: started.time, stream: record.stream,
                           text: String(decoding: started.bytes + record.text, as: UTF8.self))
        }
        return LogLine(time: record.time, stream: record.stream, text: String(decoding: record.text, as: UTF8.self))
    }

    /// Seeds a line whose first pieces were read by a backward scan.
    mutating func seed(stream: LogLine.Stream, time: Date, bytes: [UInt8]) {
        pending[stream] = (time, bytes)
    }

    /// Pieces still waiting (a stream that ended without a newline), oldest first.
    mutating func flush() -> [LogLine] {
        let lines = pending
            .sorted { $0.value.time < $1.value.time }
            .map { LogLine(time: $0.value.time, stream: $0.key, text: String(decoding: $0.value.bytes, as: UTF8.self)) }
        pending.removeAll()
        return lines
    }
}

/// Joins records read newest first into the last `limit` lines.
///
/// Read backwards, a line's `F` comes before its `P` pieces, so a line is started at its `F` (or,
/// for a stream's very last record, at a trailing `P` never completed: a stream that ended
/// without a newline) and grows at the front until the previous record of its stream is an `F`.
struct ReverseLineAssembler {
    struct Building {
        var time: Date
        var stream: LogLine.Stream
        var pieces: [[UInt8]] // newest first
        /// Only P pieces: its stream ended (or has not yet gone on) without a newline.
        var unfinished: Bool

        var bytes: [UInt8] {
            var joined = [UInt8]()
            joined.reserveCapacity(pieces.reduce(0) { $0 + $1.count })
            for piece in pieces.reversed() { joined += piece }
            return joined
        }

        var line: LogLine {
            LogLine(time: time, stream: stream, text: String(decoding: bytes, as: UTF8.self))
        }
    }

    let limit: Int
    /// Newest first.
    private(set) var lines: [Building] = []
    private var building: [LogLine.Stream: Int] = [:]
    private var seen: Set<LogLine.Stream> = []

    init(limit: Int) {
        self.limit = max(0, limit)
    }

    /// Enough lines, each with all its pieces.
    var isComplete: Bool { lines.count >= limit && building.isEmpty }
    var isFull: Bool { lines.count >= limit }

    mutating func add(_ record: LogRecord) {
        defer { seen.insert(record.stream) }
        if !record.partial {
            building[record.stream] = nil
            if lines.count < limit {
                lines.append(Building(time: record.time, stream: record.stream, pieces: [Array(record.text)], unfinished: false))
                building[record.stream] = lines.count - 1
            }
        } else if let index = building[record.stream] {
            lines[index].pieces.append(Array(record.text))
            lines[index].time = record.time
        } else if !seen.contains(record.stream) && lines.count < limit {
            lines.append(Building(time: record.time, stream: record.stream, pieces: [Array(record.text)], unfinished: true))
            building[record.stream] = lines.count - 1
        }
    }

    /// Stops growing lines whose earlier pieces were not found within the scan.
    mutating func finish() {
        building.removeAll()
    }
}
