import XCTest
@testable import Appliance

final class ConfigurationTests: XCTestCase {
    private func parse(_ json: String) throws -> ApplianceConfiguration {
        try ApplianceConfiguration.parse(Data(json.utf8), source: "test.json")
    }

    func testEmptyObjectGivesDefaults() throws {
        XCTAssertEqual(try parse("{}"), ApplianceConfiguration())
    }

    func testValuesAreRead() throws {
        let c = try parse("""
        {"dropFolders": ["/srv/drop"], "quietPeriodSeconds": 3.5, "threads": 4,
         "gpio": {"enabled": true, "chip": "gpiochip1", "activeLow": ["red", "button"]},
         "cstore": {"enabled": true, "aeTitle": "CTHEAD", "port": 4242},
         "retention": {"days": 7}, "display": {"framebuffer": "", "identifiers": ["patientID"]}}
        """)
        XCTAssertEqual(c.dropFolders, ["/srv/drop"])
        XCTAssertEqual(c.quietPeriodSeconds, 3.5)
        XCTAssertEqual(c.threads, 4)
        XCTAssertEqual(c.gpio.chip, "gpiochip1")
        XCTAssertEqual(c.gpio.activeLow, ["red", "button"])
        XCTAssertTrue(c.cstore.enabled)
        XCTAssertEqual(c.cstore.port, 4242)
        XCTAssertEqual(c.retention.days, 7)
        XCTAssertEqual(c.retention.maximumMegabytes, ApplianceConfiguration.Retention().maximumMegabytes)
        XCTAssertEqual(c.display.framebuffer, "")
    }

    func testBadFilesAreRefusedWithTheReason() {
        let cases: [(String, String)] = [
            ("not json", "not valid JSON"),
            ("[1]", "top level must be a JSON object"),
            (#"{"quietPeriod": 3}"#, "quietPeriod: unknown key"),
            (#"{"gpio": {"chipp": "x"}}"#, "gpio.chipp: unknown key"),
            (#"{"threads": 0}"#, "threads: 0.0 is outside"),
            (#"{"threads": 2.5}"#, "threads: must be a whole number"),
            (#"{"threads": true}"#, "threads: must be a number"),
            (#"{"cstore": {"enabled": 1}}"#, "cstore.enabled: must be true or false"),
            (#"{"stateDirectory": "relative/dir"}"#, "must be an absolute path"),
            (#"{"cstore": {"aeTitle": "A_TITLE_LONGER_THAN_16"}}"#, "AE title"),
            (#"{"display": {"identifiers": ["patientName"]}}"#, "\"patientName\" is not one of"),
            (#"{"dropFolders": []}"#, "at least one folder"),
            (#"{"gpio": {"enabled": true, "red": 5, "green": 5}}"#, "share one line offset"),
        ]
        for (json, expected) in cases {
            XCTAssertThrowsError(try parse(json), json) { error in
                let text = String(describing: error)
                XCTAssertTrue(text.contains(expected), "\(json): \(text) should mention \(expected)")
                XCTAssertTrue(text.contains("test.json"), "the message names the file: \(text)")
            }
        }
    }

    func testMissingFile() throws {
        XCTAssertEqual(try ApplianceConfiguration.load(path: "/nonexistent/ichtriaged.json", mustExist: false),
                       ApplianceConfiguration())
        XCTAssertThrowsError(try ApplianceConfiguration.load(path: "/nonexistent/ichtriaged.json", mustExist: true))
    }
}
