package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"net/url"
	"os"
	"strings"

	"github.com/strata-log/strata/metadata/natsmeta"
)

// metadataAccess is how a node reaches an external NATS (--metadata nats://… or tls://…):
// credentials besides any in the URL, and TLS. Embedded metadata needs none of it: the node
// reaches its own server in-process, and that server opens no port.
type metadataAccess struct {
	tokenFile, creds, nkey string
	tlsCA, tlsCert, tlsKey string
}

func (m *metadataAccess) register(fs *flag.FlagSet) {
	fs.StringVar(&m.tokenFile, "metadata-token-file", "", "file holding the token of the --metadata NATS servers (mode 0600: a file others may read is refused)")
	fs.StringVar(&m.creds, "metadata-creds", "", "NATS user credentials file (JWT and nkey seed) for the --metadata servers")
	fs.StringVar(&m.nkey, "metadata-nkey", "", "file holding an nkey seed (SU...) for the --metadata servers")
	fs.StringVar(&m.tlsCA, "metadata-tls-ca", "", "PEM CA certificates that sign the --metadata servers' certificates (implies TLS; default: the system's roots for tls:// URLs)")
	fs.StringVar(&m.tlsCert, "metadata-tls-cert", "", "PEM client certificate (chain) presented to the --metadata servers (with --metadata-tls-key)")
	fs.StringVar(&m.tlsKey, "metadata-tls-key", "", "PEM private key for --metadata-tls-cert")
}

// validate checks the access flags against --metadata's value v.
func (m *metadataAccess) validate(v string) error {
	urls, err := metadataURLs(v)
	if err != nil {
		return err
	}
	kinds := 0
	for _, set := range []bool{m.tokenFile != "", m.creds != "", m.nkey != ""} {
		if set {
			kinds++
		}
	}
	inURL := false
	for _, u := range urls {
		if p, _ := url.Parse(u); p != nil && p.User != nil {
			inURL = true
		}
	}
	switch {
	case urls == nil && (kinds > 0 || m.tlsCA != "" || m.tlsCert != "" || m.tlsKey != ""):
		return usagef("--metadata-token-file, --metadata-creds, --metadata-nkey and --metadata-tls-* are for an external --metadata (nats:// or tls://)")
	case kinds > 1:
		return usagef("--metadata-token-file, --metadata-creds and --metadata-nkey: give one")
	case kinds > 0 && inURL:
		return usagef("--metadata %s carries credentials; drop them or the credential flag", natsmeta.RedactURLs(v))
	case (m.tlsCert == "") != (m.tlsKey == ""):
		return usagef("--metadata-tls-cert and --metadata-tls-key go together")
	}
	return nil
}

// apply loads the files the flags name into cfg. Errors name files, never their contents.
func (m *metadataAccess) apply(cfg *natsmeta.Config) error {
	cfg.CredsFile, cfg.NKeyFile = m.creds, m.nkey
	if m.tokenFile != "" {
		tok, err := natsmeta.ReadToken(m.tokenFile)
		if err != nil {
			return usagef("--metadata-token-file: %v", err)
		}
		cfg.Token = tok
	}
	if m.tlsCA == "" && m.tlsCert == "" {
		return nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if m.tlsCA != "" {
		pem, err := os.ReadFile(m.tlsCA)
		if err != nil {
			return usagef("--metadata-tls-ca: %v", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return usagef("--metadata-tls-ca %s: no PEM certificate in it", m.tlsCA)
		}
	}
	if m.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(m.tlsCert, m.tlsKey)
		if err != nil {
			return usagef("--metadata-tls-cert/--metadata-tls-key: %v", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	cfg.TLS = tc
	return nil
}

// metadataURLs returns nil for embedded metadata, else the NATS URLs. A URL may carry
// credentials (nats://user:password@host:4222, nats://token@host:4222); messages show it redacted.
func metadataURLs(v string) ([]string, error) {
	if v == "embedded" {
		return nil, nil
	}
	var urls []string
	for _, u := range strings.Split(v, ",") {
		p, err := url.Parse(strings.TrimSpace(u))
		if err != nil || (p.Scheme != "nats" && p.Scheme != "tls") || p.Host == "" {
			return nil, usagef(`--metadata %q: want "embedded" or nats://[credentials@]host:port[,...] (tls:// for TLS)`, natsmeta.RedactURLs(v))
		}
		urls = append(urls, p.String())
	}
	return urls, nil
}
