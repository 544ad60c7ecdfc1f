package load

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// TestCPUMeter: the meter sees this process burn CPU, and reports per GiB of the bytes given.
func TestCPUMeter(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	m := startCPU(map[string]int{"self": os.Getpid(), "gone": -1})
	if _, ok := m.pids["gone"]; ok {
		t.Fatal("a pid ≤ 0 was measured")
	}
	// Burn at least 300 ms of this process's CPU, by its own count (a loaded machine may give it
	// little CPU per second of wall time), for at most 20 s.
	start, _ := procCPUSeconds(os.Getpid())
	x := 0
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		for i := range 100000 {
			x += i
		}
		if now, _ := procCPUSeconds(os.Getpid()); now-start >= 0.3 {
			break
		}
	}
	_ = x
	figs := map[string]float64{}
	m.stop(figs, "pass", 512<<20) // half a GiB: the per-GiB figure is twice the seconds
	got, ok := figs["pass_cpu_self_s_per_gib"]
	if !ok || got < 0.6 || got > 40 {
		t.Fatalf("pass_cpu_self_s_per_gib = %v (present %v), want at least 0.6 (0.3 s of CPU per half GiB)", got, ok)
	}
	busy, ok := figs["pass_machine_busy_pct"]
	if !ok || busy <= 0 || busy > 100 {
		t.Fatalf("pass_machine_busy_pct = %v (present %v), want a share in (0, 100]", busy, ok)
	}
	empty := map[string]float64{}
	startCPU(map[string]int{"self": os.Getpid()}).stop(empty, "none", 0)
	if len(empty) != 0 {
		t.Fatalf("no bytes read, figures %v", empty)
	}
}
