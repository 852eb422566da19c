// A lab file (`--lab FILE`): how one real board on the bench is reached and switched — the serial
// device its console is on (path, baud), and the user's commands that power it on and off and,
// optionally, switch its boot medium (an SD muxer) to the image under test. Read with the same
// strictness as board profiles: unknown keys, wrong types and bad values point at file:line:col.
//
//   # lab/pi3.yml
//   board: rpi3                      # optional: the board profile this device is
//   serial:
//     device: /dev/ttyUSB0
//     baud: 115200
//     appearTimeout: 10              # optional: seconds to wait for a device that appears at power-on
//   power-on: usbrelay R1_1=1        # shell commands (/bin/sh -c), run from the lab file's directory
//   power-off: usbrelay R1_1=0
//   media-switch: sd-mux-ctrl --dut  # optional; $INGOT_IMAGE names the image under test
//   command-timeout: 60              # optional: seconds each command may take

import Foundation

/// One real board in a lab.
public struct LabProfile: Sendable, Hashable {
    /// The board profile the device is, if the lab file says (checked against the image's board).
    public var board: String?
    /// The serial device of the board's console.
    public var serialDevice: String
    /// Its speed in baud.
    public var baud: Int
    /// Seconds to wait after power-on for a serial device that is not there before (USB-serial
    /// adapters powered by the board itself).
    public var serialAppearSeconds: Double
    /// Shell command that powers the board on.
    public var powerOn: String
    /// Shell command that powers the board off.
    public var powerOff: String
    /// Shell command that switches the boot medium to the image under test (SD muxers), run with
    /// the board off, before power-on.
    public var mediaSwitch: String?
    /// Seconds each command may take before it counts as failed.
    public var commandTimeoutSeconds: Double
    /// The lab file.
    public var path: String
    /// Where each key is, for errors raised later (e.g. the serial device missing at run time).
    public var locations: [String: SourceLocation]

    /// Baud rates the serial port can be set to (termios speeds).
    public static let baudRates = [
        1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600, 1_000_000,
        1_152_000, 1_500_000, 2_000_000, 3_000_000, 4_000_000,
    ]

    /// Reads a lab file.
    /// - Parameter path: the file.
    /// - Throws: `SpecError` naming file:line:column and what to write instead.
    public static func load(path: String) throws -> LabProfile {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SpecError(
                SourceLocation(file: path, line: 1, column: 1), "cannot read the lab file",
                hint: "check the path given to --lab")
        }
        return try parse(yaml: text, file: path)
    }

    /// Parses lab-file text.
    public static func parse(yaml: String, file: String) throws -> LabProfile {
        let document = YAMLDocument(file: file)
        guard let root = try document.compose(yaml) else {
            throw SpecError(
                SourceLocation(file: file, line: 1, column: 1), "the lab file is empty",
                hint: "give serial (device, baud), power-on and power-off")
        }
        let top = try MappingReader(root, context: "the lab file", name: "the lab file", document: document)
        try top.checkKeys(allowed: ["board", "serial", "power-on", "power-off", "media-switch", "command-timeout"])
        guard let serial = try top.mapping("serial", context: "'serial'") else {
            throw top.missing("serial", hint: "add 'serial: {device: /dev/ttyUSB0, baud: 115200}'")
        }
        try serial.checkKeys(allowed: ["device", "baud", "appearTimeout"])
        let device = try serial.requiredString("device", hint: "add 'device: /dev/ttyUSB0' (the board's console)")
        guard device.hasPrefix("/") else {
            throw SpecError(
                serial.location("device"), "serial device '\(device)' is not an absolute path",
                hint: "write the device node, e.g. /dev/ttyUSB0 or /dev/serial/by-id/...")
        }
        let baud = try serial.int("baud") ?? 115_200
        guard baudRates.contains(baud) else {
            throw SpecError(
                serial.location("baud"), "\(baud) is not a baud rate the serial port supports",
                hint: "use one of \(baudRates.map(String.init).joined(separator: ", "))")
        }
        let appear = try serial.double("appearTimeout") ?? 10
        guard appear >= 0 else {
            throw SpecError(
                serial.location("appearTimeout"), "'appearTimeout' must not be negative", hint: "write seconds, e.g. 10"
            )
        }
        func command(_ key: String, required: Bool) throws -> String? {
            guard let value = try top.string(key) else {
                if required { throw top.missing(key, hint: "add '\(key): COMMAND' (run with /bin/sh -c)") }
                return nil
            }
            guard !value.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw SpecError(top.location(key), "'\(key)' is empty", hint: "write the shell command that does it")
            }
            return value
        }
        let timeout = try top.double("command-timeout") ?? 60
        guard timeout > 0 else {
            throw SpecError(
                top.location("command-timeout"), "'command-timeout' must be greater than zero",
                hint: "write seconds, e.g. 60")
        }
        var locations: [String: SourceLocation] = [:]
        for key in ["power-on", "power-off", "media-switch", "board"] { locations[key] = top.location(key) }
        locations["serial.device"] = serial.location("device")
        return LabProfile(
            board: try top.string("board"), serialDevice: device, baud: baud, serialAppearSeconds: appear,
            powerOn: try command("power-on", required: true) ?? "",
            powerOff: try command("power-off", required: true) ?? "",
            mediaSwitch: try command("media-switch", required: false), commandTimeoutSeconds: timeout, path: file,
            locations: locations)
    }

    /// The directory commands run in (the lab file's).
    public var directory: String {
        (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
    }
}
