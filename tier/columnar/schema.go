package columnar

import (
	"hash/crc32"

	"github.com/apache/arrow-go/v18/arrow"
)

// Version is the layout version this package writes (strata.columnar.version); it reads 1 too.
const Version = 2

// Key-value metadata keys.
const (
	metaVersion      = "strata.columnar.version"
	metaPartition    = "strata.partition"
	metaBaseOffset   = "strata.base_offset"
	metaNextOffset   = "strata.next_offset"
	metaEmptyBatches = "strata.empty_batches"
	metaCompression  = "strata.compression"
	metaRowGroups    = "strata.row_groups"
	metaJSONValues   = "strata.json_values"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Column names of the fixed columns, in schema order.
const (
	ColPartition           = "partition"
	ColOffset              = "offset"
	ColTimestamp           = "timestamp"
	ColKey                 = "key"
	ColValue               = "value"
	ColHeaders             = "headers"
	colBatchBaseOffset     = "batch_base_offset"
	colBatchLastDelta      = "batch_last_offset_delta"
	colBatchAttributes     = "batch_attributes"
	colBatchLeaderEpoch    = "batch_leader_epoch"
	colBatchFirstTimestamp = "batch_first_timestamp"
	colBatchMaxTimestamp   = "batch_max_timestamp"
	colProducerID          = "producer_id"
	colProducerEpoch       = "producer_epoch"
	colBaseSequence        = "base_sequence"
	colRecordAttributes    = "record_attributes"
	colTimestampDelta      = "timestamp_delta"
	colJSONValue           = "json_value"
	// JSONPrefix starts the name of each column made of a top-level JSON field.
	JSONPrefix = "value_"
)

// Field indexes of the fixed columns.
const (
	fPartition = iota
	fOffset
	fTimestamp
	fKey
	fValue
	fHeaders
	fBatchBaseOffset
	fBatchLastDelta
	fBatchAttributes
	fBatchLeaderEpoch
	fBatchFirstTimestamp
	fBatchMaxTimestamp
	fProducerID
	fProducerEpoch
	fBaseSequence
	fRecordAttributes
	fTimestampDelta
	fJSONValue // from layout version 2 on
	numFixedFields
)

// numFixedFieldsV1 is the fixed columns of layout version 1 (no json_value). The fixed columns
// have one Parquet leaf more than fields: headers has two.
const numFixedFieldsV1 = fJSONValue

var headerType = arrow.StructOf(
	arrow.Field{Name: "key", Type: arrow.BinaryTypes.String},
	arrow.Field{Name: "value", Type: arrow.BinaryTypes.Binary, Nullable: true},
)

// fixedFields are the columns every object starts with (see the package doc).
var fixedFields = []arrow.Field{
	{Name: ColPartition, Type: arrow.PrimitiveTypes.Int32},
	{Name: ColOffset, Type: arrow.PrimitiveTypes.Int64},
	{Name: ColTimestamp, Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
	{Name: ColKey, Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: ColValue, Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: ColHeaders, Type: arrow.ListOfNonNullable(headerType)},
	{Name: colBatchBaseOffset, Type: arrow.PrimitiveTypes.Int64},
	{Name: colBatchLastDelta, Type: arrow.PrimitiveTypes.Int32},
	{Name: colBatchAttributes, Type: arrow.PrimitiveTypes.Int16},
	{Name: colBatchLeaderEpoch, Type: arrow.PrimitiveTypes.Int32},
	{Name: colBatchFirstTimestamp, Type: arrow.PrimitiveTypes.Int64},
	{Name: colBatchMaxTimestamp, Type: arrow.PrimitiveTypes.Int64},
	{Name: colProducerID, Type: arrow.PrimitiveTypes.Int64},
	{Name: colProducerEpoch, Type: arrow.PrimitiveTypes.Int16},
	{Name: colBaseSequence, Type: arrow.PrimitiveTypes.Int32},
	{Name: colRecordAttributes, Type: arrow.PrimitiveTypes.Int8},
	{Name: colTimestampDelta, Type: arrow.PrimitiveTypes.Int64},
	{Name: colJSONValue, Type: arrow.FixedWidthTypes.Boolean},
}
