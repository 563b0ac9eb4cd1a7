"""Wait, bounded, until a server started by run.sh is ready.

  wait_ready.py grpc-health HOST:PORT PID TIMEOUT_S   grpc.health.v1 Check("") answers SERVING
  wait_ready.py emulator    HOST:PORT PID TIMEOUT_S   GET /_emulator/calls answers 200

Gives up early when PID is no longer alive (the server failed to start). The health check is
made with raw bytes, so it needs no generated health stubs: the request is an empty
HealthCheckRequest, SERVING is field 1 = 1 (bytes 08 01).
"""

import http.client
import os
import sys
import time

SERVING = b"\x08\x01"


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by run.sh) still answers kill(0).
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def grpc_health(addr):
    import grpc

    with grpc.insecure_channel(addr) as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=lambda raw: raw,
            response_deserializer=lambda raw: raw,
        )
        try:
            answer = check(b"", timeout=1.0)
        except grpc.RpcError as err:
            return f"{err.code().name}: {err.details()}"
        return True if answer == SERVING else f"health answered {answer!r}"


def emulator(addr):
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=1.0)
    try:
        conn.request("GET", "/_emulator/calls")
        response = conn.getresponse()
        response.read()
        return True if response.status == 200 else f"HTTP {response.status}"
    except OSError as err:
        return f"{type(err).__name__}: {err}"
    finally:
        conn.close()


def main():
    kind, addr, pid, timeout_s = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    probe = {"grpc-health": grpc_health, "emulator": emulator}[kind]
    started = time.monotonic()
    deadline = started + timeout_s
    last = "never probed"
    while time.monotonic() < deadline:
        if not alive(pid):
            print(f"{kind} {addr}: process {pid} exited before becoming ready ({last})", file=sys.stderr)
            return 1
        last = probe(addr)
        if last is True:
            print(f"{kind} {addr} ready after {time.monotonic() - started:.2f}s", file=sys.stderr)
            return 0
        time.sleep(0.1)
    print(f"{kind} {addr}: not ready after {timeout_s:.0f}s ({last})", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
