package kafka

// SASL credentials (KIP-43, KIP-84).
//
// A Credentials holds, for every user, the SCRAM keys of RFC 5802 for SHA-256 and SHA-512:
// a random per-user salt, the iteration count, StoredKey = H(HMAC(SaltedPassword, "Client Key"))
// and ServerKey = HMAC(SaltedPassword, "Server Key"), where SaltedPassword = PBKDF2(password,
// salt, iterations). Passwords themselves are dropped once these are computed. PLAIN checks a
// password by deriving the SHA-256 StoredKey again and comparing in constant time, so PLAIN costs
// one PBKDF2 per authentication.
//
// The users file (strata server --sasl-users) is text, one user per line:
//
//	# comment lines and blank lines are ignored
//	alice:secret password with spaces
//	bob:p:w   (the password is everything after the first colon)
//
// User names may not be empty or contain a colon; passwords may not be empty. Lines are taken
// as they are (no SASLprep normalisation); a trailing carriage return is dropped.

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
)

// ErrCredentials wraps errors in SASL credentials or the users file.
var ErrCredentials = errors.New("kafka: sasl credentials")

// DefaultSCRAMIterations is the PBKDF2 iteration count for SCRAM credentials (RFC 7677's minimum,
// Kafka's default).
const DefaultSCRAMIterations = 4096

// maxSCRAMIterations bounds the iteration count (franz-go refuses more than 2^20).
const maxSCRAMIterations = 1 << 20

// SASL mechanism names, in the order SaslHandshake lists them.
const (
	mechPlain     = "PLAIN"
	mechSCRAM256  = "SCRAM-SHA-256"
	mechSCRAM512  = "SCRAM-SHA-512"
	saltBytes     = 16
	maxUsersBytes = 16 << 20
)

var saslMechanisms = []string{mechPlain, mechSCRAM256, mechSCRAM512}

// scramHash is one SCRAM hash function.
type scramHash struct {
	name    string
	newHash func() hash.Hash
}

var (
	scramSHA256 = scramHash{mechSCRAM256, sha256.New}
	scramSHA512 = scramHash{mechSCRAM512, sha512.New}
)

// scramCred is one user's SCRAM keys for one hash.
type scramCred struct {
	salt      []byte
	iters     int
	storedKey []byte
	serverKey []byte
}

type userCred struct {
	sha256, sha512 scramCred
}

func (u *userCred) forHash(h scramHash) *scramCred {
	if h.name == mechSCRAM512 {
		return &u.sha512
	}
	return &u.sha256
}

// Credentials are the users a SASL listener accepts. Safe for concurrent use (read only).
type Credentials struct {
	users map[string]*userCred
	iters int
	// secret derives stable fake salts for unknown users, so that a SCRAM exchange does not tell
	// whether a user exists.
	secret []byte
	// oauth, when set, enables OAUTHBEARER (sasl_oauth.go).
	oauth *OAuthValidator
}

// NewCredentials computes the SCRAM keys of users (name → password) with iterations PBKDF2
// rounds (0: DefaultSCRAMIterations).
func NewCredentials(users map[string]string, iterations int) (*Credentials, error) {
	if iterations == 0 {
		iterations = DefaultSCRAMIterations
	}
	if iterations < DefaultSCRAMIterations || iterations > maxSCRAMIterations {
		return nil, fmt.Errorf("%w: iterations %d: want %d..%d", ErrCredentials, iterations, DefaultSCRAMIterations, maxSCRAMIterations)
	}
	c := &Credentials{users: make(map[string]*userCred, len(users)), iters: iterations, secret: make([]byte, 32)}
	_, _ = rand.Read(c.secret)
	for name, pw := range users {
		if name == "" || strings.ContainsRune(name, ':') {
			return nil, fmt.Errorf("%w: user name %q: want non-empty, without ':'", ErrCredentials, name)
		}
		if pw == "" {
			return nil, fmt.Errorf("%w: user %q has an empty password", ErrCredentials, name)
		}
		u := &userCred{}
		var err error
		if u.sha256, err = deriveSCRAM(scramSHA256, pw, iterations); err != nil {
			return nil, err
		}
		if u.sha512, err = deriveSCRAM(scramSHA512, pw, iterations); err != nil {
			return nil, err
		}
		c.users[name] = u
	}
	return c, nil
}

// LoadCredentials reads a users file (see the format above) and computes its users' keys.
func LoadCredentials(path string) (*Credentials, error) {
	users, err := LoadUsers(path)
	if err != nil {
		return nil, err
	}
	return NewCredentials(users, 0)
}

// LoadUsers reads a users file: user name → password. A node reads its own inter-node user's
// password from the file the listener's credentials come from.
func LoadUsers(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCredentials, err)
	}
	defer f.Close()
	return parseUsers(f)
}

// ParseCredentials reads users in the users-file format from r.
func ParseCredentials(r io.Reader, iterations int) (*Credentials, error) {
	users, err := parseUsers(r)
	if err != nil {
		return nil, err
	}
	return NewCredentials(users, iterations)
}

func parseUsers(r io.Reader) (map[string]string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxUsersBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCredentials, err)
	}
	if len(b) > maxUsersBytes {
		return nil, fmt.Errorf("%w: users file larger than %d bytes", ErrCredentials, maxUsersBytes)
	}
	users := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxUsersBytes)
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		name, pw, ok := strings.Cut(l, ":")
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: line %d: want user:password", ErrCredentials, line)
		case name == "":
			return nil, fmt.Errorf("%w: line %d: empty user name", ErrCredentials, line)
		case pw == "":
			return nil, fmt.Errorf("%w: line %d: user %q has an empty password", ErrCredentials, line, name)
		}
		if _, dup := users[name]; dup {
			return nil, fmt.Errorf("%w: line %d: user %q appears twice", ErrCredentials, line, name)
		}
		users[name] = pw
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCredentials, err)
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("%w: no users", ErrCredentials)
	}
	return users, nil
}

// Len is the number of users.
func (c *Credentials) Len() int { return len(c.users) }

func deriveSCRAM(h scramHash, password string, iters int) (scramCred, error) {
	salt := make([]byte, saltBytes)
	_, _ = rand.Read(salt)
	salted, err := pbkdf2.Key(h.newHash, password, salt, iters, h.newHash().Size())
	if err != nil {
		return scramCred{}, fmt.Errorf("%w: %w", ErrCredentials, err)
	}
	clientKey := hmacSum(h, salted, []byte("Client Key"))
	return scramCred{
		salt:      salt,
		iters:     iters,
		storedKey: hashSum(h, clientKey),
		serverKey: hmacSum(h, salted, []byte("Server Key")),
	}, nil
}

// lookup returns name's keys for h and whether the user exists. For an unknown user it returns
// keys no proof can match, with a salt that is stable for that name.
func (c *Credentials) lookup(h scramHash, name string) (*scramCred, bool) {
	if u, ok := c.users[name]; ok {
		return u.forHash(h), true
	}
	fake := hmacSum(scramSHA256, c.secret, []byte(h.name+"\x00"+name))
	return &scramCred{salt: fake[:saltBytes], iters: c.iters, storedKey: make([]byte, h.newHash().Size()),
		serverKey: make([]byte, h.newHash().Size())}, false
}

// CheckPassword reports whether password is name's password (one PBKDF2 from the stored salt),
// in time that does not depend on whether the user exists or how much of the password matched.
// SASL/PLAIN uses it, and so do other listeners that take a user and a password, such as HTTP
// Basic authentication.
func (c *Credentials) CheckPassword(name, password string) bool {
	cred, known := c.lookup(scramSHA256, name)
	salted, err := pbkdf2.Key(scramSHA256.newHash, password, cred.salt, cred.iters, sha256.Size)
	if err != nil {
		return false
	}
	stored := hashSum(scramSHA256, hmacSum(scramSHA256, salted, []byte("Client Key")))
	return hmac.Equal(stored, cred.storedKey) && known
}

func hmacSum(h scramHash, key, msg []byte) []byte {
	m := hmac.New(h.newHash, key)
	m.Write(msg)
	return m.Sum(nil)
}

func hashSum(h scramHash, b []byte) []byte {
	d := h.newHash()
	d.Write(b)
	return d.Sum(nil)
}
