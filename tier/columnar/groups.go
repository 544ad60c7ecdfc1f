package columnar

// RowGroup is what an object's footer says of one of its row groups: the offsets and timestamps of
// its rows (column statistics; timestamps as the timestamp column holds them, so a log-append-time
// batch's records have its max timestamp), and the base offset of its first batch. A read from
// FirstBase starts with the group's first batch; the group's batches end where the next group's
// FirstBase (or the object's range) begins.
type RowGroup struct {
	FirstBase                  int64
	MinOffset, MaxOffset       int64
	MinTimestamp, MaxTimestamp int64 // Unix milliseconds
	Rows                       int64
}

// RowGroups returns the object's row groups in offset order. The slice is the caller's.
func (o *Object) RowGroups() []RowGroup {
	out := make([]RowGroup, len(o.groups))
	for i, g := range o.groups {
		out[i] = RowGroup{FirstBase: g.firstBase, MinOffset: g.minOff, MaxOffset: g.maxOff,
			MinTimestamp: g.minTS, MaxTimestamp: g.maxTS, Rows: g.rows}
	}
	return out
}

// MayHoldKeys reports, per row group, whether it may hold a record whose key is one of keys, by
// the key column's bloom filter: false only when none of its records has any of them; true when
// one may (or the group has no filter). A null key is in no filter and matches no key. The
// filters are read through the object's io.ReaderAt; bad bytes give an error wrapping
// segment.ErrCorrupt.
func (o *Object) MayHoldKeys(keys [][]byte) (may []bool, err error) {
	defer recoverCorrupt(&err)
	bfr := o.fr.ParquetReader().GetBloomFilterReader()
	may = make([]bool, len(o.groups))
	for g := range o.groups {
		rg, err := bfr.RowGroup(g)
		if err != nil {
			return nil, corruptf("row group %d: bloom filter: %v", g, err)
		}
		bf, err := rg.GetColumnBloomFilter(fKey)
		if err != nil {
			return nil, corruptf("row group %d: key bloom filter: %v", g, err)
		}
		if bf == nil {
			may[g] = true
			continue
		}
		for _, k := range keys {
			if bf.CheckHash(bf.Hasher().Sum64(k)) {
				may[g] = true
				break
			}
		}
	}
	return may, nil
}
