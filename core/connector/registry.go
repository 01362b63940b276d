package connector

import (
	"fmt"
	"sort"
)

// Registry is the set of connector types this binary knows. The one list lives in
// connectors/all.
type Registry struct {
	factories map[string]Factory
}

// NewRegistry returns a registry of the given factories. It panics if two share a type,
// because that is a programming error in connectors/all, not a runtime condition.
func NewRegistry(factories ...Factory) *Registry {
	r := &Registry{factories: map[string]Factory{}}
	for _, f := range factories {
		r.Register(f)
	}
	return r
}

// Register adds f. It panics if f's type is already registered or empty.
func (r *Registry) Register(f Factory) {
	t := f.Type()
	if t == "" {
		panic("connector: factory with empty type")
	}
	if _, dup := r.factories[t]; dup {
		panic(fmt.Sprintf("connector: type %q registered twice", t))
	}
	r.factories[t] = f
}

// Lookup returns the factory for a connector type.
func (r *Registry) Lookup(typ string) (Factory, bool) {
	f, ok := r.factories[typ]
	return f, ok
}

// Types returns the registered types, sorted.
func (r *Registry) Types() []string {
	ts := make([]string, 0, len(r.factories))
	for t := range r.factories {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}
