package hotlog

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// ReadSpans finds what ReadAppend reads, for every offset, budget and limit, across sealed and
// active segments; its spans give those bytes by pread (AppendTo), by copy to a plain writer, and
// by sendfile to a TCP socket.
func TestReadSpansMatchesReadAppend(t *testing.T) {
	_, l := openTestLog(t, Config{SegmentBytes: 4096, IndexIntervalBytes: 1000})
	var starts []int64
	for i := range 60 {
		starts = append(starts, mustAppend(t, l, batch(1+i%4, int64(1000+i))).BaseOffset)
	}
	if len(l.Segments()) < 3 {
		t.Fatalf("want several segments, got %d", len(l.Segments()))
	}
	end := l.EndOffset()
	for _, off := range []int64{0, 1, starts[7], starts[30] + 1, starts[59], end} {
		for _, maxBytes := range []int{1, 500, 4000, 9000, 1 << 20} {
			for _, limit := range []int64{-1, starts[40], end} {
				want, err := l.ReadAppend(nil, off, maxBytes, limit)
				if err != nil {
					t.Fatal(err)
				}
				got, sp, err := l.ReadSpans(nil, off, maxBytes, limit, 0)
				if err != nil {
					t.Fatal(err)
				}
				if len(want) == 0 {
					if sp != nil || len(got) != 0 {
						t.Fatalf("ReadSpans(%d, %d, %d): spans or bytes where ReadAppend read nothing", off, maxBytes, limit)
					}
					continue
				}
				if sp == nil || len(got) != 0 || sp.Len() != len(want) {
					t.Fatalf("ReadSpans(%d, %d, %d): spans %v, %d bytes; want spans of %d", off, maxBytes, limit, sp != nil, len(got), len(want))
				}
				if infos := segmenttest.Infos(t, want); sp.LastOffset() != infos[len(infos)-1].LastOffset() {
					t.Fatalf("ReadSpans(%d, %d, %d): last offset %d, want %d", off, maxBytes, limit, sp.LastOffset(), infos[len(infos)-1].LastOffset())
				}
				b, err := sp.AppendTo([]byte("x"))
				if err != nil || !bytes.Equal(b[1:], want) || b[0] != 'x' {
					t.Fatalf("AppendTo(%d, %d, %d) differs from ReadAppend (err %v)", off, maxBytes, limit, err)
				}
				var buf bytes.Buffer
				if n, err := sp.WriteTo(&buf); err != nil || n != int64(len(want)) || !bytes.Equal(buf.Bytes(), want) {
					t.Fatalf("WriteTo(buffer) at %d: %d bytes, err %v", off, n, err)
				}
				if err := sp.Close(); err != nil {
					t.Fatal(err)
				}
				// Below minBytes: the bytes, as ReadAppend.
				got, sp, err = l.ReadSpans(nil, off, maxBytes, limit, len(want)+1)
				if err != nil || sp != nil || !bytes.Equal(got, want) {
					t.Fatalf("ReadSpans under minBytes at %d: spans %v, err %v, equal %v", off, sp != nil, err, bytes.Equal(got, want))
				}
			}
		}
	}
	all, _ := l.ReadAppend(nil, 0, 1<<30, -1)
	_, sp, err := l.ReadSpans(nil, 0, 1<<30, -1, 0)
	if err != nil || sp == nil {
		t.Fatal(sp, err)
	}
	if got := sendOverTCP(t, sp); !bytes.Equal(got, all) {
		t.Fatalf("sent %d bytes over TCP, want the %d ReadAppend reads", len(got), len(all))
	}
	if _, _, err := l.ReadSpans(nil, end+1, 100, -1, 0); err == nil {
		t.Fatal("ReadSpans past the end succeeded")
	}
}

// Spans taken before local retention removes their files, and before a truncation and new appends
// at the same offsets, still send the batches they found.
func TestSpansOutliveRetentionAndTruncation(t *testing.T) {
	_, l := openTestLog(t, Config{SegmentBytes: 4096, IndexIntervalBytes: 1000})
	for i := range 40 {
		mustAppend(t, l, batch(2, int64(1000+i)))
	}
	want, _ := l.ReadAppend(nil, 0, 1<<30, -1)
	_, sp, err := l.ReadSpans(nil, 0, 1<<30, -1, 0)
	if err != nil || sp == nil {
		t.Fatal(sp, err)
	}
	defer sp.Close()
	segs := l.Segments()
	if err := l.DeleteSegmentsBelow(segs[len(segs)-1].BaseOffset); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateTo(l.EndOffset() - 3); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		mustAppend(t, l, batch(7, int64(9000+i))) // different batches at the truncated offsets
	}
	if got := sendOverTCP(t, sp); !bytes.Equal(got, want) {
		t.Fatalf("spans sent %d bytes that differ from what they were taken over (%d)", len(got), len(want))
	}
	got, err := sp.AppendTo(nil)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("AppendTo after retention and truncation: %v", err)
	}
}

// sendOverTCP writes sp to a loopback TCP connection (sendfile on Linux) and returns what arrived.
func sendOverTCP(t *testing.T, sp *Spans) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	n, err := sp.WriteTo(c)
	if err != nil || n != int64(sp.Len()) {
		t.Fatalf("WriteTo(TCP) = %d, %v; want %d", n, err, sp.Len())
	}
	_ = c.Close()
	return <-got
}

// Past maxSpanFiles descriptors held by Spans, ReadSpans copies; closing Spans gives them back.
func TestSpanFilesBounded(t *testing.T) {
	_, l := openTestLog(t, Config{SegmentBytes: 1 << 20})
	for i := range 20 {
		mustAppend(t, l, batch(5, int64(1000+i)))
	}
	want, _ := l.ReadAppend(nil, 0, 1<<30, -1)
	defer func(old int64) { maxSpanFiles = old }(maxSpanFiles)
	maxSpanFiles = spanFiles.Load() + 2
	var held []*Spans
	for range 2 {
		_, sp, err := l.ReadSpans(nil, 0, 1<<30, -1, 0)
		if err != nil || sp == nil {
			t.Fatalf("spans within the bound: %v, %v", sp, err)
		}
		held = append(held, sp)
	}
	got, sp, err := l.ReadSpans(nil, 0, 1<<30, -1, 0)
	if err != nil || sp != nil || !bytes.Equal(got, want) {
		t.Fatalf("past the bound: spans %v, err %v; want the bytes", sp != nil, err)
	}
	for _, sp := range held {
		_ = sp.Close()
	}
	if _, sp, err = l.ReadSpans(nil, 0, 1<<30, -1, 0); err != nil || sp == nil {
		t.Fatalf("after Close: spans %v, err %v", sp, err)
	}
	_ = sp.Close()
	if n := spanFiles.Load(); n != maxSpanFiles-2 {
		t.Fatalf("%d descriptors counted after every Spans closed, want %d", n, maxSpanFiles-2)
	}
}
