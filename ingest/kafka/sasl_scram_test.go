package kafka

import (
	"crypto/pbkdf2"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
)

// scramClient is the client side of one SCRAM exchange, as RFC 5802 computes it, for tests that
// shape the client-final message the way a particular client library does.
type scramClient struct {
	h        scramHash
	user     string
	password string
	nonce    string
}

func (c scramClient) first() string { return "n,,n=" + c.user + ",r=" + c.nonce }

// final answers serverFirst with the nonce form r (which a correct client takes from serverFirst
// unchanged) and returns the message and the server signature the client expects back.
func (c scramClient) final(t *testing.T, serverFirst, r string) (msg, wantV string) {
	t.Helper()
	attrs := map[string]string{}
	for _, a := range strings.Split(serverFirst, ",") {
		k, v, _ := strings.Cut(a, "=")
		attrs[k] = v
	}
	salt, err := base64.StdEncoding.DecodeString(attrs["s"])
	if err != nil {
		t.Fatal(err)
	}
	iters, err := strconv.Atoi(attrs["i"])
	if err != nil {
		t.Fatal(err)
	}
	salted, err := pbkdf2.Key(c.h.newHash, c.password, salt, iters, c.h.newHash().Size())
	if err != nil {
		t.Fatal(err)
	}
	clientKey := hmacSum(c.h, salted, []byte("Client Key"))
	withoutProof := "c=biws,r=" + r
	authMsg := []byte(strings.TrimPrefix(c.first(), "n,,") + "," + serverFirst + "," + withoutProof)
	sig := hmacSum(c.h, hashSum(c.h, clientKey), authMsg)
	proof := make([]byte, len(sig))
	for i := range sig {
		proof[i] = clientKey[i] ^ sig[i]
	}
	serverSig := hmacSum(c.h, hmacSum(c.h, salted, []byte("Server Key")), authMsg)
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof), "v=" + base64.StdEncoding.EncodeToString(serverSig)
}

// The client-final nonce forms: the server-first nonce (RFC 5802, franz-go, Java), and the client
// nonce in front of it once more (librdkafka before 2.6.1, e.g. Debian 12's kcat), are accepted
// with a correct proof; any other nonce is refused even with a proof computed over it.
func TestSCRAMClientFinalNonceForms(t *testing.T) {
	creds := testCredentials(t)
	const cnonce = "8]}Uo5g;CA=BAUcx0hAt:gh8dp.I;H3f" // as librdkafka makes them: printable, '=' included
	for _, h := range []scramHash{scramSHA256, scramSHA512} {
		for _, tc := range []struct {
			name string
			r    func(combined string) string
			ok   bool
		}{
			{"rfc5802", func(c string) string { return c }, true},
			{"librdkafka-before-2.6.1", func(c string) string { return cnonce + c }, true},
			{"client-nonce-only", func(string) string { return cnonce }, false},
			{"other-prefix", func(c string) string { return "x" + c }, false},
			{"client-nonce-twice-more", func(c string) string { return cnonce + cnonce + c }, false},
			{"server-part-only", func(c string) string { return strings.TrimPrefix(c, cnonce) }, false},
			{"truncated", func(c string) string { return c[:len(c)-1] }, false},
			{"suffix", func(c string) string { return c + "x" }, false},
		} {
			t.Run(h.name+"/"+tc.name, func(t *testing.T) {
				cl := scramClient{h: h, user: "alice", password: "wonder land", nonce: cnonce}
				s := &scramSession{creds: creds, h: h}
				out, done, err := s.step([]byte(cl.first()))
				if err != nil || done {
					t.Fatalf("client-first: done %v, %v", done, err)
				}
				serverFirst := string(out)
				combined := strings.TrimPrefix(strings.Split(serverFirst, ",")[0], "r=")
				if !strings.HasPrefix(combined, cnonce) || len(combined) == len(cnonce) {
					t.Fatalf("server-first nonce %q does not extend the client's %q", combined, cnonce)
				}
				final, wantV := cl.final(t, serverFirst, tc.r(combined))
				out, done, err = s.step([]byte(final))
				if !tc.ok {
					if err == nil || done {
						t.Fatalf("accepted client-final %q", final)
					}
					return
				}
				if err != nil || !done {
					t.Fatalf("client-final %q: done %v, %v", final, done, err)
				}
				if string(out) != wantV {
					t.Fatalf("server-final %q, want %q", out, wantV)
				}
			})
		}
	}
	// The wrong password with the librdkafka form is still refused.
	cl := scramClient{h: scramSHA256, user: "alice", password: "wonderland", nonce: cnonce}
	s := &scramSession{creds: creds, h: scramSHA256}
	out, _, err := s.step([]byte(cl.first()))
	if err != nil {
		t.Fatal(err)
	}
	combined := strings.TrimPrefix(strings.Split(string(out), ",")[0], "r=")
	final, _ := cl.final(t, string(out), cnonce+combined)
	if _, done, err := s.step([]byte(final)); err == nil || done {
		t.Fatal("wrong password accepted in the librdkafka nonce form")
	}
}
