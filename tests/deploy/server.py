"""Stand-in for a deployed service, for the smoke-test.sh tests.

Usage: server.py ROUTES_JSON REQUEST_LOG

Binds 127.0.0.1 on a free port, prints the port on stdout (the only output), then
answers GET requests from ROUTES_JSON: {"/path": [{"status": 200, "body": {...}}, ...]},
the n-th request to a path getting the n-th answer (the last one repeats), so a test can
play a service that fails while a deployment settles. Every request is appended to
REQUEST_LOG as one JSON line (path and headers) before it is answered.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

routes_path, log_path = sys.argv[1], sys.argv[2]
with open(routes_path, encoding="utf-8") as f:
    routes = json.load(f)
served = {}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"path": self.path, "headers": dict(self.headers)}) + "\n")
        answers = routes.get(self.path, [{"status": 404, "body": {"message": "not found"}}])
        n = served.get(self.path, 0)
        served[self.path] = n + 1
        answer = answers[min(n, len(answers) - 1)]
        body = answer["body"]
        payload = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(answer["status"])
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format, *args):  # keep stderr quiet
        pass


# Single-threaded on purpose: requests are answered in the order they arrive.
server = HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
sys.stdout.close()
server.serve_forever()
