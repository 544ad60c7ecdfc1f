package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// checkNATSConf parses a NATS config with the nats-server version Strata embeds (what a typo or an
// option the server does not know fails on) and wants one member of a three-server JetStream cluster
// that fsyncs before every acknowledgement. nameVar is the environment variable naming the server.
func checkNATSConf(t *testing.T, file, nameVar string) error {
	t.Helper()
	t.Setenv(nameVar, "nats-test")
	o, err := server.ProcessConfigFile(file)
	if err != nil {
		return fmt.Errorf("%s: %v", file, err)
	}
	switch {
	case o.ServerName != "nats-test":
		return fmt.Errorf("%s: server_name %q does not come from $%s", file, o.ServerName, nameVar)
	case !o.JetStream:
		return fmt.Errorf("%s: JetStream is off", file)
	case !o.SyncAlways:
		return fmt.Errorf("%s: JetStream does not fsync before every acknowledgement (sync_interval: always)", file)
	case o.Port != 4222 || o.Cluster.Port != 6222 || o.HTTPPort != 8222:
		return fmt.Errorf("%s: ports client %d, cluster %d, monitor %d: want 4222, 6222, 8222", file, o.Port, o.Cluster.Port, o.HTTPPort)
	case len(o.Routes) != 3:
		return fmt.Errorf("%s: %d routes, want the 3 members", file, len(o.Routes))
	}
	return nil
}

func TestNATSConf(t *testing.T) {
	if err := checkNATSConf(t, "nats/nats.conf", "NATS_SERVER_NAME"); err != nil {
		t.Error(err)
	}
	m, err := loadManifests("kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range m.configMaps {
		if conf, ok := c.Data["nats.conf"]; ok {
			n++
			file := filepath.Join(t.TempDir(), "nats.conf")
			if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := checkNATSConf(t, file, "POD_NAME"); err != nil {
				t.Errorf("ConfigMap %s: %v", c.Name, err)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d ConfigMaps hold a nats.conf, want 1", n)
	}
}

func TestNATSConfRejects(t *testing.T) {
	orig, err := os.ReadFile("nats/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []mutation{
		{"periodic fsync", "sync_interval: always", "sync_interval: 2m", "sync_interval: always"},
		{"unknown option", "sync_interval: always", "sync_intervall: always", "sync_intervall"},
		{"no jetstream", "jetstream {", "jetstreamx {", "jetstreamx"},
		{"two routes", "    nats-route://nats-3:6222\n", "", "2 routes"},
		{"fixed name", "server_name: $NATS_SERVER_NAME", "server_name: nats-1", "does not come from"},
	} {
		t.Run(m.name, func(t *testing.T) {
			if !strings.Contains(string(orig), m.old) {
				t.Fatalf("nats.conf no longer contains %q: update this case", m.old)
			}
			file := filepath.Join(t.TempDir(), "nats.conf")
			if err := os.WriteFile(file, []byte(strings.Replace(string(orig), m.old, m.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			err := checkNATSConf(t, file, "NATS_SERVER_NAME")
			if err == nil || !strings.Contains(err.Error(), m.want) {
				t.Fatalf("got %v, want an error containing %q", err, m.want)
			}
			t.Log(err)
		})
	}
}
