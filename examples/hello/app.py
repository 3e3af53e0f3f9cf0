#!/usr/bin/env python3
"""A tiny HTTP/1.1 app for ika (Python standard library only).

Listens on $HOST:$PORT (defaults 127.0.0.1:9000), answers every GET with a
greeting that names the app and the request, keeps connections alive.
"""
import http.server
import json
import os
import socketserver


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hello-ika/1.0"

    def do_GET(self):
        if self.path == "/health":
            body = b"ok\n"
            ctype = "text/plain; charset=utf-8"
        else:
            body = json.dumps({
                "app": os.environ.get("IKA_APP", "hello"),
                "message": os.environ.get("GREETING", "Hello from an app behind ika!"),
                "instance": os.environ.get("IKA_INSTANCE"),
                "path": self.path,
                "host": self.headers.get("Host"),
                "forwarded_for": self.headers.get("X-Forwarded-For"),
                "request_id": self.headers.get("X-Request-ID"),
            }, indent=2).encode() + b"\n"
            ctype = "application/json"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "9000"))
    with Server((host, port), Handler) as server:
        print(f"hello: listening on http://{host}:{server.server_address[1]}", flush=True)
        server.serve_forever()
