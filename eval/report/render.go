package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"

	xfont "golang.org/x/image/font"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// dpi is the PNG resolution: high enough that cell labels stay crisp.
const dpi = 150

// seriesColors is the Okabe–Ito palette, distinguishable with common forms
// of colour blindness; yellow is left out as it is unreadable on white.
var seriesColors = []color.RGBA{
	{0x00, 0x72, 0xB2, 0xff}, // blue
	{0xD5, 0x5E, 0x00, 0xff}, // vermillion
	{0x00, 0x9E, 0x73, 0xff}, // bluish green
	{0xCC, 0x79, 0xA7, 0xff}, // reddish purple
	{0xE6, 0x9F, 0x00, 0xff}, // orange
	{0x56, 0xB4, 0xE9, 0xff}, // sky blue
	{0x00, 0x00, 0x00, 0xff}, // black
}

func seriesColor(i int) color.RGBA { return seriesColors[i%len(seriesColors)] }

// figure is a plot ready to draw. plotters lists everything added to the
// plot, so tests can compare what is drawn with what report.json holds.
type figure struct {
	plot          *plot.Plot
	plotters      []plot.Plotter
	legend        []legendEntry
	width, height vg.Length
	rng           *[2]float64 // the possible range of y, intervals are clipped to it
}

type legendEntry struct {
	name   string
	thumbs []plot.Thumbnailer
}

func (f *figure) add(ps ...plot.Plotter) {
	f.plot.Add(ps...)
	f.plotters = append(f.plotters, ps...)
}

// buildFigure turns a validated Plot into a figure.
func buildFigure(p Plot) (*figure, error) {
	f := &figure{plot: plot.New(), width: 7 * vg.Inch, height: 4.5 * vg.Inch, rng: p.Range}
	f.plot.Title.Text = p.Title
	f.plot.X.Label.Text = p.XLabel
	f.plot.Y.Label.Text = p.YLabel
	var err error
	switch {
	case p.Heatmap != nil:
		err = f.heatmap(p.Heatmap)
	case p.Lines != nil:
		err = f.lines(p.Lines)
	case p.Bars != nil:
		err = f.bars(p.Bars)
	}
	if err != nil {
		return nil, err
	}
	for i, r := range p.Refs {
		l := &refLine{Y: r.Y, Style: draw.LineStyle{Color: color.Gray{0x50}, Width: vg.Points(1), Dashes: refDashes[i%len(refDashes)]}}
		f.add(l)
		f.legend = append(f.legend, legendEntry{r.Label, []plot.Thumbnailer{l}})
	}
	if p.Range != nil {
		// Keep the whole possible range in view only where the data use it; the clipped intervals do the rest.
		f.plot.Y.Min, f.plot.Y.Max = math.Max(f.plot.Y.Min, p.Range[0]), math.Min(f.plot.Y.Max, p.Range[1])
	}
	useSans(f.plot)
	return f, nil
}

var refDashes = [][]vg.Length{{vg.Points(5), vg.Points(3)}, {vg.Points(2), vg.Points(2)}, {vg.Points(8), vg.Points(2), vg.Points(2), vg.Points(2)}}

// refLine is a horizontal reference line across the plot.
type refLine struct {
	Y     float64
	Style draw.LineStyle
}

func (r *refLine) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	y := trY(r.Y)
	if y < c.Min.Y || y > c.Max.Y {
		return
	}
	c.StrokeLine2(r.Style, trX(p.X.Min), y, trX(p.X.Max), y)
}

func (r *refLine) DataRange() (xmin, xmax, ymin, ymax float64) {
	return math.Inf(1), math.Inf(-1), r.Y, r.Y
}

func (r *refLine) Thumbnail(c *draw.Canvas) {
	y := (c.Min.Y + c.Max.Y) / 2
	c.StrokeLine2(r.Style, c.Min.X, y, c.Max.X, y)
}

// clip limits an interval's ends to the plot's possible range.
func clip(rng *[2]float64, v float64) float64 {
	if rng == nil {
		return v
	}
	return math.Min(math.Max(v, rng[0]), rng[1])
}

// renderPNG draws a plot as PNG bytes.
func renderPNG(p Plot) ([]byte, error) {
	f, err := buildFigure(p)
	if err != nil {
		return nil, err
	}
	return f.png()
}

func (f *figure) png() ([]byte, error) {
	c := vgimg.NewWith(vgimg.UseWH(f.width, f.height), vgimg.UseDPI(dpi), vgimg.UseBackgroundColor(color.White))
	// A margin keeps the title and axis labels off the image edge.
	margin := 3 * vg.Millimeter
	dc := draw.Crop(draw.New(c), margin, -margin, margin, -margin)
	if named(f.legend) {
		// The legend goes in a margin right of the plot, where it cannot
		// hide data.
		l := plot.NewLegend()
		l.TextStyle.Font.Variant = "Sans"
		l.Top = true
		for _, e := range f.legend {
			if e.name != "" { // An unnamed series gets no empty entry.
				l.Add(e.name, e.thumbs...)
			}
		}
		pad := 2 * vg.Millimeter
		r := l.Rectangle(dc)
		l.XOffs = -pad
		l.YOffs = -f.plot.Title.TextStyle.Rectangle(f.plot.Title.Text).Size().Y - 2*pad
		l.Draw(dc)
		dc = draw.Crop(dc, 0, -(r.Max.X - r.Min.X + 2*pad), 0, 0)
	}
	f.plot.Draw(dc)
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), nil
}

func named(entries []legendEntry) bool {
	for _, e := range entries {
		if e.name != "" {
			return true
		}
	}
	return false
}

// useSans sets every text of the plot in the sans-serif face, which reads
// better at small sizes than the default serif.
func useSans(p *plot.Plot) {
	for _, s := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle, &p.X.Tick.Label, &p.Y.Tick.Label} {
		s.Font.Variant = "Sans"
	}
	p.Title.TextStyle.Font.Weight = xfont.WeightBold
}

// plainTicks places ticks like plot.DefaultTicks but labels them in the
// shortest form ("25", not "25.00").
type plainTicks struct{}

func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'g', 6, 64)
		}
	}
	return ticks
}

// rotateTicks tilts category labels that would otherwise collide.
func rotateTicks(a *plot.Axis, labels []string, slot vg.Length) {
	total := vg.Length(0)
	for _, l := range labels {
		total = max(total, a.Tick.Label.Width(l))
	}
	if total > 0.9*slot {
		a.Tick.Label.Rotation = math.Pi / 6
		a.Tick.Label.XAlign = draw.XRight
		a.Tick.Label.YAlign = draw.YTop
	}
}

// heatGrid adapts a row-major matrix to plotter.GridXYZ: column c is at
// x = c and row r at y = r (the y axis is inverted so row 0 is on top).
type heatGrid [][]float64

func (g heatGrid) Dims() (c, r int)   { return len(g[0]), len(g) }
func (g heatGrid) Z(c, r int) float64 { return g[r][c] }
func (g heatGrid) X(c int) float64    { return float64(c) }
func (g heatGrid) Y(r int) float64    { return float64(r) }
func (g heatGrid) Min() (m float64)   { return g.fold(math.Inf(1), math.Min) }
func (g heatGrid) Max() (m float64)   { return g.fold(math.Inf(-1), math.Max) }
func (g heatGrid) fold(m float64, f func(a, b float64) float64) float64 {
	for _, row := range g {
		for _, v := range row {
			m = f(m, v)
		}
	}
	return m
}

// heatPalette interpolates ColorBrewer's YlGnBu (light yellow to dark blue)
// into 101 steps, so cells differing by 0.01 on a unit scale differ in
// colour.
type heatPalette []color.Color

func (p heatPalette) Colors() []color.Color { return p }

var ylGnBu = []color.RGBA{
	{0xff, 0xff, 0xd9, 0xff}, {0xed, 0xf8, 0xb1, 0xff}, {0xc7, 0xe9, 0xb4, 0xff},
	{0x7f, 0xcd, 0xbb, 0xff}, {0x41, 0xb6, 0xc4, 0xff}, {0x1d, 0x91, 0xc0, 0xff},
	{0x22, 0x5e, 0xa8, 0xff}, {0x25, 0x34, 0x94, 0xff}, {0x08, 0x1d, 0x58, 0xff},
}

func newHeatPalette(n int) heatPalette {
	p := make(heatPalette, n)
	for i := range p {
		t := float64(i) / float64(n-1) * float64(len(ylGnBu)-1)
		k := min(int(t), len(ylGnBu)-2)
		frac := t - float64(k)
		a, b := ylGnBu[k], ylGnBu[k+1]
		mix := func(x, y uint8) uint8 { return uint8(math.Round(float64(x) + frac*(float64(y)-float64(x)))) }
		p[i] = color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 0xff}
	}
	return p
}

// luminance is the relative luminance of c in [0, 1] (sRGB weights applied
// to gamma-encoded values: enough to pick black or white text).
func luminance(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	return (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(b)) / 0xffff
}

func (f *figure) heatmap(h *Heatmap) error {
	grid := heatGrid(h.Values)
	lo, hi := h.Min, h.Max
	if lo == 0 && hi == 0 {
		lo, hi = grid.Min(), grid.Max()
	}
	if lo == hi { // A constant matrix still needs a non-empty colour scale.
		lo, hi = lo-0.5, hi+0.5
	}
	pal := newHeatPalette(101)
	hm := plotter.NewHeatMap(grid, pal)
	hm.Min, hm.Max = lo, hi
	hm.Underflow, hm.Overflow = pal[0], pal[len(pal)-1]

	nc, nr := grid.Dims()
	format := h.Format
	if format == "" {
		format = "%.2f"
	}
	var xyl plotter.XYLabels
	for r := range nr {
		for c := range nc {
			xyl.XYs = append(xyl.XYs, plotter.XY{X: float64(c), Y: float64(r)})
			xyl.Labels = append(xyl.Labels, fmt.Sprintf(format, h.Values[r][c]))
		}
	}
	labels, err := plotter.NewLabels(xyl)
	if err != nil {
		return fmt.Errorf("cell labels: %w", err)
	}
	// Cells are about 0.75 in wide up to 8 columns, then shrink; labels
	// shrink with them.
	cell := 0.75 * vg.Inch
	if n := max(nc, nr); n > 8 {
		cell = 6 * vg.Inch / vg.Length(n)
	}
	size := min(vg.Points(11), cell/4.5)
	for i := range labels.TextStyle {
		v := h.Values[i/nc][i%nc]
		idx := int((min(max(v, lo), hi)-lo)/(hi-lo)*float64(len(pal)-1) + 0.5)
		s := &labels.TextStyle[i]
		s.Font.Variant = "Sans"
		s.Font.Size = size
		s.XAlign, s.YAlign = draw.XCenter, draw.YCenter
		s.Color = color.Black
		if luminance(pal[idx]) < 0.45 {
			s.Color = color.White
		}
	}
	f.add(hm, labels)

	p := f.plot
	p.NominalX(h.Cols...)
	p.NominalY(h.Rows...)
	p.Y.Scale = plot.InvertedScale{Normalizer: plot.LinearScale{}}
	p.X.Padding, p.Y.Padding = 0, 0
	// Transparent ticks keep the labels a little away from the cells
	// (NominalX/Y turn ticks off, and with them that space).
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Tick.Length, a.Tick.Width, a.Tick.Color = vg.Points(4), vg.Points(0.5), color.Transparent
	}
	rotateTicks(&p.X, h.Cols, cell)
	maxRow := vg.Length(0)
	for _, l := range h.Rows {
		maxRow = max(maxRow, p.Y.Tick.Label.Width(l))
	}
	f.width = vg.Length(nc)*cell + maxRow + 1.2*vg.Inch
	f.height = vg.Length(nr)*cell + 1.6*vg.Inch
	if p.X.Tick.Label.Rotation != 0 {
		longest := vg.Length(0)
		for _, l := range h.Cols {
			longest = max(longest, p.X.Tick.Label.Width(l))
		}
		f.height += longest / 2 // sin(30°) of the longest label
	}
	return nil
}

// errXYs adapts points with symmetric errors to plotter.YErrorBars, clipped to the possible range.
type errXYs struct {
	plotter.XYs
	err []float64
	rng *[2]float64
}

func (e errXYs) YError(i int) (float64, float64) {
	y, lo, hi := e.XYs[i].Y, e.err[i], e.err[i]
	if e.rng != nil && y-lo < e.rng[0] {
		lo = y - e.rng[0]
	}
	if e.rng != nil && y+hi > e.rng[1] {
		hi = e.rng[1] - y
	}
	return lo, hi
}

func (f *figure) lines(l *Lines) error {
	var bands, curves, bars []plot.Plotter
	for i, s := range l.Series {
		col := seriesColor(i)
		xys := make(plotter.XYs, len(s.X))
		for j := range s.X {
			xys[j] = plotter.XY{X: s.X[j], Y: s.Y[j]}
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return fmt.Errorf("series %q: %w", s.Name, err)
		}
		line.Color, line.Width = col, vg.Points(1.5)
		points.Color, points.Shape, points.Radius = col, draw.CircleGlyph{}, vg.Points(2.5)
		curves = append(curves, line, points)
		f.legend = append(f.legend, legendEntry{s.Name, []plot.Thumbnailer{line, points}})
		if s.Err == nil {
			continue
		}
		if l.Band {
			ring := make(plotter.XYs, 0, 2*len(xys))
			for j := range xys {
				ring = append(ring, plotter.XY{X: s.X[j], Y: clip(f.rng, s.Y[j]+s.Err[j])})
			}
			for j := len(xys) - 1; j >= 0; j-- {
				ring = append(ring, plotter.XY{X: s.X[j], Y: clip(f.rng, s.Y[j]-s.Err[j])})
			}
			band, err := plotter.NewPolygon(ring)
			if err != nil {
				return fmt.Errorf("series %q band: %w", s.Name, err)
			}
			band.Color = color.NRGBA{col.R, col.G, col.B, 0x40} // NRGBA: not premultiplied
			band.LineStyle.Width = 0
			bands = append(bands, band)
		} else {
			eb, err := plotter.NewYErrorBars(errXYs{xys, s.Err, f.rng})
			if err != nil {
				return fmt.Errorf("series %q error bars: %w", s.Name, err)
			}
			eb.Color = col
			bars = append(bars, eb)
		}
	}
	f.plot.X.Tick.Marker, f.plot.Y.Tick.Marker = plainTicks{}, plainTicks{}
	f.add(plotter.NewGrid())
	f.add(bands...) // Bands first, so lines are drawn over them.
	f.add(curves...)
	f.add(bars...)
	return nil
}

// barPlotter draws one group's bars in data coordinates (so grouped bars and
// their error bars line up at any canvas size), from zero to each value.
type barPlotter struct {
	X, Values []float64
	Width     float64 // in x data units
	Color     color.Color
}

func (b *barPlotter) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	outline := draw.LineStyle{Color: color.Gray{0x40}, Width: vg.Points(0.5)}
	for i, v := range b.Values {
		x0, x1 := trX(b.X[i]-b.Width/2), trX(b.X[i]+b.Width/2)
		y0, y1 := trY(0), trY(v)
		rect := []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}
		c.FillPolygon(b.Color, c.ClipPolygonXY(rect))
		c.StrokeLines(outline, c.ClipLinesXY(append(rect, rect[0]))...)
	}
}

func (b *barPlotter) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = math.Inf(1), math.Inf(-1)
	for i, v := range b.Values {
		xmin, xmax = math.Min(xmin, b.X[i]-b.Width/2), math.Max(xmax, b.X[i]+b.Width/2)
		ymin, ymax = math.Min(ymin, v), math.Max(ymax, v) // Both start at 0: bars rise from zero.
	}
	return xmin, xmax, ymin, ymax
}

func (b *barPlotter) Thumbnail(c *draw.Canvas) {
	r := c.Rectangle
	c.FillPolygon(b.Color, []vg.Point{r.Min, {X: r.Max.X, Y: r.Min.Y}, r.Max, {X: r.Min.X, Y: r.Max.Y}})
}

// zeroLine marks y = 0, which bars rise from or fall below.
type zeroLine struct{}

func (zeroLine) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	y := trY(0)
	if y < c.Min.Y || y > c.Max.Y {
		return
	}
	c.StrokeLine2(draw.LineStyle{Color: color.Gray{0x30}, Width: vg.Points(0.75)}, trX(p.X.Min), y, trX(p.X.Max), y)
}

func (f *figure) bars(b *Bars) error {
	n, groups := len(b.Categories), len(b.Groups)
	slot := 0.8 / float64(groups)
	var bars, errs []plot.Plotter
	for g, grp := range b.Groups {
		col := seriesColor(g)
		bp := &barPlotter{Values: grp.Values, Width: slot * 0.9, Color: col}
		for i := range n {
			bp.X = append(bp.X, float64(i)+(float64(g)-float64(groups-1)/2)*slot)
		}
		bars = append(bars, bp)
		f.legend = append(f.legend, legendEntry{grp.Name, []plot.Thumbnailer{bp}})
		if grp.Err != nil {
			xys := make(plotter.XYs, n)
			for i := range n {
				xys[i] = plotter.XY{X: bp.X[i], Y: grp.Values[i]}
			}
			eb, err := plotter.NewYErrorBars(errXYs{xys, grp.Err, f.rng})
			if err != nil {
				return fmt.Errorf("bar group %q error bars: %w", grp.Name, err)
			}
			eb.CapWidth = vg.Points(4)
			errs = append(errs, eb)
		}
	}
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil // Category positions need no vertical lines.
	f.add(grid)
	f.add(bars...)
	f.add(zeroLine{})
	f.add(errs...)
	p := f.plot
	p.Y.Tick.Marker = plainTicks{}
	p.NominalX(b.Categories...)
	p.X.Min, p.X.Max = -0.5, float64(n)-0.5
	f.width = max(5*vg.Inch, min(11*vg.Inch, vg.Length(n*groups)*0.45*vg.Inch+2.5*vg.Inch))
	rotateTicks(&p.X, b.Categories, (f.width-2.5*vg.Inch)/vg.Length(n))
	return nil
}
