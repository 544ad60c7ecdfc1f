package cost

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
)

// Request classes, as S3 bills them.
const (
	ClassPut  = "put"  // PUT, COPY, POST, LIST
	ClassGet  = "get"  // GET, SELECT, HEAD and every other request
	ClassFree = "free" // DELETE
)

// Class is the billing class of an object-store op as strata_objstore_operations_total labels it.
// An op it does not know is billed as S3 bills "all other requests": in the GET class.
func Class(op string) string {
	switch op {
	case "put", "list", "copy", "post":
		return ClassPut
	case "delete":
		return ClassFree
	default:
		return ClassGet
	}
}

// Prices are list prices in US dollars.
type Prices struct {
	// PutPer1000 prices 1,000 requests of the PUT class.
	PutPer1000 float64 `json:"put_per_1000"`
	// GetPer1000 prices 1,000 requests of the GET class.
	GetPer1000 float64 `json:"get_per_1000"`
	// StorageGBMonth prices one GB (2^30 bytes) kept in object storage for a month.
	StorageGBMonth float64 `json:"storage_gb_month"`
	// HotStorageGBMonth prices one GB of hot log for a month. Zero by default: local disk is
	// provisioned, not billed by the byte stored.
	HotStorageGBMonth float64 `json:"hot_storage_gb_month"`
}

// DefaultPrices are S3 Standard's us-east-1 list prices.
func DefaultPrices() Prices {
	return Prices{PutPer1000: 0.005, GetPer1000: 0.0004, StorageGBMonth: 0.023}
}

// Validate reports a negative, infinite or NaN price.
func (p Prices) Validate() error {
	for _, f := range p.fields() {
		if v := *f.v; v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return fmt.Errorf("cost: price %s %v: want a finite number, 0 or more", f.name, v)
		}
	}
	return nil
}

// PerRequest is the price of one request of op's class.
func (p Prices) PerRequest(op string) float64 {
	switch Class(op) {
	case ClassPut:
		return p.PutPer1000 / 1000
	case ClassGet:
		return p.GetPer1000 / 1000
	default:
		return 0
	}
}

type priceField struct {
	name string
	v    *float64
}

func (p *Prices) fields() []priceField {
	return []priceField{
		{"put_per_1000", &p.PutPer1000},
		{"get_per_1000", &p.GetPer1000},
		{"storage_gb_month", &p.StorageGBMonth},
		{"hot_storage_gb_month", &p.HotStorageGBMonth},
	}
}

// PriceParams are the query parameters WithParams reads, one per price (the JSON names).
var PriceParams = func() []string {
	var p Prices
	var names []string
	for _, f := range p.fields() {
		names = append(names, f.name)
	}
	return names
}()

// ErrBadPrice marks a price parameter that is not a valid price.
var ErrBadPrice = errors.New("cost: bad price")

// WithParams returns p with the prices named in q (see PriceParams) replaced.
func (p Prices) WithParams(q url.Values) (Prices, error) {
	for _, f := range p.fields() {
		s := q.Get(f.name)
		if s == "" {
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return p, fmt.Errorf("%w: %s=%q: want a number, 0 or more", ErrBadPrice, f.name, s)
		}
		*f.v = v
	}
	return p, nil
}
