"""A bounded load test for an Open Inference Protocol sketch server on loopback: N clients, each
with one kept-alive HTTP/1.1 connection, send inference requests for a fixed time; prints one
JSON line with requests/s, drawings/s, p50/p99 latency (ms) end to end, the server's own p50/p99
(its `Server-Timing: app;dur=MS` header, where it sends one) and errors.

    python bench/serve_load.py --url http://127.0.0.1:8080 --model NAME --data FILE.ndjson \
        [--clients 8] [--seconds 10] [--batch 1]

Run it against `recur serve` and against bench/serve_fastapi.py in turn, with the same model
and flags (see docs/serve.md).
"""
import argparse
import http.client
import json
import threading
import time
import urllib.parse


def requests_from(path, batch, limit=2000):
    drawings = []
    for line in open(path):
        if line.strip():
            drawings.append(json.dumps(json.loads(line)["drawing"]))
        if len(drawings) >= limit:
            break
    bodies = []
    for i in range(0, len(drawings) - batch + 1, batch):
        chunk = drawings[i:i + batch]
        bodies.append(json.dumps({"inputs": [{"name": "drawing", "datatype": "BYTES", "shape": [len(chunk)], "data": chunk}],
                                  "parameters": {"top": 5}}).encode())
    return bodies


def server_ms(response):
    """The server's own time for a request, from `Server-Timing: app;dur=MS`, or None."""
    for part in (response.getheader("Server-Timing") or "").split(","):
        name, _, duration = part.strip().partition(";dur=")
        if name == "app" and duration:
            return float(duration)
    return None


def client(url, path, bodies, offset, stop_at, latencies, server_times, errors):
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    i = offset
    while time.perf_counter() < stop_at:
        body = bodies[i % len(bodies)]
        i += 1
        began = time.perf_counter()
        try:
            connection.request("POST", path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            ok = response.status == 200
            served = server_ms(response)
        except (OSError, http.client.HTTPException):
            ok = False
            connection.close()
            connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        if ok:
            latencies.append(time.perf_counter() - began)
            if served is not None:
                server_times.append(served / 1e3)
        else:
            errors.append(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="an ndjson file of drawings")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch", type=int, default=1, help="drawings per request")
    args = parser.parse_args()
    url = urllib.parse.urlparse(args.url)
    bodies = requests_from(args.data, args.batch)
    path = f"/v2/models/{args.model}/infer"
    latencies, server_times, errors = [], [], []
    stop_at = time.perf_counter() + args.seconds
    threads = [threading.Thread(target=client, args=(url, path, bodies, k * 97, stop_at, latencies, server_times, errors))
               for k in range(args.clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    server_times.sort()
    pick = lambda q, xs=latencies: round(1e3 * xs[min(len(xs) - 1, int(q * len(xs)))], 3) if xs else None
    print(json.dumps({"clients": args.clients, "batch": args.batch, "seconds": round(elapsed, 1),
                      "requests_per_s": round(len(latencies) / elapsed, 1),
                      "drawings_per_s": round(len(latencies) * args.batch / elapsed, 1),
                      "p50_ms": pick(0.5), "p99_ms": pick(0.99),
                      "server_p50_ms": pick(0.5, server_times), "server_p99_ms": pick(0.99, server_times),
                      "errors": len(errors)}))


if __name__ == "__main__":
    main()
