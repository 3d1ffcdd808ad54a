#!/bin/bash
# Loopback TCP throughput, the ceiling for any all-reduce between processes on one
# host: an iperf3 server and one client stream on 127.0.0.1 for SECONDS.
#
#   bench/loopback_tcp.sh [SECONDS=5] [PORT=5299] [one|both]
#
# one (default): one stream, one direction.
# Prints: RESULT iperf3 streams=1 secs=S GBps=<received bytes/s / 1e9> Gbps=..
#         sent_GBps=.. cpu_client_pct=.. cpu_server_pct=..
# both: one stream each way at once (iperf3 --bidir), what a 2-rank ring does, each
# rank sending and receiving the same bytes on the same CPUs.
# Prints: RESULT iperf3_bidir streams=2 secs=S GBps=<mean of the two directions>
#         forward_GBps=.. reverse_GBps=.. total_GBps=..
# Needs iperf3 and python3 (to read iperf3's JSON).
set -euo pipefail
seconds=${1:-5}
port=${2:-5299}
mode=${3:-one}
case $seconds$port in *[!0-9]*|'') echo "loopback_tcp.sh: SECONDS and PORT must be integers" >&2; exit 2 ;; esac
case $mode in one) bidir= ;; both) bidir=--bidir ;; *) echo "loopback_tcp.sh: mode must be one or both, got $mode" >&2; exit 2 ;; esac
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
timeout $((seconds + 30)) iperf3 --client 127.0.0.1 --port "$port" --time "$seconds" $bidir --json >"$report" || true
[ -s "$report" ] || { echo "loopback_tcp.sh: iperf3 gave no report (port $port in use?)" >&2; exit 1; }
wait "$server" 2>/dev/null || true
server=
/usr/bin/python3 - "$report" "$seconds" "$mode" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
if "error" in run:
    sys.exit("loopback_tcp.sh: iperf3: " + run["error"])
end = run["end"]
if sys.argv[3] == "both":
    forward = end["sum_received"]["bits_per_second"] / 8
    reverse = end["sum_received_bidir_reverse"]["bits_per_second"] / 8
    print("RESULT iperf3_bidir streams=2 secs=%s GBps=%.3f forward_GBps=%.3f reverse_GBps=%.3f total_GBps=%.3f"
          % (sys.argv[2], (forward + reverse) / 2e9, forward / 1e9, reverse / 1e9, (forward + reverse) / 1e9))
    sys.exit(0)
received = end["sum_received"]["bits_per_second"] / 8
sent = end["sum_sent"]["bits_per_second"] / 8
cpu = end.get("cpu_utilization_percent", {})
print("RESULT iperf3 streams=1 secs=%s GBps=%.3f Gbps=%.2f sent_GBps=%.3f cpu_client_pct=%.0f cpu_server_pct=%.0f"
      % (sys.argv[2], received / 1e9, received * 8 / 1e9, sent / 1e9,
         cpu.get("host_total", -1), cpu.get("remote_total", -1)))
PY
