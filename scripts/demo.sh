#!/bin/sh
# The README's demo command: installs dependencies (idempotent), builds Release, and runs a 2-rank
# MPI calibration of the Fashion-MNIST model on the 64 images shipped under jobs/data/, writing
# demo-out/stats.h5 and demo-out/encodings.json and printing the per-tensor table.
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
echo "== mpirun -n 2 qcal calibrate: $(ls $D/calib | wc -l) images"
mpirun -n 2 build/qcal calibrate --model $D/fmnist_cnn.onnx --data $D/calib --channels gray \
    --mean 0.2860 --std 0.3530 -o demo-out/stats.h5 --encodings demo-out/encodings.json
echo "== wrote demo-out/stats.h5 (h5dump -H demo-out/stats.h5) and demo-out/encodings.json"
