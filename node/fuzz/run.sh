#!/usr/bin/env bash
# Runs every cargo-fuzz target of node/fuzz and prints the executions of each.
#
#   node/fuzz/run.sh                 # long run: 300 s per target, corpus grows in corpus/<t>/
#   node/fuzz/run.sh --seconds 60    # another length per target
#   node/fuzz/run.sh --short         # CI regression pass: every seed of seeds/<t>/ once, no
#                                    # mutation, bounded (a few seconds per target)
#   node/fuzz/run.sh --seeds         # the same regression pass on the STABLE toolchain, no
#                                    # cargo-fuzz, no instrumentation: a plain build whose
#                                    # libFuzzer main runs each seed file once (what .ci/run does)
#   node/fuzz/run.sh scope wal       # only these targets (with any mode)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Builds with
# `nice -n 15` into node/fuzz/target/da. A crash leaves its input in artifacts/<target>/ and
# makes the script exit 1 after the other targets ran; reproduce it with
#   cd node/fuzz && cargo +nightly fuzz run --fuzz-dir . <target> artifacts/<target>/crash-…
set -euo pipefail
cd "$(dirname "$0")"

seconds=300
short=false
seeds=false
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --short) short=true ;;
    --seeds) seeds=true ;;
    --seconds) seconds="$2"; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
picked=${#targets[@]}
if [ "$picked" -eq 0 ]; then
  read -r -a targets <<<"$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^ass-node-fuzz$' | tr '\n' ' ')"
fi

if $seeds; then
  # Stable, uninstrumented: every property still asserts (a failed assertion aborts: exit 77),
  # only the coverage feedback is missing, which a pass over fixed inputs doesn't need.
  export CARGO_TARGET_DIR="$PWD/target/stable"
  start=$(date +%s)
  cargo build --locked --bins 2>&1 | tail -n 1
  failed=()
  for t in "${targets[@]}"; do
    n=$(ls "seeds/$t" | wc -l)
    if "$CARGO_TARGET_DIR/debug/$t" "seeds/$t"/* >"target/stable/seeds-$t.log" 2>&1; then
      printf '%-18s %4s seeds ok\n' "$t" "$n"
    else
      printf '%-18s %4s seeds FAILED (see node/fuzz/target/stable/seeds-%s.log)\n' "$t" "$n" "$t"
      failed+=("$t")
    fi
  done
  echo "total: $(( $(date +%s) - start )) s"
  if [ ${#failed[@]} -gt 0 ]; then
    echo "run.sh: seeds failing in: ${failed[*]}" >&2
    exit 1
  fi
  exit 0
fi

# Release with debug assertions (cargo-fuzz's default without -O): overflow checks stay on,
# so an arithmetic overflow on hostile input is a crash here, as in a debug build of the node.
export CARGO_TARGET_DIR="$PWD/target/da"
start=$(date +%s)
build() { nice -n 15 cargo +nightly fuzz build --fuzz-dir . "$@" 2>&1 | tail -n 3; }
if [ "$picked" -eq 0 ]; then
  build || { echo "run.sh: build failed" >&2; exit 2; }
else
  for t in "${targets[@]}"; do build "$t" || { echo "run.sh: build of $t failed" >&2; exit 2; }; done
fi
build_s=$(( $(date +%s) - start ))
echo "build: ${build_s} s"

bin_dir="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"
failed=()
printf '%-18s %12s %8s %8s %s\n' target executions exec/s corpus result
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="artifacts/$t/last-run.log"
  if $short; then
    # -runs=0 over the seed files: each runs once (a regression pass, no mutation).
    args=(-runs=0 "seeds/$t")
  else
    args=(-max_total_time="$seconds" -print_final_stats=1 -max_len=4096 "corpus/$t" "seeds/$t")
  fi
  set +e
  nice -n 15 "$bin_dir/$t" -artifact_prefix="artifacts/$t/" -print_final_stats=1 "${args[@]}" \
    >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  units=$(ls "corpus/$t" 2>/dev/null | wc -l)
  if $short; then units=$(ls "seeds/$t" | wc -l); fi
  result=ok
  if [ "$rc" -ne 0 ]; then result="CRASH (rc $rc, see $log)"; failed+=("$t"); fi
  printf '%-18s %12s %8s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$units" "$result"
done
echo "total: $(( $(date +%s) - start )) s (build ${build_s} s)"
if [ ${#failed[@]} -gt 0 ]; then
  echo "run.sh: crashes in: ${failed[*]}" >&2
  exit 1
fi
