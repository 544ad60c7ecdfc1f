package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"
)

// loadCompose loads a compose file as `docker compose` would, offline, with paths resolved against
// dir (this directory, wherever the file itself lies) and an empty environment.
func loadCompose(file, dir string) (*types.Project, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	// No interpolation: with ${VAR} the file checked here would differ from the one run.
	if strings.Contains(string(data), "$") {
		return nil, fmt.Errorf("%s: uses $ interpolation; spell values out", file)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	details := types.ConfigDetails{WorkingDir: abs, Environment: types.Mapping{},
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(abs, "compose.yaml"), Content: data}}}
	return loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.SetProjectName("strata", true)
		o.ResolvePaths = true
	})
}

// isStrata reports whether a service runs the strata image (built here).
func isStrata(s types.ServiceConfig) bool {
	return s.Build != nil || strings.HasPrefix(s.Image, "strata:") || strings.HasPrefix(s.Image, "strata/")
}

// checkCompose checks a loaded project: strata's flags and variables, ports, volumes, health checks,
// the services named in the metadata and object store URLs, and Prometheus's targets.
func checkCompose(p *types.Project, fs serverFlags) error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	httpTargets := map[string]bool{}
	nodeIDs := map[string]string{}
	strataServices := 0
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range p.Services {
			if !yield(n) {
				return
			}
		}
	}) {
		s := p.Services[name]
		where := "service " + name
		for _, v := range s.Volumes {
			switch v.Type {
			case types.VolumeTypeBind:
				if _, err := os.Stat(v.Source); err != nil {
					fail("%s: bind mount source %s: %v", where, v.Source, err)
				}
			case types.VolumeTypeVolume:
				if _, ok := p.Volumes[v.Source]; !ok {
					fail("%s: volume %q is not declared under volumes", where, v.Source)
				}
			}
		}
		if s.Build != nil {
			df := filepath.Join(s.Build.Context, s.Build.Dockerfile)
			if _, err := os.Stat(df); err != nil {
				fail("%s: Dockerfile: %v", where, err)
			}
		}
		if !isStrata(s) {
			continue
		}
		strataServices++
		env := map[string]*string(s.Environment)
		cfg, cerrs := fs.check(strataUse{where: where, args: s.Command, env: env})
		errs = append(errs, cerrs...)
		if id := cfg.value("node-id", "1"); nodeIDs[id] != "" {
			fail("%s: --node-id %s is also %s's", where, id, nodeIDs[id])
		} else {
			nodeIDs[id] = name
		}
		published := map[int]int{}
		for _, pt := range s.Ports {
			hp, _ := strconv.Atoi(pt.Published)
			published[int(pt.Target)] = hp
		}
		kafka, err := listenPort(cfg, "kafka-addr", "127.0.0.1:9092")
		if err != nil {
			fail("%s: %v", where, err)
		} else if hp, ok := published[kafka]; !ok {
			fail("%s: no port publishes the Kafka port %d", where, kafka)
		} else if adv := cfg.value("advertised-kafka-addr", ""); adv == "" {
			fail("%s: no --advertised-kafka-addr: clients would be told %s", where, cfg.value("kafka-addr", ""))
		} else if ah, ap, _ := strings.Cut(adv, ":"); ah != name {
			// Nodes dial each other's advertised addresses (transaction markers): only the service's
			// name reaches it from the other containers (and, through /etc/hosts, from the host).
			fail("%s: --advertised-kafka-addr %s: want the service's name, %s, which the other containers resolve", where, adv, name)
		} else if ap != strconv.Itoa(kafka) || hp != kafka {
			fail("%s: --advertised-kafka-addr %s: want the Kafka port %d, published on the host as the same port (it is %d)", where, adv, kafka, hp)
		}
		httpPort, err := listenPort(cfg, "http-addr", "127.0.0.1:8080")
		if err != nil {
			fail("%s: %v", where, err)
			continue
		}
		if _, ok := published[httpPort]; !ok {
			fail("%s: no port publishes the HTTP port %d", where, httpPort)
		}
		httpTargets[fmt.Sprintf("%s:%d", name, httpPort)] = true
		if err := checkHealthURL(s.HealthCheck, httpPort, "/readyz"); err != nil {
			fail("%s: health check: %v", where, err)
		}
		dataDir := cfg.value("data-dir", "./data")
		if !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == dataDir }) {
			fail("%s: --data-dir %s is on no volume: the hot log is lost with the container", where, dataDir)
		}
		for _, u := range strings.Split(cfg.value("metadata", "embedded"), ",") {
			pu, err := url.Parse(u)
			if err != nil || pu.Scheme != "nats" {
				fail("%s: --metadata %q: want nats:// URLs of the NATS services", where, u)
				continue
			}
			if _, ok := p.Services[pu.Hostname()]; !ok {
				fail("%s: --metadata names %s, which is no service", where, pu.Hostname())
			}
		}
		if store := cfg.value("object-store", ""); !strings.HasPrefix(store, "s3://") {
			fail("%s: --object-store %q: want the shared s3:// bucket", where, store)
		} else if pu, err := url.Parse(store); err != nil {
			fail("%s: --object-store: %v", where, err)
		} else if ep, err := url.Parse(pu.Query().Get("endpoint")); err != nil || ep.Host == "" {
			fail("%s: --object-store %q has no endpoint", where, store)
		} else if _, ok := p.Services[ep.Hostname()]; !ok {
			fail("%s: --object-store endpoint %s is no service", where, ep.Hostname())
		}
		for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
			if env[k] == nil {
				fail("%s: %s is not set (S3 credentials)", where, k)
			}
		}
	}
	if strataServices < 3 {
		fail("%d strata services, want 3", strataServices)
	}
	if prom, ok := p.Services["prometheus"]; !ok {
		fail("no prometheus service")
	} else if err := checkPrometheus(prom, httpTargets); err != nil {
		fail("service prometheus: %v", err)
	}
	if g, ok := p.Services["grafana"]; !ok {
		fail("no grafana service")
	} else if err := checkGrafana(p, g); err != nil {
		fail("service grafana: %v", err)
	}
	return errors.Join(errs...)
}

// checkGrafana wants grafana's provisioning to load strata.json from where it is mounted and to give
// it a Prometheus data source at the prometheus service.
func checkGrafana(p *types.Project, g types.ServiceConfig) error {
	var prov, dashboard string
	for _, v := range g.Volumes {
		switch {
		case v.Target == "/etc/grafana/provisioning":
			prov = v.Source
		case filepath.Base(v.Source) == "strata.json":
			dashboard = v.Target
		}
	}
	if prov == "" || dashboard == "" {
		return errors.New("mounts no /etc/grafana/provisioning or no strata.json")
	}
	read := func(sub string, into any) error {
		files, _ := filepath.Glob(filepath.Join(prov, sub, "*.yml"))
		if len(files) != 1 {
			return fmt.Errorf("%d files in provisioning/%s, want 1", len(files), sub)
		}
		data, err := os.ReadFile(files[0])
		if err != nil {
			return err
		}
		if err := yaml.UnmarshalStrict(data, into); err != nil {
			return fmt.Errorf("%s: %v", files[0], err)
		}
		return nil
	}
	var ds struct {
		APIVersion  int `json:"apiVersion"`
		Datasources []struct {
			Name      string `json:"name"`
			Type      string `json:"type"`
			Access    string `json:"access"`
			URL       string `json:"url"`
			IsDefault bool   `json:"isDefault"`
		} `json:"datasources"`
	}
	if err := read("datasources", &ds); err != nil {
		return err
	}
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" {
		return errors.New("provisioning/datasources: want one data source, of type prometheus")
	}
	u, err := url.Parse(ds.Datasources[0].URL)
	if err != nil {
		return err
	}
	if prom, ok := p.Services[u.Hostname()]; !ok || !strings.HasPrefix(prom.Image, "prom/prometheus") {
		return fmt.Errorf("data source URL %s is not the prometheus service", u)
	}
	var db struct {
		APIVersion int `json:"apiVersion"`
		Providers  []struct {
			Name    string `json:"name"`
			Type    string `json:"type"`
			Options struct {
				Path string `json:"path"`
			} `json:"options"`
		} `json:"providers"`
	}
	if err := read("dashboards", &db); err != nil {
		return err
	}
	for _, pr := range db.Providers {
		if pr.Type == "file" && pr.Options.Path == filepath.Dir(dashboard) {
			return nil
		}
	}
	return fmt.Errorf("no dashboard provider reads %s, where strata.json is mounted", filepath.Dir(dashboard))
}

// checkHealthURL wants the health check to fetch path on the container's own HTTP port.
func checkHealthURL(h *types.HealthCheckConfig, port int, path string) error {
	if h == nil || h.Disable || len(h.Test) == 0 {
		return errors.New("none")
	}
	for _, a := range h.Test {
		if u, err := url.Parse(a); err == nil && u.Scheme == "http" {
			if u.Path != path || u.Port() != strconv.Itoa(port) {
				return fmt.Errorf("fetches %s, want path %s on port %d", a, path, port)
			}
			return nil
		}
	}
	return fmt.Errorf("%q fetches no http:// URL", h.Test)
}

// checkPrometheus wants the mounted prometheus.yml to scrape exactly the strata nodes' HTTP ports.
func checkPrometheus(s types.ServiceConfig, targets map[string]bool) error {
	var file string
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && filepath.Base(v.Target) == "prometheus.yml" {
			file = v.Source
		}
	}
	if file == "" {
		return errors.New("mounts no prometheus.yml")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var cfg struct {
		ScrapeConfigs []struct {
			MetricsPath   string `json:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("%s: %v", file, err)
	}
	got := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, t := range st.Targets {
				if !targets[t] {
					return fmt.Errorf("%s scrapes %s, which is no strata node's HTTP address", file, t)
				}
				if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
					return fmt.Errorf("%s: metrics_path %s, want /metrics", file, sc.MetricsPath)
				}
				got[t] = true
			}
		}
	}
	for t := range targets {
		if !got[t] {
			return fmt.Errorf("%s does not scrape %s", file, t)
		}
	}
	return nil
}
