package sign

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/exhibit-dev/exhibit/evidence"
)

// The SSHSIG format, from OpenSSH's PROTOCOL.sshsig:
//
//	byte[6]  MAGIC_PREAMBLE "SSHSIG"
//	uint32   SIG_VERSION 0x01
//	string   publickey
//	string   namespace
//	string   reserved
//	string   hash_algorithm
//	string   signature
//
// The signature is made over
//
//	byte[6]  MAGIC_PREAMBLE
//	string   namespace
//	string   reserved
//	string   hash_algorithm
//	string   H(message)
//
// so signing needs only the message's hash, which is what lets Exhibit sign a manifest or
// a SHA256SUMS file it has streamed without holding it.
const (
	sshsigMagic   = "SSHSIG"
	sshsigVersion = 1
	sshsigBegin   = "-----BEGIN SSH SIGNATURE-----"
	sshsigEnd     = "-----END SSH SIGNATURE-----"
	// ssh-keygen wraps the armored base64 at 70 columns.
	sshsigLineLen = 70
)

func sshsigSignedData(namespace string, digest evidence.Digest) []byte {
	return sshsigSignedDataWith(namespace, "", digest)
}

func sshsigSignedDataWith(namespace, reserved string, digest evidence.Digest) []byte {
	var b bytes.Buffer
	b.WriteString(sshsigMagic)
	writeString(&b, []byte(namespace))
	writeString(&b, []byte(reserved))
	writeString(&b, []byte("sha256"))
	writeString(&b, digest[:])
	return b.Bytes()
}

func marshalSSHSig(publicKey []byte, namespace string, signature []byte) []byte {
	var b bytes.Buffer
	b.WriteString(sshsigMagic)
	_ = binary.Write(&b, binary.BigEndian, uint32(sshsigVersion))
	writeString(&b, publicKey)
	writeString(&b, []byte(namespace))
	writeString(&b, nil)
	writeString(&b, []byte("sha256"))
	writeString(&b, signature)
	return b.Bytes()
}

func writeString(b *bytes.Buffer, s []byte) {
	_ = binary.Write(b, binary.BigEndian, uint32(len(s)))
	b.Write(s)
}

func armorSSHSig(blob []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(blob)
	var b bytes.Buffer
	b.WriteString(sshsigBegin + "\n")
	for len(enc) > sshsigLineLen {
		b.WriteString(enc[:sshsigLineLen] + "\n")
		enc = enc[sshsigLineLen:]
	}
	b.WriteString(enc + "\n")
	b.WriteString(sshsigEnd + "\n")
	return b.Bytes()
}

// maxSSHSig bounds the armored input: a P-256 SSHSIG is about 300 bytes.
const maxSSHSig = 16 << 10

func unarmorSSHSig(armored []byte) ([]byte, error) {
	if len(armored) > maxSSHSig {
		return nil, fmt.Errorf("SSHSIG is larger than %d bytes", maxSSHSig)
	}
	s := strings.TrimSpace(strings.ReplaceAll(string(armored), "\r\n", "\n"))
	if !strings.HasPrefix(s, sshsigBegin) || !strings.HasSuffix(s, sshsigEnd) || len(s) < len(sshsigBegin)+len(sshsigEnd) {
		return nil, errors.New("not an armored SSH signature (missing BEGIN/END SSH SIGNATURE lines)")
	}
	body := s[len(sshsigBegin) : len(s)-len(sshsigEnd)]
	body = strings.Join(strings.Fields(body), "")
	blob, err := base64.StdEncoding.Strict().DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("SSH signature is not valid base64: %v", err)
	}
	return blob, nil
}

type sshsig struct {
	publicKey []byte
	namespace string
	reserved  string
	hashAlg   string
	signature []byte
}

func parseSSHSig(blob []byte) (*sshsig, error) {
	if !bytes.HasPrefix(blob, []byte(sshsigMagic)) {
		return nil, errors.New("SSH signature does not start with SSHSIG")
	}
	rest := blob[len(sshsigMagic):]
	if len(rest) < 4 {
		return nil, errors.New("SSH signature is truncated")
	}
	if v := binary.BigEndian.Uint32(rest); v != sshsigVersion {
		return nil, fmt.Errorf("unsupported SSHSIG version %d", v)
	}
	rest = rest[4:]
	var fields [5][]byte
	for i := range fields {
		var ok bool
		fields[i], rest, ok = readString(rest)
		if !ok {
			return nil, errors.New("SSH signature is truncated")
		}
	}
	if len(rest) != 0 {
		return nil, errors.New("unexpected data after the SSH signature")
	}
	return &sshsig{
		publicKey: fields[0],
		namespace: string(fields[1]),
		reserved:  string(fields[2]),
		hashAlg:   string(fields[3]),
		signature: fields[4],
	}, nil
}

func readString(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}
