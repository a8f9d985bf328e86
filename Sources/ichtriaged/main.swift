import Appliance
import ArgumentParser
import DICOMIntake
import Foundation
import Logging
import ServiceLifecycle

/// The appliance service: intake, analysis, indicators and housekeeping in one ServiceGroup,
/// under systemd (Type=notify, watchdog from the analysis loop). See docs/service.md.
@main
struct ICHTriageDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ichtriaged",
        abstract: "ICH triage appliance service (run by systemd; see ichtriaged.service)."
    )

    @Option(help: "Configuration file (JSON). Default: \(ApplianceConfiguration.defaultPath), or built-in defaults if it does not exist.")
    var config: String?

    @Option(help: "Exit once no job is pending and nothing new arrived for this many seconds (demos and tests).")
    var exitWhenIdle: Double?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Flag(help: "Record how the service's last run ended (systemd's ExecStopPost=; reads SERVICE_RESULT, EXIT_CODE, EXIT_STATUS) and exit.")
    var recordExit = false

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { JournalLogHandler(label: $0, level: level) }
        let logger = Logger(label: "ichtriaged")

        let configuration: ApplianceConfiguration
        do {
            configuration = try ApplianceConfiguration.load(path: config ?? ApplianceConfiguration.defaultPath,
                                                            mustExist: config != nil)
        } catch {
            logger.critical("configuration refused: \(error)")
            throw ExitCode(78)  // EX_CONFIG: systemd shows it; Restart=on-failure will not loop fast
        }
        if recordExit {
            // Read at the next start: a crash during an analysis counts against that series.
            guard let record = ExitRecord(environment: ProcessInfo.processInfo.environment) else {
                logger.warning("--record-exit outside systemd (no SERVICE_RESULT): nothing recorded")
                return
            }
            try record.write(stateDirectory: configuration.stateDirectory)
            logger.info("exit recorded", metadata: ["result": "\(record.description)", "crash": "\(record.isCrash)"])
            return
        }
        let runtime = try ApplianceRuntime(configuration: configuration)
        if let exit = runtime.previousExit {
            logger.notice("previous run ended", metadata: ["result": "\(exit.description)", "chargedJobs": "\(runtime.jobsChargedWithCrash)"])
        }
        do {
            let imported = try LegacyAcknowledgements.importIfPresent(
                stateDirectory: URL(fileURLWithPath: configuration.stateDirectory), into: runtime.store)
            if imported > 0 { logger.info("acknowledgements imported from the old JSON-lines file", metadata: ["count": "\(imported)"]) }
        } catch {
            logger.error("old acknowledgements not imported", metadata: ["error": "\(error)"])
        }
        // Only a crash of the last run counts against a model on probation; a kill from outside
        // or a power cut (no record: systemd never got to run ExecStopPost) does not.
        let analyzer = DetectorAnalyzer.make(configuration: configuration, logger: logger,
                                             previousRunCrashed: runtime.previousExit?.isCrash ?? false)
        let services = runtime.services(analyzer: analyzer, modelDescription: { analyzer.modelDescription },
                                        modelStore: analyzer.store, logger: logger)
        var configured = services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
        if let exitWhenIdle {
            let idle = IdleExit(store: runtime.store, status: runtime.status, idleSeconds: exitWhenIdle,
                                canAnalyse: analyzer.unavailableReason == nil)
            configured.append(.init(service: idle, successTerminationBehavior: .gracefullyShutdownGroup))
        }
        let group = ServiceGroup(configuration: .init(
            services: configured,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        runtime.notifier.ready(status: "watching \(configuration.dropFolders.joined(separator: ", ")); model: \(analyzer.modelDescription)")
        logger.info("ichtriaged started", metadata: ["dropFolders": "\(configuration.dropFolders)", "model": "\(analyzer.modelDescription)"])
        try await group.run()
    }
}

/// Ends the service group once the appliance has been idle for a while (for `make demo`).
struct IdleExit: Service {
    let store: JobStore
    let status: ApplianceStatus
    let idleSeconds: Double
    /// Without a model, queued jobs wait for one: they do not keep the demo running.
    let canAnalyse: Bool

    func run() async throws {
        var idleSince = Date()
        var lastGeneration = -1
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(200))
            let pending = (try? store.pendingJobCount()) ?? 1
            let busy = status.analysing || (canAnalyse && pending > 0)
            if busy || status.generation != lastGeneration {
                idleSince = Date()
                lastGeneration = status.generation
            } else if Date().timeIntervalSince(idleSince) >= idleSeconds {
                return  // configured to shut the whole group down gracefully
            }
        }
    }
}
