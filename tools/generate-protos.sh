#!/usr/bin/env bash
# Regenerate the committed *_pb2.py and *_pb2.pyi next to the .proto files of each directory
# given (make proto: python/drafast/kubelet/proto and python/drafast/nri/proto).
#
#   tools/generate-protos.sh DIR...        PYTHON: the interpreter (default python3)
#   OUT_ROOT=/tmp/x/python tools/generate-protos.sh DIR...
#                                          write below another source root (make proto-check
#                                          diffs against it)
#
# The interpreter's environment must have the pinned grpcio-tools and mypy-protobuf
# (requirements-dev.txt) so that the output is byte-for-byte reproducible. Stubs come from
# mypy-protobuf rather than protoc's --pyi_out because those pass mypy --strict and type the
# HasField()/ClearField() arguments. Protos are compiled with the python/ source root as include
# path, so descriptor file names are "drafast/<package>/proto/..." and cannot clash in the
# process-wide descriptor pool (the health protos use the bare packages "v1alpha1" and "v1",
# the ttrpc proto "ttrpc"). No *_pb2_grpc.py is generated: drafast.kubelet registers its
# handlers by method path and drafast.nri.ttrpc dispatches by service and method name itself.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../python" && pwd)"
out="${OUT_ROOT:-$root}"
python="${PYTHON:-python3}"
bindir="$("$python" -c 'import os, sys; print(os.path.dirname(sys.executable))')"
plugin="$bindir/protoc-gen-mypy"
[[ -x "$plugin" ]] || plugin="$(command -v protoc-gen-mypy)"

for dir in "$@"; do
    here="$(cd "$dir" && pwd)"
    rel="${here#"$root"/}"
    echo "==> protos in $rel"
    mkdir -p "$out/$rel"
    # Start clean so that a removed .proto leaves no stale module behind.
    find "$out/$rel" \( -name '*_pb2.py' -o -name '*_pb2.pyi' \) -delete
    mapfile -t protos < <(find "$here" -name '*.proto' | LC_ALL=C sort)
    "$python" -m grpc_tools.protoc -I"$root" --plugin=protoc-gen-mypy="$plugin" \
        --python_out="$out" --mypy_out="$out" "${protos[@]}" \
        2> >(grep -v "^Writing mypy to" >&2)
done
