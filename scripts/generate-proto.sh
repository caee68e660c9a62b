#!/usr/bin/env bash
# Regenerates Sources/ContainerdAPI from proto/. Run it after editing a .proto file and commit
# the result: the normal build never runs protoc.
#
# Needs protoc (Debian's protobuf-compiler). The two Swift plugins are built in release mode
# from the grpc-swift-protobuf version Package.swift names, in .build-protoc/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."

GRPC_SWIFT_PROTOBUF_VERSION=2.4.1
tools=.build-protoc
command -v protoc >/dev/null || { echo "generate-proto: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }

if [ ! -x "$tools/bin/protoc-gen-grpc-swift-2" ] || [ ! -x "$tools/bin/protoc-gen-swift" ]; then
  mkdir -p "$tools/bin"
  if [ ! -d "$tools/grpc-swift-protobuf" ]; then
    git clone -q --depth 1 --branch "$GRPC_SWIFT_PROTOBUF_VERSION" \
      https://github.com/grpc/grpc-swift-protobuf.git "$tools/grpc-swift-protobuf"
  fi
  (cd "$tools/grpc-swift-protobuf" &&
    swift build -c release --static-swift-stdlib --product protoc-gen-grpc-swift-2 &&
    swift build -c release --static-swift-stdlib --product protoc-gen-swift)
  cp "$tools/grpc-swift-protobuf/.build/release/protoc-gen-grpc-swift-2" \
     "$tools/grpc-swift-protobuf/.build/release/protoc-gen-swift" "$tools/bin/"
fi

out=Sources/ContainerdAPI
rm -f "$out"/*.pb.swift "$out"/*.grpc.swift
mkdir -p "$out"
protos=$(cd proto && find containerd -name '*.proto' | sort)
# Package visibility: the generated types are usable by ContainerdClient but are not part of
# any product's public API.
(cd proto && protoc -I . -I /usr/include \
  --plugin=protoc-gen-swift="../$tools/bin/protoc-gen-swift" \
  --plugin=protoc-gen-grpc-swift="../$tools/bin/protoc-gen-grpc-swift-2" \
  --swift_out="../$out" --swift_opt=Visibility=Package,FileNaming=PathToUnderscores \
  --grpc-swift_out="../$out" \
  --grpc-swift_opt=Visibility=Package,FileNaming=PathToUnderscores,Client=true,Server=false \
  $protos)
# protoc-gen-grpc-swift-2 writes a file for every .proto; keep only those with a service.
for f in "$out"/*.grpc.swift; do grep -q 'struct Client' "$f" || rm "$f"; done
echo "generated $(ls "$out" | wc -l) files in $out"
