package gguf

import (
	"errors"
	"fmt"
	"math"
)

// Errors returned by Metadata accessors, wrapped with the key's name.
var (
	// ErrKeyNotFound means the metadata has no such key.
	ErrKeyNotFound = errors.New("gguf: key not found")
	// ErrWrongType means the key exists but its value has another type or
	// does not fit the requested one.
	ErrWrongType = errors.New("gguf: wrong value type")
)

// KV is one metadata entry. Value is one of uint8, int8, uint16, int16,
// uint32, int32, uint64, int64, float32, float64, bool, string, or a slice of
// one of them.
type KV struct {
	Key   string
	Value any
}

// Metadata is the ordered key-value metadata of a GGUF file. The zero value
// is empty and ready to use. Values are shared, not copied: treat slices
// returned by Get as read-only.
type Metadata struct {
	kvs   []KV
	index map[string]int
}

// Len returns the number of entries.
func (m Metadata) Len() int { return len(m.kvs) }

// Get returns the value stored under key.
func (m Metadata) Get(key string) (any, bool) {
	i, ok := m.index[key]
	if !ok {
		return nil, false
	}
	return m.kvs[i].Value, true
}

// Keys returns the keys in file order.
func (m Metadata) Keys() []string {
	keys := make([]string, len(m.kvs))
	for i, kv := range m.kvs {
		keys[i] = kv.Key
	}
	return keys
}

// All returns a copy of the entries in file order.
func (m Metadata) All() []KV {
	return append([]KV(nil), m.kvs...)
}

// set adds or replaces key, keeping the position of an existing key.
func (m *Metadata) set(key string, v any) {
	if i, ok := m.index[key]; ok {
		m.kvs[i].Value = v
		return
	}
	if m.index == nil {
		m.index = make(map[string]int)
	}
	m.index[key] = len(m.kvs)
	m.kvs = append(m.kvs, KV{key, v})
}

// remove deletes key and reports whether it was present.
func (m *Metadata) remove(key string) bool {
	i, ok := m.index[key]
	if !ok {
		return false
	}
	m.kvs = append(m.kvs[:i], m.kvs[i+1:]...)
	delete(m.index, key)
	for j := i; j < len(m.kvs); j++ {
		m.index[m.kvs[j].Key] = j
	}
	return true
}

func (m Metadata) lookup(key, want string) (any, error) {
	v, ok := m.Get(key)
	if !ok {
		return nil, fmt.Errorf("%w: %q (want %s)", ErrKeyNotFound, key, want)
	}
	return v, nil
}

func wrongType(key, want string, v any) error {
	return fmt.Errorf("%w: key %q: want %s, found %s", ErrWrongType, key, want, typeName(v))
}

func outOfRange(key, want string, v any) error {
	return fmt.Errorf("%w: key %q: %s value %v does not fit %s", ErrWrongType, key, typeName(v), v, want)
}

// String returns the string stored under key.
func (m Metadata) String(key string) (string, error) {
	v, err := m.lookup(key, "string")
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", wrongType(key, "string", v)
	}
	return s, nil
}

// Bool returns the bool stored under key.
func (m Metadata) Bool(key string) (bool, error) {
	v, err := m.lookup(key, "bool")
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, wrongType(key, "bool", v)
	}
	return b, nil
}

// Uint32 returns the integer stored under key, which may have any integer
// type as long as its value fits in a uint32.
func (m Metadata) Uint32(key string) (uint32, error) {
	v, err := m.lookup(key, "uint32")
	if err != nil {
		return 0, err
	}
	n, err := toUnsigned(key, "uint32", v, math.MaxUint32)
	return uint32(n), err
}

// Uint64 returns the integer stored under key, which may have any integer
// type as long as its value is not negative.
func (m Metadata) Uint64(key string) (uint64, error) {
	v, err := m.lookup(key, "uint64")
	if err != nil {
		return 0, err
	}
	return toUnsigned(key, "uint64", v, math.MaxUint64)
}

// Int returns the integer stored under key, which may have any integer type
// as long as its value fits in an int.
func (m Metadata) Int(key string) (int, error) {
	v, err := m.lookup(key, "int")
	if err != nil {
		return 0, err
	}
	n, err := toSigned(key, "int", v, math.MinInt, math.MaxInt)
	return int(n), err
}

// Int64 returns the integer stored under key, which may have any integer
// type as long as its value fits in an int64.
func (m Metadata) Int64(key string) (int64, error) {
	v, err := m.lookup(key, "int64")
	if err != nil {
		return 0, err
	}
	return toSigned(key, "int64", v, math.MinInt64, math.MaxInt64)
}

// Float32 returns the number stored under key as a float32; the value may
// be a float32 or a float64 (rounded to the nearest float32).
func (m Metadata) Float32(key string) (float32, error) {
	v, err := m.lookup(key, "float32")
	if err != nil {
		return 0, err
	}
	switch f := v.(type) {
	case float32:
		return f, nil
	case float64:
		return float32(f), nil
	}
	return 0, wrongType(key, "float32", v)
}

// Float64 returns the number stored under key as a float64; the value may
// be a float32 or a float64.
func (m Metadata) Float64(key string) (float64, error) {
	v, err := m.lookup(key, "float64")
	if err != nil {
		return 0, err
	}
	switch f := v.(type) {
	case float32:
		return float64(f), nil
	case float64:
		return f, nil
	}
	return 0, wrongType(key, "float64", v)
}

// Strings returns the string array stored under key.
func (m Metadata) Strings(key string) ([]string, error) {
	v, err := m.lookup(key, "[]string")
	if err != nil {
		return nil, err
	}
	s, ok := v.([]string)
	if !ok {
		return nil, wrongType(key, "[]string", v)
	}
	return s, nil
}

// Int32s returns the integer array stored under key as a new []int32. The
// array may have any integer element type as long as every value fits.
func (m Metadata) Int32s(key string) ([]int32, error) {
	v, err := m.lookup(key, "[]int32")
	if err != nil {
		return nil, err
	}
	switch s := v.(type) {
	case []int32:
		return append([]int32(nil), s...), nil
	case []uint8:
		return toInt32s(s, key)
	case []int8:
		return toInt32s(s, key)
	case []uint16:
		return toInt32s(s, key)
	case []int16:
		return toInt32s(s, key)
	case []uint32:
		return toInt32s(s, key)
	case []uint64:
		return toInt32s(s, key)
	case []int64:
		return toInt32s(s, key)
	}
	return nil, wrongType(key, "[]int32", v)
}

// Float32s returns the float array stored under key as a new []float32; the
// elements may be float32 or float64.
func (m Metadata) Float32s(key string) ([]float32, error) {
	v, err := m.lookup(key, "[]float32")
	if err != nil {
		return nil, err
	}
	switch s := v.(type) {
	case []float32:
		return append([]float32(nil), s...), nil
	case []float64:
		out := make([]float32, len(s))
		for i, f := range s {
			out[i] = float32(f)
		}
		return out, nil
	}
	return nil, wrongType(key, "[]float32", v)
}

type integer interface {
	~uint8 | ~int8 | ~uint16 | ~int16 | ~uint32 | ~int32 | ~uint64 | ~int64
}

func toInt32s[S integer](s []S, key string) ([]int32, error) {
	out := make([]int32, len(s))
	for i, x := range s {
		y := int32(x)
		// The value fits when it survives the round trip with its sign.
		if S(y) != x || (y < 0) != (x < 0) {
			return nil, fmt.Errorf("%w: key %q: element %d (%v) of %s does not fit int32",
				ErrWrongType, key, i, x, typeName(s))
		}
		out[i] = y
	}
	return out, nil
}

// splitInt returns the sign and magnitude of v if v has an integer type.
func splitInt(v any) (neg bool, mag uint64, ok bool) {
	signed := func(x int64) (bool, uint64, bool) {
		if x < 0 {
			return true, uint64(-(x + 1)) + 1, true // no overflow at MinInt64
		}
		return false, uint64(x), true
	}
	switch x := v.(type) {
	case uint8:
		return false, uint64(x), true
	case uint16:
		return false, uint64(x), true
	case uint32:
		return false, uint64(x), true
	case uint64:
		return false, x, true
	case int8:
		return signed(int64(x))
	case int16:
		return signed(int64(x))
	case int32:
		return signed(int64(x))
	case int64:
		return signed(x)
	}
	return false, 0, false
}

// toUnsigned converts the integer v to a value in [0, hi].
func toUnsigned(key, want string, v any, hi uint64) (uint64, error) {
	neg, mag, ok := splitInt(v)
	switch {
	case !ok:
		return 0, wrongType(key, want, v)
	case neg || mag > hi:
		return 0, outOfRange(key, want, v)
	}
	return mag, nil
}

// toSigned converts the integer v to a value in [lo, hi], lo < 0 < hi.
func toSigned(key, want string, v any, lo, hi int64) (int64, error) {
	neg, mag, ok := splitInt(v)
	switch {
	case !ok:
		return 0, wrongType(key, want, v)
	case neg && mag > uint64(-(lo+1))+1, !neg && mag > uint64(hi):
		return 0, outOfRange(key, want, v)
	}
	if neg {
		return -int64(mag-1) - 1, nil // no overflow at lo = MinInt64
	}
	return int64(mag), nil
}

// typeName names the GGUF type of a metadata value for error messages.
func typeName(v any) string {
	switch v.(type) {
	case uint8:
		return "uint8"
	case int8:
		return "int8"
	case uint16:
		return "uint16"
	case int16:
		return "int16"
	case uint32:
		return "uint32"
	case int32:
		return "int32"
	case uint64:
		return "uint64"
	case int64:
		return "int64"
	case float32:
		return "float32"
	case float64:
		return "float64"
	case bool:
		return "bool"
	case string:
		return "string"
	case []uint8:
		return "[]uint8"
	case []int8:
		return "[]int8"
	case []uint16:
		return "[]uint16"
	case []int16:
		return "[]int16"
	case []uint32:
		return "[]uint32"
	case []int32:
		return "[]int32"
	case []uint64:
		return "[]uint64"
	case []int64:
		return "[]int64"
	case []float32:
		return "[]float32"
	case []float64:
		return "[]float64"
	case []bool:
		return "[]bool"
	case []string:
		return "[]string"
	case nil:
		return "nil"
	}
	return fmt.Sprintf("unsupported Go type %T", v)
}
