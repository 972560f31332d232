#!/bin/sh
# Builds and runs every test: installs dependencies (idempotent), builds Release and runs the whole
# ctest suite, then builds Debug with AddressSanitizer + UndefinedBehaviorSanitizer and runs the
# unit and conformance tests under it. This is the README's test command; .ci/run runs it.
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then ./scripts/deps.sh; else sudo ./scripts/deps.sh; fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

# Warning-free under clang too (-Werror): a compile-only Release build.
CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release
cmake --build build-clang -j"$jobs"

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DQCAL_SANITIZE=ON
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j"$jobs" -L 'unit|conformance')
