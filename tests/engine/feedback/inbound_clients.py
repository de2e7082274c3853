#!/usr/bin/python3
# tests/engine/feedback/inbound_clients.py PORT MODE ARGS...: Python's smtplib
# (and raw sockets) against edm's inbound listener (run by test_inbound.c,
# which starts edm serve with "inbound" and checks the receipts after each
# mode). Prints what failed and exits 1 then; prints "ok" otherwise.
#
#   refuse BOUNCE_DOMAIN BTOK UTOK: STARTTLS is offered and works; every
#     address edm did not issue (forged, altered and wrong-purpose tokens,
#     a real token at another domain, relay attempts, plain local parts,
#     source routes) gets 550 at RCPT, with and without TLS, pipelined or
#     not; DATA after only refused RCPTs is refused; a message smuggling a
#     second one with bare LFs to a valid unsubscribe address is refused
#     (550) whole; a fourth connection from one address gets 421; a silent
#     client is dropped with 421 after the command timeout.
#   accept BOUNCE_DOMAIN FBL BTOK_COMPLAIN UTOK_UNSUB: an ARF report built with
#     Python's email package, about the delivery of BTOK_COMPLAIN, sent to
#     the feedback address FBL (in other case), and a plain mail to
#     unsubscribe+UTOK_UNSUB@, both under STARTTLS: 250 each.
import re
import smtplib
import socket
import ssl
import sys
import time
from email import encoders, policy
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

port, mode = int(sys.argv[1]), sys.argv[2]
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


def connect(tls):
    s = smtplib.SMTP("127.0.0.1", port, timeout=20)
    s.ehlo("client.test")
    check(s.has_extn("starttls"), "STARTTLS offered")
    check(not s.has_extn("auth"), "no AUTH on the inbound listener")
    if tls:
        s.starttls(context=ctx())
        s.ehlo("client.test")
    return s


def refuse(dom, btok, utok):
    altered = btok[:-1] + ("a" if btok[-1] != "a" else "b")
    bad = [
        "bounces+%s@%s" % (altered, dom),               # altered tag
        "bounces+%s@%s" % ("1" + btok, dom),            # altered id
        "bounces+%s@%s" % (btok + "x", dom),            # appended
        "unsubscribe+%s@%s" % (btok, dom),              # bounce token, unsubscribe purpose
        "bounces+%s@%s" % (utok, dom),                  # unsubscribe token, bounce purpose
        "bounces+%s@other.test" % btok,                 # real token, another domain
        "bounces+%s@%s.evil.test" % (btok, dom),        # real token, a look-alike domain
        "bounces+%s%%gmail.com@%s" % (btok, dom),       # percent hack
        "bounces+1-aaaaaaaaaaaaaaaa@%s" % dom,          # forged
        "bounces@%s" % dom,
        "bounces+@%s" % dom,
        "postmaster@%s" % dom,
        "someone@gmail.com",                            # relay attempts
        "@%s:someone@gmail.com" % dom,
        "someone@[127.0.0.1]",
        "\"bounces+%s\"@%s" % (btok, dom),
    ]
    for tls in (False, True):
        s = connect(tls)
        for a in bad:
            s.mail("")
            code, msg = s.rcpt(a)
            check(code == 550, "RCPT %s (tls=%s): %d %s" % (a, tls, code, msg))
            s.rset()
        # All refused, then DATA: nothing to deliver.
        s.mail("<>")
        for a in bad[:3]:
            s.rcpt(a)
        code, msg = s.docmd("DATA")
        check(code in (503, 554), "DATA after refused RCPTs: %d %s" % (code, msg))
        s.rset()
        try:
            s.sendmail("", [bad[0], bad[5]], b"Subject: x\r\n\r\nhello\r\n")
            check(False, "sendmail to refused recipients raised nothing")
        except smtplib.SMTPRecipientsRefused as e:
            check(all(v[0] == 550 for v in e.recipients.values()), "refused: %r" % e.recipients)
        s.quit()

    # Pipelined: MAIL, RCPTs, DATA in one write; every RCPT 550, DATA refused.
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    f = raw.makefile("rb")
    greet = f.readline()
    check(greet.startswith(b"220"), "greeting %r" % greet)
    raw.sendall(b"EHLO p.test\r\n")
    while True:
        line = f.readline()
        if line[3:4] != b"-":
            break
    raw.sendall(("MAIL FROM:<>\r\nRCPT TO:<someone@gmail.com>\r\nRCPT TO:<bounces+%s@other.test>\r\n"
                 "DATA\r\n" % btok).encode())
    replies = [f.readline() for _ in range(4)]
    check(replies[0].startswith(b"250"), "pipelined MAIL %r" % replies[0])
    check(replies[1].startswith(b"550") and replies[2].startswith(b"550"),
          "pipelined RCPTs %r" % replies[1:3])
    check(replies[3][:3] in (b"503", b"554"), "pipelined DATA %r" % replies[3])
    raw.sendall(b"QUIT\r\n")
    raw.close()

    # Smuggling: a valid unsubscribe address, but the body hides a second
    # message behind <LF>.<LF>; the whole message is refused, nothing applied.
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    f = raw.makefile("rb")
    f.readline()
    raw.sendall(b"HELO s.test\r\n")
    f.readline()
    raw.sendall(("MAIL FROM:<x@client.test>\r\nRCPT TO:<unsubscribe+%s@%s>\r\nDATA\r\n" % (utok, dom))
                .encode())
    r = [f.readline() for _ in range(3)]
    check(r[1].startswith(b"250") and r[2].startswith(b"354"), "smuggle setup %r" % r)
    raw.sendall(b"Subject: a\r\n\r\nfirst\n.\nMAIL FROM:<x@client.test>\r\nRCPT TO:<unsubscribe+"
                + utok.encode() + b"@" + dom.encode() + b">\r\nDATA\r\nSubject: b\r\n\r\nsmuggled\r\n.\r\n")
    end = f.readline()
    check(end.startswith(b"550"), "smuggled message refused: %r" % end)
    raw.sendall(b"QUIT\r\n")
    raw.close()

    # Per-IP cap (max_connections_per_ip 3): the fourth connection gets 421.
    time.sleep(0.3)
    held = [socket.create_connection(("127.0.0.1", port), timeout=20) for _ in range(3)]
    for h in held:
        check(h.makefile("rb").readline().startswith(b"220"), "held connection greeted")
    third = socket.create_connection(("127.0.0.1", port), timeout=20)
    line = third.makefile("rb").readline()
    check(line.startswith(b"421"), "fourth connection from one address: %r" % line)
    third.close()
    for h in held:
        h.close()
    time.sleep(0.3)

    # Command timeout (2 s): a silent client is dropped with 421.
    t0 = time.time()
    quiet = socket.create_connection(("127.0.0.1", port), timeout=20)
    qf = quiet.makefile("rb")
    qf.readline()
    line = qf.readline()
    check(line.startswith(b"421"), "silent client: %r" % line)
    check(time.time() - t0 < 10, "dropped within the timeout")
    quiet.close()


def accept(dom, fbl, btok, utok):
    r = MIMEMultipart("report", report_type="feedback-report")
    r.attach(MIMEText("This is an email abuse report.", "plain", "us-ascii"))
    fr = MIMEBase("message", "feedback-report")
    fr.set_payload("Feedback-Type: abuse\nUser-Agent: provider/1.0\nVersion: 1\n"
                   "Original-Rcpt-To: <user1@example.org>\n")
    r.attach(fr)
    h = MIMEBase("text", "rfc822-headers")
    h.set_payload("Return-Path: <bounces+%s@%s>\nFrom: n@example.com\nTo: user1@example.org\n"
                  "Subject: s\n" % (btok, dom))
    encoders.encode_7or8bit(h)
    r.attach(h)
    r["From"] = "feedbackloop@provider.test"
    r["To"] = fbl
    r["Subject"] = "complaint about a message from you"
    s = connect(True)
    data = re.sub(rb"\r?\n", b"\r\n", r.as_bytes(policy=policy.SMTP))
    refused = s.sendmail("", [fbl.upper()], data)
    check(refused == {}, "ARF to the feedback address: %r" % refused)
    code, msg = s.noop()
    check(code == 250, "still talking after the ARF")
    unsub = "unsubscribe+%s@%s" % (utok, dom)
    refused = s.sendmail("user2@example.org", [unsub],
                         b"From: user2@example.org\r\nTo: " + unsub.encode() +
                         b"\r\nSubject: unsubscribe\r\n\r\nPlease remove me.\r\n")
    check(refused == {}, "mail to unsubscribe+TOKEN@: %r" % refused)
    s.quit()


try:
    if mode == "refuse":
        refuse(*sys.argv[3:6])
    else:
        accept(*sys.argv[3:7])
except Exception as e:  # an unexpected reply is a failure with its reason
    failures.append(repr(e))
    print("FAIL:", repr(e))
if failures:
    sys.exit(1)
print("ok")
