#!/usr/bin/python3
# tests/engine/smtp/submission_clients.py SUB_PORT TLS_PORT API_PORT KEY DUMP_DIR DNS_TXT:
# real clients against edm's submission server (run by test_submission.c,
# which starts edm serve and a smtp-sink that dumps what edm delivers):
# swaks and Python's smtplib submit over STARTTLS with AUTH and over
# implicit TLS; bad passwords, no TLS, relaying without AUTH and the SMTP
# smuggling sequences get the right replies and deliver nothing; the
# receipts are found by the id of each 250 and show each message's Subject
# (an RFC 2047 one decoded) while the copies carry it as sent; every
# delivered copy carries a DKIM signature that dkimpy verifies. Prints
# what failed; exit 1 then.
import glob
import base64
import json
import re
import smtplib
import socket
import ssl
import subprocess
import sys
import time
import urllib.request

import dkim

sub, tls_port, api, key, dump, dns_txt = sys.argv[1:7]
sub, tls_port = int(sub), int(tls_port)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


MSG = "From: Shop <shop@example.com>\r\nTo: {to}\r\nSubject: {subj}\r\n\r\nHello from {subj}\r\n"
queued = []
subjects = {}  # message id -> the subject GET /v1/messages/{id} shows
# An encoded Subject (RFC 2047, two words folded apart: they join)
EW_TEXT = "Ihre Bestellung \u00b7 Gr\u00fc\u00dfe \u2603"
EW_SUBJ = ("=?UTF-8?B?" + base64.b64encode(EW_TEXT[:16].encode()).decode() + "?=\r\n "
           "=?UTF-8?Q?" + "".join("=%02X" % b for b in EW_TEXT[16:].encode()) + "?=")

# 1. swaks: STARTTLS, AUTH PLAIN
out = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % sub, "--tls", "--auth", "PLAIN",
                      "--auth-user", "apikey", "--auth-password", key,
                      "--from", "shop@example.com", "--to", "ann@a.test",
                      "--header", "From: Shop <shop@example.com>", "--header", "Subject: swaks"],
                     capture_output=True, text=True, timeout=60).stdout
m = re.search(r"250 2\.0\.0 Ok: queued as (\d+)", out)
check(m is not None, "swaks STARTTLS+AUTH PLAIN queued: " + out[-400:])
if m:
    queued.append(int(m.group(1)))
    subjects[queued[-1]] = "swaks"

# 2. smtplib: STARTTLS, login (AUTH PLAIN or LOGIN)
def send(s, frm, to, body):
    code, _ = s.mail(frm)
    if code != 250:
        return code, b""
    for t in to:
        s.rcpt(t)
    return s.data(body.encode())


s = smtplib.SMTP("127.0.0.1", sub, timeout=30)
s.ehlo("client.test")
check(not s.has_extn("auth"), "AUTH not offered before STARTTLS")
s.starttls(context=ctx())
s.ehlo("client.test")
check("PLAIN" in s.esmtp_features.get("auth", ""), "AUTH PLAIN offered under TLS")
s.login("apikey", key)
code, resp = send(s, "shop@example.com", ["bob@b.test", "cat@b.test"],
                  MSG.format(to="bob@b.test", subj="smtplib"))
m = re.match(rb"2\.0\.0 Ok: queued as (\d+)", resp)
check(code == 250 and m, "smtplib STARTTLS+login: %d %r" % (code, resp))
if m:
    queued.append(int(m.group(1)))
    subjects[queued[-1]] = "smtplib"
s.quit()

# 3. smtplib over implicit TLS, AUTH LOGIN explicitly
s = smtplib.SMTP_SSL("127.0.0.1", tls_port, context=ctx(), timeout=30)
s.ehlo("client.test")
s.user, s.password = "apikey", key
code, resp = s.auth("LOGIN", s.auth_login)
check(code == 235, "AUTH LOGIN on implicit TLS: %d" % code)
code, resp = send(s, "shop@example.com", ["dan@a.test"], MSG.format(to="dan@a.test", subj="tls"))
m = re.match(rb"2\.0\.0 Ok: queued as (\d+)", resp)
check(code == 250 and m, "implicit TLS: %d %r" % (code, resp))
if m:
    queued.append(int(m.group(1)))
    subjects[queued[-1]] = "tls"
s.quit()

# 4. a bad password: 535 (after the delay), nothing accepted after it
s = smtplib.SMTP("127.0.0.1", sub, timeout=30)
s.starttls(context=ctx())
t0 = time.time()
try:
    s.login("apikey", "wrong-" + key)
    check(False, "bad password accepted")
except smtplib.SMTPAuthenticationError as e:
    check(e.smtp_code == 535, "bad password: 535, got %d" % e.smtp_code)
check(time.time() - t0 >= 0.1, "a failed AUTH is answered after a delay")
code, _ = s.mail("shop@example.com")
check(code == 530, "MAIL after a failed AUTH: 530, got %d" % code)
s.quit()

# 5. no TLS, not trusted: AUTH refused, MAIL 530
s = smtplib.SMTP("127.0.0.1", sub, timeout=30)
s.ehlo("client.test")
code, _ = s.docmd("AUTH", "PLAIN AGFwaWtleQB4")
check(code == 538, "AUTH without TLS: 538, got %d" % code)
code, _ = s.mail("shop@example.com")
check(code == 530, "MAIL without TLS or AUTH: 530, got %d" % code)
s.quit()

# 6. relaying without AUTH under TLS: 530
s = smtplib.SMTP("127.0.0.1", sub, timeout=30)
s.starttls(context=ctx())
s.ehlo("client.test")
code, _ = s.mail("shop@example.com")
check(code == 530, "relay without AUTH: 530, got %d" % code)
s.quit()

# 7. a trusted network (127.0.0.9) sends without AUTH (an encoded Subject)
s = smtplib.SMTP("127.0.0.1", sub, timeout=30, source_address=("127.0.0.9", 0))
s.ehlo("client.test")
code, resp = send(s, "app@example.com", ["eve@a.test"], MSG.format(to="eve@a.test", subj=EW_SUBJ))
m = re.match(rb"2\.0\.0 Ok: queued as (\d+)", resp)
check(code == 250 and m, "trusted network without AUTH: %d %r" % (code, resp))
if m:
    queued.append(int(m.group(1)))
    subjects[queued[-1]] = EW_TEXT
s.quit()


# 8. smuggling: each sequence ends nothing; one 550 at the real end
def lines(f):
    out = []
    while True:
        line = f.readline()
        if not line:
            return out
        out.append(line.decode().rstrip("\r\n"))
        if line[3:4] == b" ":
            return out


for name, seq in [("LF.LF", b"\n.\n"), ("CR.LF", b"\r.\n"), ("LF.CRLF", b"\n.\r\n"),
                  ("CRLF.LF", b"\r\n.\n"), ("bare LF", b"\n")]:
    c = socket.create_connection(("127.0.0.1", sub), timeout=10, source_address=("127.0.0.9", 0))
    f = c.makefile("rb")
    greet = lines(f)
    c.sendall(b"EHLO x.test\r\n")
    lines(f)
    c.sendall(b"MAIL FROM:<app@example.com>\r\nRCPT TO:<fay@a.test>\r\nDATA\r\n")
    r = [lines(f)[-1][:3] for _ in range(3)]
    body = (b"From: app@example.com\r\nSubject: s\r\n\r\nhello" + seq +
            b"MAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@a.test>\r\nDATA\r\n"
            b"From: evil@example.com\r\n\r\nsmuggled\r\n.\r\n")
    c.sendall(body)
    end = lines(f)
    c.sendall(b"QUIT\r\n")
    rest = lines(f)
    c.close()
    check(greet and greet[0].startswith("220") and r == ["250", "250", "354"],
          "%s: dialogue before DATA %r %r" % (name, greet, r))
    check(len(end) == 1 and end[0].startswith("550 5.5.2"), "%s: one 550, got %r" % (name, end))
    check(rest and rest[0].startswith("221"), "%s: then QUIT 221, got %r" % (name, rest))

# 9. the receipts, by the ids of the 250s; nothing else was accepted
def get(path):
    req = urllib.request.Request("http://127.0.0.1:%s%s" % (api, path),
                                 headers={"Authorization": "Bearer " + key})
    return json.load(urllib.request.urlopen(req, timeout=10))


check(len(queued) == 4, "four messages queued: %r" % queued)
deadline = time.time() + 30
pending = set(queued)
while pending and time.time() < deadline:
    for i in list(pending):
        m = get("/v1/messages/%d" % i)
        if m["status"] == "done":
            check(all(r["status"] == "delivered" for r in m["recipients"]),
                  "message %d delivered: %r" % (i, m["recipients"]))
            check(m["source"] == "smtp", "message %d from smtp" % i)
            check(m["subject"] == subjects[i], "message %d subject %r, want %r" %
                  (i, m["subject"], subjects[i]))
            pending.discard(i)
    time.sleep(0.1)
check(not pending, "not delivered in 30 s: %r" % pending)
items = get("/v1/messages?limit=100")["items"]
check(sorted(m["id"] for m in items) == sorted(queued), "only the 250s became messages: %r" %
      [m["id"] for m in items])
check(all(m["subject"] == subjects.get(m["id"]) for m in items),
      "the list shows each subject: %r" % [(m["id"], m["subject"]) for m in items])

# 10. every delivered copy is DKIM-signed and verifies (dkimpy, DNS from a file)
name, txt = open(dns_txt).read().strip().split(" ", 1)
def dnsfunc(n, timeout=5):
    return txt.encode() if n.rstrip(b".").decode() == name else None

time.sleep(0.5)
files = [p for p in glob.glob(dump + "/**", recursive=True) if not p.endswith("/")]
copies = encoded_copies = 0
for p in files:
    try:
        raw = open(p, "rb").read()
    except IsADirectoryError:
        continue
    i = raw.find(b"DKIM-Signature:")
    check(i >= 0, "%s: no DKIM-Signature" % p)
    if i < 0:
        continue
    msg = raw[i:]
    copies += 1
    ok = dkim.DKIM(msg).verify(dnsfunc=dnsfunc)
    check(ok, "%s: DKIM does not verify" % p)
    check(b"smuggled" not in msg or b"hello" in msg, "%s: smuggled message delivered" % p)
    # smtplib's messages have no Message-ID: edm adds one on the From
    # domain (message_id_domain is not set), as the composer does
    if b"Subject: swaks" not in msg:
        mid = re.search(rb"\nMessage-ID: <[^@>]+@([^>]+)>\r?\n", msg)
        check(mid is not None and mid.group(1) == b"example.com",
              "%s: Message-ID added on the From domain: %r" % (p, mid and mid.group(0)))
    # the Subject goes out as it came in, encoded words and fold included
    if b"Hello from =?UTF-8?B?" in msg:
        lf = msg.replace(b"\r\n", b"\n")
        check(b"\nSubject: " + EW_SUBJ.replace("\r\n", "\n").encode() + b"\n" in lf,
              "%s: the encoded Subject sent as received" % p)
        encoded_copies += 1
check(encoded_copies == 1, "one copy with the encoded Subject: %d" % encoded_copies)
check(copies == 5, "five copies delivered (4 messages, one with 2 recipients): %d" % copies)
print("ok" if not failures else "%d failures" % len(failures))
sys.exit(1 if failures else 0)
