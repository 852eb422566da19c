// Reading maintainer scripts without running them: the tokenizer, the typed actions of adduser,
// useradd, update-alternatives, dpkg-divert and the file commands, the fresh-install reading of
// `[ -z "$2" ]`/upgrade branches, and what is reported as not reproduced. Also the account
// databases and the ld.so.cache writer (read back by the host's ldconfig).

import Foundation
import IngotTree
import Testing

@testable import IngotSources

@Suite struct MaintainerScriptTests {
    /// nginx-common 1.22.1-9+deb12u11's postinst (Debian 12), verbatim.
    static let nginxCommonPostinst = """
        #!/bin/sh
        set -e

        . /usr/share/debconf/confmodule

        case "$1" in
          configure)
            logdir="/var/log/nginx"

            # Allow local admin to override
            if ! dpkg-statoverride --list "$logdir" >/dev/null; then
              chown root:adm $logdir
              chmod 0755 $logdir
            fi

            # Secure default logfiles on fresh installations
            if [ -z "$2" ]; then
              access_log="$logdir/access.log"
              error_log="$logdir/error.log"

              if [ ! -e "$access_log" ]; then
                touch "$access_log"
                chmod 640 "$access_log"
                chown www-data:adm "$access_log"
              fi
            fi

            # If a symlink doesn't exist and can be created, then create it.
            if [ -z $2 ] && [ ! -e /etc/nginx/sites-enabled/default ] &&
               [ -d /etc/nginx/sites-enabled ] && [ -d /etc/nginx/sites-available ]; then
              ln -s /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default
            fi

            # Create a default index page when not already present.
            if [ ! -e /var/www/html/index.nginx-debian.html ]; then
              mkdir -p /var/www/html
              cp /usr/share/nginx/html/index.html /var/www/html/index.nginx-debian.html
            fi

            ;;

          abort-upgrade|abort-remove|abort-deconfigure)
            ;;

          *)
            echo "postinst called with unknown argument \\`$1'" >&2
            exit 1
            ;;
        esac

        # Automatically added by dh_installinit/13.11.4
        if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] || [ "$1" = "abort-deconfigure" ] || [ "$1" = "abort-remove" ] ; then
        	if [ -x "/etc/init.d/nginx" ]; then
        		update-rc.d nginx defaults >/dev/null || exit 1
        	fi
        fi
        # End automatically added section

        """

    @Test func nginxCommonPostinstBecomesFileActions() {
        let a = MaintainerScripts.analyse(Self.nginxCommonPostinst)
        #expect(a.unreproduced.isEmpty, "\(a.unreproduced)")
        #expect(
            a.actions == [
                .chown(owner: "root", group: "adm", path: "/var/log/nginx"),
                .chmod(mode: 0o755, path: "/var/log/nginx"),
                .touch(path: "/var/log/nginx/access.log"),
                .chmod(mode: 0o640, path: "/var/log/nginx/access.log"),
                .chown(owner: "www-data", group: "adm", path: "/var/log/nginx/access.log"),
                .symlink(target: "/etc/nginx/sites-available/default", link: "/etc/nginx/sites-enabled/default"),
                .directory(path: "/var/www/html", mode: nil, owner: nil, group: nil),
                .copy(from: "/usr/share/nginx/html/index.html", to: "/var/www/html/index.nginx-debian.html"),
            ])
    }

    @Test func accountCommands() {
        let a = MaintainerScripts.analyse(
            """
            #!/bin/sh
            set -e
            NAME=dnsmasq
            HOME_DIR=/var/lib/$NAME
            adduser --system --home "${HOME_DIR}" --no-create-home --ingroup nogroup --disabled-password --quiet "$NAME" || true
            addgroup --system --gid 120 grp
            groupadd -r -f ggg
            useradd --system -g ggg -G adm,www-data -s /bin/sh -c "The Service" -d /srv svc
            usermod -a -G dialout svc
            adduser "$UNKNOWN_USER" somegroup
            """)
        #expect(
            a.actions == [
                .addUser(
                    name: "dnsmasq", uid: nil, group: "nogroup", ownGroup: false, home: "/var/lib/dnsmasq", shell: nil,
                    gecos: nil,
                    useradd: false),
                .addGroup(name: "grp", gid: 120, useradd: false),
                .addGroup(name: "ggg", gid: nil, useradd: true),
                .addUser(
                    name: "svc", uid: nil, group: "ggg", ownGroup: false, home: "/srv", shell: "/bin/sh",
                    gecos: "The Service", useradd: true),
                .addMember(user: "svc", group: "adm"), .addMember(user: "svc", group: "www-data"),
                .addMember(user: "svc", group: "dialout"),
            ])
        // A name only known at run time is reported, not guessed.
        #expect(a.unreproduced == ["adduser (arguments not understood)"])
    }

    @Test func alternativesDiversionsAndUpgradeBranches() {
        let a = MaintainerScripts.analyse(
            """
            #!/bin/sh
            set -e
            if [ "$1" = "install" ] || [ "$1" = "upgrade" ]; then
                dpkg-divert --package busybox-syslogd --add --rename --divert /sbin/syslogd.distrib /sbin/syslogd
            fi
            if [ -n "$2" ]; then
                rm -f /etc/old.conf
                mkdir /var/upgrade-only
            else
                mkdir -m 0700 /var/fresh
            fi
            if dpkg --compare-versions "$2" lt-nl 1.2; then mkdir /var/older; fi
            update-alternatives --install /usr/bin/awk awk /usr/bin/mawk 5 \\
              --slave /usr/share/man/man1/awk.1.gz awk.1.gz /usr/share/man/man1/mawk.1.gz
            update-alternatives --remove awk /usr/bin/gawk
            py3compile -p python3-foo
            dropbearkey -t ed25519 -f /etc/dropbear/dropbear_ed25519_host_key
            """, script: "preinst")
        #expect(
            a.actions == [
                .divert(path: "/sbin/syslogd", to: "/sbin/syslogd.distrib", package: "busybox-syslogd"),
                .directory(path: "/var/fresh", mode: 0o700, owner: nil, group: nil),
                .alternative(
                    link: "/usr/bin/awk", name: "awk", path: "/usr/bin/mawk", priority: 5,
                    slaves: [
                        .init(
                            link: "/usr/share/man/man1/awk.1.gz", name: "awk.1.gz",
                            path: "/usr/share/man/man1/mawk.1.gz")
                    ]),
            ])
        #expect(a.unreproduced == ["py3compile", "dropbearkey"])
    }

    /// Conditions are read for a fresh install; file tests become guards decided against the
    /// closure's files (here: libc6's merged-/usr block must not run on an image without /lib -> usr/lib).
    @Test func conditionsOfAFreshInstall() {
        let a = MaintainerScripts.analyse(
            """
            #!/bin/sh
            set -e
            if [ "$1" = "install" ] || [ "$1" = "upgrade" ]; then
                if [ -L "$DPKG_ROOT/lib" ]; then
                    if [ ! -L "${DPKG_ROOT}/lib64" ] && [ ! -d "${DPKG_ROOT}/lib64" ]; then
                        mkdir -p "$DPKG_ROOT/usr/lib64"
                        ln -s usr/lib64 "${DPKG_ROOT}/lib64"
                    fi
                fi
            fi
            if dpkg --compare-versions "$2" lt 1.2; then touch /var/lib/fresh-too; fi
            if [ "$1" = "configure" ] && [ -n "$2" ]; then touch /var/lib/upgrade-only; elif [ -z "$2" ]; then touch /var/lib/fresh; else touch /var/lib/never; fi
            """, script: "preinst")
        #expect(
            a.actions == [
                .directory(path: "/usr/lib64", mode: nil, owner: nil, group: nil),
                .symlink(target: "usr/lib64", link: "/lib64"),
                .touch(path: "/var/lib/fresh-too"),
                .touch(path: "/var/lib/fresh"),
            ])
        let guardOf = a.guards[1]
        // No /lib symlink in the image: the merged-/usr commands do not apply.
        #expect(guardOf?.evaluate { $0 == "/lib" ? .directory : nil } == false)
        #expect(guardOf?.evaluate { $0 == "/lib" ? .symlink : nil } == true)
        #expect(a.guards[2] == nil && a.guards[3] == nil)
        #expect(a.unreproduced.isEmpty, "\(a.unreproduced)")
    }

    /// dh_nginx's loop enables a module's config.
    @Test func nginxModuleLinks() {
        let a = MaintainerScripts.analyse(
            """
            #!/bin/sh
            set -e
            # Automatically added by dh_nginx/UNDECLARED
            for confpair in mod-http-echo.conf:50-mod-http-echo.conf  ; do
            	from=$(echo $confpair | cut -d: -f1)
            	to=$(echo $confpair | cut -d: -f2)
            	if [ -z "$2" -o "$removed_link" = "true" ]; then
            		ln -sf /usr/share/nginx/modules-available/$from \\
            			/etc/nginx/modules-enabled/$to
            	fi
            done

            """)
        #expect(
            a.actions == [
                .symlink(
                    target: "/usr/share/nginx/modules-available/mod-http-echo.conf",
                    link: "/etc/nginx/modules-enabled/50-mod-http-echo.conf")
            ])
        #expect(a.unreproduced.isEmpty, "\(a.unreproduced)")
    }

    @Test func otherInterpretersAreReportedWhole() {
        let a = MaintainerScripts.analyse("#!/usr/bin/perl -w\nsystem('useradd x');\n")
        #expect(a.actions.isEmpty)
        #expect(a.unreproduced == ["a /usr/bin/perl -w script"])
    }

    @Test func accountsAllocateLikeTheTools() throws {
        var acc = Accounts()
        try acc.addUser("a", ownGroup: true)  // adduser --system --group
        try acc.addGroup("g", allocation: .useradd)
        try acc.addUser("b", group: "g", allocation: .useradd)
        try acc.addMember("b", to: "adm")
        #expect(acc.user("a")?.uid == 100 && acc.group("a")?.gid == 101)
        #expect(acc.group("g")?.gid == 999 && acc.user("b")?.uid == 999)
        #expect(acc.groupText.contains("adm:*:4:b\n"))
        #expect(throws: Accounts.Error.unknownGroup(user: "c", group: "nope")) { try acc.addUser("c", group: "nope") }
        // Parsing what was rendered gives the same databases.
        #expect(Accounts(passwd: acc.passwdText, group: acc.groupText) == acc)
    }

    @Test func linkerCacheIsReadByLdconfig() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        // Sorted the way ld.so's binary search needs it, whatever order they come in.
        let libs = ["libz.so.1", "libc.so.6", "libssl.so.3", "libcrypto.so.3", "libfoo.so.10", "libfoo.so.9"].map {
            LinkerCache.Library(soname: $0, path: "/usr/lib/aarch64-linux-gnu/" + $0)
        }
        #expect(LinkerCache.libcmp("libfoo.so.10", "libfoo.so.9") > 0)
        #expect(LinkerCache.libcmp("liba.so", "libb.so") < 0)
        for arch in [LinkerCache.Arch.aarch64, .x86_64] {
            let path = dir.path + "/cache-\(arch)"
            try Data(LinkerCache(arch: arch, libraries: libs.shuffled()).bytes()).write(to: URL(fileURLWithPath: path))
            let (rc, out) = try sh(["/sbin/ldconfig", "-p", "-C", path])
            #expect(rc == 0, "\(out)")
            #expect(out.hasPrefix("6 libs found in cache"), "\(out)")
            let tag = arch == .aarch64 ? "libc6,AArch64" : "libc6,x86-64"
            for l in libs { #expect(out.contains("\(l.soname) (\(tag)) => \(l.path)"), "\(out)") }
            // ldconfig prints in cache order: descending by glibc's comparison.
            let order = out.split(separator: "\n").dropFirst().compactMap {
                $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map(String.init)
            }
            #expect(
                order == ["libz.so.1", "libssl.so.3", "libfoo.so.10", "libfoo.so.9", "libcrypto.so.3", "libc.so.6"])
        }
    }
}
