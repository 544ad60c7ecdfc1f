package natsmeta

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
)

// Who may reach the metadata: credentials and TLS for an external NATS cluster, and the token an
// embedded server that listens requires. Secrets never reach a log line or an error: URLs are
// named by RedactURLs, and an error that might quote a secret is rewritten by Config.redact.

// credentialKinds counts the kinds of credentials set in c.
func (c Config) credentialKinds() int {
	n := 0
	for _, set := range []bool{c.Token != "", c.User != "", c.CredsFile != "", c.NKeyFile != ""} {
		if set {
			n++
		}
	}
	return n
}

// accessOptions are the nats.go options for c's credentials and TLS.
func (c Config) accessOptions() ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case c.CredsFile != "":
		if _, err := os.Stat(c.CredsFile); err != nil {
			return nil, fmt.Errorf("natsmeta: credentials file: %w", err)
		}
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	case c.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			// nats.go's messages about a seed file name the file, never the seed.
			return nil, fmt.Errorf("natsmeta: nkey seed file: %w", err)
		}
		opts = append(opts, o)
	}
	if c.TLS != nil {
		opts = append(opts, nats.Secure(c.TLS))
	}
	return opts, nil
}

// secrets are the strings c holds that must not be shown: its token, password and the
// credentials in its URLs.
func (c Config) secrets() []string {
	var out []string
	for _, s := range []string{c.Token, c.Password} {
		if s != "" {
			out = append(out, s)
		}
	}
	for _, raw := range c.URLs {
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok && p != "" {
				out = append(out, p, url.QueryEscape(p), url.PathEscape(p))
			} else if name := u.User.Username(); name != "" {
				out = append(out, name, url.QueryEscape(name), url.PathEscape(name)) // a token
			}
		}
	}
	return out
}

// redact rewrites err's message without c's secrets; errors.Is and As still see err.
func (c Config) redact(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range c.secrets() {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// RedactURLs returns a comma-separated list of server URLs with any user, password or token
// replaced by "xxxxx", for logs and errors. A part that does not parse is shown as "(unparsable)",
// since it might be a secret.
func RedactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		switch {
		case err != nil:
			parts[i] = "(unparsable)"
		case u.User != nil:
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword("xxxxx", "xxxxx")
			} else {
				u.User = url.User("xxxxx")
			}
			parts[i] = u.String()
		default:
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

// ErrTokenFileMode marks a token file that others than its owner may read or write.
var ErrTokenFileMode = errors.New("natsmeta: token file is accessible to group or others (want mode 0600)")

// LoadOrCreateToken returns the token in the file at path, creating the file with a fresh random
// token and mode 0600 when it does not exist. A file that group or others may access is refused
// (ErrTokenFileMode), as is an empty one. Safe to race with another process creating the same
// file: one creation wins and both read its token.
func LoadOrCreateToken(path string) (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("natsmeta: token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		_, werr := f.WriteString(tok + "\n")
		if serr := f.Sync(); werr == nil {
			werr = serr
		}
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return "", fmt.Errorf("natsmeta: write token file: %w", werr)
		}
		return tok, nil
	case !errors.Is(err, fs.ErrExist):
		return "", fmt.Errorf("natsmeta: create token file: %w", err)
	}
	return ReadToken(path)
}

// ReadToken reads a token file written by LoadOrCreateToken (or by hand: one line). It refuses a
// file that group or others may access (ErrTokenFileMode) and an empty one.
func ReadToken(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("natsmeta: token file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%w: %s is %v", ErrTokenFileMode, path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("natsmeta: token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("natsmeta: token file %s: want one token on one line", path)
	}
	return tok, nil
}
