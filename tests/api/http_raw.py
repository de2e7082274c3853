#!/usr/bin/python3
"""tests/api/http_raw.py PORT METHOD PATH: one request to 127.0.0.1:PORT with
Connection: close; prints the raw answer (head and body) as received, so a
test can check that a HEAD answer carries no body."""
import socket
import sys

port, method, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(("%s %s HTTP/1.1\r\nHost: t\r\nUser-Agent: linkcheck/1.0\r\nConnection: close\r\n\r\n"
           % (method, path)).encode())
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
sys.stdout.write(data.decode("latin-1"))
