"""HTTPS (issue 6): TLS termination in `ika proxy` and `ika serve`, SNI
selection (exact, wildcard, default), protocol limits, redirects from plain
HTTP, the ACME challenge path, X-Forwarded-Proto. Real handshakes with
Python's ssl module, curl and openssl s_client."""

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest

import datetime
import hashlib

from ikatest import (Client, DeadAddress, Echo, HttpServer, IkaTestCase, LargeOrigin, MiB, Origin, Reply, Stream,
                     WebSocketEcho, build_request, pattern_sha256, read_response, wait_until, ws_frame,
                     ws_handshake_request, ws_read_frame)


def make_pair(directory, name, names, days=30):
    """An ECDSA P-256 self-signed certificate for `names` (SANs) and its key
    (0600), made with the openssl CLI. Returns (cert_path, key_path)."""
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    san = ",".join("DNS:" + n for n in names)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", str(days), "-subj", "/CN=" + names[0],
                    "-addext", "subjectAltName=" + san], check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


def tls_request(port, server_name, cafile=None, target="/", host=None, method="GET", version=None):
    """One request over TLS; returns (response, peer certificate dict or
    DER, negotiated version, ALPN)."""
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()
    if version:
        ctx.minimum_version = version
        ctx.maximum_version = version
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname=server_name)
    try:
        s.sendall(build_request(method, target, host=host or server_name or "example.test"))
        resp = read_response(Stream(s), method)
        der = s.getpeercert(binary_form=True)
        return resp, der, s.version(), s.selected_alpn_protocol()
    finally:
        s.close()


def subject_of(der):
    """The subject line of a DER certificate (openssl x509)."""
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"], input=der,
                         capture_output=True, check=True)
    return out.stdout.decode().strip()


class TlsTestCase(IkaTestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ika-tls-test-")
        self.addCleanup(self.tmp.cleanup)


class QuickProxyTls(TlsTestCase):
    def test_terminates_tls_and_tells_the_upstream(self):
        cert, key = make_pair(self.tmp.name, "site", ["example.test", "*.example.test"])
        origin = self.start(Origin(b"hello over tls"))
        ika = self.start_ika(args=["proxy", "--from", "127.0.0.1:0", "--to", "127.0.0.1:%d" % origin.port,
                                   "--cert", cert, "--key", key])
        self.assertTrue(any("https://" in l for l in ika.stdout_lines), ika.stdout_lines)
        resp, der, version, alpn = tls_request(ika.port, "example.test", cafile=cert)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, b"hello over tls")
        self.assertEqual(version, "TLSv1.3")
        self.assertEqual(alpn, "http/1.1")
        self.assertEqual(origin.requests[-1].header("X-Forwarded-Proto"), "https")
        # Sessions resume from a ticket (TLS 1.3 and 1.2).
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            ctx = ssl.create_default_context(cafile=cert)
            ctx.minimum_version = ctx.maximum_version = version
            session = None
            reused = []
            for _ in range(2):
                s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", ika.port), timeout=10),
                                    server_hostname="example.test", session=session)
                s.sendall(build_request("GET", "/", host="example.test"))
                self.assertEqual(read_response(Stream(s)).status, 200)
                reused.append(s.session_reused)
                session = s.session
                s.close()
            self.assertEqual(reused, [False, True], version)
        # TLS 1.2 too, with the same certificate (a wildcard name).
        resp, _, version, _ = tls_request(ika.port, "a.example.test", cafile=cert, version=ssl.TLSVersion.TLSv1_2)
        self.assertEqual((resp.status, version), (200, "TLSv1.2"))

    def test_old_protocols_are_refused_and_the_node_keeps_serving(self):
        cert, key = make_pair(self.tmp.name, "site", ["example.test"])
        origin = self.start(Origin(b"ok"))
        ika = self.start_ika(args=["proxy", "--from", "127.0.0.1:0", "--to", "127.0.0.1:%d" % origin.port,
                                   "--cert", cert, "--key", key])
        for flag in ("-tls1_1", "-tls1"):
            out = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % ika.port, flag,
                                  "-servername", "example.test"], input=b"", capture_output=True, timeout=20)
            self.assertNotEqual(out.returncode, 0, flag)
            self.assertNotIn(b"Cipher is TLS", out.stdout)
        # Plain HTTP on the TLS port gets no response, only a closed connection.
        c = Client(ika.port)
        c.sock.sendall(build_request("GET", "/"))
        data = b""
        try:
            while True:
                chunk = c.sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        c.close()
        self.assertNotIn(b"HTTP/1.1 200", data)
        # curl verifies the chain and keeps a connection alive for two requests.
        out = subprocess.run(["curl", "-sS", "--cacert", cert, "--resolve", "example.test:%d:127.0.0.1" % ika.port,
                              "https://example.test:%d/a" % ika.port, "https://example.test:%d/b" % ika.port,
                              "-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code} %{num_connects}\n"],
                             capture_output=True, text=True, timeout=20)
        self.assertEqual(out.stdout.split(), ["200", "1", "200", "0"], out.stderr)

    def test_bad_flags_are_clear_errors(self):
        cert, key = make_pair(self.tmp.name, "site", ["example.test"])
        other_cert, _ = make_pair(self.tmp.name, "other", ["other.test"])
        cases = [
            (["--cert", cert], "--cert needs --key"),
            (["--key", key], "--key needs --cert"),
            (["--cert", other_cert, "--key", key], "does not match"),
            (["--cert", os.path.join(self.tmp.name, "missing.crt"), "--key", key], "missing.crt"),
        ]
        os.chmod(key, 0o644)
        cases.append((["--cert", cert, "--key", key], "0600"))
        for extra, message in cases:
            if extra[-1] == key and message != "0600":
                os.chmod(key, 0o600)
            out = subprocess.run([os.environ.get("IKA_BIN", "/work/main/build/tools/ika"), "proxy", "--from",
                                  "127.0.0.1:0", "--to", "127.0.0.1:9"] + extra, capture_output=True, text=True,
                                 timeout=20)
            self.assertNotEqual(out.returncode, 0, extra)
            self.assertIn(message, out.stderr, extra)
            os.chmod(key, 0o644)


class TlsStreams(TlsTestCase):
    """Bodies, pipelining and tunnels over TLS: the record layer carries
    whatever the plain path carries."""

    def tls_proxy(self, upstream):
        cert, key = make_pair(self.tmp.name, "site", ["example.test"])
        ika = self.start_ika(args=["proxy", "--from", "127.0.0.1:0", "--to", "127.0.0.1:%d" % upstream.port,
                                   "--cert", cert, "--key", key])
        ctx = ssl.create_default_context(cafile=cert)
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", ika.port), timeout=20),
                            server_hostname="example.test")
        self.addCleanup(s.close)
        return s, Stream(s, timeout=20)

    def test_large_bodies_both_ways_and_pipelining(self):
        echo = self.start(Echo())
        s, stream = self.tls_proxy(echo)
        body = os.urandom(3 * MiB + 17)
        s.sendall(build_request("POST", "/up", body=body))
        resp = read_response(stream, "POST")
        self.assertEqual(resp.status, 200)
        self.assertEqual(hashlib.sha256(resp.body).digest(), hashlib.sha256(body).digest())
        # Three requests in one write: three answers, in order.
        s.sendall(b"".join(build_request("POST", "/p%d" % i, body=b"n%d" % i) for i in range(3)))
        for i in range(3):
            r = read_response(stream, "POST")
            self.assertEqual((r.status, r.body), (200, b"n%d" % i))

    def test_download(self):
        large = self.start(LargeOrigin(5 * MiB))
        s, stream = self.tls_proxy(large)
        for _ in range(2):
            s.sendall(build_request("GET", "/big"))
            resp = read_response(stream)
            self.assertEqual(resp.status, 200)
            self.assertEqual(hashlib.sha256(resp.body).hexdigest(), pattern_sha256(5 * MiB))

    def test_websocket_tunnel(self):
        ws = self.start(WebSocketEcho())
        s, stream = self.tls_proxy(ws)
        req, _ = ws_handshake_request()
        s.sendall(req)
        resp = read_response(stream, interim=True)
        self.assertEqual(resp.status, 101)
        for payload in (b"hello", os.urandom(200 * 1024)):
            s.sendall(ws_frame(2, payload))
            fin, opcode, echoed = ws_read_frame(stream)
            self.assertEqual((fin, opcode, echoed), (True, 2, payload))


class ServeTls(TlsTestCase):
    def start_node(self, routes, certificates=()):
        config = {
            "listener": [{"name": "http", "address": "127.0.0.1:0"},
                         {"name": "https", "address": "127.0.0.1:0", "tls": True}],
            "route": routes,
        }
        if certificates:
            config["certificate"] = [{"cert": c, "key": k} for c, k in certificates]
        return self.start_ika(config)

    def test_certificate_is_chosen_by_sni(self):
        site_cert, site_key = make_pair(self.tmp.name, "site", ["example.test"])
        wild_cert, wild_key = make_pair(self.tmp.name, "wild", ["*.apps.test"])
        origin = self.start(Origin(b"ok"))
        ika = self.start_node([{"host": "*", "upstreams": ["127.0.0.1:%d" % origin.port],
                                "https_redirect": False, "tls": "off"}],
                              [(site_cert, site_key), (wild_cert, wild_key)])
        port = ika.ports["https"]
        # Exact name, verified against its own certificate.
        resp, der, _, _ = tls_request(port, "example.test", cafile=site_cert)
        self.assertEqual(resp.status, 200)
        self.assertIn("CN = example.test", subject_of(der))
        # One label under the wildcard.
        resp, der, _, _ = tls_request(port, "one.apps.test", cafile=wild_cert)
        self.assertEqual(resp.status, 200)
        self.assertIn("CN = *.apps.test", subject_of(der))
        # Two labels under it: not covered; the default is the first file's.
        _, der, _, _ = tls_request(port, "a.b.apps.test")
        self.assertIn("CN = example.test", subject_of(der))
        # No SNI at all: the default too, and the request is served.
        resp, der, _, _ = tls_request(port, None, host="example.test")
        self.assertEqual(resp.status, 200)
        self.assertIn("CN = example.test", subject_of(der))

    def test_a_route_serves_its_own_certificate_files(self):
        own_cert, own_key = make_pair(self.tmp.name, "own", ["own.test"])
        origin = self.start(Origin(b"ok"))
        ika = self.start_node([{"host": "own.test", "upstreams": ["127.0.0.1:%d" % origin.port],
                                "tls": {"cert": own_cert, "key": own_key}},
                               {"host": "other.test", "upstreams": ["127.0.0.1:%d" % origin.port]}])
        port = ika.ports["https"]
        resp, der, _, _ = tls_request(port, "own.test", cafile=own_cert)
        self.assertEqual(resp.status, 200)
        self.assertIn("CN = own.test", subject_of(der))
        # Not the default: another name gets a certificate of its own.
        _, der, _, _ = tls_request(port, "other.test")
        self.assertNotIn("CN = own.test", subject_of(der))
        # The route still redirects plain HTTP to HTTPS.
        resp = Client(ika.ports["http"]).roundtrip("GET", "/x", host="own.test")
        self.assertEqual(resp.status, 308)

        # A route's files must cover its host: a clear error, nothing served.
        from ikatest import run_ika, to_toml
        config = {"listener": [{"address": "127.0.0.1:0", "tls": True}],
                  "route": [{"host": "wrong.test", "upstreams": ["127.0.0.1:1"],
                             "tls": {"cert": own_cert, "key": own_key}}]}
        proc = run_ika(["serve", "--config", "{config}", "--data", os.path.join(self.tmp.name, "d2")],
                       config_text=to_toml(config))
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("does not cover its route's host wrong.test (it covers own.test)", proc.stderr)

    def test_unknown_name_gets_the_local_default_and_a_clean_404(self):
        origin = self.start(Origin(b"ok"))
        ika = self.start_node([{"host": "known.test", "upstreams": ["127.0.0.1:%d" % origin.port],
                                "tls": "off"}])
        resp, der, _, _ = tls_request(ika.ports["https"], "unknown.example", host="unknown.example")
        self.assertEqual(resp.status, 404)
        # Made by the node's local CA, which it keeps in its data dir.
        ca = os.path.join(ika.data_dir, "certs", "local-ca.crt")
        self.assertTrue(os.path.exists(ca))
        issuer = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-issuer"], input=der,
                                capture_output=True, check=True).stdout.decode()
        self.assertIn("ika local CA", issuer)

    def test_local_names_get_local_certificates_and_certs_add_replaces_them(self):
        origin = self.start(Origin(b"ok"))
        config = {
            "listener": [{"name": "http", "address": "127.0.0.1:0"},
                         {"name": "https", "address": "127.0.0.1:0", "tls": True}],
            "route": [{"host": "added.test", "upstreams": ["127.0.0.1:%d" % origin.port]}],
        }
        from ikatest import to_toml
        config_path = os.path.join(self.tmp.name, "node.toml")
        with open(config_path, "w") as f:
            f.write(to_toml(config))
        data = os.path.join(self.tmp.name, "data")
        args = ["serve", "--config", config_path, "--data", data]
        ika = self.start_ika(args=args, listeners=2)
        https = ika.ports["https"]

        def certs():
            return {c["name"]: c for c in ika.cli_json("certs")}

        wait_until(lambda: certs().get("added.test", {}).get("state") == "valid", timeout=20,
                   message="the local certificate")
        self.assertEqual(certs()["added.test"]["source"], "self-signed")
        # `ika certs ca` prints the CA that signed it: clients that trust it verify.
        ca = ika.cli("certs", "ca", check=True).stdout
        self.assertIn("BEGIN CERTIFICATE", ca)
        ca_file = os.path.join(self.tmp.name, "local-ca.pem")
        with open(ca_file, "w") as f:
            f.write(ca)
        wait_until(lambda: self._status(https, "added.test", ca_file) == 200, timeout=10,
                   message="the local certificate to be served")

        cert, key = make_pair(self.tmp.name, "added", ["added.test"])
        other, other_key = make_pair(self.tmp.name, "other", ["other.test"])
        bad = ika.cli("certs", "add", "added.test", "--cert", other, "--key", other_key)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("does not cover added.test", bad.stderr)
        out = ika.cli("certs", "add", "added.test", "--cert", cert, "--key", key, check=True)
        self.assertIn("added.test", out.stdout)
        wait_until(lambda: self._status(https, "added.test", cert) == 200, timeout=10,
                   message="the added certificate to be served")
        wait_until(lambda: certs()["added.test"]["source"] == "files", timeout=10, message="ika certs")
        # Kept across a restart.
        ika.stop()
        again = self.start_ika(args=args, listeners=2)
        wait_until(lambda: self._status(again.ports["https"], "added.test", cert) == 200, timeout=10,
                   message="the added certificate after a restart")

    @staticmethod
    def _status(port, name, cafile):
        try:
            return tls_request(port, name, cafile=cafile)[0].status
        except (ssl.SSLError, OSError):
            return None

    def test_plain_http_redirects_to_https(self):
        cert, key = make_pair(self.tmp.name, "site", ["example.test", "plain.test"])
        origin = self.start(Origin(b"ok"))
        ika = self.start_node([
            {"host": "example.test", "upstreams": ["127.0.0.1:%d" % origin.port]},
            {"host": "plain.test", "upstreams": ["127.0.0.1:%d" % origin.port], "https_redirect": False},
        ], [(cert, key)])
        http, https = ika.ports["http"], ika.ports["https"]
        resp = self.fetch(http, "GET", "/a/b?x=1", host="example.test")
        self.assertEqual(resp.status, 308)
        self.assertEqual(resp.header("Location"), "https://example.test:%d/a/b?x=1" % https)
        self.assertEqual(resp.header("Cache-Control"), "no-store")
        resp = self.fetch(http, "HEAD", "/h", host="example.test")
        self.assertEqual(resp.status, 308)
        resp = self.fetch(http, "POST", "/form", host="example.test", body=b"a=1")
        self.assertEqual(resp.status, 307)
        self.assertEqual(resp.header("Location"), "https://example.test:%d/form" % https)
        # ACME's challenge path is not redirected (no token here: the route answers).
        before = len(origin.requests)
        resp = self.fetch(http, "GET", "/.well-known/acme-challenge/nothing", host="example.test")
        self.assertEqual(resp.status, 200)
        self.assertEqual(len(origin.requests), before + 1)
        # The opt-out route is served over plain HTTP.
        resp = self.fetch(http, "GET", "/", host="plain.test")
        self.assertEqual((resp.status, resp.body), (200, b"ok"))
        self.assertEqual(origin.requests[-1].header("X-Forwarded-Proto"), "http")
        # Following the redirect works with a verifying client.
        out = subprocess.run(["curl", "-sS", "-L", "--cacert", cert, "--resolve", "example.test:%d:127.0.0.1" % http,
                              "--resolve", "example.test:%d:127.0.0.1" % https, "http://example.test:%d/x" % http,
                              "-w", "\n%{http_code} %{url_effective}"], capture_output=True, text=True, timeout=20)
        self.assertTrue(out.stdout.endswith("200 https://example.test:%d/x" % https), out.stdout + out.stderr)


if __name__ == "__main__":
    unittest.main()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_udp_and_tcp_port():
    while True:
        port = free_port()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue


class Pebble:
    """pebble (Let's Encrypt's test CA) and pebble-challtestsrv as its DNS
    server (every name resolves to 127.0.0.1), on free loopback ports; its
    HTTP-01 validations go to `http_port`. Killed by pid at stop()."""

    def __init__(self, directory, http_port, env=None, validity=None):
        self.dir = directory
        # pebble's own HTTPS certificate, from a throwaway CA.
        ca_key, ca_crt = os.path.join(directory, "pebble-ca.key"), os.path.join(directory, "pebble-ca.crt")
        key, csr, crt = (os.path.join(directory, n) for n in ("pebble.key", "pebble.csr", "pebble.crt"))
        run = lambda *a: subprocess.run(list(a), check=True, capture_output=True)
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", ca_key, "-out", ca_crt, "-days", "2", "-subj", "/CN=pebble test CA")
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", csr, "-subj", "/CN=127.0.0.1")
        ext = os.path.join(directory, "pebble.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial", "-out", crt,
            "-days", "2", "-extfile", ext)
        self.ca_file = ca_crt
        dns, mgmt, self.acme_port, self.mgmt_port, tls_port = (free_udp_and_tcp_port(), free_port(), free_port(),
                                                               free_port(), free_port())
        self.challtest_mgmt = mgmt
        config = os.path.join(directory, "pebble.json")
        import json
        with open(config, "w") as f:
            json.dump({"pebble": {"listenAddress": "127.0.0.1:%d" % self.acme_port,
                                  "managementListenAddress": "127.0.0.1:%d" % self.mgmt_port,
                                  "certificate": crt, "privateKey": key, "httpPort": http_port,
                                  "tlsPort": tls_port, "ocspResponderURL": "",
                                  "externalAccountBindingRequired": False,
                                  **({"certificateValidityPeriod": validity} if validity else {})}}, f)
        self.logs = [open(os.path.join(directory, n), "wb") for n in ("challtestsrv.log", "pebble.log")]
        self.challtestsrv = subprocess.Popen(
            ["pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dns01",
             "127.0.0.1:%d" % dns, "-http01", "", "-https01", "", "-tlsalpn01", "", "-management",
             "127.0.0.1:%d" % mgmt], stdout=self.logs[0], stderr=subprocess.STDOUT)
        penv = dict(os.environ, PEBBLE_VA_NOSLEEP="1", **(env or {}))
        self.pebble = subprocess.Popen(["pebble", "-config", config, "-dnsserver", "127.0.0.1:%d" % dns],
                                       stdout=self.logs[1], stderr=subprocess.STDOUT, env=penv)
        wait_until(self._ready, timeout=20, interval=0.05, message="pebble to serve its directory")

    @property
    def directory_url(self):
        return "https://127.0.0.1:%d/dir" % self.acme_port

    def _get(self, url):
        import urllib.request
        ctx = ssl.create_default_context(cafile=self.ca_file)
        with urllib.request.urlopen(url, context=ctx, timeout=5) as r:
            return r.read()

    def _ready(self):
        if self.pebble.poll() is not None or self.challtestsrv.poll() is not None:
            raise AssertionError("pebble exited:\n" + self.log_text())
        try:
            self._get(self.directory_url)
            return True
        except OSError:
            return False

    def root_pem(self):
        return self._get("https://127.0.0.1:%d/roots/0" % self.mgmt_port)

    def resolve(self, host, address):
        """Makes challtestsrv answer `address` for `host`."""
        import json
        import urllib.request
        req = urllib.request.Request("http://127.0.0.1:%d/add-a" % self.challtest_mgmt,
                                     data=json.dumps({"host": host, "addresses": [address]}).encode())
        urllib.request.urlopen(req, timeout=5).read()

    def log_text(self):
        out = ""
        for n in ("pebble.log", "challtestsrv.log"):
            with open(os.path.join(self.dir, n), "rb") as f:
                out += "--- %s\n%s\n" % (n, f.read().decode("utf-8", "replace")[-3000:])
        return out

    def stop(self):
        for p in (self.pebble, self.challtestsrv):
            if p.poll() is None:
                p.kill()
                p.wait(10)
        for f in self.logs:
            f.close()


class AcmeTls(TlsTestCase):
    """ika orders certificates from pebble: HTTP-01 answered by ika's own
    HTTP listener, the chain served over HTTPS, renewal on request, and a
    failing challenge that leaves the default certificate serving."""

    def test_certificate_from_pebble_is_served_renewed_and_failures_reported(self):
        http_port = free_port()
        # Half of pebble's nonces are refused on purpose: ika retries them.
        pebble = Pebble(self.tmp.name, http_port, env={"PEBBLE_WFE_NONCEREJECT": "30"})
        self.addCleanup(pebble.stop)
        pebble.resolve("broken.example.com.", "127.0.0.2")  # nothing listens there
        origin = self.start(Origin(b"hello from the app"))
        up = ["127.0.0.1:%d" % origin.port]
        ika = self.start_ika({
            "listener": [{"name": "http", "address": "127.0.0.1:%d" % http_port},
                         {"name": "https", "address": "127.0.0.1:0", "tls": True}],
            "acme": {"directory": pebble.directory_url, "ca_bundle": pebble.ca_file},
            "route": [{"host": "app.example.com", "upstreams": up},
                      {"host": "broken.example.com", "upstreams": up}],
        })
        https = ika.ports["https"]
        root = os.path.join(self.tmp.name, "pebble-root.pem")
        with open(root, "wb") as f:
            f.write(pebble.root_pem())

        def certs():
            return {c["name"]: c for c in ika.cli_json("certs")}

        wait_until(lambda: certs().get("app.example.com", {}).get("state") == "valid", timeout=60, interval=0.2,
                   message="the ACME certificate (ika: %s)" % ika.stderr[-2000:])
        info = certs()["app.example.com"]
        self.assertEqual(info["source"], "acme")
        self.assertIn("Pebble", info["issuer"])
        # curl trusts only pebble's root and the name: the chain is ika's from pebble.
        url = "https://app.example.com:%d/" % https
        curl = ["curl", "-sS", "--cacert", root, "--resolve", "app.example.com:%d:127.0.0.1" % https, url]
        out = subprocess.run(curl, capture_output=True, text=True, timeout=20)
        self.assertEqual(out.stdout, "hello from the app", out.stderr)
        serial = lambda: subprocess.run(
            "openssl s_client -connect 127.0.0.1:%d -servername app.example.com </dev/null 2>/dev/null"
            " | openssl x509 -noout -serial" % https, shell=True, capture_output=True, text=True).stdout
        first = serial()
        self.assertIn("serial=", first)

        # The failing name: reported, retried later, and the default serves it.
        wait_until(lambda: certs().get("broken.example.com", {}).get("error"), timeout=60, interval=0.2,
                   message="the failed order to be reported")
        broken = certs()["broken.example.com"]
        self.assertEqual(broken["state"], "failed")
        self.assertNotEqual(broken["next_attempt"], "-")
        resp, der, _, _ = tls_request(https, "broken.example.com")
        self.assertEqual((resp.status, resp.body), (200, b"hello from the app"))
        self.assertIn("ika.invalid", subject_of(der))

        # ika certs renew: a new certificate replaces the old one while an
        # open keep-alive connection goes on working.
        ctx = ssl.create_default_context(cafile=root)
        kept = ctx.wrap_socket(socket.create_connection(("127.0.0.1", https), timeout=10),
                               server_hostname="app.example.com")
        self.addCleanup(kept.close)
        stream = Stream(kept)
        kept.sendall(build_request("GET", "/", host="app.example.com"))
        self.assertEqual(read_response(stream).status, 200)
        generation = info["generation"]
        out = ika.cli("certs", "renew", "app.example.com", check=True)
        self.assertIn("app.example.com", out.stdout)
        wait_until(lambda: certs()["app.example.com"]["generation"] > generation and
                   certs()["app.example.com"]["state"] == "valid", timeout=60, interval=0.2,
                   message="the renewed certificate")
        wait_until(lambda: serial() != first, timeout=10, message="new handshakes to get the new certificate")
        kept.sendall(build_request("GET", "/again", host="app.example.com"))
        self.assertEqual(read_response(stream).status, 200)
        # Bad input to the command is a clear error.
        out = ika.cli("certs", "renew", "nothing.example.com")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("no certificate for 'nothing.example.com'", out.stderr)
        for bad in ("bad host", "../../etc", "*.com", "a..b"):
            for args in (["certs", "renew", bad], ["certs", "add", bad, "--cert", "c.pem", "--key", "k.pem"]):
                out = ika.cli(*args)
                self.assertEqual(out.returncode, 2, (args, out.stderr))
                self.assertIn("invalid host name '%s'" % bad, out.stderr)


class AcmeDeployedApp(TlsTestCase):
    """An app deployed with ACME routes: its certificates come from pebble,
    and `ika status APP` shows their state, a failed order with its reason."""

    def test_deployed_app_gets_certificates_and_status_reports_them(self):
        from test_apps import PY_APP
        http_port = free_port()
        pebble = Pebble(self.tmp.name, http_port)
        self.addCleanup(pebble.stop)
        pebble.resolve("down.example.com.", "127.0.0.2")  # nothing listens there
        ika = self.start_ika({
            "listener": [{"name": "http", "address": "127.0.0.1:%d" % http_port},
                         {"name": "https", "address": "127.0.0.1:0", "tls": True}],
            "acme": {"directory": pebble.directory_url, "ca_bundle": pebble.ca_file},
        })
        app = os.path.join(self.tmp.name, "shop")
        os.makedirs(app)
        with open(os.path.join(app, "app.py"), "w") as f:
            f.write(PY_APP)
        with open(os.path.join(app, "ika.toml"), "w") as f:
            f.write('name = "shop"\ncommand = ["python3", "app.py"]\n[tls]\nmode = "acme"\n'
                    '[[routes]]\nhost = "shop.example.com"\n[[routes]]\nhost = "down.example.com"\n')
        ika.cli("deploy", app, check=True, timeout=90)

        def certs():
            return {c["name"]: c for c in ika.cli_json("status", "shop")["certificates"]}

        wait_until(lambda: certs().get("shop.example.com", {}).get("state") == "valid", timeout=60, interval=0.3,
                   message="the app's ACME certificate (ika: %s)" % ika.stderr[-2000:])
        self.assertEqual(certs()["shop.example.com"]["source"], "acme")
        root = os.path.join(self.tmp.name, "pebble-root.pem")
        with open(root, "wb") as f:
            f.write(pebble.root_pem())
        https = ika.ports["https"]
        curl = ["curl", "-sS", "--cacert", root, "--resolve", "shop.example.com:%d:127.0.0.1" % https,
                "https://shop.example.com:%d/hi" % https]
        out = subprocess.run(curl, capture_output=True, text=True, timeout=20)
        self.assertRegex(out.stdout, r"^shop-production-\d+ v1 /hi$", out.stderr)
        # The failing order, with the CA's reason, in status (JSON and text).
        wait_until(lambda: certs().get("down.example.com", {}).get("error"), timeout=60, interval=0.3,
                   message="the failed order in status")
        self.assertEqual(certs()["down.example.com"]["state"], "failed")
        text = ika.cli("status", "shop", check=True).stdout
        self.assertRegex(text, r"down\.example\.com +acme +failed")
        self.assertIn("  error: ", text)
        self.assertRegex(text, r"shop\.example\.com +acme +valid")


class AcmeRenewal(TlsTestCase):
    def test_short_lived_certificates_are_renewed_before_they_expire(self):
        http_port = free_port()
        pebble = Pebble(self.tmp.name, http_port, validity=15)
        self.addCleanup(pebble.stop)
        origin = self.start(Origin(b"ok"))
        ika = self.start_ika({
            "listener": [{"name": "http", "address": "127.0.0.1:%d" % http_port},
                         {"name": "https", "address": "127.0.0.1:0", "tls": True}],
            "acme": {"directory": pebble.directory_url, "ca_bundle": pebble.ca_file},
            "route": [{"host": "short.example.com", "upstreams": ["127.0.0.1:%d" % origin.port]}],
        })

        def cert():
            return {c["name"]: c for c in ika.cli_json("certs")}.get("short.example.com", {})

        first = wait_until(lambda: cert() if cert().get("state") == "valid" else None, timeout=60, interval=0.2,
                           message="the first certificate")
        # A third of 15 s before expiry (less some jitter), without anyone asking.
        renewed = wait_until(lambda: cert() if cert().get("generation", 0) > first["generation"] else None,
                             timeout=30, interval=0.2, message="the renewal")
        self.assertEqual(renewed["state"], "valid")
        self.assertGreater(renewed["not_after"], first["not_after"])
        self.assertLess(renewed["generation"], first["generation"] + 3)  # renewed, not looping


class FileCertificates(TlsTestCase):
    def test_replaced_files_take_effect_without_a_restart(self):
        cert, key = make_pair(self.tmp.name, "site", ["example.test"])
        origin = self.start(Origin(b"ok"))
        ika = self.start_ika(args=["proxy", "--from", "127.0.0.1:0", "--to", "127.0.0.1:%d" % origin.port,
                                   "--cert", cert, "--key", key])
        ctx = ssl.create_default_context(cafile=cert)
        kept = ctx.wrap_socket(socket.create_connection(("127.0.0.1", ika.port), timeout=10),
                               server_hostname="example.test")
        self.addCleanup(kept.close)
        stream = Stream(kept)
        kept.sendall(build_request("GET", "/"))
        self.assertEqual(read_response(stream).status, 200)
        # New files under the same names (written aside, then renamed).
        new_cert, new_key = make_pair(self.tmp.name, "next", ["example.test", "new.example.test"])
        os.rename(new_key, key)
        os.rename(new_cert, cert)
        wait_until(lambda: tls_request(ika.port, "example.test", cafile=cert)[0].status == 200
                   if self._verifies(ika.port, cert) else False, timeout=15, interval=0.1,
                   message="the new certificate to be served")
        # The name only the new certificate has is served with it too.
        resp, der, _, _ = tls_request(ika.port, "new.example.test", cafile=cert)
        self.assertEqual(resp.status, 200)
        # The connection opened before goes on with the old one.
        kept.sendall(build_request("GET", "/still"))
        self.assertEqual(read_response(stream).status, 200)
        # A broken key keeps the current certificate.
        with open(key + ".tmp", "w") as f:
            f.write("not a key\n")
        os.chmod(key + ".tmp", 0o600)
        os.rename(key + ".tmp", key)
        for _ in range(3):
            self.assertEqual(tls_request(ika.port, "example.test", cafile=cert)[0].status, 200)
        self.assertTrue(ika.running())

    @staticmethod
    def _verifies(port, cafile):
        try:
            tls_request(port, "example.test", cafile=cafile)
            return True
        except ssl.SSLError:
            return False


class OcspResponder(HttpServer):
    """An OCSP responder on 127.0.0.1: OpenSSL's (`openssl ocsp -index`,
    run once per request on the request's DER) behind this HTTP server, so
    it listens on loopback only. The CA signs its answers (valid 10 min)."""

    def __init__(self, directory, ca_cert, ca_key):
        super().__init__()
        self.directory, self.ca_cert, self.ca_key = directory, ca_cert, ca_key
        self.index = os.path.join(directory, "index.txt")
        self.entries = {}
        self.answered = 0
        self._write_index()

    def _write_index(self):
        with open(self.index, "w") as f:
            f.writelines(self.entries.values())

    def set_status(self, cert, revoked=False):
        """Lists `cert` in the index as valid, or revoked a minute ago."""
        out = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-serial", "-enddate", "-subject",
                              "-nameopt", "compat"], capture_output=True, text=True, check=True).stdout
        fields = dict(line.split("=", 1) for line in out.splitlines())
        end = datetime.datetime.strptime(fields["notAfter"], "%b %d %H:%M:%S %Y GMT")
        stamp = lambda t: t.strftime("%y%m%d%H%M%SZ")
        revoked_at = stamp(datetime.datetime.utcnow() - datetime.timedelta(minutes=1)) if revoked else ""
        with self.lock:
            self.entries[fields["serial"]] = "%s\t%s\t%s\t%s\tunknown\t%s\n" % (
                "R" if revoked else "V", stamp(end), revoked_at, fields["serial"], fields["subject"])
            self._write_index()

    paused = False  # answers 503 (as a responder that is down would not even do)

    def respond(self, req):
        if req.method != "POST":
            return Reply(b"", status=405)
        if self.paused:
            return Reply(b"", status=503)
        with self.lock:
            n = self.answered
            request = os.path.join(self.directory, "req-%d.der" % n)
            response = os.path.join(self.directory, "resp-%d.der" % n)
            with open(request, "wb") as f:
                f.write(req.body)
            subprocess.run(["openssl", "ocsp", "-index", self.index, "-CA", self.ca_cert, "-rsigner", self.ca_cert,
                            "-rkey", self.ca_key, "-reqin", request, "-respout", response, "-nmin", "10"],
                           capture_output=True, check=True, timeout=30)
            with open(response, "rb") as f:
                body = f.read()
            self.answered += 1
        return Reply(body, headers=[("Content-Type", "application/ocsp-response")])


def issue_with_responder(directory, name, ca_cert, ca_key, responder_url, serial):
    """A leaf for `name` signed by the CA, naming `responder_url` as its OCSP
    responder; returns (chain path: leaf then CA, key path)."""
    key = os.path.join(directory, name + ".key")
    csr = os.path.join(directory, name + ".csr")
    crt = os.path.join(directory, name + ".crt")
    ext = os.path.join(directory, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:%s\nauthorityInfoAccess=OCSP;URI:%s\n" % (name, responder_url))
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                    key, "-out", csr, "-subj", "/CN=" + name], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-set_serial",
                    str(serial), "-out", crt, "-days", "30", "-extfile", ext], check=True, capture_output=True)
    os.chmod(key, 0o600)
    chain = os.path.join(directory, name + ".chain.pem")
    with open(chain, "w") as out, open(crt) as leaf, open(ca_cert) as ca:
        out.write(leaf.read() + ca.read())
    return chain, key


def ocsp_seen_by_client(port, server_name, cafile):
    """What `openssl s_client -status` reports about the stapled response."""
    proc = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", server_name,
                           "-status", "-CAfile", cafile, "-verify_return_error"], input="", capture_output=True,
                          text=True, timeout=20)
    return proc.stdout


class OcspStapling(TlsTestCase):
    def test_good_answers_are_stapled_revoked_and_unreachable_ones_reported(self):
        d = self.tmp.name
        ca_key, ca_cert = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", ca_key, "-out", ca_cert, "-days", "30", "-subj", "/CN=ika test OCSP CA"],
                       check=True, capture_output=True)
        responder = self.start(OcspResponder(d, ca_cert, ca_key))
        dead = DeadAddress()
        self.addCleanup(dead.stop)
        good_chain, good_key = issue_with_responder(d, "ocsp.test", ca_cert, ca_key,
                                                    "http://127.0.0.1:%d/" % responder.port, 1001)
        down_chain, down_key = issue_with_responder(d, "down.test", ca_cert, ca_key,
                                                    "http://%s/" % dead.address, 1002)
        responder.set_status(good_chain)
        origin = self.start(Origin(b"ok"))
        ika = self.start_ika({
            "listener": [{"name": "http", "address": "127.0.0.1:0"},
                         {"name": "https", "address": "127.0.0.1:0", "tls": True}],
            "route": [{"host": "*", "upstreams": ["127.0.0.1:%d" % origin.port], "https_redirect": False,
                       "tls": "off"}],
            "certificate": [{"cert": good_chain, "key": good_key}, {"cert": down_chain, "key": down_key}],
        })
        https = ika.ports["https"]

        def cert(name):
            return {c["name"]: c for c in ika.cli_json("certs")}.get(name, {})

        # The responder is asked at start; its "good" answer is stapled for
        # clients that ask (and verified by them against the CA).
        wait_until(lambda: cert("ocsp.test").get("ocsp") == "good", timeout=20, interval=0.1,
                   message="a good OCSP answer (ika: %s)" % ika.stderr[-2000:])
        seen = wait_until(lambda: (lambda out: out if "Cert Status: good" in out else None)(
            ocsp_seen_by_client(https, "ocsp.test", ca_cert)), timeout=15, interval=0.1,
            message="the staple in a handshake")
        self.assertIn("OCSP Response Status: successful", seen)
        self.assertIn("Serial Number: 03E9", seen)  # 1001, the leaf's
        self.assertIn("Verify return code: 0 (ok)", seen)
        self.assertIn("OCSP response:", seen)
        self.assertNotIn("no response sent", seen)
        good = cert("ocsp.test")
        self.assertGreater(good["ocsp_until"], good["not_before"])
        self.assertEqual(good["ocsp_error"], "")
        text = ika.cli("certs", check=True).stdout
        self.assertIn("ocsp: stapled, good until " + good["ocsp_until"], text)
        # A request over the stapled connection is served as usual.
        resp, _, _, _ = tls_request(https, "ocsp.test", cafile=ca_cert)
        self.assertEqual(resp.status, 200)

        # The answer is kept in the data dir: after a restart it is stapled
        # again with the responder down, which is not asked again before the
        # answer's half-life.
        kept = os.path.join(ika.data_dir, "certs", "ocsp")
        self.assertEqual(len(os.listdir(kept)), 1)
        self.assertEqual(os.stat(os.path.join(kept, os.listdir(kept)[0])).st_mode & 0o777, 0o600)
        data_dir = os.path.join(self.tmp.name, "node-data")
        shutil.copytree(ika.data_dir, data_dir)
        config_path = os.path.join(self.tmp.name, "node.toml")
        shutil.copy(ika.config_path, config_path)
        ika.stop()
        asked = responder.answered
        responder.paused = True
        ika = self.start_ika(args=["serve", "--config", config_path, "--data", data_dir, "--admin", "127.0.0.1:0"],
                             listeners=2)
        https = ika.ports["https"]
        # (The certificate's actor reports the kept answer just after start.)
        wait_until(lambda: "Cert Status: good" in ocsp_seen_by_client(https, "ocsp.test", ca_cert), timeout=15,
                   interval=0.1, message="the kept staple after the restart (ika: %s)" % ika.stderr[-2000:])
        self.assertEqual(cert("ocsp.test")["ocsp_until"], good["ocsp_until"])
        self.assertEqual(responder.answered, asked)
        responder.paused = False

        # An unreachable responder: reported, no staple, handshakes go on.
        down = wait_until(lambda: (lambda c: c if c.get("ocsp") == "failed" else None)(cert("down.test")),
                          timeout=20, interval=0.1, message="the unreachable responder's failure")
        self.assertIn(dead.address, down["ocsp_error"])
        out = ocsp_seen_by_client(https, "down.test", ca_cert)
        self.assertIn("OCSP response: no response sent", out)
        self.assertIn("Verify return code: 0 (ok)", out)
        self.assertIn("OCSP: ", ika.stderr)

        # Revoked: ika stops stapling (a renewal asks again at once) and says why.
        asked = responder.answered
        responder.set_status(good_chain, revoked=True)
        ika.cli("certs", "renew", "ocsp.test", check=True)
        revoked = wait_until(lambda: (lambda c: c if "revoked" in c.get("ocsp_error", "") else None)(
            cert("ocsp.test")), timeout=20, interval=0.1, message="the revocation to be reported")
        self.assertEqual(revoked["ocsp"], "failed")
        self.assertGreater(responder.answered, asked)
        wait_until(lambda: "no response sent" in ocsp_seen_by_client(https, "ocsp.test", ca_cert), timeout=15,
                   interval=0.1, message="the staple to be withdrawn")
        self.assertTrue(ika.running())

        # The quick proxy (no data dir) staples too.
        responder.set_status(good_chain)
        proxy = self.start_ika(args=["proxy", "--from", "127.0.0.1:0", "--to", "127.0.0.1:%d" % origin.port,
                                     "--cert", good_chain, "--key", good_key])
        wait_until(lambda: "Cert Status: good" in ocsp_seen_by_client(proxy.port, "ocsp.test", ca_cert),
                   timeout=15, interval=0.1, message="the quick proxy's staple (ika: %s)" % proxy.stderr[-2000:])
        resp, _, _, _ = tls_request(proxy.port, "ocsp.test", cafile=ca_cert)
        self.assertEqual(resp.status, 200)
