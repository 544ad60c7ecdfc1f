package kafka

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

var b64 = base64.RawURLEncoding.EncodeToString

// jwt builds a token from header and claims, signed by sign (nil: no signature).
func jwt(t testing.TB, header, claims map[string]any, sign func(signed []byte) []byte) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	signed := b64(h) + "." + b64(c)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(signed))
	}
	return signed + "." + b64(sig)
}

// testKeys are an RSA and an EC key and the JWKS file publishing them (kids "r" and "e").
type testKeys struct {
	rsa  *rsa.PrivateKey
	ec   *ecdsa.PrivateKey
	jwks string
}

func newTestKeys(t testing.TB) testKeys {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pad := func(b []byte) []byte { return append(make([]byte, 32-len(b)), b...) }
	set := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "r", "use": "sig", "n": b64(rk.N.Bytes()), "e": b64(big.NewInt(int64(rk.E)).Bytes())},
		{"kty": "EC", "kid": "e", "crv": "P-256", "x": b64(pad(ek.X.Bytes())), "y": b64(pad(ek.Y.Bytes()))},
	}}
	b, _ := json.Marshal(set)
	f := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return testKeys{rsa: rk, ec: ek, jwks: f}
}

func (k testKeys) signRS256(signed []byte) []byte {
	sum := sha256.Sum256(signed)
	sig, _ := rsa.SignPKCS1v15(rand.Reader, k.rsa, crypto.SHA256, sum[:])
	return sig
}

func (k testKeys) signES256(signed []byte) []byte {
	sum := sha256.Sum256(signed)
	r, s, _ := ecdsa.Sign(rand.Reader, k.ec, sum[:])
	pad := func(b []byte) []byte { return append(make([]byte, 32-len(b)), b...) }
	return append(pad(r.Bytes()), pad(s.Bytes())...)
}

func TestOAuthValidate(t *testing.T) {
	keys := newTestKeys(t)
	v, err := NewOAuthValidator(OAuthConfig{JWKS: keys.jwks, Issuer: "https://idp", Audience: "strata"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := func() map[string]any {
		return map[string]any{"sub": "svc-a", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "iss": "https://idp", "aud": []string{"other", "strata"}}
	}
	with := func(k string, val any) map[string]any { c := good(); c[k] = val; return c }
	without := func(k string) map[string]any { c := good(); delete(c, k); return c }
	cases := []struct {
		name  string
		token string
		want  string // "" accepted, else part of the error
	}{
		{"RS256", jwt(t, map[string]any{"alg": "RS256", "kid": "r"}, good(), keys.signRS256), ""},
		{"ES256", jwt(t, map[string]any{"alg": "ES256", "kid": "e"}, good(), keys.signES256), ""},
		{"audience as a string", jwt(t, map[string]any{"alg": "ES256", "kid": "e"}, with("aud", "strata"), keys.signES256), ""},
		{"expired", jwt(t, map[string]any{"alg": "RS256", "kid": "r"}, with("exp", now.Add(-time.Hour).Unix()), keys.signRS256), "expired"},
		{"no exp", jwt(t, map[string]any{"alg": "RS256", "kid": "r"}, without("exp"), keys.signRS256), "no exp"},
		{"no sub", jwt(t, map[string]any{"alg": "RS256", "kid": "r"}, without("sub"), keys.signRS256), "no sub"},
		{"not yet", jwt(t, map[string]any{"alg": "RS256", "kid": "r"}, with("nbf", now.Add(time.Hour).Unix()), keys.signRS256), "nbf"},
		{"wrong issuer", jwt(t, map[string]any{"alg": "RS256", "kid": "r"}, with("iss", "https://evil"), keys.signRS256), "issuer"},
		{"wrong audience", jwt(t, map[string]any{"alg": "RS256", "kid": "r"}, with("aud", "other"), keys.signRS256), "audience"},
		{"unknown kid", jwt(t, map[string]any{"alg": "RS256", "kid": "x"}, good(), keys.signRS256), "no key"},
		{"RSA key, EC alg", jwt(t, map[string]any{"alg": "ES256", "kid": "r"}, good(), keys.signES256), "does not fit"},
		{"signed by another key", jwt(t, map[string]any{"alg": "RS256", "kid": "r"}, good(), newTestKeys(t).signRS256), "bad signature"},
		{"claims changed after signing", func() string {
			tok := jwt(t, map[string]any{"alg": "ES256", "kid": "e"}, good(), keys.signES256)
			p := strings.Split(tok, ".")
			c, _ := json.Marshal(with("sub", "admin"))
			return p[0] + "." + b64(c) + "." + p[2]
		}(), "bad signature"},
		{"unsigned", jwt(t, map[string]any{"alg": "none"}, good(), nil), "unsigned"},
		{"HS256", jwt(t, map[string]any{"alg": "HS256", "kid": "r"}, good(), keys.signRS256), "does not fit"},
		{"garbage", "not.a.jwt!", "base64url"},
		{"two parts", "a.b", "not a JWT"},
	}
	for _, tc := range cases {
		sub, err := v.validate(tc.token)
		switch {
		case tc.want == "" && (err != nil || sub != "svc-a"):
			t.Errorf("%s: %q, %v; want accepted as svc-a", tc.name, sub, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %q, %v; want an error about %q", tc.name, sub, err, tc.want)
		}
	}
	uns, err := NewOAuthValidator(OAuthConfig{Unsecured: true})
	if err != nil {
		t.Fatal(err)
	}
	if sub, err := uns.validate(jwt(t, map[string]any{"alg": "none"}, map[string]any{"sub": "x", "exp": now.Add(time.Hour).Unix()}, nil)); err != nil || sub != "x" {
		t.Fatalf("unsecured validator: %q, %v", sub, err)
	}
	if _, err := uns.validate(jwt(t, map[string]any{"alg": "none"}, map[string]any{"sub": "x", "exp": now.Add(time.Hour).Unix()}, func([]byte) []byte { return []byte("sig") })); err == nil {
		t.Fatal("unsecured validator accepted alg none with a signature")
	}
	if _, err := NewOAuthValidator(OAuthConfig{}); err == nil {
		t.Fatal("a validator with neither keys nor unsecured tokens was made")
	}
}

func TestParseOAuthMessage(t *testing.T) {
	for _, tc := range []struct {
		in, tok string
	}{
		{"n,,\x01auth=Bearer abc.def.\x01\x01", "abc.def."},
		{"n,a=svc,\x01host=h\x01port=9092\x01auth=bearer tok\x01\x01", "tok"},
		{"n,,\x01auth=Basic abc\x01\x01", ""},
		{"n,,\x01\x01", ""},
		{"p=x,,\x01auth=Bearer t\x01\x01", ""},
		{"n,,\x01auth=Bearer t\x01", ""},
		{"", ""},
	} {
		tok, err := parseOAuthMessage([]byte(tc.in))
		if tok != tc.tok || (tc.tok == "") != (err != nil) {
			t.Errorf("%q: %q, %v; want %q", tc.in, tok, err, tc.tok)
		}
	}
}

func FuzzOAuthMessage(f *testing.F) {
	keys := newTestKeys(f)
	v, err := NewOAuthValidator(OAuthConfig{JWKS: keys.jwks, Unsecured: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("n,,\x01auth=Bearer " + jwt(f, map[string]any{"alg": "RS256", "kid": "r"}, map[string]any{"sub": "a", "exp": time.Now().Add(time.Hour).Unix()}, keys.signRS256) + "\x01\x01"))
	f.Add([]byte("n,,\x01auth=Bearer " + jwt(f, map[string]any{"alg": "ES256", "kid": "e"}, map[string]any{"sub": "a", "exp": 1e12}, keys.signES256) + "\x01\x01"))
	f.Add([]byte("n,,\x01auth=Bearer e30.e30.\x01\x01"))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := &oauthSession{v: v}
		if _, done, err := s.step(in); done && (err != nil || s.user() == "") {
			t.Fatalf("done with err %v, user %q", err, s.user())
		}
	})
}

// TestOAuthBearerLogin: franz-go's OAUTHBEARER client logs in to a node with a JWKS, as the
// token's subject; an expired token and a forged one are refused with invalid_token.
func TestOAuthBearerLogin(t *testing.T) {
	keys := newTestKeys(t)
	v, err := NewOAuthValidator(OAuthConfig{JWKS: keys.jwks})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := testCredentials(t).WithOAuth(v)
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, nodeOpts{serverCfg: func(c *Config) { c.SASL = creds }})
	token := func(exp time.Time, sign func([]byte) []byte) kgo.Opt {
		tok := jwt(t, map[string]any{"alg": "RS256", "kid": "r"}, map[string]any{"sub": "svc-a", "exp": exp.Unix()}, sign)
		return kgo.SASL(oauth.Auth{Token: tok}.AsMechanism())
	}
	if err := metadataErr(t, n.addr, token(time.Now().Add(time.Hour), keys.signRS256)); err != nil {
		t.Fatalf("valid token: %v", err)
	}
	for name, opt := range map[string]kgo.Opt{
		"expired": token(time.Now().Add(-time.Hour), keys.signRS256),
		"forged":  token(time.Now().Add(time.Hour), newTestKeys(t).signRS256),
	} {
		err := metadataErr(t, n.addr, opt)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.Contains(err.Error(), "invalid_token") {
			t.Errorf("%s token: %v, want SASL_AUTHENTICATION_FAILED with invalid_token", name, err)
		}
	}
	// The users of the same node still log in with SCRAM.
	if err := metadataErr(t, n.addr, kgo.SASL(mechanism(mechSCRAM512, "alice", "wonder land"))); err != nil {
		t.Fatalf("SCRAM beside OAUTHBEARER: %v", err)
	}

}

// TestOAuthJWKSFromURL: the key set comes from an HTTP server (an issuer's jwks_uri); a token
// naming a key the set lacks reloads it (a rotation), at most every JWKSRetry; the set is reloaded
// in the background once older than the refresh interval; a source that cannot be read refuses
// to start.
func TestOAuthJWKSFromURL(t *testing.T) {
	a, b := newTestKeys(t), newTestKeys(t)
	setA, err := os.ReadFile(a.jwks)
	if err != nil {
		t.Fatal(err)
	}
	setB, err := os.ReadFile(b.jwks)
	if err != nil {
		t.Fatal(err)
	}
	setB = bytes.ReplaceAll(setB, []byte(`"kid":"r"`), []byte(`"kid":"r2"`)) // B's RSA key rotates in as r2
	var serving atomic.Pointer[[]byte]
	serving.Store(&setA)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write(*serving.Load())
	}))
	defer srv.Close()

	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	v, err := NewOAuthValidator(OAuthConfig{JWKS: srv.URL + "/jwks.json", JWKSRefresh: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	v.now = now
	claims := map[string]any{"sub": "svc", "exp": time.Now().Add(10 * time.Hour).Unix()}
	tokA := jwt(t, map[string]any{"alg": "RS256", "kid": "r"}, claims, a.signRS256)
	tokB := jwt(t, map[string]any{"alg": "RS256", "kid": "r2"}, claims, b.signRS256)
	if _, err := v.validate(tokA); err != nil || hits.Load() != 1 {
		t.Fatalf("token of the first key set: %v (%d loads)", err, hits.Load())
	}

	serving.Store(&setB)
	advance(JWKSRetry + time.Second)
	if _, err := v.validate(tokB); err != nil || hits.Load() != 2 {
		t.Fatalf("token of a rotated-in key: %v (%d loads, want 2)", err, hits.Load())
	}
	stranger := jwt(t, map[string]any{"alg": "RS256", "kid": "nobody"}, claims, b.signRS256)
	if _, err := v.validate(stranger); err == nil || hits.Load() != 2 {
		t.Fatalf("unknown kid right after a load: %v (%d loads, want no new load)", err, hits.Load())
	}
	advance(JWKSRetry + time.Second)
	if _, err := v.validate(stranger); err == nil || hits.Load() != 3 {
		t.Fatalf("unknown kid after JWKSRetry: %v (%d loads, want one more)", err, hits.Load())
	}
	if _, err := v.validate(tokA); err == nil {
		t.Fatal("a key the issuer dropped is still accepted")
	}

	serving.Store(&setA)
	advance(time.Hour + time.Second) // the set is stale: a token of a known key reloads it behind
	if _, err := v.validate(tokB); err != nil {
		t.Fatalf("token of a known key with a stale set: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); hits.Load() != 4; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d loads, want a background reload of the stale set", hits.Load())
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := v.validate(tokA); err == nil {
			break // the reloaded set (A again) is in use
		}
		if time.Now().After(deadline) {
			t.Fatal("the reloaded key set was not swapped in")
		}
	}

	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }))
	defer bad.Close()
	for _, src := range []string{bad.URL, "ftp://idp/jwks", filepath.Join(t.TempDir(), "missing.json")} {
		if _, err := NewOAuthValidator(OAuthConfig{JWKS: src}); err == nil || !errors.Is(err, ErrCredentials) {
			t.Errorf("JWKS %s: %v, want a start-up error", src, err)
		}
	}
}
