import Foundation
import XCTest

/// Shared helpers: test data location, temporary folders, DCMTK command-line tools.
enum TestSupport {
    /// ../shared/data/real-head-ct (ICHTRIAGE_SHARED_DATA when set).
    static var dataRoot: URL {
        if let env = ProcessInfo.processInfo.environment["ICHTRIAGE_SHARED_DATA"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data/real-head-ct")
    }

    static var geExam: URL { dataRoot.appendingPathComponent("ge-hispeed-human") }
    static var philipsExport: URL { dataRoot.appendingPathComponent("philips-ingenuity-phantom-usb-export") }

    static func requireData(file: StaticString = #filePath, line: UInt = #line) throws {
        guard FileManager.default.fileExists(atPath: geExam.appendingPathComponent("01.dcm").path) else {
            throw XCTSkip("test data not found at \(dataRoot.path) (set ICHTRIAGE_SHARED_DATA)")
        }
    }

    /// GE slice paths 01..28, sorted by name.
    static func geSlices() throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: geExam, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "dcm" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    /// A fresh temporary folder, removed when the test ends.
    static func temporaryFolder(_ test: XCTestCase, _ name: String = "intake") throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock {
            _ = try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
            try? FileManager.default.removeItem(at: url)
        }
        return url
    }

    /// Copies a file, making the copy writable (the shared data is read-only).
    @discardableResult
    static func copy(_ source: URL, to destination: URL) throws -> URL {
        try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: source, to: destination)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: destination.path)
        return destination
    }

    static func copyTree(_ source: URL, to destination: URL) throws {
        let fm = FileManager.default
        guard let e = fm.enumerator(at: source, includingPropertiesForKeys: [.isDirectoryKey]) else { return }
        for case let url as URL in e {
            let rel = String(url.path.dropFirst(source.path.count + 1))
            let target = destination.appendingPathComponent(rel)
            if (try url.resourceValues(forKeys: [.isDirectoryKey])).isDirectory == true {
                try fm.createDirectory(at: target, withIntermediateDirectories: true)
            } else {
                try copy(url, to: target)
            }
        }
    }

    /// Path of a DCMTK tool, or nil.
    static func tool(_ name: String) -> String? {
        for dir in ["/usr/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        return nil
    }

    /// Runs a tool; throws with its output when it fails.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) throws -> String {
        guard let path = self.tool(tool) else { throw XCTSkip("\(tool) not installed (scripts/setup.sh installs dcmtk)") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let out = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0 else {
            throw NSError(domain: "tool", code: Int(p.terminationStatus),
                          userInfo: [NSLocalizedDescriptionKey: "\(tool) \(arguments.joined(separator: " ")) failed: \(out)"])
        }
        return out
    }

    /// A TCP port that was free a moment ago on the loopback interface.
    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw NSError(domain: "socket", code: 1) }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp -> Bool in
                bind(fd, sp, len) == 0 && getsockname(fd, sp, &len) == 0
            }
        }
        guard ok else { throw NSError(domain: "socket", code: 2) }
        return UInt16(bigEndian: addr.sin_port)
    }
}
