package datasets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// defaultClient gives up quickly on a host that cannot be reached; Options.DownloadTimeout
// bounds the whole transfer.
var defaultClient = &http.Client{
	Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	},
}

// downloadAndLoad downloads into the cache directory the files it lacks (or holds with a bad
// checksum), then loads the data set from the cache.
func downloadAndLoad(spec *datasetSpec, cache string, opts Options) (*Data, error) {
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, fmt.Errorf("cache directory: %w", err)
	}
	client := opts.HTTPClient
	if client == nil {
		client = defaultClient
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.timeout())
	defer cancel()
	var fetched []string
	for _, f := range spec.downloads {
		dst := filepath.Join(cache, f.name)
		if verifyFile(dst, f) == nil {
			continue
		}
		var errs []error
		var lines []string
		for _, base := range opts.mirrors(spec) {
			url := base + f.name
			err := fetch(ctx, client, url, dst, f)
			if err == nil {
				fetched = append(fetched, url)
				errs = nil
				break
			}
			errs = append(errs, err)
			lines = append(lines, err.Error())
		}
		if errs != nil {
			return nil, &notFoundError{msg: strings.Join(lines, "; "), errs: errs}
		}
	}
	data, err := loadCache(spec, cache)
	if err != nil {
		return nil, err
	}
	if len(fetched) > 0 {
		data.Source = fmt.Sprintf("download %s into cache %s", strings.Join(fetched, ", "), cache)
	}
	return data, nil
}

// mirrors returns the base URLs to try, each ending in "/".
func (opts Options) mirrors(spec *datasetSpec) []string {
	if opts.BaseURL != "" {
		return []string{strings.TrimSuffix(opts.BaseURL, "/") + "/"}
	}
	return spec.mirrors
}

// fetch downloads url into dst atomically: the body goes to a temporary file in dst's directory,
// which is renamed to dst only when its size and SHA-256 match f. Otherwise nothing is left
// behind.
func fetch(ctx context.Context, client *http.Client, url, dst string, f fileSpec) (err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("datasets: %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("datasets: %s: %s", url, describeNetErr(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("datasets: %s: HTTP status %s", url, resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.partial")
	if err != nil {
		return fmt.Errorf("datasets: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	limit := int64(maxExtractBytes)
	if f.size > 0 {
		limit = f.size
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("datasets: %s: after %d bytes: %s", url, n, describeNetErr(err))
	}
	if f.size > 0 && n != f.size {
		return fmt.Errorf("datasets: %s: %d bytes, want %d: %w", url, n, f.size, ErrChecksum)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.sha256 {
		return fmt.Errorf("datasets: %s: sha256 %s, want %s: %w", url, got, f.sha256, ErrChecksum)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("datasets: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("datasets: %w", err)
	}
	if err = os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("datasets: %w", err)
	}
	return nil
}

// describeNetErr says plainly when the network cannot be reached.
func describeNetErr(err error) string {
	if ue, ok := err.(*url.Error); ok {
		err = ue.Err // The caller names the URL already.
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("timed out: %v", err)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("no network: DNS lookup failed: %v", err)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Sprintf("no network: cannot connect: %v", err)
	}
	return err.Error()
}
