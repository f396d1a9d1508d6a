package backend

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/prunelab/prunelab/internal/gomlxfix"
)

// fakeProbe builds a Probe from an environment map and canned plugin/installer behaviour.
func fakeProbe(env map[string]string, linked bool, plugins []string, install func() error) Probe {
	return Probe{
		LookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
		XLALinked:        linked,
		InstalledPlugins: func() []string { return plugins },
		AutoInstall:      install,
	}
}

func TestDecide(t *testing.T) {
	never := func() error { t.Error("auto-install must not run"); return nil }
	failing := func() error { return errors.New("dial tcp: lookup github.com: no such host\nmore detail") }
	hanging := func() error { select {} }
	tests := []struct {
		name         string
		env          map[string]string
		linked       bool
		plugins      []string
		install      func() error
		wantConfig   string
		wantFallback bool
		wantReason   string
	}{
		{"env wins", map[string]string{EnvBackend: "xla:cuda"}, true, nil, never, "xla:cuda", false, "GOMLX_BACKEND=xla:cuda"},
		{"env go", map[string]string{EnvBackend: "go"}, true, []string{"cpu"}, never, PureGo, false, "GOMLX_BACKEND=go"},
		{"env go with options", map[string]string{EnvBackend: "go:ops_parallel"}, true, nil, never, "go:ops_parallel", false, "GOMLX_BACKEND=go:ops_parallel"},
		{"noxla build", nil, false, nil, never, PureGo, false, "built without XLA"},
		{"plugin installed", nil, true, []string{"cpu", "cuda"}, never, "xla", false, "installed ([cpu cuda])"},
		{"no auto install", map[string]string{EnvNoAutoInstall: "1"}, true, nil, never, PureGo, true, "GOMLX_NO_AUTO_INSTALL is set"},
		{"install fails", nil, true, nil, failing, PureGo, true, "auto-install failed: dial tcp: lookup github.com: no such host"},
		{"install hangs", map[string]string{EnvInstallTimeout: "50ms"}, true, nil, hanging, PureGo, true, "did not finish within 50ms"},
		{"bad timeout", map[string]string{EnvInstallTimeout: "soon"}, true, nil, never, PureGo, true, `"soon" is not a duration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			got := Decide(fakeProbe(tt.env, tt.linked, tt.plugins, tt.install))
			if got.Config != tt.wantConfig || got.Fallback != tt.wantFallback {
				t.Errorf("Decide() = %+v, want config %q fallback %v", got, tt.wantConfig, tt.wantFallback)
			}
			if !strings.Contains(got.Reason, tt.wantReason) {
				t.Errorf("Decide().Reason = %q, want it to contain %q", got.Reason, tt.wantReason)
			}
			if strings.Contains(got.Reason, "\n") {
				t.Errorf("Decide().Reason has several lines: %q", got.Reason)
			}
			// A generous bound: the hanging installer must be abandoned, not waited for.
			if time.Since(start) > 30*time.Second {
				t.Errorf("Decide() blocked for %s", time.Since(start))
			}
		})
	}
}

func TestDecideInstallSucceeds(t *testing.T) {
	plugins := []string(nil)
	p := fakeProbe(nil, true, nil, func() error { plugins = []string{"cpu"}; return nil })
	p.InstalledPlugins = func() []string { return plugins }
	got := Decide(p)
	want := Choice{Config: XLA, Reason: "XLA PJRT plugin auto-installed ([cpu])"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Decide() mismatch (-want +got):\n%s", diff)
	}
}

func TestNewFallsBackWithOneLineNotice(t *testing.T) {
	var notice bytes.Buffer
	b, choice, err := New(fakeProbe(map[string]string{EnvNoAutoInstall: ""}, true, nil, nil), &notice)
	if err != nil {
		t.Fatalf("New() error: %v", err)
	}
	defer b.Finalize()
	if choice.Config != PureGo || !choice.Fallback {
		t.Errorf("New() choice = %+v, want the pure-Go fallback", choice)
	}
	if b.Name() == "" {
		t.Errorf("backend has no name")
	}
	for _, w := range gomlxfix.Workarounds() {
		if strings.HasPrefix(w.Name, "fast-") && w.Name != "fast-dot-gradient" && !w.Installed {
			t.Errorf("the pure-Go backend came without SimpleGo kernel replacement %q", w.Name)
		}
	}
	lines := strings.Split(strings.TrimRight(notice.String(), "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "pure-Go backend") || !strings.Contains(lines[0], "GOMLX_BACKEND=xla:") {
		t.Errorf("notice = %q, want one line naming the pure-Go backend and how to get XLA", notice.String())
	}
}

func TestNewExplicitBackendErrorNamesIt(t *testing.T) {
	_, _, err := New(fakeProbe(map[string]string{EnvBackend: "nosuchbackend"}, true, nil, nil), nil)
	if err == nil || !strings.Contains(err.Error(), "GOMLX_BACKEND=nosuchbackend") {
		t.Fatalf("New() error = %v, want one naming GOMLX_BACKEND=nosuchbackend", err)
	}
}

// TestNewPureGo checks that NewPureGo gives SimpleGo with the kernel replacements installed.
func TestNewPureGo(t *testing.T) {
	b, err := NewPureGo()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	if !strings.Contains(strings.ToLower(b.Name()), "go") {
		t.Errorf("NewPureGo() gave backend %q", b.Name())
	}
	for _, w := range gomlxfix.Workarounds() {
		if strings.HasPrefix(w.Name, "fast-") && w.Name != "fast-dot-gradient" && !w.Installed {
			t.Errorf("NewPureGo() came without SimpleGo kernel replacement %q", w.Name)
		}
	}
}
