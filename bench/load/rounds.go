package load

import (
	"math"
	"slices"
)

// Tie is the verdict of a goal whose per-round ratios fall on both sides of its bound: the rounds
// disagree, so the run shows neither a pass nor a fail.
const Tie = "TIE"

// RoundRatio is one round's figures of a goal: Strata's figure, the reference measured in the same
// round (or the absolute bound), and their ratio.
type RoundRatio struct {
	Round     int     `json:"round"`
	Strata    float64 `json:"strata"`
	Reference float64 `json:"reference"`
	Ratio     float64 `json:"ratio"`
}

// GoalFigures is a goal as summary.json carries it: the verdict, every round's ratio, and their
// median and spread. Median, Min and Max are absent when no round had both figures.
type GoalFigures struct {
	What        string       `json:"what"`
	Target      string       `json:"target"`
	Verdict     string       `json:"verdict"`
	Reason      string       `json:"reason,omitempty"`
	Note        string       `json:"note,omitempty"`
	RefLabel    string       `json:"reference"`
	Strata      float64      `json:"strata_median"`
	Reference   float64      `json:"reference_median"`
	RatioMedian *float64     `json:"ratio_median,omitempty"`
	RatioMin    *float64     `json:"ratio_min,omitempty"`
	RatioMax    *float64     `json:"ratio_max,omitempty"`
	Rounds      []RoundRatio `json:"rounds,omitempty"`
}

// Judge evaluates the goals on s (see Goals) and stores them in s.Goals for summary.json.
func (s *Summary) Judge() {
	goals := Goals(s)
	s.Goals = make([]GoalFigures, len(goals))
	for i, g := range goals {
		f := GoalFigures{What: g.What, Target: g.Target, Verdict: g.Verdict, Reason: g.Reason, Note: g.Note,
			RefLabel: g.RefLabel, Rounds: g.Rounds}
		if !math.IsNaN(g.Ratio) {
			f.Strata, f.Reference = g.Strata, g.Reference
			f.RatioMedian, f.RatioMin, f.RatioMax = ptr(g.Ratio), ptr(g.RatioMin), ptr(g.RatioMax)
		}
		s.Goals[i] = f
	}
}

func ptr(v float64) *float64 { return &v }

// roundRatios computes d's ratio in every round of runs where both of its figures were measured:
// Strata's row of that round and the reference row of the same round (another system's, Strata's
// own beside it, or the absolute bound). Rounds where either is missing, skipped or zero are left
// out. The result is sorted by round.
func roundRatios(d goalDef, runs []Result) []RoundRatio {
	var out []RoundRatio
	for _, st := range runs {
		if st.System != SystemStrata || st.Key() != d.key || st.Skipped != "" {
			continue
		}
		rr := RoundRatio{Round: st.Round, Strata: d.field(st)}
		if math.IsNaN(rr.Strata) {
			continue // the round did not measure this figure
		}
		switch {
		case d.own != nil:
			ref, ratio := d.own(st)
			if ref <= 0 || ratio <= 0 {
				continue
			}
			rr.Reference, rr.Ratio = ref, ratio
		case d.absolute > 0:
			rr.Reference = d.absolute
			rr.Ratio = rr.Strata / rr.Reference
		default:
			i := slices.IndexFunc(runs, func(r Result) bool {
				return r.System == d.refSystem && r.Key() == d.key && r.Round == st.Round && r.Skipped == ""
			})
			if i < 0 || d.field(runs[i]) <= 0 {
				continue
			}
			rr.Reference = d.field(runs[i])
			rr.Ratio = rr.Strata / rr.Reference
		}
		out = append(out, rr)
	}
	slices.SortStableFunc(out, func(a, b RoundRatio) int { return a.Round - b.Round })
	return out
}

// judgeRange gives the verdict of a range of ratios against a monotone goal ok: PASS when even the
// worst round meets it, FAIL when even the best round misses it, TIE otherwise. For "≥ 1.2×" that
// is: pass only if min ≥ 1.2, fail if max < 1.2; for "≤ 1.0×" pass only if max ≤ 1.0.
func judgeRange(ok func(float64) bool, lo, hi float64) string {
	okLo, okHi := ok(lo), ok(hi)
	switch {
	case okLo && okHi:
		return Pass
	case !okLo && !okHi:
		return Fail
	}
	return Tie
}
