// Package backend decides, in one place, which GoMLX backend Prunelab computes on.
//
// The order, used by [Default] (and so by the training driver, the CLI and the notebooks):
//
//  1. GOMLX_BACKEND, when set, is obeyed exactly ("go" for the pure-Go backend, "xla:cpu", "xla:cuda",
//     "xla:/absolute/path/pjrt_c_api_cuda_plugin.so", ...). Its errors are returned, never hidden by a fallback.
//  2. XLA, when a PJRT plugin is already installed (PJRT_PLUGIN_LIBRARY_PATH, ~/.local/lib/go-xla,
//     /usr/local/lib/go-xla, LD_LIBRARY_PATH and ld.so.conf directories).
//  3. XLA after GoMLX's own auto-install of the plugin, unless GOMLX_NO_AUTO_INSTALL is set, bounded by
//     PRUNELAB_XLA_INSTALL_TIMEOUT (a Go duration, default [DefaultInstallTimeout]).
//  4. The pure-Go backend ("go"), announced in one line on standard error with how to get XLA.
//
// Why this package exists (upstream behaviour, GoMLX v0.26.0): backends/default picks XLA with
// auto-install and does not fall back to the pure-Go backend when the plugin is missing, and its
// download uses an HTTP client without a timeout, so it can hang where traffic is dropped.
// Once GoMLX falls back by itself with a bounded install, steps 2–4 can go.
//
// Binaries built with -tags noxla (CGO_ENABLED=0) link no XLA code and always use the pure-Go backend
// unless GOMLX_BACKEND names another registered backend.
//
// Errors: [Default] and [New] return the error of the backend that GOMLX_BACKEND names, wrapped with
// that name; the fallback itself never fails.
package backend
