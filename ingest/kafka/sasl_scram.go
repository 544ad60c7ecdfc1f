package kafka

// The server side of SASL SCRAM (RFC 5802, RFC 7677; Kafka's KIP-84) and of SASL PLAIN (RFC 4616).
//
// SCRAM is two round trips, each one SaslAuthenticate:
//
//	client-first  gs2-header client-first-bare
//	              gs2-header        = ("n" | "y") "," ["a=" authzid] ","
//	              client-first-bare = "n=" user "," "r=" client-nonce ["," extension]*
//	server-first  "r=" client-nonce server-nonce "," "s=" base64(salt) "," "i=" iterations
//	client-final  "c=" base64(gs2-header) "," "r=" nonce ["," extension]* "," "p=" base64(proof)
//	server-final  "v=" base64(HMAC(ServerKey, AuthMessage))
//
// AuthMessage = client-first-bare "," server-first "," client-final-without-proof. The proof is
// ClientKey XOR HMAC(StoredKey, AuthMessage); the server recovers ClientKey and checks
// H(ClientKey) = StoredKey in constant time. Deviations: channel binding ("p=") and the
// delegation-token extension (tokenauth=true) are refused; an authzid must equal the user; user
// names are unescaped (=2C, =3D) but not SASLprep-normalised. Messages come from outside: parsing
// never panics and bounds every length.
//
// The client-final nonce must be the server-first nonce (client nonce + server nonce), as RFC 5802
// and Apache Kafka 4 require, or that nonce behind the client nonce once more: librdkafka before
// 2.6.1 (Debian 12's kcat has 2.0.2) prepends its nonce to the whole server nonce a second time,
// and Apache Kafka 3.8.1 to 3.9 accept any nonce that ends with the server's for it. Strata
// accepts that one form and no other prefix. The AuthMessage is built from the client-final as
// sent, so the proof covers the nonce the client used.

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// errSASL marks an authentication exchange that failed; the message is safe to send to the client.
var errSASL = errors.New("authentication failed")

// maxSCRAMMessage bounds a client SCRAM message; real ones are about 100 bytes.
const maxSCRAMMessage = 4096

// saslSession is one mechanism's exchange. step takes the client's next message and returns the
// server's answer, and done once the client is authenticated.
type saslSession interface {
	step(in []byte) (out []byte, done bool, err error)
	user() string
}

func newSASLSession(c *Credentials, mechanism string) saslSession {
	if len(c.users) == 0 && mechanism != mechOAuth {
		return nil // OAUTHBEARER only
	}
	switch mechanism {
	case mechOAuth:
		if c.oauth == nil {
			return nil
		}
		return &oauthSession{v: c.oauth}
	case mechPlain:
		return &plainSession{creds: c}
	case mechSCRAM256:
		return &scramSession{creds: c, h: scramSHA256}
	case mechSCRAM512:
		return &scramSession{creds: c, h: scramSHA512}
	}
	return nil
}

// plainSession is SASL PLAIN: one message authzid NUL user NUL password.
type plainSession struct {
	creds *Credentials
	name  string
}

func (p *plainSession) user() string { return p.name }

func (p *plainSession) step(in []byte) ([]byte, bool, error) {
	if p.name != "" {
		return nil, false, fmt.Errorf("%w: PLAIN takes one message", errSASL)
	}
	parts := bytes.Split(in, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 || len(in) > maxSCRAMMessage {
		return nil, false, fmt.Errorf("%w: malformed PLAIN message", errSASL)
	}
	p.name = string(parts[1])
	if len(parts[0]) != 0 && string(parts[0]) != p.name {
		return nil, false, fmt.Errorf("%w: authorization id must be empty or the user", errSASL)
	}
	if !p.creds.CheckPassword(p.name, string(parts[2])) {
		return nil, false, fmt.Errorf("%w: invalid credentials with SASL mechanism PLAIN", errSASL)
	}
	return []byte{}, true, nil
}

// clientFirst is a parsed SCRAM client-first message.
type clientFirst struct {
	gs2Header string // through the second comma
	user      string // unescaped
	nonce     string
	bare      string // client-first-bare, as sent
}

// parseClientFirst parses a client-first message from outside bytes.
func parseClientFirst(b []byte) (clientFirst, error) {
	var cf clientFirst
	if len(b) > maxSCRAMMessage {
		return cf, fmt.Errorf("%w: client-first message too long", errSASL)
	}
	s := string(b)
	var cbind, authz string
	var ok bool
	if cbind, s, ok = strings.Cut(s, ","); !ok {
		return cf, fmt.Errorf("%w: malformed client-first message", errSASL)
	}
	switch {
	case cbind == "n" || cbind == "y":
	case strings.HasPrefix(cbind, "p="):
		return cf, fmt.Errorf("%w: channel binding is not supported", errSASL)
	default:
		return cf, fmt.Errorf("%w: malformed client-first message", errSASL)
	}
	if authz, s, ok = strings.Cut(s, ","); !ok {
		return cf, fmt.Errorf("%w: malformed client-first message", errSASL)
	}
	cf.gs2Header = cbind + "," + authz + ","
	cf.bare = s
	attrs := strings.Split(s, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return cf, fmt.Errorf("%w: client-first message wants n= then r=", errSASL)
	}
	user, err := unescapeSASLName(attrs[0][2:])
	if err != nil || user == "" {
		return cf, fmt.Errorf("%w: bad user name", errSASL)
	}
	cf.user = user
	if authz != "" {
		z, err := unescapeSASLName(strings.TrimPrefix(authz, "a="))
		if !strings.HasPrefix(authz, "a=") || err != nil || z != user {
			return cf, fmt.Errorf("%w: authorization id must be empty or the user", errSASL)
		}
	}
	cf.nonce = attrs[1][2:]
	if !printableNonce(cf.nonce) {
		return cf, fmt.Errorf("%w: bad client nonce", errSASL)
	}
	for _, ext := range attrs[2:] {
		if ext == "tokenauth=true" {
			return cf, fmt.Errorf("%w: delegation tokens are not supported", errSASL)
		}
	}
	return cf, nil
}

// clientFinal is a parsed SCRAM client-final message.
type clientFinal struct {
	channel      []byte // decoded c=
	nonce        string
	withoutProof string
	proof        []byte
}

// parseClientFinal parses a client-final message from outside bytes.
func parseClientFinal(b []byte) (clientFinal, error) {
	var cf clientFinal
	if len(b) > maxSCRAMMessage {
		return cf, fmt.Errorf("%w: client-final message too long", errSASL)
	}
	s := string(b)
	i := strings.LastIndex(s, ",p=")
	if i < 0 {
		return cf, fmt.Errorf("%w: client-final message has no proof", errSASL)
	}
	cf.withoutProof = s[:i]
	proof, err := base64.StdEncoding.DecodeString(s[i+3:])
	if err != nil {
		return cf, fmt.Errorf("%w: bad proof encoding", errSASL)
	}
	cf.proof = proof
	attrs := strings.Split(cf.withoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return cf, fmt.Errorf("%w: client-final message wants c= then r=", errSASL)
	}
	if cf.channel, err = base64.StdEncoding.DecodeString(attrs[0][2:]); err != nil {
		return cf, fmt.Errorf("%w: bad channel binding encoding", errSASL)
	}
	cf.nonce = attrs[1][2:]
	return cf, nil
}

// unescapeSASLName undoes RFC 5802's saslname escaping (=2C is ',', =3D is '=').
func unescapeSASLName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", errors.New("bad escape")
		}
		i += 2
	}
	return b.String(), nil
}

// printableNonce: RFC 5802 nonces are printable ASCII other than ','.
func printableNonce(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}

// scramSession is the server side of one SCRAM exchange.
type scramSession struct {
	creds *Credentials
	h     scramHash
	n     int // messages seen

	first       clientFirst
	cred        *scramCred
	known       bool
	nonce       string // client nonce + server nonce
	serverFirst string
}

func (s *scramSession) user() string { return s.first.user }

func (s *scramSession) step(in []byte) ([]byte, bool, error) {
	s.n++
	switch s.n {
	case 1:
		cf, err := parseClientFirst(in)
		if err != nil {
			return nil, false, err
		}
		s.first = cf
		s.cred, s.known = s.creds.lookup(s.h, cf.user)
		var r [24]byte
		_, _ = rand.Read(r[:])
		s.nonce = cf.nonce + base64.RawStdEncoding.EncodeToString(r[:])
		s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(s.cred.salt) +
			",i=" + strconv.Itoa(s.cred.iters)
		return []byte(s.serverFirst), false, nil
	case 2:
		cf, err := parseClientFinal(in)
		if err != nil {
			return nil, false, err
		}
		if string(cf.channel) != s.first.gs2Header || !s.nonceMatches(cf.nonce) {
			return nil, false, fmt.Errorf("%w: client-final message does not match the exchange", errSASL)
		}
		authMsg := []byte(s.first.bare + "," + s.serverFirst + "," + cf.withoutProof)
		sig := hmacSum(s.h, s.cred.storedKey, authMsg)
		if len(cf.proof) != len(sig) {
			return nil, false, fmt.Errorf("%w: invalid credentials with SASL mechanism %s", errSASL, s.h.name)
		}
		clientKey := make([]byte, len(sig))
		for i := range sig {
			clientKey[i] = cf.proof[i] ^ sig[i]
		}
		if !hmac.Equal(hashSum(s.h, clientKey), s.cred.storedKey) || !s.known {
			return nil, false, fmt.Errorf("%w: invalid credentials with SASL mechanism %s", errSASL, s.h.name)
		}
		return []byte("v=" + base64.StdEncoding.EncodeToString(hmacSum(s.h, s.cred.serverKey, authMsg))), true, nil
	}
	return nil, false, fmt.Errorf("%w: SCRAM exchange already finished", errSASL)
}

// nonceMatches reports whether a client-final nonce answers this exchange's server-first: the
// combined nonce, or the combined nonce with the client nonce again in front (librdkafka < 2.6.1).
func (s *scramSession) nonceMatches(nonce string) bool {
	return nonce == s.nonce || nonce == s.first.nonce+s.nonce
}
