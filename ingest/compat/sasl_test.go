//go:build unix

package compat

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

const (
	saslUser     = "compat"
	saslPassword = "s3cret, with = and spaces"
)

// TestSASLClients runs the scenario against a server with --sasl-users: kcat (librdkafka) and
// sarama authenticate with SCRAM-SHA-256 and SCRAM-SHA-512, and kcat with a wrong password is
// refused. Debian 12's kcat (librdkafka 2.0.2) sends the client-final nonce in the form older
// librdkafka does, which Apache Kafka 3.x accepts. Against an external broker
// (STRATA_COMPAT_BOOTSTRAP) the test is skipped: it does not know that broker's users.
func TestSASLClients(t *testing.T) {
	if os.Getenv("STRATA_COMPAT_BOOTSTRAP") != "" {
		t.Skip("SASL cases need a server this test starts with its own users")
	}
	root := repoRoot(t)
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte(saslUser+":"+saslPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := scram.Auth{User: saslUser, Pass: saslPassword}.AsSha512Mechanism()
	b := startBroker(t, []kgo.Opt{kgo.SASL(admin)}, "--sasl-users", users)

	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run("kcat-"+strings.ToLower(mech), func(t *testing.T) {
			if _, err := exec.LookPath("kcat"); err != nil {
				if os.Getenv("STRATA_REQUIRE_TOOLS") == "1" {
					t.Fatal("kcat not on PATH (STRATA_REQUIRE_TOOLS=1; run `make clients`)")
				}
				t.Skip("kcat not on PATH; run `make clients` to install it")
			}
			ctx, cancel := context.WithTimeout(context.Background(), clientLimit)
			defer cancel()

			wrong := kcatConfig(t, mech, "not the password")
			_, stderr, err := runProgram(ctx, []string{"kcat", "-F", wrong, "-b", b.addr, "-L", "-m", "5"})
			if err == nil || !strings.Contains(string(stderr), "invalid credentials") {
				t.Fatalf("kcat with a wrong password: exit %v, want a SASL failure\n%s", err, tail(stderr, 20))
			}

			topic := topicName("kcat-" + strings.ToLower(mech))
			if err := createTopic(ctx, b.addr, topic, b.opts...); err != nil {
				t.Fatal(err)
			}
			argv := []string{"bash", filepath.Join(root, "testdata/compat/kcat/compat.sh"),
				"--config", kcatConfig(t, mech, saslPassword), "--bootstrap", b.addr, "--topic", topic}
			stdout, stderr, exitErr := runProgram(ctx, argv)
			s, err := parseSummary(stdout)
			if err != nil {
				t.Fatalf("kcat %s: %v (exit: %v)\nstdout:\n%s\nstderr (tail):\n%s%s",
					mech, err, exitErr, stdout, tail(stderr, 60), b.logTail())
			}
			if checkSummary(t, b, s, stderr) && exitErr != nil {
				t.Errorf("kcat %s: summary passes but the program exited with %v\n%s", mech, exitErr, tail(stderr, 60))
			}
			if perrs := protocolErrors(stderr); perrs != "" {
				t.Errorf("kcat %s: librdkafka PROTOERR:\n%s", mech, perrs)
			}
		})
	}

	for _, tc := range []struct {
		mech sarama.SASLMechanism
		auth func(scram.Auth) sasl.Mechanism
	}{
		{sarama.SASLTypeSCRAMSHA256, scram.Auth.AsSha256Mechanism},
		{sarama.SASLTypeSCRAMSHA512, scram.Auth.AsSha512Mechanism},
	} {
		t.Run("sarama-"+strings.ToLower(string(tc.mech)), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), clientLimit)
			defer cancel()
			s, err := runSaramaVersion(ctx, t.Logf, b.addr, topicName("sarama-"+strings.ToLower(string(tc.mech))),
				sarama.V2_8_0_0, func(cfg *sarama.Config) {
					cfg.Net.SASL.Enable = true
					cfg.Net.SASL.Mechanism = tc.mech
					cfg.Net.SASL.User, cfg.Net.SASL.Password = saslUser, saslPassword
					cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient {
						return &saramaSCRAM{auth: tc.auth}
					}
				})
			if err != nil {
				t.Errorf("sarama %s: %v", tc.mech, err)
			}
			checkSummary(t, b, s, nil)
		})
	}
	b.stop(t)
}

// kcatConfig writes a librdkafka properties file for SASL/SCRAM over plaintext.
func kcatConfig(t *testing.T, mechanism, password string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kcat.conf")
	conf := "security.protocol=SASL_PLAINTEXT\nsasl.mechanisms=" + mechanism +
		"\nsasl.username=" + saslUser + "\nsasl.password=" + password + "\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// saramaSCRAM is sarama's SCRAMClient over franz-go's SCRAM client (sarama ships none).
type saramaSCRAM struct {
	auth    func(scram.Auth) sasl.Mechanism
	session sasl.Session
	first   []byte
	done    bool
	started bool
}

func (c *saramaSCRAM) Begin(user, password, authzID string) error {
	s, first, err := c.auth(scram.Auth{User: user, Pass: password, Zid: authzID}).Authenticate(context.Background(), "")
	c.session, c.first = s, first
	return err
}

func (c *saramaSCRAM) Step(challenge string) (string, error) {
	if !c.started {
		c.started = true
		return string(c.first), nil
	}
	done, out, err := c.session.Challenge([]byte(challenge))
	c.done = done
	return string(out), err
}

func (c *saramaSCRAM) Done() bool { return c.done }
