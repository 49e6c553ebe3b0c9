"""A misbehaving Determined master for the e2e tests that need one the
stand-in (tests/detmaster) is too well-behaved to be: slow answers,
listings whose pagination never advances or never ends.

    python3 tests/hostile_master.py PORT ROUTES.py

ROUTES.py defines route(h, path, query): h.reply(code, obj) answers with
JSON; a route that returns without replying gets 404. Every GET is printed
("GET /api/v1/...") to stdout, which the tests read as the master's log.
Each request runs in its own thread, so a slow answer holds only itself."""
import http.server
import json
import runpy
import socketserver
import sys
import urllib.parse


class Handler(http.server.BaseHTTPRequestHandler):
    route = None

    def log_message(self, *args):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.replied = True

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        print("GET", u.path, flush=True)
        self.replied = False
        Handler.route(self, u.path, urllib.parse.parse_qs(u.query))
        if not self.replied:
            self.reply(404, {"error": {"error": "not here"}})


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    Handler.route = staticmethod(runpy.run_path(sys.argv[2])["route"])
    Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()


if __name__ == "__main__":
    main()
