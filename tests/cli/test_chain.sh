#!/bin/bash
# Loading and preparing is linear in the model size (issue 10): a chain of 80 000 Relu nodes
# (tests/data/hostile/make_chain.py, 2.7 MB), in file order and reversed (the loader sorts it),
# must load, prepare and run in under 5 s each (loosely: about 0.3 s on the development machine;
# it took 34-67 s when the topological sort and the arena planner were quadratic). The output must
# be the input's ReLU.
set -u
Q=${1:?usage: test_chain.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
N=80000

$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.array([[-1, 0, 2, -3]], np.float32))" \
    "$W/x.npy"
for order in sorted shuffled; do
    flag=()
    [ "$order" = shuffled ] && flag=(--shuffled)
    $PY "$HERE/data/hostile/make_chain.py" "$N" "$W/chain.onnx" "${flag[@]}" ||
        { bad "make_chain.py"; break; }
    t0=$(date +%s%N)
    timeout 120 "$Q" run --model "$W/chain.onnx" --input "$W/x.npy" >"$W/run.log" 2>&1
    rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    echo "chain of $N Relu ($order): exit $rc in $ms ms"
    if [ "$rc" -eq 0 ] && grep -q "^y  float32 \[1x4\]: 0 0 2 0 " "$W/run.log" &&
        [ "$ms" -lt 5000 ]; then ok; else
        bad "$order chain: exit $rc, $ms ms: $(tail -n 1 "$W/run.log")"
    fi
done
report
