package textdata

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// writeTree writes files (slash-separated paths relative to root) with the given contents.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for rel, text := range files {
		path := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// goTree is a small source tree: at least 60 .go files in nested directories, at least 3 in each
// split, plus files that GoSource must leave out (testdata directories at two depths, non-.go files).
func goTree(t *testing.T) (root string, goFiles map[string]string) {
	root = t.TempDir()
	goFiles = map[string]string{}
	var perSplit [3]int
	for i := 0; len(goFiles) < 60 || slices.Min(perSplit[:]) < 3; i++ {
		rel := fmt.Sprintf("pkg%d/sub%d/file%d.go", i%7, i%3, i)
		goFiles[rel] = fmt.Sprintf("package sub%d\n\n// File %d.\n", i%3, i)
		perSplit[SplitOf(rel)]++
	}
	all := map[string]string{
		"testdata/skipped.go":      "package skipped // testdata\n",
		"pkg1/testdata/deep/x.go":  "package x // testdata\n",
		"pkg2/README.md":           "not go\n",
		"pkg3/sub0/file.go.orig":   "not go either\n",
		"pkg4/testdata_not/ok.txt": "no\n",
	}
	for k, v := range goFiles {
		all[k] = v
	}
	writeTree(t, root, all)
	return root, goFiles
}

func TestGoSourceSplitsByFile(t *testing.T) {
	root, goFiles := goTree(t)
	var paths []string
	for rel := range goFiles {
		paths = append(paths, rel)
	}
	slices.Sort(paths)
	var want [3][]byte
	var wantFiles [3]int
	for _, rel := range paths {
		s := SplitOf(rel)
		want[s] = append(append(want[s], goFiles[rel]...), FileSeparator)
		wantFiles[s]++
	}
	for _, s := range Splits {
		if wantFiles[s] == 0 {
			t.Fatalf("test tree puts no file in the %s split; change its names", s)
		}
	}
	c, err := GoSource(GoSourceOptions{Dir: root})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Splits {
		if diff := cmp.Diff(string(want[s]), string(c.Bytes(s))); diff != "" {
			t.Errorf("%s split (-want +got):\n%s", s, diff)
		}
		if c.Files(s) != wantFiles[s] {
			t.Errorf("%s split: %d files, want %d", s, c.Files(s), wantFiles[s])
		}
	}
	if !strings.Contains(c.Source, root) {
		t.Errorf("Source %q does not name the directory %s", c.Source, root)
	}
	for _, s := range Splits {
		if bytes.Contains(c.Bytes(s), []byte("testdata")) || bytes.Contains(c.Bytes(s), []byte("not go")) {
			t.Errorf("%s split holds a file that should have been left out", s)
		}
	}
	// Deterministic: the same bytes again, and the same split when other files come and go.
	again, err := GoSource(GoSourceOptions{Dir: root})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, again); diff != "" {
		t.Errorf("second load differs (-first +second):\n%s", diff)
	}
	writeTree(t, root, map[string]string{"aaa/new.go": "package aaa\n"})
	grown, err := GoSource(GoSourceOptions{Dir: root})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Splits {
		if s != SplitOf("aaa/new.go") && !bytes.Equal(grown.Bytes(s), c.Bytes(s)) {
			t.Errorf("adding aaa/new.go changed the %s split", s)
		}
	}
}

func TestGoSourceLimits(t *testing.T) {
	root, _ := goTree(t)
	full, err := GoSource(GoSourceOptions{Dir: root})
	if err != nil {
		t.Fatal(err)
	}
	max := Limits{Train: 100, Validation: 7, Test: 1 << 20}
	c, err := GoSource(GoSourceOptions{Dir: root, Max: max})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Splits {
		want := full.Bytes(s)
		if n := max.of(s); len(want) > n {
			want = want[:n]
		}
		if !bytes.Equal(c.Bytes(s), want) {
			t.Errorf("%s split capped at %d: %d bytes %q, want the first %d of the full split", s, max.of(s),
				len(c.Bytes(s)), c.Bytes(s), len(want))
		}
	}
	if c.ValidationFiles != 1 || c.TestFiles != full.TestFiles || c.TrainFiles >= full.TrainFiles {
		t.Errorf("files %d/%d/%d with caps, %d/%d/%d without", c.TrainFiles, c.ValidationFiles, c.TestFiles,
			full.TrainFiles, full.ValidationFiles, full.TestFiles)
	}
}

func TestGoSourceErrors(t *testing.T) {
	noGo := t.TempDir()
	writeTree(t, noGo, map[string]string{"README": "x", "testdata/a.go": "package a\n"})
	oneFile := t.TempDir()
	name := ""
	for i := 0; name == ""; i++ { // a file name that hashes to the train split
		if n := fmt.Sprintf("f%d.go", i); SplitOf(n) == Train {
			name = n
		}
	}
	writeTree(t, oneFile, map[string]string{name: "package f\n"})
	notDir := filepath.Join(oneFile, name)
	missing := filepath.Join(t.TempDir(), "nope")
	for _, tc := range []struct {
		name, dir string
		want      error
		msg       string
	}{
		{"no such directory", missing, ErrNotFound, missing + ": no such directory"},
		{"not a directory", notDir, ErrNotFound, "not a directory"},
		{"no .go files", noGo, ErrNotFound, noGo + ": no .go files"},
		{"empty split", oneFile, ErrEmpty, "the validation split is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := GoSource(GoSourceOptions{Dir: tc.dir})
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("GoSource(%s) error = %v, want %v containing %q", tc.dir, err, tc.want, tc.msg)
			}
		})
	}
}

func TestSplitOf(t *testing.T) {
	// Pinned: a change of hash or thresholds would silently change every published number.
	got := map[string][]int{}
	for i := range 100 {
		if s := SplitOf(fmt.Sprintf("f%d.go", i)); s != Train {
			got[s.String()] = append(got[s.String()], i)
		}
	}
	want := map[string][]int{"validation": {56, 97}, "test": {16, 41, 74, 82, 99}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SplitOf(f0.go ... f99.go) changed (-want +got):\n%s", diff)
	}
	if s := SplitOf("fmt/gostringer_example_test.go"); s != Test {
		t.Errorf("SplitOf(fmt/gostringer_example_test.go) = %s, want test", s)
	}
	// About 90/5/5 over many paths.
	var n [3]int
	const total = 20000
	for i := range total {
		n[SplitOf(fmt.Sprintf("dir%d/file%d.go", i%97, i))]++
	}
	for s, frac := range []float64{0.90, 0.05, 0.05} {
		if f := float64(n[s]) / total; math.Abs(f-frac) > 0.01 {
			t.Errorf("%s: %.3f of the paths, want about %.2f", Split(s), f, frac)
		}
	}
}

func TestWikiText2(t *testing.T) {
	texts := map[string]string{
		"wiki.train.raw": " = Valkyria Chronicles III = \n",
		"wiki.valid.raw": " = Homarus gammarus = \n",
		"wiki.test.raw":  " = Robert Boulter = \n",
	}
	flat := t.TempDir()
	writeTree(t, flat, texts)
	nested := t.TempDir()
	sub := map[string]string{}
	for k, v := range texts {
		sub["wikitext-2-raw/"+k] = v
	}
	writeTree(t, nested, sub)
	for _, dir := range []string{flat, nested} {
		c, err := WikiText2(dir)
		if err != nil {
			t.Fatal(err)
		}
		got := []string{string(c.Train), string(c.Validation), string(c.Test)}
		want := []string{texts["wiki.train.raw"], texts["wiki.valid.raw"], texts["wiki.test.raw"]}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("WikiText2(%s) (-want +got):\n%s", dir, diff)
		}
	}
	partial := t.TempDir()
	writeTree(t, partial, map[string]string{"wiki.train.raw": "x", "wiki.test.raw": "z"})
	empty := t.TempDir()
	writeTree(t, empty, map[string]string{"wiki.train.raw": "x", "wiki.valid.raw": "y", "wiki.test.raw": ""})
	missing := filepath.Join(t.TempDir(), "wikitext-2-raw")
	for _, tc := range []struct {
		dir  string
		want error
		msg  string
	}{
		{missing, ErrNotFound, missing + ": no such directory"},
		{partial, ErrNotFound, partial + ": missing wiki.valid.raw"},
		{empty, ErrEmpty, "wiki.test.raw is empty"},
	} {
		if _, err := WikiText2(tc.dir); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("WikiText2(%s) error = %v, want %v containing %q", tc.dir, err, tc.want, tc.msg)
		}
	}
}

func TestUnigram(t *testing.T) {
	u := Unigram([]byte("aab"))
	// Add-one smoothing over 256 values: p(a) = 3/259, p(b) = 2/259, any other byte 1/259.
	for _, tc := range []struct {
		b    byte
		want float64
	}{{'a', 3.0 / 259}, {'b', 2.0 / 259}, {'c', 1.0 / 259}, {0, 1.0 / 259}} {
		if got := u.Prob(tc.b); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("p(%q) = %g, want %g", tc.b, got, tc.want)
		}
	}
	// On "ab": −(ln 3/259 + ln 2/259)/2 = ln 259 − (ln 6)/2 = 4.6609483 nats,
	// 6.7243270 bits; perplexity 259/√6.
	ce := u.CrossEntropy([]byte("ab"))
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"nats/byte", ce.NatsPerByte, 4.6609483},
		{"bits/byte", ce.BitsPerByte(), 6.7243270},
		{"perplexity", ce.Perplexity(), 259 / math.Sqrt(6)},
	} {
		if math.Abs(tc.got-tc.want) > 1e-6 {
			t.Errorf("%s = %.8f, want %.8f", tc.name, tc.got, tc.want)
		}
	}
	if ce.Bytes != 2 {
		t.Errorf("Bytes = %d, want 2", ce.Bytes)
	}
	// Nothing to learn from: uniform, 8 bits per byte, perplexity 256.
	uniform := Unigram(nil).CrossEntropy([]byte("any text"))
	if math.Abs(uniform.BitsPerByte()-8) > 1e-12 || math.Abs(uniform.Perplexity()-256) > 1e-9 {
		t.Errorf("uniform: %v, want 8 bits/byte and perplexity 256", uniform)
	}
	if e := u.CrossEntropy(nil); !math.IsNaN(e.NatsPerByte) || e.Bytes != 0 {
		t.Errorf("empty text: %+v, want NaN over 0 bytes", e)
	}
}

func TestWindows(t *testing.T) {
	text := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	draw := func(seed uint64) []string {
		w, err := NewWindows(text, 4, seed)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for range 20 {
			for _, win := range w.Next(3) {
				out = append(out, string(win))
			}
		}
		return out
	}
	a, b, other := draw(1), draw(1), draw(2)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different windows (-first +second):\n%s", diff)
	}
	if cmp.Equal(a, other) {
		t.Error("seeds 1 and 2 drew the same windows")
	}
	starts := map[int]bool{}
	for _, win := range a {
		i := bytes.Index(text, []byte(win))
		if len(win) != 5 || i < 0 {
			t.Fatalf("window %q is not 5 consecutive bytes of the text", win)
		}
		starts[i] = true
	}
	if len(starts) < 20 { // 60 draws among 32 offsets
		t.Errorf("only %d distinct offsets in 60 draws", len(starts))
	}
	if _, err := NewWindows([]byte("abcd"), 4, 1); !errors.Is(err, ErrTooShort) {
		t.Errorf("NewWindows(4 bytes, context 4) error = %v, want ErrTooShort", err)
	}
	if w, err := NewWindows([]byte("abcde"), 4, 1); err != nil || string(w.Next(1)[0]) != "abcde" {
		t.Errorf("NewWindows(5 bytes, context 4) = %v", err)
	}
}

func TestSequentialWindows(t *testing.T) {
	for _, tc := range []struct {
		text string
		t    int
		want []string
	}{
		{"abcdefghij", 3, []string{"abcd", "defg", "ghij"}},
		{"abcdefghijk", 3, []string{"abcd", "defg", "ghij"}}, // "jk" is partial: dropped
		{"abc", 3, nil},
		{"ab", 1, []string{"ab"}},
	} {
		var got []string
		for _, w := range SequentialWindows([]byte(tc.text), tc.t) {
			got = append(got, string(w))
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("SequentialWindows(%q, %d) (-want +got):\n%s", tc.text, tc.t, diff)
		}
	}
}

// TestGoSourceGOROOT loads the Go distribution's own source tree, which every machine that runs
// go test has (skipped if not).
func TestGoSourceGOROOT(t *testing.T) {
	c, err := GoSource(GoSourceOptions{})
	if errors.Is(err, ErrNotFound) {
		t.Skipf("no Go source tree here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d/%d/%d bytes in %d/%d/%d files", c.Source, len(c.Train), len(c.Validation), len(c.Test),
		c.TrainFiles, c.ValidationFiles, c.TestFiles)
	files := c.TrainFiles + c.ValidationFiles + c.TestFiles
	size := len(c.Train) + len(c.Validation) + len(c.Test)
	if files < 2000 || size < 20<<20 {
		t.Errorf("%d files, %d bytes: the Go source tree has thousands of files and tens of MB", files, size)
	}
	if f := float64(len(c.Train)) / float64(size); f < 0.8 || f > 0.97 {
		t.Errorf("train split is %.2f of the bytes, want about 0.9", f)
	}
	for _, s := range []Split{Validation, Test} {
		if f := float64(c.Files(s)) / float64(files); f < 0.03 || f > 0.07 {
			t.Errorf("%s split has %.3f of the files, want about 0.05", s, f)
		}
	}
	if bytes.Count(c.Train, []byte{FileSeparator}) != c.TrainFiles {
		t.Errorf("train split: %d separators for %d files", bytes.Count(c.Train, []byte{FileSeparator}), c.TrainFiles)
	}
	// Go source is far from uniform bytes: the unigram baseline is about 5 to 6 bits per byte.
	if ce := Unigram(c.Train).CrossEntropy(c.Validation); ce.BitsPerByte() < 4 || ce.BitsPerByte() > 6.5 {
		t.Errorf("unigram on validation: %v", ce)
	}
}
