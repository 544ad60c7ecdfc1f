package compaction

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/strata-log/strata/metadata"
)

// segs builds consecutive segments from sizes, starting at offset 0, 10 offsets each, epoch 1.
func segs(sizes ...int64) []metadata.SegmentRef {
	out := make([]metadata.SegmentRef, len(sizes))
	for i, sz := range sizes {
		out[i] = metadata.SegmentRef{Key: fmt.Sprintf("s%d", i), BaseOffset: int64(i) * 10,
			NextOffset: int64(i+1) * 10, Size: sz, Epoch: 1}
	}
	return out
}

// groups renders a plan as the input indexes of each merge ("s0".."sN" → 0..N).
func groups(ms []Merge) [][]int {
	var out [][]int
	for _, m := range ms {
		var g []int
		for _, s := range m.Inputs {
			var i int
			fmt.Sscanf(s.Key, "s%d", &i)
			g = append(g, i)
		}
		out = append(out, g)
	}
	return out
}

func TestPlanMerges(t *testing.T) {
	small := Policy{SmallBytes: 100, TargetBytes: 400, MinInputs: 3}
	withGap := segs(10, 10, 10, 10, 10, 10)
	for i := 3; i < len(withGap); i++ { // a gap between s2 and s3
		withGap[i].BaseOffset += 5
		withGap[i].NextOffset += 5
	}
	ranged := segs(10, 10, 500, 10, 10) // ranges of shared objects at positions in them, and a big whole object
	for i := range ranged {
		if i != 2 {
			ranged[i].Position = int64(1000 * (i + 1))
		}
	}
	epochs := segs(10, 10, 10, 10, 10, 10)
	for i := 2; i < len(epochs); i++ {
		epochs[i].Epoch = 2
	}
	for _, tc := range []struct {
		name string
		segs []metadata.SegmentRef
		p    Policy
		want [][]int
	}{
		{"empty", nil, small, nil},
		{"fewer than MinInputs", segs(10, 10), small, nil},
		{"exactly MinInputs", segs(10, 10, 10), small, [][]int{{0, 1, 2}}},
		{"ranges are planned by their own size", ranged, Policy{SmallBytes: 100, TargetBytes: 400, MinInputs: 2}, [][]int{{0, 1}, {3, 4}}},
		{"all small in one", segs(10, 20, 30, 40, 50), small, [][]int{{0, 1, 2, 3, 4}}},
		{"a big segment splits runs", segs(10, 10, 10, 100, 10, 10, 10), small, [][]int{{0, 1, 2}, {4, 5, 6}}},
		{"SmallBytes is exclusive", segs(99, 99, 100, 99), small, nil},
		{"TargetBytes is inclusive", segs(100-1, 100-1, 100-1, 103), Policy{SmallBytes: 104, TargetBytes: 400, MinInputs: 3}, [][]int{{0, 1, 2, 3}}},
		{"TargetBytes splits", segs(90, 90, 90, 90, 90, 90, 90, 90, 90), small, [][]int{{0, 1, 2, 3}, {4, 5, 6, 7}}},
		{"a split leaves a short tail", segs(90, 90, 90, 90, 90, 90), small, [][]int{{0, 1, 2, 3}}},
		{"a gap splits runs", withGap, small, [][]int{{0, 1, 2}, {3, 4, 5}}},
		{"an epoch change splits runs", epochs, small, [][]int{{2, 3, 4, 5}}},
		{"big ones only", segs(500, 500, 500), small, nil},
		{"defaults", segs(1<<20, 1<<20, 1<<20, 1<<20, 9<<20, 1<<20), Policy{}, [][]int{{0, 1, 2, 3}}},
		{"invalid policy plans nothing", segs(10, 10, 10), Policy{MinInputs: 1}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PlanMerges(tc.segs, tc.p)
			if g := groups(got); !reflect.DeepEqual(g, tc.want) {
				t.Fatalf("plan %v, want %v", g, tc.want)
			}
			p := tc.p
			p.applyDefaults()
			for _, m := range got {
				var sum int64
				for i, s := range m.Inputs {
					sum += s.Size
					if i > 0 && s.BaseOffset != m.Inputs[i-1].NextOffset {
						t.Fatalf("merge %v not consecutive", m.Keys())
					}
				}
				if m.BaseOffset != m.Inputs[0].BaseOffset || m.NextOffset != m.Inputs[len(m.Inputs)-1].NextOffset ||
					m.Bytes != sum || sum > p.TargetBytes || len(m.Inputs) < p.MinInputs {
					t.Fatalf("merge %+v", m)
				}
			}
		})
	}
}

func TestPlanMergesDoesNotAlias(t *testing.T) {
	in := segs(10, 10, 10, 10)
	ms := PlanMerges(in, Policy{SmallBytes: 100, TargetBytes: 1000, MinInputs: 2})
	ms[0].Inputs[0].Key = "changed"
	if in[0].Key != "s0" {
		t.Fatal("the plan shares the caller's slice")
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Policy
		ok   bool
	}{
		{"zero is defaults", Policy{}, true},
		{"negative small", Policy{SmallBytes: -1}, false},
		{"target below small", Policy{SmallBytes: 10, TargetBytes: 5}, false},
		{"one input", Policy{MinInputs: 1}, false},
		{"two inputs", Policy{MinInputs: 2}, true},
		{"target below default small", Policy{TargetBytes: 1 << 20}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrConfig)) {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}
