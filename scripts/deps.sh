#!/bin/sh
# Installs every Debian 12 package qcal needs to build, test and run its demo. Idempotent: a
# second run only checks. Run as root (or through sudo).
set -eu
PKGS="build-essential cmake pkg-config libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
 libprotobuf-c-dev protobuf-c-compiler libonnx-dev libonnx-testdata libpng-dev libjpeg62-turbo-dev
 libopenblas-dev libyaml-dev libjansson-dev libssl-dev python3-h5py python3-numpy python3-onnx clang"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "deps: installing$missing"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=900 $missing
else
    echo "deps: all packages present"
fi
