// The C seam to libvirt's domain and stream handles: a transient domain created paused from XML
// (never defined), resumed once its console is attached, destroyed by the harness; and the
// console stream (virDomainOpenConsole) read with blocking receives on a reader thread.

import CLibvirt
import Foundation

/// A libvirt domain (`virDomainPtr`); the handle is freed in deinit (the domain itself is ended
/// with `destroy()`).
// @unchecked: only immutable lets; the C handle is freed once, in deinit, and libvirt's domain calls are thread-safe.
public final class LibvirtDomain: @unchecked Sendable {
    /// The connection the domain lives on (kept alive as long as the domain handle).
    public let connection: LibvirtConnection
    /// The domain's name.
    public let name: String
    let pointer: OpaquePointer

    /// The states libvirt reports, as far as the harness cares.
    public enum State: Equatable, Sendable {
        /// The guest runs.
        case running
        /// Created paused, or paused since.
        case paused
        /// Ended (a transient domain then no longer exists).
        case shutoff
        /// The guest crashed.
        case crashed
        /// Any other libvirt state number.
        case other(Int32)
    }

    private init(connection: LibvirtConnection, name: String, pointer: OpaquePointer) {
        self.connection = connection
        self.name = name
        self.pointer = pointer
    }

    deinit {
        virDomainFree(pointer)
    }

    /// Creates and starts a transient domain from `xml`, paused before the first guest
    /// instruction so the console can be attached without losing output.
    /// - Parameters:
    ///   - xml: the domain XML (see `LibvirtDomainXML`).
    ///   - name: the domain name in the XML (for errors).
    ///   - connection: where to create it.
    public static func createPaused(xml: String, name: String, on connection: LibvirtConnection) throws -> LibvirtDomain
    {
        guard let pointer = virDomainCreateXML(connection.pointer, xml, UInt32(VIR_DOMAIN_START_PAUSED.rawValue)) else {
            throw LibvirtConnection.Error.call(
                uri: connection.uri, operation: "CreateXML (start paused)", domain: name,
                message: LibvirtConnection.lastErrorMessage())
        }
        return LibvirtDomain(connection: connection, name: name, pointer: pointer)
    }

    /// Looks up a domain by name; nil when there is none.
    public static func lookup(name: String, on connection: LibvirtConnection) -> LibvirtDomain? {
        guard let pointer = virDomainLookupByName(connection.pointer, name) else { return nil }
        return LibvirtDomain(connection: connection, name: name, pointer: pointer)
    }

    /// Lets the paused guest run.
    public func resume() throws {
        try connection.check(virDomainResume(pointer), "Resume", domain: name)
    }

    /// Ends the guest at once (power cord). A domain that is already gone is not an error.
    /// - Returns: true when the domain was running and was destroyed now.
    @discardableResult
    public func destroy() -> Bool {
        virDomainDestroy(pointer) == 0
    }

    /// The current state; `.shutoff` when the transient domain no longer exists.
    public func state() -> State {
        var state: Int32 = 0
        var reason: Int32 = 0
        guard virDomainGetState(pointer, &state, &reason, 0) == 0 else { return .shutoff }
        switch UInt32(state) {
        case VIR_DOMAIN_RUNNING.rawValue: return .running
        case VIR_DOMAIN_PAUSED.rawValue: return .paused
        case VIR_DOMAIN_SHUTOFF.rawValue: return .shutoff
        case VIR_DOMAIN_CRASHED.rawValue: return .crashed
        default: return .other(state)
        }
    }

    /// The domain's UUID as text.
    public var uuid: String {
        var buffer = [CChar](repeating: 0, count: Int(VIR_UUID_STRING_BUFLEN))
        guard virDomainGetUUIDString(pointer, &buffer) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Opens the domain's first console (the serial line) as a stream.
    public func openConsole() throws -> LibvirtStream {
        try LibvirtStream(consoleOf: self)
    }
}

/// A libvirt stream (`virStreamPtr`) attached to a domain console, read with blocking receives.
// @unchecked: only immutable lets; libvirt streams allow one receiver plus abort/finish from another thread.
public final class LibvirtStream: @unchecked Sendable {
    /// What one receive gave.
    public enum Chunk: Equatable, Sendable {
        /// Console output.
        case bytes([UInt8])
        /// The console closed (the domain ended).
        case end
        /// The stream failed, with libvirt's message.
        case failed(String)
    }

    let pointer: OpaquePointer
    private let domain: LibvirtDomain

    init(consoleOf domain: LibvirtDomain) throws {
        let connection = domain.connection
        guard let pointer = virStreamNew(connection.pointer, 0) else {
            throw LibvirtConnection.Error.console(
                uri: connection.uri, domain: domain.name, message: LibvirtConnection.lastErrorMessage())
        }
        // FORCE: take the console even if a stale session holds it.
        if virDomainOpenConsole(domain.pointer, nil, pointer, UInt32(VIR_DOMAIN_CONSOLE_FORCE.rawValue)) < 0 {
            let message = LibvirtConnection.lastErrorMessage()
            virStreamFree(pointer)
            throw LibvirtConnection.Error.console(uri: connection.uri, domain: domain.name, message: message)
        }
        self.pointer = pointer
        self.domain = domain
    }

    deinit {
        virStreamFree(pointer)
    }

    /// Blocks until console bytes arrive, the console ends (domain gone) or the stream fails.
    public func receive(maximum: Int = 65536) -> Chunk {
        var buffer = [CChar](repeating: 0, count: maximum)
        let count = virStreamRecv(pointer, &buffer, maximum)
        if count > 0 { return .bytes(buffer[0..<Int(count)].map { UInt8(bitPattern: $0) }) }
        if count == 0 { return .end }
        return .failed(LibvirtConnection.lastErrorMessage())
    }

    /// Drops the stream on the daemon side (after the domain is gone or on error).
    public func abort() {
        _ = virStreamAbort(pointer)
    }
}
