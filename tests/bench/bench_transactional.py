#!/usr/bin/env python3
# tests/bench/bench_transactional.py EDM N: the driver of
# scripts/bench-transactional (see there). Starts smtp-sink and `edm serve`
# on loopback in a temporary directory and stops both at the end.
import json, os, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def call(port, key, method, path, body=None, ctype="application/json"):
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method)
    req.add_header("Authorization", "Bearer " + key)
    if data is not None:
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read() or b"null")


def main():
    edm, n = sys.argv[1], int(sys.argv[2])
    tmp = tempfile.mkdtemp(prefix="edm-txn-")
    sink_port, api_port, key = free_port(), free_port(), "bench-key-0123456789"
    sink = subprocess.Popen(["smtp-sink", "-u", "nobody", "-m", "1000",
                             "127.0.0.1:%d" % sink_port, "1024"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    config = {"db": tmp + "/edm.db",
              "api": {"listen": "127.0.0.1:%d" % api_port, "keys_env": "EDM_API_KEYS"},
              "dns": {"servers": ["127.0.0.1:9"]},
              "routes": [{"match": "*", "relay": "127.0.0.1:%d" % sink_port,
                          "max_connections": 50}],
              "domains": [{"match": "*", "max_connections": 50,
                           "max_messages_per_connection": 100000}]}
    with open(tmp + "/edm.json", "w") as f:
        json.dump(config, f)
    env = dict(os.environ, EDM_API_KEYS=key)
    log = open(tmp + "/edm.log", "w")
    edm_p = subprocess.Popen([edm, "serve", "-c", tmp + "/edm.json"], env=env, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(200):
            try:
                call(api_port, key, "GET", "/v1/health")
                break
            except Exception:
                time.sleep(0.05)
        t = call(api_port, key, "POST", "/v1/templates",
                 {"name": "t", "subject": "Hello {{name}}",
                  "html": "<p>Hello {{name}}</p>" + "<p>news</p>" * 100, "text": "Hello {{name}}"})
        c = call(api_port, key, "POST", "/v1/campaigns",
                 {"name": "big", "template_id": t["id"], "from": "News <news@example.com>"})
        rows = "email,name\n" + "".join("r%d@d%d.test,R%d\n" % (i, i % 1000, i) for i in range(n))
        call(api_port, key, "POST", "/v1/campaigns/%d/recipients" % c["id"], rows.encode(),
             "text/csv")
        call(api_port, key, "POST", "/v1/campaigns/%d/schedule" % c["id"], {})
        while True:
            s = call(api_port, key, "GET", "/v1/campaigns/%d/stats" % c["id"])
            if s["counts"].get("delivered", 0) >= n // 10:
                break
            time.sleep(0.1)
        waits = []
        for i in range(5):
            t0 = time.monotonic()
            m = call(api_port, key, "POST", "/v1/messages",
                     {"from": "Shop <shop@example.com>", "to": ["buyer%d@txn.test" % i],
                      "subject": "Order %d" % i, "text": "Thank you"})
            while True:
                g = call(api_port, key, "GET", "/v1/messages/%d" % m["id"])
                if g["recipients"][0]["status"] == "delivered":
                    break
                time.sleep(0.01)
            waits.append(time.monotonic() - t0)
            time.sleep(0.5)
        s = call(api_port, key, "GET", "/v1/campaigns/%d/stats" % c["id"])
        print("campaign: %d recipients, %d delivered when the last message was, state %s"
              % (n, s["counts"].get("delivered", 0), s.get("status", s.get("state", "?"))))
        print("transactional message, submit to delivered (s): " +
              ", ".join("%.3f" % w for w in waits) + "; worst %.3f" % max(waits))
    finally:
        for p in (edm_p, sink):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
