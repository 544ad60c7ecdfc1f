// Package objstoretest holds what every objstore.Bucket must prove and the real servers that prove
// it: RunAcceptance, one suite run against every backend; StartMinIO, a MinIO server on 127.0.0.1
// for tests in any package; and FaultBucket, a wrapper that fails chosen calls.
//
// It also owns the few helpers that tests of every package share (support.go): FreeAddr and
// SyncBuffer for servers run as processes, QuietLogger, and MetricValue, which reads a metric from
// a Prometheus registry.
package objstoretest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-log/strata/tier/objstore"
)

// LargeObjectSize is the size of the suite's large object: over two 5 MiB parts, so a backend
// opened with objstore.WithPartSize(5<<20) uploads it in three parts.
const LargeObjectSize = 11<<20 + 123

// RunAcceptance runs the Bucket contract against buckets made by newBucket. Every subtest asks for
// a fresh, empty bucket and closes it when done; newBucket should register any other cleanup with
// t.Cleanup.
func RunAcceptance(t *testing.T, newBucket func(t *testing.T) objstore.Bucket) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b objstore.Bucket)
	}{
		{"PutGet", testPutGet},
		{"GetRange", testGetRange},
		{"Head", testHead},
		{"NotFound", testNotFound},
		{"Delete", testDelete},
		{"ListOrderAndPrefix", testList},
		{"ListMany", testListMany},
		{"IfAbsent", testIfAbsent},
		{"IfAbsentRace", testIfAbsentRace},
		{"InvalidKeys", testInvalidKeys},
		{"SpecialKeys", testSpecialKeys},
		{"Cancelled", testCancelled},
		{"LargeObject", testLarge},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBucket(t)
			defer b.Close()
			tc.fn(t, b)
		})
	}
}

func ctxT(t *testing.T) context.Context { return t.Context() }

// Bytes returns n deterministic pseudo-random bytes.
func Bytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// Put stores data under key or fails the test.
func Put(t testing.TB, b objstore.Bucket, key string, data []byte, opts ...objstore.PutOption) {
	t.Helper()
	if err := b.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), opts...); err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(data), err)
	}
}

// ReadAll reads and closes rc, failing the test on error.
func ReadAll(t testing.TB, rc io.ReadCloser) []byte {
	t.Helper()
	data, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("reading object: %v", err)
	}
	return data
}

// Get returns the object under key or fails the test.
func Get(t testing.TB, b objstore.Bucket, key string) []byte {
	t.Helper()
	rc, err := b.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return ReadAll(t, rc)
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func testPutGet(t *testing.T, b objstore.Bucket) {
	for _, n := range []int{0, 1, 1000, 64 << 10} {
		key := fmt.Sprintf("putget/%d", n)
		data := Bytes(uint64(n), n)
		Put(t, b, key, data)
		if got := Get(t, b, key); !bytes.Equal(got, data) {
			t.Fatalf("Get(%q) = %d bytes, want the %d put", key, len(got), n)
		}
	}
	// Without IfAbsent a Put replaces the object whole.
	Put(t, b, "putget/1", []byte("replaced"))
	if got := Get(t, b, "putget/1"); string(got) != "replaced" {
		t.Fatalf("after replace: got %q", got)
	}
	// A reader shorter than the declared size must fail, and leave nothing behind.
	err := b.Put(ctxT(t), "putget/short", bytes.NewReader([]byte("abc")), 10)
	if err == nil {
		t.Fatal("Put with a reader shorter than size succeeded")
	}
	_, err = b.Head(ctxT(t), "putget/short")
	wantErr(t, "Head after a short Put", err, objstore.ErrNotFound)
}

func testGetRange(t *testing.T, b objstore.Bucket) {
	data := Bytes(7, 1000)
	Put(t, b, "range/obj", data)
	Put(t, b, "range/empty", nil)
	tests := []struct {
		name        string
		key         string
		off, length int64
		want        []byte
		err         error
	}{
		{"whole", "range/obj", 0, -1, data, nil},
		{"head", "range/obj", 0, 10, data[:10], nil},
		{"middle", "range/obj", 123, 456, data[123:579], nil},
		{"to end", "range/obj", 990, -1, data[990:], nil},
		{"past end is cut", "range/obj", 990, 100, data[990:], nil},
		{"last byte", "range/obj", 999, 1, data[999:], nil},
		{"zero length", "range/obj", 500, 0, nil, nil},
		{"at end", "range/obj", 1000, -1, nil, nil},
		{"at end with length", "range/obj", 1000, 5, nil, nil},
		{"past end", "range/obj", 1001, -1, nil, objstore.ErrInvalidRange},
		{"far past end", "range/obj", 1 << 40, 10, nil, objstore.ErrInvalidRange},
		{"huge length", "range/obj", 990, math.MaxInt64, data[990:], nil},
		{"negative offset", "range/obj", -1, 5, nil, objstore.ErrInvalidRange},
		{"empty object whole", "range/empty", 0, -1, nil, nil},
		{"empty object zero", "range/empty", 0, 0, nil, nil},
		{"empty object past end", "range/empty", 1, -1, nil, objstore.ErrInvalidRange},
		{"missing", "range/missing", 0, 10, nil, objstore.ErrNotFound},
		{"missing zero length", "range/missing", 0, 0, nil, objstore.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := b.GetRange(ctxT(t), tc.key, tc.off, tc.length)
			if tc.err != nil {
				if err == nil {
					rc.Close()
				}
				wantErr(t, "GetRange", err, tc.err)
				return
			}
			if err != nil {
				t.Fatalf("GetRange(%q, %d, %d): %v", tc.key, tc.off, tc.length, err)
			}
			if got := ReadAll(t, rc); !bytes.Equal(got, tc.want) {
				t.Fatalf("GetRange(%q, %d, %d) = %d bytes, want %d", tc.key, tc.off, tc.length, len(got), len(tc.want))
			}
		})
	}
}

func testHead(t *testing.T, b objstore.Bucket) {
	before := time.Now().Add(-time.Hour)
	Put(t, b, "head/a", Bytes(1, 321))
	a, err := b.Head(ctxT(t), "head/a")
	if err != nil {
		t.Fatal(err)
	}
	if a.Key != "head/a" || a.Size != 321 {
		t.Fatalf("Head = %+v, want key head/a size 321", a)
	}
	if a.Modified.Before(before) || a.Modified.After(time.Now().Add(time.Hour)) {
		t.Fatalf("Head Modified = %v, not near now", a.Modified)
	}
}

func testNotFound(t *testing.T, b objstore.Bucket) {
	ctx := ctxT(t)
	Put(t, b, "nf/dir/obj", []byte("x"))
	for _, key := range []string{"nf/missing", "nf/dir", "nf/dir/obj/below"} {
		_, err := b.Get(ctx, key)
		wantErr(t, "Get "+key, err, objstore.ErrNotFound)
		_, err = b.GetRange(ctx, key, 0, 1)
		wantErr(t, "GetRange "+key, err, objstore.ErrNotFound)
		_, err = b.Head(ctx, key)
		wantErr(t, "Head "+key, err, objstore.ErrNotFound)
	}
}

func testDelete(t *testing.T, b objstore.Bucket) {
	ctx := ctxT(t)
	Put(t, b, "del/a/b/c", []byte("x"))
	Put(t, b, "del/a/keep", []byte("y"))
	for range 2 { // deleting twice is not an error
		if err := b.Delete(ctx, "del/a/b/c"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	if err := b.Delete(ctx, "del/never"); err != nil {
		t.Fatalf("Delete of an absent key: %v", err)
	}
	_, err := b.Head(ctx, "del/a/b/c")
	wantErr(t, "Head after Delete", err, objstore.ErrNotFound)
	if got := Get(t, b, "del/a/keep"); string(got) != "y" {
		t.Fatalf("sibling after Delete = %q", got)
	}
	// The key can be written again after a delete (the file backend pruned its directory).
	Put(t, b, "del/a/b/c", []byte("again"))
	if got := Get(t, b, "del/a/b/c"); string(got) != "again" {
		t.Fatalf("after re-put: %q", got)
	}
}

func listKeys(t *testing.T, b objstore.Bucket, prefix string) []string {
	t.Helper()
	var keys []string
	err := b.List(ctxT(t), prefix, func(a objstore.Attrs) error {
		keys = append(keys, a.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return keys
}

func testList(t *testing.T, b objstore.Bucket) {
	// Chosen so that directory order and key order differ: '-' < '.' < '/' < '0'.
	keys := []string{"l/a-c", "l/a.x", "l/a/b", "l/a/c/d", "l/a0", "l/b", "m/z"}
	for i, k := range keys {
		Put(t, b, k, Bytes(uint64(i), i+1))
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", keys},
		{"l/", keys[:6]},
		{"l/a", keys[:5]},
		{"l/a/", keys[2:4]},
		{"l/a/c", keys[3:4]},
		{"l/a/c/d", keys[3:4]},
		{"l/b", keys[5:6]},
		{"l/c", nil},
		{"nothing/", nil},
		{"../", nil},
	}
	for _, tc := range tests {
		got := listKeys(t, b, tc.prefix)
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
	// Sizes come with the listing.
	err := b.List(ctxT(t), "l/a/c", func(a objstore.Attrs) error {
		if a.Size != 4 {
			return fmt.Errorf("size of %s = %d, want 4", a.Key, a.Size)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// An error from fn stops the listing and comes back.
	stop := errors.New("stop here")
	calls := 0
	err = b.List(ctxT(t), "l/", func(objstore.Attrs) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("List with failing fn: err %v after %d calls, want %v after 1", err, calls, stop)
	}
}

func testListMany(t *testing.T, b objstore.Bucket) {
	const n = 1100 // past one S3 page of 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				key := fmt.Sprintf("many/k%05d", i)
				errs <- b.Put(ctxT(t), key, strings.NewReader(key), int64(len(key)))
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	Put(t, b, "manz", []byte("after"))
	got := listKeys(t, b, "many/")
	if len(got) != n {
		t.Fatalf("List(many/) returned %d keys, want %d", len(got), n)
	}
	for i, k := range got {
		if want := fmt.Sprintf("many/k%05d", i); k != want {
			t.Fatalf("List(many/)[%d] = %q, want %q", i, k, want)
		}
	}
	if got := listKeys(t, b, "many/k001"); len(got) != 100 || got[0] != "many/k00100" || got[99] != "many/k00199" {
		t.Fatalf("List(many/k001) = %d keys %q..., want k00100..k00199", len(got), got[:min(len(got), 3)])
	}
	if got := listKeys(t, b, "man"); len(got) != n+1 || got[n] != "manz" {
		t.Fatalf("List(man) = %d keys, want %d ending in manz", len(got), n+1)
	}
}

func testIfAbsent(t *testing.T, b objstore.Bucket) {
	Put(t, b, "ifa/k", []byte("first"), objstore.IfAbsent())
	err := b.Put(ctxT(t), "ifa/k", strings.NewReader("second"), 6, objstore.IfAbsent())
	wantErr(t, "second IfAbsent Put", err, objstore.ErrExists)
	if got := Get(t, b, "ifa/k"); string(got) != "first" {
		t.Fatalf("after refused Put: %q, want first", got)
	}
	// After a delete the key is free again.
	if err := b.Delete(ctxT(t), "ifa/k"); err != nil {
		t.Fatal(err)
	}
	Put(t, b, "ifa/k", []byte("third"), objstore.IfAbsent())
}

func testIfAbsentRace(t *testing.T, b objstore.Bucket) {
	const writers = 6
	for round := range 4 {
		key := fmt.Sprintf("race/%d", round)
		start := make(chan struct{})
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				data := Bytes(uint64(w), 4096)
				<-start
				errs[w] = b.Put(ctxT(t), key, bytes.NewReader(data), int64(len(data)), objstore.IfAbsent())
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for w, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: writers %d and %d both won", round, winner, w)
			case err == nil:
				winner = w
			case !errors.Is(err, objstore.ErrExists):
				t.Fatalf("round %d: writer %d: %v, want ErrExists", round, w, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer won", round)
		}
		if got := Get(t, b, key); !bytes.Equal(got, Bytes(uint64(winner), 4096)) {
			t.Fatalf("round %d: stored bytes are not the winner's", round)
		}
	}
}

func testInvalidKeys(t *testing.T, b objstore.Bucket) {
	ctx := ctxT(t)
	for _, key := range []string{"", "/lead", "trail/", "a//b", "../up", "a/../b", "a/./b", "."} {
		err := b.Put(ctx, key, strings.NewReader("x"), 1)
		wantErr(t, fmt.Sprintf("Put(%q)", key), err, objstore.ErrInvalidKey)
		_, err = b.Get(ctx, key)
		wantErr(t, fmt.Sprintf("Get(%q)", key), err, objstore.ErrInvalidKey)
		_, err = b.Head(ctx, key)
		wantErr(t, fmt.Sprintf("Head(%q)", key), err, objstore.ErrInvalidKey)
		err = b.Delete(ctx, key)
		wantErr(t, fmt.Sprintf("Delete(%q)", key), err, objstore.ErrInvalidKey)
	}
}

func testSpecialKeys(t *testing.T, b objstore.Bucket) {
	keys := []string{"sp/a b", "sp/plus+eq=amp&", "sp/pct%20q?hash#", "sp/ünï-çødé", "sp/x~y!$'()*,;:@"}
	for i, k := range keys {
		Put(t, b, k, []byte{byte(i)})
		if got := Get(t, b, k); !bytes.Equal(got, []byte{byte(i)}) {
			t.Fatalf("Get(%q) = %v", k, got)
		}
	}
	got := listKeys(t, b, "sp/")
	want := append([]string(nil), keys...)
	slices.Sort(want)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("List(sp/) = %q, want %q", got, want)
	}
}

// cancelAt is a ReaderAt that cancels a context once a read reaches offset at.
type cancelAt struct {
	data   []byte
	at     int64
	cancel context.CancelFunc
}

func (c *cancelAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > c.at {
		c.cancel()
	}
	return bytes.NewReader(c.data).ReadAt(p, off)
}

func testCancelled(t *testing.T, b objstore.Bucket) {
	Put(t, b, "cx/obj", []byte("data"))
	ctx, cancel := context.WithCancel(ctxT(t))
	cancel()
	ops := map[string]func() error{
		"Put":    func() error { return b.Put(ctx, "cx/new", strings.NewReader("x"), 1) },
		"Get":    func() error { _, err := b.Get(ctx, "cx/obj"); return err },
		"Range":  func() error { _, err := b.GetRange(ctx, "cx/obj", 1, 2); return err },
		"Head":   func() error { _, err := b.Head(ctx, "cx/obj"); return err },
		"List":   func() error { return b.List(ctx, "cx/", func(objstore.Attrs) error { return nil }) },
		"Delete": func() error { return b.Delete(ctx, "cx/obj") },
	}
	for name, op := range ops {
		wantErr(t, name+" with a cancelled context", op(), context.Canceled)
	}
	if got := Get(t, b, "cx/obj"); string(got) != "data" {
		t.Fatalf("object after cancelled Delete: %q", got)
	}

	// Cancelled while the body is being read: the Put fails and stores nothing.
	ctx, cancel = context.WithCancel(ctxT(t))
	defer cancel()
	data := Bytes(3, 256<<10)
	err := b.Put(ctx, "cx/mid", &cancelAt{data: data, at: 64 << 10, cancel: cancel}, int64(len(data)))
	wantErr(t, "Put cancelled mid-body", err, context.Canceled)
	_, err = b.Head(ctxT(t), "cx/mid")
	wantErr(t, "Head after cancelled Put", err, objstore.ErrNotFound)
}

func testLarge(t *testing.T, b objstore.Bucket) {
	data := Bytes(11, LargeObjectSize)
	Put(t, b, "large/obj", data, objstore.IfAbsent())
	got := Get(t, b, "large/obj")
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("large object: read %d bytes, different from the %d put", len(got), len(data))
	}
	a, err := b.Head(ctxT(t), "large/obj")
	if err != nil || a.Size != LargeObjectSize {
		t.Fatalf("Head = %+v, %v; want size %d", a, err, LargeObjectSize)
	}
	const boundary = 5 << 20 // part boundary when the part size is 5 MiB
	rc, err := b.GetRange(ctxT(t), "large/obj", boundary-100, 200)
	if err != nil {
		t.Fatal(err)
	}
	if got := ReadAll(t, rc); !bytes.Equal(got, data[boundary-100:boundary+100]) {
		t.Fatal("range across a part boundary differs")
	}
	// The conditional write holds for multipart uploads too.
	err = b.Put(ctxT(t), "large/obj", bytes.NewReader(data), int64(len(data)), objstore.IfAbsent())
	wantErr(t, "IfAbsent Put of a large existing object", err, objstore.ErrExists)
}

func testClose(t *testing.T, b objstore.Bucket) {
	Put(t, b, "close/a", []byte("x"))
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := b.Head(ctxT(t), "close/a")
	wantErr(t, "Head after Close", err, objstore.ErrClosed)
}
