// `ingot flash IMAGE DEVICE...`: writes an image (raw, .gz, .xz, .zst; with its bmap when one is
// beside it) to one or more removable disks after the safety policy passed and the user
// confirmed each device's identity, then reads everything back. `--verify-only` only reads.

import ArgumentParser
import Foundation
import IngotFlash
import IngotSystem

#if canImport(Glibc)
    import Glibc
#endif

struct FlashCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flash",
        abstract: "Write an image to SD cards or USB sticks, safely, and read it back.",
        discussion: """
            Refuses the disk holding the running system, any mounted, swap or held (dm/md/LVM) disk, \
            read-only devices, devices smaller than the image, partitions, and fixed disks unless \
            --allow-fixed is given and their identity is typed. List candidates with `ingot devices`.
            """)

    @Argument(help: "The image (raw, or .gz/.xz/.zst compressed).") var image: String
    @Argument(help: "Whole-disk devices to write (several are written from one read of the image).")
    var targets: [String] = []

    @Flag(name: [.short, .long], help: "Do not ask for confirmation (removable media only).") var yes = false
    @Flag(
        name: .long,
        help: "Allow fixed (non-removable) disks; their identity must be typed or given with --confirm-identity.")
    var allowFixed = false
    @Option(name: .long, help: "The identity token of a fixed disk (as `ingot devices --all` shows it), repeatable.")
    var confirmIdentity: [String] = []
    @Flag(name: .long, help: "Allow regular files as targets (written like a device).") var toFile = false
    @Option(name: .long, help: "The bmap to use (default: IMAGE.bmap or the .img.bmap beside a compressed image).")
    var bmap: String?
    @Flag(name: .long, help: "Ignore any bmap: write every byte of the image.") var noBmap = false
    @Flag(
        name: .long,
        help:
            "Zero the ranges the bmap leaves unmapped (BLKZEROOUT where the device can), so stale data cannot confuse filesystems."
    )
    var zeroUnmapped = false
    @Flag(name: .long, help: "Only read the devices back and compare them with the image; write nothing.")
    var verifyOnly = false
    @Flag(name: .long, help: "Skip reading back after writing.") var noVerify = false
    @Flag(name: .long, help: "Use buffered I/O instead of O_DIRECT.") var noDirectIO = false
    @Option(name: .long, help: "Progress: auto (a bar on a terminal), bar, json (one object per line on stdout), none.")
    var progress: String = "auto"
    @Flag(name: .long, help: "Print the plan (image, bmap, pinned targets, steps) and exit.") var dryRun = false
    @Option(name: .long, help: .hidden) var faultAfter: [String] = []
    @OptionGroup var logs: Flags.Logs

    func validate() throws {
        if targets.isEmpty { throw ValidationError("name at least one device to write (see `ingot devices`)") }
        guard ProgressStyle(rawValue: progress) != nil else {
            throw ValidationError(
                "--progress must be one of \(ProgressStyle.allCases.map(\.rawValue).joined(separator: ", ")), not '\(progress)'"
            )
        }
        if verifyOnly && noVerify { throw ValidationError("--verify-only and --no-verify contradict each other") }
        if bmap != nil && noBmap { throw ValidationError("--bmap and --no-bmap contradict each other") }
        _ = try faults()
    }

    /// `--fault-after PATH=BYTES` (test hook).
    func faults() throws -> [String: Int64] {
        var out: [String: Int64] = [:]
        for spec in faultAfter {
            guard let eq = spec.lastIndex(of: "="), let n = Int64(spec[spec.index(after: eq)...]), n >= 0 else {
                throw ValidationError("--fault-after takes PATH=BYTES, not '\(spec)'")
            }
            out[String(spec[..<eq])] = n
        }
        return out
    }

    func run() async throws {
        let logger = logs.logger()
        let options = FlashOptions(
            verify: !noVerify, verifyOnly: verifyOnly, zeroUnmapped: zeroUnmapped, directIO: !noDirectIO,
            faultAfter: try faults())
        var policy = FlashPolicy(
            allowFixed: allowFixed, confirmedTokens: Set(confirmIdentity), allowFiles: toFile, readOnly: verifyOnly)
        let request = FlashRequest(
            image: image, targets: targets, bmap: bmap, noBmap: noBmap, policy: policy, options: options)
        var (plan, refusals) = try FlashPlanner.plan(request)

        // Fixed disks with --allow-fixed: the user types each identity.
        let unconfirmed = refusals.compactMap { r -> String? in
            if case .fixedUnconfirmed(_, let token) = r { return token }
            return nil
        }
        if refusals.count == unconfirmed.count, !unconfirmed.isEmpty, !dryRun {
            for token in unconfirmed {
                let target = plan.targets.first { $0.device?.identity.token == token }
                prompt(
                    "\(target?.summary ?? token) is a FIXED disk. Type its identity '\(token)' to allow writing it: ")
                if let answer = readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces), answer == token
                {
                    policy.confirmedTokens.insert(token)
                } else {
                    throw CommandError("\(target?.path ?? token): identity not confirmed; nothing was written")
                }
            }
            (plan, refusals) = try FlashPlanner.plan(
                FlashRequest(
                    image: image, targets: targets, bmap: bmap, noBmap: noBmap, policy: policy, options: options))
        }
        if dryRun {
            print(plan)
            if !refusals.isEmpty {
                print("would be refused:\n" + refusals.map { "  - \($0)" }.joined(separator: "\n"))
                throw ExitCode(1)
            }
            return
        }
        if !refusals.isEmpty {
            throw CommandError(
                "refused; nothing was written:\n" + refusals.map { "  - \($0)" }.joined(separator: "\n"))
        }
        // Removable media: one confirmation for all of them, showing what each one is. Fixed
        // disks were confirmed by their identity already.
        let removable = plan.targets.filter { $0.device?.isRemovableMedia == true }
        if !verifyOnly && !yes && !removable.isEmpty {
            var text = "About to write \(plan.image.path) (\(FlashFormat.bytes(plan.image.size))) to:\n"
            for t in removable {
                text += "  \(t.summary)\n"
                for p in t.device?.partitions ?? [] {
                    text +=
                        "    \(p.name ?? "#\(p.number)") \(FlashFormat.bytes(p.size)) \(p.filesystem ?? "-")"
                        + (p.label.map { " \"\($0)\"" } ?? "") + "\n"
                }
            }
            text += "Everything on \(removable.count == 1 ? "it" : "them") will be lost. Continue? [y/N] "
            prompt(text)
            let answer = readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
            guard answer == "y" || answer == "yes" else { throw CommandError("not confirmed; nothing was written") }
        }
        let printer = ProgressPrinter(style: ProgressStyle(rawValue: progress) ?? .auto)
        let flasher = Flasher(plan: plan, progress: printer, logger: logger)
        // Ctrl-C: stop cleanly and say which devices hold incomplete images (IngotSystem's one
        // interrupt stream; while this handler is registered the signal does not end ingot).
        let interrupts = InterruptStream.shared.addHandler { _ in flasher.cancel() }
        let report = await flasher.run()
        InterruptStream.shared.remove(interrupts)
        if report.targets.contains(where: { $0.error == FlashError.cancelled.description }) { throw ExitCode(130) }
        if !report.succeeded { throw ExitCode(1) }
    }

    func prompt(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
