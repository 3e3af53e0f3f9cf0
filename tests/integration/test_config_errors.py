"""`ika serve --config FILE` with a bad file: one stderr line
`ika: error: FILE:LINE: KEY: message`, exit code 2, nothing started."""

import re
import socket
import subprocess
import unittest

from ikatest import run_ika


def serve(text):
    """Runs `ika serve --config <text>`; a config that is accepted would
    keep it running, which ends the wait after 5 s as a failure."""
    try:
        return run_ika(["serve", "--config", "{config}"], config_text=text, timeout=5)
    except subprocess.TimeoutExpired:
        raise AssertionError("ika accepted the config and kept running:\n" + text) from None


def free_port():
    """A port that was free a moment ago (only written into configs that
    must fail before binding anything)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(*lines):
    """A config text from lines; a line may carry a `#<` marker (kept as a
    TOML comment) to point the test at it."""
    return "\n".join(lines) + "\n"


def marked_lines(text):
    """1-based numbers of the lines marked with `#<`."""
    return [i + 1 for i, line in enumerate(text.splitlines()) if line.rstrip().endswith("#<")]


def valid_parts(port=None):
    port = port or free_port()
    return ['[node]', 'workers = 1', '', '[[listener]]', 'name = "http"', 'address = "127.0.0.1:%d"' % port, '']


ROUTE = ['[[route]]', 'host = "*"', 'path = "/*"', 'upstreams = ["127.0.0.1:9"]']


class ConfigErrorTest(unittest.TestCase):

    def assert_config_error(self, text, key, lines=None):
        """ika exits 2 with one `ika: error: FILE:LINE: KEY: message` line
        naming one of `lines` (default: the lines marked `#<`) and a key
        that contains `key`; it never reports a listener."""
        proc = serve(text)
        self.assertEqual(proc.returncode, 2, "exit code; stderr: %s" % proc.stderr)
        self.assertNotIn("listening", proc.stdout, "ika started a listener despite the error")
        errors = [l for l in proc.stderr.splitlines() if l.startswith("ika: error: ")]
        self.assertTrue(errors, "no `ika: error:` line in stderr: %r" % proc.stderr)
        m = re.match(r"^ika: error: (.+?):(\d+): (.*?): (.+)$", errors[0])
        self.assertTrue(m, "error line not `FILE:LINE: KEY: message`: %r" % errors[0])
        path, line, got_key, message = m.group(1), int(m.group(2)), m.group(3), m.group(4)
        self.assertEqual(path, proc.config_path)
        self.assertIn(line, lines or marked_lines(text), "wrong line in %r for config:\n%s" % (errors[0], text))
        self.assertIn(key, got_key, "the key should name %r: %r" % (key, errors[0]))
        self.assertTrue(message.strip())
        return errors[0]

    def test_unknown_top_level_key(self):
        """An unknown top-level key is named with its line."""
        self.assert_config_error(config('colour = "blue" #<', *valid_parts(), *ROUTE), "colour")

    def test_unknown_table(self):
        """An unknown table (`[nodes]`) is named with its line."""
        self.assert_config_error(config('[nodes] #<', 'workers = 1', '', *valid_parts()[3:], *ROUTE), "nodes")

    def test_unknown_node_key(self):
        """A misspelt key in [node] is named with its line."""
        self.assert_config_error(config('[node]', 'worker = 2 #<', *valid_parts()[2:], *ROUTE), "worker")

    def test_unknown_listener_key(self):
        """A misspelt key in [[listener]] is named with its line."""
        self.assert_config_error(config(*valid_parts(), '[[listener]]', 'adress = "127.0.0.1:0" #<', '', *ROUTE),
                                 "adress")

    def test_unknown_route_key(self):
        """A misspelt key in [[route]] is named with its line."""
        self.assert_config_error(config(*valid_parts(), *ROUTE, 'hosts = "example.com" #<'), "hosts")

    def test_unknown_limit_key(self):
        """An unknown key in [limits] is named with its line."""
        self.assert_config_error(config(*valid_parts(), '[limits]', 'max_header_bytes = "1KiB" #<', '', *ROUTE),
                                 "max_header_bytes")

    def test_bad_listener_addresses(self):
        """Listener addresses that are not a numeric IP:PORT are errors."""
        for address in ["127.0.0.1", "127.0.0.1:99999", "999.0.0.1:80", "127.0.0.1:http", "", "127.0.0.1:-1",
                        "[::1:80"]:
            with self.subTest(address=address):
                self.assert_config_error(config('[[listener]]', 'address = "%s" #<' % address, '', *ROUTE),
                                         "address")

    def test_bad_upstream_addresses(self):
        """Upstream addresses without a port, with a bad port, or with a
        malformed name are errors on the upstreams line."""
        for address in ["127.0.0.1", "127.0.0.1:70000", "127.0.0.1:0", "bad host:80", "127.0.0.1:x", ""]:
            with self.subTest(address=address):
                self.assert_config_error(config(*valid_parts(), '[[route]]', 'host = "*"', 'path = "/*"',
                                                'upstreams = ["%s"] #<' % address), "upstreams")

    def test_empty_upstreams(self):
        """A route with an empty upstream list is an error."""
        self.assert_config_error(config(*valid_parts(), '[[route]]', 'path = "/*"', 'upstreams = [] #<'),
                                 "upstreams")

    def test_route_without_upstreams(self):
        """A route with no upstreams key is an error naming the route."""
        text = config(*valid_parts(), '[[route]] #<', 'host = "a.test" #<', 'path = "/*" #<')
        self.assert_config_error(text, "route")

    def test_duplicate_routes(self):
        """Two routes with the same host and path: the second is named."""
        text = config(*valid_parts(), *ROUTE, '', '[[route]] #<', 'host = "*" #<', 'path = "/*" #<',
                      'upstreams = ["127.0.0.1:10"] #<')
        self.assert_config_error(text, "route")

    def test_duplicate_routes_differing_in_host_case(self):
        """`A.TEST` after `a.test` is an error on the second route (host
        patterns are case-insensitive: a duplicate, or a bad pattern)."""
        text = config(*valid_parts(), '[[route]]', 'host = "a.test"', 'upstreams = ["127.0.0.1:9"]', '',
                      '[[route]] #<', 'host = "A.TEST" #<', 'upstreams = ["127.0.0.1:10"] #<')
        self.assert_config_error(text, "route")

    def test_bad_host_patterns(self):
        """Host patterns other than a name, `*.name` or `*` are errors."""
        for host in ["*.*.example.com", "exa mple.com", "foo*.com", "*example.com", "example.com:80",
                     "http://example.com", ""]:
            with self.subTest(host=host):
                self.assert_config_error(config(*valid_parts(), '[[route]]', 'host = "%s" #<' % host,
                                                'upstreams = ["127.0.0.1:9"]'), "host")

    def test_bad_path_patterns(self):
        """Path patterns other than `/*`, `/prefix/*` or an exact path are
        errors."""
        for path in ["api/*", "/a/*/b", "/api*", "", "*", "/a b"]:
            with self.subTest(path=path):
                self.assert_config_error(config(*valid_parts(), '[[route]]', 'path = "%s" #<' % path,
                                                'upstreams = ["127.0.0.1:9"]'), "path")

    def test_bad_sizes(self):
        """Sizes that are not `<n>[B|KiB|MiB|GiB]` are errors."""
        for value in ['"16XB"', '"-1"', '"lots"', '"1.5KiB"', '-5']:
            with self.subTest(value=value):
                self.assert_config_error(config(*valid_parts(), '[limits]', 'max_head_bytes = %s #<' % value, '',
                                                *ROUTE), "max_head_bytes")

    def test_bad_route_max_body(self):
        """A bad route max_body is named on its route line."""
        self.assert_config_error(config(*valid_parts(), *ROUTE, 'max_body = "ten megs" #<'), "max_body")

    def test_bad_durations(self):
        """Durations that are not `<n>ms|s|m|h` are errors."""
        for value in ['"5 parsecs"', '"ms"', '"-1s"', '"1.5s"', '"5x"']:
            with self.subTest(value=value):
                self.assert_config_error(config(*valid_parts(), '[limits]', 'client_idle_timeout = %s #<' % value,
                                                '', *ROUTE), "client_idle_timeout")

    def test_bad_shutdown_timeout(self):
        """node.shutdown_timeout must be a duration."""
        self.assert_config_error(config('[node]', 'shutdown_timeout = "soon" #<', *valid_parts()[2:], *ROUTE),
                                 "shutdown_timeout")

    def test_wrong_value_types(self):
        """A value of the wrong TOML type is named with its key."""
        cases = [
            (config('[node]', 'workers = "two" #<', *valid_parts()[2:], *ROUTE), "workers"),
            (config('[node]', 'workers = -1 #<', *valid_parts()[2:], *ROUTE), "workers"),
            (config('[[listener]]', 'address = 8080 #<', '', *ROUTE), "address"),
            (config(*valid_parts(), '[[route]]', 'upstreams = [1, 2] #<'), "upstreams"),
            (config(*valid_parts(), '[[route]]', 'host = 5 #<', 'upstreams = ["127.0.0.1:9"]'), "host"),
        ]
        for text, key in cases:
            with self.subTest(key=key, text=text.splitlines()[1]):
                self.assert_config_error(text, key)

    def test_duplicate_listener_names(self):
        """Two listeners with the same name are an error on the second."""
        text = config(*valid_parts(), '[[listener]] #<', 'name = "http" #<',
                      'address = "127.0.0.1:%d" #<' % free_port(), '', *ROUTE)
        self.assert_config_error(text, "name")


class ConfigFileErrorTest(unittest.TestCase):

    def run_serve(self, text):
        proc = serve(text)
        self.assertEqual(proc.returncode, 2, "exit code; stderr: %s" % proc.stderr)
        self.assertNotIn("listening", proc.stdout)
        return proc

    def test_toml_syntax_error(self):
        """A TOML syntax error names the file and the line."""
        text = config(*valid_parts(), '[[route]]', 'host = "*', 'upstreams = ["127.0.0.1:9"]')
        proc = self.run_serve(text)
        self.assertRegex(proc.stderr, r"(?m)^ika: error: %s:(8|9): " % re.escape(proc.config_path))

    def test_duplicate_toml_key(self):
        """A key given twice in one table is an error with its line."""
        proc = self.run_serve(config('[node]', 'workers = 1', 'workers = 2', *valid_parts()[2:], *ROUTE))
        self.assertRegex(proc.stderr, r"(?m)^ika: error: %s:3: " % re.escape(proc.config_path))

    def test_no_listener(self):
        """A config without a listener is an error naming the file."""
        proc = self.run_serve(config('[node]', 'workers = 1', '', *ROUTE))
        self.assertRegex(proc.stderr, r"(?m)^ika: error: %s(:\d+)?: .*listener" % re.escape(proc.config_path))

    def test_missing_file(self):
        """A config file that does not exist: exit 2, the path in the
        error."""
        proc = run_ika(["serve", "--config", "/nonexistent/ika-test/ika.toml"], timeout=20)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("/nonexistent/ika-test/ika.toml", proc.stderr)
        self.assertTrue(any(l.startswith("ika: error: ") for l in proc.stderr.splitlines()), proc.stderr)
        self.assertNotIn("listening", proc.stdout)


if __name__ == "__main__":
    unittest.main()
