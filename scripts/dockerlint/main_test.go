package main

import (
	"slices"
	"strings"
	"testing"
)

// TestLabDockerfile lints the real Dockerfile: no findings.
func TestLabDockerfile(t *testing.T) {
	findings, err := lint("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) > 0 {
		t.Errorf("the lab Dockerfile has findings:\n%s", strings.Join(findings, "\n"))
	}
}

// TestBadDockerfile lints a Dockerfile with one fault per rule: each rule reports it.
func TestBadDockerfile(t *testing.T) {
	findings, err := lint("testdata/bad.Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, f := range findings {
		rules = append(rules, strings.SplitN(strings.SplitN(f, ": ", 2)[1], ":", 2)[0])
	}
	for _, want := range []string{"FromAsCasing", "ConsistentInstructionCasing", "SecretsUsedInArgOrEnv",
		"WorkdirRelativePath", "JSONArgsRecommended", "UnpinnedBaseImage", "UnpinnedVersionArg", "InstallScript", "RootUser"} {
		if !slices.Contains(rules, want) {
			t.Errorf("rule %s reported nothing; findings:\n%s", want, strings.Join(findings, "\n"))
		}
	}
}

func TestPinned(t *testing.T) {
	for image, want := range map[string]bool{
		"golang:1.26.8-bookworm": true, "debian@sha256:abc": true, "localhost:5000/x:1.2": true,
		"ubuntu": false, "ubuntu:latest": false, "localhost:5000/x": false, "x:${TAG}": false,
	} {
		if got := pinned(image); got != want {
			t.Errorf("pinned(%q) = %v, want %v", image, got, want)
		}
	}
}
