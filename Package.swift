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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0"),
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
        .executableTarget(
            name: "ichtriage",
            dependencies: [
                "DICOMIntake", "Inference", "Phantom",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "DICOMIntakeTests", dependencies: ["DICOMIntake", "CDICOM"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "CKernels"]),
        .testTarget(name: "PhantomTests", dependencies: ["Phantom", "DICOMIntake"]),
    ],
    cxxLanguageStandard: .cxx17
)
