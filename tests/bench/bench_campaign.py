#!/usr/bin/python3
"""tests/bench/bench_campaign.py: the driver of scripts/bench-campaign.

Runs one whole-engine phase and prints one line of key=value figures:
  send  EDM CONFIG TEMPLATE CSV N   `edm send`, sampled while it runs
  serve EDM CONFIG TEMPLATE CSV N   `edm serve`, then the API: template,
                                    campaign, CSV upload, schedule, stats
                                    polled until the campaign completes
Sampling (every 50 ms): VmRSS, RssAnon and RssFile of the edm process from
/proc/PID/status (peaks kept), and the time of the first delivered
recipient (an index seek on the database, read-only, until it is seen;
through the API's stats for serve). CPU comes from wait4 (send) or from
/proc/PID/stat deltas over the sending phase (serve). The database size
is measured after edm has exited (its WAL checkpointed).
Asserts nothing: figures only (targets are in docs/issue 10, not here).
"""
import http.client
import json
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time

TICK = 0.05
HZ = os.sysconf("SC_CLK_TCK")


def status_kb(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def cpu_secs(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / HZ  # utime, stime


class Sink:
    """CPU of the smtp-sink (EDM_BENCH_SINK_PID) over a phase: on a small
    machine the sink shares the cores with edm, and a ratio to a figure
    taken on all cores (openssl speed -multi) hides what the sink took."""

    def __init__(self):
        pid = os.environ.get("EDM_BENCH_SINK_PID")
        self.pid = int(pid) if pid else None
        self.c0 = self.cpu()

    def cpu(self):
        try:
            return cpu_secs(self.pid) if self.pid else 0.0
        except OSError:
            return 0.0

    def fields(self, n):
        if not self.pid:
            return "sink_cpu_s=unknown"
        c = self.cpu() - self.c0
        return f"sink_cpu_s={c:.2f} sink_cpu_us_per_msg={c / n * 1e6:.1f}"


class Peaks:
    def __init__(self):
        self.rss = self.anon = self.file = self.hwm = 0

    def sample(self, pid):
        s = status_kb(pid)
        self.rss = max(self.rss, s.get("VmRSS", 0))
        self.anon = max(self.anon, s.get("RssAnon", 0))
        self.file = max(self.file, s.get("RssFile", 0))
        self.hwm = max(self.hwm, s.get("VmHWM", 0))

    def fields(self):
        mb = lambda kb: f"{kb / 1024:.1f}"
        return (f"peak_rss_mb={mb(self.rss)} peak_anon_mb={mb(self.anon)} "
                f"peak_file_mb={mb(self.file)} vm_hwm_mb={mb(self.hwm)}")


def first_delivered(db):
    """1 once any recipient of any campaign is delivered (index seek)."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05)
        try:
            row = con.execute("SELECT EXISTS (SELECT 1 FROM deliveries WHERE campaign_id = "
                              "(SELECT max(id) FROM campaigns) AND status = 2)").fetchone()
            return bool(row and row[0])
        finally:
            con.close()
    except sqlite3.Error:
        return False


def db_bytes(db):
    if db.startswith("postgres"):
        return 0  # not measured for PostgreSQL
    return sum(os.path.getsize(p) for p in (db, db + "-wal") if os.path.exists(p))


def db_breakdown(db, n):
    """Bytes per recipient of each table and index (SQLite's dbstat)."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        rows = con.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name "
                           "ORDER BY 2 DESC LIMIT 8").fetchall()
        con.close()
    except sqlite3.Error as e:
        return f"db_breakdown=unavailable({e})"
    return "db_per_recipient=" + ",".join(f"{name}:{size / n:.0f}" for name, size in rows)


def run_send(edm, config, template, csv, n, db):
    t0 = time.monotonic()
    sink = Sink()
    outf, errf = open(db + ".send.out", "w+b"), open(db + ".send.err", "w+b")
    p = subprocess.Popen([edm, "send", "-c", config, "--template", template, "--recipients", csv,
                          "--from", "Bench <bench@bench.example>", "--quiet"],
                         stdout=outf, stderr=errf)
    peaks, first = Peaks(), None
    while p.poll() is None:
        peaks.sample(p.pid)
        if first is None and first_delivered(db):
            first = time.monotonic() - t0
        time.sleep(TICK)
    # poll() reaped it: its rusage is in RUSAGE_CHILDREN (the only child)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.monotonic() - t0
    outf.seek(0)
    errf.seek(0)
    out, err = outf.read(), errf.read()
    if p.returncode != 0:
        sys.exit(f"edm send failed ({p.returncode}): {err.decode()[-2000:]}")
    delivered = 0
    for line in out.decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "delivered":
            delivered = int(parts[1])
    cpu = ru.ru_utime + ru.ru_stime
    first = first if first is not None else wall
    sending = max(wall - first, 1e-9)
    print(f"edm_send recipients={n} delivered={delivered} wall_s={wall:.2f} "
          f"first_message_s={first:.2f} msg_per_s={n / wall:.0f} "
          f"msg_per_s_after_first={n / sending:.0f} cpu_s={cpu:.2f} "
          f"cpu_us_per_msg={cpu / n * 1e6:.1f} {sink.fields(n)} {peaks.fields()} "
          f"maxrss_mb={ru.ru_maxrss / 1024:.1f} db_bytes={db_bytes(db)} "
          f"db_bytes_per_recipient={db_bytes(db) / n:.0f} {db_breakdown(db, n)}")
    if delivered != n:
        sys.exit(f"edm send delivered {delivered} of {n}: {out.decode()}")


class Api:
    def __init__(self, port, key):
        self.port, self.key = port, key
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def call(self, method, path, body=None, ctype="application/json"):
        hdr = {"Authorization": "Bearer " + self.key}
        if body is not None:
            hdr["Content-Type"] = ctype
            if not isinstance(body, (bytes, str)) and not hasattr(body, "read"):
                body = json.dumps(body)
        self.conn.request(method, path, body=body, headers=hdr)
        r = self.conn.getresponse()
        data = r.read()
        if r.status >= 300:
            sys.exit(f"{method} {path}: {r.status} {data[:500]!r}")
        return json.loads(data) if data else None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_serve(edm, config, template, csv, n, db, port, key, more=()):
    """One `edm serve` on config (its API on port), plus one more node per
    config in `more` (several nodes on one PostgreSQL database): the
    campaign goes through the first; CPU is reported per node."""
    env = dict(os.environ, EDM_API_KEYS=key)
    logdir = os.path.dirname(config)
    log = open(os.path.join(logdir, "serve.log"), "wb")
    t0 = time.monotonic()
    p = subprocess.Popen([edm, "serve", "-c", config], stdout=log, stderr=log, env=env)
    others = [subprocess.Popen([edm, "serve", "-c", c], stdout=log, stderr=log, env=env)
              for c in more]
    try:
        for _ in range(200):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/v1/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        else:
            sys.exit("edm serve did not answer /v1/health")
        api = Api(port, key)
        peaks = Peaks()
        tpl = json.load(open(template))
        tpl["name"] = "bench"
        tid = api.call("POST", "/v1/templates", tpl)["id"]
        cid = api.call("POST", "/v1/campaigns", {"name": "bench", "template_id": tid,
                                                   "from": "Bench <bench@bench.example>"})["id"]
        u0 = time.monotonic()
        with open(csv, "rb") as f:
            up = api.call("POST", f"/v1/campaigns/{cid}/recipients", f.read(), "text/csv")
        upload = time.monotonic() - u0
        peaks.sample(p.pid)
        c0, s0, sink = cpu_secs(p.pid), time.monotonic(), Sink()
        oc0 = [cpu_secs(o.pid) for o in others]
        api.call("POST", f"/v1/campaigns/{cid}/schedule", {})
        first, stats_ms, state = None, [], None
        while True:
            peaks.sample(p.pid)
            q0 = time.monotonic()
            st = api.call("GET", f"/v1/campaigns/{cid}/stats")
            stats_ms.append((time.monotonic() - q0) * 1000)
            state = st["status"]
            if first is None and st["counts"].get("delivered", 0) > 0:
                first = time.monotonic() - s0
            if state in ("completed", "cancelled"):
                break
            time.sleep(TICK * 4)
        send = time.monotonic() - s0
        cpu = cpu_secs(p.pid) - c0
        sink_fields = sink.fields(n)
        node_cpu = [cpu] + [cpu_secs(o.pid) - c for o, c in zip(others, oc0)]
        peaks.sample(p.pid)
        # receipts: the first and the last page (limit 1000)
        r0 = time.monotonic()
        api.call("GET", f"/v1/campaigns/{cid}/receipts?limit=1000")
        first_page = (time.monotonic() - r0) * 1000
        r0 = time.monotonic()
        api.call("GET", f"/v1/campaigns/{cid}/receipts?limit=1000&after={max(st['total'] - 1000, 0)}")
        last_page = (time.monotonic() - r0) * 1000
        q0 = time.monotonic()
        api.call("GET", f"/v1/campaigns/{cid}/stats")
        stats_end = (time.monotonic() - q0) * 1000
    finally:
        for q in [p] + others:
            q.send_signal(signal.SIGTERM)
        for q in [p] + others:
            try:
                q.wait(60)
            except subprocess.TimeoutExpired:
                q.kill()
                q.wait()
        log.close()
    delivered = st["counts"].get("delivered", 0)
    first = first if first is not None else send
    print(f"edm_serve recipients={n} accepted={up.get('accepted')} upload_s={upload:.2f} "
          f"upload_rows_per_s={n / upload:.0f} state={state} delivered={delivered} "
          f"send_s={send:.2f} first_message_s={first:.2f} msg_per_s={n / send:.0f} "
          f"cpu_s={cpu:.2f} cpu_us_per_msg={cpu / n * 1e6:.1f} {sink_fields} {peaks.fields()} "
          f"stats_ms_median={sorted(stats_ms)[len(stats_ms) // 2]:.1f} "
          f"stats_ms_at_end={stats_end:.1f} receipts_first_page_ms={first_page:.1f} "
          f"receipts_last_page_ms={last_page:.1f} db_bytes={db_bytes(db)} "
          f"db_bytes_per_recipient={db_bytes(db) / n:.0f} total_s={time.monotonic() - t0:.2f} "
          f"nodes={1 + len(others)} node_cpu_s={','.join(f'{c:.2f}' for c in node_cpu)} "
          f"{db_breakdown(db, n) if not db.startswith('postgres') else 'db=postgresql'}")
    if delivered != n:
        sys.exit(f"edm serve delivered {delivered} of {n}: {st}")


def main():
    if len(sys.argv) < 7:
        sys.exit("usage: bench_campaign.py send|serve EDM CONFIG TEMPLATE CSV N DB "
                 "[PORT KEY [MORE_CONFIG...]]")
    mode, edm, config, template, csv, n, db = sys.argv[1:8]
    if mode == "send":
        run_send(edm, config, template, csv, int(n), db)
    else:
        run_serve(edm, config, template, csv, int(n), db, int(sys.argv[8]), sys.argv[9],
                  sys.argv[10:])


if __name__ == "__main__":
    main()
