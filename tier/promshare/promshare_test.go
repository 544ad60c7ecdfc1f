package promshare

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestSecondRegistrationShares(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "strata_test_things_total", Help: "Things."}
	a, err := Register(reg, prometheus.NewCounter(opts))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Register(reg, prometheus.NewCounter(opts))
	if err != nil || b != a {
		t.Fatalf("second registration: %v, shared %v", err, b == a)
	}
	b.Inc()
	if mfs, _ := reg.Gather(); len(mfs) != 1 || mfs[0].GetMetric()[0].GetCounter().GetValue() != 1 {
		t.Fatalf("gathered %v", mfs)
	}
}

func TestClashIsAnError(t *testing.T) {
	reg := prometheus.NewRegistry()
	Keep(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_test_x_total", Help: "X."}))
	other := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_test_x_total", Help: "X."}, []string{"op"})
	got, err := Register(reg, other)
	if err == nil || got != other {
		t.Fatalf("a clash with other labels: err %v, returned the new collector %v", err, got == other)
	}
	if Keep(reg, other) != other {
		t.Fatal("Keep did not hand back the unregistered collector")
	}
}
