#!/bin/bash
# Run from anywhere; needs perf (Debian linux-perf), a built target/release/{loadbench,ass-node}.
# Then: python3 benches/profile/by_crate.py target/bench-out/OUT.perf.data
# prof.sh CASE C ROLE(leader|follower) OUT  — perf record the ROLE node during one loadbench case.
set -u
CASE=$1; C=$2; ROLE=$3; OUT=$4
cd "$(dirname "$0")/../.." && mkdir -p "${OUTDIR:-target/bench-out}"
LOG=${OUTDIR:-target/bench-out}/$OUT.lb.log
./target/release/loadbench --no-build --systems ass --cases $CASE --concurrency $C --duration 25s --warmup 3s --keys 10000 --base-port 18600 > ${OUTDIR:-target/bench-out}/$OUT.table 2> $LOG &
LB=$!
for i in $(seq 1 300); do grep -q "preloaded" $LOG && break; sleep 0.5; done
ADDR=$(grep -o "$ROLE 127.0.0.1:[0-9]*" $LOG | head -1 | awk -F: '{print $2}')
DIR=$(grep -o "/tmp/loadbench-[A-Za-z0-9]*" $LOG | head -1)
NODE=$((ADDR - 18600 + 1))
PID=$(python3 -c "import json;d=json.load(open('$DIR/ass/cluster.json'));print([n['pid'] for n in d['nodes'] if n['id']==$NODE][0])")
echo "profiling node $NODE pid $PID ($ROLE) case $CASE c=$C"
sleep 6
perf record ${PERF_ARGS:-} -F 499 -p $PID -o ${OUTDIR:-target/bench-out}/$OUT.perf.data -- sleep 8 2>&1 | tail -1
wait $LB
tail -3 $LOG
