package bundle

import (
	"bytes"
	"text/template"
	"time"
)

// verifyMarkdown renders VERIFY.md: the exact commands an auditor runs with standard tools.
// Every command in it is run by the package's tests (tools_test.go) on a real bundle and on
// tampered copies, so the promises it makes are tested, not assumed.
func verifyMarkdown(top string, m Manifest, fingerprint string) []byte {
	var b bytes.Buffer
	err := verifyTemplate.Execute(&b, struct {
		Top, Fingerprint, From, To, Created string
		M                                   Manifest
		Cmd                                 verifyCommands
	}{top, fingerprint, m.Period.From.Format(time.RFC3339), m.Period.To.Format(time.RFC3339), m.CreatedAt.Format(time.RFC3339), m, VerifyCommands})
	if err != nil {
		panic("bundle: VERIFY.md template: " + err.Error()) // the template is constant
	}
	return b.Bytes()
}

type verifyCommands struct {
	Fingerprint, SSHSig, OpenSSL, SumsLinux, SumsMacOS, FileList, NoLinks, RunSSHSig, RunOpenSSL, Chain string
}

// VerifyCommands are the shell commands VERIFY.md gives, each run from the bundle folder;
// tests run them on real and tampered bundles.
var VerifyCommands = verifyCommands{
	Fingerprint: `cut -d' ' -f3,4 allowed_signers | ssh-keygen -l -f -`,
	SSHSig:      `ssh-keygen -Y verify -f allowed_signers -I exhibit -n exhibit-bundle -s SHA256SUMS.sshsig < SHA256SUMS`,
	OpenSSL:     `openssl dgst -sha256 -verify signing.pub -signature SHA256SUMS.sig SHA256SUMS`,
	SumsLinux:   `sha256sum -c --strict --quiet SHA256SUMS`,
	SumsMacOS:   `shasum -a 256 -c --strict --quiet SHA256SUMS`,
	FileList:    `diff <(sed 's/^[0-9a-f]\{64\}  //' SHA256SUMS) <(find . -type f ! -path ./SHA256SUMS ! -path ./SHA256SUMS.sig ! -path ./SHA256SUMS.sshsig | sed 's|^\./||' | LC_ALL=C sort) && echo "file list matches SHA256SUMS"`,
	NoLinks:     `test -z "$(find . ! -type f ! -type d)" && echo "only regular files"`,
	RunSSHSig:   `for m in runs/*.json; do ssh-keygen -Y verify -f allowed_signers -I exhibit -n exhibit-run -s "$m.sshsig" < "$m" || echo "BAD: $m"; done`,
	RunOpenSSL:  `for m in runs/*.json; do openssl dgst -sha256 -verify signing.pub -signature "$m.sig" "$m" || echo "BAD: $m"; done`,
	Chain:       `for m in runs/*.json; do printf '%s %s %s\n' "$m" "$(openssl dgst -sha256 -r "$m" | cut -c1-64)" "$(head -c 4096 "$m" | grep -o '"previous":\("[0-9a-f]*"\|null\)')"; done`,
}

var verifyTemplate = template.Must(template.New("VERIFY.md").Parse(`# Verifying this evidence bundle

Bundle ` + "`{{.M.ID}}`" + ` — framework **{{.M.Framework}}**{{if .M.FrameworkTitle}} ({{.M.FrameworkTitle}}){{end}},
audit period {{.From}} to {{.To}}, created {{.Created}}.

It was signed by the key with this fingerprint:

    {{.Fingerprint}}

**Compare it with the fingerprint you received from the organisation out of band** (in person,
by phone, in a signed letter). ` + "`signing.pub` and `allowed_signers`" + ` inside the bundle are
informational only: whoever can change the bundle can replace them together with the
signatures, so only a fingerprint you obtained independently proves who signed it.

The newest run this bundle covers is ` + "`{{.M.LastRun.ID}}`" + ` with manifest digest
` + "`{{.M.LastRun.Manifest}}`" + `. If you were told a newer digest for the period, this
bundle is older or partial.

Unpack the archive and run every command below inside the bundle folder:

    unzip bundle.zip && cd {{.Top}}

The commands work on Linux and macOS (bash or zsh) with the tools both ship:
sha256sum or shasum, openssl (or LibreSSL), ssh-keygen (OpenSSH 8.1 or later).

## 1. The key is the one you were told

    ` + "{{.Cmd.Fingerprint}}" + `

It prints ` + "`256 SHA256:… no comment (ECDSA)`" + `; the SHA256:… part must equal the
fingerprint above AND the one you received.

## 2. SHA256SUMS is signed by that key

    ` + "{{.Cmd.SSHSig}}" + `
    ` + "{{.Cmd.OpenSSL}}" + `

Expected: ` + "`Good \"exhibit-bundle\" signature for exhibit with ECDSA key SHA256:…`" + ` and
` + "`Verified OK`" + `. Anything else: stop, the bundle is not what was signed.

## 3. Every file is unaltered

Linux:

    ` + "{{.Cmd.SumsLinux}}" + `

macOS:

    ` + "{{.Cmd.SumsMacOS}}" + `

No output and exit status 0 mean every file listed matches.

## 4. No file was added or removed

SHA256SUMS lists every file but the three SHA256SUMS* files themselves. Compare the list with
what is on disk (no output from diff means they are equal):

    ` + "{{.Cmd.FileList}}" + `
    ` + "{{.Cmd.NoLinks}}" + `

## 5. The runs are signed and chained

Every run manifest in runs/ is signed by the same key (namespace exhibit-run):

    ` + "{{.Cmd.RunSSHSig}}" + `
    ` + "{{.Cmd.RunOpenSSL}}" + `

Each manifest names the SHA-256 of the one before it ("previous"); in file order, each line's
previous must be the digest on the line above, so no run between the first and the last was
removed:

    ` + "{{.Cmd.Chain}}" + `

The first file may be the anchor: the last run before the period, included so the first
period run's "previous" can be checked.

## 6. What is in the bundle

- ` + "`report/index.html`" + ` — the controls with their status, each linking to its evidence;
  ` + "`report/controls.csv`" + ` the same as a table; ` + "`report/assessment-results.json`" + ` as OSCAL
  assessment results.
- ` + "`manifest.json`" + ` — every artefact: kind, subject, when it was collected, its document
  (artefacts/), the raw responses it was derived from (raw/), the controls and the rule results.
- ` + "`results/`" + ` — the evaluation results the runs reference, with the values each verdict read.

` + "`exhibit verify bundle.zip --fingerprint {{.Fingerprint}}`" + ` performs all of the above from the zip
without unpacking it, and additionally checks that every artefact the signed run manifests
list for the selection is in the bundle.
`))
