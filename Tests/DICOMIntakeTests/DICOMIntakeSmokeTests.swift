import XCTest
@testable import DICOMIntake

final class DICOMIntakeSmokeTests: XCTestCase {
    func testModuleLinks() { XCTAssertEqual(String(describing: DICOMIntake.self), "DICOMIntake") }
}
