package compaction

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/segment"
)

// DefaultSharedWindowBytes is Config.SharedWindowBytes' default.
const DefaultSharedWindowBytes = 128 << 20

// badSharedRetry is how long a shared object a merge could not read, or found corrupt, stays out
// of the windows before one tries it again.
const badSharedRetry = 10 * time.Minute

// sharedWindow is the part of the shared objects (tier.SharedObjectKey: one object-durability
// flush, a byte range per partition) that one merge pass rewrites. An object holds a range of
// every partition its node flushed, so merging partition by partition with one ranged GET per
// range read each object once per partition: 256 partitions' flushes of 20 MB/s for 10 s took
// about 39,000 GETs of 5 KB. Within a pass's window every object is read once (one ranged GET of
// the span its planned ranges cover, on first use) and every led partition's ranges are cut from
// that copy in memory; the window holds the oldest objects that planned merges read, up to
// Config.SharedWindowBytes of spans (at least one object), and a merge is cut where its inputs
// leave the window. Inputs beyond it wait for the next pass, which the loop runs at once.
//
// The window always starts at the oldest object any planned merge reads, and every planned input
// in it is merged (a cut run of fewer than Policy.MinInputs inputs too), so each pass moves it on.
type sharedWindow struct {
	ctx      context.Context // the pass's: a span is read for every merge, not for the first that asks
	spans    map[string]span // object key → the bytes the window's ranges of it cover
	outside  map[string]bool // the other shared objects the plans read: their ranges wait
	deferred int             // planned inputs outside the window (of the plans it was picked from)

	mu   sync.Mutex
	objs map[string]*spanRead
}

// span is a byte range [from, to) of a shared object written at written (Unix ns, from its key),
// and how many planned inputs are ranges of it.
type span struct {
	from, to, written int64
	uses              int
}

// spanRead is one object's span, read once for every range cut from it.
type spanRead struct {
	done chan struct{} // closed once data or err is set
	data []byte
	err  error
}

// planWindow picks the window from the merges planned for this pass (every led partition's), or
// returns nil when none reads a shared object. The objects in bad that a merge could not read, or
// found corrupt, within badSharedRetry before now are left out, so that the window moves on past
// them: their ranges stay where they are until a later window tries again. Keys in bad that no
// plan names any more are forgotten.
func planWindow(ctx context.Context, plans [][]Merge, limit int64, bad map[string]time.Time, now time.Time) *sharedWindow {
	spans := map[string]span{}
	skipped := map[string]bool{} // shared objects in bad, still left out
	seenBad := map[string]bool{}
	for _, merges := range plans {
		for _, m := range merges {
			for _, s := range m.Inputs {
				if _, ok := spans[s.Key]; !ok && !skipped[s.Key] {
					k, err := tier.ParseObjectKey(s.Key)
					if err != nil || !k.Shared {
						continue
					}
					if t, ok := bad[s.Key]; ok {
						seenBad[s.Key] = true
						if now.Sub(t) < badSharedRetry {
							skipped[s.Key] = true
							continue
						}
					}
					spans[s.Key] = span{from: s.Position, to: s.Position + s.Size, written: k.Written}
				}
				if skipped[s.Key] {
					continue
				}
				sp := spans[s.Key]
				sp.from, sp.to = min(sp.from, s.Position), max(sp.to, s.Position+s.Size)
				sp.uses++
				spans[s.Key] = sp
			}
		}
	}
	for k := range bad {
		if !seenBad[k] {
			delete(bad, k)
		}
	}
	if len(spans) == 0 {
		return nil
	}
	keys := make([]string, 0, len(spans))
	for k := range spans {
		keys = append(keys, k)
	}
	// Oldest flush first, whichever node wrote it.
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(spans[a].written, spans[b].written), strings.Compare(a, b))
	})
	win := &sharedWindow{ctx: ctx, spans: map[string]span{}, outside: skipped, objs: map[string]*spanRead{}}
	var bytes int64
	for i, k := range keys {
		sp := spans[k]
		if len(win.spans) > 0 && bytes+sp.to-sp.from > limit {
			for _, k := range keys[i:] {
				win.outside[k] = true
				win.deferred += spans[k].uses
			}
			break
		}
		win.spans[k] = sp
		bytes += sp.to - sp.from
	}
	return win
}

// cut returns merges with every run of inputs that leaves the window taken out: the inputs of a
// merge that are not ranges of shared objects outside the window stay, as consecutive runs, each
// its own merge. A nil window cuts nothing.
func (win *sharedWindow) cut(merges []Merge) []Merge {
	if win == nil {
		return merges
	}
	var out []Merge
	for _, m := range merges {
		var run []metadata.SegmentRef
		var bytes int64
		flush := func() {
			if len(run) > 0 {
				out = append(out, Merge{Inputs: run, BaseOffset: run[0].BaseOffset, NextOffset: run[len(run)-1].NextOffset, Bytes: bytes})
			}
			run, bytes = nil, 0
		}
		for _, s := range m.Inputs {
			if win.outside[s.Key] {
				flush()
				continue
			}
			run = append(run, s)
			bytes += s.Size
		}
		flush()
	}
	return out
}

// read returns s's bytes when s is a range of an object in the window (ok), reading the object's
// span on first use; ok is false for any other segment.
func (win *sharedWindow) read(ctx context.Context, b objstore.Bucket, s metadata.SegmentRef) (data []byte, ok bool, err error) {
	if win == nil {
		return nil, false, nil
	}
	sp, in := win.spans[s.Key]
	if !in {
		return nil, false, nil
	}
	if s.Position < sp.from || s.Position+s.Size > sp.to {
		return nil, false, nil // a range planned after the window was: read on its own
	}
	win.mu.Lock()
	r, started := win.objs[s.Key]
	if !started {
		r = &spanRead{done: make(chan struct{})}
		win.objs[s.Key] = r
	}
	win.mu.Unlock()
	if !started {
		r.data, r.err = readSpan(win.ctx, b, s.Key, sp)
		close(r.done)
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		return nil, true, ctx.Err()
	}
	if r.err != nil {
		return nil, true, r.err
	}
	off := s.Position - sp.from
	return r.data[off : off+s.Size : off+s.Size], true, nil
}

// readSpan reads sp of the object under key with one ranged GET.
func readSpan(ctx context.Context, b objstore.Bucket, key string, sp span) ([]byte, error) {
	rc, err := b.GetRange(ctx, key, sp.from, sp.to-sp.from)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	want := sp.to - sp.from
	buf := make([]byte, want+1)
	n, err := io.ReadFull(rc, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, err
	}
	if int64(n) != want {
		return nil, fmt.Errorf("%w: object holds %d bytes at %d or more, the catalog's ranges need %d", segment.ErrCorrupt, n, sp.from, want)
	}
	return buf[:want], nil
}
