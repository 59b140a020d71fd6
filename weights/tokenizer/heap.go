package tokenizer

// heapPush adds x to q, a binary heap whose first element is the least under
// less, and returns the heap. The merge queues of both tokenizers and of
// training are such heaps.
func heapPush[T any](q []T, x T, less func(a, b T) bool) []T {
	q = append(q, x)
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !less(q[i], q[p]) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
	return q
}

// heapPop removes the least element of the non-empty heap q and returns it
// and the heap.
func heapPop[T any](q []T, less func(a, b T) bool) (T, []T) {
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	heapDown(q, 0, less)
	return top, q
}

// heapDown moves q[i] down to its place below i; calling it for every i from
// len(q)/2-1 down to 0 makes any slice a heap.
func heapDown[T any](q []T, i int, less func(a, b T) bool) {
	for {
		l := 2*i + 1
		if l >= len(q) {
			return
		}
		m := l
		if r := l + 1; r < len(q) && less(q[r], q[l]) {
			m = r
		}
		if !less(q[m], q[i]) {
			return
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
}
