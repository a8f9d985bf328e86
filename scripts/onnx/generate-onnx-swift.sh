#!/usr/bin/env bash
# Regenerates Sources/Inference/Generated/onnx.pb.swift (committed; run only when upgrading onnx.proto).
# Needs protoc and the protoc-gen-swift plugin built from swift-protobuf (several minutes):
#   git clone /opt/swift-packages/apple/swift-protobuf.git /tmp/swift-protobuf && cd /tmp/swift-protobuf &&
#   git checkout 1.39.0 && swift build -c release --product protoc-gen-swift
set -euo pipefail
PLUGIN=${PLUGIN:-/tmp/swift-protobuf/.build/release/protoc-gen-swift}
VENV=${VENV:-.venv-tools}
proto=$(find "$VENV" -name onnx.proto | head -1)
version=$("$VENV/bin/python" -c 'import onnx; print(onnx.__version__)')
tmp=$(mktemp -d)
cp "$proto" "$tmp/onnx.proto"
(cd "$tmp" && protoc --plugin=protoc-gen-swift="$PLUGIN" --swift_out=. --swift_opt=Visibility=Internal onnx.proto)
out=Sources/Inference/Generated/onnx.pb.swift
{
  echo "// Generated ONCE from onnx.proto of the onnx $version Python wheel (proto2, package onnx) with $(protoc --version) and"
  echo "// protoc-gen-swift (Visibility=Internal). Regenerate with scripts/onnx/generate-onnx-swift.sh."
  cat "$tmp/onnx.pb.swift"
} > "$out"
rm -rf "$tmp"
echo "wrote $out"
