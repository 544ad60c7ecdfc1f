package natsmeta

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-log/strata/metadata"
)

// An embedded server whose disk fills switches JetStream off; once there is room again,
// RecoverJetStream brings it back with every record written before, and writes go through again.
func TestRecoverJetStreamAfterFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a small file system")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	e, err := StartEmbedded(EmbeddedConfig{Dir: filepath.Join(dir, "meta"), NoListen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	e.WatchStorage(slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := Open(ctx, Config{Embedded: e, OpTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if restarted, err := e.RecoverJetStream(); restarted || err != nil {
		t.Fatalf("RecoverJetStream with JetStream well: %v, %v", restarted, err)
	}
	if _, err := st.CreateTopic(ctx, metadata.Topic{Name: "before", Partitions: 1}); err != nil {
		t.Fatal(err)
	}

	// Fill the file system, then write until JetStream gives up.
	filler := filepath.Join(dir, "filler")
	_ = exec.Command("dd", "if=/dev/zero", "of="+filler, "bs=1M", "count=64").Run() // stops at ENOSPC
	big := strings.Repeat("x", 512<<10)
	for i := 0; i < 8 && !e.StorageFailed(); i++ {
		wctx, wcancel := context.WithTimeout(ctx, 3*time.Second)
		_, _ = st.CreateTopic(wctx, metadata.Topic{Name: fmt.Sprintf("fill-%d", i), Partitions: 1,
			Configs: map[string]string{"note": big}})
		wcancel()
	}
	if !e.StorageFailed() {
		t.Fatal("no storage failure noted while the disk was full")
	}
	wctx, wcancel := context.WithTimeout(ctx, 3*time.Second)
	defer wcancel()
	if _, err := st.CreateTopic(wctx, metadata.Topic{Name: "during", Partitions: 1}); err == nil {
		t.Fatal("a write succeeded on a full disk")
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	restarted, err := e.RecoverJetStream()
	if err != nil || !restarted {
		t.Fatalf("RecoverJetStream after room came back: %v, %v", restarted, err)
	}
	var lastErr error
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); {
		actx, acancel := context.WithTimeout(ctx, 3*time.Second)
		_, lastErr = st.CreateTopic(actx, metadata.Topic{Name: "after", Partitions: 1})
		acancel()
		if lastErr == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
		if ctx.Err() != nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("write after JetStream came back: %v", lastErr)
	}
	if _, err := st.GetTopic(ctx, "before"); err != nil {
		t.Fatalf("topic written before the disk filled: %v", err)
	}
}
