package tier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/segment"
)

// Defaults for zero ReaderConfig fields.
const (
	DefaultCacheBytes        = 256 << 20
	DefaultBlockSize         = 1 << 20
	DefaultReadAheadBlocks   = 16
	DefaultReadAheadGetBytes = 8 << 20
	DefaultIndexCacheEntries = 4096
	DefaultReadAheadGets     = 12
)

// CatalogReader is what a Reader needs of the metadata service: catalogs, and a watch on their
// changes to keep its cached copies fresh.
type CatalogReader interface {
	GetCatalog(ctx context.Context, tp metadata.TopicPartition) (metadata.PartitionCatalog, error)
	metadata.CatalogWatcher
}

// ReaderConfig configures a Reader.
type ReaderConfig struct {
	// Bucket holds the segment objects. Required. Wrap it with objstore.WithRetry.
	Bucket objstore.Bucket
	// Store holds the catalog. Required.
	Store CatalogReader
	// CacheBytes bounds the block cache (default 256 MiB).
	CacheBytes int64
	// BlockSize is the unit of the cache and of the GETs a read waits for (default 1 MiB, at
	// least 4 KiB): small enough that the first answer of a replay does not wait for much more
	// than it returns.
	BlockSize int64
	// ReadAheadBlocks is how many blocks past a sequential reader's position are fetched in
	// parallel before they are asked for (default 16, 16 MiB at the default block size: a dozen
	// partitions replayed at once stay within the default cache; negative: no read-ahead). The
	// fetches belong to the Reader, not to the request that started them, so they go on
	// between a consumer's Fetch requests.
	ReadAheadBlocks int
	// ReadAheadGetBytes is the most one read-ahead GET asks for: consecutive blocks go out as one
	// ranged GET of up to this size (default 8 MiB), and a next object of up to this size plus
	// one block is fetched whole. Object stores answer large ranges at close to their full
	// bandwidth; small ones pay the per-request cost again and again (MinIO on loopback spends
	// about 2.5× the CPU per byte on 1 MiB ranges as on 8 MiB ones). Keep it at most half of the
	// read-ahead window, so that a run can go out while the reader still has half a window to read.
	ReadAheadGetBytes int64
	// ReadAheadGets bounds the read-ahead GETs under way at once, across partitions (default 12;
	// negative: no bound). Runs beyond it wait, in the order they were started, so that when a
	// replay of many partitions begins the blocks each partition needs next are not slowed by
	// the many fetched further ahead (a 12-partition replay of 256 MiB from a loopback MinIO:
	// median 590 MB/s against 380 unbounded, over six runs on a busy 2-core machine). GETs a
	// reader waits for are not bounded.
	ReadAheadGets int
	// IndexCacheEntries bounds the decoded segment indexes kept (default 4096).
	IndexCacheEntries int
	Logger            *slog.Logger
	Registerer        prometheus.Registerer
}

// Validate reports missing dependencies and unusable values.
func (c ReaderConfig) Validate() error {
	switch {
	case c.Bucket == nil:
		return fmt.Errorf("%w: Bucket is required", ErrConfig)
	case c.Store == nil:
		return fmt.Errorf("%w: Store is required", ErrConfig)
	case c.CacheBytes < 0 || c.IndexCacheEntries < 0 || c.ReadAheadGetBytes < 0:
		return fmt.Errorf("%w: negative cache size", ErrConfig)
	case c.BlockSize != 0 && c.BlockSize < 4<<10:
		return fmt.Errorf("%w: BlockSize %d below 4 KiB", ErrConfig, c.BlockSize)
	}
	return nil
}

func (c *ReaderConfig) applyDefaults() {
	if c.CacheBytes == 0 {
		c.CacheBytes = DefaultCacheBytes
	}
	if c.BlockSize == 0 {
		c.BlockSize = DefaultBlockSize
	}
	if c.ReadAheadBlocks == 0 {
		c.ReadAheadBlocks = DefaultReadAheadBlocks
	}
	if c.ReadAheadGetBytes == 0 {
		c.ReadAheadGetBytes = DefaultReadAheadGetBytes
	}
	if c.IndexCacheEntries == 0 {
		c.IndexCacheEntries = DefaultIndexCacheEntries
	}
	if c.ReadAheadGets == 0 {
		c.ReadAheadGets = DefaultReadAheadGets
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Reader serves reads of tiered offsets: catalog (cached, invalidated by a watch) → segment index
// (fetched once per object, cached) → blocks (ranged GETs through an LRU cache, read ahead for
// sequential readers). Safe for concurrent use. It owns two kinds of goroutines, both stopped by
// Close: the catalog watch, and the block fetches (foreground and read-ahead).
type Reader struct {
	cfg     ReaderConfig
	m       *readMetrics
	log     *slog.Logger
	blocks  *blockCache
	indexes *lru[objRange, *objectIndex]

	aheadSlots chan struct{} // one per read-ahead GET under way; nil: no bound

	ctx    context.Context // cancelled by Close; fetches run under it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	watching bool // catalogs are cached only while the watch runs
	cats     map[metadata.TopicPartition]metadata.PartitionCatalog
	gens     map[metadata.TopicPartition]uint64
	streams  map[metadata.TopicPartition]streamPos

	parquet parquetFooters         // opened Parquet objects (parquet.go)
	chunks  *lru[chunkKey, []byte] // column chunks of projected reads (parquet_columns.go)
}

// streamPos is where a partition's last read ended, to recognise sequential readers.
type streamPos struct {
	obj objRange
	pos int64
}

// objRange names the bytes of one segment: the object under key from byte pos on (pos 0 for a
// segment that is a whole object). The block cache, the index cache and the read positions are
// keyed by it, so the ranges of one shared object are cached apart, each in blocks aligned to its
// own start, and a range never serves another's bytes.
type objRange struct {
	key string
	pos int64
}

func rangeOf(seg metadata.SegmentRef) objRange { return objRange{key: seg.Key, pos: seg.Position} }

// String names the range in errors: the key, and the position when it is not 0.
func (o objRange) String() string {
	if o.pos == 0 {
		return o.key
	}
	return fmt.Sprintf("%s@%d", o.key, o.pos)
}

// objectIndex is a cached, decoded segment index.
type objectIndex struct {
	ix   segment.Index
	size int64
}

// NewReader validates cfg and starts the catalog watch.
func NewReader(cfg ReaderConfig) (*Reader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.applyDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	m := newReadMetrics(cfg.Registerer)
	var slots chan struct{}
	if cfg.ReadAheadGets > 0 {
		slots = make(chan struct{}, cfg.ReadAheadGets)
	}
	r := &Reader{
		cfg: cfg, m: m, log: cfg.Logger, aheadSlots: slots,
		blocks:  newBlockCache(cfg.CacheBytes, m),
		indexes: newIndexCache(cfg.IndexCacheEntries),
		chunks:  newChunkCache(),
		ctx:     ctx, cancel: cancel,
		cats:    make(map[metadata.TopicPartition]metadata.PartitionCatalog),
		gens:    make(map[metadata.TopicPartition]uint64),
		streams: make(map[metadata.TopicPartition]streamPos),
	}
	// Subscribe before the first read so that no change can slip between a read and the watch.
	ch, err := cfg.Store.WatchCatalogs(ctx)
	r.wg.Add(1)
	go r.watch(ch, err)
	return r, nil
}

// Close stops the watch and every fetch and waits for them. Idempotent.
func (r *Reader) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	return nil
}

// watch owns the catalog subscription: every reported partition's cached catalog is dropped. When
// the subscription breaks, caching stops until a new one is in place.
func (r *Reader) watch(ch <-chan metadata.TopicPartition, err error) {
	defer r.wg.Done()
	bo := backoff{base: 100 * time.Millisecond, max: 5 * time.Second}
	for {
		if err == nil {
			r.setWatching(true)
			for tp := range ch {
				r.invalidate(tp)
			}
			r.setWatching(false)
		}
		if r.ctx.Err() != nil {
			return
		}
		r.log.Warn("tier: catalog watch ended; catalogs are read uncached until it is back", "err", err)
		if !bo.wait(r.ctx) {
			return
		}
		ch, err = r.cfg.Store.WatchCatalogs(r.ctx)
		if err == nil {
			bo.reset()
		}
	}
}

func (r *Reader) setWatching(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.watching = on
	clear(r.cats)
	for tp := range r.gens {
		r.gens[tp]++
	}
}

func (r *Reader) invalidate(tp metadata.TopicPartition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.cats, tp)
	r.gens[tp]++
}

// catalog returns tp's catalog, from the cache when it can answer for offset.
func (r *Reader) catalog(ctx context.Context, tp metadata.TopicPartition, topicID metadata.TopicID, offset int64) (metadata.PartitionCatalog, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return metadata.PartitionCatalog{}, ErrClosed
	}
	c, ok := r.cats[tp]
	r.mu.Unlock()
	if ok && c.TopicID == topicID && offset < c.TieredEnd() {
		return c, nil
	}
	return r.loadCatalog(ctx, tp)
}

// loadCatalog reads tp's catalog from the store and caches it, unless the watch reported a change
// of it while the read was under way (or is not running). PartitionLog.Earliest reads through it,
// so that the first Fetch after a consumer's ListOffsets finds the catalog cached.
func (r *Reader) loadCatalog(ctx context.Context, tp metadata.TopicPartition) (metadata.PartitionCatalog, error) {
	r.mu.Lock()
	gen, watching := r.gens[tp], r.watching
	r.mu.Unlock()
	c, err := r.cfg.Store.GetCatalog(ctx, tp)
	if err != nil {
		return c, fmt.Errorf("tier: catalog of %s: %w", tp, err)
	}
	if watching {
		r.mu.Lock()
		if r.gens[tp] == gen && r.watching {
			r.cats[tp] = c
		}
		r.mu.Unlock()
	}
	return c, nil
}

// OffsetForTimestamp answers a ListOffsets by timestamp from object storage: the offset and
// timestamp of the first tiered record in [from, before) whose timestamp is ≥ ts (see
// segment.RecordForTimestamp), never below the catalog's log start either (from lets a caller that
// has just read a newer log start than the cached catalog's impose it); found is false when no such
// record exists (the hot log may have one). It reads the catalog, then the index and the candidate
// batches of each object that may hold the answer (whose catalog max timestamp reaches ts; a segment
// with an unknown max timestamp is looked into). A corrupt object gives an error wrapping
// segment.ErrCorrupt that names it. An object that left the bucket after the catalog was cached
// (compaction, retention) makes it look again, as Read does.
func (r *Reader) OffsetForTimestamp(ctx context.Context, tp metadata.TopicPartition, topicID metadata.TopicID, ts, from, before int64) (offset, timestamp int64, found bool, err error) {
	err = r.againIfGone(ctx, tp, func() (err error) {
		offset, timestamp, found, err = r.offsetForTimestamp(ctx, tp, topicID, ts, from, before)
		return err
	})
	return offset, timestamp, found, err
}

// againIfGone runs f, and once more after dropping tp's cached catalog when f met an object that
// left the bucket after the catalog was cached (retention, compaction): the fresh catalog names
// what replaced it.
func (r *Reader) againIfGone(ctx context.Context, tp metadata.TopicPartition, f func() error) error {
	err := f()
	if errors.Is(err, objstore.ErrNotFound) && ctx.Err() == nil {
		r.invalidate(tp)
		err = f()
	}
	return err
}

func (r *Reader) offsetForTimestamp(ctx context.Context, tp metadata.TopicPartition, topicID metadata.TopicID, ts, from, before int64) (offset, timestamp int64, found bool, err error) {
	c, err := r.catalog(ctx, tp, topicID, -1)
	if err != nil {
		return -1, -1, false, err
	}
	if c.TopicID != topicID {
		return -1, -1, false, nil
	}
	from = max(from, c.LogStartOffset)
	for _, seg := range c.Segments {
		if seg.BaseOffset >= before {
			break
		}
		if seg.NextOffset <= from || (seg.MaxTimestamp >= 0 && seg.MaxTimestamp < ts) {
			continue
		}
		var off, at int64
		var ok bool
		if seg.Format == metadata.FormatParquet {
			if off, at, ok, err = r.parquetTimestamp(ctx, seg, ts, from); err != nil {
				return -1, -1, false, err
			}
		} else {
			oi, err := r.index(ctx, seg, false)
			if err != nil {
				return -1, -1, false, err
			}
			sr := segment.NewIndexedReader(&objectFile{r: r, ctx: ctx, obj: rangeOf(seg), size: oi.size}, oi.ix)
			if off, at, ok, err = sr.FindRecord(ts, from); err != nil {
				return -1, -1, false, r.corrupt(seg.Key, err)
			}
		}
		if ok {
			if off >= before {
				break // the hot log holds it too, and anything between
			}
			return off, at, true, nil
		}
	}
	return -1, -1, false, nil
}

// Read returns whole record batches from object storage, starting with the batch that holds offset,
// byte-identical to what was produced (compression intact). It returns at least one batch when
// offset is tiered, and adds more (crossing into later segments) while they fit in maxBytes.
// ErrOffsetOutOfRange when offset is below the catalog's log start or at or above the tiered end
// (then the hot log has it). A corrupt object gives an error wrapping segment.ErrCorrupt that names
// its key. The returned slice may share memory with the block cache: the caller may keep it but
// must not modify it.
func (r *Reader) Read(ctx context.Context, tp metadata.TopicPartition, topicID metadata.TopicID, offset int64, maxBytes int) ([]byte, error) {
	out, _, err := r.ReadAppend(ctx, nil, tp, topicID, offset, maxBytes)
	return out, err
}

// ReadAppend is Read into a buffer of the caller's: batches are appended to dst[:0] (grown when
// needed), so a caller recycling its buffers spares each read a fresh allocation, which costs
// zeroing and page faults per megabyte. When the batches lie within one cached block, or within
// blocks one GET loaded (read-ahead fetches several at a time), they are returned uncopied instead
// and shared is true: dst was not used, and the bytes belong to the cache (read-only).
func (r *Reader) ReadAppend(ctx context.Context, dst []byte, tp metadata.TopicPartition, topicID metadata.TopicID, offset int64, maxBytes int) (out []byte, shared bool, err error) {
	err = r.againIfGone(ctx, tp, func() (err error) {
		out, shared, err = r.read(ctx, dst[:0], tp, topicID, offset, maxBytes)
		return err
	})
	if err == nil {
		r.m.readBytes.Add(float64(len(out)))
	}
	return out, shared, err
}

func (r *Reader) read(ctx context.Context, dst []byte, tp metadata.TopicPartition, topicID metadata.TopicID, offset int64, maxBytes int) (_ []byte, shared bool, _ error) {
	c, err := r.catalog(ctx, tp, topicID, offset)
	if err != nil {
		return nil, false, err
	}
	if c.TopicID != topicID || offset < c.LogStartOffset || offset >= c.TieredEnd() {
		return nil, false, fmt.Errorf("%w: %s offset %d not in tiered range [%d, %d)", ErrOffsetOutOfRange, tp, offset,
			c.LogStartOffset, c.TieredEnd())
	}
	segs := c.Segments
	i := sort.Search(len(segs), func(i int) bool { return segs[i].NextOffset > offset })
	var last streamPos
	lastIdx := -1
	sequential := false
	for ; i < len(segs); i++ {
		seg := segs[i]
		if seg.Format == metadata.FormatParquet {
			// A Parquet entry is read alone: batches before it go out first, then it on its own.
			if len(dst) > 0 {
				break
			}
			return r.readParquet(ctx, dst, segs[i:], offset, maxBytes)
		}
		oi, err := r.index(ctx, seg, offset <= seg.BaseOffset && r.cfg.ReadAheadBlocks > 0)
		if err != nil {
			return nil, false, err
		}
		of := &objectFile{r: r, ctx: ctx, obj: rangeOf(seg), size: oi.size}
		sr := segment.NewIndexedReader(of, oi.ix)
		from := max(offset, oi.ix.BaseOffset)
		if from >= oi.ix.NextOffset {
			continue
		}
		pos, _, err := sr.FindOffset(from)
		if err != nil {
			return nil, false, r.corrupt(seg.Key, err)
		}
		if len(dst) == 0 {
			sequential = r.isSequential(tp, rangeOf(seg), pos)
		}
		before := len(dst)
		var end int64
		viewed, verified := false, false
		if before == 0 {
			// Within one cached block, or one GET's blocks, the batches go out as they are in
			// the cache, uncopied.
			var v []byte
			if v, viewed, verified, err = of.view(pos, min(int64(maxBytes), oi.ix.DataSize-pos)); err != nil {
				return nil, false, r.corrupt(seg.Key, err)
			}
			if n := segment.WholeBatches(v); viewed && n > 0 {
				dst, end, shared = v[:n:n], pos+int64(n), true // capacity capped: appending copies
			} else {
				viewed = false
			}
		}
		if !viewed {
			// Appending to a cache view copies it (its capacity is capped): the result is ours.
			if dst, end, err = sr.ReadBatches(dst, pos, maxBytes, -1); err != nil {
				return nil, false, r.corrupt(seg.Key, err)
			}
			shared = false
		}
		// Batches of a GET that was checked whole on arrival are not checked again.
		if !viewed || !verified {
			if err := checkBatches(dst[before:], from, oi.ix.NextOffset); err != nil {
				return nil, false, r.corrupt(seg.Key, err)
			}
		}
		last, lastIdx = streamPos{obj: rangeOf(seg), pos: end}, i
		if sequential {
			r.dropBehind(rangeOf(seg), pos, end, end >= oi.ix.DataSize)
		}
		if end < oi.ix.DataSize || len(dst) >= maxBytes {
			break
		}
	}
	if lastIdx < 0 {
		return dst, shared, nil
	}
	// Where a sequential reader reads next: here, or the next object's start when this one is done.
	next := last
	if oi := r.indexes.get(last.obj); oi != nil && last.pos >= oi.ix.DataSize && lastIdx+1 < len(segs) {
		next = streamPos{obj: rangeOf(segs[lastIdx+1])}
	}
	r.mu.Lock()
	r.streams[tp] = next
	r.mu.Unlock()
	if sequential && r.cfg.ReadAheadBlocks > 0 {
		r.readAhead(segs[lastIdx:], last.pos)
	}
	return dst, shared, nil
}

// dropBehind demotes the blocks of key that a sequential read of [pos, end) has passed (and the
// last one too when the object's data is done), so that the cache evicts what was read before
// what read-ahead fetched for later. Without it, many partitions replaying at once evict each
// other's read-ahead before it is used and fetch it again.
func (r *Reader) dropBehind(obj objRange, pos, end int64, finished bool) {
	bs := r.cfg.BlockSize
	last := end / bs // first block not wholly behind end
	if finished {
		last++
	}
	for idx := pos / bs; idx < last; idx++ {
		r.blocks.demote(blockKey{obj, idx})
	}
}

// checkBatches validates the batches read from an object (CRC included) and their offsets.
func checkBatches(b []byte, from, next int64) error {
	s := segment.NewSplitter(b)
	first := true
	for s.Next() {
		info := s.Info()
		if (first && info.LastOffset() < from) || info.NextOffset() > next {
			return fmt.Errorf("%w: batch [%d, %d) at byte %d outside the segment's range", segment.ErrCorrupt,
				info.BaseOffset, info.NextOffset(), s.Pos())
		}
		first = false
	}
	return s.Err()
}

// corrupt names the object in an error; corruption is also logged and counted.
func (r *Reader) corrupt(key string, err error) error {
	if errors.Is(err, segment.ErrCorrupt) {
		r.m.corrupt.Inc()
		r.log.Error("tier: corrupt segment object", "key", key, "err", err)
	}
	return fmt.Errorf("tier: object %s: %w", key, err)
}

// isSequential reports whether a read at (obj, pos) continues the partition's last read. The first
// read of a partition counts too: Kafka consumers read on from where they start.
func (r *Reader) isSequential(tp metadata.TopicPartition, obj objRange, pos int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	last, ok := r.streams[tp]
	return !ok || last == streamPos{obj: obj, pos: pos}
}

// index returns the decoded index of seg's object, fetching its footer and index once. While the
// footer is on its way, the object's first block is fetched too: most first reads of an object
// start at its beginning (a consumer reading on, a replay from the start). When the caller reads
// from the object's start (fromStart), the blocks before the footer's go out with it, up to one
// read-ahead GET: one GET instead of two for the rest of the object, checked on arrival whole
// (the index is in by then), and its first block published as soon as it has arrived.
func (r *Reader) index(ctx context.Context, seg metadata.SegmentRef, fromStart bool) (*objectIndex, error) {
	if oi := r.indexes.get(rangeOf(seg)); oi != nil {
		return oi, nil
	}
	if bs := r.cfg.BlockSize; r.cfg.ReadAheadBlocks > 0 && seg.Size > bs {
		n := int64(1)
		if fromStart {
			n = min(max(r.cfg.ReadAheadGetBytes/bs, 1), (seg.Size-1)/bs)
		}
		r.fetchRun(seg, firstBlocks(n), false)
	}
	sr, err := segment.OpenReader(&objectFile{r: r, ctx: ctx, obj: rangeOf(seg), size: seg.Size}, seg.Size)
	if err != nil {
		return nil, r.corrupt(seg.Key, err)
	}
	oi := &objectIndex{ix: sr.Index(), size: seg.Size}
	if oi.ix.BaseOffset > seg.BaseOffset || oi.ix.NextOffset != seg.NextOffset {
		return nil, r.corrupt(seg.Key, fmt.Errorf("%w: index covers [%d, %d), catalog says [%d, %d)", segment.ErrCorrupt,
			oi.ix.BaseOffset, oi.ix.NextOffset, seg.BaseOffset, seg.NextOffset))
	}
	r.indexes.put(rangeOf(seg), oi)
	return oi, nil
}

// firstBlocks is the indexes of an object's first n blocks.
func firstBlocks(n int64) []int64 {
	idxs := make([]int64, n)
	for i := range idxs {
		idxs[i] = int64(i)
	}
	return idxs
}

// fetchRun starts one GET for the consecutive blocks idxs of seg's object (those another reader
// has not started meanwhile). A GET of the whole object checks it on arrival (see verifyWhole).
func (r *Reader) fetchRun(seg metadata.SegmentRef, idxs []int64, ahead bool) {
	var run []*block
	for _, idx := range idxs {
		b, fetch := r.blocks.lookup(blockKey{rangeOf(seg), idx}, false)
		if !fetch {
			if len(run) > 0 {
				r.startFetchRun(run, seg.Size, nil, ahead)
				run = nil
			}
			continue
		}
		r.m.readAhead.Inc()
		run = append(run, b)
	}
	if len(run) > 0 {
		var whole *metadata.SegmentRef
		if run[0].key.idx == 0 && (run[len(run)-1].key.idx+1)*r.cfg.BlockSize >= seg.Size {
			whole = &seg
		}
		r.startFetchRun(run, seg.Size, whole, ahead)
	}
}

// readAhead starts fetches of the blocks after position pos of segs[0]: the rest of that object,
// then the next segments', up to ReadAheadBlocks blocks. It does not wait for them.
func (r *Reader) readAhead(segs []metadata.SegmentRef, pos int64) {
	budget := r.cfg.ReadAheadBlocks
	bs := r.cfg.BlockSize
	perGet := max(int(r.cfg.ReadAheadGetBytes/bs), 1)
	for i, seg := range segs {
		first := int64(0)
		blocks := int((seg.Size + bs - 1) / bs)
		if i > 0 && r.indexes.get(rangeOf(seg)) == nil && blocks <= perGet+1 && blocks <= r.cfg.ReadAheadBlocks {
			// A next object no bigger than one GET and its footer's block (segment objects are
			// segment.bytes of batches, then the index and footer) is fetched whole with one
			// GET, once the window holds all of it. Its first read waits for the footer, which
			// comes last, but read-ahead starts it long before then; object stores serve one
			// large GET for much less CPU and time than three small ones.
			if blocks > budget {
				return
			}
			budget -= blocks
			r.fetchRun(seg, firstBlocks(int64(blocks)), true)
			if budget <= 0 {
				return
			}
			continue
		}
		if i == 0 {
			first = pos / bs
		} else if r.indexes.get(rangeOf(seg)) == nil {
			// The next object's footer and index come first: its first read needs them.
			budget--
			if b, fetch := r.blocks.lookup(blockKey{rangeOf(seg), (seg.Size - 1) / bs}, false); fetch {
				r.m.readAhead.Inc()
				r.startFetch(b, seg.Size)
			}
		}
		// Blocks neither cached nor in flight go out in runs of consecutive blocks, one GET each.
		// A run the window cuts short waits until the window has moved on far enough to fill it
		// (the object's last run goes out as it is).
		var missing []int64
		for idx := first; idx*bs < seg.Size && budget > 0; idx++ {
			budget--
			if r.blocks.has(blockKey{rangeOf(seg), idx}) {
				r.fetchRun(seg, missing, true)
				missing = missing[:0]
				continue
			}
			if missing = append(missing, idx); len(missing) == perGet {
				r.fetchRun(seg, missing, true)
				missing = missing[:0]
			}
		}
		if len(missing) > 0 && (missing[len(missing)-1]+1)*bs >= seg.Size {
			r.fetchRun(seg, missing, true)
		}
		if budget <= 0 {
			return
		}
	}
}
