package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// serverFlags maps each `strata server` flag to the type its help names ("string", "int",
// "duration"; "bool" for flags given without a value).
type serverFlags map[string]string

var (
	flagsOnce sync.Once
	flagsVal  serverFlags
	flagsErr  error
)

// realServerFlags builds cmd/strata once and parses what `strata server -h` lists. cmd/strata is a
// main package (nothing can import its flag set) and the layering rules keep this room from
// importing cmd; the help is what the shipped binary accepts, so that is what the manifests are
// held to.
func realServerFlags(t *testing.T) serverFlags {
	t.Helper()
	flagsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "strata-deploy-check")
		if err != nil {
			flagsErr = err
			return
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "strata")
		build := exec.Command("go", "build", "-o", bin, "./cmd/strata")
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			flagsErr = fmt.Errorf("go build ./cmd/strata: %v\n%s", err, out)
			return
		}
		var out bytes.Buffer
		help := exec.Command(bin, "server", "-h")
		help.Stdout, help.Stderr = &out, &out
		_ = help.Run() // -h exits non-zero
		flagsVal, flagsErr = parseHelp(out.String())
	})
	if flagsErr != nil {
		t.Fatal(flagsErr)
	}
	return flagsVal
}

var helpLine = regexp.MustCompile(`^  -([a-z0-9-]+)(?: (\w+))?$`)

// parseHelp reads Go flag package usage output: "  -name type" lines, each followed by its help.
func parseHelp(s string) (serverFlags, error) {
	fs := serverFlags{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if m := helpLine.FindStringSubmatch(sc.Text()); m != nil {
			typ := m[2]
			if typ == "" {
				typ = "bool"
			}
			fs[m[1]] = typ
		}
	}
	// A guard against a changed help format silently making every flag unknown (or known).
	for _, must := range []string{"kafka-addr", "http-addr", "metadata", "object-store", "node-id"} {
		if _, ok := fs[must]; !ok {
			return nil, fmt.Errorf("strata server -h lists no --%s; its output was:\n%s", must, s)
		}
	}
	return fs, nil
}

// strataUse is one strata container: its arguments after the executable, and its environment
// (value nil when it comes from elsewhere: a Secret, the downward API).
type strataUse struct {
	where string
	args  []string
	env   map[string]*string
}

// strataConfig is the effective configuration of a strata container: a flag's value (command line
// over environment; nil when set but not known here) for every flag that is set.
type strataConfig map[string]*string

func (c strataConfig) value(name, def string) string {
	if v, ok := c[name]; ok && v != nil {
		return *v
	}
	return def
}

// varRef is a Kubernetes $(VAR) reference, expanded by the kubelet before the process sees it.
var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// check validates a strata container's flags and STRATA_* variables against the real flag set and
// returns its effective configuration.
func (fs serverFlags) check(u strataUse) (strataConfig, []error) {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(u.where+": "+format, a...)) }
	cfg := strataConfig{}
	for k, v := range u.env {
		if !strings.HasPrefix(k, "STRATA_") {
			continue
		}
		name := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(k, "STRATA_")), "_", "-")
		if _, ok := fs[name]; !ok {
			fail("environment variable %s names no strata server flag (--%s)", k, name)
			continue
		}
		cfg[name] = v
	}
	if len(u.args) == 0 || u.args[0] != "server" {
		fail("arguments %q: want the server subcommand first", u.args)
		return cfg, errs
	}
	args := u.args[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			fail("unexpected argument %q (strata server takes only flags)", a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		typ, ok := fs[name]
		if !ok {
			fail("flag --%s is not a strata server flag", name)
			continue
		}
		if !hasVal && typ != "bool" {
			if i+1 >= len(args) {
				fail("flag --%s has no value", name)
				continue
			}
			i++
			val = args[i]
		} else if !hasVal {
			val = "true"
		}
		v := val
		cfg[name] = &v
	}
	for name, v := range cfg {
		if v == nil || varRef.MatchString(*v) {
			continue
		}
		if err := checkValue(fs[name], *v); err != nil {
			fail("--%s %q: %v", name, *v, err)
		}
	}
	return cfg, errs
}

func checkValue(typ, v string) error {
	var err error
	switch typ {
	case "int":
		_, err = strconv.Atoi(v)
	case "duration":
		_, err = time.ParseDuration(v)
	case "bool":
		_, err = strconv.ParseBool(v)
	}
	return err
}

// listenPort is the port of a listener flag; the host must be all interfaces, or no one outside the
// container reaches it.
func listenPort(cfg strataConfig, flag, def string) (int, error) {
	addr := cfg.value(flag, def)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("--%s %q: %v", flag, addr, err)
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		return 0, fmt.Errorf("--%s %q listens on %s only: unreachable from outside the container (want 0.0.0.0)", flag, addr, host)
	}
	return strconv.Atoi(port)
}
