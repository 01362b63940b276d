package timestamp

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

// The CMS structures of a time-stamp token (RFC 5652 §5, RFC 3161 §2.4.2), decoded only as
// far as needed to check what the pkcs7 library leaves unchecked: it verifies the signature
// over a re-encoding of the signed attributes instead of the bytes that were signed, and
// ignores the content type and the digest algorithm list. A token that differs from what
// the TSA signed in any byte is refused, as `openssl ts -verify` refuses it.
type cmsContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,tag:0"`
}

type cmsSignedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContentInfo cmsEncapContentInfo
	Certificates     asn1.RawValue   `asn1:"optional,tag:0"`
	CRLs             asn1.RawValue   `asn1:"optional,tag:1"`
	SignerInfos      []cmsSignerInfo `asn1:"set"`
}

type cmsEncapContentInfo struct {
	EContentType asn1.ObjectIdentifier
	EContent     asn1.RawValue `asn1:"explicit,optional,tag:0"`
}

type cmsSignerInfo struct {
	Version            int
	SID                asn1.RawValue
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttrs        asn1.RawValue `asn1:"optional,tag:0"`
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
	UnsignedAttrs      asn1.RawValue `asn1:"optional,tag:1"`
}

var (
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidTSTInfo    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	oidSHA256     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidECDSA      = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidRSA        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
)

// signatureAlgorithms maps (signature algorithm OID, digest OID) to x509's algorithm; the
// signature OID may name the digest itself (ecdsa-with-SHA256) or only the key type.
var signatureAlgorithms = []struct {
	sig, digest asn1.ObjectIdentifier
	alg         x509.SignatureAlgorithm
}{
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}, nil, x509.ECDSAWithSHA256},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}, nil, x509.ECDSAWithSHA384},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}, nil, x509.ECDSAWithSHA512},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, nil, x509.SHA256WithRSA},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}, nil, x509.SHA384WithRSA},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}, nil, x509.SHA512WithRSA},
	{oidECDSA, oidSHA256, x509.ECDSAWithSHA256},
	{oidECDSA, oidSHA384, x509.ECDSAWithSHA384},
	{oidECDSA, oidSHA512, x509.ECDSAWithSHA512},
	{oidRSA, oidSHA256, x509.SHA256WithRSA},
	{oidRSA, oidSHA384, x509.SHA384WithRSA},
	{oidRSA, oidSHA512, x509.SHA512WithRSA},
}

// checkSignedBytes checks a DER TimeStampToken strictly: DER without trailing bytes, signed
// data of one signer over id-ct-TSTInfo with SHA-2 digests, and the signer's signature over
// the signed attributes exactly as they are encoded in the token.
func checkSignedBytes(token []byte, signer *x509.Certificate) error {
	var ci cmsContentInfo
	rest, err := asn1.Unmarshal(token, &ci)
	if err != nil {
		return fmt.Errorf("time-stamp token: %w", err)
	}
	if len(rest) > 0 {
		return errors.New("time-stamp token: trailing bytes")
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return fmt.Errorf("time-stamp token: content type %s is not signed data", ci.ContentType)
	}
	var sd cmsSignedData
	if rest, err = asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return fmt.Errorf("time-stamp token: signed data: %w", err)
	}
	if len(rest) > 0 {
		return errors.New("time-stamp token: trailing bytes in the signed data")
	}
	// DER has one encoding: the token must be exactly the encoding of what was parsed, so no
	// version, tag or length outside the signed attributes can differ unnoticed.
	if err := sameEncoding(token, ci, sd); err != nil {
		return err
	}
	if sd.Version != 3 {
		return fmt.Errorf("time-stamp token: signed data version %d, want 3 (RFC 5652 §5.1)", sd.Version)
	}
	ec := sd.EncapContentInfo.EContent
	if ec.Class == asn1.ClassContextSpecific { // the [0] EXPLICIT wrapper: look inside
		if rest, err := asn1.Unmarshal(ec.Bytes, &ec); err != nil || len(rest) > 0 {
			return errors.New("time-stamp token: the encapsulated content is not one value")
		}
	}
	if ec.Class != asn1.ClassUniversal || ec.Tag != asn1.TagOctetString || ec.IsCompound {
		return errors.New("time-stamp token: the encapsulated content is not an OCTET STRING")
	}
	if err := checkCertificateSet(sd.Certificates); err != nil {
		return err
	}
	if !sd.EncapContentInfo.EContentType.Equal(oidTSTInfo) {
		return fmt.Errorf("time-stamp token: encapsulated content type %s is not id-ct-TSTInfo", sd.EncapContentInfo.EContentType)
	}
	if len(sd.DigestAlgorithms) == 0 {
		return errors.New("time-stamp token: no digest algorithm")
	}
	for _, a := range sd.DigestAlgorithms {
		if !isSHA2(a.Algorithm) {
			return fmt.Errorf("time-stamp token: digest algorithm %s is not SHA-256, -384 or -512", a.Algorithm)
		}
	}
	if len(sd.SignerInfos) != 1 {
		return fmt.Errorf("time-stamp token: %d signers, want 1", len(sd.SignerInfos))
	}
	si := sd.SignerInfos[0]
	if si.Version != 1 {
		return fmt.Errorf("time-stamp token: signer info version %d, want 1 (issuer and serial number)", si.Version)
	}
	sid, err := asn1.Marshal(struct {
		Issuer asn1.RawValue
		Serial *big.Int
	}{asn1.RawValue{FullBytes: signer.RawIssuer}, signer.SerialNumber})
	if err != nil || !bytes.Equal(sid, si.SID.FullBytes) {
		return errors.New("time-stamp token: the signer identifier does not name the signing certificate")
	}
	if !isSHA2(si.DigestAlgorithm.Algorithm) {
		return fmt.Errorf("time-stamp token: signer's digest algorithm %s is not SHA-256, -384 or -512", si.DigestAlgorithm.Algorithm)
	}
	if len(si.SignedAttrs.FullBytes) == 0 {
		return errors.New("time-stamp token: no signed attributes (RFC 3161 requires the signing certificate attribute)")
	}
	alg := x509.UnknownSignatureAlgorithm
	for _, a := range signatureAlgorithms {
		if si.SignatureAlgorithm.Algorithm.Equal(a.sig) && (a.digest == nil || si.DigestAlgorithm.Algorithm.Equal(a.digest)) {
			alg = a.alg
			break
		}
	}
	if alg == x509.UnknownSignatureAlgorithm {
		return fmt.Errorf("time-stamp token: signature algorithm %s with digest %s is not supported", si.SignatureAlgorithm.Algorithm, si.DigestAlgorithm.Algorithm)
	}
	// The signature is over the DER of the attributes as a SET OF (RFC 5652 §5.4): the same
	// bytes with the [0] IMPLICIT tag replaced by the SET tag.
	signed := bytes.Clone(si.SignedAttrs.FullBytes)
	if signed[0] != 0xa0 {
		return errors.New("time-stamp token: signed attributes are not [0] IMPLICIT")
	}
	signed[0] = 0x31
	if err := signer.CheckSignature(alg, signed, si.Signature); err != nil {
		return fmt.Errorf("time-stamp token signature: %w", err)
	}
	return nil
}

func isSHA2(oid asn1.ObjectIdentifier) bool {
	return oid.Equal(oidSHA256) || oid.Equal(oidSHA384) || oid.Equal(oidSHA512)
}

// sameEncoding reports whether token is exactly the DER encoding of the parsed structures.
func sameEncoding(token []byte, ci cmsContentInfo, sd cmsSignedData) error {
	inner, err := asn1.Marshal(sd)
	if err != nil {
		return fmt.Errorf("time-stamp token: %w", err)
	}
	outer, err := asn1.Marshal(cmsContentInfo{ContentType: ci.ContentType,
		Content: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}})
	if err != nil {
		return fmt.Errorf("time-stamp token: %w", err)
	}
	if !bytes.Equal(outer, token) {
		return errors.New("time-stamp token: not in the one DER encoding of its contents")
	}
	return nil
}

// checkCertificateSet checks that the certificates field, if present, is a set of
// certificates, each a DER SEQUENCE that parses as an X.509 certificate.
func checkCertificateSet(set asn1.RawValue) error {
	rest := set.Bytes
	for len(rest) > 0 {
		var c asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &c); err != nil {
			return fmt.Errorf("time-stamp token: certificates: %w", err)
		}
		if c.Class != asn1.ClassUniversal || c.Tag != asn1.TagSequence || !c.IsCompound {
			return errors.New("time-stamp token: certificates: an entry is not a certificate")
		}
		if _, err := x509.ParseCertificate(c.FullBytes); err != nil {
			return fmt.Errorf("time-stamp token: certificates: %w", err)
		}
	}
	return nil
}

// checkStatus checks the TimeStampResp around the token (RFC 3161 §2.4.2): its status is one
// of the six PKIStatus values, read as DER, so that a negative number is not taken for
// "granted" by a parser that only refuses statuses above zero. Which statuses carry a token
// is left to that parser.
func checkStatus(der []byte) error {
	var resp struct {
		Status asn1.RawValue
		Token  asn1.RawValue `asn1:"optional"`
	}
	rest, err := asn1.Unmarshal(der, &resp)
	if err != nil || len(rest) > 0 {
		return errors.New("time-stamp response: not one DER TimeStampResp")
	}
	var status int
	if _, err := asn1.Unmarshal(resp.Status.Bytes, &status); err != nil {
		return fmt.Errorf("time-stamp response: status: %w", err)
	}
	if status < 0 || status > 5 {
		return fmt.Errorf("time-stamp response: status %d is not a PKIStatus", status)
	}
	return nil
}
