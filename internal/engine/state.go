package engine

import "sort"

// KeyedState is the state of a stateful operator: a map from an encoded
// key (the bytes of the row's key columns) to a value, kept in insertion
// order so that output is deterministic. Every stateful operator keeps its
// state in KeyedStates so that checkpoints (P3) can snapshot and restore it
// key by key, and a rescale can split it by key hash range.
type KeyedState[V any] struct {
	m     map[string]int
	keys  []string
	vals  []V
	alive []bool
	dead  int
}

// NewKeyedState returns an empty state.
func NewKeyedState[V any]() *KeyedState[V] {
	return &KeyedState[V]{m: map[string]int{}}
}

// Get returns the value of key.
func (s *KeyedState[V]) Get(key string) (V, bool) {
	if i, ok := s.m[key]; ok {
		return s.vals[i], true
	}
	var zero V
	return zero, false
}

// GetBytes is Get for a key being built in a byte buffer; it does not
// allocate.
func (s *KeyedState[V]) GetBytes(key []byte) (V, bool) {
	if i, ok := s.m[string(key)]; ok {
		return s.vals[i], true
	}
	var zero V
	return zero, false
}

// Put sets the value of key.
func (s *KeyedState[V]) Put(key string, v V) {
	if i, ok := s.m[key]; ok {
		s.vals[i] = v
		return
	}
	s.m[key] = len(s.keys)
	s.keys = append(s.keys, key)
	s.vals = append(s.vals, v)
	s.alive = append(s.alive, true)
}

// Delete removes key.
func (s *KeyedState[V]) Delete(key string) {
	i, ok := s.m[key]
	if !ok {
		return
	}
	delete(s.m, key)
	var zero V
	s.vals[i] = zero
	s.alive[i] = false
	s.dead++
	if s.dead > 64 && s.dead > len(s.keys)/2 {
		s.compact()
	}
}

func (s *KeyedState[V]) compact() {
	keys, vals := s.keys[:0], s.vals[:0]
	for i, k := range s.keys {
		if s.alive[i] {
			s.m[k] = len(keys)
			keys = append(keys, k)
			vals = append(vals, s.vals[i])
		}
	}
	s.keys, s.vals = keys, vals
	s.alive = s.alive[:len(keys)]
	for i := range s.alive {
		s.alive[i] = true
	}
	s.dead = 0
}

// Len is the number of keys.
func (s *KeyedState[V]) Len() int { return len(s.m) }

// Range calls f for every key in insertion order until it returns false.
func (s *KeyedState[V]) Range(f func(key string, v V) bool) {
	for i, k := range s.keys {
		if s.alive[i] && !f(k, s.vals[i]) {
			return
		}
	}
}

// SortedKeys returns the keys in byte order (for snapshots).
func (s *KeyedState[V]) SortedKeys() []string {
	out := make([]string, 0, len(s.m))
	for k := range s.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
