package bundle

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"
)

// TestHostileLayouts: archives that every reader can open, but that some reader reads as
// something other than what the verifier checked (a second file list, a prepended archive,
// a hidden entry, lying sizes). Each must be refused; the readers show the deception is real.
func TestHostileLayouts(t *testing.T) {
	f := newFixture(t, fixtureOptions{runs: 1, perRun: 2})
	path, _ := f.build(t, buildOptions{})
	genuine := readFile(t, path)
	readers := zipReaders(t, t.TempDir())
	cases := hostileLayouts(t, genuine)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			archive := c.archive()
			rep, err := Verify(context.Background(), bytes.NewReader(archive), int64(len(archive)), VerifyOptions{Key: f.signer.Verifier()})
			if err != nil {
				t.Fatal(err)
			}
			wantProblem(t, rep, c.problem)
			checkReaders(t, readers, genuine, archive, c.fools)
		})
	}
}

// layoutCase is a hostile layout made from a genuine archive.
type layoutCase struct {
	name    string
	archive func() []byte
	problem string   // what the verifier must say
	fools   []string // readers that extract something other than the signed files
}

// hostileLayouts returns the hostile layouts of genuine (a bundle as the writer wrote it).
func hostileLayouts(t testing.TB, genuine []byte) []layoutCase {
	parts := func() []zipPart { return takeApart(t, genuine) }
	top, _, _ := strings.Cut(parts()[0].h.name, "/")
	forged := []byte("<!doctype html><p>All controls effective.</p>\n")
	le := binary.LittleEndian
	// first returns the index of the first entry stored (or deflated).
	first := func(ps []zipPart, method uint16) int {
		for i, p := range ps {
			if p.h.method == method && !strings.HasSuffix(p.h.name, "/"+SumsFile) {
				return i
			}
		}
		t.Fatalf("no entry with method %d", method)
		return -1
	}
	planted := func(ps []zipPart, name string) []byte {
		p := storedPart(top+"/"+name, forged, ps[0])
		return append(p.local, p.data...)
	}

	return []layoutCase{
		{"end record and zip64 end record name different central directories", func() []byte {
			ps := parts()
			// The real entries and central directory, and before it a planted index.html
			// and a decoy central directory that lists it instead of the real one.
			body := assemble(nil, ps, func(uint64, uint64, uint64, []byte) []byte { return nil })
			realOff := uint64(len(body)) - cdLen(ps)
			entries, realCD := body[:realOff], body[realOff:]
			ix := part(t, ps, "/report/index.html")
			fake := storedPart(ps[ix].h.name, forged, ps[ix])
			plantedAt := uint64(len(entries))
			out := append(append([]byte(nil), entries...), append(fake.local, fake.data...)...)
			var decoy leBuf
			off := uint64(0)
			for i, p := range ps {
				if i == ix {
					decoy = centralRecord(decoy, fake.h, plantedAt, p.tm, p.dt)
				} else {
					decoy = centralRecord(decoy, p.h, off, p.tm, p.dt)
				}
				off += uint64(len(p.local) + len(p.data))
			}
			decoyAt := uint64(len(out))
			out = append(append(out, decoy...), realCD...)
			n := uint64(len(ps))
			var end leBuf
			end.u32(sigEOCD64)
			end.u64(eocd64Len - 12)
			end.u16(creatorUnix<<8 | 45)
			end.u16(45)
			end.u32(0)
			end.u32(0)
			end.u64(n)
			end.u64(n)
			end.u64(uint64(len(realCD)))
			end.u64(decoyAt + uint64(len(decoy)))
			end.u32(sigLocator64)
			end.u32(0)
			end.u64(uint64(len(out)))
			end.u32(1)
			end.u32(sigEOCD)
			end.u16(0)
			end.u16(0)
			end.u16(uint16(n))
			end.u16(uint16(n))
			end.u32(uint32(len(decoy)))
			end.u32(uint32(decoyAt))
			end.u16(0)
			return append(out, end...)
		}, "describe different central directories", []string{"unzip", "java ZipInputStream"}},
		{"another zip prepended with corrected offsets", func() []byte {
			return assemble(zipWith(t, nil, hostile{name: top + "/report/index.html", data: forged}), parts(), nil)
		}, "before the first entry belong to no entry", []string{"java ZipInputStream"}},
		{"an entry hidden between two entries", func() []byte {
			ps := parts()
			ps[0].after = planted(ps, "report/planted.html")
			return assemble(nil, ps, nil)
		}, "belong to no entry", []string{"java ZipInputStream"}},
		{"a local zip64 extra field with lying sizes", func() []byte {
			ps := parts()
			i := first(ps, methodStore)
			l := ps[i].local
			le.PutUint32(l[18:], max32)
			le.PutUint32(l[22:], max32)
			le.PutUint16(l[28:], 20)
			var x leBuf
			x.u16(zip64ExtraID)
			x.u16(16)
			x.u64(ps[i].h.size + 30)
			x.u64(ps[i].h.comp + 30)
			ps[i].local = append(l, x...)
			return assemble(nil, ps, nil)
		}, "local header disagrees", []string{"unzip"}},
		{"a data descriptor with lying sizes", func() []byte {
			ps := parts()
			i := first(ps, methodDeflate)
			l := ps[i].local
			le.PutUint16(l[6:], 0x8)
			le.PutUint32(l[14:], 0)
			le.PutUint32(l[18:], 0)
			le.PutUint32(l[22:], 0)
			ps[i].cdFlags = 0x8
			var d leBuf
			d.u32(0x08074b50)
			d.u32(ps[i].h.crc)
			d.u32(uint32(ps[i].h.comp))
			d.u32(uint32(ps[i].h.size) + 7)
			ps[i].after = d
			return assemble(nil, ps, nil)
		}, "data descriptor", nil},
		{"bytes after the compressed data", func() []byte {
			ps := parts()
			i := first(ps, methodDeflate)
			ps[i].data = append(ps[i].data, planted(ps, "report/planted.html")...)
			ps[i].h.comp = uint64(len(ps[i].data))
			ps[i].local = localHeader(nil, ps[i].h, 0, ps[i].tm, ps[i].dt)
			return assemble(nil, ps, nil)
		}, "follow the end of its compressed data", nil},
		{"trailing data", func() []byte {
			return append(append([]byte(nil), genuine...), planted(parts(), "report/planted.html")...)
		}, "after its end record", nil},
		{"a zip comment", func() []byte {
			out := append([]byte(nil), genuine...)
			le.PutUint16(out[len(out)-2:], 9)
			return append(out, "a comment"...)
		}, "after its end record", nil},
		{"an end record declaring a comment it lacks", func() []byte {
			out := append([]byte(nil), genuine...)
			le.PutUint16(out[len(out)-2:], 9)
			return out
		}, "declares a 9-byte comment", nil},
		{"an extra field in a central record", func() []byte {
			ps := parts()
			ps[1].cdExtra = []byte{0x55, 0x54, 5, 0, 1, 0, 0, 0, 0}
			return assemble(nil, ps, nil)
		}, "not as Exhibit writes it", nil},
		{"central records out of archive order", func() []byte {
			ps := parts()
			out := assemble(nil, ps, nil)
			// Swap the first two central records (equal lengths are not needed: re-lay them).
			cdOff := uint64(len(out)) - cdLen(ps) - eocdLen
			cd := out[cdOff : uint64(len(out))-eocdLen]
			r0 := centralLen + int(le.Uint16(cd[28:])) + int(le.Uint16(cd[30:]))
			r1 := centralLen + int(le.Uint16(cd[r0+28:])) + int(le.Uint16(cd[r0+30:]))
			swapped := append(append(append([]byte(nil), cd[r0:r0+r1]...), cd[:r0]...), cd[r0+r1:]...)
			copy(cd, swapped)
			return out
		}, "out of archive order", nil},
	}
}

// cdLen is the length of the central directory the writer writes for parts.
func cdLen(parts []zipPart) uint64 {
	var n uint64
	for _, p := range parts {
		n += centralLen + uint64(len(p.h.name))
	}
	return n
}

// checkReaders runs the four readers on archive and checks that exactly those named in
// fools extract a file the genuine archive does not hold (another name, other bytes, a
// second copy). The others read the genuine files, or some of them and stop with an error.
func checkReaders(t *testing.T, readers []zipReader, genuine, archive []byte, fools []string) {
	t.Helper()
	want := verifierView(t, genuine)
	path := writeTemp(t, archive)
	for _, r := range readers {
		got := r.read(t, path)
		extra := got.beyond(want)
		if len(extra) > 0 || got.err != "" || len(got.files) != len(want.files) {
			t.Logf("%s: %d of %d genuine files, beyond them %q, error %q", r.name, len(got.files)-len(extra), len(want.files), extra, got.err)
		}
		if fooled, expected := len(extra) > 0, contains(fools, r.name); fooled != expected {
			t.Errorf("%s extracts files the signed archive does not hold: %v, want %v", r.name, fooled, expected)
		}
	}
}

// beyond returns the names of the files v extracted that are not files of genuine: other
// names, other bytes, or a name extracted twice.
func (v view) beyond(genuine view) []string {
	have := map[string][]byte{}
	for _, f := range genuine.files {
		have[f.name] = f.data
	}
	var extra []string
	seen := map[string]bool{}
	for _, f := range v.files {
		if g, ok := have[f.name]; !ok || !bytes.Equal(g, f.data) || seen[f.name] {
			extra = append(extra, printable(f.name))
		}
		seen[f.name] = true
	}
	return extra
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// writeExact zips the files laid out exactly as the writer lays them out (stored), so that
// only what a case changes in them can be refused.
func (fs *files) writeExact(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, err := newZipWriter(&b, t.TempDir(), day0)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range fs.order {
		d := fs.data[n]
		h := zipHeader{name: fs.top + "/" + n, method: methodStore, crc: crc32.ChecksumIEEE(d), size: uint64(len(d)), comp: uint64(len(d))}
		if err := zw.add(h, bytes.NewReader(d)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestSignedButAmbiguous: bundles signed by the pinned key (re-signed after the change, as
// a buggy or subverted writer would sign them) whose names or manifest keys other tools
// read differently: Windows drops a trailing dot or space and opens devices for reserved
// names; jq and Python see "Kind" and "kind" as two keys where encoding/json sees one.
func TestSignedButAmbiguous(t *testing.T) {
	f := newFixture(t, fixtureOptions{runs: 1, perRun: 2})
	path, _ := f.build(t, buildOptions{})
	readers := zipReaders(t, t.TempDir())
	genuine := readBundle(t, path)
	base := genuine.writeExact(t)
	if rep := verifyBytes(t, f, base); !rep.OK() {
		t.Fatalf("the bundle rewritten in the writer's layout does not verify: %v", rep.Problems)
	}
	all := []string{"unzip", "python zipfile", "java ZipInputStream", "go archive/zip"}
	for _, name := range []string{"artefacts/extra.json.", "artefacts/extra.json ", "report/CON", "report/aux.txt",
		"report/Com1.html", "report/nul .txt", "report/a?b.html", "runs/lpt9.json"} {
		t.Run(name, func(t *testing.T) {
			fs := readBundle(t, path)
			fs.set(name, []byte("<p>planted</p>\n"))
			fs.resign(t, f.signer)
			archive := fs.writeExact(t)
			wantProblem(t, verifyBytes(t, f, archive), "unsafe entry name")
			// Every reader extracts the name as it is, to be written by a file system that
			// may read it as another name or a device.
			checkReaders(t, readers, base, archive, all)
		})
	}
	for _, c := range []struct{ name, from, to string }{
		{"manifest keys differing only in case", `"kind":"`, `"kind":"forged.kind","Kind":"`},
		{"a manifest key in another case", `"kind":"`, `"KIND":"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := readBundle(t, path)
			m := string(fs.data[ManifestFile])
			i := strings.Index(m, `"artefacts":`)
			fs.set(ManifestFile, []byte(m[:i]+strings.Replace(m[i:], c.from, c.to, 1)))
			fs.resign(t, f.signer)
			wantProblem(t, verifyBytes(t, f, fs.writeExact(t)), "differs only in case")
		})
	}
}

func verifyBytes(t testing.TB, f *fixture, archive []byte) *Report {
	t.Helper()
	rep, err := Verify(context.Background(), bytes.NewReader(archive), int64(len(archive)), VerifyOptions{Key: f.signer.Verifier()})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}
