package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// TestCompose loads compose.yaml and checks it.
func TestCompose(t *testing.T) {
	fs := realServerFlags(t)
	p, err := loadCompose("compose.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkCompose(p, fs); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"minio", "minio-init", "nats-1", "nats-2", "nats-3", "strata-1", "strata-2", "strata-3", "prometheus", "grafana"} {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("no service %s", name)
		}
	}
	conf, err := os.ReadFile("nats/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), "sync_interval: always") {
		t.Error("nats/nats.conf: JetStream does not fsync before every acknowledgement (sync_interval: always)")
	}
}

// mutation breaks one manifest by replacing text; the checker must then fail naming want.
type mutation struct {
	name, old, new, want string
}

// TestComposeRejects breaks compose.yaml one way at a time: each check must be able to fail.
func TestComposeRejects(t *testing.T) {
	fs := realServerFlags(t)
	orig, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []mutation{
		{"unknown flag", `"--http-addr", "0.0.0.0:8080"]`, `"--http-address", "0.0.0.0:8080"]`, "--http-address is not a strata server flag"},
		{"unknown env", "STRATA_LOG_FORMAT:", "STRATA_LOGFORMAT:", "STRATA_LOGFORMAT names no strata server flag"},
		{"bad int", `"--node-id", "2"`, `"--node-id", "two"`, `--node-id "two"`},
		{"duplicate node id", `"--node-id", "3"`, `"--node-id", "2"`, "--node-id 2 is also"},
		{"loopback listener", `"--kafka-addr", "0.0.0.0:9094"`, `"--kafka-addr", "127.0.0.1:9094"`, "unreachable from outside"},
		{"kafka port not published", `ports: ["9093:9093", "8081:8080"]`, `ports: ["9093:9095", "8081:8080"]`, "no port publishes the Kafka port 9093"},
		{"advertised port", `"localhost:9094"`, `"localhost:9092"`, "published as 9094"},
		{"http port not published", `ports: ["9094:9094", "8082:8080"]`, `ports: ["9094:9094", "8082:8081"]`, "no port publishes the HTTP port 8080"},
		{"health path", "8080/readyz", "8080/ready", "want path /readyz"},
		{"undeclared volume", "  strata-2:\n  strata-3:\n  prometheus:", "  strata-2:\n  prometheus:", "strata-3"},
		{"missing bind source", "./nats/nats.conf:/etc/nats/nats.conf:ro\", \"nats-2", "./nats/missing.conf:/etc/nats/nats.conf:ro\", \"nats-2", "missing.conf"},
		{"data dir off volume", `volumes: ["strata-1:/data"]`, `volumes: ["strata-1:/var/data"]`, "--data-dir /data is on no volume"},
		{"metadata host", "nats://nats-3:4222", "nats://nats-4:4222", "nats-4, which is no service"},
		{"interpolation", "STRATA_LOG_FORMAT: json", "STRATA_LOG_FORMAT: ${FORMAT}", "interpolation"},
		{"prometheus target", `"strata-3:8080"]`, `"strata-3:8081"]`, "strata-3:8081"},
		{"credentials", "    AWS_SECRET_ACCESS_KEY: strata-secret\n", "", "AWS_SECRET_ACCESS_KEY is not set"},
		{"no server subcommand", `command: ["server", "--node-id", "1"`, `command: ["--node-id", "1"`, "want the server subcommand"},
	} {
		t.Run(m.name, func(t *testing.T) {
			if m.name != "prometheus target" && !strings.Contains(string(orig), m.old) {
				t.Fatalf("compose.yaml no longer contains %q: update this case", m.old)
			}
			dir := t.TempDir()
			broken := strings.Replace(string(orig), m.old, m.new, 1)
			file := filepath.Join(dir, "compose.yaml")
			if err := os.WriteFile(file, []byte(broken), 0o644); err != nil {
				t.Fatal(err)
			}
			p, err := loadCompose(file, ".")
			if m.name == "prometheus target" { // edits prometheus.yml, not compose.yaml
				p, err = loadCompose("compose.yaml", ".")
				if err == nil {
					err = mutatePrometheus(t, p, m)
				}
			}
			if err == nil {
				err = checkCompose(p, fs)
			}
			if err == nil || !strings.Contains(err.Error(), m.want) {
				t.Fatalf("got %v, want an error containing %q", err, m.want)
			}
		})
	}
}

// mutatePrometheus points the project's prometheus service at a copy of prometheus.yml with m applied.
func mutatePrometheus(t *testing.T, p *types.Project, m mutation) error {
	t.Helper()
	data, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		return err
	}
	if !strings.Contains(string(data), m.old) {
		t.Fatalf("prometheus.yml no longer contains %q: update this case", m.old)
	}
	file := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(file, []byte(strings.Replace(string(data), m.old, m.new, 1)), 0o644); err != nil {
		return err
	}
	s := p.Services["prometheus"]
	for i, v := range s.Volumes {
		if filepath.Base(v.Target) == "prometheus.yml" {
			s.Volumes[i].Source = file
		}
	}
	p.Services["prometheus"] = s
	return nil
}
