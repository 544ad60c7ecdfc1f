package segment

import "fmt"

// Record timestamps, as ListOffsets by time answers them.
//
// A record's timestamp is the batch's FirstTimestamp plus the record's timestampDelta, unless the
// batch carries LogAppendTime (attribute bit 3): then every record's timestamp is the batch's
// MaxTimestamp, the time the broker appended it, whatever the deltas say — as in Kafka. ListOffsets
// for a time t answers the earliest offset whose record timestamp is ≥ t, and that timestamp;
// the batch's MaxTimestamp only tells which batches may hold it.

// RecordForTimestamp returns the offset and timestamp of the first record, in offset order, of the
// batch at the start of b (header info, as for CheckRecords) whose timestamp is ≥ ts, and false when
// no record of the batch has one. It decompresses and walks the records with CheckRecords' walker
// and stops at the answer: records after it are not checked. Errors wrap ErrCorrupt (and, as with
// CheckRecords, ErrInvalidRecord or ErrInflateLimit when they apply). It never panics on bad bytes
// and is safe for concurrent use.
func RecordForTimestamp(b []byte, info BatchInfo, ts int64) (offset, timestamp int64, found bool, err error) {
	return recordForTimestamp(b, info, ts, info.BaseOffset)
}

// recordForTimestamp is RecordForTimestamp over the records at or above offset from.
func recordForTimestamp(b []byte, info BatchInfo, ts, from int64) (offset, timestamp int64, found bool, err error) {
	offset, timestamp = -1, -1
	// The walk may stop before the end, where CheckRecords compares the count with the last offset
	// delta: compare them first, so that an answer never lies past the batch's last offset.
	d := newDeltaCheck(true, info)
	if err := d.lastDelta(info.NumRecords); err != nil {
		return -1, -1, false, fmt.Errorf("segment: timestamp lookup in the batch at offset %d: %w", info.BaseOffset, err)
	}
	logAppend := info.LogAppendTime()
	err = walkBatch(b, info, true, func(r walkedRecord) bool {
		t := info.MaxTimestamp
		if !logAppend {
			t = info.FirstTimestamp + r.TimestampDelta
		}
		if o := info.BaseOffset + int64(r.OffsetDelta); o >= from && t >= ts {
			offset, timestamp, found = o, t, true
			return true
		}
		return false
	})
	if err != nil {
		return -1, -1, false, fmt.Errorf("segment: timestamp lookup in the batch at offset %d: %w", info.BaseOffset, err)
	}
	return offset, timestamp, found, nil
}

// FindRecord returns the offset and timestamp of the first record at or above offset from whose
// timestamp is ≥ ts, and false when the segment holds none. It skips what the index rules out
// (batches wholly below from, or whose max timestamp is below ts, up to the last index entry that
// says so), reads the header of each batch after that, and reads, CRC-checks and walks (see
// RecordForTimestamp) each batch whose max timestamp reaches ts until one holds the answer. Errors
// about the bytes wrap ErrCorrupt; I/O errors from the io.ReaderAt are returned as they are.
func (r *Reader) FindRecord(ts, from int64) (offset, timestamp int64, found bool, err error) {
	if r.ix.Batches == 0 || r.ix.MaxTimestamp < ts || from >= r.ix.NextOffset {
		return -1, -1, false, nil
	}
	// Batches before Lookup(from) end below the entry's offset ≤ from; batches before
	// lookupTime(ts) all have max timestamps < ts. Both are batch boundaries.
	pos := max(r.ix.lookupTime(ts), r.ix.Lookup(from))
	w := r.window(scanChunk)
	for pos < r.ix.DataSize {
		info, err := w.header(pos)
		if err != nil {
			return -1, -1, false, err
		}
		if info.BaseOffset < r.ix.BaseOffset || info.LastOffset() < info.BaseOffset || info.NextOffset() > r.ix.NextOffset {
			return -1, -1, false, fmt.Errorf("%w: batch at %d holds offsets [%d, %d), outside the index's [%d, %d)",
				ErrCorrupt, pos, info.BaseOffset, info.NextOffset(), r.ix.BaseOffset, r.ix.NextOffset)
		}
		if info.MaxTimestamp >= ts && info.LastOffset() >= from {
			b, err := w.get(pos, info.Size())
			if err != nil {
				return -1, -1, false, err
			}
			if info, err = ValidateBatch(b); err != nil {
				return -1, -1, false, fmt.Errorf("at byte %d: %w", pos, err)
			}
			off, t, ok, err := recordForTimestamp(b, info, ts, from)
			if err != nil {
				return -1, -1, false, fmt.Errorf("at byte %d: %w", pos, err)
			}
			if ok {
				return off, t, true, nil
			}
		}
		pos += int64(info.Size())
	}
	return -1, -1, false, nil
}
