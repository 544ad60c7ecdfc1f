package load

import (
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat and /proc/stat: USER_HZ, 100 on every
// Linux architecture the harness runs on (the kernel reports in it whatever its internal HZ).
const userHZ = 100

// procCPUSeconds is the user plus system CPU time of process pid so far (Linux /proc); ok is false
// where that cannot be read (another OS, a process gone).
func procCPUSeconds(pid int) (float64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces: count fields after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return float64(utime+stime) / userHZ, true
}

// machineCPU is the whole machine's busy and total CPU time so far, in seconds summed over its
// cores (/proc/stat; idle and iowait count as not busy).
func machineCPU() (busy, total float64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0, false
	}
	var sum, idle uint64
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		sum += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return float64(sum-idle) / userHZ, float64(sum) / userHZ, true
}

// cpuMeter measures where CPU went during one pass of a scenario: each named process's CPU
// seconds, and how busy the machine was. On a 2-core machine that also runs the object store and
// the client, a pass can be bound by the cores they share rather than by any one of them.
type cpuMeter struct {
	pids  map[string]int
	start map[string]float64
	busy  float64
	total float64
	ok    bool
}

// startPassCPU starts a meter on t's server processes and this one, named client (the load
// generator: producer or consumer).
func startPassCPU(t Target, client string) *cpuMeter {
	pids := map[string]int{client: os.Getpid()}
	maps.Copy(pids, t.PIDs)
	return startCPU(pids)
}

// startCPU snapshots the processes in pids (name → pid; pids ≤ 0 are left out).
func startCPU(pids map[string]int) *cpuMeter {
	m := &cpuMeter{pids: map[string]int{}, start: map[string]float64{}}
	for name, pid := range pids {
		if pid <= 0 {
			continue
		}
		if s, ok := procCPUSeconds(pid); ok {
			m.pids[name], m.start[name] = pid, s
		}
	}
	m.busy, m.total, m.ok = machineCPU()
	return m
}

// stop adds to figures, under prefix, each process's CPU seconds per GiB of bytes (<prefix>_cpu_<name>_s_per_gib)
// and the machine's busy share of all its cores during the pass (<prefix>_machine_busy_pct).
func (m *cpuMeter) stop(figures map[string]float64, prefix string, bytes int64) {
	if bytes <= 0 || figures == nil {
		return
	}
	gib := float64(bytes) / (1 << 30)
	for name, pid := range m.pids {
		if s, ok := procCPUSeconds(pid); ok {
			figures[fmt.Sprintf("%s_cpu_%s_s_per_gib", prefix, name)] = (s - m.start[name]) / gib
		}
	}
	if busy, total, ok := machineCPU(); ok && m.ok && total > m.total {
		// The tick counts are whole numbers; the share is capped at 100 against float rounding.
		figures[prefix+"_machine_busy_pct"] = min(100, 100*(busy-m.busy)/(total-m.total))
	}
}
