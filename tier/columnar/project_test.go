package columnar_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/strata-log/strata/tier/columnar"
	"github.com/strata-log/strata/tier/segment"
)

// projRow is one row of a projected read, formatted for comparison.
type projRow struct {
	offset, ts int64
	key, value string
	headers    string
}

func fmtBytes(b []byte) string {
	if b == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", b)
}

// readAll reads every row group of o in [from, to) with p through r, as rows.
func readAll(t *testing.T, o *columnar.Object, r io.ReaderAt, size int64, p columnar.Projection, from, to int64) ([]projRow, error) {
	t.Helper()
	var out []projRow
	for g := range o.RowGroups() {
		var hs []columnar.Header
		err := o.ReadColumns(context.Background(), r, size, g, p, from, to, func(rs *columnar.Rows) bool {
			for _, i32 := range rs.Sel {
				i := int(i32)
				var row projRow
				if p.Offset {
					row.offset = rs.Offset[i]
				}
				if p.Timestamp {
					row.ts = int64(rs.Timestamp[i])
				}
				if p.Key {
					row.key = fmtBytes(rs.Key(i))
				}
				if p.Value {
					row.value = fmtBytes(rs.Value(i))
				}
				if p.Headers {
					hs = rs.Headers(hs[:0], i)
					for _, h := range hs {
						row.headers += h.Key + "=" + fmtBytes(h.Value) + ";"
					}
				}
				out = append(out, row)
			}
			return true
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// The rows of a projected read are the records of the batches, control records left out, with
// the timestamps consumers see; only the projected columns are set; only the range's are read.
func TestReadColumns(t *testing.T) {
	data, _ := testBatches(t)
	obj, _ := writeObject(t, data, columnar.Options{RowGroupBytes: 300})
	o := open(t, obj)
	var want []projRow
	bs, infos := split(t, data)
	for i, b := range bs {
		if infos[i].Control() {
			continue
		}
		for _, r := range records(t, b, infos[i]) {
			ts := infos[i].FirstTimestamp + r.TimestampDelta64
			if infos[i].LogAppendTime() {
				ts = infos[i].MaxTimestamp
			}
			row := projRow{offset: infos[i].BaseOffset + int64(r.OffsetDelta), ts: ts, key: fmtBytes(r.Key), value: fmtBytes(r.Value)}
			for _, h := range r.Headers {
				row.headers += h.Key + "=" + fmtBytes(h.Value) + ";"
			}
			want = append(want, row)
		}
	}
	base, next := o.Range()
	all := columnar.Projection{Offset: true, Timestamp: true, Key: true, Value: true, Headers: true}
	got, err := readAll(t, o, bytes.NewReader(obj), int64(len(obj)), all, base, next)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rows\n%v\nwant\n%v", got, want)
	}
	// A range inside: only its rows.
	from, to := want[5].offset, want[len(want)-5].offset
	got, err = readAll(t, o, bytes.NewReader(obj), int64(len(obj)), all, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want[5:len(want)-5]) {
		t.Fatalf("rows of [%d, %d)\n%v\nwant\n%v", from, to, got, want[5:len(want)-5])
	}
	// Timestamps only: the reads stay within ColumnRanges, which are a small part of each group.
	p := columnar.Projection{Timestamp: true}
	for g := range o.RowGroups() {
		ranges, err := o.ColumnRanges(g, p, base, next)
		if err != nil {
			t.Fatal(err)
		}
		whole, err := o.ColumnRanges(g, all, base, next)
		if err != nil || len(whole) != 1 {
			t.Fatalf("group %d read whole: %v, %v", g, whole, err)
		}
		var n int64
		for _, r := range ranges {
			n += r.Len()
		}
		if n == 0 || n*2 > whole[0].Len() {
			t.Errorf("group %d: timestamps take %d of the group's %d bytes", g, n, whole[0].Len())
		}
		only := &onlyRanges{b: obj, ranges: ranges}
		var rows int
		if err := o.ReadColumns(context.Background(), only, int64(len(obj)), g, p, base, next, func(rs *columnar.Rows) bool {
			if rs.Offset != nil || len(rs.Timestamp) == 0 {
				t.Errorf("group %d: offsets %v, %d timestamps", g, rs.Offset, len(rs.Timestamp))
			}
			rows += len(rs.Sel)
			return true
		}); err != nil {
			t.Fatalf("group %d: %v", g, err)
		}
		if only.outside > 0 || rows == 0 {
			t.Errorf("group %d: %d reads outside %v, %d rows", g, only.outside, ranges, rows)
		}
	}
}

// onlyRanges serves an object's bytes within ranges and counts the reads outside them.
type onlyRanges struct {
	b       []byte
	ranges  []columnar.ByteRange
	outside int
}

func (o *onlyRanges) ReadAt(p []byte, off int64) (int, error) {
	for _, r := range o.ranges {
		if off >= r.Start && off+int64(len(p)) <= r.End {
			return copy(p, o.b[off:]), nil
		}
	}
	o.outside++
	return 0, errors.New("read outside the ranges")
}

// A flipped byte in a column chunk read without the row group's CRC is caught by its zstd
// frame's checksum (or the decoder): an error wrapping segment.ErrCorrupt, never wrong rows.
func TestReadColumnsCorrupt(t *testing.T) {
	data, _ := testBatches(t)
	obj, _ := writeObject(t, data, columnar.Options{})
	o := open(t, obj)
	base, next := o.Range()
	p := columnar.Projection{Timestamp: true, Key: true, Value: true}
	ranges, err := o.ColumnRanges(0, p, base, next)
	if err != nil {
		t.Fatal(err)
	}
	var flips, caught int
	for _, r := range ranges {
		for at := r.Start; at < r.End; at += max(1, r.Len()/17) {
			flips++
			bad := bytes.Clone(obj)
			bad[at] ^= 0x5a
			rows := 0
			err := o.ReadColumns(context.Background(), bytes.NewReader(bad), int64(len(bad)), 0, p, base, next, func(rs *columnar.Rows) bool {
				rows += len(rs.Sel)
				return true
			})
			if err == nil {
				// Bytes no value depends on (padding in a header) may change unnoticed: the rows
				// must then be the right ones.
				got, _ := readAll(t, o, bytes.NewReader(bad), int64(len(bad)), p, base, next)
				want, _ := readAll(t, o, bytes.NewReader(obj), int64(len(obj)), p, base, next)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("byte %d flipped: wrong rows, no error", at)
				}
				continue
			}
			if !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("byte %d flipped: %v", at, err)
			}
			caught++
		}
	}
	if caught*2 < flips {
		t.Fatalf("%d of %d flipped bytes caught", caught, flips)
	}
	t.Logf("%d of %d flipped bytes caught", caught, flips)
}

// FuzzReadColumns reads arbitrary bytes as an object, then every row group with a few
// projections. Nothing may panic; every error wraps segment.ErrCorrupt; offsets handed over
// increase within the range asked for.
func FuzzReadColumns(f *testing.F) {
	data, _ := testBatches(f)
	obj, _ := writeObject(f, data, columnar.Options{RowGroupBytes: 300})
	f.Add(obj)
	small, _ := writeObject(f, data[:segment.WholeBatches(data[:400])], columnar.Options{})
	f.Add(small)
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := columnar.Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		base, next := o.Range()
		for _, p := range []columnar.Projection{{}, {Timestamp: true}, {Offset: true, Key: true, Value: true},
			{Offset: true, Headers: true}} {
			for g := range o.RowGroups() {
				if _, err := o.ColumnRanges(g, p, base, next); err != nil && !errors.Is(err, segment.ErrCorrupt) {
					t.Fatalf("ColumnRanges: %v", err)
				}
				prev := int64(-1)
				err := o.ReadColumns(context.Background(), bytes.NewReader(b), int64(len(b)), g, p, base+1, next, func(rs *columnar.Rows) bool {
					for _, i := range rs.Sel {
						if p.Offset && (rs.Offset[i] <= prev || rs.Offset[i] < base+1 || rs.Offset[i] >= next) {
							t.Fatalf("offset %d after %d, range [%d, %d)", rs.Offset[i], prev, base+1, next)
						}
						if p.Offset {
							prev = rs.Offset[i]
						}
						if p.Key {
							rs.Key(int(i))
						}
						if p.Headers {
							rs.Headers(nil, int(i))
						}
					}
					return true
				})
				if err != nil && !errors.Is(err, segment.ErrCorrupt) {
					t.Fatalf("ReadColumns: %v", err)
				}
			}
		}
	})
}
