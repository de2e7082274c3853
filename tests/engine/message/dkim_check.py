#!/usr/bin/python3
# tests/engine/message/dkim_check.py DIR: verifies every DKIM-Signature of every
# DIR/*.eml with dkimpy (Debian's python3-dkim), serving the public keys
# from DIR/dns.txt ("name TXT" lines) instead of DNS. Prints one line per
# message: "<file> pass <n>" when all n signatures verify, else
# "<file> fail <detail>". Exit status 0 unless the script itself broke.
import glob
import os
import sys

import dkim

d = sys.argv[1]
records = {}
with open(os.path.join(d, "dns.txt")) as f:
    for line in f:
        name, txt = line.rstrip("\n").split(" ", 1)
        records[name.encode()] = txt.encode()


def dnsfunc(name, timeout=5):
    return records.get(name.rstrip(b".") if isinstance(name, bytes) else name.encode())


for path in sorted(glob.glob(os.path.join(d, "*.eml"))):
    msg = open(path, "rb").read()
    n = sum(1 for line in msg.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
            if line.lower().startswith(b"dkim-signature:"))
    ok = n > 0
    detail = "no signature" if n == 0 else ""
    for i in range(n):
        try:
            v = dkim.DKIM(msg).verify(idx=i, dnsfunc=dnsfunc)
        except Exception as e:  # a verifier exception is a failure, with its reason
            v, detail = False, "sig %d: %s" % (i, e)
        if not v:
            ok = False
            detail = detail or "sig %d: bad signature" % i
    name = os.path.basename(path)
    print("%s pass %d" % (name, n) if ok else "%s fail %s" % (name, detail))
