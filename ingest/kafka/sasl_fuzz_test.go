package kafka

import (
	"testing"
)

// FuzzSCRAM feeds outside bytes as the client-first and client-final messages of a SCRAM
// exchange. The server must never panic and must never authenticate: no fuzzer input knows the
// proof for the server's fresh nonce.
func FuzzSCRAM(f *testing.F) {
	creds, err := NewCredentials(map[string]string{"alice": "wonder land"}, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("n,,n=alice,r=abcdef"), []byte("c=biws,r=abcdef,p=AAAA"))
	f.Add([]byte("y,a=alice,n=alice,r=x,ext=1"), []byte("c=eSxhPWFsaWNlLA==,r=x,p="))
	f.Add([]byte("n,,n=al=2Cice=3D,r=%%%,tokenauth=true"), []byte(",p=,p="))
	f.Add([]byte("p=tls-unique,,n=alice,r=1"), []byte("c=,r="))
	f.Add([]byte("n,,m=ext,n=alice,r=1"), []byte("c=biws,r=1,x=2,p=dGVzdA=="))
	// librdkafka < 2.6.1: the client nonce in front of the whole server nonce once more.
	f.Add([]byte("n,,n=alice,r=8]}Uo5g;CA=BAUcx0hAt"), []byte("c=biws,r=8]}Uo5g;CA=BAUcx0hAt8]}Uo5g;CA=BAUcx0hAtAAAA,p=dGVzdA=="))
	f.Add([]byte("n,,n=alice,r=ab"), []byte("c=biws,r=abab,p="))
	f.Fuzz(func(t *testing.T, first, final []byte) {
		for _, h := range []scramHash{scramSHA256, scramSHA512} {
			s := &scramSession{creds: creds, h: h}
			out, done, err := s.step(first)
			if done {
				t.Fatal("authenticated on the first message")
			}
			if err != nil {
				continue
			}
			if len(out) == 0 {
				t.Fatal("no server-first message")
			}
			if _, done, _ := s.step(final); done {
				t.Fatalf("authenticated with %q / %q", first, final)
			}
		}
		_, _ = parseClientFinal(final)
		p := &plainSession{creds: creds}
		if _, done, _ := p.step(first); done {
			t.Fatalf("PLAIN authenticated with %q", first)
		}
	})
}
