import Foundation
import XCTest
@testable import Appliance

/// Low disk space is a fault on the screen and a line in the journal, both when it comes and when
/// it goes (the soak's full-disk phase looks for these lines).
final class HousekeepingTests: XCTestCase {
    func testLowDiskSpaceIsAFaultAndIsLoggedWhenItComesAndGoes() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("housekeeping-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        var configuration = ApplianceConfiguration()
        configuration.stateDirectory = root.appendingPathComponent("state").path
        configuration.quarantineDirectory = root.appendingPathComponent("quarantine").path
        configuration.outboxDirectory = root.appendingPathComponent("outbox").path
        for folder in [configuration.stateDirectory, configuration.quarantineDirectory, configuration.outboxDirectory] {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        let store = try JobStore(path: configuration.stateDirectory + "/ichtriage.sqlite")
        let status = ApplianceStatus()
        let log = LogCapture()

        configuration.minimumFreeMegabytes = 100_000_000  // 100 TB: no test machine has that free
        HousekeepingService(store: store, status: status, configuration: configuration, logger: log.logger).runOnce()
        guard case .diskFull? = status.fault(from: .disk) else { return XCTFail("no disk fault: \(String(describing: status.fault))") }
        XCTAssertEqual(log.lines.filter { $0.contains("disk space low") }.count, 1, "\(log.lines)")

        // Still low: the fault stays, and the journal is not repeated every pass.
        HousekeepingService(store: store, status: status, configuration: configuration, logger: log.logger).runOnce()
        XCTAssertEqual(log.lines.filter { $0.contains("disk space low") }.count, 1, "\(log.lines)")

        configuration.minimumFreeMegabytes = 0
        HousekeepingService(store: store, status: status, configuration: configuration, logger: log.logger).runOnce()
        XCTAssertNil(status.fault(from: .disk))
        XCTAssertEqual(log.lines.filter { $0.contains("disk space recovered") }.count, 1, "\(log.lines)")
    }
}
