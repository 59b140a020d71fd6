package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"golang.org/x/sys/cpu"
)

// fastestCore returns the OpenBLAS kernels (an OPENBLAS_CORETYPE name) that run fastest on this CPU: SkylakeX
// on any CPU with AVX-512 (F, BW, DQ, VL and CD, which they use), Haswell on one with AVX2 and FMA, and ""
// (OpenBLAS's own choice) on any other. OpenBLAS's own detection may pick slower ones: 0.3.21 names a Zen 2
// EPYC "Zen" (Haswell's kernels), an AVX-512 EPYC "Zen" too, and a CPU newer than itself "Prescott" (SSE3).
func fastestCore() string {
	x := cpu.X86
	switch {
	case x.HasAVX512F && x.HasAVX512BW && x.HasAVX512DQ && x.HasAVX512VL && x.HasAVX512CD:
		return "SkylakeX"
	case x.HasAVX2 && x.HasFMA:
		return "Haswell"
	}
	return ""
}

// resolveCore turns the -openblas-core flag into the OPENBLAS_CORETYPE the PyTorch and OpenBLAS sides get:
// "auto" becomes fastestCore (or "detect" when it has none), "detect" and explicit names stay. A core whose
// instructions this CPU lacks is refused, since OpenBLAS would die of an illegal instruction.
func resolveCore(flag string) (string, error) {
	switch strings.ToLower(flag) {
	case "auto":
		if c := fastestCore(); c != "" {
			return c, nil
		}
		return "detect", nil
	case "detect", "":
		return "detect", nil
	case "skylakex", "cooperlake", "sapphirerapids":
		if !cpu.X86.HasAVX512F {
			return "", fmt.Errorf("-openblas-core %s needs AVX-512, which this CPU lacks", flag)
		}
	case "haswell", "zen":
		if !cpu.X86.HasAVX2 {
			return "", fmt.Errorf("-openblas-core %s needs AVX2, which this CPU lacks", flag)
		}
	}
	return flag, nil
}

// checkCore verifies that the OpenBLAS torchref.py found loaded runs the kernels asked for (the report names
// them, the library and PyTorch's BLAS from what torchref.py printed).
func (b *bench) checkCore(blas map[string]any) error {
	got, _ := blas["openblas_core"].(string)
	want := b.o.openblasCore
	if got == "" {
		return fmt.Errorf("torchref.py found no OpenBLAS loaded in PyTorch (BLAS libraries %v): the comparison "+
			"is meant against OpenBLAS", blas["blas_libs"])
	}
	if want != "detect" && !strings.EqualFold(got, want) {
		return fmt.Errorf("OpenBLAS runs its %s kernels, not the %s ones OPENBLAS_CORETYPE asked for", got, want)
	}
	return nil
}

// systemPython is the interpreter Debian's python3-torch installs into.
const systemPython = "/usr/bin/python3"

// findTorch returns the Python interpreter to run torchref.py with: python if it imports torch and numpy;
// else, when python is the default "python3" (which a version manager may shadow), the system's
// /usr/bin/python3 if that one does.
func findTorch(ctx context.Context, python string) (string, error) {
	out, err := exec.CommandContext(ctx, python, "-c", "import torch, numpy").CombinedOutput()
	if err == nil {
		return python, nil
	}
	if python == "python3" {
		if exec.CommandContext(ctx, systemPython, "-c", "import torch, numpy").Run() == nil {
			return systemPython, nil
		}
	}
	return "", fmt.Errorf("%s -c 'import torch, numpy': %v %s", python, err, strings.TrimSpace(string(out)))
}
