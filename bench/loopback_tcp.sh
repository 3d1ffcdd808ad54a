#!/bin/bash
# Loopback TCP throughput, the ceiling for any all-reduce between processes on one
# host: an iperf3 server and one client stream on 127.0.0.1 for SECONDS.
#
#   bench/loopback_tcp.sh [SECONDS=5] [PORT=5299]
#
# Prints: RESULT iperf3 streams=1 secs=S GBps=<received bytes/s / 1e9> Gbps=..
#         sent_GBps=.. cpu_client_pct=.. cpu_server_pct=..
# Needs iperf3 and python3 (to read iperf3's JSON).
set -euo pipefail
seconds=${1:-5}
port=${2:-5299}
case $seconds$port in *[!0-9]*|'') echo "loopback_tcp.sh: SECONDS and PORT must be integers" >&2; exit 2 ;; esac
command -v iperf3 >/dev/null || { echo "loopback_tcp.sh: iperf3 not found; install: apt-get install -y iperf3" >&2; exit 1; }
report=$(mktemp)
server=
cleanup() {
  rm -f "$report"
  [ -z "$server" ] || kill "$server" 2>/dev/null || true
}
trap cleanup EXIT
iperf3 --server --port "$port" --one-off >/dev/null 2>&1 &
server=$!
sleep 0.5  # let the server start listening
timeout $((seconds + 30)) iperf3 --client 127.0.0.1 --port "$port" --time "$seconds" --json >"$report" || true
[ -s "$report" ] || { echo "loopback_tcp.sh: iperf3 gave no report (port $port in use?)" >&2; exit 1; }
wait "$server" 2>/dev/null || true
server=
/usr/bin/python3 - "$report" "$seconds" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
if "error" in run:
    sys.exit("loopback_tcp.sh: iperf3: " + run["error"])
end = run["end"]
received = end["sum_received"]["bits_per_second"] / 8
sent = end["sum_sent"]["bits_per_second"] / 8
cpu = end.get("cpu_utilization_percent", {})
print("RESULT iperf3 streams=1 secs=%s GBps=%.3f Gbps=%.2f sent_GBps=%.3f cpu_client_pct=%.0f cpu_server_pct=%.0f"
      % (sys.argv[2], received / 1e9, received * 8 / 1e9, sent / 1e9,
         cpu.get("host_total", -1), cpu.get("remote_total", -1)))
PY
