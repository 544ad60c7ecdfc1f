package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A node with embedded metadata reaches its NATS server in-process: the process listens on its
// Kafka and HTTP ports and nothing else, so no other local process can read or forge its
// metadata (a fake node record once made a node advertise a stranger's address).
func TestEmbeddedMetadataOpensNoPort(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("needs Linux /proc to list a process's listening sockets")
	}
	p := startStrata(t, serverArgs(t.TempDir())...)
	got := listeningPorts(t, p.cmd.Process.Pid)
	var want []int
	for _, addr := range []string{p.kafka, p.http} {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(port)
		want = append(want, n)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("strata listens on ports %v; want only Kafka and HTTP %v\n%s", got, want, p.log())
	}
}

// listeningPorts lists the TCP ports (v4 and v6) on which process pid holds a listening socket:
// the socket inodes among its open files, matched against the kernel's socket tables.
func listeningPorts(t *testing.T, pid int) []int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var ports []int
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] { // 0A: LISTEN
				continue
			}
			i := strings.LastIndexByte(fields[1], ':')
			port, err := strconv.ParseInt(fields[1][i+1:], 16, 32)
			if err != nil {
				t.Fatalf("bad socket table line %q", sc.Text())
			}
			ports = append(ports, int(port))
		}
		f.Close()
	}
	slices.Sort(ports)
	return slices.Compact(ports)
}
