// swift-tools-version:5.10
// The ICH triage appliance. See README.md and docs/ARCHITECTURE.md.
import PackageDescription

// DCMTK libraries the DICOM shim links (Debian's libdcmtk-dev); zlib to check deflated data.
let dcmtkLibraries: [LinkerSetting] = [
    "dcmnet", "dcmjpls", "dcmjpeg", "dcmimage", "dcmimgle", "dcmdata", "oflog", "ofstd", "z",
].map { .linkedLibrary($0) }

let package = Package(
    name: "ichtriage",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ichtriage", targets: ["ichtriage"]),
        .executable(name: "ichtriaged", targets: ["ichtriaged"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
    ],
    targets: [
        // The only code that sees DCMTK: C++ behind plain-C headers.
        .target(
            name: "CDICOM",
            linkerSettings: dcmtkLibraries
        ),
        // int8 kernels: scalar reference + AVX2 + AVX-512 VNNI + NEON + NEON dotprod.
        .target(name: "CKernels"),
        .target(
            name: "DICOMIntake",
            dependencies: ["CDICOM", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "Inference",
            dependencies: ["CKernels", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        .target(
            name: "Phantom",
            dependencies: ["CDICOM", "DICOMIntake"]
        ),
        // The triage pipeline: preprocessing, detector, Grad-CAM, decision, alert records.
        .target(name: "Triage", dependencies: ["DICOMIntake", "Inference", "CDICOM", "CCairo", .product(name: "Crypto", package: "swift-crypto")]),
        // Status screen (Cairo + FreeType), framebuffer, GPIO lights and button (libgpiod 1.6).
        .systemLibrary(name: "CCairo", pkgConfig: "cairo", providers: [.apt(["libcairo2-dev"])]),
        .systemLibrary(name: "CGPIOD", pkgConfig: "libgpiod", providers: [.apt(["libgpiod-dev"])]),
        .target(name: "CFramebuffer"),
        .target(name: "Indicators", dependencies: ["Triage", "CCairo", "CGPIOD", "CFramebuffer"]),
        // Signed model bundles: verification, A/B slots, atomic switch, rollback, receipts.
        .target(
            name: "ModelStore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        // Service plumbing: configuration, systemd notify/watchdog, durable job store.
        .target(
            name: "Appliance",
            dependencies: [
                "DICOMIntake", "Triage", "Indicators", "ModelStore", "Inference", "Phantom",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .executableTarget(
            name: "ichtriage",
            dependencies: [
                "DICOMIntake", "Inference", "Phantom", "Triage", "Indicators", "ModelStore", "Appliance", "CKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "ichtriaged",
            dependencies: [
                "Appliance", "DICOMIntake",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Replay tool for the ONNX fuzzer's inputs; `make fuzz-onnx` builds the same file with libFuzzer.
        .executableTarget(name: "FuzzONNX", dependencies: ["Inference"], path: "Tests/Fuzz/ONNX"),
        .testTarget(name: "DICOMIntakeTests", dependencies: ["DICOMIntake", "CDICOM"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "CKernels"]),
        .testTarget(name: "PhantomTests", dependencies: ["Phantom", "DICOMIntake"]),
        .testTarget(name: "ApplianceTests", dependencies: ["Appliance"]),
        .testTarget(
            name: "TriageTests", dependencies: ["Triage", "DICOMIntake", "Inference", "Phantom"],
            exclude: ["Support/tiny_detector.py", "Support/preprocess_parity.py"]
        ),
        .testTarget(
            name: "IndicatorsTests",
            dependencies: ["Indicators", "Triage", "CCairo"],
            exclude: ["Golden"]  // read from the source tree by path, so ICHTRIAGE_UPDATE_GOLDEN can rewrite them
        ),
        .testTarget(name: "ModelStoreTests", dependencies: ["ModelStore"]),
    ],
    cxxLanguageStandard: .cxx17
)
