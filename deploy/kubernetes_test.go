package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor these manifests use; it is
// decoded as strictly as the k8s.io/api types (an unknown field is an error) without importing the
// operator's module.
type serviceMonitor struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector,omitempty"`
		JobLabel  string `json:"jobLabel,omitempty"`
		Endpoints []struct {
			Port          string `json:"port,omitempty"`
			Path          string `json:"path,omitempty"`
			Scheme        string `json:"scheme,omitempty"`
			Interval      string `json:"interval,omitempty"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// manifests is every object in a directory of manifests, by kind.
type manifests struct {
	configMaps      []corev1.ConfigMap
	secrets         []corev1.Secret
	services        []corev1.Service
	statefulSets    []appsv1.StatefulSet
	pdbs            []policyv1.PodDisruptionBudget
	serviceMonitors []serviceMonitor
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// loadManifests decodes every document of every *.yaml in dir strictly: an unknown kind, an unknown
// field or a duplicate key is an error.
func loadManifests(dir string) (*manifests, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no *.yaml manifests", dir)
	}
	m := &manifests{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for i, doc := range docSep.Split(string(data), -1) {
			if err := m.decode([]byte(doc)); err != nil {
				return nil, fmt.Errorf("%s, document %d: %w", filepath.Base(f), i+1, err)
			}
		}
	}
	return m, nil
}

func (m *manifests) decode(doc []byte) error {
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return err
	}
	if string(j) == "null" {
		return nil // empty or only comments
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(j, &tm); err != nil {
		return err
	}
	strict := func(into any) error { return yaml.UnmarshalStrict(doc, into) }
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 ConfigMap":
		var o corev1.ConfigMap
		err = strict(&o)
		m.configMaps = append(m.configMaps, o)
	case "v1 Secret":
		var o corev1.Secret
		err = strict(&o)
		m.secrets = append(m.secrets, o)
	case "v1 Service":
		var o corev1.Service
		err = strict(&o)
		m.services = append(m.services, o)
	case "apps/v1 StatefulSet":
		var o appsv1.StatefulSet
		err = strict(&o)
		m.statefulSets = append(m.statefulSets, o)
	case "policy/v1 PodDisruptionBudget":
		var o policyv1.PodDisruptionBudget
		err = strict(&o)
		m.pdbs = append(m.pdbs, o)
	case "monitoring.coreos.com/v1 ServiceMonitor":
		var o serviceMonitor
		err = strict(&o)
		m.serviceMonitors = append(m.serviceMonitors, o)
	default:
		return fmt.Errorf("apiVersion %q kind %q: not a kind these checks know", tm.APIVersion, tm.Kind)
	}
	return err
}

// selects reports whether a selector's matchLabels all appear in labels (matchExpressions are not used here).
func selects(sel map[string]string, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

const podIndexPath = "metadata.labels['apps.kubernetes.io/pod-index']"

// checkKubernetes checks the objects' references to each other and every strata container's flags,
// variables, ports, probes and volumes.
func checkKubernetes(m *manifests, fs serverFlags) error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	podsOf := func(sel map[string]string) *appsv1.StatefulSet {
		for i := range m.statefulSets {
			if selects(sel, m.statefulSets[i].Spec.Template.Labels) {
				return &m.statefulSets[i]
			}
		}
		return nil
	}
	service := func(name string) *corev1.Service {
		for i := range m.services {
			if m.services[i].Name == name {
				return &m.services[i]
			}
		}
		return nil
	}
	stsByPod := func(host string) (*appsv1.StatefulSet, bool) {
		// <statefulset>-<ordinal>.<its headless service>
		pod, svc, _ := strings.Cut(host, ".")
		i := strings.LastIndexByte(pod, '-')
		if i < 0 {
			return nil, false
		}
		n, err := strconv.Atoi(pod[i+1:])
		for j := range m.statefulSets {
			s := &m.statefulSets[j]
			if s.Name == pod[:i] && (svc == "" || strings.HasPrefix(svc+".", s.Spec.ServiceName+".")) {
				return s, err == nil && s.Spec.Replicas != nil && n >= 0 && n < int(*s.Spec.Replicas)
			}
		}
		return nil, false
	}
	strataSets := 0
	for _, s := range m.statefulSets {
		where := "StatefulSet " + s.Name
		if !selects(s.Spec.Selector.MatchLabels, s.Spec.Template.Labels) {
			fail("%s: its selector does not select its own pods", where)
		}
		if hs := service(s.Spec.ServiceName); hs == nil {
			fail("%s: serviceName %q names no Service", where, s.Spec.ServiceName)
		} else if hs.Spec.ClusterIP != corev1.ClusterIPNone {
			fail("%s: Service %s is not headless (clusterIP: None): pods get no DNS names", where, hs.Name)
		}
		pod := s.Spec.Template.Spec
		vols := map[string]bool{}
		for _, v := range pod.Volumes {
			vols[v.Name] = true
			if v.ConfigMap != nil && !slices.ContainsFunc(m.configMaps, func(c corev1.ConfigMap) bool { return c.Name == v.ConfigMap.Name }) {
				fail("%s: volume %s: ConfigMap %q is not defined", where, v.Name, v.ConfigMap.Name)
			}
			if v.Secret != nil && !slices.ContainsFunc(m.secrets, func(c corev1.Secret) bool { return c.Name == v.Secret.SecretName }) {
				fail("%s: volume %s: Secret %q is not defined", where, v.Name, v.Secret.SecretName)
			}
		}
		for _, t := range s.Spec.VolumeClaimTemplates {
			vols[t.Name] = true
		}
		for _, c := range pod.Containers {
			cw := where + " container " + c.Name
			for _, vm := range c.VolumeMounts {
				if !vols[vm.Name] {
					fail("%s: volumeMount %q names no volume or volumeClaimTemplate", cw, vm.Name)
				}
			}
			env := map[string]*corev1.EnvVar{}
			for i, e := range c.Env {
				env[e.Name] = &c.Env[i]
				if e.ValueFrom == nil {
					continue
				}
				if r := e.ValueFrom.SecretKeyRef; r != nil && !m.secretHasKey(r.Name, r.Key) {
					fail("%s: env %s: Secret %q has no key %q", cw, e.Name, r.Name, r.Key)
				}
				if r := e.ValueFrom.ConfigMapKeyRef; r != nil && !m.configMapHasKey(r.Name, r.Key) {
					fail("%s: env %s: ConfigMap %q has no key %q", cw, e.Name, r.Name, r.Key)
				}
			}
			for _, p := range []struct {
				kind  string
				probe *corev1.Probe
			}{{"readinessProbe", c.ReadinessProbe}, {"livenessProbe", c.LivenessProbe}} {
				if p.probe == nil || p.probe.HTTPGet == nil {
					fail("%s: no %s with httpGet", cw, p.kind)
					continue
				}
				if path, _, _ := strings.Cut(p.probe.HTTPGet.Path, "?"); path != "/readyz" && path != "/healthz" {
					fail("%s: %s fetches %s, want /readyz or /healthz", cw, p.kind, p.probe.HTTPGet.Path)
				}
				if _, ok := containerPort(c, p.probe.HTTPGet.Port); !ok {
					fail("%s: %s port %s is none of the container's ports", cw, p.kind, p.probe.HTTPGet.Port.String())
				}
			}
			if !strings.HasPrefix(c.Image, "strata:") && !strings.Contains(c.Image, "/strata:") {
				continue
			}
			strataSets++
			errs = append(errs, m.checkStrataContainer(fs, s, c, env, stsByPod)...)
		}
	}
	if strataSets == 0 {
		fail("no StatefulSet runs the strata image")
	}
	for _, svc := range m.services {
		where := "Service " + svc.Name
		sts := podsOf(svc.Spec.Selector)
		if sts == nil {
			fail("%s: its selector %v selects no StatefulSet's pods", where, svc.Spec.Selector)
			continue
		}
		for _, p := range svc.Spec.Ports {
			tp := p.TargetPort
			if tp.Type == intstr.Int && tp.IntVal == 0 {
				tp = intstr.FromInt32(p.Port)
			}
			found := false
			for _, c := range sts.Spec.Template.Spec.Containers {
				if _, ok := containerPort(c, tp); ok {
					found = true
				}
			}
			if !found {
				fail("%s: port %s: targetPort %s is no port of %s's containers", where, p.Name, tp.String(), sts.Name)
			}
		}
	}
	if len(m.pdbs) == 0 {
		fail("no PodDisruptionBudget")
	}
	for _, p := range m.pdbs {
		if p.Spec.Selector == nil || podsOf(p.Spec.Selector.MatchLabels) == nil {
			fail("PodDisruptionBudget %s: selects no StatefulSet's pods", p.Name)
		}
	}
	if len(m.serviceMonitors) == 0 {
		fail("no ServiceMonitor")
	}
	for _, sm := range m.serviceMonitors {
		where := "ServiceMonitor " + sm.Metadata.Name
		var svc *corev1.Service
		for i := range m.services {
			if selects(sm.Spec.Selector.MatchLabels, m.services[i].Labels) {
				svc = &m.services[i]
			}
		}
		if svc == nil {
			fail("%s: its selector selects no Service", where)
			continue
		}
		for _, e := range sm.Spec.Endpoints {
			if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == e.Port }) {
				fail("%s: endpoint port %q is no port of Service %s", where, e.Port, svc.Name)
			}
			if e.Path != "" && e.Path != "/metrics" {
				fail("%s: path %s, want /metrics", where, e.Path)
			}
		}
	}
	for _, c := range m.configMaps {
		for k, v := range c.Data {
			if strings.Contains(v, "jetstream") && !strings.Contains(v, "sync_interval: always") {
				fail("ConfigMap %s: %s: JetStream does not fsync before every acknowledgement (sync_interval: always)", c.Name, k)
			}
		}
	}
	return errors.Join(errs...)
}

func (m *manifests) secretHasKey(name, key string) bool {
	for _, s := range m.secrets {
		if s.Name == name {
			_, a := s.StringData[key]
			_, b := s.Data[key]
			return a || b
		}
	}
	return false
}

func (m *manifests) configMapHasKey(name, key string) bool {
	for _, c := range m.configMaps {
		if c.Name == name {
			_, ok := c.Data[key]
			return ok
		}
	}
	return false
}

// containerPort resolves a port by name or number among a container's ports.
func containerPort(c corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// checkStrataContainer checks one strata container of a StatefulSet.
func (m *manifests) checkStrataContainer(fs serverFlags, s appsv1.StatefulSet, c corev1.Container, env map[string]*corev1.EnvVar,
	stsByPod func(string) (*appsv1.StatefulSet, bool)) []error {
	where := "StatefulSet " + s.Name + " container " + c.Name
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(where+": "+format, a...)) }
	args := c.Args
	if len(c.Command) > 0 {
		if c.Command[0] != "strata" && !strings.HasSuffix(c.Command[0], "/strata") {
			fail("command %q does not run strata", c.Command)
			return errs
		}
		args = append(slices.Clone(c.Command[1:]), c.Args...)
	}
	uenv := map[string]*string{}
	for name, e := range env {
		if e.ValueFrom == nil {
			v := e.Value
			uenv[name] = &v
		} else {
			uenv[name] = nil
		}
	}
	cfg, cerrs := fs.check(strataUse{where: where, args: args, env: uenv})
	errs = append(errs, cerrs...)
	for _, a := range args {
		for _, r := range varRef.FindAllStringSubmatch(a, -1) {
			if env[r[1]] == nil {
				fail("argument %q refers to $(%s), which is no env var of the container", a, r[1])
			}
		}
	}
	// Every replica needs its own node id: the pod's ordinal.
	if s.Spec.Replicas != nil && *s.Spec.Replicas > 1 {
		src := env["STRATA_NODE_ID"]
		if v, ok := cfg["node-id"]; ok && v != nil {
			src = nil
			if r := varRef.FindStringSubmatch(*v); r != nil {
				src = env[r[1]]
			}
		}
		if src == nil || src.ValueFrom == nil || src.ValueFrom.FieldRef == nil || src.ValueFrom.FieldRef.FieldPath != podIndexPath {
			fail("%d replicas, but the node id does not come from the pod's ordinal (fieldRef %s)", *s.Spec.Replicas, podIndexPath)
		}
	}
	kafka, err := listenPort(cfg, "kafka-addr", "127.0.0.1:9092")
	if err != nil {
		fail("%v", err)
	} else if p, ok := containerPort(c, intstr.FromString("kafka")); !ok || int(p) != kafka {
		fail("container port kafka (%d) is not the --kafka-addr port %d", p, kafka)
	} else if adv := cfg.value("advertised-kafka-addr", ""); adv == "" {
		fail("no --advertised-kafka-addr: clients would be told %s", cfg.value("kafka-addr", ""))
	} else {
		// $(POD_NAME).<headless service>...:<kafka port>, POD_NAME from metadata.name.
		host, port, _ := strings.Cut(adv, ":")
		first, rest, _ := strings.Cut(host, ".")
		r := varRef.FindStringSubmatch(first)
		switch {
		case r == nil || r[0] != first || env[r[1]] == nil || env[r[1]].ValueFrom == nil || env[r[1]].ValueFrom.FieldRef == nil ||
			env[r[1]].ValueFrom.FieldRef.FieldPath != "metadata.name":
			fail("--advertised-kafka-addr %s: want the pod's own name first ($(POD_NAME) from fieldRef metadata.name)", adv)
		case !strings.HasPrefix(rest+".", s.Spec.ServiceName+"."):
			fail("--advertised-kafka-addr %s: want the pod's name under the headless Service %s", adv, s.Spec.ServiceName)
		case port != strconv.Itoa(kafka):
			fail("--advertised-kafka-addr %s: port is not the Kafka port %d", adv, kafka)
		}
	}
	httpPort, err := listenPort(cfg, "http-addr", "127.0.0.1:8080")
	if err != nil {
		fail("%v", err)
	} else if p, ok := containerPort(c, intstr.FromString("http")); !ok || int(p) != httpPort {
		fail("container port http (%d) is not the --http-addr port %d", p, httpPort)
	} else {
		for _, pr := range []struct {
			kind, path string
			probe      *corev1.Probe
		}{{"readinessProbe", "/readyz", c.ReadinessProbe}, {"livenessProbe", "/healthz", c.LivenessProbe}} {
			if pr.probe == nil || pr.probe.HTTPGet == nil {
				continue // reported above
			}
			if pp, _ := containerPort(c, pr.probe.HTTPGet.Port); int(pp) != httpPort || pr.probe.HTTPGet.Path != pr.path {
				fail("%s fetches %s on port %s, want %s on the HTTP port %d", pr.kind, pr.probe.HTTPGet.Path, pr.probe.HTTPGet.Port.String(), pr.path, httpPort)
			}
		}
	}
	dataDir := cfg.value("data-dir", "./data")
	if !slices.ContainsFunc(c.VolumeMounts, func(v corev1.VolumeMount) bool { return v.MountPath == dataDir }) {
		fail("--data-dir %s is on no volume: the hot log is lost with the pod", dataDir)
	}
	for _, u := range strings.Split(cfg.value("metadata", "embedded"), ",") {
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme != "nats" {
			fail("--metadata %q: want nats:// URLs of the NATS pods", u)
			continue
		}
		if sts, ok := stsByPod(pu.Hostname()); !ok {
			fail("--metadata names %s, which is no pod of a StatefulSet under its headless Service", pu.Hostname())
		} else if !slices.ContainsFunc(sts.Spec.Template.Spec.Containers, func(c corev1.Container) bool {
			_, ok := containerPort(c, intstr.FromString(pu.Port()))
			p, _ := strconv.Atoi(pu.Port())
			_, okn := containerPort(c, intstr.FromInt(p))
			return ok || okn
		}) {
			fail("--metadata %s: port %s is no port of %s's pods", u, pu.Port(), sts.Name)
		}
	}
	if store := cfg.value("object-store", ""); !strings.HasPrefix(store, "s3://") {
		fail("--object-store %q: want a shared s3:// bucket", store)
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if e := env[k]; e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			fail("%s does not come from a Secret", k)
		}
	}
	return errs
}
