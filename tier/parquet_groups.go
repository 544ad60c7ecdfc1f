package tier

import (
	"context"
	"fmt"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/columnar"
)

// ParquetRowGroups returns the row groups of seg, a catalog entry in the Parquet format, from its
// footer (read once and kept, as reads of it keep it), for readers that skip row groups by their
// statistics. Errors are as Read's for the entry (corrupt objects wrap segment.ErrCorrupt).
func (r *Reader) ParquetRowGroups(ctx context.Context, seg metadata.SegmentRef) ([]columnar.RowGroup, error) {
	if seg.Format != metadata.FormatParquet {
		return nil, fmt.Errorf("tier: %s is not a Parquet object", seg.Key)
	}
	o, _, err := r.openParquet(ctx, seg)
	if err != nil {
		return nil, err
	}
	return o.RowGroups(), nil
}

// ParquetKeyGroups reports, per row group of seg (a Parquet entry, groups as ParquetRowGroups
// lists them), whether it may hold a record whose key is one of keys: false only when its key
// bloom filter rules every one out.
func (r *Reader) ParquetKeyGroups(ctx context.Context, seg metadata.SegmentRef, keys [][]byte) ([]bool, error) {
	if seg.Format != metadata.FormatParquet {
		return nil, fmt.Errorf("tier: %s is not a Parquet object", seg.Key)
	}
	o, rec, err := r.openParquet(ctx, seg)
	if err != nil {
		return nil, err
	}
	may, err := o.MayHoldKeys(keys)
	if err != nil {
		return nil, r.parquetErr(seg, rec, err)
	}
	return may, nil
}
