// Package all is the one list of connector types this binary knows. Registration is
// explicit here, with no init() side effects; a duplicate type panics.
//
// Importing this package imports every connector and its SDK (msgraph-sdk-go among them);
// only cmd/exhibit should.
package all

import (
	"github.com/exhibit-dev/exhibit/connectors/aws"
	"github.com/exhibit-dev/exhibit/connectors/github"
	"github.com/exhibit-dev/exhibit/connectors/msgraph"
	"github.com/exhibit-dev/exhibit/core/connector"
)

// Registry returns a registry of every connector type.
func Registry() *connector.Registry {
	return connector.NewRegistry(
		aws.Factory{},
		&github.Factory{},
		msgraph.Factory{},
	)
}

// Kinds returns every artefact kind any connector can emit, so rules for unknown kinds are
// reported at start-up.
func Kinds() []string {
	var out []string
	r := Registry()
	for _, t := range r.Types() {
		f, _ := r.Lookup(t)
		for _, k := range f.Kinds() {
			out = append(out, k.Name)
		}
	}
	return out
}
