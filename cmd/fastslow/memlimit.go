package main

import (
	"strconv"
	"strings"
)

// parseBytes reads a memory size: a number of bytes, or a number with a unit K, M, G, T (powers of 1000,
// with an optional B) or KiB, MiB, GiB, TiB (powers of 1024), such as "12GB", "3.5GiB" or "4000M". An
// empty string or "0" means no limit (0).
func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, nil
	}
	units := []struct {
		suffix string
		mul    float64
	}{
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
		{"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"t", 1e12}, {"b", 1},
	}
	mul := 1.0
	lower := strings.ToLower(t)
	for _, u := range units {
		if strings.HasSuffix(lower, u.suffix) {
			mul, t = u.mul, strings.TrimSpace(t[:len(t)-len(u.suffix)])
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || v*mul > 1<<62 {
		return 0, usagef("memory size %q: want bytes or a number with K, M, G, T, KiB, MiB, GiB or TiB", s)
	}
	return int64(v * mul), nil
}
