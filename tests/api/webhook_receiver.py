#!/usr/bin/python3
"""tests/api/webhook_receiver.py PORT SECRET_FILE OUT_FILE [CERT KEY]: a
webhook receiver on 127.0.0.1:PORT for tests/api/test_webhooks.c and
tests/engine/webhook/test_hooks.c (Python's http.server, an HTTP stack edm
did not write; with CERT and KEY, HTTPS through Python's ssl module). Every POST must carry
Edm-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>"> with the
secret in SECRET_FILE, checked as a Stripe-style verifier does; a good one
appends each event of the JSON array body to OUT_FILE as one line and
answers 200, a bad one appends "BAD-SIGNATURE" and answers 400."""
import hashlib
import hmac
import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

port, secret_file, out_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]


class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        sig = dict(p.split("=", 1) for p in self.headers.get("Edm-Signature", "").split(","))
        secret = open(secret_file).read().strip().encode()
        want = hmac.new(secret, sig.get("t", "").encode() + b"." + body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(want, sig.get("v1", ""))
        with open(out_file, "a") as f:
            if not ok:
                f.write("BAD-SIGNATURE\n")
            else:
                for e in json.loads(body):
                    f.write(json.dumps(e) + "\n")
        self.send_response(200 if ok else 400)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


srv = HTTPServer(("127.0.0.1", port), H)
if len(sys.argv) > 5:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
