#!/bin/sh
# Assembles Seismo's runtime tree into $1 from a built checkout (the current
# directory): the compiled workspaces, the proto schema, and every node_modules
# folder, including those npm nests inside a workspace (it does, e.g. @nats-io/*
# under agent-proto/). node_modules/@seismo/* are links to the workspace folders,
# so the layout is kept as it is.
# Used by the Dockerfile's build stage, and by test/integration/runtime-layout.test.ts.
set -eu
out="$1"
mkdir -p "$out"
cp package.json "$out/"
cp -a node_modules "$out/"
for p in agent-proto daemon analyzer cli; do
  mkdir -p "$out/$p"
  cp -a "$p/package.json" "$p/dist" "$out/$p/"
  if [ -d "$p/node_modules" ]; then cp -a "$p/node_modules" "$out/$p/"; fi
done
cp -a agent-proto/proto "$out/agent-proto/"
cp -a cli/bin "$out/cli/"
