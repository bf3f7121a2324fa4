package metrics

import (
	"sync"
	"sync/atomic"
)

// labelPair is up to two label values; single-label caches leave b empty.
type labelPair struct{ a, b string }

// childCache maps label values to the metric children made for them, so the
// hot path does no label hashing into the vectors and no allocation: a hit is
// a lock-free sync.Map lookup. Making a child twice in a race is harmless,
// the vectors hand out the same child for the same values.
type childCache[V any] struct {
	m        sync.Map // labelPair -> V
	size     atomic.Int64
	newChild func(a, b string) V
}

func newChildCache[V any](newChild func(a, b string) V) *childCache[V] {
	return &childCache[V]{newChild: newChild}
}

func (c *childCache[V]) get(a, b string) V {
	key := labelPair{a, b}
	if v, ok := c.m.Load(key); ok {
		return v.(V)
	}
	v := c.newChild(a, b)
	if c.size.Load() >= maxCachedChildren {
		return v
	}
	if _, loaded := c.m.LoadOrStore(key, v); !loaded {
		c.size.Add(1)
	}
	return v
}
