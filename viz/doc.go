// Package viz draws the figures of pruning research: sparsity heat maps,
// per-layer sparsity bars, weight-magnitude histograms, accuracy versus
// weights remaining (the Lottery Ticket plot), sensitivity and training
// curves; it writes them as SVG or PNG and shows them inline in GoNB
// notebooks. It also writes self-contained HTML reports.
//
// viz knows nothing of pruning algorithms, models or datasets: it takes
// plain data ([Layer], [Series], [Sample], [LayerCount], [BarSeries],
// [Grid]) and returns a [Figure], a tiny interface with a size and a Draw
// method that every gonum/plot canvas can render. Write a figure with
// [WriteSVG], [WritePNG] or [Save] (atomic file writes), display it with
// [Show], or embed it in a [Report] written by [WriteHTMLReport].
//
// # Figures
//
//   - [MaskHeatmap]: one layer's mask (or weight magnitudes) as an image,
//     inputs on the x axis and outputs on the y axis; large layers are
//     block-averaged ([BlockAverage]) so each cell shows the kept fraction of
//     its block; convolution kernels [kh, kw, in, out] become an
//     input-channel × output-filter grid of kept fractions per kernel.
//   - [PixelMap]: the first layer's mask of an image model reshaped to the
//     input image (28×28 for MNIST): which pixels keep their weights.
//   - [ModelHeatmaps]: one panel per layer, each titled with its density.
//   - [SparsityBars]: percentage of weights remaining per layer.
//   - [GroupedBars]: a few quantities side by side per category, e.g.
//     theoretical against measured speedups, or a model's size stored in
//     several ways (optionally on a log axis).
//   - [WeightHistogram]: magnitude histograms, e.g. before/after pruning.
//   - [AccuracyVsWeights], [EarlyStopVsWeights]: metric versus percentage
//     of weights remaining on a reversed log axis, mean ± std bands over
//     replicates.
//   - [SensitivityCurves]: metric versus sparsity, one line per layer.
//   - [PerplexityVsSparsity]: a language model's perplexity versus
//     sparsity, one line per pruning method, ± std error bars over seeds.
//   - [TrainingCurves]: loss or accuracy versus step.
//   - [Tile]: several figures side by side.
//
// # Theme
//
// All figures share one theme: Liberation Sans (metric-compatible with
// Arial; SVG output names Arial and Helvetica as fallbacks), the
// colour-blind-safe Okabe–Ito palette ([OkabeIto]) with a distinct dash
// pattern and marker shape per series so that lines stay apart in
// greyscale ([SeriesStyle]), and a light-to-dark sequential colour map
// (ColorBrewer YlGnBu) for heat maps, whose lightness is monotonic.
//
// # Options
//
// Every figure takes an options struct whose zero value is useful:
// [HeatmapOptions], [PixelMapOptions], [ModelHeatmapOptions], [BarOptions],
// [GroupedBarOptions], [HistogramOptions] and [CurveOptions]. Widths and
// heights of zero select the defaults ([DefaultWidth] × [DefaultHeight] for
// single plots).
//
// # Notebooks
//
// [Show] displays a figure in a GoNB notebook and waits until the kernel has
// it; [Live] redraws a training-curve figure in place every few points.
// Both do nothing outside a notebook.
//
// # Errors
//
// Functions that take data validate it and return errors that wrap
// [ErrNoData] (nothing to draw) or [ErrShape] (lengths or shapes that
// disagree, values a log axis cannot show), naming the layer or series at
// fault. [Save] returns [ErrFormat] for extensions other than .svg and
// .png. Writers return the underlying I/O error. Figure constructors
// never panic on bad data; the few helpers that assume valid input say so.
//
// # Sizes
//
// Heat maps draw one vector rectangle per cell (runs of equal colour are
// merged), so block averaging also keeps SVG files small: about 85 KB for
// a 784×300 layer at the default 40 cells per axis, against 5.6 MB for
// every weight (MaxCells < 0).
package viz
