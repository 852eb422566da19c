// A real registry for tests: Debian's `docker-registry` started on 127.0.0.1 at a free port with
// its own config and storage under a temp dir (HTTP or HTTPS with a test CA made by openssl,
// optionally behind bcrypt htpasswd auth), images pushed to it with `skopeo copy` from OCI layouts
// the test builds, and an optional throttling proxy (python3) to stop transfers midway.

import Foundation
import IngotSystem
import Synchronization
import Testing

@testable import IngotSources

/// Whether the registry tools are installed; in CI they must be (the tests then fail instead of skipping).
let registryToolsPresent: Bool = {
    let tools = ["docker-registry", "skopeo", "htpasswd", "openssl", "python3"]
    let present = tools.allSatisfy { tool in (try? sh(["sh", "-c", "command -v \(tool)"]).0) == 0 }
    if !present, ProcessInfo.processInfo.environment["CI"] == "true" { return true }  // run and fail loudly
    return present
}()

/// A free TCP port on 127.0.0.1 (bound and released; good enough for a test).
func freePort() throws -> Int {
    let (rc, out) = try sh([
        "python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])",
    ])
    guard rc == 0, let port = Int(out.trimmingCharacters(in: .whitespacesAndNewlines)) else {
        throw OCIFixture.FixtureError("cannot find a free port: \(out)")
    }
    return port
}

/// One docker-registry process with its own config and storage.
final class TestRegistry: Sendable {
    let dir: String
    let port: Int
    let tls: Bool
    let user: (name: String, password: String)?
    /// The running docker-registry (replaced by `start()`).
    var process: ChildProcess? { running.withLock { $0 } }
    private let running = Mutex<ChildProcess?>(nil)
    var host: String { "127.0.0.1:\(port)" }
    var caFile: String { dir + "/ca.crt" }
    var storage: String { dir + "/storage" }

    /// Writes the config (and certificates / htpasswd) and starts the registry.
    init(dir: String, tls: Bool = false, user: (String, String)? = nil) throws {
        self.dir = dir
        self.port = try freePort()
        self.tls = tls
        self.user = user.map { (name: $0.0, password: $0.1) }
        try FileManager.default.createDirectory(atPath: dir + "/storage", withIntermediateDirectories: true)
        var config = """
            version: 0.1
            log:
              level: error
              accesslog:
                disabled: true
            storage:
              filesystem:
                rootdirectory: \(dir)/storage
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:\(port)
              secret: ingot-test-secret

            """
        if tls {
            try makeCertificates()
            config += "  tls:\n    certificate: \(dir)/server.crt\n    key: \(dir)/server.key\n"
        }
        if let user {
            let (rc, out) = try sh(["htpasswd", "-Bbc", dir + "/htpasswd", user.0, user.1])
            guard rc == 0 else { throw OCIFixture.FixtureError("htpasswd failed: \(out)") }
            config += "auth:\n  htpasswd:\n    realm: ingot-test\n    path: \(dir)/htpasswd\n"
        }
        try Data(config.utf8).write(to: URL(fileURLWithPath: dir + "/config.yml"))
        try start()
    }

    /// Starts (or restarts) the registry on the same port and storage, waiting until it answers.
    func start() throws {
        let p = try ChildProcess.spawn(
            ChildProcess.Configuration(
                "/usr/bin/docker-registry", ["serve", dir + "/config.yml"],
                standardOutput: .file(dir + "/registry.log", append: true), standardError: .standardOutput))
        running.withLock { $0 = p }
        let scheme = tls ? "https" : "http"
        for _ in 0..<100 {
            let (_, out) = try sh([
                "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", caFile, "\(scheme)://\(host)/v2/",
            ])
            if out == "200" || out == "401" { return }
            guard !p.hasEnded else { break }
            usleep(100_000)
        }
        let text = (try? String(contentsOfFile: dir + "/registry.log", encoding: .utf8)) ?? ""
        throw OCIFixture.FixtureError("docker-registry did not start on \(host): \(text.suffix(2000))")
    }

    /// Kills the registry at once (SIGKILL), as a crash would.
    func kill() {
        guard let p = process else { return }
        p.kill()
        _ = p.waitBlocking()
    }

    /// Stops it for good (cleanup).
    func stop() {
        guard let p = process else { return }
        p.terminate()
        _ = p.waitBlocking()
    }

    deinit { stop() }

    /// Pushes `source` (skopeo transport syntax, e.g. `oci:/dir:v1`) to `repo:tag`; `all` copies every platform.
    func push(_ source: String, to repoTag: String, all: Bool = true) throws {
        // --preserve-digests: skopeo would otherwise gzip the fixture's uncompressed layers.
        var args = ["skopeo", "copy", "--quiet", "--preserve-digests"]
        if all { args.append("--all") }
        args.append(tls ? "--dest-cert-dir=\(dir)/certs" : "--dest-tls-verify=false")
        if let user { args.append("--dest-creds=\(user.name):\(user.password)") }
        args += [source, "docker://\(host)/\(repoTag)"]
        let (rc, out) = try sh(args)
        guard rc == 0 else { throw OCIFixture.FixtureError("skopeo push failed: \(out)") }
    }

    /// The file the registry keeps a blob's bytes in.
    func blobData(_ digest: String) -> String {
        let hex = String(digest.dropFirst(7))
        return "\(storage)/docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)/data"
    }

    /// A docker config.json with (or without) credentials for this registry.
    func dockerConfig(at path: String, withCredentials: Bool) throws {
        var auths: [String: Any] = [:]
        if withCredentials, let user {
            auths[host] = ["auth": Data("\(user.name):\(user.password)".utf8).base64EncodedString()]
        }
        let data = try JSONSerialization.data(withJSONObject: ["auths": auths])
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// A test CA and a server certificate for 127.0.0.1 signed by it.
    private func makeCertificates() throws {
        let certs = dir + "/certs"
        try FileManager.default.createDirectory(atPath: certs, withIntermediateDirectories: true)
        let script = """
            set -e
            cd '\(dir)'
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj '/CN=Ingot Test CA' 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=127.0.0.1' 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:FALSE\\n' > ext.cnf
            openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile ext.cnf 2>/dev/null
            cp ca.crt certs/ca.crt
            """
        let (rc, out) = try sh(["sh", "-c", script])
        guard rc == 0 else { throw OCIFixture.FixtureError("openssl failed: \(out)") }
    }
}

/// A TCP proxy (python3) in front of a registry that forwards at most `bytesPerSecond`, so a
/// test can stop the registry while a blob is half-way through.
final class ThrottlingProxy: Sendable {
    let port: Int
    private let process: ChildProcess

    init(to upstream: Int, bytesPerSecond: Int, latency: Double = 0, dir: String) throws {
        port = try freePort()
        let script = """
            import socket, threading, time, sys
            up, rate, latency = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
            srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind(('127.0.0.1', int(sys.argv[1]))); srv.listen(16)
            def pump(a, b, slow):
                try:
                    while True:
                        d = a.recv(16384)
                        if not d: break
                        b.sendall(d)
                        if slow: time.sleep(len(d) / rate + latency)
                except OSError: pass
                for s in (a, b):
                    try: s.shutdown(socket.SHUT_RDWR)
                    except OSError: pass
            while True:
                c, _ = srv.accept()
                try: u = socket.create_connection(('127.0.0.1', up))
                except OSError: c.close(); continue
                threading.Thread(target=pump, args=(c, u, False), daemon=True).start()
                threading.Thread(target=pump, args=(u, c, True), daemon=True).start()
            """
        try Data(script.utf8).write(to: URL(fileURLWithPath: dir + "/proxy-\(port).py"))
        process = try ChildProcess.spawn(
            ChildProcess.Configuration(
                "python3",
                [dir + "/proxy-\(port).py", String(port), String(upstream), String(bytesPerSecond), String(latency)],
                standardOutput: .inherit, standardError: .inherit))
        for _ in 0..<50 {
            if (try? sh(["python3", "-c", "import socket; socket.create_connection(('127.0.0.1', \(port))).close()"]).0)
                == 0
            {
                return
            }
            usleep(100_000)
        }
        stop()
        throw OCIFixture.FixtureError("the throttling proxy did not start")
    }

    /// SIGKILL: the test runner may ignore SIGTERM, and python inherits that.
    func stop() {
        process.kill()
        _ = process.waitBlocking()
    }

    deinit { stop() }
}

/// A bearer-token front (python3) for a registry: `/v2/…` answers 401 with a `Bearer` challenge
/// unless the request carries the token, which `/token` hands out for basic credentials `user:pw`;
/// authorised requests are forwarded to the registry. docker-registry's own token auth needs a
/// JWT-signing token server, which this stands in for.
final class BearerFront: Sendable {
    let port: Int
    private let process: ChildProcess
    var host: String { "127.0.0.1:\(port)" }

    init(to upstream: Int, user: String, password: String, dir: String) throws {
        port = try freePort()
        let script = #"""
            import base64, sys, urllib.request, urllib.error
            from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
            port, up, creds = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
            TOKEN = "tok-" + base64.b16encode(creds.encode()).decode()[:12]
            class H(BaseHTTPRequestHandler):
                protocol_version = "HTTP/1.1"
                def log_message(self, *a): pass
                def reply(self, code, body=b"", headers=()):
                    self.send_response(code)
                    for k, v in headers: self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                def do_GET(self):
                    if self.path.startswith("/token"):
                        want = "Basic " + base64.b64encode(creds.encode()).decode()
                        if self.headers.get("Authorization") != want:
                            return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
                        return self.reply(200, ('{"token":"%s"}' % TOKEN).encode(), [("Content-Type", "application/json")])
                    if self.headers.get("Authorization") != "Bearer " + TOKEN:
                        repo = self.path[4:].split("/manifests/")[0].split("/blobs/")[0]
                        chal = 'Bearer realm="http://127.0.0.1:%d/token",service="ingot-test",scope="repository:%s:pull"' % (port, repo)
                        return self.reply(401, b"{}", [("WWW-Authenticate", chal)])
                    req = urllib.request.Request("http://127.0.0.1:%d%s" % (up, self.path))
                    for k in ("Accept", "Range"):
                        if self.headers.get(k): req.add_header(k, self.headers[k])
                    try:
                        r = urllib.request.urlopen(req)
                    except urllib.error.HTTPError as e:
                        r = e
                    body = r.read()
                    keep = [(k, v) for k, v in r.headers.items() if k.lower() in ("content-type", "docker-content-digest", "content-range")]
                    self.reply(r.status if hasattr(r, "status") else r.code, body, keep)
            ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
            """#
        try Data(script.utf8).write(to: URL(fileURLWithPath: dir + "/bearer-\(port).py"))
        process = try ChildProcess.spawn(
            ChildProcess.Configuration(
                "python3", [dir + "/bearer-\(port).py", String(port), String(upstream), "\(user):\(password)"],
                standardOutput: .null, standardError: .inherit))
        for _ in 0..<50 {
            if (try? sh(["python3", "-c", "import socket; socket.create_connection(('127.0.0.1', \(port))).close()"]).0)
                == 0
            {
                return
            }
            usleep(100_000)
        }
        stop()
        throw OCIFixture.FixtureError("the bearer front did not start")
    }

    func stop() {
        process.kill()
        _ = process.waitBlocking()
    }

    deinit { stop() }
}
