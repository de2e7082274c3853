#!/usr/bin/python3
# tests/engine/smtp/submission_limits.py SUB_PORT API_PORT KEY: the
# submission server's defences against a misbehaving client, over raw
# sockets from chosen loopback source addresses (run by
# test_submission_limits.c, which starts edm serve with tight limits:
# max_message_bytes 2048, max_recipients 3, max_connections_per_ip 2,
# max_connections 4, auth_max_failures 2, auth_failure_delay_ms 300,
# command_timeout 1, data_timeout 1; 127.0.0.9 trusted). Each check names
# the reply it expects; nothing refused may become a message (the API's
# list holds exactly the 250s). Prints what failed; exit 1 then.
import base64
import json
import socket
import ssl
import sys
import time
import urllib.request

sub, api, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
failures = []
queued = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


class Client:
    def __init__(self, src, greet=True):
        self.s = socket.socket()
        self.s.bind((src, 0))
        self.s.settimeout(10)
        self.s.connect(("127.0.0.1", sub))
        self.buf = b""
        self.greeting = self.reply() if greet else None

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError(self.buf)
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def reply(self):
        """One whole (possibly multi-line) reply: its last line."""
        line = self.line()
        while len(line) > 3 and line[3] == "-":
            line = self.line()
        return line

    def cmd(self, c):
        self.send(c + "\r\n")
        return self.reply()

    def closed(self):
        """True once the server has closed (EOF) within the socket timeout."""
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    return True
                self.buf += d
        except (socket.timeout, ConnectionResetError):
            return False

    def starttls(self):
        r = self.cmd("STARTTLS")
        c = ssl.create_default_context()
        c.check_hostname = False
        c.verify_mode = ssl.CERT_NONE
        self.s = c.wrap_socket(self.s)
        return r

    def close(self):
        self.s.close()


def body(size, line=76):
    out, n = [], 0
    out.append("From: shop@example.com\r\nSubject: limits\r\n\r\n")
    while n < size:
        out.append("x" * line + "\r\n")
        n += line + 2
    return "".join(out)


def queued_id(r):
    if r.startswith("250 2.0.0 Ok: queued as "):
        queued.append(int(r.rsplit(" ", 1)[1]))
        return True
    return False


# 1. commands before the greeting: 554 and closed; nothing is greeted
c = Client("127.0.0.9", greet=False)
c.send("EHLO early.test\r\n")
r = c.reply()
check(r.startswith("554 5.5.1"), "talking before the greeting: 554, got %r" % r)
check(c.closed(), "closed after the 554")
c.close()

# 2. SIZE= at MAIL past max_message_bytes: 552; a message within it passes
c = Client("127.0.0.9")
check(c.greeting.startswith("220 "), "greeting %r" % c.greeting)
r = c.cmd("EHLO client.test")
r = c.cmd("MAIL FROM:<shop@example.com> SIZE=2049")
check(r.startswith("552 5.3.4"), "MAIL SIZE=2049 over 2048: 552, got %r" % r)
r = c.cmd("MAIL FROM:<shop@example.com> SIZE=2048")
check(r.startswith("250"), "MAIL SIZE=2048: 250, got %r" % r)
c.cmd("RSET")

# 3. the actual size over the limit (no SIZE=): 552 after the final dot
c.cmd("MAIL FROM:<shop@example.com>")
c.cmd("RCPT TO:<ann@a.test>")
r = c.cmd("DATA")
check(r.startswith("354"), "DATA 354, got %r" % r)
c.send(body(3000) + ".\r\n")
r = c.reply()
check(r.startswith("552 5.3.4"), "message of 3000 bytes over 2048: 552, got %r" % r)

# 4. a line over 998 octets: 552 (the message is read to its end first)
c.cmd("MAIL FROM:<shop@example.com>")
c.cmd("RCPT TO:<ann@a.test>")
c.cmd("DATA")
c.send("From: shop@example.com\r\n\r\n" + "y" * 999 + "\r\n.\r\n")
r = c.reply()
check(r.startswith("552 5.3.4") and "998" in r, "line of 999 octets: 552, got %r" % r)
# a line of exactly 998 octets is fine
c.cmd("MAIL FROM:<shop@example.com>")
c.cmd("RCPT TO:<ann@a.test>")
c.cmd("DATA")
c.send("From: shop@example.com\r\n\r\n" + "z" * 998 + "\r\n.\r\n")
r = c.reply()
check(queued_id(r), "line of 998 octets accepted, got %r" % r)

# 5. recipients past max_recipients (3): 452 for the 4th, the 3 go through
c.cmd("MAIL FROM:<shop@example.com>")
rs = [c.cmd("RCPT TO:<r%d@a.test>" % i) for i in range(5)]
check(all(r.startswith("250") for r in rs[:3]), "first 3 RCPTs 250: %r" % rs)
check(all(r.startswith("452 4.5.3") for r in rs[3:]), "RCPTs 4 and 5: 452, got %r" % rs)
c.cmd("DATA")
c.send(body(200) + ".\r\n")
r = c.reply()
three = queued[-1] if queued_id(r) else None
check(three is not None, "message to 3 of 5 recipients queued, got %r" % r)
check(c.cmd("QUIT").startswith("221"), "QUIT")
c.close()

# 6. the command timeout (1 s): 421 4.4.2 and closed
c = Client("127.0.0.9")
c.cmd("EHLO client.test")
t0 = time.time()
r = c.reply()
check(r.startswith("421 4.4.2"), "idle after EHLO: 421 timeout, got %r" % r)
check(time.time() - t0 >= 0.9, "not before the command timeout")
check(c.closed(), "closed after the timeout")
c.close()

# 7. the data timeout (1 s) in the middle of a message: 421, nothing queued
c = Client("127.0.0.9")
c.cmd("EHLO client.test")
c.cmd("MAIL FROM:<shop@example.com>")
c.cmd("RCPT TO:<ann@a.test>")
c.cmd("DATA")
c.send("From: shop@example.com\r\nSubject: cut\r\n\r\nhalf a mess")
r = c.reply()
check(r.startswith("421 4.4.2"), "stalled DATA: 421 timeout, got %r" % r)
check(c.closed(), "closed after the data timeout")
c.close()

# 8. connections per IP (2): the third from 127.0.0.7 gets 421 4.7.0;
# the total (4): a fifth from yet another address gets 421 4.3.2
a = [Client("127.0.0.7"), Client("127.0.0.7")]
check(all(x.greeting.startswith("220") for x in a), "two from 127.0.0.7 greeted")
x = Client("127.0.0.7")
check(x.greeting.startswith("421 4.7.0"), "third from 127.0.0.7: 421 4.7.0, got %r" % x.greeting)
check(x.closed(), "closed after the per-IP 421")
x.close()
b = [Client("127.0.0.8"), Client("127.0.0.8")]
check(all(x.greeting.startswith("220") for x in b), "two from 127.0.0.8 greeted")
x = Client("127.0.0.6")
check(x.greeting.startswith("421 4.3.2"), "fifth in all: 421 4.3.2, got %r" % x.greeting)
x.close()
for x in a + b:
    x.cmd("QUIT")
    x.closed()
    x.close()
time.sleep(0.3)  # the server's close callbacks run on its loop
x = Client("127.0.0.6")
check(x.greeting.startswith("220"), "greeted again once the others left, got %r" % x.greeting)
x.cmd("QUIT")
x.close()

# 9. AUTH lockout (2 failures): 535 after the delay, then 454; the next
# connection from that address gets 421 at once; another address does not
plain = lambda pw: base64.b64encode(b"\0apikey\0" + pw.encode()).decode()
c = Client("127.0.0.5")
c.cmd("EHLO client.test")
c.starttls()
c.cmd("EHLO client.test")
t0 = time.time()
r = c.cmd("AUTH PLAIN " + plain("wrong-1"))
check(r.startswith("535 5.7.8"), "first bad password: 535, got %r" % r)
check(time.time() - t0 >= 0.29, "failed AUTH answered after the 300 ms delay")
r = c.cmd("AUTH PLAIN " + plain("wrong-2"))
check(r.startswith("454 4.7.0"), "second bad password: 454 locked, got %r" % r)
r = c.cmd("AUTH PLAIN " + plain(key))
check(r.startswith("454 4.7.0"), "locked out even with the right key: 454, got %r" % r)
r = c.cmd("MAIL FROM:<shop@example.com>")
check(r.startswith("530"), "still not authenticated: 530, got %r" % r)
c.close()
x = Client("127.0.0.5")
check(x.greeting.startswith("421 4.7.0"), "locked-out address at connect: 421, got %r" % x.greeting)
x.close()
x = Client("127.0.0.4")
check(x.greeting.startswith("220"), "another address greeted, got %r" % x.greeting)
x.cmd("EHLO client.test")
x.starttls()
x.cmd("EHLO client.test")
r = x.cmd("AUTH PLAIN " + plain(key))
check(r.startswith("235"), "the right key from another address: 235, got %r" % r)
x.cmd("QUIT")
x.close()

# 10. only the 250s became messages; the 3-of-5 one has exactly 3 receipts
def get(path):
    req = urllib.request.Request("http://127.0.0.1:%s%s" % (api, path),
                                 headers={"Authorization": "Bearer " + key})
    return json.load(urllib.request.urlopen(req, timeout=10))


check(len(queued) == 2, "two messages queued: %r" % queued)
items = get("/v1/messages?limit=100")["items"]
check(sorted(m["id"] for m in items) == sorted(queued),
      "only the 250s became messages: %r vs %r" % ([m["id"] for m in items], queued))
if three is not None:
    m = get("/v1/messages/%d" % three)
    got = sorted(r["email"] for r in m["recipients"])
    check(got == ["r0@a.test", "r1@a.test", "r2@a.test"], "3 receipts: %r" % got)

if failures:
    sys.exit(1)
print("ok")
