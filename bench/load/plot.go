package load

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

var systemColors = map[string]color.Color{
	SystemStrata:     color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	SystemKafka:      color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	SystemMinIO:      color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	SystemKafkaFsync: color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}

// throughputKeys are the bars of the throughput plot, left to right.
var throughputKeys = []string{"produce/1", "produce/12", "consume/12", ScenarioReplay}

// PlotThroughput writes grouped bars of MB/s per scenario and system to dir/throughput.png.
func PlotThroughput(s *Summary, dir string) (string, error) {
	p := plot.New()
	p.Title.Text = "Throughput (MB/s, 1 KiB records)"
	p.Y.Label.Text = "MB/s"
	p.Y.Min = 0
	var systems []string
	for _, sys := range []string{SystemStrata, SystemKafka, SystemKafkaFsync, SystemMinIO} {
		for _, r := range s.Scenarios {
			if r.System == sys && r.Skipped == "" && slices.Contains(throughputKeys, r.Key()) {
				systems = append(systems, sys)
				break
			}
		}
	}
	w := vg.Points(14)
	var drawn int
	for i, sys := range systems {
		vals := make(plotter.Values, len(throughputKeys))
		have := false
		for j, k := range throughputKeys {
			if r, ok := s.Find(k, sys); ok && r.Skipped == "" {
				vals[j] = r.MBPerS
				have = true
			}
		}
		if !have {
			continue
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return "", err
		}
		bars.Color = systemColors[sys]
		bars.LineStyle.Width = 0
		bars.Offset = (vg.Length(i) - vg.Length(len(systems)-1)/2) * w
		p.Add(bars)
		p.Legend.Add(sys, bars)
		drawn++
	}
	if drawn == 0 {
		return "", fmt.Errorf("load: no throughput to plot")
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(40)
	p.NominalX(throughputKeys...)
	path := filepath.Join(dir, "throughput.png")
	return path, p.Save(16*vg.Centimeter, 10*vg.Centimeter, path)
}

// PlotLatencyCDF writes the latency scenario's ack and end-to-end CDFs (and the object scenario's
// when it ran) to dir/latency_cdf.png, latency on a log axis.
func PlotLatencyCDF(s *Summary, dir string) (string, error) {
	p := plot.New()
	p.Title.Text = "Latency CDF at a fixed rate"
	p.X.Label.Text = "latency (ms, log scale)"
	p.Y.Label.Text = "fraction of records ≤ latency"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 1
	var drawn int
	for _, key := range []string{ScenarioLatency, ScenarioObject} {
		for _, sys := range []string{SystemStrata, SystemKafka, SystemKafkaFsync} {
			r, ok := s.Find(key, sys)
			if !ok || r.Skipped != "" {
				continue
			}
			for _, c := range []struct {
				what   string
				pts    []CDFPoint
				dashed bool
			}{{"ack", r.CDF, false}, {"e2e", r.E2ECDF, true}} {
				if len(c.pts) == 0 {
					continue
				}
				xys := make(plotter.XYs, len(c.pts))
				for i, pt := range c.pts {
					xys[i].X = math.Max(pt.Ms, 0.01) // the log axis cannot show zero
					xys[i].Y = pt.Fraction
				}
				l, err := plotter.NewLine(xys)
				if err != nil {
					return "", err
				}
				l.Color = systemColors[sys]
				l.Width = vg.Points(1.5)
				if c.dashed {
					l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
				}
				if key == ScenarioObject { // dotted ack, dash-dot end-to-end
					l.Dashes = []vg.Length{vg.Points(1), vg.Points(2)}
					if c.dashed {
						l.Dashes = []vg.Length{vg.Points(6), vg.Points(2), vg.Points(1), vg.Points(2)}
					}
				}
				p.Add(l)
				p.Legend.Add(fmt.Sprintf("%s %s %s", sys, key, c.what), l)
				drawn++
			}
		}
	}
	if drawn == 0 {
		return "", fmt.Errorf("load: no latency distribution to plot")
	}
	p.Legend.Left = true // the curves rise from the bottom left: the top left is free
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	path := filepath.Join(dir, "latency_cdf.png")
	return path, p.Save(16*vg.Centimeter, 10*vg.Centimeter, path)
}
