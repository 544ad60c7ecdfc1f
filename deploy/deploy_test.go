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
		{"advertised port", `"strata-3:9094"`, `"strata-3:9092"`, "want the Kafka port 9094"},
		{"advertised localhost", `"strata-3:9094"`, `"localhost:9094"`, "want the service's name, strata-3"},
		{"published elsewhere", `ports: ["9094:9094"`, `ports: ["19094:9094"`, "published on the host as the same port (it is 19094)"},
		{"http port not published", `ports: ["9094:9094", "8082:8080"]`, `ports: ["9094:9094", "8082:8081"]`, "no port publishes the HTTP port 8080"},
		{"health path", "8080/readyz", "8080/ready", "want path /readyz"},
		{"undeclared volume", "  strata-2:\n  strata-3:\n  prometheus:", "  strata-2:\n  prometheus:", "strata-3"},
		{"missing bind source", "./nats/nats.conf:/etc/nats/nats.conf:ro\", \"nats-2", "./nats/missing.conf:/etc/nats/nats.conf:ro\", \"nats-2", "missing.conf"},
		{"data dir off volume", `volumes: ["strata-1:/data"]`, `volumes: ["strata-1:/var/data"]`, "--data-dir /data is on no volume"},
		{"metadata host", "nats://nats-3:4222", "nats://nats-4:4222", "nats-4, which is no service"},
		{"interpolation", "STRATA_LOG_FORMAT: json", "STRATA_LOG_FORMAT: ${FORMAT}", "interpolation"},
		{"prometheus target", `"strata-3:8080"]`, `"strata-3:8081"]`, "strata-3:8081"},
		{"credentials", "    AWS_SECRET_ACCESS_KEY: strata-secret\n", "", "AWS_SECRET_ACCESS_KEY is not set"},
		{"dashboard path", "./grafana/strata.json:/var/lib/grafana/dashboards/strata.json", "./grafana/strata.json:/var/lib/grafana/strata.json", "no dashboard provider reads /var/lib/grafana"},
		{"no provisioning", "./grafana/provisioning:/etc/grafana/provisioning:ro", "./grafana/provisioning:/etc/grafana/prov:ro", "mounts no /etc/grafana/provisioning"},
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
			t.Log(err)
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

// TestKubernetes decodes every manifest under kubernetes/ strictly and checks them.
func TestKubernetes(t *testing.T) {
	fs := realServerFlags(t)
	m, err := loadManifests("kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkKubernetes(m, fs); err != nil {
		t.Fatal(err)
	}
	if len(m.statefulSets) != 2 || len(m.secrets) != 1 || len(m.serviceMonitors) != 1 {
		t.Errorf("%d StatefulSets, %d Secrets, %d ServiceMonitors: want 2 (nats, strata), 1, 1",
			len(m.statefulSets), len(m.secrets), len(m.serviceMonitors))
	}
	for _, s := range m.statefulSets {
		if s.Spec.Replicas == nil || *s.Spec.Replicas != 3 {
			t.Errorf("StatefulSet %s: want 3 replicas", s.Name)
		}
	}
}

// TestKubernetesRejects breaks the manifests one way at a time: each check must be able to fail.
func TestKubernetesRejects(t *testing.T) {
	fs := realServerFlags(t)
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []mutation{
		{"unknown field", "podManagementPolicy: OrderedReady", "podManagementPolicy: OrderedReady\n  replica: 3", `unknown field "replica"`},
		{"unknown kind", "kind: PodDisruptionBudget\nmetadata:\n  name: strata", "kind: PodDisruptionBudgets\nmetadata:\n  name: strata", "not a kind these checks know"},
		{"service monitor field", "      interval: 15s", "      intervall: 15s", `unknown field "intervall"`},
		{"duplicate key", "  serviceName: strata-headless\n", "  serviceName: strata-headless\n  serviceName: strata-kafka\n", `key "serviceName" already set`},
		{"unknown flag", "--log-format=json", "--log-fmt=json", "--log-fmt is not a strata server flag"},
		{"unknown env", "name: STRATA_OBJECT_STORE", "name: STRATA_OBJECTSTORE", "STRATA_OBJECTSTORE names no strata server flag"},
		{"undefined var", "$(POD_NAMESPACE).svc", "$(NAMESPACE).svc", "$(NAMESPACE), which is no env var"},
		{"node id", podIndexPath, "metadata.name", "node id does not come from the pod's ordinal"},
		{"advertised not per pod", "--advertised-kafka-addr=$(POD_NAME).strata-headless", "--advertised-kafka-addr=strata-kafka", "want the pod's own name first"},
		{"advertised service", "--advertised-kafka-addr=$(POD_NAME).strata-headless", "--advertised-kafka-addr=$(POD_NAME).strata-kafka", "under the headless Service strata-headless"},
		{"kafka port", "{name: kafka, containerPort: 9092}", "{name: kafka, containerPort: 9093}", "is not the --kafka-addr port 9092"},
		{"loopback listener", "--http-addr=0.0.0.0:8080", "--http-addr=127.0.0.1:8080", "unreachable from outside"},
		{"readiness path", "httpGet: {path: /readyz, port: http}", "httpGet: {path: /ready, port: http}", "want /readyz or /healthz"},
		{"liveness on readyz", "httpGet: {path: /healthz, port: http}", "httpGet: {path: /readyz, port: http}", "want /healthz on the HTTP port"},
		{"probe port", "httpGet: {path: /readyz, port: http}", "httpGet: {path: /readyz, port: web}", "port web is none of the container's ports"},
		{"volume mount", "- {name: data, mountPath: /data}\n  volumeClaimTemplates:\n    - metadata: {name: data}\n      spec:\n        accessModes: [ReadWriteOnce]\n        resources: {requests: {storage: 20Gi}}",
			"- {name: data, mountPath: /data}\n  volumeClaimTemplates:\n    - metadata: {name: hot}\n      spec:\n        accessModes: [ReadWriteOnce]\n        resources: {requests: {storage: 20Gi}}", `volumeMount "data" names no volume`},
		{"data dir", "--data-dir=/data", "--data-dir=/var/lib/strata", "--data-dir /var/lib/strata is on no volume"},
		{"configmap volume", "configMap: {name: nats-config}", "configMap: {name: nats-conf}", `ConfigMap "nats-conf" is not defined`},
		{"secret key", "{name: strata-s3, key: AWS_SECRET_ACCESS_KEY}", "{name: strata-s3, key: AWS_SECRET_KEY}", `Secret "strata-s3" has no key "AWS_SECRET_KEY"`},
		{"credentials inline", "valueFrom: {secretKeyRef: {name: strata-s3, key: AWS_ACCESS_KEY_ID}}", "value: AKIAEXAMPLE", "AWS_ACCESS_KEY_ID does not come from a Secret"},
		{"metadata host", "nats://nats-2.nats-headless:4222", "nats://nats-3.nats-headless:4222", "nats-3.nats-headless, which is no pod"},
		{"headless service", "  name: strata-headless\n  labels: {app.kubernetes.io/name: strata}\nspec:\n  clusterIP: None\n", "  name: strata-headless\n  labels: {app.kubernetes.io/name: strata}\nspec:\n", "is not headless"},
		{"service target port", "{name: http, port: 8080, targetPort: http}", "{name: http, port: 8080, targetPort: metrics}", "targetPort metrics is no port"},
		{"service selector", "  selector: {app.kubernetes.io/name: strata}\n  ports:\n    - {name: kafka, port: 9092, targetPort: kafka}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: strata-http",
			"  selector: {app.kubernetes.io/name: strata-broker}\n  ports:\n    - {name: kafka, port: 9092, targetPort: kafka}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: strata-http", "selects no StatefulSet's pods"},
		{"pdb selector", "  maxUnavailable: 1\n  selector:\n    matchLabels: {app.kubernetes.io/name: strata}", "  maxUnavailable: 1\n  selector:\n    matchLabels: {app.kubernetes.io/name: strata-node}", "PodDisruptionBudget strata: selects no"},
		{"service monitor port", "    - port: http\n", "    - port: metrics\n", `endpoint port "metrics" is no port`},
		{"service monitor selector", "app.kubernetes.io/component: http}\n  endpoints", "app.kubernetes.io/component: web}\n  endpoints", "selects no Service"},
		{"nats fsync", "      sync_interval: always\n", "", "sync_interval: always"},
	} {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			hits := 0
			for _, f := range files {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				s := string(data)
				if strings.Contains(s, m.old) {
					hits++
					s = strings.Replace(s, m.old, m.new, 1)
				}
				if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if hits != 1 {
				t.Fatalf("%q is in %d manifests, want 1: update this case", m.old, hits)
			}
			mf, err := loadManifests(dir)
			if err == nil {
				err = checkKubernetes(mf, fs)
			}
			if err == nil || !strings.Contains(err.Error(), m.want) {
				t.Fatalf("got %v, want an error containing %q", err, m.want)
			}
			t.Log(err)
		})
	}
}
