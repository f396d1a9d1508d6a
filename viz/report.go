package viz

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Report is a document of sections holding text, tables and figures.
// [WriteHTMLReport] writes it as one self-contained HTML file.
type Report struct {
	// Title is the document title and its top heading.
	Title string

	// Sections follow the title in order.
	Sections []Section
}

// Section is a headed part of a [Report].
type Section struct {
	// Heading is the section heading; empty means none.
	Heading string

	// Blocks are the section's content, in order.
	Blocks []Block
}

// Block is one piece of a section's content: [Text], [Table] or
// [FigureBlock]. The set is closed, so that every report stays
// self-contained.
type Block interface {
	isBlock()
}

// Text is markdown-ish prose. Blank lines separate paragraphs; a paragraph
// whose lines all start with "- " is a bullet list; `code`, **bold** and
// *italic* spans are formatted. Everything else is shown as written (HTML
// is escaped).
type Text string

// Table is a table of strings with an optional caption. Cells that read
// as numbers (optionally signed, with a % suffix) are right-aligned.
type Table struct {
	Caption string
	Header  []string
	Rows    [][]string
}

// FigureBlock is a figure with an optional caption, embedded in the report
// as inline SVG.
type FigureBlock struct {
	Caption string
	Figure  Figure
}

func (Text) isBlock()        {}
func (Table) isBlock()       {}
func (FigureBlock) isBlock() {}

// reportCSS styles the report; it holds no '<' or '&' so the document is
// also well-formed XML.
const reportCSS = `
body { font-family: 'Liberation Sans', Arial, Helvetica, sans-serif; color: #222; background: #fff; margin: 0; line-height: 1.5; }
main { max-width: 60rem; margin: 0 auto; padding: 1.5rem 2rem 3rem; }
h1 { font-size: 1.7rem; margin: 0.5rem 0 1rem; }
h2 { font-size: 1.3rem; margin: 2rem 0 0.75rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
p, ul { margin: 0.6rem 0; }
code { font-family: 'Liberation Mono', 'Courier New', monospace; font-size: 0.9em; background: #f3f3f3; padding: 0 0.2em; border-radius: 3px; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.92rem; }
caption { caption-side: top; text-align: left; font-weight: bold; padding-bottom: 0.3rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.75rem; text-align: left; vertical-align: top; }
th { border-bottom: 2px solid #888; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #f8f8f8; }
figure { margin: 1.25rem 0; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 0.92rem; color: #444; margin-top: 0.3rem; }
`

// WriteHTMLReport writes r to w as a single self-contained HTML5 file:
// inline CSS, figures as inline SVG, no scripts and no external resources,
// so it opens anywhere, offline. The markup is also well-formed XML.
// Errors come from drawing a figure or from w; w may then hold a partial
// document.
func WriteHTMLReport(w io.Writer, r Report) error {
	bw := bufio.NewWriter(w)
	esc := html.EscapeString
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }

	p("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
	p("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n")
	// An empty data: icon stops browsers from requesting /favicon.ico.
	p("<link rel=\"icon\" href=\"data:,\"/>\n")
	p("<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n", esc(r.Title), reportCSS)
	if r.Title != "" {
		p("<h1>%s</h1>\n", esc(r.Title))
	}
	for _, s := range r.Sections {
		p("<section>\n")
		if s.Heading != "" {
			p("<h2>%s</h2>\n", esc(s.Heading))
		}
		for _, b := range s.Blocks {
			switch b := b.(type) {
			case Text:
				bw.WriteString(textHTML(string(b)))
			case Table:
				bw.WriteString(tableHTML(b))
			case FigureBlock:
				if b.Figure == nil {
					continue
				}
				svg, err := svgString(b.Figure)
				if err != nil {
					return fmt.Errorf("viz: report %q: figure %q: %w", r.Title, b.Caption, err)
				}
				p("<figure>\n%s\n", inlineSVG(svg))
				if b.Caption != "" {
					p("<figcaption>%s</figcaption>\n", inlineHTML(b.Caption))
				}
				p("</figure>\n")
			}
		}
		p("</section>\n")
	}
	p("</main>\n</body>\n</html>\n")
	return bw.Flush()
}

// textHTML converts markdown-ish text to paragraphs and bullet lists.
func textHTML(t string) string {
	var b strings.Builder
	for _, para := range regexp.MustCompile(`\n[ \t]*\n`).Split(strings.TrimSpace(t), -1) {
		para = strings.TrimSpace(para)
		if para == "" {
			continue
		}
		lines := strings.Split(para, "\n")
		list := true
		for _, l := range lines {
			if !strings.HasPrefix(strings.TrimSpace(l), "- ") {
				list = false
				break
			}
		}
		if list {
			b.WriteString("<ul>\n")
			for _, l := range lines {
				fmt.Fprintf(&b, "<li>%s</li>\n", inlineHTML(strings.TrimPrefix(strings.TrimSpace(l), "- ")))
			}
			b.WriteString("</ul>\n")
			continue
		}
		fmt.Fprintf(&b, "<p>%s</p>\n", inlineHTML(strings.Join(lines, "\n")))
	}
	return b.String()
}

var (
	codeSpan   = regexp.MustCompile("`([^`]+)`")
	boldSpan   = regexp.MustCompile(`\*\*([^*]+)\*\*`)
	italicSpan = regexp.MustCompile(`\*([^*\s][^*]*)\*`)
)

// inlineHTML escapes s and formats its `code`, **bold** and *italic*
// spans; code spans are left unformatted inside.
func inlineHTML(s string) string {
	var b strings.Builder
	rest := s
	for {
		loc := codeSpan.FindStringSubmatchIndex(rest)
		if loc == nil {
			b.WriteString(emphasis(html.EscapeString(rest)))
			return b.String()
		}
		b.WriteString(emphasis(html.EscapeString(rest[:loc[0]])))
		b.WriteString("<code>" + html.EscapeString(rest[loc[2]:loc[3]]) + "</code>")
		rest = rest[loc[1]:]
	}
}

func emphasis(s string) string {
	s = boldSpan.ReplaceAllString(s, "<strong>$1</strong>")
	return italicSpan.ReplaceAllString(s, "<em>$1</em>")
}

var numericCell = regexp.MustCompile(`^[-+−]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?([eE][-+]?\d+)?\s*%?$`)

func isNumeric(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" || !strings.ContainsAny(s, "0123456789") {
		return false
	}
	if _, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64); err == nil {
		return true
	}
	return numericCell.MatchString(s)
}

func tableHTML(t Table) string {
	var b strings.Builder
	b.WriteString("<table>\n")
	if t.Caption != "" {
		fmt.Fprintf(&b, "<caption>%s</caption>\n", inlineHTML(t.Caption))
	}
	if len(t.Header) > 0 {
		b.WriteString("<thead><tr>")
		for _, h := range t.Header {
			fmt.Fprintf(&b, "<th>%s</th>", inlineHTML(h))
		}
		b.WriteString("</tr></thead>\n")
	}
	b.WriteString("<tbody>\n")
	for _, row := range t.Rows {
		b.WriteString("<tr>")
		for _, c := range row {
			if isNumeric(c) {
				fmt.Fprintf(&b, "<td class=\"num\">%s</td>", inlineHTML(c))
			} else {
				fmt.Fprintf(&b, "<td>%s</td>", inlineHTML(c))
			}
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody>\n</table>\n")
	return b.String()
}
