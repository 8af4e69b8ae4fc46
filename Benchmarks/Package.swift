// swift-tools-version: 6.1
// Microbenchmarks of the gateway's hot pieces (ordo-one/benchmark). A package of its own
// so that the main package never depends on the benchmark tooling (scripts/test.sh only
// builds it, so that it keeps compiling). Run from here:
//
//     swift package benchmark --no-progress
//
// See README.md.
import PackageDescription

let package = Package(
    name: "OrchestratorBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Orchestrator", path: ".."),
        // Only the malloc interposer: the default traits also pull in a runtime
        // interposer package that the package mirror here does not carry.
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        // The same requirements as the main package (the types cross its public API).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        .executableTarget(
            name: "HotPaths",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "OrchestratorCore", package: "Orchestrator"),
                .product(name: "Providers", package: "Orchestrator"),
                .product(name: "Balancing", package: "Orchestrator"),
                .product(name: "Persistence", package: "Orchestrator"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            path: "Benchmarks/HotPaths",
            swiftSettings: [
                .enableUpcomingFeature("ExistentialAny"),
                .enableUpcomingFeature("MemberImportVisibility"),
            ],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
