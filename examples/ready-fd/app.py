#!/usr/bin/env python3
"""An app that tells ika where it listens: it binds a port of its own
choosing (port 0) and writes `READY <port>` to the fd in $IKA_READY_FD."""
import http.server
import os
import socketserver


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = ("ready-fd app %s on port %d\n" % (os.environ.get("IKA_INSTANCE"), self.server.server_address[1])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


if __name__ == "__main__":
    with Server(("127.0.0.1", 0), Handler) as server:
        port = server.server_address[1]
        fd = int(os.environ["IKA_READY_FD"])
        os.write(fd, b"READY %d\n" % port)
        os.close(fd)
        print("ready-fd: listening on port %d" % port, flush=True)
        server.serve_forever()
