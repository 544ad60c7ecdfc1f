package kafka

// SASL/OAUTHBEARER (KIP-255, RFC 7628): the client presents a JWT as a bearer token, and the
// principal is the token's "sub" claim.
//
// The client's one message is a GS2 header and key-value pairs separated by 0x01:
//
//	n,[a=authzid],  0x01  auth=Bearer <token>  0x01  [host=… 0x01 port=… 0x01 extensions…]  0x01
//
// A token is accepted by an OAuthValidator:
//   - signed tokens (RS256/384/512, ES256/384/512) are checked against the keys of a JSON Web Key
//     Set (the issuer's published keys: a local file, or its jwks_uri, reloaded hourly and when a
//     token names a key it lacks), by the "kid" of the token's header when it names one; "exp" is required and must be in the future, "nbf" and "iat" not in the future
//     (30 s of clock skew allowed), and "iss" and "aud" must match when configured;
//   - with Unsecured, tokens with {"alg":"none"} and no signature are accepted on their claims
//     alone, as Apache Kafka's default (test-grade) validator does. Never for production.
//
// A rejected token answers SASL_AUTHENTICATION_FAILED with a message starting "invalid_token",
// the status RFC 7628 defines, and the connection closes.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/big"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const mechOAuth = "OAUTHBEARER"

// maxOAuthMessage bounds the client's message; JWTs are a few KiB at most.
const maxOAuthMessage = 64 << 10

// oauthSkew is the clock skew allowed for exp, nbf and iat.
const oauthSkew = 30 * time.Second

// OAuthValidator accepts OAUTHBEARER tokens. Safe for concurrent use.
type OAuthValidator struct {
	keys      atomic.Pointer[map[string]crypto.PublicKey] // by kid; "" for keys without one
	unsecured bool
	issuer    string
	audience  string
	now       func() time.Time

	// The key set's source, reloaded every refresh and, rate-limited, for a kid it lacks.
	src     string // a file, or an http(s) URL; "" without a key set
	client  *http.Client
	refresh time.Duration
	loadMu  sync.Mutex   // one load at a time
	loaded  atomic.Int64 // unix nanos of the last successful load
	tried   time.Time    // the last load attempt, under loadMu
	bgBusy  atomic.Bool  // a background reload is running
}

// OAuthConfig configures an OAuthValidator: JWKS (a JSON Web Key Set), or Unsecured, or both.
type OAuthConfig struct {
	// JWKS is where the key set is: a file, or an http:// or https:// URL (the issuer's
	// jwks_uri), as Kafka's sasl.oauthbearer.jwks.endpoint.url. It is loaded at start (a failure
	// is an error) and again every JWKSRefresh, and at once (at most every JWKSRetry) when a token
	// names a key it lacks, so keys an issuer rotates in are found.
	JWKS        string
	JWKSRefresh time.Duration // default 1 h, Kafka's sasl.oauthbearer.jwks.endpoint.refresh.ms
	Unsecured   bool
	Issuer      string // required "iss" when set
	Audience    string // required in "aud" when set
}

// JWKSRetry is the least time between two loads of the key set for unknown kids.
const JWKSRetry = 10 * time.Second

// maxJWKS bounds a key set document.
const maxJWKS = 1 << 20

// NewOAuthValidator loads the key set.
func NewOAuthValidator(c OAuthConfig) (*OAuthValidator, error) {
	if c.JWKS == "" && !c.Unsecured {
		return nil, fmt.Errorf("%w: OAUTHBEARER needs a JWKS file or URL, or unsecured tokens", ErrCredentials)
	}
	v := &OAuthValidator{unsecured: c.Unsecured, issuer: c.Issuer, audience: c.Audience, now: time.Now,
		src: c.JWKS, refresh: c.JWKSRefresh, client: &http.Client{Timeout: 10 * time.Second}}
	if v.refresh <= 0 {
		v.refresh = time.Hour
	}
	v.keys.Store(&map[string]crypto.PublicKey{})
	if v.src != "" {
		if strings.Contains(v.src, "://") && !strings.HasPrefix(v.src, "http://") && !strings.HasPrefix(v.src, "https://") {
			return nil, fmt.Errorf("%w: JWKS %s: want a file or an http(s) URL", ErrCredentials, v.src)
		}
		v.loadMu.Lock()
		err := v.loadLocked()
		v.loadMu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCredentials, err)
		}
	}
	return v, nil
}

// loadLocked reads the key set from its source and swaps it in. Called with loadMu held.
func (v *OAuthValidator) loadLocked() error {
	v.tried = v.now()
	var b []byte
	var err error
	if strings.HasPrefix(v.src, "http://") || strings.HasPrefix(v.src, "https://") {
		b, err = v.fetchJWKS()
	} else {
		b, err = os.ReadFile(v.src)
	}
	if err != nil {
		return fmt.Errorf("JWKS %s: %w", v.src, err)
	}
	keys, err := parseJWKS(b)
	if err != nil {
		return fmt.Errorf("JWKS %s: %w", v.src, err)
	}
	v.keys.Store(&keys)
	v.loaded.Store(v.now().UnixNano())
	return nil
}

func (v *OAuthValidator) fetchJWKS() ([]byte, error) {
	resp, err := v.client.Get(v.src)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKS+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJWKS {
		return nil, fmt.Errorf("larger than %d bytes", maxJWKS)
	}
	return b, nil
}

// key returns the key for kid. A key set older than the refresh interval is reloaded in the
// background; a kid the set lacks reloads it at once, unless a load was tried within JWKSRetry.
func (v *OAuthValidator) key(kid string) (crypto.PublicKey, bool) {
	k, ok := (*v.keys.Load())[kid]
	if v.src == "" {
		return k, ok
	}
	if v.now().UnixNano()-v.loaded.Load() > int64(v.refresh) && v.bgBusy.CompareAndSwap(false, true) {
		go func() {
			defer v.bgBusy.Store(false)
			v.loadMu.Lock()
			defer v.loadMu.Unlock()
			if v.now().UnixNano()-v.loaded.Load() > int64(v.refresh) {
				_ = v.loadLocked() // the old set stays on failure; the next token tries again
			}
		}()
	}
	if ok {
		return k, true
	}
	v.loadMu.Lock()
	defer v.loadMu.Unlock()
	if k, ok = (*v.keys.Load())[kid]; ok || v.now().Sub(v.tried) < JWKSRetry {
		return k, ok // loaded meanwhile, or tried too recently
	}
	_ = v.loadLocked()
	k, ok = (*v.keys.Load())[kid]
	return k, ok
}

// WithOAuth returns c with OAUTHBEARER enabled, checked by v (c may be nil: OAUTHBEARER only).
func (c *Credentials) WithOAuth(v *OAuthValidator) (*Credentials, error) {
	out := &Credentials{}
	if c != nil {
		*out = *c
	} else {
		base, err := NewCredentials(nil, 0)
		if err != nil {
			return nil, err
		}
		*out = *base
	}
	out.oauth = v
	return out, nil
}

// mechanisms lists the SASL mechanisms c enables, in SaslHandshake's order.
func (c *Credentials) mechanisms() []string {
	var out []string
	if len(c.users) > 0 {
		out = append(out, saslMechanisms...)
	}
	if c.oauth != nil {
		out = append(out, mechOAuth)
	}
	return out
}

// oauthSession is one OAUTHBEARER exchange: a single client message.
type oauthSession struct {
	v    *OAuthValidator
	name string
}

func (o *oauthSession) user() string { return o.name }

func (o *oauthSession) step(in []byte) ([]byte, bool, error) {
	if o.name != "" {
		return nil, false, fmt.Errorf("%w: OAUTHBEARER takes one message", errSASL)
	}
	tok, err := parseOAuthMessage(in)
	if err != nil {
		return nil, false, err
	}
	sub, err := o.v.validate(tok)
	if err != nil {
		return nil, false, fmt.Errorf("invalid_token: %w", err)
	}
	o.name = sub
	return nil, true, nil
}

// parseOAuthMessage returns the bearer token of an OAUTHBEARER client message.
func parseOAuthMessage(in []byte) (string, error) {
	if len(in) > maxOAuthMessage {
		return "", fmt.Errorf("%w: OAUTHBEARER message of %d bytes", errSASL, len(in))
	}
	parts := bytes.Split(in, []byte{1})
	if len(parts) < 3 || !bytes.HasPrefix(parts[0], []byte("n,")) && !bytes.HasPrefix(parts[0], []byte("y,")) ||
		len(parts[len(parts)-1]) != 0 || len(parts[len(parts)-2]) != 0 {
		return "", fmt.Errorf("%w: malformed OAUTHBEARER message", errSASL)
	}
	for _, kv := range parts[1 : len(parts)-2] {
		k, v, ok := bytes.Cut(kv, []byte("="))
		if !ok {
			return "", fmt.Errorf("%w: malformed OAUTHBEARER key-value pair", errSASL)
		}
		if string(k) != "auth" {
			continue
		}
		scheme, tok, ok := strings.Cut(string(v), " ")
		if !ok || !strings.EqualFold(scheme, "bearer") || tok == "" {
			return "", fmt.Errorf("%w: OAUTHBEARER auth is not a bearer token", errSASL)
		}
		return strings.TrimSpace(tok), nil
	}
	return "", fmt.Errorf("%w: OAUTHBEARER message without auth", errSASL)
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

type jwtClaims struct {
	Sub string          `json:"sub"`
	Exp *float64        `json:"exp"`
	Nbf *float64        `json:"nbf"`
	Iat *float64        `json:"iat"`
	Iss string          `json:"iss"`
	Aud json.RawMessage `json:"aud"`
}

// validate checks a JWT and returns its subject.
func (v *OAuthValidator) validate(token string) (string, error) {
	segs := strings.Split(token, ".")
	if len(segs) != 3 {
		return "", errors.New("not a JWT (want header.claims.signature)")
	}
	hb, err := base64.RawURLEncoding.DecodeString(segs[0])
	if err != nil {
		return "", errors.New("header is not base64url")
	}
	cb, err := base64.RawURLEncoding.DecodeString(segs[1])
	if err != nil {
		return "", errors.New("claims are not base64url")
	}
	sig, err := base64.RawURLEncoding.DecodeString(segs[2])
	if err != nil {
		return "", errors.New("signature is not base64url")
	}
	var h jwtHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return "", errors.New("header is not JSON")
	}
	if h.Alg == "none" {
		if !v.unsecured || len(sig) != 0 {
			return "", errors.New("unsigned tokens are not accepted")
		}
	} else if err := v.verify(h, segs[0]+"."+segs[1], sig); err != nil {
		return "", err
	}
	var c jwtClaims
	if err := json.Unmarshal(cb, &c); err != nil {
		return "", errors.New("claims are not JSON")
	}
	now := v.now()
	at := func(f float64) time.Time { return time.Unix(0, int64(f*1e9)) }
	switch {
	case c.Sub == "":
		return "", errors.New("no sub claim")
	case c.Exp == nil:
		return "", errors.New("no exp claim")
	case !now.Before(at(*c.Exp).Add(oauthSkew)):
		return "", errors.New("token expired")
	case c.Nbf != nil && now.Add(oauthSkew).Before(at(*c.Nbf)):
		return "", errors.New("token not valid yet (nbf)")
	case c.Iat != nil && now.Add(oauthSkew).Before(at(*c.Iat)):
		return "", errors.New("token issued in the future (iat)")
	case v.issuer != "" && c.Iss != v.issuer:
		return "", fmt.Errorf("issuer %q is not the one expected", c.Iss)
	case v.audience != "" && !audienceHas(c.Aud, v.audience):
		return "", errors.New("audience does not name this service")
	}
	return c.Sub, nil
}

func audienceHas(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, a := range many {
			if a == want {
				return true
			}
		}
	}
	return false
}

// verify checks a signed token's signature with the key its header names.
func (v *OAuthValidator) verify(h jwtHeader, signed string, sig []byte) error {
	key, ok := v.key(h.Kid)
	if !ok {
		return fmt.Errorf("no key for kid %q", h.Kid)
	}
	var hf func() hash.Hash
	var ch crypto.Hash
	switch h.Alg[min(len(h.Alg), 2):] {
	case "256":
		hf, ch = sha256.New, crypto.SHA256
	case "384":
		hf, ch = sha512.New384, crypto.SHA384
	case "512":
		hf, ch = sha512.New, crypto.SHA512
	default:
		return fmt.Errorf("algorithm %q is not accepted", h.Alg)
	}
	d := hf()
	d.Write([]byte(signed))
	sum := d.Sum(nil)
	switch k := key.(type) {
	case *rsa.PublicKey:
		if !strings.HasPrefix(h.Alg, "RS") {
			return fmt.Errorf("algorithm %q does not fit an RSA key", h.Alg)
		}
		if rsa.VerifyPKCS1v15(k, ch, sum, sig) != nil {
			return errors.New("bad signature")
		}
	case *ecdsa.PublicKey:
		if !strings.HasPrefix(h.Alg, "ES") || len(sig)%2 != 0 {
			return fmt.Errorf("algorithm %q does not fit an EC key", h.Alg)
		}
		r, s := new(big.Int).SetBytes(sig[:len(sig)/2]), new(big.Int).SetBytes(sig[len(sig)/2:])
		if !ecdsa.Verify(k, sum, r, s) {
			return errors.New("bad signature")
		}
	default:
		return errors.New("unusable key")
	}
	return nil
}

// parseJWKS reads the RSA and EC public keys of a JSON Web Key Set, by kid.
func parseJWKS(b []byte) (map[string]crypto.PublicKey, error) {
	var set struct {
		Keys []struct {
			Kty, Kid, Use, N, E, Crv, X, Y string
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, err
	}
	keys := map[string]crypto.PublicKey{}
	dec := func(s string) (*big.Int, error) {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) == 0 {
			return nil, errors.New("bad base64url number")
		}
		return new(big.Int).SetBytes(b), nil
	}
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch k.Kty {
		case "RSA":
			n, err := dec(k.N)
			if err != nil {
				return nil, fmt.Errorf("key %q: n: %w", k.Kid, err)
			}
			e, err := dec(k.E)
			if err != nil || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31 {
				return nil, fmt.Errorf("key %q: bad e", k.Kid)
			}
			if n.BitLen() < 2048 {
				return nil, fmt.Errorf("key %q: RSA key of %d bits (want at least 2048)", k.Kid, n.BitLen())
			}
			keys[k.Kid] = &rsa.PublicKey{N: n, E: int(e.Int64())}
		case "EC":
			var curve elliptic.Curve
			switch k.Crv {
			case "P-256":
				curve = elliptic.P256()
			case "P-384":
				curve = elliptic.P384()
			case "P-521":
				curve = elliptic.P521()
			default:
				return nil, fmt.Errorf("key %q: curve %q", k.Kid, k.Crv)
			}
			x, err := base64.RawURLEncoding.DecodeString(k.X)
			if err != nil {
				return nil, fmt.Errorf("key %q: x: bad base64url", k.Kid)
			}
			y, err := base64.RawURLEncoding.DecodeString(k.Y)
			if err != nil {
				return nil, fmt.Errorf("key %q: y: bad base64url", k.Kid)
			}
			size := (curve.Params().BitSize + 7) / 8
			if len(x) > size || len(y) > size {
				return nil, fmt.Errorf("key %q: coordinates too long for %s", k.Kid, k.Crv)
			}
			point := append([]byte{4}, append(make([]byte, size-len(x)), x...)...)
			point = append(point, append(make([]byte, size-len(y)), y...)...)
			pk, err := ecdsa.ParseUncompressedPublicKey(curve, point) // checks the point is on the curve
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", k.Kid, err)
			}
			keys[k.Kid] = pk
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no RSA or EC signing keys")
	}
	return keys, nil
}
