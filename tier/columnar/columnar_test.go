package columnar_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/tier/columnar"
	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// batchSpec is a batch for the tests, encoded by segment (RebuildBatch; AppendBatch for plain ones).
type batchSpec struct {
	name string
	info segment.BatchInfo
	recs []kmsg.Record
}

func compress(codec int, recs []byte) []byte { return segmenttest.Compress(int16(codec), recs) }

func rec(i int, tsDelta int64, key, value []byte, headers ...kmsg.Header) kmsg.Record {
	return kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: tsDelta, Key: key, Value: value, Headers: headers}
}

// testBatches is one partition's log: every codec, idempotent and transactional batches, a control
// record, LogAppendTime, compaction gaps, an empty batch, headers and null keys and values. It
// returns the batches' bytes back to back.
func testBatches(t testing.TB) ([]byte, []batchSpec) {
	t.Helper()
	var specs []batchSpec
	next := int64(100)
	add := func(name string, attrs int16, pid int64, pepoch int16, seq int32, lastDelta int32, recs ...kmsg.Record) {
		info := segment.BatchInfo{
			BaseOffset: next, PartitionLeaderEpoch: 7, Magic: 2, Attributes: attrs, LastOffsetDelta: lastDelta,
			FirstTimestamp: 1_700_000_000_000 + next, ProducerID: pid, ProducerEpoch: pepoch, BaseSequence: seq,
		}
		info.MaxTimestamp = info.FirstTimestamp
		for _, r := range recs {
			info.MaxTimestamp = max(info.MaxTimestamp, info.FirstTimestamp+r.TimestampDelta64)
		}
		if attrs&segment.AttrLogAppendTime != 0 {
			info.MaxTimestamp = 1_800_000_000_000
		}
		specs = append(specs, batchSpec{name: name, info: info, recs: recs})
		next += int64(lastDelta) + 1
	}
	hdr := func(k, v string) kmsg.Header { return kmsg.Header{Key: k, Value: []byte(v)} }
	add("plain", 0, -1, -1, -1, 3,
		rec(0, 0, []byte("k0"), []byte("v0"), hdr("h", "1"), hdr("h", "2")),
		rec(1, 5, nil, []byte("null key")),
		rec(2, -3, []byte("tombstone"), nil, kmsg.Header{Key: "null-value"}),
		rec(3, 9, []byte{}, []byte{}, hdr("", "")))
	for codec := 1; codec <= 4; codec++ {
		var recs []kmsg.Record
		for i := range 20 {
			recs = append(recs, rec(i, int64(i), fmt.Appendf(nil, "key-%d", i%3), bytes.Repeat([]byte{byte('a' + i)}, 50+i), hdr("codec", fmt.Sprint(codec))))
		}
		add(fmt.Sprintf("codec %d", codec), int16(codec), -1, -1, -1, 19, recs...)
	}
	add("idempotent", segment.CompressionZstd, 4000, 3, 17, 1, rec(0, 0, []byte("a"), []byte("1")), rec(1, 1, []byte("b"), []byte("2")))
	add("transactional", segment.AttrTransactional|segment.CompressionLZ4, 4001, 0, 0, 2,
		rec(0, 0, []byte("t"), []byte("x")), rec(1, 0, []byte("t"), []byte("y")), rec(2, 2, nil, []byte("z")))
	marker := kmsg.NewEndTxnMarker()
	add("control", segment.AttrTransactional|segment.AttrControl, 4001, 0, -1, 0,
		rec(0, 0, []byte{0, 0, 0, 1}, marker.AppendTo(nil)))
	add("log append time", segment.AttrLogAppendTime, -1, -1, -1, 1, rec(0, 0, []byte("l"), []byte("1")), rec(1, 4, []byte("l"), []byte("2")))
	add("compacted", segment.CompressionSnappy, -1, -1, -1, 6, rec(1, 1, []byte("k"), []byte("kept")), rec(4, 4, []byte("j"), nil))
	// An empty batch (everything compacted away) between two others.
	specs = append(specs, batchSpec{name: "empty", info: segment.BatchInfo{BaseOffset: next, PartitionLeaderEpoch: 7, Magic: 2,
		LastOffsetDelta: 2, FirstTimestamp: 1_700_000_000_500, MaxTimestamp: 1_700_000_000_500, ProducerID: 9, ProducerEpoch: 1, BaseSequence: 40}})
	next += 3
	for i := range 5 {
		add(fmt.Sprintf("small %d", i), 0, -1, -1, -1, 0, rec(0, 0, fmt.Appendf(nil, "s%d", i), []byte(`{"level":"info","n":1}`)))
	}
	var all []byte
	for _, s := range specs {
		all = segment.RebuildBatch(all, s.info, s.recs, compress)
	}
	return all, specs
}

func writeObject(t testing.TB, data []byte, opts columnar.Options) ([]byte, columnar.Stats) {
	t.Helper()
	w := columnar.NewWriter(3, opts)
	if err := w.Add(data); err != nil {
		t.Fatalf("Add: %v", err)
	}
	var buf bytes.Buffer
	first, _ := segment.ParseBatch(data)
	st, err := w.WriteTo(&buf, first.BaseOffset, w.End())
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	return buf.Bytes(), st
}

func open(t testing.TB, obj []byte) *columnar.Object {
	t.Helper()
	o, err := columnar.Open(bytes.NewReader(obj), int64(len(obj)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return o
}

// split returns the batches of b with their headers.
func split(t testing.TB, b []byte) ([][]byte, []segment.BatchInfo) {
	t.Helper()
	var bs [][]byte
	var infos []segment.BatchInfo
	s := segment.NewSplitter(b)
	for s.Next() {
		info, err := segment.ValidateBatch(s.Batch())
		if err != nil {
			t.Fatalf("batch at %d: %v", s.Info().BaseOffset, err)
		}
		bs, infos = append(bs, s.Batch()[:info.Size()]), append(infos, info)
	}
	if s.Err() != nil || s.Pos() != len(b) {
		t.Fatalf("splitting: %v at %d of %d", s.Err(), s.Pos(), len(b))
	}
	return bs, infos
}

// records decodes a batch's records (copies).
func records(t testing.TB, b []byte, info segment.BatchInfo) []kmsg.Record {
	t.Helper()
	var ret segment.Retainer
	var out []kmsg.Record
	err := ret.Records(b, info, func(r *kmsg.Record) error {
		c := *r
		c.Key, c.Value = clone(r.Key), clone(r.Value)
		c.Headers = nil
		for _, h := range r.Headers {
			c.Headers = append(c.Headers, kmsg.Header{Key: string([]byte(h.Key)), Value: clone(h.Value)})
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatalf("records of batch %d: %v", info.BaseOffset, err)
	}
	return out
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// sameHeader compares batch headers but for the fields re-encoding may change.
func sameHeader(a, b segment.BatchInfo, codecToo bool) bool {
	a.CRC, b.CRC, a.Length, b.Length = 0, 0, 0, 0
	if !codecToo {
		a.Attributes &^= segment.AttrCompressionMask
		b.Attributes &^= segment.AttrCompressionMask
	}
	return a == b
}

func TestRoundTrip(t *testing.T) {
	data, specs := testBatches(t)
	origs, origInfos := split(t, data)
	if len(origs) != len(specs) {
		t.Fatalf("%d batches encoded, %d specified", len(origs), len(specs))
	}
	for _, rg := range []int{1, 300, 1 << 20} {
		t.Run(fmt.Sprintf("row group bytes %d", rg), func(t *testing.T) {
			obj, st := writeObject(t, data, columnar.Options{RowGroupBytes: rg})
			o := open(t, obj)
			if base, next := o.Range(); base != origInfos[0].BaseOffset || next != origInfos[len(origInfos)-1].NextOffset() || o.Partition() != 3 {
				t.Fatalf("range [%d, %d) partition %d", base, next, o.Partition())
			}
			if rg == 1 && st.RowGroups != len(specs)-1 {
				t.Fatalf("%d row groups, want one per batch with records (%d)", st.RowGroups, len(specs)-1)
			}
			for _, codec := range []int{columnar.CodecAsProduced, segment.CompressionNone, segment.CompressionZstd} {
				got, err := o.Batches(context.Background(), nil, origInfos[0].BaseOffset, 1<<30, codec)
				if err != nil {
					t.Fatalf("Batches: %v", err)
				}
				gots, gotInfos := split(t, got)
				if len(gots) != len(origs) {
					t.Fatalf("codec %d: %d batches, want %d", codec, len(gots), len(origs))
				}
				for i := range origs {
					name := specs[i].name
					if !sameHeader(gotInfos[i], origInfos[i], codec == columnar.CodecAsProduced) {
						t.Fatalf("codec %d, %s: header %+v, want %+v", codec, name, gotInfos[i], origInfos[i])
					}
					if want := codec; want >= 0 && gotInfos[i].NumRecords > 0 && gotInfos[i].Compression() != want {
						t.Fatalf("codec %d, %s: batch has codec %d", codec, name, gotInfos[i].Compression())
					}
					if origInfos[i].Compression() == segment.CompressionNone && codec != segment.CompressionZstd && !bytes.Equal(gots[i], origs[i]) {
						t.Fatalf("codec %d, %s: uncompressed batch not byte-identical", codec, name)
					}
					if err := checkStored(gots[i], gotInfos[i]); err != nil {
						t.Fatalf("codec %d, %s: %v", codec, name, err)
					}
					if g, w := records(t, gots[i], gotInfos[i]), records(t, origs[i], origInfos[i]); !reflect.DeepEqual(g, w) {
						t.Fatalf("codec %d, %s: records\n%+v\nwant\n%+v", codec, name, g, w)
					}
				}
			}
		})
	}
}

// checkStored walks the batch's records as a reader of stored batches does.
func checkStored(b []byte, info segment.BatchInfo) error {
	_, _, _, err := segment.RecordForTimestamp(b, info, -1)
	return err
}

// A batch built by RebuildBatch equals the one AppendBatch, the other encoder, builds of the same
// records.
func TestRebuildMatchesAppendBatch(t *testing.T) {
	b := segment.AppendBatch(nil, segment.NewBatch{BaseOffset: 5, FirstTimestamp: 1000, ProducerID: 1, ProducerEpoch: 2, BaseSequence: 3,
		Records: []segment.Record{{Timestamp: 1000, Key: []byte("a"), Value: []byte("b")}, {Timestamp: 1003, Value: []byte("c")}}})
	obj, _ := writeObject(t, b, columnar.Options{})
	got, err := open(t, obj).Batches(context.Background(), nil, 5, 1<<20, columnar.CodecAsProduced)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b) {
		t.Fatalf("rebuilt\n%x\nwant\n%x", got, b)
	}
}

func TestBatchesFromEveryOffset(t *testing.T) {
	data, _ := testBatches(t)
	_, infos := split(t, data)
	obj, _ := writeObject(t, data, columnar.Options{RowGroupBytes: 300})
	o := open(t, obj)
	base, next := o.Range()
	for from := base; from < next; from++ {
		got, err := o.Batches(context.Background(), nil, from, 1, columnar.CodecAsProduced)
		if err != nil {
			t.Fatalf("from %d: %v", from, err)
		}
		_, gi := split(t, got)
		// The first batch whose end is past from, alone (maxBytes 1).
		var want segment.BatchInfo
		for _, in := range infos {
			if in.NextOffset() > from {
				want = in
				break
			}
		}
		if len(gi) != 1 || gi[0].BaseOffset != want.BaseOffset {
			t.Fatalf("from %d: batches %+v, want the one at %d", from, gi, want.BaseOffset)
		}
	}
	for _, from := range []int64{base - 1, next, -1} {
		if _, err := o.Batches(context.Background(), nil, from, 1, columnar.CodecAsProduced); !errors.Is(err, segment.ErrOutOfRange) {
			t.Fatalf("from %d: %v, want ErrOutOfRange", from, err)
		}
	}
}

// TestBatchesShared: from every offset and at several byte limits, BatchesShared returns the same
// bytes as Batches, shares the row group cache's buffer when the batches lie in one group's
// buffer (and never when it was given bytes to append to), and appends to dst otherwise.
func TestBatchesShared(t *testing.T) {
	data, _ := testBatches(t)
	for _, rg := range []int{300, 1 << 20} {
		obj, _ := writeObject(t, data, columnar.Options{RowGroupBytes: rg})
		o := open(t, obj)
		base, next := o.Range()
		ctx := context.Background()
		sharedReads := 0
		for from := base; from < next; from++ {
			for _, maxBytes := range []int{1, 200, 1000, 1 << 20} {
				want, err := o.Batches(ctx, nil, from, maxBytes, columnar.CodecAsProduced)
				if err != nil {
					t.Fatalf("row groups of %d, from %d, max %d: %v", rg, from, maxBytes, err)
				}
				got, shared, err := o.BatchesShared(ctx, nil, from, maxBytes, columnar.CodecAsProduced)
				if err != nil {
					t.Fatalf("row groups of %d, from %d, max %d: shared: %v", rg, from, maxBytes, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("row groups of %d, from %d, max %d: shared read (shared=%v) differs:\n%x\nwant\n%x", rg, from, maxBytes, shared, got, want)
				}
				if shared {
					sharedReads++
					if cap(got) != len(got) {
						t.Fatalf("from %d: a shared result has room to append into the cache (len %d, cap %d)", from, len(got), cap(got))
					}
				}
				prefix := []byte("prefix")
				got, shared, err = o.BatchesShared(ctx, append([]byte(nil), prefix...), from, maxBytes, columnar.CodecAsProduced)
				if err != nil || shared || !bytes.Equal(got, append(prefix, want...)) {
					t.Fatalf("from %d, max %d, after a prefix: shared=%v err=%v, bytes equal %v", from, maxBytes, shared, err, bytes.Equal(got, append(prefix, want...)))
				}
			}
		}
		// One large row group holds every batch but the kept-whole empty one: reads before it
		// share; so do most reads of small groups.
		if sharedReads == 0 {
			t.Fatalf("row groups of %d: no read shared the rebuilt buffer", rg)
		}
	}
}

func TestFindTimestamp(t *testing.T) {
	data, _ := testBatches(t)
	bs, infos := split(t, data)
	obj, _ := writeObject(t, data, columnar.Options{RowGroupBytes: 300})
	o := open(t, obj)
	type hit struct{ off, ts int64 }
	var all []hit
	for i, b := range bs {
		var ret segment.Retainer
		_ = ret.Each(b, infos[i], func(r segment.StoredRecord) error { all = append(all, hit{r.Offset, r.Timestamp}); return nil })
	}
	base, _ := o.Range()
	for _, from := range []int64{base, base + 30, base + 70} {
		for _, ts := range []int64{0, 1_700_000_000_110, 1_700_000_000_140, 1_700_000_000_190, 1_799_999_999_999, 1_900_000_000_000} {
			off, at, found, err := o.FindTimestamp(context.Background(), ts, from)
			if err != nil {
				t.Fatal(err)
			}
			want := hit{-1, -1}
			for _, h := range all {
				if h.off >= from && h.ts >= ts {
					want = h
					break
				}
			}
			if found != (want.off >= 0) || (found && (off != want.off || at != want.ts)) {
				t.Fatalf("ts %d from %d: %d@%d found %v, want %+v", ts, from, off, at, found, want)
			}
		}
	}
}

func TestCorruptObject(t *testing.T) {
	data, _ := testBatches(t)
	obj, _ := writeObject(t, data, columnar.Options{})
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"truncated", obj[:len(obj)/2]},
		{"no footer", obj[:len(obj)-8]},
		{"not parquet", bytes.Repeat([]byte("x"), 100)},
	} {
		if _, err := columnar.Open(bytes.NewReader(c.b), int64(len(c.b))); !errors.Is(err, segment.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", c.name, err)
		}
	}
	// Damaged column data: the footer opens, the read fails.
	bad := bytes.Clone(obj)
	for i := 4; i < len(bad)/2; i += 7 {
		bad[i] ^= 0x5a
	}
	o, err := columnar.Open(bytes.NewReader(bad), int64(len(bad)))
	if err != nil {
		if !errors.Is(err, segment.ErrCorrupt) {
			t.Fatalf("Open: %v", err)
		}
		return
	}
	base, _ := o.Range()
	if _, err := o.Batches(context.Background(), nil, base, 1<<20, columnar.CodecAsProduced); !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("Batches of damaged data: %v, want ErrCorrupt", err)
	}
}

func TestAddChecks(t *testing.T) {
	data, _ := testBatches(t)
	w := columnar.NewWriter(0, columnar.Options{})
	if err := w.Add(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(data); !errors.Is(err, columnar.ErrOrder) {
		t.Fatalf("batches again: %v, want ErrOrder", err)
	}
	bad := bytes.Clone(data)
	bad[len(bad)-1] ^= 1
	if err := columnar.NewWriter(0, columnar.Options{}).Add(bad); !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("bad CRC: %v, want ErrCorrupt", err)
	}
}

// The topic's compression.type at conversion (Options.Compression) is the codec batches are rebuilt
// in by default; "producer" keeps each batch's own.
func TestObjectCompression(t *testing.T) {
	data, _ := testBatches(t)
	_, origInfos := split(t, data)
	for _, c := range []struct {
		typ  string
		want int // -1: each batch's own
	}{{"producer", -1}, {"", -1}, {"uncompressed", 0}, {"gzip", 1}, {"snappy", 2}, {"lz4", 3}, {"zstd", 4}} {
		obj, _ := writeObject(t, data, columnar.Options{Compression: c.typ})
		got, err := open(t, obj).Batches(context.Background(), nil, origInfos[0].BaseOffset, 1<<30, columnar.CodecOfObject)
		if err != nil {
			t.Fatal(err)
		}
		bs, infos := split(t, got)
		for i, in := range infos {
			want := c.want
			if want < 0 {
				want = origInfos[i].Compression()
			}
			if in.NumRecords > 0 && in.Compression() != want {
				t.Fatalf("compression.type %q: batch %d has codec %d, want %d", c.typ, i, in.Compression(), want)
			}
			if err := checkStored(bs[i], in); err != nil {
				t.Fatal(err)
			}
		}
	}
	w := columnar.NewWriter(0, columnar.Options{Compression: "brotli"})
	if err := w.Add(data); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(io.Discard, origInfos[0].BaseOffset, w.End()); err == nil {
		t.Fatal("an unknown compression.type was written")
	}
}

// switchReader serves b until fail is set; it counts the reads it served.
type switchReader struct {
	b     []byte
	fail  atomic.Bool
	reads atomic.Int64
}

func (s *switchReader) ReadAt(p []byte, off int64) (int, error) {
	if s.fail.Load() {
		return 0, errors.New("this reader is switched off")
	}
	s.reads.Add(1)
	return bytes.NewReader(s.b).ReadAt(p, off)
}

// TestReadAhead: a sequential reader of an object that reads ahead finds each next row group
// rebuilt through the background reader — its own reader may fail meanwhile — with the same bytes
// as a plain read; a background reader that fails costs nothing but the rebuild now.
func TestReadAhead(t *testing.T) {
	data, _ := testBatches(t)
	obj, _ := writeObject(t, data, columnar.Options{RowGroupBytes: 300})
	plain := open(t, obj)
	groups := plain.RowGroups()
	if len(groups) < 3 {
		t.Fatalf("%d row groups, want several", len(groups))
	}
	ctx := context.Background()
	for _, aheadWorks := range []bool{true, false} {
		req, bg := &switchReader{b: obj}, &switchReader{b: obj}
		bg.fail.Store(!aheadWorks)
		o, err := plain.WithReader(req, int64(len(obj)))
		if err != nil {
			t.Fatal(err)
		}
		o = o.ReadAhead(func(context.Context) io.ReaderAt { return bg })
		for g := range groups {
			from := groups[g].FirstBase
			// From the second group on, the request's reader fails when the background one works:
			// the group must come from the rebuild ahead.
			req.fail.Store(aheadWorks && g > 0)
			got, err := o.Batches(ctx, nil, from, 1, columnar.CodecAsProduced)
			if err != nil {
				t.Fatalf("ahead works %v, group %d: %v", aheadWorks, g, err)
			}
			want, err := plain.Batches(ctx, nil, from, 1, columnar.CodecAsProduced)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("ahead works %v, group %d: read differs from a plain read (%v)", aheadWorks, g, err)
			}
		}
		if aheadWorks && bg.reads.Load() == 0 {
			t.Fatal("the background reader was never read")
		}
		if !aheadWorks && req.reads.Load() == 0 {
			t.Fatal("the request's reader was never read")
		}
	}
}
