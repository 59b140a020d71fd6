package gguf

import "fmt"

// Type is a ggml tensor element type as stored in GGUF tensor infos.
type Type uint32

// The ggml tensor types. Values are fixed by the file format.
const (
	TypeF32     Type = 0
	TypeF16     Type = 1
	TypeQ4_0    Type = 2
	TypeQ4_1    Type = 3
	TypeQ5_0    Type = 6
	TypeQ5_1    Type = 7
	TypeQ8_0    Type = 8
	TypeQ8_1    Type = 9
	TypeQ2_K    Type = 10
	TypeQ3_K    Type = 11
	TypeQ4_K    Type = 12
	TypeQ5_K    Type = 13
	TypeQ6_K    Type = 14
	TypeQ8_K    Type = 15
	TypeIQ2_XXS Type = 16
	TypeIQ2_XS  Type = 17
	TypeIQ3_XXS Type = 18
	TypeIQ1_S   Type = 19
	TypeIQ4_NL  Type = 20
	TypeIQ3_S   Type = 21
	TypeIQ2_S   Type = 22
	TypeIQ4_XS  Type = 23
	TypeI8      Type = 24
	TypeI16     Type = 25
	TypeI32     Type = 26
	TypeI64     Type = 27
	TypeF64     Type = 28
	TypeIQ1_M   Type = 29
	TypeBF16    Type = 30
	TypeTQ1_0   Type = 34
	TypeTQ2_0   Type = 35
)

// qkK is QK_K, the number of elements in a ggml super-block.
const qkK = 256

type typeTraits struct {
	name       string
	blockSize  uint64
	blockBytes uint64
}

// traits mirrors ggml's type_traits table (ggml.c) for the types a GGUF file
// may hold; removed and unassigned numbers are absent.
var traits = map[Type]typeTraits{
	TypeF32:     {"f32", 1, 4},
	TypeF16:     {"f16", 1, 2},
	TypeQ4_0:    {"q4_0", 32, 2 + 16},
	TypeQ4_1:    {"q4_1", 32, 2 + 2 + 16},
	TypeQ5_0:    {"q5_0", 32, 2 + 4 + 16},
	TypeQ5_1:    {"q5_1", 32, 2 + 2 + 4 + 16},
	TypeQ8_0:    {"q8_0", 32, 2 + 32},
	TypeQ8_1:    {"q8_1", 32, 2 + 2 + 32},
	TypeQ2_K:    {"q2_K", qkK, qkK/16 + qkK/4 + 2 + 2},
	TypeQ3_K:    {"q3_K", qkK, qkK/8 + qkK/4 + 12 + 2},
	TypeQ4_K:    {"q4_K", qkK, 2 + 2 + 12 + qkK/2},
	TypeQ5_K:    {"q5_K", qkK, 2 + 2 + 12 + qkK/8 + qkK/2},
	TypeQ6_K:    {"q6_K", qkK, qkK/2 + qkK/4 + qkK/16 + 2},
	TypeQ8_K:    {"q8_K", qkK, 4 + qkK + qkK/16*2},
	TypeIQ2_XXS: {"iq2_xxs", qkK, 2 + qkK/8*2},
	TypeIQ2_XS:  {"iq2_xs", qkK, 2 + qkK/8*2 + qkK/32},
	TypeIQ3_XXS: {"iq3_xxs", qkK, 2 + 3*(qkK/8)},
	TypeIQ1_S:   {"iq1_s", qkK, 2 + qkK/8 + qkK/16},
	TypeIQ4_NL:  {"iq4_nl", 32, 2 + 16},
	TypeIQ3_S:   {"iq3_s", qkK, 2 + 13*(qkK/32) + qkK/64},
	TypeIQ2_S:   {"iq2_s", qkK, 2 + qkK/4 + qkK/16},
	TypeIQ4_XS:  {"iq4_xs", qkK, 2 + 2 + qkK/64 + qkK/2},
	TypeI8:      {"i8", 1, 1},
	TypeI16:     {"i16", 1, 2},
	TypeI32:     {"i32", 1, 4},
	TypeI64:     {"i64", 1, 8},
	TypeF64:     {"f64", 1, 8},
	TypeIQ1_M:   {"iq1_m", qkK, qkK/8 + qkK/16 + qkK/32},
	TypeBF16:    {"bf16", 1, 2},
	TypeTQ1_0:   {"tq1_0", qkK, (qkK-4*qkK/64)/5 + qkK/64 + 2},
	TypeTQ2_0:   {"tq2_0", qkK, qkK/4 + 2},
}

// String returns ggml's name for t ("f32", "q4_K", ...), or "Type(n)" for an
// unknown type.
func (t Type) String() string {
	if tr, ok := traits[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("Type(%d)", uint32(t))
}

// Known reports whether t is a tensor type a GGUF file may hold.
func (t Type) Known() bool {
	_, ok := traits[t]
	return ok
}

// BlockSize returns the number of elements in one block of t (1 for plain
// types, 32 or 256 for quantized ones), or 0 if t is unknown.
func (t Type) BlockSize() uint64 { return traits[t].blockSize }

// BlockBytes returns the size in bytes of one block of t, or 0 if t is
// unknown.
func (t Type) BlockBytes() uint64 { return traits[t].blockBytes }

// RowBytes returns the size in bytes of n consecutive elements of type t.
// It returns 0 if t is unknown or n is not a multiple of t.BlockSize().
func (t Type) RowBytes(n uint64) uint64 {
	tr, ok := traits[t]
	if !ok || n%tr.blockSize != 0 {
		return 0
	}
	return n / tr.blockSize * tr.blockBytes
}
