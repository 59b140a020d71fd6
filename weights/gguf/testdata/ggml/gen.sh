#!/bin/sh
# Regenerates the golden files from ggml's C sources (see gen.c).
set -e
cd "$(dirname "$0")"
GGML=${GGML:-$(go env GOMODCACHE)/github.com/ollama/ollama@v0.6.5/ml/backend/ggml/ggml}
# No -march flags: the portable fp16 code and no FMA contraction, like a
# generic x86-64 build of ggml-base.
gcc -O2 -std=gnu11 -I"$GGML/include" -I"$GGML/src" -I"$GGML/src/ggml-cpu" \
	-o /tmp/gguf-gen gen.c "$GGML/src/ggml-quants.c" -lm
/tmp/gguf-gen
rm -f /tmp/gguf-gen
