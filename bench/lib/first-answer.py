#!/usr/bin/env python3
"""POSTs a container to berthd, then polls its proxy every 2 ms until the container answers;
prints the milliseconds from the POST to the first answer (create → first HTTP answer).

usage: first-answer.py NAME [TIMEOUT_S=60]   (API_PORT, PROXY_PORT, TOKEN, IMAGE from the environment)
"""
import http.client, json, os, sys, time

name = sys.argv[1]
limit = float(sys.argv[2]) if len(sys.argv) > 2 else 60
api, proxy, token, image = int(os.environ["API_PORT"]), int(os.environ["PROXY_PORT"]), os.environ["TOKEN"], os.environ["IMAGE"]
start = time.monotonic()
c = http.client.HTTPConnection("127.0.0.1", api)
c.request("POST", "/v1/containers", json.dumps({"name": name, "image": image, "ram": "32Mi"}),
          {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
r = c.getresponse(); r.read()
assert r.status == 201, r.status
while True:
    try:
        p = http.client.HTTPConnection("127.0.0.1", proxy, timeout=5)
        p.request("GET", "/", headers={"Host": f"{name}.localhost"})
        resp = p.getresponse(); body = resp.read()
        if resp.status == 200 and b"hello" in body:
            break
    except OSError:
        pass
    if time.monotonic() - start > limit:
        sys.exit(f"not ready within {limit:.0f} s")
    time.sleep(0.002)
print("%.1f" % ((time.monotonic() - start) * 1000))
