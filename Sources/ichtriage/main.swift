import ArgumentParser

struct ICHTriage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ichtriage",
        abstract: "Offline intracranial hemorrhage triage appliance: command-line tools.",
        subcommands: [ScanCommand.self, PhantomCommand.self]
    )
}
ICHTriage.main()
