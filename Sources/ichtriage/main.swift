import ArgumentParser

struct ICHTriage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ichtriage",
        abstract: "Offline intracranial hemorrhage triage appliance: command-line tools.",
        subcommands: [ScanCommand.self, ScreenCommand.self, AckCommand.self, ModelCommand.self, RunModelCommand.self, BenchCommand.self, PhantomCommand.self, AnalyzeCommand.self]
    )
}
ICHTriage.main()
