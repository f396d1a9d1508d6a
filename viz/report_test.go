package viz_test

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/prunelab/prunelab/viz"
)

func exampleReport(t testing.TB) viz.Report {
	acc, err := viz.AccuracyVsWeights(lotterySeries(), viz.CurveOptions{YLabel: "test accuracy (%)"})
	if err != nil {
		t.Fatal(err)
	}
	pix, err := viz.PixelMap(mnistLayer(), viz.PixelMapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bars, err := viz.SparsityBars(layerCounts(), viz.BarOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return viz.Report{
		Title: "LeNet-300-100 <lottery> & tickets",
		Sections: []viz.Section{
			{Heading: "Summary", Blocks: []viz.Block{
				viz.Text("Iterative magnitude pruning, **20%** per round, rewinding to `init`.\n\n- 5 replicates\n- *fixed* seeds\n\nSee https://example.com/not-a-link <b>raw</b>."),
				viz.Table{
					Caption: "Accuracy by level",
					Header:  []string{"level", "weights remaining", "accuracy"},
					Rows:    [][]string{{"0", "100%", "98.0"}, {"3", "51.3%", "98.2"}, {"7", "21.1%", "98.3"}},
				},
			}},
			{Heading: "Figures", Blocks: []viz.Block{
				viz.FigureBlock{Caption: "Accuracy vs weights remaining.", Figure: acc},
				viz.FigureBlock{Caption: "Surviving input pixels.", Figure: pix},
				viz.FigureBlock{Figure: bars},
			}},
		},
	}
}

// TestWriteHTMLReport parses the report as XML (the markup is polyglot
// HTML5/XML, so any unclosed or misnested element, unquoted attribute or
// unescaped character fails), then checks its structure: every figure as
// inline <svg>, no scripts, no external resources.
func TestWriteHTMLReport(t *testing.T) {
	var b strings.Builder
	if err := viz.WriteHTMLReport(&b, exampleReport(t)); err != nil {
		t.Fatal(err)
	}
	doc := b.String()
	if !strings.HasPrefix(doc, "<!DOCTYPE html>\n<html") {
		t.Errorf("report starts with %q, want an HTML5 doctype", doc[:min(len(doc), 30)])
	}

	dec := xml.NewDecoder(strings.NewReader(doc))
	dec.Strict = true
	counts := map[string]int{}
	var texts []string
	var stack []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("report is not well-formed: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			name := tok.Name.Local
			counts[name]++
			if name == "svg" && len(stack) > 0 && stack[len(stack)-1] != "figure" {
				t.Errorf("<svg> inside <%s>, want inside <figure>", stack[len(stack)-1])
			}
			stack = append(stack, name)
			for _, a := range tok.Attr {
				v := strings.ToLower(strings.TrimSpace(a.Value))
				switch strings.ToLower(a.Name.Local) {
				case "src", "href", "action", "srcset", "poster", "data":
					if !strings.HasPrefix(v, "data:") && !strings.HasPrefix(v, "#") {
						t.Errorf("<%s %s=%q> loads an external resource", name, a.Name.Local, a.Value)
					}
				}
				if strings.HasPrefix(strings.ToLower(a.Name.Local), "on") {
					t.Errorf("<%s> has an event handler %s", name, a.Name.Local)
				}
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			texts = append(texts, string(tok))
		}
	}
	want := map[string]int{"html": 1, "head": 1, "body": 1, "title": 1, "style": 1, "h1": 1, "h2": 2, "section": 2,
		"figure": 3, "svg": 3, "figcaption": 2, "table": 1, "th": 3, "tr": 4, "td": 9, "ul": 1, "li": 2,
		"strong": 1, "em": 1, "code": 1, "script": 0, "link": 1, "img": 0, "iframe": 0, "object": 0, "b": 0}
	got := map[string]int{}
	for name := range want {
		got[name] = counts[name]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("element counts (-want +got):\n%s", diff)
	}

	text := strings.Join(texts, "")
	for _, s := range []string{"LeNet-300-100 <lottery> & tickets", "<b>raw</b>", "https://example.com/not-a-link"} {
		if !strings.Contains(text, s) {
			t.Errorf("report text lacks %q (escaped text must read back as written)", s)
		}
	}
	for _, bad := range []string{"@import", "url(http", "url(//", "<script"} {
		if strings.Contains(strings.ToLower(doc), bad) {
			t.Errorf("report contains %q", bad)
		}
	}
	if !strings.Contains(doc, `<td class="num">51.3%</td>`) || !strings.Contains(doc, `<td class="num">98.2</td>`) {
		t.Error("numeric cells are not right-aligned")
	}
}

func TestWriteHTMLReportEmpty(t *testing.T) {
	var b strings.Builder
	if err := viz.WriteHTMLReport(&b, viz.Report{}); err != nil {
		t.Fatal(err)
	}
	if err := xml.NewDecoder(strings.NewReader(b.String())).Decode(new(struct{})); err != nil {
		t.Errorf("empty report is not well-formed: %v", err)
	}
}
