#!/usr/bin/python3
"""tests/api/click_burst.py PORT PATH COUNT PID: COUNT GET requests of PATH
on one keep-alive connection to 127.0.0.1:PORT, each of which must answer
302; then SIGTERM to PID at once (the clicks of the last flush interval are
still queued in edm: tests/api/test_tracking.c checks that stopping writes
them). Prints the number of 302 answers."""
import http.client
import os
import signal
import sys

port, path, count, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
ok = 0
for _ in range(count):
    conn.request("GET", path, headers={"User-Agent": "Mozilla/5.0 (X11; Linux) Firefox/115.0"})
    r = conn.getresponse()
    r.read()
    if r.status == 302:
        ok += 1
os.kill(pid, signal.SIGTERM)
print(ok)
