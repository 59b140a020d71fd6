#!/bin/sh
# Regenerates the golden files from ggml's C sources (see gen.c), with the
# ggml that Ollama v0.6.5 vendors, then checks that the ggml of Ollama v0.17.4
# (when its module source is present) writes the same files: the reference
# quantizers did not change between the two (verified 2026-12-03).
set -e
cd "$(dirname "$0")"
MOD=$(go env GOMODCACHE)/github.com/ollama/ollama
build() {
	# No -march flags: the portable fp16 code and no FMA contraction, like a
	# generic x86-64 build of ggml-base.
	gcc -O2 -std=gnu11 -I"$1/include" -I"$1/src" -I"$1/src/ggml-cpu" \
		-o "$2" gen.c "$1/src/ggml-quants.c" -lm
}
GGML=${GGML:-$MOD@v0.6.5/ml/backend/ggml/ggml}
build "$GGML" /tmp/gguf-gen
/tmp/gguf-gen
rm -f /tmp/gguf-gen
NEW=$MOD@v0.17.4/ml/backend/ggml/ggml
if [ -d "$NEW" ]; then
	tmp=$(mktemp -d)
	build "$NEW" "$tmp/gen"
	(cd "$tmp" && cp "$OLDPWD/gen.c" . && ./gen)
	for f in *.q *.f32 *.rq hashes.txt input.bin; do
		cmp "$f" "$tmp/$f" || { echo "ggml of v0.17.4 differs on $f" >&2; exit 1; }
	done
	rm -rf "$tmp"
	echo "ggml of v0.6.5 and v0.17.4 agree on every golden file"
fi
