package sdk

import (
	"fmt"
	"sync"
)

// Registry names the implementations of every extension point. One Registry
// is built at start-up (built-ins first, then configured plugins) and handed
// to the engine; nothing in Weir keeps a global one.
//
// A Registry is safe for concurrent use.
type Registry struct {
	mu struct {
		sync.RWMutex
		codecs       map[string]Codec
		codecsByID   map[CompressionID]Codec
		assignors    map[string]Assignor
		partitioners map[string]Partitioner
		filters      map[string]CompactionFilter
	}
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	r := &Registry{}
	r.mu.codecs = make(map[string]Codec)
	r.mu.codecsByID = make(map[CompressionID]Codec)
	r.mu.assignors = make(map[string]Assignor)
	r.mu.partitioners = make(map[string]Partitioner)
	r.mu.filters = make(map[string]CompactionFilter)
	return r
}

// RegisterCodec adds c under its Name and ID. It returns an error, and changes
// nothing, if c is nil, its name is empty, or its name or ID is already taken.
func (r *Registry) RegisterCodec(c Codec) error {
	if c == nil {
		return fmt.Errorf("sdk: register codec: nil codec")
	}
	name := c.Name()
	if name == "" {
		return fmt.Errorf("sdk: register codec: empty name (id %d)", c.ID())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.mu.codecs[name]; ok {
		return fmt.Errorf("sdk: register codec %q: name already registered", name)
	}
	if old, ok := r.mu.codecsByID[c.ID()]; ok {
		return fmt.Errorf("sdk: register codec %q: id %d already registered by %q", name, c.ID(), old.Name())
	}
	r.mu.codecs[name] = c
	r.mu.codecsByID[c.ID()] = c
	return nil
}

// Codec returns the codec registered for a Kafka compression type, and
// whether there is one.
func (r *Registry) Codec(id CompressionID) (Codec, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.mu.codecsByID[id]
	return c, ok
}

// CodecByName returns the codec registered under name, and whether there is one.
func (r *Registry) CodecByName(name string) (Codec, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.mu.codecs[name]
	return c, ok
}

// RegisterAssignor adds a under its Name. It returns an error, and changes
// nothing, if a is nil, its name is empty, or its name is already taken.
func (r *Registry) RegisterAssignor(a Assignor) error {
	if a == nil {
		return fmt.Errorf("sdk: register assignor: nil assignor")
	}
	name := a.Name()
	if name == "" {
		return fmt.Errorf("sdk: register assignor: empty name (%T)", a)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.mu.assignors[name]; ok {
		return fmt.Errorf("sdk: register assignor %q: name already registered", name)
	}
	r.mu.assignors[name] = a
	return nil
}

// Assignor returns the assignor registered under name, and whether there is
// one.
func (r *Registry) Assignor(name string) (Assignor, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.mu.assignors[name]
	return a, ok
}

// RegisterPartitioner adds p under its Name. It returns an error, and
// changes nothing, if p is nil, its name is empty, or its name is already
// taken.
func (r *Registry) RegisterPartitioner(p Partitioner) error {
	if p == nil {
		return fmt.Errorf("sdk: register partitioner: nil partitioner")
	}
	return register(r, r.mu.partitioners, "partitioner", p.Name(), p)
}

// Partitioner returns the partitioner registered under name, and whether
// there is one.
func (r *Registry) Partitioner(name string) (Partitioner, bool) {
	return lookup(r, r.mu.partitioners, name)
}

// RegisterCompactionFilter adds f under its Name. It returns an error, and
// changes nothing, if f is nil, its name is empty, or its name is already
// taken.
func (r *Registry) RegisterCompactionFilter(f CompactionFilter) error {
	if f == nil {
		return fmt.Errorf("sdk: register compaction filter: nil filter")
	}
	return register(r, r.mu.filters, "compaction filter", f.Name(), f)
}

// CompactionFilter returns the compaction filter registered under name, and
// whether there is one.
func (r *Registry) CompactionFilter(name string) (CompactionFilter, bool) {
	return lookup(r, r.mu.filters, name)
}

func register[T any](r *Registry, m map[string]T, kind, name string, v T) error {
	if name == "" {
		return fmt.Errorf("sdk: register %s: empty name (%T)", kind, v)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := m[name]; ok {
		return fmt.Errorf("sdk: register %s %q: name already registered", kind, name)
	}
	m[name] = v
	return nil
}

func lookup[T any](r *Registry, m map[string]T, name string) (T, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	v, ok := m[name]
	return v, ok
}
