#!/usr/bin/python3
# tests/engine/message/mime_check.py DIR: parses every DIR/NAME.eml with Python's
# email package (policy=default) and compares it with DIR/NAME.json, the
# values the test expects. Prints "<name> ok" or "<name> FAIL <why>" per
# message. Checks: no defects anywhere (message, parts, header values),
# no line over 998 octets, CRLF line ends only, exactly the expected set of
# header fields (an injection cannot add one), decoded addresses, display
# names, subject, custom headers, MIME structure, text bodies and
# attachments byte for byte, inline parts (disposition inline, their
# Content-ID, name, type and bytes) and the MIME tree when given
# ("tree": "multipart/x(a,b)"), each text part's Content-Transfer-Encoding
# ("cte", or "plain_cte"/"html_cte" per part) and that a 7bit or 8bit part
# holds the text as is (7bit: ASCII only).
import base64
import email
import email.header
import email.policy
import glob
import json
import os
import sys


def raw_field(raw, name):
    """The unfolded raw value of the first field called name."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    for field in head.replace("\r\n ", " ").replace("\r\n\t", "\t").split("\r\n"):
        k, _, v = field.partition(":")
        if k.lower() == name.lower():
            return v.strip()
    return None


def rfc2047_phrase(raw, name):
    """A display name made of several encoded words, decoded as RFC 2047
    6.2 says (whitespace between adjacent encoded words dropped). CPython
    3.11's header parser keeps that whitespace in phrases, so for these
    names its reading is not the reference."""
    v = raw_field(raw, name)
    if v is None or v.count("=?") < 2 or "<" not in v:
        return None
    phrase = v[: v.rindex("<")].strip()
    return str(email.header.make_header(email.header.decode_header(phrase)))


def problems(raw, exp):
    out = []
    lines = raw.split(b"\r\n")
    for i, line in enumerate(lines):
        if len(line) > 998:
            out.append("line %d is %d octets" % (i, len(line)))
        if b"\r" in line or b"\n" in line:
            out.append("bare CR or LF on line %d" % i)
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        if any(c < 32 and c != 9 or c >= 127 for c in line):
            out.append("non-ASCII or control in header line %r" % line[:60])
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for part in msg.walk():
        if part.defects:
            out.append("defects in %s: %r" % (part.get_content_type(), part.defects))
        for name, value in part.items():
            if getattr(value, "defects", None):
                out.append("header %s defects: %r" % (name, value.defects))
    names = sorted(k.lower() for k in msg.keys())
    want = sorted(k.lower() for k in exp["header_names"])
    if names != want:
        out.append("header fields %r, want %r" % (names, want))

    def addr(field, name_key, addr_key):
        h = msg[field]
        if h is None or len(h.addresses) != 1:
            out.append("%s: %r" % (field, h))
            return
        a = h.addresses[0]
        if a.display_name != exp.get(name_key, "") and rfc2047_phrase(raw, field) != exp.get(name_key, ""):
            out.append("%s display name %r, want %r" % (field, a.display_name, exp.get(name_key, "")))
        if a.addr_spec != exp[addr_key]:
            out.append("%s address %r, want %r" % (field, a.addr_spec, exp[addr_key]))

    addr("From", "from_name", "from_addr")
    addr("To", "to_name", "to_addr")
    if "reply_to" in exp:
        addr("Reply-To", "-", "reply_to")
    if str(msg["Subject"]) != exp["subject"]:
        out.append("Subject %r, want %r" % (str(msg["Subject"]), exp["subject"]))
    for k, v in exp.get("headers", {}).items():
        got = msg.get_all(k) or []
        if [str(g) for g in got] != [v]:
            out.append("header %s %r, want %r" % (k, [str(g) for g in got], v))
    if msg.get_content_type() != exp["content_type"]:
        out.append("Content-Type %s, want %s" % (msg.get_content_type(), exp["content_type"]))

    texts = [p for p in msg.walk() if p.get_content_maintype() == "text" and not p.is_attachment()]
    for sub, key in (("plain", "text"), ("html", "html")):
        parts = [p for p in texts if p.get_content_subtype() == sub]
        if key not in exp:
            if parts:
                out.append("unexpected text/%s part" % sub)
            continue
        if len(parts) != 1:
            out.append("%d text/%s parts" % (len(parts), sub))
            continue
        got = parts[0].get_content().replace("\r\n", "\n")
        if got != exp[key]:
            out.append("text/%s body %r, want %r" % (sub, got[:200], exp[key][:200]))
        if parts[0].get_content_charset() != "utf-8":
            out.append("text/%s charset %r" % (sub, parts[0].get_content_charset()))
        want_cte = exp.get(sub + "_cte", exp.get("cte"))
        if want_cte is not None and parts[0]["Content-Transfer-Encoding"] != want_cte:
            out.append("text/%s cte %r, want %r" % (sub, parts[0]["Content-Transfer-Encoding"], want_cte))
        if parts[0]["Content-Transfer-Encoding"] in ("7bit", "8bit"):
            # Sent as is: the body on the wire is the text, CRLF line ends.
            body = parts[0].get_payload(decode=True).replace(b"\r\n", b"\n")
            if body != exp[key].encode("utf-8", "surrogateescape"):
                out.append("text/%s raw body differs from the text" % sub)
            if parts[0]["Content-Transfer-Encoding"] == "7bit" and any(c >= 128 for c in body):
                out.append("text/%s declared 7bit has 8-bit bytes" % sub)
    def tree(p):
        if not p.is_multipart():
            return p.get_content_type()
        return "%s(%s)" % (p.get_content_type(), ",".join(tree(s) for s in p.iter_parts()))

    if "tree" in exp and tree(msg) != exp["tree"]:
        out.append("tree %s, want %s" % (tree(msg), exp["tree"]))
    inl = [p for p in msg.walk() if p["Content-ID"] is not None]
    want_inl = exp.get("inline", [])
    if len(inl) != len(want_inl):
        out.append("%d inline parts, want %d" % (len(inl), len(want_inl)))
    for p, w in zip(inl, want_inl):
        if p.get_content_disposition() != "inline":
            out.append("inline part disposition %r" % p.get_content_disposition())
        if str(p["Content-ID"]) != "<%s>" % w["content_id"]:
            out.append("Content-ID %r, want <%s>" % (str(p["Content-ID"]), w["content_id"]))
        if p.get_filename() != w["filename"]:
            out.append("inline filename %r, want %r" % (p.get_filename(), w["filename"]))
        if p.get_content_type() != w["content_type"]:
            out.append("inline type %r, want %r" % (p.get_content_type(), w["content_type"]))
        if p.get_payload(decode=True) != base64.b64decode(w["data"]):
            out.append("inline part %r bytes differ" % w["filename"])
    atts = [p for p in msg.walk() if p.is_attachment()]
    want_atts = exp.get("attachments", [])
    if len(atts) != len(want_atts):
        out.append("%d attachments, want %d" % (len(atts), len(want_atts)))
    for p, w in zip(atts, want_atts):
        if p.get_filename() != w["filename"]:
            out.append("filename %r, want %r" % (p.get_filename(), w["filename"]))
        if p.get_content_type() != w["content_type"]:
            out.append("attachment type %r, want %r" % (p.get_content_type(), w["content_type"]))
        if p.get_payload(decode=True) != base64.b64decode(w["data"]):
            out.append("attachment %r bytes differ" % w["filename"])
    return out


failed = 0
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.eml"))):
    name = os.path.basename(path)[:-4]
    raw = open(path, "rb").read()
    exp = json.load(open(path[:-4] + ".json", encoding="utf-8"))
    try:
        p = problems(raw, exp)
    except Exception as e:  # a parser crash is a failure of this message
        p = ["exception %r" % e]
    print("%s ok" % name if not p else "%s FAIL %s" % (name, " | ".join(p)))
