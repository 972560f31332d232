#!/bin/sh
# The README's demo command: installs dependencies (idempotent), builds Release, and runs a 2-rank
# MPI calibration of the Fashion-MNIST model on the 64 images shipped under jobs/data/ from the
# job file jobs/demo.yaml, writing demo-out/stats.h5 and two encoding exports and printing the
# per-tensor table.
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then ./scripts/deps.sh; else sudo ./scripts/deps.sh; fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
D=jobs/data/fmnist
mkdir -p demo-out
echo "== qcal run: one image through the model"
build/qcal run --model $D/fmnist_cnn.onnx --input $D/calib/calib_00000.png --channels gray \
    --mean 0.2860 --std 0.3530
echo "== mpirun -n 2 qcal calibrate jobs/demo.yaml: $(ls $D/calib | wc -l) images, two encoding sets"
mpirun -n 2 build/qcal calibrate jobs/demo.yaml
echo "== wrote demo-out/stats.h5, demo-out/encodings.json (AIMET 0.6.1) and"
echo "   demo-out/encodings-percentile.json (AIMET 1.0.0); try: build/qcal inspect demo-out/stats.h5"
