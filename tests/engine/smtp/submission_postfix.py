#!/usr/bin/python3
# tests/engine/smtp/submission_postfix.py SUB_PORT API_PORT KEY NODE_PREFIX MAILDIR DNS_TXT:
# three real clients submit to edm over STARTTLS with AUTH (swaks to alice,
# Python's smtplib to bob, nodemailer to both: submission_nodemailer.js),
# edm delivers through a real Postfix MX (run by test_submission_postfix.c,
# virtual Maildir delivery for alice@pf.test and bob@pf.test); each
# message's receipts, found by the id of its 250, end delivered; every copy
# in the Maildirs carries edm's DKIM signature, which dkimpy verifies (the
# key from DNS_TXT, no DNS). A wrong password (nodemailer) gets 535 and
# delivers nothing. Prints what failed; exit 1 then.
import glob
import json
import os
import re
import smtplib
import ssl
import subprocess
import sys
import time
import urllib.request

import dkim

sub, api, key, node_prefix, maildir, dns_txt = sys.argv[1:7]
sub = int(sub)
failures = []
queued = {}  # id -> recipients


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


# 1. swaks: STARTTLS, AUTH LOGIN, to alice
out = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % sub, "--tls", "--auth", "LOGIN",
                      "--auth-user", "apikey", "--auth-password", key,
                      "--from", "shop@example.com", "--to", "alice@pf.test",
                      "--header", "From: Shop <shop@example.com>", "--header", "Subject: swaks",
                      "--body", "Hello from swaks"],
                     capture_output=True, text=True, timeout=60).stdout
m = re.search(r"250 2\.0\.0 Ok: queued as (\d+)", out)
check(m is not None, "swaks queued: " + out[-400:])
if m:
    queued[int(m.group(1))] = ["alice@pf.test"]

# 2. smtplib: STARTTLS, login, to bob
c = ssl.create_default_context()
c.check_hostname = False
c.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", sub, timeout=30)
s.starttls(context=c)
s.login("apikey", key)
code, resp = s.mail("shop@example.com")
s.rcpt("bob@pf.test")
code, resp = s.data(b"From: Shop <shop@example.com>\r\nTo: bob@pf.test\r\nSubject: smtplib\r\n"
                    b"\r\nHello from smtplib\r\n")
m = re.match(rb"2\.0\.0 Ok: queued as (\d+)", resp)
check(code == 250 and m, "smtplib queued: %d %r" % (code, resp))
if m:
    queued[int(m.group(1))] = ["bob@pf.test"]
s.quit()

# 3. nodemailer: STARTTLS required, AUTH, to both; then a wrong password
env = dict(os.environ, NODE_PATH=os.path.join(node_prefix, "node_modules"))
js = os.path.join(os.path.dirname(os.path.abspath(__file__)), "submission_nodemailer.js")
r = subprocess.run(["node", js, str(sub), key], capture_output=True, text=True, timeout=120,
                   env=env)
m = re.search(r"^queued (\d+)$", r.stdout, re.M)
check(r.returncode == 0 and m, "nodemailer: rc %d: %s %s" % (r.returncode, r.stdout, r.stderr))
if m:
    queued[int(m.group(1))] = ["alice@pf.test", "bob@pf.test"]
check(re.search(r"^badauth 535$", r.stdout, re.M), "nodemailer wrong password: 535: " + r.stdout)


# 4. the receipts, by the ids of the 250s: delivered; nothing else queued
def get(path):
    req = urllib.request.Request("http://127.0.0.1:%s%s" % (api, path),
                                 headers={"Authorization": "Bearer " + key})
    return json.load(urllib.request.urlopen(req, timeout=10))


check(len(queued) == 3, "three messages queued: %r" % queued)
pending = set(queued)
deadline = time.time() + 60
while pending and time.time() < deadline:
    for i in list(pending):
        m = get("/v1/messages/%d" % i)
        if m["status"] == "done":
            got = sorted((x["email"], x["status"]) for x in m["recipients"])
            want = sorted((e, "delivered") for e in queued[i])
            check(got == want, "message %d: %r, want %r" % (i, got, want))
            check(m["source"] == "smtp", "message %d from smtp" % i)
            pending.discard(i)
    time.sleep(0.1)
check(not pending, "not done in 60 s: %r" % pending)
items = get("/v1/messages?limit=100")["items"]
check(sorted(x["id"] for x in items) == sorted(queued),
      "only the 250s became messages: %r" % [x["id"] for x in items])

# 5. the Maildirs: alice has 2 copies, bob 2; each verifies with dkimpy
name, txt = open(dns_txt).read().strip().split(" ", 1)


def dnsfunc(n, timeout=5):
    return txt.encode() if n.rstrip(b".").decode() == name else None


want = {"alice": {"swaks", "nodemailer"}, "bob": {"smtplib", "nodemailer"}}
deadline = time.time() + 20
for user, subjects in want.items():
    files = []
    while time.time() < deadline:
        files = glob.glob(os.path.join(maildir, user, "new", "*"))
        if len(files) >= len(subjects):
            break
        time.sleep(0.1)
    check(len(files) == len(subjects), "%s: %d copies in the Maildir, want %d" %
          (user, len(files), len(subjects)))
    seen = set()
    for p in files:
        raw = open(p, "rb").read()
        # Postfix stores LF line ends; the signature was made over CRLF.
        msg = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        subj = re.search(rb"^Subject: (\S+)", msg, re.M)
        seen.add(subj.group(1).decode() if subj else "?")
        check(b"DKIM-Signature:" in msg, "%s: no DKIM-Signature" % p)
        check(dkim.DKIM(msg).verify(dnsfunc=dnsfunc), "%s: DKIM does not verify (dkimpy)" % p)
    check(seen == subjects, "%s got %r, want %r" % (user, seen, subjects))

if failures:
    sys.exit(1)
print("ok")
