import CDICOM
import Foundation

/// Settings of the C-STORE receiver. Off by default: the service starts it only when enabled.
public struct ReceiverConfiguration: Sendable {
    public var enabled = false
    public var aeTitle = "ICHTRIAGE"
    public var port: UInt16 = 11112
    /// Where received objects are written (normally the drop folder).
    public var directory: URL
    public init(directory: URL) { self.directory = directory }
}

/// DICOM C-STORE receiver (DCMTK storage SCP): each object is written under a hidden temporary
/// name in the directory and renamed to `<SOPInstanceUID>.dcm` when complete, so the watcher only
/// ever sees whole files.
public final class StorageReceiver: @unchecked Sendable {
    private let scp: OpaquePointer
    private let stopFlag: OpaquePointer
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var stored = 0
    public let configuration: ReceiverConfiguration

    /// Binds the port; throws `IntakeError(.network)` if it cannot.
    public init(configuration: ReceiverConfiguration) throws {
        self.configuration = configuration
        var out: OpaquePointer?
        var message = [CChar](repeating: 0, count: 512)
        let status = configuration.aeTitle.withCString { ae in
            configuration.directory.path.withCString { dir in
                var c = cdicom_scp_config(ae_title: ae, port: configuration.port, output_directory: dir, poll_seconds: 1)
                return cdicom_scp_open(&c, &out, &message, message.count)
            }
        }
        guard status == CDICOM_OK, let out else {
            throw IntakeError(status: status, message: String(cString: message), path: nil)
        }
        guard let flag = cdicom_stop_flag_create() else {
            cdicom_scp_close(out)
            throw IntakeError(.internal, "cannot create stop flag")
        }
        scp = out
        stopFlag = flag
    }

    deinit {
        stop()
        cdicom_scp_close(scp)
        cdicom_stop_flag_destroy(stopFlag)
    }

    /// Objects stored so far.
    public var storedCount: Int { lock.lock(); defer { lock.unlock() }; return stored }

    /// Starts accepting associations on a background thread.
    public func start() {
        lock.lock()
        guard thread == nil else { lock.unlock(); return }
        // The thread holds the receiver until stop() lets it return.
        let t = Thread { [self] in
            let context = Unmanaged.passUnretained(self).toOpaque()
            var message = [CChar](repeating: 0, count: 512)
            _ = cdicom_scp_run(scp, stopFlag, { ctx, _ in
                guard let ctx else { return }
                let me = Unmanaged<StorageReceiver>.fromOpaque(ctx).takeUnretainedValue()
                me.lock.lock(); me.stored += 1; me.lock.unlock()
            }, context, &message, message.count)
            done.signal()
        }
        t.name = "intake-cstore"
        thread = t
        lock.unlock()
        t.start()
    }

    /// Stops accepting (within about a second) and waits for the thread.
    public func stop() {
        lock.lock()
        let running = thread
        thread = nil
        lock.unlock()
        guard running != nil else { return }
        cdicom_stop_flag_set(stopFlag)
        done.wait()
    }
}
