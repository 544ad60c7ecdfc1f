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
