// Every class of bad spec input produces a SpecError at the exact file:line:column with a hint.

import Foundation
import Testing

@testable import IngotSpec

@Suite struct SpecErrorTests {
    @Test func malformedYAMLKeepsYamsPosition() throws {
        let error = try #require(Fixture.specError("name: t\nservices:\n  - name: a\n   image: x\n"))
        #expect(error.location.file == "spec.yml")
        #expect(error.position == "4:4")
        #expect(error.message.hasPrefix("malformed YAML"))
        #expect(error.hint.contains("indentation"))
        #expect(error.description.hasPrefix("spec.yml:4:4: error: malformed YAML"))
    }

    @Test func duplicateKeyInMapping() throws {
        let error = try #require(Fixture.specError("name: t\nname: u\n"))
        #expect(error.position == "1:1")
        #expect(error.message == "duplicate key 'name' in the same mapping")
    }

    @Test func unknownTopLevelKeySuggestsNearest() throws {
        let error = try #require(Fixture.specError(Fixture.header + "servics: []\n"))
        #expect(error.position == "3:1")
        #expect(error.message == "unknown key 'servics' in the top level; did you mean 'services'?")
        #expect(
            error.description
                == "spec.yml:3:1: error: unknown key 'servics' in the top level; did you mean 'services'? — rename it to 'services'"
        )
    }

    @Test func unknownKeyWithNothingNearListsValidKeys() throws {
        let error = try #require(Fixture.specError(Fixture.header + "readiness:\n  zzzzzz: 1\n"))
        #expect(error.position == "4:3")
        #expect(error.message == "unknown key 'zzzzzz' in 'readiness'")
        #expect(error.hint == "valid keys are: pattern, timeout, http, tcp")
    }

    @Test func unknownServiceKeyNamesTheService() throws {
        let error = try #require(
            Fixture.specError(
                Fixture.header + "services:\n  - name: web\n    image: deb:busybox-static\n    comand: [a]\n"))
        #expect(error.position == "6:5")
        #expect(error.message == "unknown key 'comand' in services entry 'web'; did you mean 'command'?")
    }

    @Test func wrongTypes() throws {
        let command = try #require(
            Fixture.specError(
                Fixture.header + "onboot:\n  - name: a\n    image: deb:busybox-static\n    command: {a: b}\n"))
        #expect(command.position == "6:14")
        #expect(command.message == "'command' must be a list of strings, found a mapping")
        #expect(command.hint.contains("[\"a\", \"b\"]"))

        let nested = try #require(
            Fixture.specError(
                Fixture.header + "onboot:\n  - name: a\n    image: deb:busybox-static\n    command: [sh, [x]]\n"))
        #expect(nested.position == "6:19")
        #expect(nested.message == "'command' must be a list of strings, found a list in it")

        let name = try #require(Fixture.specError("name: [a]\n"))
        #expect(name.position == "1:7")
        #expect(name.message == "'name' must be a string, found a list")

        let flag = try #require(Fixture.specError(Fixture.header + "files:\n  - path: a\n    directory: maybe\n"))
        #expect(flag.position == "5:16")
        #expect(flag.message == "'directory' must be true or false, found a string")

        let entry = try #require(Fixture.specError(Fixture.header + "services:\n  - web\n"))
        #expect(entry.position == "4:5")
        #expect(entry.message == "each 'services' entry must be a mapping, found a string")
    }

    @Test func missingRequiredFields() throws {
        // LinuxKit specs have no `name`: it comes from the file name (Spec+LinuxKitTests.swift).
        let nameless = try SpecLoader.parse(
            yaml: "init: [deb:busybox-static]\n", file: "spec.yml", baseDirectory: "/tmp")
        #expect(nameless.name == "spec")

        let image = try #require(Fixture.specError(Fixture.header + "services:\n  - name: web\n    command: [x]\n"))
        #expect(image.position == "4:5")
        #expect(image.message == "missing required field 'image' in services entry 'web'")

        let serviceName = try #require(Fixture.specError(Fixture.header + "onboot:\n  - image: deb:busybox-static\n"))
        #expect(serviceName.message == "missing required field 'name' in 'onboot' entry 1")

        let path = try #require(Fixture.specError(Fixture.header + "files:\n  - contents: x\n"))
        #expect(path.position == "4:5")
        #expect(path.message == "missing required field 'path' in 'files' entry 1")

        let empty = try #require(Fixture.specError(""))
        #expect(empty.message == "the spec is empty")
    }

    @Test func duplicateNamesAcrossSectionsNameBothLocations() throws {
        let yaml =
            Fixture.header + """
                onboot:
                  - name: web
                    image: deb:busybox-static
                services:
                  - name: web
                    image: deb:busybox-static

                """
        let error = try #require(Fixture.specError(yaml))
        #expect(error.position == "7:5")
        #expect(error.message == "duplicate name 'web' in 'services'; first defined in 'onboot' at spec.yml:4:5")
        #expect(error.hint.contains("unique across onboot, services and onshutdown"))
    }

    @Test func unsupportedLinuxKitFieldsAreNamed() throws {
        for (field, value) in [
            ("mounts", "[{type: cgroup}]"), ("rootfsPropagation", "shared"),
            ("cgroupsPath", "podruntime/x"), ("runtime", "{mkdir: [/x]}"),
        ] {
            let error = try #require(
                Fixture.specError(
                    Fixture.header + "services:\n  - name: web\n    image: deb:busybox-static\n    \(field): \(value)\n"
                ))
            #expect(error.position == "6:5")
            #expect(
                error.message == "'\(field)' in services entry 'web' is a LinuxKit field that Ingot does not support")
            #expect(!error.hint.isEmpty)
        }
        let trust = try #require(Fixture.specError(Fixture.header + "trust:\n  org: [linuxkit]\n"))
        #expect(trust.position == "3:1")
        #expect(trust.message == "'trust' in the top level is a LinuxKit field that Ingot does not support")
        #expect(trust.hint.contains("firmware/ lock"))

        let ucode = try #require(Fixture.specError(Fixture.header + "kernel:\n  ucode: intel-ucode.cpio\n"))
        #expect(ucode.position == "4:3")
        #expect(ucode.message.hasPrefix("'ucode' in 'kernel' is a LinuxKit field"))
    }

    @Test func malformedRegistryImagesNameTheAcceptedSchemes() throws {
        let error = try #require(Fixture.specError("name: t\ninit:\n  - linuxkit/Init:v1.0\n"))
        #expect(error.position == "3:5")
        #expect(error.message.contains("'linuxkit/Init:v1.0' is not a valid registry reference"))
        for scheme in ["deb:", "deb-file:", "oci-layout:", "oci-archive:", "docker-archive:", "tar:", "dir:"] {
            #expect(error.hint.contains(scheme))
        }
        let typo = try #require(Fixture.specError("name: t\ninit: [debs:busybox-static]\n"))
        #expect(typo.message == "unknown image scheme 'debs:' in 'debs:busybox-static'; did you mean 'deb:'?")
    }

    @Test func filesNeedExactlyOneKind() throws {
        let two = try #require(
            Fixture.specError(Fixture.header + "files:\n  - path: a\n    contents: x\n    symlink: b\n"))
        #expect(two.position == "4:5")
        #expect(
            two.message
                == "file 'a' needs exactly one of contents, source, symlink or directory; found 'contents' and 'symlink'"
        )
        let none = try #require(Fixture.specError(Fixture.header + "files:\n  - path: a\n    mode: \"0600\"\n"))
        #expect(none.message.hasSuffix("found none of them"))
    }

    @Test func filePathsMayNotEscape() throws {
        let error = try #require(Fixture.specError(Fixture.header + "files:\n  - path: etc/../../x\n    contents: y\n"))
        #expect(error.position == "4:11")
        #expect(error.message == "file path 'etc/../../x' escapes the image root or is empty")
        #expect(error.hint.contains("without '..'"))
        let duplicate = try #require(
            Fixture.specError(
                Fixture.header + "files:\n  - {path: /etc/motd, contents: a}\n  - {path: etc/motd, contents: b}\n"))
        #expect(duplicate.position == "5:5")
        #expect(duplicate.message == "file 'etc/motd' is listed twice; first at spec.yml:4:5")
    }

    @Test func fileModes() throws {
        func mode(_ text: String) throws -> UInt32? {
            try SpecLoader.parse(
                yaml: Fixture.header + "files:\n  - {path: a, contents: x, mode: \(text)}\n", file: "spec.yml",
                baseDirectory: "/", checkSources: false
            ).files.first?.mode
        }
        #expect(try mode("\"0644\"") == 0o644)
        #expect(try mode("\"755\"") == 0o755)
        #expect(try mode("0600") == 0o600)
        #expect(try mode("420") == 0o644)
        #expect(try mode("0o700") == 0o700)
        let bad = try #require(
            Fixture.specError(Fixture.header + "files:\n  - {path: a, contents: x, mode: \"0999\"}\n"))
        #expect(bad.position == "4:34")
        #expect(bad.message == "'mode' 0999 is not a permission mode")
        let big = try #require(Fixture.specError(Fixture.header + "files:\n  - {path: a, contents: x, mode: 99999}\n"))
        #expect(big.message == "'mode' 99999 is not a permission mode")
    }

    @Test func missingSourcesAreErrorsUnlessOptional() throws {
        let directory = try Fixture.temporaryDirectory()
        defer { Fixture.cleanup(directory) }
        try "present".write(toFile: directory + "/present.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: directory + "/tree", withIntermediateDirectories: false)

        let missing = try #require(
            Fixture.specError(
                Fixture.header + "files:\n  - path: etc/a\n    source: ./absent.txt\n", checkSources: true,
                baseDirectory: directory))
        #expect(missing.position == "5:13")
        #expect(missing.message == "source '\(directory)/absent.txt' of file 'etc/a' does not exist")
        #expect(missing.hint.contains("optional: true"))

        let spec = try SpecLoader.parse(
            yaml: Fixture.header
                + "files:\n  - {path: etc/a, source: ./absent.txt, optional: true}\n  - {path: etc/b, source: present.txt}\n",
            file: "spec.yml", baseDirectory: directory)
        #expect(spec.files.map(\.source) == [directory + "/absent.txt", directory + "/present.txt"])

        let image = try #require(
            Fixture.specError(
                "name: t\ninit:\n  - dir:./tree\n  - tar:./rootfs.tar.zst\n", checkSources: true,
                baseDirectory: directory))
        #expect(image.position == "4:5")
        #expect(image.message == "image path '\(directory)/rootfs.tar.zst' does not exist")

        let kind = try #require(
            Fixture.specError(
                "name: t\ninit: [oci-archive:./tree]\n", checkSources: true, baseDirectory: directory))
        #expect(kind.message == "image path '\(directory)/tree' is a directory")

        // Without checkSources nothing on the host is consulted.
        let unchecked = try SpecLoader.parse(
            yaml: "name: t\ninit: [tar:./rootfs.tar.zst]\n", file: "spec.yml", baseDirectory: directory,
            checkSources: false)
        #expect(unchecked.initImages.first?.ref == .tar(path: directory + "/rootfs.tar.zst"))
    }

    @Test func namesAndHostnamesMustBeLabels() throws {
        let name = try #require(Fixture.specError("name: Hello World\n"))
        #expect(name.position == "1:7")
        #expect(name.message == "name 'Hello World' is not a valid hostname label")
        let host = try #require(Fixture.specError("name: ok\nhostname: -bad\n"))
        #expect(host.position == "2:11")
        #expect(host.message == "hostname '-bad' is not a valid hostname label")
    }

    @Test func readinessPatternMustCompile() throws {
        let error = try #require(Fixture.specError(Fixture.header + "readiness:\n  pattern: \"ready (\"\n"))
        #expect(error.position == "4:12")
        #expect(error.message == "'ready (' is not a valid regular expression")
        let timeout = try #require(Fixture.specError(Fixture.header + "readiness:\n  timeout: soon\n"))
        #expect(timeout.position == "4:12")
        #expect(timeout.message == "'timeout' must be a positive duration, found 'soon'")
    }

    @Test func dataSection() throws {
        let size = try #require(Fixture.specError(Fixture.header + "data:\n  mount: /var/lib/t\n  size: lots\n"))
        #expect(size.position == "5:9")
        #expect(size.message == "'size' must be a size of at least 1M, found 'lots'")
        let mount = try #require(Fixture.specError(Fixture.header + "data:\n  mount: var\n  size: 1G\n"))
        #expect(mount.position == "4:10")
        let filesystem = try #require(
            Fixture.specError(
                Fixture.header + "data: {mount: /d, size: 1G, filesystem: btrfs}\n"))
        #expect(filesystem.message == "data filesystem 'btrfs' is not supported")
    }

    @Test func serviceFieldValues() throws {
        let net = try #require(
            Fixture.specError(
                Fixture.header + "services:\n  - {name: w, image: deb:busybox-static, net: /run/netns/x}\n"))
        #expect(net.position == "4:47")
        #expect(net.message == "'net' must be 'host' or 'new', found '/run/netns/x'")
        let bind = try #require(
            Fixture.specError(
                Fixture.header + "services:\n  - name: w\n    image: deb:busybox-static\n    binds: [/a:/b, /c:d]\n"))
        #expect(bind.position == "6:20")
        #expect(bind.message == "bind '/c:d' in services entry 'w' is malformed")
        let env = try #require(
            Fixture.specError(
                Fixture.header + "services:\n  - name: w\n    image: deb:busybox-static\n    env: [A=1, B]\n"))
        #expect(env.position == "6:16")
        #expect(env.message == "env entry 'B' in services entry 'w' is not KEY=VALUE")
    }
}
