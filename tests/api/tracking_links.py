#!/usr/bin/python3
"""tests/api/tracking_links.py DIR: the links of every message smtp-sink
dumped into DIR (smtp-sink -d), read with Python's email package (an
independent MIME parser): one line per link, "<to>\t<href|img>\t<url>",
in document order, for tests/api/test_tracking.c."""
import email
import email.policy
import html.parser
import os
import sys


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and "href" in a:
            self.out.append(("href", a["href"]))
        elif tag == "img" and "src" in a:
            self.out.append(("img", a["src"]))


for root, _, files in os.walk(sys.argv[1]):
    for f in sorted(files):
        with open(os.path.join(root, f), "rb") as fh:
            msg = email.message_from_binary_file(fh, policy=email.policy.default)
        if msg.defects:
            sys.exit("defects in %s: %s" % (f, msg.defects))
        body = msg.get_body(preferencelist=("html",))
        if body is None:
            continue
        p = Links()
        p.feed(body.get_content())
        for kind, url in p.out:
            print("%s\t%s\t%s" % (msg["To"], kind, url))
