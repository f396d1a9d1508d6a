// Command dockerlint checks the lab image's Dockerfile with BuildKit's own linter, the checks that
// `docker build --check` runs (github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb
// DockerfileLint: instruction casing, JSON arguments, undefined variables and build args, secrets in
// ARG/ENV, relative WORKDIR, …), without a Docker engine, and then Prunelab's own rules for the image:
// every base image pinned to a version (never "latest" or untagged), every version ARG given a value,
// the image installed through scripts/install-lab.sh (the script CI runs), and a non-root USER last.
//
//	go run . ../../Dockerfile        (from scripts/dockerlint; .ci/run does this)
//
// It prints each finding with its line and exits 1 if there is any. It lives in its own module so
// that BuildKit does not enter Prunelab's go.mod.
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/opencontainers/go-digest"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: dockerlint PATH/TO/Dockerfile")
		os.Exit(2)
	}
	path := os.Args[1]
	findings, err := lint(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dockerlint: %v\n", err)
		os.Exit(2)
	}
	for _, f := range findings {
		fmt.Println(f)
	}
	if len(findings) > 0 {
		fmt.Printf("dockerlint: %s: %d finding(s)\n", path, len(findings))
		os.Exit(1)
	}
	fmt.Printf("dockerlint: %s: no findings (BuildKit checks and Prunelab's image rules)\n", path)
}

// lint returns the findings of BuildKit's linter and of the image rules, each "path:line: rule: message".
func lint(path string) ([]string, error) {
	dt, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var findings []string
	add := func(line int, rule, format string, args ...any) {
		findings = append(findings, fmt.Sprintf("%s:%d: %s: %s", path, line, rule, fmt.Sprintf(format, args...)))
	}

	sourceMap := llb.NewSourceMap(nil, path, "Dockerfile", dt)
	sourceMap.Definition = &llb.Definition{} // no build context: nothing is resolved or pulled
	results, err := dockerfile2llb.DockerfileLint(context.Background(), dt, dockerfile2llb.ConvertOpt{
		Config:       dockerui.Config{},
		SourceMap:    sourceMap,
		MetaResolver: offlineResolver{},
	})
	if err != nil {
		return nil, err
	}
	for _, w := range results.Warnings {
		line := 0
		if w.Location != nil && len(w.Location.Ranges) > 0 {
			line = int(w.Location.Ranges[0].Start.Line)
		}
		add(line, w.RuleName, "%s (%s)", w.Detail, w.URL)
	}
	if results.Error != nil {
		add(0, "BuildError", "%s", results.Error.Message)
	}

	ast, err := parser.Parse(bytes.NewReader(dt))
	if err != nil {
		return nil, err
	}
	args := map[string]string{} // ARG defaults
	var installsThroughScript bool
	lastUser, lastUserLine := "", 0
	for _, node := range ast.AST.Children {
		instruction := strings.ToUpper(node.Value)
		var words []string
		for n := node.Next; n != nil; n = n.Next {
			words = append(words, n.Value)
		}
		switch instruction {
		case "ARG":
			for _, w := range words {
				name, value, hasValue := strings.Cut(w, "=")
				if isVersionArg(name) && (!hasValue || value == "" || value == "latest") {
					add(node.StartLine, "UnpinnedVersionArg", "ARG %s needs a pinned default version", name)
				}
				args[name] = value
			}
		case "FROM":
			if len(words) > 0 && words[0] != "scratch" {
				if image := expand(words[0], args); !pinned(image) {
					add(node.StartLine, "UnpinnedBaseImage", "base image %q is not pinned to a version tag or digest", image)
				}
			}
		case "RUN":
			if strings.Contains(node.Original, "scripts/install-lab.sh") {
				installsThroughScript = true
			}
		case "USER":
			if len(words) > 0 {
				lastUser, lastUserLine = expand(words[0], args), node.StartLine
			}
		}
	}
	if !installsThroughScript {
		add(0, "InstallScript", "no RUN uses scripts/install-lab.sh, the script CI installs the lab with")
	}
	switch user := strings.SplitN(lastUser, ":", 2)[0]; user {
	case "":
		add(0, "RootUser", "the image has no USER: it would run as root")
	case "root", "0":
		add(lastUserLine, "RootUser", "the last USER is root")
	}
	return findings, nil
}

// offlineResolver answers BuildKit's questions about base images without a registry: an empty
// linux/amd64 image configuration. (Checks that need the real image, such as its platform, are
// thereby skipped; everything about the Dockerfile itself is checked.)
type offlineResolver struct{}

func (offlineResolver) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	config := []byte(`{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers"}}`)
	return ref, digest.FromBytes(config), config, nil
}

// isVersionArg reports whether an ARG name holds a version (e.g. GO_VERSION, JUPYTERLAB_VERSION).
func isVersionArg(name string) bool { return strings.HasSuffix(strings.ToUpper(name), "VERSION") }

var variable = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)

// expand substitutes ARG defaults into s.
func expand(s string, args map[string]string) string {
	return variable.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := args[variable.FindStringSubmatch(m)[1]]; ok {
			return v
		}
		return m
	})
}

// pinned reports whether an image reference names a digest or a tag other than "latest".
func pinned(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	name := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(name, ":")
	return ok && tag != "" && tag != "latest" && !strings.Contains(tag, "$")
}
