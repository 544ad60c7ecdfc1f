package hotlog

import (
	"bytes"
	"errors"
	"testing"

	"github.com/strata-log/strata/tier/segment"
)

// AppendValidated trusts the caller's CRC check but reads the header as it is now: a batch stamped
// with LogAppendTime after validation is indexed by its new max timestamp, and a second batch in
// the same slice is still refused.
func TestAppendValidated(t *testing.T) {
	_, l := openTestLog(t, Config{})
	b := batch(3, 1000)
	if _, err := segment.ValidateBatch(b); err != nil {
		t.Fatal(err)
	}
	segment.SetLogAppendTime(b, 5000)
	res, err := l.AppendValidated(b)
	if err != nil {
		t.Fatal(err)
	}
	if res.BaseOffset != 0 || res.LastOffset != 2 || res.MaxTimestamp != 5000 {
		t.Fatalf("result %+v, want offsets 0..2 and max timestamp 5000", res)
	}
	if ts, off := l.MaxTimestamp(); ts != 5000 || off != 0 {
		t.Fatalf("log max timestamp %d at %d, want 5000 at 0", ts, off)
	}
	got, err := l.Read(0, 1<<20, -1)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("read back %d bytes %v, want the %d appended", len(got), err, len(b))
	}
	if _, err := segment.ValidateBatch(got); err != nil {
		t.Fatalf("stored batch: %v", err)
	}

	two := append(batch(1, 1), batch(1, 2)...)
	if _, err := l.AppendValidated(two); !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("two batches in one append: %v, want ErrCorrupt", err)
	}
	if _, err := l.AppendValidated(b[:len(b)-1]); !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("torn batch: %v, want ErrCorrupt", err)
	}
	if l.EndOffset() != 3 {
		t.Fatalf("end %d after refused appends, want 3", l.EndOffset())
	}
}
