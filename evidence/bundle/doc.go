// Package bundle writes and verifies auditor bundles: one zip archive with one top folder
// that an auditor checks offline with standard tools, without trusting Exhibit.
//
// Layout (paths relative to the top folder, e.g. exhibit-bundle-iso27001-2022-20261101_20261130-1a2b3c4d/):
//
//	manifest.json       what the bundle claims: id, framework, period, creation time, signer,
//	                    the runs (chain order) and, last, every artefact with its files,
//	                    controls and results
//	SHA256SUMS          GNU format ("<hex>  <path>"), every file but the three SHA256SUMS*,
//	                    sorted by path
//	SHA256SUMS.sig      ECDSA P-256 / SHA-256 signature over SHA256SUMS, ASN.1 DER (openssl)
//	SHA256SUMS.sshsig   SSHSIG over SHA256SUMS, namespace exhibit-bundle (ssh-keygen -Y verify)
//	signing.pub         the signing key (SPKI PEM) — informational: trust the fingerprint you
//	allowed_signers     received out of band, never the key shipped inside the bundle
//	VERIFY.md           how to check all of it with sha256sum/shasum, openssl and ssh-keygen
//	artefacts/<hex>.json        artefact documents (and <hex><ext> manual evidence files)
//	raw/<hex>                   raw HTTP response bodies the documents were derived from
//	results/<hex>.jsonl         evaluation results objects the runs reference
//	runs/<nnnnnn>_<id>.json     signed run manifests, byte for byte as stored, in chain order,
//	runs/<nnnnnn>_<id>.json.sig     with their DER and SSHSIG signatures (namespace exhibit-run)
//	runs/<nnnnnn>_<id>.json.sshsig
//	report/…                    controls.csv, index.html, assessment-results.json (OSCAL)
//
// Signed bytes are never re-serialised: run manifests, documents and bodies are copied from
// the store unchanged, so their digests are the ones the signed run manifests name.
//
// Writing streams from the store into the zip through a few compression workers; nothing
// proportional to the bundle is held in memory but a set of the digests written (to
// de-duplicate) — manifest.json's artefact list, SHA256SUMS and the zip central directory are
// spooled to temporary files. Reading (Verify) parses the zip itself, refuses anything unsafe
// before reading a byte of content, and verifies straight from the archive without extracting.
// It accepts only the writer's own layout, byte for byte (zipwrite.go's localHeader,
// centralRecord and endRecords), so that no zip reader can find in an accepted bundle a file
// the verifier did not check.
package bundle

// Names of the files at the top of a bundle.
const (
	ManifestFile       = "manifest.json"
	SumsFile           = "SHA256SUMS"
	SumsSigFile        = "SHA256SUMS.sig"
	SumsSSHSigFile     = "SHA256SUMS.sshsig"
	PublicKeyFile      = "signing.pub"
	AllowedSignersFile = "allowed_signers"
	VerifyMDFile       = "VERIFY.md"
)

// Directories of a bundle.
const (
	DirArtefacts = "artefacts"
	DirRaw       = "raw"
	DirResults   = "results"
	DirRuns      = "runs"
	DirReport    = "report"
)

// Schema is the schema of manifest.json.
const Schema = "exhibit.bundle/v1"

// TopPrefix starts the name of every bundle's top folder.
const TopPrefix = "exhibit-bundle-"

// unsigned lists the files SHA256SUMS does not (cannot) cover.
var unsigned = map[string]bool{SumsFile: true, SumsSigFile: true, SumsSSHSigFile: true}
