// Domain XML rendered from machine plans (no daemon): direct kernel boot on x86_64 and arm64,
// UEFI disk boot with a per-run nvram copy, SeaBIOS disk, ISO; raspi refused with a clear error.
// Each document is parsed back with XMLParser and checked element by element, and validated by
// xmllint's well-formedness check.

import Foundation
import IngotSpec
import IngotTestSupport
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

@testable import IngotBoot

/// A parsed domain document: element paths (`domain/os/kernel`) to their texts and attributes.
struct DomainDocument {
    var texts: [String: [String]] = [:]
    var attributes: [String: [[String: String]]] = [:]

    func text(_ path: String) -> String? { texts[path]?.first }
    func attribute(_ path: String, _ name: String) -> String? { attributes[path]?.first?[name] }
    func count(_ path: String) -> Int { attributes[path]?.count ?? 0 }

    static func parse(_ xml: String) throws -> DomainDocument {
        let delegate = Collector()
        let parser = XMLParser(data: Data(xml.utf8))
        parser.delegate = delegate
        guard parser.parse() else { throw CocoaError(.coderReadCorrupt, userInfo: ["xml": xml]) }
        return delegate.document
    }

    final class Collector: NSObject, XMLParserDelegate {
        var document = DomainDocument()
        var stack: [String] = []
        var text = ""
        func parser(
            _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            stack.append(name)
            document.attributes[stack.joined(separator: "/"), default: []].append(attributes)
            text = ""
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !trimmed.isEmpty { document.texts[stack.joined(separator: "/"), default: []].append(trimmed) }
            text = ""
            stack.removeLast()
        }
    }
}

struct LibvirtXMLTests {
    static func kernelPlan(_ boardName: String, cmdline: String = "quiet ingot.x=a&b") throws -> (
        MachinePlan, BoardProfile
    ) {
        let board = try PlanTests.board(boardName)
        var host = PlanTests.host
        if board.arch == .arm64 {
            var image = [UInt8](repeating: 0, count: 0x240)
            image.replaceSubrange(0x38..<0x3C, with: [0x41, 0x52, 0x4D, 0x64])
            host.heads["/img/vmlinuz"] = image
        }
        let plan = try MachinePlan(
            board: board,
            artifacts: BootArtifacts(
                kind: .kernelInitrd(kernel: "/img/vmlinuz", initrd: "/img/initrd", cmdline: cmdline, dtb: nil)),
            options: PlanTests.run, host: host)
        return (plan, board)
    }

    /// xmllint's own verdict on the document (`--noout` prints nothing when well-formed).
    static func xmllint(_ xml: String) throws -> String {
        let path = NSTemporaryDirectory() + "ingot-domain-\(UUID().uuidString).xml"
        try xml.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try Command.run("/usr/bin/xmllint", ["--noout", path])
        return result.stderr + (result.status == 0 ? "" : "status \(result.status)")
    }

    @Test func x86KernelInitrd() throws {
        let (plan, board) = try Self.kernelPlan("x86_64-efi")
        let name = LibvirtDomainXML.uniqueName(board: board.name)
        #expect(name.range(of: #"^ingot-x86_64-efi-[0-9a-f]{8}$"#, options: .regularExpression) != nil)
        let xml = try LibvirtDomainXML.render(plan: plan, board: board, name: name)
        #expect(try Self.xmllint(xml) == "")
        let doc = try DomainDocument.parse(xml)
        #expect(doc.attribute("domain", "type") == "qemu")
        #expect(doc.text("domain/name") == name)
        #expect(
            doc.text("domain/memory") == "\(board.emulation.memoryMiB)"
                && doc.attribute("domain/memory", "unit") == "MiB")
        #expect(doc.text("domain/vcpu") == "\(board.emulation.smp)")
        #expect(
            doc.attribute("domain/os/type", "arch") == "x86_64" && doc.attribute("domain/os/type", "machine") == "q35")
        #expect(doc.text("domain/os/kernel") == "/img/vmlinuz" && doc.text("domain/os/initrd") == "/img/initrd")
        // The plan's command line (console added by the planner), escaped and read back intact.
        #expect(doc.text("domain/os/cmdline") == "console=ttyS0 quiet ingot.x=a&b")
        #expect(doc.count("domain/os/loader") == 0 && doc.count("domain/os/boot") == 0)
        #expect(doc.count("domain/features/acpi") == 1)
        #expect(doc.text("domain/on_poweroff") == "destroy" && doc.text("domain/on_reboot") == "destroy")
        #expect(doc.text("domain/devices/emulator") == "/usr/bin/qemu-system-x86_64")
        #expect(doc.attribute("domain/devices/serial", "type") == "pty")
        #expect(doc.attribute("domain/devices/console/target", "type") == "serial")
        #expect(doc.count("domain/devices/disk") == 0)
        #expect(
            doc.attributes["domain/qemu:commandline/qemu:arg"]?.map { $0["value"] ?? "" } == [
                "-machine", "graphics=off",
            ])
    }

    @Test func arm64KernelInitrd() throws {
        let (plan, board) = try Self.kernelPlan("arm64-efi", cmdline: "")
        let xml = try LibvirtDomainXML.render(plan: plan, name: "ingot-arm64-efi-00000000")
        #expect(try Self.xmllint(xml) == "")
        let doc = try DomainDocument.parse(xml)
        #expect(
            doc.attribute("domain/os/type", "arch") == "aarch64" && doc.attribute("domain/os/type", "machine") == "virt"
        )
        #expect(doc.attribute("domain/cpu", "mode") == "custom" && doc.text("domain/cpu/model") == "cortex-a57")
        #expect(doc.text("domain/memory") == "\(board.emulation.memoryMiB)")
        #expect(doc.text("domain/os/cmdline") == board.cmdline.joined(separator: " "))
        // No ACPI without UEFI on aarch64 (libvirt refuses it), no x86 graphics switch.
        #expect(doc.count("domain/features/acpi") == 0)
        #expect(doc.count("domain/qemu:commandline") == 0)
        #expect(doc.text("domain/devices/emulator") == "/usr/bin/qemu-system-aarch64")
    }

    @Test(arguments: ["x86_64-efi", "arm64-efi"])
    func uefiDiskBoot(boardName: String) throws {
        let board = try PlanTests.board(boardName)
        let plan = try MachinePlan(
            board: board, artifacts: BootArtifacts(kind: .disk(path: "/img/disk.qcow2", format: "qcow2")),
            options: PlanTests.run,
            host: PlanTests.host)
        let xml = try LibvirtDomainXML.render(plan: plan, board: board, name: "ingot-\(boardName)-11111111")
        #expect(try Self.xmllint(xml) == "")
        let doc = try DomainDocument.parse(xml)
        let code = board.arch == .amd64 ? "/usr/share/OVMF/OVMF_CODE_4M.fd" : "/usr/share/AAVMF/AAVMF_CODE.fd"
        #expect(doc.text("domain/os/loader") == code)
        #expect(
            doc.attribute("domain/os/loader", "readonly") == "yes"
                && doc.attribute("domain/os/loader", "type") == "pflash")
        // The per-run VARS copy the plan creates, never the template.
        #expect(doc.text("domain/os/nvram") == "/run/x/efivars.fd")
        #expect(plan.scratchFiles.contains { $0.path == "/run/x/efivars.fd" })
        #expect(doc.attribute("domain/os/boot", "dev") == "hd")
        #expect(doc.count("domain/os/kernel") == 0)
        #expect(doc.count("domain/features/acpi") == 1)
        #expect(doc.attribute("domain/devices/disk", "device") == "disk")
        #expect(doc.attribute("domain/devices/disk/driver", "type") == "qcow2")
        #expect(doc.attribute("domain/devices/disk/source", "file") == "/img/disk.qcow2")
        #expect(
            doc.attribute("domain/devices/disk/target", "bus") == "virtio"
                && doc.attribute("domain/devices/disk/target", "dev") == "vda")
        // snapshot=on in the QEMU plan: a transient overlay under libvirt, the image is untouched.
        #expect(doc.count("domain/devices/disk/transient") == 1)
    }

    @Test func biosDiskWritableAndISO() throws {
        let board = try PlanTests.board("x86_64-bios")
        let writable = PlanOptions(runDirectory: "/run/x", writable: true)
        let plan = try MachinePlan(
            board: board, artifacts: BootArtifacts(kind: .disk(path: "/img/a,b.raw", format: "raw")), options: writable,
            host: {
                var h = PlanTests.host; h.files["/img/a,b.raw"] = 1 << 20; return h
            }())
        let doc = try DomainDocument.parse(
            try LibvirtDomainXML.render(plan: plan, board: board, name: "ingot-x86_64-bios-22222222"))
        #expect(doc.count("domain/os/loader") == 0)  // SeaBIOS: libvirt's default
        #expect(doc.attribute("domain/devices/disk/source", "file") == "/img/a,b.raw")  // QEMU's ",," read back
        #expect(doc.count("domain/devices/disk/transient") == 0)

        let iso = try MachinePlan(
            board: board, artifacts: BootArtifacts(kind: .iso(path: "/img/app.iso")), options: PlanTests.run,
            host: PlanTests.host)
        let isoDoc = try DomainDocument.parse(
            try LibvirtDomainXML.render(plan: iso, board: board, name: "ingot-x86_64-bios-33333333"))
        #expect(isoDoc.attribute("domain/devices/disk", "device") == "cdrom")
        #expect(isoDoc.attribute("domain/devices/disk/source", "file") == "/img/app.iso")
        #expect(isoDoc.count("domain/devices/disk/readonly") == 1)
        #expect(isoDoc.attribute("domain/os/boot", "dev") == "cdrom")
        #expect(isoDoc.attribute("domain/devices/disk/target", "bus") == "sata")

        // arm64: the plan's virtio-scsi CD becomes a scsi cdrom on a virtio-scsi controller.
        let arm = try PlanTests.board("arm64-efi")
        let armISO = try MachinePlan(
            board: arm, artifacts: BootArtifacts(kind: .iso(path: "/img/app.iso")), options: PlanTests.run,
            host: PlanTests.host)
        let armDoc = try DomainDocument.parse(
            try LibvirtDomainXML.render(plan: armISO, board: arm, name: "ingot-arm64-efi-55555555"))
        #expect(armDoc.attribute("domain/devices/disk/source", "file") == "/img/app.iso")
        #expect(armDoc.attribute("domain/devices/disk/target", "bus") == "scsi")
        #expect(armDoc.attributes["domain/devices/controller"]?.contains { $0["model"] == "virtio-scsi" } == true)
        #expect(armDoc.attribute("domain/os/boot", "dev") == "cdrom" && armDoc.count("domain/os/loader") == 1)
    }

    @Test func raspiIsRefused() throws {
        let board = try PlanTests.board("rpi3")
        let plan = try MachinePlan(
            board: board,
            artifacts: BootArtifacts(
                kind: .disk(path: "/img/sd.raw", format: "raw"), ubootKernel: "/img/u-boot.bin", dtb: "/img/rpi3.dtb"),
            options: PlanTests.run, host: PlanTests.host)
        let error = #expect(throws: LibvirtConnection.Error.self) {
            try LibvirtDomainXML.render(plan: plan, board: board, name: "ingot-rpi3-44444444")
        }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("board rpi3") && text.contains("raspi3b") && text.contains("QEMU backend"))
    }

    @Test func untranslatableArgumentNamesIt() throws {
        let plan = MachinePlan(
            board: "custom", executable: "/usr/bin/qemu-system-x86_64",
            arguments: ["-M", "q35", "-kernel", "/k", "-net", "user"])
        let error = #expect(throws: LibvirtConnection.Error.self) {
            try LibvirtDomainXML.render(plan: plan, name: "ingot-custom-1")
        }
        #expect(error.map { "\($0)" }?.contains("-net") == true)
    }
}
