package tier

import (
	"errors"
	"testing"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/hotlog"
)

func seg(base, next, size, maxTS int64, sealed bool) hotlog.SegmentInfo {
	return hotlog.SegmentInfo{BaseOffset: base, NextOffset: next, Size: size, MaxTimestamp: maxTS, Sealed: sealed}
}

func TestNextUpload(t *testing.T) {
	three := []hotlog.SegmentInfo{seg(0, 10, 100, 1, true), seg(10, 20, 100, 1, true), seg(20, 25, 50, 1, false)}
	cases := []struct {
		name      string
		segs      []hotlog.SegmentInfo
		cv        catalogView
		step      uploadStep
		base      int64
		backlog   int64
		backBytes int64
	}{
		{"empty catalog", three, catalogView{}, stepUpload, 0, 2, 200},
		{"first tiered", three, catalogView{end: 10, hasSegs: true}, stepUpload, 10, 1, 100},
		{"all tiered", three, catalogView{end: 20, hasSegs: true}, stepIdle, 0, 0, 0},
		{"active never counts", three, catalogView{end: 22, hasSegs: true}, stepIdle, 0, 0, 0},
		{"catalog ends mid-segment", three, catalogView{end: 15, hasSegs: true}, stepTrim, 10, 1, 100},
		{"empty catalog, start mid-segment", three, catalogView{logStart: 5, end: 5}, stepUpload, 0, 2, 200},
		{"empty catalog below hot start", three[1:], catalogView{logStart: 3, end: 3}, stepMoveLog, 10, 1, 100},
		{"gap after tiered end", three[1:], catalogView{end: 5, hasSegs: true}, stepGap, 10, 1, 100},
		{"only active", three[2:], catalogView{}, stepIdle, 0, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			step, s, n, b := nextUpload(tc.segs, tc.cv)
			if step != tc.step || n != tc.backlog || b != tc.backBytes || (step != stepIdle && s.BaseOffset != tc.base) {
				t.Fatalf("got step %d base %d backlog %d/%d, want %d %d %d/%d", step, s.BaseOffset, n, b,
					tc.step, tc.base, tc.backlog, tc.backBytes)
			}
		})
	}
}

func TestLocalDeleteBelow(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	old, fresh := int64(1_000), int64(999_990)
	segs := []hotlog.SegmentInfo{seg(0, 10, 100, old, true), seg(10, 20, 100, old, true), seg(20, 30, 100, fresh, true), seg(30, 35, 50, fresh, false)}
	pol := func(remote bool, ms, bytes, lms, lbytes int64) Policy {
		return Policy{RemoteStorage: remote, RetentionMs: ms, RetentionBytes: bytes, LocalRetentionMs: lms, LocalRetentionBytes: lbytes}
	}
	cases := []struct {
		name   string
		tiered int64
		p      Policy
		want   int64
	}{
		{"unbounded", 30, pol(true, -1, -1, -2, -2), -1},
		{"time, all tiered", 30, pol(true, 100, -1, -2, -2), 20},
		{"time, not past the tiered end", 10, pol(true, 100, -1, -2, -2), 10},
		{"nothing tiered", 0, pol(true, 100, -1, -2, -2), -1},
		{"local time limit", 30, pol(true, -1, -1, 100, -2), 20},
		{"local limit capped by total", 30, pol(true, 100, -1, 1<<40, -2), 20},
		{"local bytes zero keeps only the active", 30, pol(true, -1, -1, -2, 0), 30},
		{"bytes: keep at least the limit", 30, pol(true, -1, -1, -2, 150), 20},
		{"bytes: exactly the limit", 30, pol(true, -1, 250, -2, -2), 10},
		{"remote off: plain retention ignores the tiered end", 0, pol(false, 100, -1, 0, 0), 20},
		{"remote off, local limits ignored", 0, pol(false, -1, -1, 0, 0), -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := localDeleteBelow(segs, tc.tiered, tc.p, now); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
	// A segment without timestamps ages by its creation time.
	noTS := []hotlog.SegmentInfo{{BaseOffset: 0, NextOffset: 5, Size: 10, MaxTimestamp: -1, Sealed: true, Created: now.Add(-time.Hour)}, seg(5, 6, 1, -1, false)}
	if got := localDeleteBelow(noTS, 5, pol(true, 1000, -1, -2, -2), now); got != 5 {
		t.Fatalf("by creation time: %d", got)
	}
}

func TestRetentionStart(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	c := metadata.PartitionCatalog{Segments: []metadata.SegmentRef{
		{Key: "a", BaseOffset: 0, NextOffset: 10, Size: 100, MaxTimestamp: 1_000},
		{Key: "b", BaseOffset: 10, NextOffset: 20, Size: 100, MaxTimestamp: 2_000},
		{Key: "c", BaseOffset: 20, NextOffset: 30, Size: 100, MaxTimestamp: 999_999},
	}}
	cases := []struct {
		name      string
		ms, bytes int64
		local     int64
		want      int64
	}{
		{"unbounded", -1, -1, 0, -1},
		{"time", 10_000, -1, 0, 20},
		{"time keeps the fresh one", 1, -1, 0, 20},
		{"bytes", -1, 200, 0, 10},
		{"bytes count local data", -1, 200, 100, 20},
		{"everything", 0, -1, 0, 30},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := retentionStart(c, tc.local, Policy{RetentionMs: tc.ms, RetentionBytes: tc.bytes}, now)
			if got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestPolicyFromConfigs(t *testing.T) {
	base := DefaultPolicy()
	cases := []struct {
		name    string
		configs map[string]string
		check   func(Policy) bool
		bad     bool
	}{
		{"defaults", nil, func(p Policy) bool { return p == base }, false},
		{"object durability", map[string]string{"strata.durability": "object", "strata.flush.ms": "250"},
			func(p Policy) bool {
				return p.Durability == DurabilityObject && p.FlushInterval == 250*time.Millisecond
			}, false},
		{"kip-405 names", map[string]string{"remote.storage.enable": "false", "local.retention.ms": "1000",
			"local.retention.bytes": "-1", "retention.bytes": "5000", "retention.ms": "-1"},
			func(p Policy) bool {
				return !p.RemoteStorage && p.LocalRetentionMs == 1000 && p.LocalRetentionBytes == -1 &&
					p.RetentionBytes == 5000 && p.RetentionMs == -1
			}, false},
		{"other configs ignored", map[string]string{"min.insync.replicas": "2"}, func(p Policy) bool { return p == base }, false},
		{"compact alone keeps everything", map[string]string{"cleanup.policy": "compact", "retention.ms": "1000", "retention.bytes": "10"},
			func(p Policy) bool { return p.RetentionMs == -1 && p.RetentionBytes == -1 }, false},
		{"compact and delete keeps the limits", map[string]string{"cleanup.policy": "compact, delete", "retention.ms": "1000"},
			func(p Policy) bool { return p.RetentionMs == 1000 }, false},
		{"delete keeps the defaults", map[string]string{"cleanup.policy": "delete"}, func(p Policy) bool { return p == base }, false},
		{"bad cleanup policy", map[string]string{"cleanup.policy": "shred"}, nil, true},
		{"bad durability", map[string]string{"strata.durability": "disk"}, nil, true},
		{"bad flush", map[string]string{"strata.flush.ms": "0"}, nil, true},
		{"bad long", map[string]string{"retention.ms": "soon"}, nil, true},
		{"out of range", map[string]string{"retention.bytes": "-2"}, nil, true},
		{"bad bool", map[string]string{"remote.storage.enable": "yes please"}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PolicyFromConfigs(tc.configs, base)
			if tc.bad {
				if !errors.Is(err, ErrConfig) {
					t.Fatalf("err = %v, want ErrConfig", err)
				}
				return
			}
			if err != nil || !tc.check(p) {
				t.Fatalf("got %+v, %v", p, err)
			}
		})
	}
}

func TestObjectKeyRoundTrip(t *testing.T) {
	id := metadata.NewTopicID()
	for _, prefix := range []string{"", "a", "a/b/"} {
		key := ObjectKey(prefix, id, 7, 1234, 3)
		k, err := ParseObjectKey(key)
		if err != nil {
			t.Fatal(err)
		}
		if k.TopicID != id || k.Partition != 7 || k.BaseOffset != 1234 || k.Epoch != 3 || k.Prefix != trimSlash(prefix) {
			t.Fatalf("%q parsed as %+v", key, k)
		}
	}
	if got := ObjectKey("p", id, 0, 5, 2); got != "p/topics/"+id.String()+"/0/00000000000000000005-2.seg" {
		t.Fatalf("key %q", got)
	}
	for _, bad := range []string{"", "topics", "topics/x/0/00000000000000000005-2.seg",
		"topics/" + id.String() + "/0/5-2.seg", "topics/" + id.String() + "/-1/00000000000000000005-2.seg",
		"topics/" + id.String() + "/0/00000000000000000005.seg", "topics/" + id.String() + "/0/00000000000000000005-2.log"} {
		if _, err := ParseObjectKey(bad); !errors.Is(err, ErrBadKey) {
			t.Fatalf("ParseObjectKey(%q) = %v", bad, err)
		}
	}
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

func FuzzParseObjectKey(f *testing.F) {
	f.Add(ObjectKey("x", metadata.NewTopicID(), 1, 2, 3))
	f.Add("topics/00/0/00000000000000000000-0.seg")
	f.Add(MergedObjectKey("x", metadata.NewTopicID(), 1, 2, 30, 3))
	f.Add(SharedObjectKey("x/y", 3, time.Unix(1_700_000_000, 5)))
	f.Add("shared/0/00000000000000000000-0123456789abcdef.seg")
	f.Fuzz(func(t *testing.T, key string) {
		k, err := ParseObjectKey(key)
		if err != nil {
			return
		}
		if again := k.String(); again != key {
			// Accepted keys must be canonical except for leading zeros in partition or epoch.
			k2, err := ParseObjectKey(again)
			if err != nil || k2 != k {
				t.Fatalf("%q → %+v → %q → %+v, %v", key, k, again, k2, err)
			}
		}
	})
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Bucket: nil}
	if err := ok.Validate(); !errors.Is(err, ErrConfig) {
		t.Fatalf("missing bucket: %v", err)
	}
	if err := (ReaderConfig{}).Validate(); !errors.Is(err, ErrConfig) {
		t.Fatalf("missing reader bucket: %v", err)
	}
	if err := (Policy{Durability: 7}).Validate(); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad durability: %v", err)
	}
}

func TestFlushDeadline(t *testing.T) {
	const iv = 100 * time.Millisecond
	now := time.UnixMilli(1700000000000)
	ms := func(d int64) time.Time { return now.Add(time.Duration(d) * time.Millisecond) }
	cases := []struct {
		name     string
		first    time.Time
		oldestTS int64
		lastRoll time.Time
		want     time.Time
	}{
		{"fresh records: interval after arrival", now, now.UnixMilli(), ms(-500), ms(100)},
		{"queued 60 ms in the client: 40 ms left", now, now.UnixMilli() - 60, ms(-500), ms(40)},
		{"older than the interval: roll at once", now, now.UnixMilli() - 300, ms(-500), ms(-200)},
		{"but not sooner than a quarter interval after the last roll", now, now.UnixMilli() - 300, ms(-10), ms(15)},
		{"client clock ahead: interval after arrival", now, now.UnixMilli() + 5000, ms(-500), ms(100)},
		{"no timestamp known", now, -1, ms(-500), ms(100)},
	}
	for _, tc := range cases {
		if got := flushDeadline(tc.first, tc.oldestTS, tc.lastRoll, iv); !got.Equal(tc.want) {
			t.Errorf("%s: %v after now, want %v", tc.name, got.Sub(now), tc.want.Sub(now))
		}
	}
}

// Object durability's active segment is rolled for local retention once the part a flush took is
// tiered and would be dropped were it sealed; not while any of it is untiered, nor under the
// default limits.
func TestTakenDue(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	active := func(taken int64) hotlog.SegmentInfo {
		s := seg(10, 20, 100, 999_990, false)
		s.TakenNext, s.TakenSize = taken, 60
		return s
	}
	sealed := seg(0, 10, 100, 1_000, true)
	pol := func(lms, lbytes int64) Policy {
		return Policy{RemoteStorage: true, RetentionMs: -1, RetentionBytes: -1, LocalRetentionMs: lms, LocalRetentionBytes: lbytes}
	}
	cases := []struct {
		name   string
		segs   []hotlog.SegmentInfo
		tiered int64
		p      Policy
		want   bool
	}{
		{"local bytes 0, taken part tiered", []hotlog.SegmentInfo{sealed, active(16)}, 16, pol(-2, 0), true},
		{"taken part not all tiered yet", []hotlog.SegmentInfo{sealed, active(16)}, 14, pol(-2, 0), false},
		{"nothing taken", []hotlog.SegmentInfo{sealed, active(10)}, 16, pol(-2, 0), false},
		{"unbounded local retention", []hotlog.SegmentInfo{sealed, active(16)}, 16, pol(-2, -2), false},
		{"time limit: the segment's records are too new", []hotlog.SegmentInfo{sealed, active(16)}, 16, pol(100, -2), false},
		{"time limit: old enough", []hotlog.SegmentInfo{sealed, active(16)}, 16, pol(5, -2), true},
		{"an older sealed segment that must stay keeps it too", []hotlog.SegmentInfo{seg(0, 10, 100, 999_999, true), active(16)}, 16, pol(5, -2), false},
		{"sealed active (closing)", []hotlog.SegmentInfo{seg(10, 20, 100, 1, true)}, 20, pol(-2, 0), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := takenDue(tc.segs, tc.tiered, tc.p, now); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
