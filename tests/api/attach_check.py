#!/usr/bin/python3
# tests/api/attach_check.py MSG [TXT]: reads one message as smtp-sink dumped
# it (lines end in LF: they are put back to CRLF) with Python's email
# package (policy=default) and prints JSON: the top content type, every
# defect found (message and parts), the text and HTML bodies, the MIME
# tree ("multipart/x(a,b)"), each attachment {filename (RFC 2231
# decoded), content_type, b64 (its decoded bytes in base64, no line
# breaks)}, each inline part (a Content-ID) {content_id, disposition,
# filename, content_type, b64}, and, when TXT (the DKIM key record) is given,
# "dkim": "pass" when every DKIM-Signature verifies with dkimpy against it,
# else the reason. Exit status 0 unless the script itself broke.
import base64
import email
import email.policy
import json
import sys

import dkim

raw = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
msg = email.message_from_bytes(raw, policy=email.policy.default)


def tree(p):
    if not p.is_multipart():
        return p.get_content_type()
    return "%s(%s)" % (p.get_content_type(), ",".join(tree(s) for s in p.iter_parts()))


out = {"type": msg.get_content_type(), "defects": [], "attachments": [], "inline": [],
       "text": None, "html": None, "tree": tree(msg)}
for part in msg.walk():
    out["defects"] += [str(d) for d in part.defects]
    if part.is_multipart():
        continue
    if part["Content-ID"] is not None:
        out["inline"].append({
            "content_id": str(part["Content-ID"]),
            "disposition": part.get_content_disposition(),
            "filename": part.get_filename(),
            "content_type": part.get_content_type(),
            "b64": base64.b64encode(part.get_payload(decode=True)).decode("ascii"),
        })
    elif part.get_content_disposition() == "attachment":
        out["attachments"].append({
            "filename": part.get_filename(),
            "content_type": part.get_content_type(),
            "b64": base64.b64encode(part.get_payload(decode=True)).decode("ascii"),
        })
    elif part.get_content_type() == "text/plain" and out["text"] is None:
        out["text"] = part.get_content()
    elif part.get_content_type() == "text/html" and out["html"] is None:
        out["html"] = part.get_content()

if len(sys.argv) > 2:
    txt = sys.argv[2].encode()
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    n = sum(1 for line in head if line.lower().startswith(b"dkim-signature:"))
    out["dkim"] = "pass" if n else "no signature"
    for i in range(n):
        try:
            ok = dkim.DKIM(raw).verify(idx=i, dnsfunc=lambda name, timeout=5: txt)
        except Exception as e:  # a verifier exception is a failure, with its reason
            ok, out["dkim"] = False, "sig %d: %s" % (i, e)
        if not ok and out["dkim"] == "pass":
            out["dkim"] = "sig %d: bad signature" % i
print(json.dumps(out))
