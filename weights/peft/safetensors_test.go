package peft_test

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/fastslow/fastslow/weights/peft"
)

// file builds a safetensors file from a JSON header and data, as the format defines it.
func file(header string, data ...byte) []byte {
	for len(header)%8 != 0 {
		header += " "
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(out, header...), data...)
}

func u16s(v ...uint16) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint16(b, x)
	}
	return b
}

// TestReadSafetensorsDTypes decodes each float dtype to exact values, with the header's keys in another
// order than the data (the reference writer orders data by dtype alignment, then name).
func TestReadSafetensorsDTypes(t *testing.T) {
	f64 := binary.LittleEndian.AppendUint64(nil, math.Float64bits(-2.5))
	f32 := binary.LittleEndian.AppendUint32(nil, math.Float32bits(0.1))
	data := append(append(append(f64, f32...), u16s(0x3c00, 0xc000, 0x0001)...), u16s(0x3f80, 0x4049)...)
	b := file(`{"a_bf16":{"dtype":"BF16","shape":[2],"data_offsets":[18,22]},"b_f16":{"dtype":"F16","shape":[3],"data_offsets":[12,18]},`+
		`"c_f32":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]},"d_f64":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"__metadata__":{"format":"pt"}}`, data...)
	ts, meta, err := peft.ReadSafetensors(b)
	if err != nil {
		t.Fatal(err)
	}
	if meta["format"] != "pt" {
		t.Errorf("metadata %v", meta)
	}
	for name, want := range map[string][]float32{
		"a_bf16": {1, 3.140625},
		"b_f16":  {1, -2, 5.9604645e-08}, // the smallest F16 subnormal
		"c_f32":  {0.1},
		"d_f64":  {-2.5},
	} {
		if got := ts[name].Data; !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if !slices.Equal(ts["c_f32"].Shape, []int{1, 1}) || ts["b_f16"].DType != "F16" {
		t.Errorf("c_f32 shape %v, b_f16 dtype %s", ts["c_f32"].Shape, ts["b_f16"].DType)
	}
	for _, bad := range [][]byte{b[:len(b)-1], append(b, 0), b[:7]} {
		if _, _, err := peft.ReadSafetensors(bad); !errors.Is(err, peft.ErrSafetensors) {
			t.Errorf("%d bytes: error %v, want ErrSafetensors", len(bad), err)
		}
	}
}
