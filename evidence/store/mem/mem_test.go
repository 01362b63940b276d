package mem_test

import (
	"fmt"
	"testing"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
	"github.com/exhibit-dev/exhibit/evidence/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return mem.New() }, storetest.Options{
		InMemory: true,
		Corrupt: func(s store.Store, d evidence.Digest) error {
			if !s.(*mem.Store).Corrupt(d, []byte("tampered evidence")) {
				return fmt.Errorf("%s is not stored", d)
			}
			return nil
		},
	})
}
