"""The admin channel: mutual TLS with the node's own CA (issue 3 §2).

A client with the node's admin credentials gets in; a plain TCP client, an
anonymous TLS client (no certificate, or anonymous cipher suites only) and a
client whose certificate comes from another node's CA do not, and the node
keeps serving both its admin clients and HTTP traffic throughout.
"""

import os
import shutil
import socket
import ssl
import stat
import subprocess
import tempfile
import unittest

from ikatest import IkaTestCase


class AdminAdmissionTest(IkaTestCase):

    def setUp(self):
        self.ika = self.start_ika(args=["serve", "--http", "127.0.0.1:0"])
        host, port = self.ika.admin.rsplit(":", 1)
        self.admin = (host, int(port))

    def assert_still_serving(self):
        apps = self.ika.cli_json("apps")
        self.assertEqual(apps, [])
        self.assertEqual(self.fetch(self.ika.port, host="nothing.test").status, 404)

    def read_until_closed(self, sock, timeout=10.0):
        """Bytes the server sent before closing (or failing) the connection."""
        sock.settimeout(timeout)
        data = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return data
                data += chunk
        except (ssl.SSLError, ConnectionError):
            return data

    def test_files_are_private(self):
        data = self.ika.data_dir
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(data, "tls")).st_mode), 0o700)
        for name in ("admin-credentials.pem", "tls/ca.key", "tls/node.key", "tls/admin.key"):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(data, name)).st_mode), 0o600, name)

    def test_admin_binds_loopback(self):
        self.assertEqual(self.admin[0], "127.0.0.1")

    def test_admin_client_is_admitted(self):
        self.assert_still_serving()
        creds = os.path.join(self.ika.data_dir, "admin-credentials.pem")
        proc = self.ika.cli("apps", "--node", self.ika.admin, "--credentials", creds, "--json", check=True)
        self.assertEqual(proc.stdout.strip(), "[]")

    def test_plain_tcp_client_is_refused(self):
        with socket.create_connection(self.admin, timeout=10) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + os.urandom(512))
            data = self.read_until_closed(s)
        self.assertFalse(data.startswith(b"HTTP"), data[:100])
        self.assert_still_serving()

    def test_tls_client_without_certificate_is_refused(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(self.admin, timeout=10) as raw:
            try:
                with ctx.wrap_socket(raw) as s:
                    s.sendall(b"\x00" * 64)
                    data = self.read_until_closed(s)
            except (ssl.SSLError, ConnectionError):
                data = b""
        self.assertEqual(data, b"", "a client without a certificate received application data")
        self.assert_still_serving()

    def test_anonymous_cipher_suites_are_refused(self):
        """openssl s_client offering only anonymous (aNULL) suites: no
        handshake."""
        proc = subprocess.run(["openssl", "s_client", "-connect", "%s:%d" % self.admin, "-tls1_2", "-cipher",
                               "aNULL:@SECLEVEL=0"], input=b"", capture_output=True, timeout=20)
        out = proc.stdout + proc.stderr
        self.assertNotEqual(proc.returncode, 0, out[-2000:])
        self.assertNotIn(b"Cipher is ADH", out)
        self.assertNotIn(b"Cipher is AECDH", out)
        self.assert_still_serving()

    def test_certificate_from_another_ca_is_refused(self):
        other_data = tempfile.mkdtemp(prefix="ika-other-")
        self.addCleanup(shutil.rmtree, other_data, True)
        other = self.start_ika(args=["serve", "--http", "127.0.0.1:0", "--data", other_data])
        foreign = os.path.join(other_data, "admin-credentials.pem")
        # The other node's credentials work on the other node ...
        self.assertEqual(other.cli_json("apps"), [])
        # ... and not on this one.
        proc = self.ika.cli("apps", "--node", self.ika.admin, "--credentials", foreign)
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("cannot reach the node's admin endpoint", proc.stderr)
        self.assertIn("not from this node's CA", proc.stderr)
        self.assert_still_serving()

    def test_loose_credentials_file_is_refused(self):
        creds = os.path.join(self.ika.data_dir, "admin-credentials.pem")
        copy = os.path.join(self.ika.tmp.name, "loose.pem")
        shutil.copy(creds, copy)
        os.chmod(copy, 0o644)
        proc = self.ika.cli("apps", "--node", self.ika.admin, "--credentials", copy)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("loose.pem", proc.stderr)


if __name__ == "__main__":
    unittest.main()
