package bundle

import (
	"context"
	"os"
	"runtime/pprof"
	"testing"
)

func TestZZProf(t *testing.T) {
	f := newFixture(t, fixtureOptions{runs: 1, perRun: 5000, docSize: 25 << 10})
	path, _ := f.build(t, buildOptions{compression: Deflate})
	out, _ := os.Create("/tmp/verify.prof")
	pprof.StartCPUProfile(out)
	for i := 0; i < 1; i++ {
		VerifyFile(context.Background(), path, VerifyOptions{Key: f.signer.Verifier()})
	}
	pprof.StopCPUProfile()
	out.Close()
}
