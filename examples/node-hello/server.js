// A Node.js app for ika with no packages: listens on $HOST:$PORT.
"use strict";
const http = require("http");

const host = process.env.HOST || "127.0.0.1";
const port = Number(process.env.PORT || 9000);

const server = http.createServer((req, res) => {
  if (req.url === "/health") {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end("ok\n");
    return;
  }
  const body = JSON.stringify({
    app: process.env.IKA_APP,
    instance: process.env.IKA_INSTANCE,
    runtime: "node " + process.version,
    path: req.url,
  }) + "\n";
  res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 65000;
server.listen(port, host, () => console.log(`node-hello: listening on http://${host}:${port}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
