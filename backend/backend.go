package backend

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego" // The pure-Go backend, always available.

	"github.com/prunelab/prunelab/internal/gomlxfix"
)

const (
	// EnvBackend names the backend configuration GoMLX reads; when set, it is obeyed exactly.
	EnvBackend = "GOMLX_BACKEND"
	// EnvNoAutoInstall, when set (to anything), stops GoMLX from downloading the XLA PJRT plugin.
	EnvNoAutoInstall = "GOMLX_NO_AUTO_INSTALL"
	// EnvInstallTimeout bounds GoMLX's auto-install of the XLA plugin (a Go duration such as "45s").
	EnvInstallTimeout = "PRUNELAB_XLA_INSTALL_TIMEOUT"

	// PureGo is the configuration of GoMLX's pure-Go backend (SimpleGo) that Prunelab uses: operations
	// run one after another (each still uses every core inside). Workaround for GoMLX v0.26.0: with its
	// default parallel scheduling, SimpleGo can deadlock when several matrix products run at once
	// (each holds a worker while waiting for workers for its sub-tasks; seen training LeNet-5 on
	// 2 cores); sequential scheduling was measured as fast. GOMLX_BACKEND=go is read as this too.
	PureGo = "go:ops_sequential"
	// XLA is the configuration of GoMLX's XLA backend with its first available plugin (CUDA before CPU).
	XLA = "xla"

	// DefaultInstallTimeout bounds the XLA plugin auto-install when EnvInstallTimeout is unset.
	DefaultInstallTimeout = 45 * time.Second
)

// Choice is the backend decided by [Decide]: the GoMLX configuration string and why.
type Choice struct {
	// Config is the string given to backends.NewWithConfig, e.g. "go" or "xla".
	Config string
	// Reason says in one line why this backend was chosen.
	Reason string
	// Fallback is true when XLA was wanted but the pure-Go backend was chosen instead.
	Fallback bool
}

// Probe is what [Decide] needs to know about the machine; tests replace it.
type Probe struct {
	// LookupEnv reads the environment (os.LookupEnv in [SystemProbe]).
	LookupEnv func(key string) (string, bool)
	// XLALinked says whether this binary links the XLA backend (false with -tags noxla).
	XLALinked bool
	// InstalledPlugins lists the XLA PJRT plugins found without installing anything.
	InstalledPlugins func() []string
	// AutoInstall runs GoMLX's installer of the XLA plugin; it may block forever.
	AutoInstall func() error
}

// SystemProbe is the [Probe] of this process and machine.
func SystemProbe() Probe {
	return Probe{
		LookupEnv:        os.LookupEnv,
		XLALinked:        xlaLinked,
		InstalledPlugins: installedPlugins,
		AutoInstall:      autoInstall,
	}
}

// Decide applies the order documented in the package overview. It never blocks longer than the
// install timeout: a hung auto-install is abandoned (its goroutine keeps running in the background
// until it ends or the process exits).
func Decide(p Probe) Choice {
	if cfg, ok := p.LookupEnv(EnvBackend); ok && cfg != "" {
		reason := fmt.Sprintf("%s=%s", EnvBackend, cfg)
		if cfg == "go" {
			cfg = PureGo // See PureGo: the same backend, without the upstream deadlock.
		}
		return Choice{Config: cfg, Reason: reason}
	}
	if !p.XLALinked {
		return Choice{Config: PureGo, Reason: "built without XLA (-tags noxla)"}
	}
	if plugins := p.InstalledPlugins(); len(plugins) > 0 {
		return Choice{Config: XLA, Reason: fmt.Sprintf("XLA PJRT plugin installed (%v)", plugins)}
	}
	fallback := func(why string) Choice {
		return Choice{Config: PureGo, Fallback: true, Reason: why}
	}
	if _, off := p.LookupEnv(EnvNoAutoInstall); off {
		return fallback(fmt.Sprintf("no XLA PJRT plugin installed and %s is set", EnvNoAutoInstall))
	}
	timeout := DefaultInstallTimeout
	if s, ok := p.LookupEnv(EnvInstallTimeout); ok && s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return fallback(fmt.Sprintf("%s=%q is not a duration such as 45s", EnvInstallTimeout, s))
		}
		timeout = d
	}
	done := make(chan error, 1)
	go func() { done <- p.AutoInstall() }()
	select {
	case err := <-done:
		if err != nil {
			return fallback(fmt.Sprintf("no XLA PJRT plugin installed and its auto-install failed: %s", oneLine(err)))
		}
		if plugins := p.InstalledPlugins(); len(plugins) > 0 {
			return Choice{Config: XLA, Reason: fmt.Sprintf("XLA PJRT plugin auto-installed (%v)", plugins)}
		}
		return fallback("the XLA PJRT plugin auto-install reported success but no plugin was found")
	case <-time.After(timeout):
		return fallback(fmt.Sprintf("no XLA PJRT plugin installed and its auto-install did not finish within %s", timeout))
	}
}

// oneLine keeps the first line of an error message, so the fallback notice stays one line.
func oneLine(err error) string {
	s := err.Error()
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

// HowToGetXLA is the advice printed with a fallback to the pure-Go backend.
const HowToGetXLA = "for XLA (much faster), run once with internet access so GoMLX installs its PJRT plugin, " +
	"or set GOMLX_BACKEND=xla:/absolute/path/to/pjrt_c_api_<cpu|cuda>_plugin.so; GOMLX_BACKEND=go silences this line"

// New creates the backend that [Decide] chooses for p, writing the one-line fallback notice to notice
// (which may be nil). Each call creates a new backend: prefer [Default].
func New(p Probe, notice io.Writer) (backends.Backend, Choice, error) {
	choice := Decide(p)
	if choice.Config == XLA {
		// The plugin is present: a second download attempt inside GoMLX would only add a failure mode
		// (a failed CPU download fails New() even when a CUDA plugin is installed).
		disableAutoInstall()
	}
	b, err := newWithConfig(choice.Config)
	if err != nil {
		if choice.Config == XLA {
			// Installed but unusable plugin: fall back rather than fail.
			choice = Choice{Config: PureGo, Fallback: true,
				Reason: fmt.Sprintf("XLA plugin found but failed to start: %s", oneLine(err))}
			b, err = newWithConfig(PureGo)
		}
		if err != nil {
			return nil, choice, fmt.Errorf("backend: %s: %w", choice.Reason, err)
		}
	}
	if choice.Fallback && notice != nil {
		fmt.Fprintf(notice, "prunelab: using the pure-Go backend: %s; %s\n", choice.Reason, HowToGetXLA)
	}
	if _, pureGo := b.(*simplego.Backend); pureGo {
		// SimpleGo's float32 matrix products, convolutions, slices, transposes and reductions, replaced by faster kernels (see
		// internal/gomlxfix): before anything runs on this backend.
		gomlxfix.InstallKernels()
	}
	return b, choice, nil
}

// newWithConfig is backends.NewWithConfig with its panics (GoMLX v0.26.0 panics on an unknown backend
// name) turned into errors.
func newWithConfig(config string) (b backends.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("%v", r)
		}
	}()
	return backends.NewWithConfig(config)
}

// NewPureGo returns GoMLX's pure-Go backend (SimpleGo, configured as [PureGo]) with Prunelab's
// faster kernels installed, as [Default] gives it when it falls back to pure Go, whatever
// GOMLX_BACKEND says: for tests and examples that must run on pure Go.
func NewPureGo() (backends.Backend, error) {
	b, err := newWithConfig(PureGo)
	if err != nil {
		return nil, err
	}
	gomlxfix.InstallKernels()
	return b, nil
}

var (
	defaultOnce    sync.Once
	defaultBackend backends.Backend
	defaultChoice  Choice
	defaultErr     error
)

// Default returns the process-wide backend, created on first use by [New] with [SystemProbe] and the
// notice on standard error. Every later call returns the same backend (creating one is expensive).
func Default() (backends.Backend, error) {
	defaultOnce.Do(func() {
		defaultBackend, defaultChoice, defaultErr = New(SystemProbe(), os.Stderr)
	})
	return defaultBackend, defaultErr
}

// MustDefault is [Default] for programs and notebooks that cannot go on without a backend: it panics
// with the error.
func MustDefault() backends.Backend {
	b, err := Default()
	if err != nil {
		panic(err)
	}
	return b
}

// DefaultChoice reports how [Default] chose its backend (the zero Choice before the first call).
func DefaultChoice() Choice {
	return defaultChoice
}
