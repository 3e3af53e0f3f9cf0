"""HTTPS (issue 6): TLS termination in `ika proxy` and `ika serve`, SNI
selection (exact, wildcard, default), protocol limits, redirects from plain
HTTP, the ACME challenge path, X-Forwarded-Proto. Real handshakes with
Python's ssl module, curl and openssl s_client."""

import os
import socket
import ssl
import subprocess
import tempfile
import unittest

from ikatest import Client, IkaTestCase, Origin, build_request, read_response, Stream, wait_until


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
