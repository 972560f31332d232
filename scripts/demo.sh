#!/bin/sh
# The README's demo command: installs dependencies (idempotent), builds Release, and runs qcal on
# the Fashion-MNIST model and images shipped under jobs/data/.
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then ./scripts/deps.sh; else sudo ./scripts/deps.sh; fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
Q=build/qcal
D=jobs/data/fmnist
for i in 00000 00001 00002; do
    echo "== qcal run on $D/calib/calib_$i.png"
    $Q run --model $D/fmnist_cnn.onnx --input $D/calib/calib_$i.png --channels gray \
        --mean 0.2860 --std 0.3530
done
